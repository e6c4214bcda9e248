"""Likelihood + gradient time per window: the exact engine against the direct dense evaluation.

Direct: form Sigma_z = R_WC diag(F) R_CW + sigma R_WW (|W| x |W|) densely, project it onto the
range of R_WW when that is rank-deficient (Q^T Sigma_z Q, Q an orthonormal basis of the kept
eigenvectors), Cholesky, value, and autograd for the gradient. Exact: DESIGN 2.1 with the
theta-independent eigen precomputation done once beforehand (as in training), then
Sigma = sigma I + G^T diag(F) G (r x r) and one Cholesky, with the analytic backward.

Published: the DeepWAS research code's formulation (issue 4), an eigendecomposition of R_WW and
a |C| x |C| Cholesky factorisation on every step, written from the maths (see published_engine).

All return the same number (rel_err against the direct value is measured on every
configuration). One JSON line per (engine, context, rank); `seconds` is the median over repeats
of value + gradient with respect to log F and sigma.

    python benchmarks/likelihood.py [--contexts 500 1000 2000 4000] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import numpy as np
import torch

from deepwas.linalg.eigen import eigen_precompute, project_z
from deepwas.linalg.likelihood import exact_nll

LOG_2PI = math.log(2 * math.pi)


def make_window(rng, n_context: int, n_ref: int | None):
    """LD of a window from AR(1)-correlated genotypes of n_ref samples (None: full rank)."""
    n = n_ref if n_ref is not None else 2 * n_context
    X = rng.standard_normal((n, n_context))
    rho = 0.6
    for j in range(1, n_context):
        X[:, j] = rho * X[:, j - 1] + math.sqrt(1 - rho * rho) * X[:, j]
    X -= X.mean(0)
    X /= X.std(0)
    R = X.T @ X / n
    scored = np.zeros(n_context, bool)
    lo = n_context // 4
    scored[lo : lo + n_context // 2] = True
    return R, scored


def exact_engine(R, scored, z, logF0, sigma0, repeats):
    eig = eigen_precompute(R, scored)
    Gt = torch.from_numpy(np.ascontiguousarray(eig.G.T)).unsqueeze(0)
    y = torch.from_numpy(project_z(eig, z[scored])).unsqueeze(0)
    const = 0.5 * (eig.rank * LOG_2PI + eig.logdet_lam)
    times, value = [], None
    for _ in range(repeats + 1):  # the first call warms up and is not timed
        logF = torch.tensor(logF0).unsqueeze(0).requires_grad_(True)
        sigma = torch.tensor([sigma0], dtype=torch.float64, requires_grad=True)
        t0 = time.perf_counter()
        nll = exact_nll(Gt, y, logF, sigma)[0] + const
        nll.backward()
        times.append(time.perf_counter() - t0)
        value = nll.item()
    return value, statistics.median(times[1:]), eig


def direct_engine(R, scored, z, logF0, sigma0, eig, repeats):
    Rt = torch.from_numpy(R)
    W = torch.from_numpy(np.flatnonzero(scored))
    R_WC = Rt[W].contiguous()
    R_WW = R_WC[:, W].contiguous()
    zW = torch.from_numpy(z[scored])
    full = eig.rank == len(W)
    Q = None if full else torch.from_numpy(eig.U)
    times, value = [], None
    for _ in range(repeats + 1):  # the first call warms up and is not timed
        logF = torch.tensor(logF0, requires_grad=True)
        sigma = torch.tensor(sigma0, dtype=torch.float64, requires_grad=True)
        t0 = time.perf_counter()
        S = (R_WC * torch.exp(logF)) @ R_WC.T + sigma * R_WW
        w = zW
        if Q is not None:
            S = Q.T @ S @ Q
            w = Q.T @ zW
        L = torch.linalg.cholesky(S)
        a = torch.linalg.solve_triangular(L, w.unsqueeze(-1), upper=False).squeeze(-1)
        nll = 0.5 * (2 * torch.log(torch.diagonal(L)).sum() + a @ a + len(w) * LOG_2PI)
        nll.backward()
        times.append(time.perf_counter() - t0)
        value = nll.item()
    return value, statistics.median(times[1:])


def published_engine(R, scored, z, logF0, sigma0, eig, repeats):
    """The DeepWAS research code's formulation, written from DESIGN 2 (not copied): on every step
    an eigendecomposition of R_WW, then the |C| x |C| matrix K = I + F^1/2 G G^T F^1/2 / sigma
    (G = R_CW U lam^-1/2) and its Cholesky factorisation, with the determinant lemma and
    Woodbury's identity:
        log det Sigma = r log sigma + log det K
        y^T Sigma^-1 y = (y^T y - v^T K^-1 v) / sigma,   v = F^1/2 G y / sigma^(1/2),
    and autograd for the gradient. Same value as the exact engine (rel_err reported)."""
    Rt = torch.from_numpy(R)
    Widx = torch.from_numpy(np.flatnonzero(scored))
    R_WW = Rt[Widx][:, Widx]
    R_CW = Rt[:, Widx]
    zW = torch.from_numpy(z[scored])
    cutoff = 1e-8
    times, value = [], None
    for _ in range(repeats + 1):  # the first call warms up and is not timed
        logF = torch.tensor(logF0, requires_grad=True)
        sigma = torch.tensor(sigma0, dtype=torch.float64, requires_grad=True)
        t0 = time.perf_counter()
        lam, U = torch.linalg.eigh(R_WW)
        keep = lam > cutoff * lam.max()
        lam, U = lam[keep], U[:, keep]
        G = (R_CW @ U) / torch.sqrt(lam)  # (C, r)
        y = (U.T @ zW) / torch.sqrt(lam)
        r = lam.shape[0]
        sF = torch.exp(0.5 * logF)
        H = sF[:, None] * G  # (C, r)
        K = torch.eye(H.shape[0], dtype=torch.float64) + (H @ H.T) / sigma  # (C, C)
        L = torch.linalg.cholesky(K)
        v = H @ y / torch.sqrt(sigma)  # a.a = (Hy)^T (sigma K)^-1 (Hy)
        a = torch.linalg.solve_triangular(L, v.unsqueeze(-1), upper=False).squeeze(-1)
        quad = (y @ y - a @ a) / sigma
        logdet = r * torch.log(sigma) + 2 * torch.log(torch.diagonal(L)).sum()
        nll = 0.5 * (logdet + quad + r * LOG_2PI + torch.log(lam).sum())
        nll.backward()
        times.append(time.perf_counter() - t0)
        value = nll.item()
    return value, statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    ap.add_argument("--ranks", nargs="+", default=["300", "full"])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-published",
        action="store_true",
        help="skip the published (DeepWAS research code) formulation",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    for C in args.contexts:
        for rank_spec in args.ranks:
            rng = np.random.default_rng(args.seed + C)
            n_ref = None if rank_spec == "full" else int(rank_spec)
            R, scored = make_window(rng, C, n_ref)
            z = rng.standard_normal(C) * 1.5
            logF0 = rng.normal(math.log(0.05), 1.0, C)
            ex_val, ex_t, eig = exact_engine(R, scored, z, logF0, 1.05, args.repeats)
            di_val, di_t = direct_engine(R, scored, z, logF0, 1.05, eig, args.repeats)
            pub_val, pub_t = (None, None)
            if not args.no_published:
                pub_val, pub_t = published_engine(
                    R, scored, z, logF0, 1.05, eig, max(3, args.repeats // 3)
                )
            common = {
                "context": C,
                "scored": int(scored.sum()),
                "rank": eig.rank,
                "rank_spec": rank_spec,
                "threads": args.threads,
                "machine": machine,
            }
            rel = abs(ex_val - di_val) / abs(di_val)
            print(
                json.dumps(
                    {
                        "engine": "exact",
                        **common,
                        "seconds": ex_t,
                        "value": ex_val,
                        "rel_err": rel,
                        "speedup_vs_direct": di_t / ex_t,
                    }
                ),
                flush=True,
            )
            print(
                json.dumps(
                    {"engine": "direct", **common, "seconds": di_t, "value": di_val, "rel_err": 0.0}
                ),
                flush=True,
            )
            if pub_t is not None:
                line = {
                    "engine": "published",
                    **common,
                    "seconds": pub_t,
                    "value": pub_val,
                    "rel_err": abs(pub_val - di_val) / abs(di_val),
                    "exact_speedup_vs_published": pub_t / ex_t,
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
