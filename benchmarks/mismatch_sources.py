"""Where the small-panel model's error comes from: the noise scale rho or the signal scale t?

On one simulated chromosome (msprime Out-of-Africa; a population sample of ``--n-pop`` people whose
LD generates z, a separate panel of ``--n-ref``), each window's diagonal model (docs/mismatch.md)
is fitted with a constant prior using rho and t from different sources:

* ``cv10`` / ``cv5``: deepwas's cross-validated maps (10 folds, as stores are built; 5 folds);
* ``extrap``: the 10- and 5-fold maps extrapolated linearly in 1 / n_train to the panel's size;
* ``lw``: rho from Ledoit & Wolf's (2020) analytical nonlinear shrinkage of the window's panel
  eigenvalues (estimates of u_k^T Sigma u_k for the sample eigenvectors), t from ``cv10``;
* ``loo``: rho from leave-one-out rank-one downdates of the panel (:func:`loo_rho`), mapped by
  rank quantile, t from ``cv10``; ``loo_dir``: the same per direction, aligned by index;
* ``rho_true+t_cv`` / ``rho_cv+t_true``: one of the two from the population LD;
* ``oracle_diag``: both from the population LD;
* with ``--richardson``: ``rich10``, the maps as stores build them since 2026-12-02 (the held-out
  noise variance Richardson-corrected, deepwas.ld.mismatch.held_out_variance; ``cv10`` and
  ``cv5`` are the maps before it);
* with ``--bands``: the true rho in one band of rank quantiles and the maps elsewhere
  (``rho_true_qA-B``), and the maps or the true diagonals on the leading directions only
  (``cv10_topF``, ``oracle_topF``).

Each record: relative h2 error and sigma (truth 1) averaged over ``--traits`` z draws; then per
rank decile (largest eigenvalues first) the median log ratio of each rho / t estimate to the truth.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/mismatch_sources.py [--n-ref 500] \
        [--n-loo 0] [--richardson] [--bands] [--band-mb 1]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import isotonic_regression

from _common import emit, log
from deepwas.io.genotypes import standardize
from deepwas.ld.mismatch import GRID, cv_direction_scales
from deepwas.simulate import BandedLD, SimConfig, simulate_genotypes, simulate_sumstats
from panel_mismatch import _spectrum, _std, _windows, constant_fit

SIGNALS = {"": "fold", "_h": "halves"}
BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01))


def lw_shrinkage(lam: np.ndarray, p: int, n: int) -> np.ndarray:
    """Ledoit & Wolf (2020) analytical nonlinear shrinkage: the estimates of u_i^T Sigma u_i for
    the nonzero sample eigenvalues ``lam`` of p variables from n (effective) samples, by the
    Epanechnikov-kernel estimates of the spectral density and its Hilbert transform."""
    lam = np.asarray(lam, dtype=np.float64)
    h = n ** (-1.0 / 3.0)
    width = h * lam[None, :]  # the local bandwidth of each eigenvalue's kernel (columns)
    x = (lam[:, None] - lam[None, :]) / width
    density = 3.0 / (4.0 * math.sqrt(5.0)) * np.mean(np.maximum(1.0 - x * x / 5.0, 0.0) / width, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(np.abs((math.sqrt(5.0) - x) / (math.sqrt(5.0) + x)))
    log_ratio = np.where(np.isfinite(log_ratio), log_ratio, 0.0)
    kernel_ht = (
        -3.0 / (10.0 * math.pi) * x
        + 3.0 / (4.0 * math.sqrt(5.0) * math.pi) * (1.0 - x * x / 5.0) * log_ratio
    )
    hilbert = np.mean(kernel_ht / width, axis=1)
    c = p / n
    if p <= n:
        denom = (math.pi * c * lam * density) ** 2 + (1.0 - c - math.pi * c * lam * hilbert) ** 2
    else:
        denom = math.pi**2 * lam**2 * (density**2 + hilbert**2)
    return lam / denom


def loo_rho(X, scored, *, n_loo=None, seed=0, eig_rtol=1e-6):
    """rho by leaving one panel sample out at a time (not adopted; docs/mismatch.md section 5).

    With the panel standardised once, removing sample i and recentring the others is the rank-one
    downdate S - n/(n-1) x_i x_i^T of S = X^T X, so the eigenvectors v_j of the other n - 1
    samples come from an r x r eigenproblem in the panel's own eigenbasis, and the left-out
    sample's squared projection (v_j^T x_i)^2, centred by the others' mean, is unbiased for
    v_j^T R_pop v_j. Returns (log rho on GRID from the isotonic map of the pooled ratios
    proj / lam by rank quantile, and the per-direction mean of the ratios aligned by index).
    """
    Xw = np.asarray(X, dtype=np.float64)[:, scored]
    n = Xw.shape[0]
    Xw = Xw - Xw.mean(0)
    sd = Xw.std(0)
    Xw = Xw / np.where(sd > 0, sd, 1.0)
    V, sv, _ = np.linalg.svd(Xw, full_matrices=False)
    keep = sv**2 > eig_rtol * sv[0] ** 2
    V, sv = V[:, keep], sv[keep]
    s = sv**2
    r = s.size
    idx = (
        np.arange(n)
        if n_loo is None or n_loo >= n
        else np.random.default_rng(seed).choice(n, n_loo, replace=False)
    )
    c = n / (n - 1)
    qs, rhos = [], []
    acc = np.zeros(r)
    cnt = np.zeros(r)
    for i in idx:
        w = sv * V[i]
        M = np.diag(s) - c * np.outer(w, w)
        mu, Q = np.linalg.eigh(M)
        mu, Q = mu[::-1], Q[:, ::-1]
        ok = mu > eig_rtol * mu[0]
        mu, Q = mu[ok], Q[:, ok]
        proj = (c * (Q.T @ w)) ** 2
        lam = mu / (n - 1)
        qs.append((np.arange(mu.size) + 0.5) / mu.size)
        rhos.append(proj / lam)
        acc[: mu.size] += proj / lam
        cnt[: mu.size] += 1
    q = np.concatenate(qs)
    v = np.concatenate(rhos)
    o = np.argsort(q, kind="stable")
    fit = isotonic_regression(v[o]).x
    grid = np.log(np.maximum(np.interp(GRID, q[o], fit), 1e-3))
    q_full = (np.arange(r) + 0.5) / r
    per = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.exp(np.interp(q_full, GRID, grid)))
    return grid, np.maximum(per, 1e-3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-ref", type=int, default=500)
    p.add_argument("--n-pop", type=int, default=20_000)
    p.add_argument("--length-mb", type=float, default=20.0)
    p.add_argument("--max-snps", type=int, default=8_600)
    p.add_argument("--traits", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n-gwas", type=float, default=300_000)
    p.add_argument("--h2", type=float, default=0.004)
    p.add_argument("--band-mb", type=float, default=1.0, help="LD band of the signal (Mb)")
    p.add_argument("--n-loo", type=int, default=100, help="0: skip the leave-one-out models")
    p.add_argument("--richardson", action="store_true", help="add the Richardson-corrected maps")
    p.add_argument(
        "--signals",
        action="store_true",
        help="add Richardson maps whose signal scale comes from own-centred halves (10, 20 folds)",
    )
    p.add_argument(
        "--bands", action="store_true", help="add true-rho-in-one-band and top-only models"
    )
    args = p.parse_args()
    t0 = time.perf_counter()
    cfg = SimConfig(
        n_ref=args.n_ref,
        n_insample=args.n_pop,
        length_mb=args.length_mb,
        max_snps=args.max_snps,
        seed=args.seed,
    )
    ref, pop = simulate_genotypes(cfg, progress=False)
    pos = ref.variants["BP"].to_numpy().astype(np.float64)
    m = pos.size
    Xp = standardize(pop.dosages())[0]
    banded = BandedLD.from_genotypes(Xp, args.band_mb * 1e6, positions=pos)
    s = np.full(m, args.h2 / m)
    zs = [
        simulate_sumstats(Xp, s, n_gwas=args.n_gwas, rng=[args.seed, k], banded_ld=banded)
        for k in range(args.traits)
    ]
    log(f"{m} variants, {args.traits} traits ({time.perf_counter() - t0:.0f} s)")
    dos_ref = ref.dosages().astype(np.float64)
    Xr_all = _std(dos_ref)
    parts: dict[tuple[str, int], list] = {}
    profile: dict[str, list] = {}
    for sc, cx in _windows(pos, 1.5e6, 1e6):
        sic = np.searchsorted(cx, sc)
        Rc = Xr_all[:, cx].T @ Xr_all[:, cx] / args.n_ref
        lam, U = np.linalg.eigh(Rc[np.ix_(sic, sic)])
        keep = lam > 1e-6 * lam[-1]
        lam, U = lam[keep][::-1], U[:, keep][:, ::-1]
        r = lam.size
        G = Rc[:, sic] @ U / np.sqrt(lam)
        diag_k = (G * G).sum(0)
        Wm = U / np.sqrt(lam)
        Rp = Xp[:, cx].T @ Xp[:, cx] / Xp.shape[0]
        Rb = Rp * (np.abs(pos[cx][:, None] - pos[cx][None, :]) < args.band_mb * 1e6)
        rho_true = np.einsum("ij,ik,kj->j", Wm, Rp[np.ix_(sic, sic)], Wm)
        Gp = Rb[:, sic] @ Wm
        t_true = (Gp * Gp).sum(0) / diag_k
        rho10, t10 = cv_direction_scales(
            dos_ref[:, cx], sic, folds=10, seed=1, test_scale="own"
        ).at(r)
        rho5, t5 = cv_direction_scales(dos_ref[:, cx], sic, folds=5, seed=1, test_scale="own").at(r)
        if args.richardson:
            rho10r, t10r = cv_direction_scales(
                dos_ref[:, cx], sic, folds=10, seed=1, test_scale="richardson"
            ).at(r)
            rho5r, t5r = cv_direction_scales(
                dos_ref[:, cx], sic, folds=5, seed=1, test_scale="richardson"
            ).at(r)
            f = (1.0 - 1.0 / 0.9) / (1.0 / 0.9 - 1.0 / 0.8)
            rho_exr = rho10r * (rho10r / rho5r) ** f
            t_exr = t10r * (t10r / t5r) ** f
        f = (1.0 - 1.0 / 0.9) / (1.0 / 0.9 - 1.0 / 0.8)  # 1/n_train: 10 folds -> the panel
        rho_ex = rho10 * (rho10 / rho5) ** f
        t_ex = t10 * (t10 / t5) ** f
        q = (np.arange(r) + 0.5) / r
        if args.n_loo:
            lr, rho_dir = loo_rho(dos_ref[:, cx], sic, n_loo=args.n_loo)
            assert rho_dir.size == r, (rho_dir.size, r)
            rho_loo = np.exp(np.interp(q, GRID, lr))
        else:
            rho_loo = rho_dir = rho10
        rho_lw = np.maximum(lw_shrinkage(lam, sic.size, args.n_ref - 1) / lam, 1e-3)
        models = {
            "cv10": (rho10, t10),
            "cv5": (rho5, t5),
            "extrap": (rho_ex, t_ex),
            "lw": (rho_lw, t10),
            "loo": (rho_loo, t10),
            "loo_dir": (rho_dir, t10),
            "rho_true+t_cv": (rho_true, t10),
            "rho_cv+t_true": (rho10, t_true),
            "oracle_diag": (rho_true, t_true),
        }
        if args.richardson:
            models.update(
                {
                    "rich10": (rho10r, t10r),
                    "extrap_rich": (rho_exr, t_exr),
                    "extrap_rich_rho": (rho_exr, t10r),
                }
            )
        if args.signals:
            # the signal scale without the population sample's own spurious LD: the product of
            # the LD of its two halves (independent samples, each centred on its own)
            half = Xp.shape[0] // 2
            band = np.abs(pos[cx][:, None] - pos[cx][None, :]) < args.band_mb * 1e6
            R1, R2 = (
                np.cov(Xp[sl][:, cx], rowvar=False) * band
                for sl in (slice(None, half), slice(half, None))
            )
            t_indep = ((R1[:, sic] @ Wm) * (R2[:, sic] @ Wm)).sum(0) / diag_k
            models["rho_true+t_indep"] = (rho_true, t_indep)
            models["rich10+t_indep"] = (rho10r, t_indep)
            profile.setdefault("t_true_vs_indep", []).append(
                (q, np.log(t_true / np.maximum(t_indep, 1e-12)))
            )
            for folds in (10, 20):
                for tag, sig in SIGNALS.items():
                    rr, tt = cv_direction_scales(
                        dos_ref[:, cx], sic, folds=folds, seed=1, signal=sig
                    ).at(r)
                    models[f"rich{folds}{tag}"] = (rr, tt)
                    profile.setdefault(f"t_rich{folds}{tag}", []).append(
                        (q, np.log(tt / np.maximum(t_true, 1e-12)))
                    )
                    profile.setdefault(f"t_rich{folds}{tag}_vs_indep", []).append(
                        (q, np.log(tt / np.maximum(t_indep, 1e-12)))
                    )
        if not args.n_loo:
            del models["loo"], models["loo_dir"]
        subsets = {name: slice(None) for name in models}
        if args.bands:
            for lo, hi in BANDS:
                band = (q >= lo) & (q < hi)
                models[f"rho_true_q{lo:.2f}-{hi:.2f}"] = (np.where(band, rho_true, rho10), t10)
                subsets[f"rho_true_q{lo:.2f}-{hi:.2f}"] = slice(None)
            for top in (0.5, 0.7, 0.8, 0.9):
                models[f"cv10_top{top:.1f}"] = (rho10, t10)
                subsets[f"cv10_top{top:.1f}"] = q < top
                models[f"oracle_top{top:.1f}"] = (rho_true, t_true)
                subsets[f"oracle_top{top:.1f}"] = q < top
        const = 0.5 * np.log(lam).sum()
        for k, z in enumerate(zs):
            y = U.T @ z[sc] / np.sqrt(lam)
            for name, (rho, t) in models.items():
                i = subsets[name]
                spectrum = _spectrum(rho[i], np.diag((t * diag_k)[i]), y[i], const)
                parts.setdefault((name, k), []).append(spectrum)
        for name, est, truth in (
            ("rho_cv10", rho10, rho_true),
            ("rho_extrap", rho_ex, rho_true),
            ("rho_lw", rho_lw, rho_true),
            ("rho_loo", rho_loo, rho_true),
            ("rho_loo_dir", rho_dir, rho_true),
            ("t_cv10", t10, t_true),
            *(
                (
                    ("rho_rich10", rho10r, rho_true),
                    ("rho_extrap_rich", rho_exr, rho_true),
                    ("t_extrap_rich", t_exr, t_true),
                )
                if args.richardson
                else ()
            ),
        ):
            profile.setdefault(name, []).append((q, np.log(est / np.maximum(truth, 1e-12))))
    fits: dict[str, list] = {}
    for (name, _), pp in parts.items():
        fit = constant_fit(pp, args.n_gwas, m)
        fits.setdefault(name, []).append((fit["h2"] / args.h2 - 1.0, fit["sigma"]))
    for name, v in fits.items():
        v = np.asarray(v)
        emit(
            {
                "benchmark": "mismatch_sources",
                "n_ref": args.n_ref,
                "model": name,
                "traits": args.traits,
                "rel_err": float(v[:, 0].mean()),
                "sigma": float(v[:, 1].mean()),
            }
        )
    edges = np.linspace(0.0, 1.0, 11)
    for name, lst in profile.items():
        q = np.concatenate([a for a, _ in lst])
        d = np.concatenate([b for _, b in lst])
        deciles = [float(np.median(d[(q >= edges[i]) & (q < edges[i + 1])])) for i in range(10)]
        emit({"benchmark": "mismatch_sources", "profile": name, "median_log_ratio": deciles})
    log(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
