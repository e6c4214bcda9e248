"""Is float32 safe for the exact kernel? Value and gradient of one window's NLL in float32 against
float64, and the time of each, on windows of realistic size (context 1400, ranks 300 and 499, prior
variances spread over two orders of magnitude around a median F = N s of 0.5, as for
N = 10^6 and h2 = 0.5 over 10^6 variants, and 10 times larger).

One JSON line per (rank, dtype): rel_err_value, rel_err_grad (relative L2 error of dNLL/dlog F),
cosine_grad, rel_err_sigma_grad, seconds (value + gradient, median of repeats).

    python benchmarks/precision.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepwas.linalg.eigen import eigen_precompute, project_z  # noqa: E402
from deepwas.linalg.likelihood import exact_nll  # noqa: E402


def window(rng, C: int, n_ref: int):
    X = rng.standard_normal((n_ref, C))
    for j in range(1, C):
        X[:, j] = 0.6 * X[:, j - 1] + 0.8 * X[:, j]
    X = (X - X.mean(0)) / X.std(0)
    scored = np.zeros(C, bool)
    scored[C // 4 : 3 * C // 4] = True
    eig = eigen_precompute(X.T @ X / n_ref, scored, eig_rtol=1e-6)
    z = rng.standard_normal(C) * 2.0
    return eig, project_z(eig, z[scored])


def run(Gt, y, logF, sigma, dtype, repeats):
    Gt, y = Gt.to(dtype), y.to(dtype)
    times, out = [], None
    for _ in range(repeats + 1):
        lf = logF.to(dtype).clone().requires_grad_(True)
        s = torch.tensor([sigma], dtype=dtype, requires_grad=True)
        t0 = time.perf_counter()
        nll = exact_nll(Gt, y, lf, s).sum()
        nll.backward()
        times.append(time.perf_counter() - t0)
        out = (float(nll.detach()), lf.grad.double(), float(s.grad))
    return (*out, statistics.median(times[1:]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = [(301, 0.5), (500, 0.5), (500, 5.0)]
    for n_ref, median_F in cases:
        eig, y = window(rng, 1400, n_ref)
        Gt = torch.from_numpy(eig.G.T.copy()).unsqueeze(0)
        yt = torch.from_numpy(y).unsqueeze(0)
        logF = torch.tensor(rng.normal(math.log(median_F), 1.2, Gt.shape[-1])).unsqueeze(0)
        v64, g64, s64, t64 = run(Gt, yt, logF, 1.1, torch.float64, args.repeats)
        v32, g32, s32, t32 = run(Gt, yt, logF, 1.1, torch.float32, args.repeats)
        for dtype, v, g, sg, t in (
            ("float64", v64, g64, s64, t64),
            ("float32", v32, g32, s32, t32),
        ):
            print(
                json.dumps(
                    {
                        "context": int(Gt.shape[-1]),
                        "rank": eig.rank,
                        "median_F": median_F,
                        "dtype": dtype,
                        "seconds": t,
                        "rel_err_value": abs(v - v64) / abs(v64),
                        "rel_err_grad": float(
                            torch.linalg.vector_norm(g - g64) / torch.linalg.vector_norm(g64)
                        ),
                        "cosine_grad": float((g * g64).sum() / (g.norm() * g64.norm())),
                        "rel_err_sigma_grad": abs(sg - s64) / abs(s64),
                        "speedup_vs_float64": t64 / t,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
