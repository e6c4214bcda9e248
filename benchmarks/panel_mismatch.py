"""LD mismatch between a small reference panel and the GWAS (issue 9): how well candidate models of
the projected z-scores recover h2 and sigma of a constant prior, against oracles that know the
population LD.

The GWAS carries population LD: z = sqrt(N) R_pop beta + e, e ~ N(0, R_pop), R_pop from a
population sample of ``--n-pop`` simulated people (deepwas.simulate, signal banded at
``--band-mb``); the reference panel is a separate sample of ``--n-ref`` people (same or another
population). Every model is a model of the same statistic, y = lam^-1/2 U^T z_W in the panel's
eigenbasis of each window (all eigen-directions kept unless said), so their NLLs are comparable:

* ``full``: today's likelihood, Sigma = sigma I + G^T F G with the panel's G (DESIGN 2.1);
* ``ve90``: the same on the leading directions explaining 90% of each window's LD (today's
  workaround; its NLL is of fewer directions and not comparable);
* ``diag_cv``: deepwas's small-panel model (``--ld-model diagonal``, docs/mismatch.md): diagonal in
  the panel's eigenbasis with the cross-validated direction scales of deepwas.ld.mismatch;
* prototypes, for the record (5 folds, an earlier estimator of the signal): ``cv_noise`` (noise
  sigma diag(d / lam) from the folds, signal G^T F G as today), ``diag_cv_tau`` (diagonal, signal
  per direction from u^T R_f,WC R_f,CW u corrected for its finite-sample bias |C| d / n_f) and
  ``block_cv`` (the full model on the directions with lam > 1, diagonal on the rest);
* ``diag_extrap`` (not by default): the diagonal model with the 10- and 5-fold maps extrapolated
  linearly in 1 / n_train to the panel's size (docs/mismatch.md section 5);
* ``diag_cvK`` (e.g. ``diag_cv20``; not by default): the diagonal model with maps from K folds
  instead of the store's 10 (the bias of cross-validation shrinks like 1 / K, its cost grows
  like K); ``diag_cvmK``: the same with the noise ratios pooled on their own scale, not their
  log (``cv_direction_scales(pool="mean")``); ``diag_cvtK`` / ``diag_cvpK`` / ``diag_cvoK``:
  held-out folds standardised with the training folds' / the whole panel's means and sds, or
  their own without the Richardson correction of d (the stores before 2026-12-02;
  ``cv_direction_scales(test_scale=...)``); ``diag_cvhK``: the signal from the fold's halves
  centred each on its own mean (``signal="halves"``; ``diag_cvhm`` with rho pooled on its own
  scale, the candidate of docs/mismatch.md section 5; K may be left out for the store's
  default folds);
* ``diag_xq`` (not by default): the maps of the default folds K1 and of K1 / 2 extrapolated
  linearly in 1 / n_train to the panel's size; ``diag_xt`` / ``diag_xth``: the same held-out
  folds with eigen-directions from all and from 80% of the training folds, extrapolated the
  same way (the training size alone changes; ``xth`` with the candidate maps ``diag_cvhm``);
* ``oracle_diag``: the diagonal model with the true diagonals (from R_pop);
* ``oracle``: the exact distribution of y under R_pop (what a perfect model of mismatch gives).

Every record is one JSON line: seed, n_ref, model, h2 (estimated), h2_true, rel_err, sigma, nll.
Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/panel_mismatch.py --seeds 3``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import optimize
from scipy.optimize import isotonic_regression

from _common import emit, log
from deepwas.io.genotypes import standardize
from deepwas.ld.mismatch import cv_direction_scales, default_folds, extrapolate_scales
from deepwas.simulate import SimConfig, simulate_genotypes, simulate_sumstats

FOLDS = 5


def _windows(pos: np.ndarray, size_bp: float, flank_bp: float):
    """(scored, context) index arrays of fixed windows with flanks."""
    out, lo = [], float(pos[0])
    while lo <= pos[-1]:
        sc = np.flatnonzero((pos >= lo) & (pos < lo + size_bp))
        if sc.size:
            out.append(
                (sc, np.flatnonzero((pos >= lo - flank_bp) & (pos < lo + size_bp + flank_bp)))
            )
        lo += size_bp
    return out


def _std(x: np.ndarray) -> np.ndarray:
    """Columns standardised (a constant column becomes zeros)."""
    x = x - x.mean(0)
    sd = x.std(0)
    return x / np.where(sd > 0, sd, 1.0)


def cv_directions(Xc: np.ndarray, sic: np.ndarray, r: int, *, seed: int = 0):
    """Cross-validated noise and signal variance of the panel's eigen-directions.

    Xc: (n_ref, |C|) panel genotypes of the context, sic: scored positions within the context,
    r: number of directions kept on the full panel. Returns (rho, tau): per direction of the full
    panel (descending eigenvalue order), the cross-validated d / lam and the whitened signal
    variance of a flat prior F = 1, both mapped monotonically from the rank quantile.
    """
    n = Xc.shape[0]
    fold = np.random.default_rng(seed).permutation(n) % FOLDS
    q_all, ratio, sig = [], [], []
    for f in range(FOLDS):
        tr, te = _std(Xc[fold != f]), _std(Xc[fold == f])
        lam, U = np.linalg.eigh(tr[:, sic].T @ tr[:, sic] / tr.shape[0])
        keep = lam > 1e-6 * lam[-1]
        lam, U = lam[keep][::-1], U[:, keep][:, ::-1]
        P = te[:, sic] @ U
        n_f = te.shape[0]
        d = (P * P).sum(0) / n_f
        Q = te.T @ P / n_f  # (|C|, r_f) = R_f,CW U
        b = ((Q * Q).sum(0) - Xc.shape[1] / n_f * d) / (1.0 + 1.0 / n_f)
        q_all.append((np.arange(lam.size) + 0.5) / lam.size)
        ratio.append(np.log(np.maximum(d, 1e-12) / lam))
        sig.append(b / lam)
    q, order = np.concatenate(q_all), None
    order = np.argsort(q)
    qf = (np.arange(r) + 0.5) / r
    rho = np.exp(np.interp(qf, q[order], isotonic_regression(np.concatenate(ratio)[order]).x))
    tau = np.interp(qf, q[order], isotonic_regression(np.concatenate(sig)[order]).x)
    return np.maximum(rho, 1e-3), np.maximum(tau, 1e-8)


def _spectrum(noise, signal, y, const):
    """y ~ N(0, sigma A + c B) as independent coordinates: (e, u^2, const') with
    A = diag(noise) or a matrix, B a matrix; NLL(c, sigma) = 1/2 sum log(sigma + c e)
    + u^2 / (sigma + c e) + const'."""
    if noise.ndim == 1:
        s = 1.0 / np.sqrt(noise)
        Li, c0 = np.diag(s), 0.5 * np.log(noise).sum()
    else:
        a, V = np.linalg.eigh(0.5 * (noise + noise.T))
        keep = a > 1e-7 * a[-1]
        a, V = a[keep], V[:, keep]
        Li, c0 = V.T / np.sqrt(a)[:, None], 0.5 * np.log(a).sum()
    B = Li @ signal @ Li.T
    e, W = np.linalg.eigh(0.5 * (B + B.T))
    u = W.T @ (Li @ y)
    return np.maximum(e, 0.0), u * u, const + c0 + 0.5 * u.size * math.log(2 * math.pi)


def _best_of(nll, starts, maxiter: int | None = None):
    """The lowest of Nelder-Mead minimisations of ``nll`` from each of ``starts``."""
    options = {"xatol": 1e-7, "fatol": 1e-7, **({"maxiter": maxiter} if maxiter else {})}
    runs = (optimize.minimize(nll, x0, method="Nelder-Mead", options=options) for x0 in starts)
    return min(runs, key=lambda r: r.fun)


def constant_fit(parts, n_gwas: float, m: int) -> dict:
    """Maximum-likelihood constant prior (c = N s, sigma) from per-window spectra."""
    E = np.concatenate([p[0] for p in parts])
    U2 = np.concatenate([p[1] for p in parts])
    C = sum(p[2] for p in parts)

    def nll(x):
        v = np.exp(x[1]) + np.exp(x[0]) * E
        return 0.5 * np.sum(np.log(v) + U2 / v) + C

    best = _best_of(nll, ([math.log(0.1), 0.0], [math.log(0.01), 0.5], [math.log(1.0), 1.0]))
    c, sigma = np.exp(best.x)
    return {"h2": float(c / n_gwas * m), "sigma": float(sigma), "nll": float(best.fun)}


def shaped_fit(parts, n_gwas: float, m: int) -> dict:
    """Maximum-likelihood constant prior with a free noise shape: per direction
    y_k ~ N(0, sigma rho_k exp(gamma h_k) + c e_k) (independent), fitted over (c, sigma, gamma);
    ``parts`` are (rho, e, y, h, const) per window."""
    rho, E, Y2, H = (np.concatenate([p[i] for p in parts]) for i in range(4))
    Y2 = Y2 * Y2
    C = sum(p[4] for p in parts) + 0.5 * rho.size * math.log(2 * math.pi)

    def nll(x):
        v = np.exp(x[1] + x[2] * H) * rho + np.exp(x[0]) * E
        return 0.5 * np.sum(np.log(v) + Y2 / v) + C

    starts = ([math.log(0.1), 0.0, 0.0], [math.log(0.01), 0.5, 0.5], [math.log(1.0), 1.0, -0.5])
    best = _best_of(nll, starts, maxiter=4000)
    c, sigma = np.exp(best.x[:2])
    return {
        "h2": float(c / n_gwas * m),
        "sigma": float(sigma),
        "gamma": float(best.x[2]),
        "nll": float(best.fun),
    }


def lambda_fit(parts, n_gwas: float, m: int) -> dict:
    """Maximum-likelihood constant prior with per-trait mismatch terms (ancestry): per direction
    y_k ~ N(0, sigma (rho_k + a / lam_k) + c (e_k + b n_c / lam_k)), fitted over (c, sigma, a, b)
    with a, b >= 0 (b = 0 when ``parts`` say so); ``parts`` are (rho, e, y, 1 / lam, n_c, const,
    use_b) per window: a is SuSiE-RSS's lambda (R + a I), b the variance of the panel's LD error
    per pair times the context's total prior variance (section 2 of docs/mismatch.md)."""
    rho, E, Y2, H, NC = (np.concatenate([p[i] for p in parts]) for i in range(5))
    Y2 = Y2 * Y2
    C = sum(p[5] for p in parts) + 0.5 * rho.size * math.log(2 * math.pi)
    use_b = parts[0][6]

    def nll(x):
        b = math.exp(x[3]) if use_b else 0.0
        v = np.exp(x[1]) * (rho + math.exp(x[2]) * H) + np.exp(x[0]) * (E + b * NC * H)
        return 0.5 * np.sum(np.log(v) + Y2 / v) + C

    starts = [
        [math.log(c0), s0, a0, -12.0]
        for c0 in (0.1, 0.01, 1.0)
        for s0, a0 in ((0.0, -9.0), (0.5, -4.0), (0.0, -2.0))
    ]
    best = _best_of(nll, starts, maxiter=6000)
    c, sigma = np.exp(best.x[:2])
    return {
        "h2": float(c / n_gwas * m),
        "sigma": float(sigma),
        "lambda": float(math.exp(best.x[2])),
        "b": float(math.exp(best.x[3])) if use_b else 0.0,
        "nll": float(best.fun),
    }


def run_seed(args, seed: int) -> None:
    t0 = time.perf_counter()
    n_refs = sorted(args.n_ref)
    cfg = SimConfig(
        n_ref=max(n_refs),
        n_insample=args.n_pop,
        length_mb=args.length_mb,
        max_snps=args.max_snps,
        maf_spectrum=args.maf_spectrum,
        seed=seed,
        **({"ref_population": args.ref_population} if args.ref_population else {}),
    )
    ref, pop = simulate_genotypes(cfg, progress=False)
    pos = ref.variants["BP"].to_numpy().astype(np.float64)
    m = pos.size
    Xp = standardize(pop.dosages())[0]
    s = np.full(m, args.h2 / m)
    z = simulate_sumstats(
        Xp,
        s,
        n_gwas=args.n_gwas,
        rng=np.random.default_rng([seed, 7]),
        positions=pos,
        band_bp=args.band_mb * 1e6,
    )
    log(
        f"seed {seed}: {m} variants, mean chi2 {np.mean(z * z):.2f} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    dos_ref = ref.dosages().astype(np.float64)
    wins = _windows(pos, 1.5e6, 1e6)
    pop_ld = []
    for _sc, cx in wins:
        Rp = Xp[:, cx].T @ Xp[:, cx] / Xp.shape[0]
        band = np.abs(pos[cx][:, None] - pos[cx][None, :]) < args.band_mb * 1e6
        pop_ld.append((Rp, Rp * band))
    for n_ref in n_refs:
        Xr_all = _std(dos_ref[:n_ref])
        parts: dict[str, list] = {}
        for (sc, cx), (Rp, Rb) in zip(wins, pop_ld, strict=True):
            Xr = Xr_all[:, cx]
            sic = np.searchsorted(cx, sc)
            Rc = Xr.T @ Xr / n_ref
            lam, U = np.linalg.eigh(Rc[np.ix_(sic, sic)])
            keep = lam > 1e-6 * lam[-1]
            lam, U = lam[keep][::-1], U[:, keep][:, ::-1]
            r = lam.size
            G = Rc[:, sic] @ U / np.sqrt(lam)
            y = U.T @ z[sc] / np.sqrt(lam)
            const = 0.5 * np.log(lam).sum()
            K = G.T @ G
            if {"cv_noise", "diag_cv_tau", "block_cv"} & set(args.models):
                rho, tau = cv_directions(dos_ref[:n_ref][:, cx], sic, r, seed=seed)
            else:
                rho = tau = np.ones(r)  # not used
            rho_t, t_t = cv_direction_scales(dos_ref[:n_ref][:, cx], sic, seed=seed).at(r)
            # 10- and 5-fold maps extrapolated in 1/n_train
            if {"diag_extrap", "diag_exml"} & set(args.models):
                rho5, t5 = cv_direction_scales(dos_ref[:n_ref][:, cx], sic, folds=5, seed=seed).at(
                    r
                )
                f = (1.0 - 1.0 / 0.9) / (1.0 / 0.9 - 1.0 / 0.8)
                rho_x, t_x = rho_t * (rho_t / rho5) ** f, t_t * (t_t / t5) ** f
            else:
                rho_x = t_x = np.ones(r)  # not used
            more_folds = {}  # "diag_cvK": the same maps from K folds (n_train = n (1 - 1/K))
            for name in {"diag_xt", "diag_xth"} & set(args.models):
                # the same held-out folds with eigen-directions from all / 80% of the training
                # folds, extrapolated linearly in 1 / n_train to the panel's n
                sig = {"signal": "halves", "pool": "mean"} if name == "diag_xth" else {}
                more_folds[name] = cv_direction_scales(
                    dos_ref[:n_ref][:, cx], sic, seed=seed, extrapolate=True, **sig
                ).at(r)
            if "diag_xq" in args.models:
                # the maps of the store's folds K1 and of K2 = K1 / 2 (signal from own-centred
                # halves), extrapolated linearly in 1 / n_train to the panel's n
                k1 = default_folds(n_ref)
                k2 = max(2, k1 // 2)
                m1, m2 = (
                    cv_direction_scales(
                        dos_ref[:n_ref][:, cx], sic, folds=k, seed=seed, signal="halves"
                    )
                    for k in (k1, k2)
                )
                more_folds["diag_xq"] = extrapolate_scales(m1, m2, 1 - 1 / k1, 1 - 1 / k2).at(r)
            for name in args.models:
                # diag_cvK: as stores; diag_cvmK: mean-pooled rho; diag_cvtK: held-out folds
                # standardised with the training folds' means and sds; diag_cvpK: with the whole
                # panel's; diag_cvrK: its own, Richardson-corrected for the fold size; diag_cvtmK:
                # t and m; diag_cvhK: the signal from halves centred each on its own mean (K
                # may be left out: the store's default folds)
                opts = name[7:].rstrip("0123456789")
                k = name[7 + len(opts) :]
                if (
                    name.startswith("diag_cv")
                    and (k.isdigit() or (opts and not k))
                    and set(opts) <= {"m", "t", "p", "r", "o", "h"}
                ):
                    more_folds[name] = cv_direction_scales(
                        dos_ref[:n_ref][:, cx],
                        sic,
                        folds=int(k) if k else None,
                        seed=seed,
                        pool="mean" if "m" in opts else "log",
                        test_scale={"t": "train", "p": "panel", "o": "own"}.get(
                            (set(opts) - {"m", "h"} or {"r"}).pop(), "richardson"
                        ),
                        signal="halves" if "h" in opts else "fold",
                    ).at(r)
            diagK = np.diag(K)
            Wm = U / np.sqrt(lam)
            A = Wm.T @ Rp[np.ix_(sic, sic)] @ Wm
            Gp = Rb[:, sic] @ Wm
            Kp = Gp.T @ Gp
            k90 = int(np.searchsorted(np.cumsum(lam), 0.9 * lam.sum()) + 1)
            top = lam > 1.0
            Kblock = np.diag(tau * 1.0)
            Kblock[np.ix_(top, top)] = K[np.ix_(top, top)]
            models = {
                "full": (np.ones(r), K, y, const),
                "ve90": (np.ones(k90), K[:k90, :k90], y[:k90], 0.5 * np.log(lam[:k90]).sum()),
                "cv_noise": (rho, K, y, const),
                "diag_cv": (rho_t, np.diag(t_t * diagK), y, const),
                "diag_extrap": (rho_x, np.diag(t_x * diagK), y, const),
                "diag_cv_tau": (rho, np.diag(tau), y, const),
                "block_cv": (rho, Kblock, y, const),
                "oracle_diag": (np.diag(A).copy(), np.diag(np.diag(Kp)), y, const),
                "oracle": (A, Kp, y, const),
                **{
                    name: (rho_k, np.diag(t_k * diagK), y, const)
                    for name, (rho_k, t_k) in more_folds.items()
                },
            }
            q = (np.arange(r) + 0.5) / r
            shaped = {  # (rho, e, y, h, const): the noise shape exp(gamma h) fitted per trait
                "diag_tilt": (rho_t, t_t * diagK, y, q - 0.5, const),
                "diag_exml": (rho_t, t_t * diagK, y, np.log(rho_x / rho_t), const),
            }
            lam_terms = {  # per-trait mismatch terms over the stores' maps (ancestry)
                "diag_lam": (rho_t, t_t * diagK, y, 1.0 / lam, np.full(r, cx.size), const, False),
                "diag_lam2": (rho_t, t_t * diagK, y, 1.0 / lam, np.full(r, cx.size), const, True),
            }
            for name, part in lam_terms.items():
                if name in args.models:
                    parts.setdefault(name, []).append(part)
            for name, (noise, signal, yy, c) in models.items():
                if name not in args.models:
                    continue
                parts.setdefault(name, []).append(_spectrum(noise, signal, yy, c))
            for name, part in shaped.items():
                if name in args.models:
                    parts.setdefault(name, []).append(part)
        for name, pp in parts.items():
            if name in lam_terms:
                fit = lambda_fit(pp, args.n_gwas, m)
            else:
                fit = (shaped_fit if name in shaped else constant_fit)(pp, args.n_gwas, m)
            emit(
                {
                    "benchmark": "panel_mismatch",
                    "seed": seed,
                    "n_ref": n_ref,
                    "n_pop": args.n_pop,
                    "ref_population": args.ref_population or "CEU",
                    "maf_spectrum": args.maf_spectrum,
                    "model": name,
                    **fit,
                    "h2_true": float(s.sum()),
                    "rel_err": fit["h2"] / float(s.sum()) - 1.0,
                    "n_variants": m,
                    "mean_chi2": float(np.mean(z * z)),
                }
            )
        log(f"seed {seed}, n_ref {n_ref} done ({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--n-ref", type=lambda t: [int(x) for x in t.split(",")], default=[500])
    p.add_argument("--n-pop", type=int, default=20_000)
    p.add_argument("--ref-population", default=None, help="YRI, CHB or CEU (default: CEU)")
    p.add_argument("--length-mb", type=float, default=20.0)
    p.add_argument("--max-snps", type=int, default=8_600)
    p.add_argument("--maf-spectrum", choices=["uniform", "hapmap3"], default="uniform")
    p.add_argument("--n-gwas", type=float, default=300_000)
    p.add_argument("--h2", type=float, default=0.004)
    p.add_argument(
        "--band-mb",
        type=float,
        default=1.0,
        help="the signal's LD is banded at this distance (2.5: every pair a window's context "
        "spans, as in real data; 1: what BENCHMARKS.md section 9 used)",
    )
    p.add_argument(
        "--models",
        type=lambda t: t.split(","),
        default="full,ve90,diag_cv,oracle_diag,oracle".split(","),
    )
    args = p.parse_args()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        run_seed(args, seed)


if __name__ == "__main__":
    main()
