"""PRS weights (deepwas prs): accuracy on a population-LD simulation and speed on real chr22.

``accuracy``: a simulation made with ``deepwas simulate --n-insample N_POP`` draws z = sqrt(N)
R_pop beta + e from the in-sample cohort's LD (banded at ``ld_band_kb``); deepwas's LD store is
built from the separate reference panel. The true standardised effects beta are those that
generated z, which ``truth.tsv.gz`` carries (``BETA``). For weights w (standardised scale) the
expected out-of-sample R^2 in the population is

    R^2 = (w^T R_pop beta)^2 / (w^T R_pop w)

(a new person's standardised genotypes x have Cov(x) = R_pop and phenotype x^T beta + noise of
total variance 1: Cov(x^T w, pheno) = w^T R_pop beta, Var(x^T w) = w^T R_pop w); its ceiling is
R^2(beta) = beta^T R_pop beta, the realised h2. Weights are computed for each prior (constant:
the CLI's default, LDpred-inf; the true SNPVAR; a learned prior from ``--fit``), each model of
the z-scores (``full``; ``scaled`` = the full kernel with the diagonal model's per-direction
scales; ``calibrated`` = full on the leading 90% directions; ``diagonal``) and each sigma
(maximum likelihood in the posterior's model "fit", in the diagonal model on every direction
"diag", or 1). One JSON line per combination.

``speed``: weights for real chr22 (an LD store and the UK Biobank height sumstats), per model,
with the time of each stage.

Run (BENCHMARKS.md section 11 has the commands and figures):
  OPENBLAS_NUM_THREADS=1 python benchmarks/prs.py accuracy --sim SIM --ld STORE --fit FIT
  OPENBLAS_NUM_THREADS=1 python benchmarks/prs.py speed --ld /work/exp/st22b --sumstats HEIGHT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import emit, log
from deepwas.data import truth_table
from deepwas.exact import fit_constant, refit_sigma
from deepwas.harmonize import harmonize
from deepwas.io.genotypes import read_plink, standardize
from deepwas.io.priors import read_prior_snpvar
from deepwas.io.sumstats import read_sumstats
from deepwas.ld.store import LDStore
from deepwas.ld.trait import prepare_trait
from deepwas.prs import prs_weights
from deepwas.simulate import SimConfig


def _banded_products(X: np.ndarray, V: np.ndarray, pos: np.ndarray, band_bp: float | None):
    """V @ R for R = X^T X / n banded at band_bp (the simulation's signal LD), V (d, m)."""
    from deepwas.simulate.sumstats import _banded_ld_times

    if band_bp is None:
        return (V @ X.T) @ X / X.shape[0]
    return _banded_ld_times(X, V, pos, band_bp)


def _true_beta(sim: Path, store) -> tuple:
    """(beta, X_pop, positions, band_bp, store-to-simulation index): the true standardised
    effects that ``truth.tsv.gz`` carries (``BETA``, the draw that generated z) and the in-sample
    cohort whose LD generated them."""
    meta = json.loads((sim / "simulation.json").read_text())
    cfg = SimConfig(**meta["config"])
    if cfg.chroms != 1 or not cfg.n_insample:
        raise SystemExit("accuracy needs a one-chromosome simulation with --n-insample")
    ss = pd.read_csv(sim / "sumstats.tsv.gz", sep="\t", dtype={"SNP": str})
    truth = pd.read_csv(sim / "truth.tsv.gz", sep="\t", dtype={"SNP": str})
    if "BETA" not in truth:
        raise SystemExit("truth.tsv.gz has no BETA column: simulate again with this deepwas")
    beta = truth.set_index("SNP")["BETA"].reindex(ss["SNP"]).to_numpy(np.float64)
    panel = read_plink(sim / "insample")
    assert (panel.variants["SNP"].to_numpy() == ss["SNP"].to_numpy()).all()
    X = standardize(panel.dosages())[0]
    pos = panel.variants["BP"].to_numpy(np.float64)
    band = None if cfg.ld_band_kb is None else 1e3 * cfg.ld_band_kb
    # to store order (the store may have dropped variants)
    idx = pd.Series(np.arange(len(ss)), index=ss["SNP"]).reindex(store.variants["SNP"]).to_numpy()
    return beta, X, pos, band, idx


def _traits(store, matched, models, threads=None):
    """model -> (projected trait, posterior kernel): "scaled" is the full kernel on the
    diagonal model's projection (as deepwas.prs.run_prs does)."""
    out = {}
    for model in models:
        base = "diagonal" if model == "scaled" else model
        tr = prepare_trait(store, matched, ld_model=base, progress=False, threads=threads)
        out[model] = (tr, "full" if model == "scaled" else None)
    return out


def cmd_accuracy(args) -> None:
    torch.set_num_threads(args.threads)
    store = LDStore.open(args.ld)
    sim = Path(args.sim)
    beta, X, pos, band, idx = _true_beta(sim, store)
    ok = np.isfinite(idx)
    if not ok.all():
        raise SystemExit("store variants missing from the simulation")
    idx = idx.astype(np.int64)
    df, _ = read_sumstats(sim / "sumstats.tsv.gz")
    matched, _ = harmonize(df, store.variants)
    traits = _traits(store, matched, args.models)
    diag = traits.get("diagonal", (None,))[0] or prepare_trait(
        store, matched, ld_model="diagonal", progress=False
    )
    const = fit_constant(diag)
    priors = {"constant": np.full(store.n_variants, const.snpvar)}
    priors["true"] = truth_table(sim / "truth.tsv.gz", store.variants)
    if args.fit:
        priors["learned"] = read_prior_snpvar(Path(args.fit) / "priors.tsv.gz", store.variants)
    log(f"constant prior (diagonal model): h2 {const.h2:.4f}, sigma {const.sigma:.3f}")
    runs, W = [], []
    for pname, s in priors.items():
        log_s = torch.from_numpy(np.log(np.maximum(s, 1e-300)))
        for model, (tr, kernel) in traits.items():
            for sig_name in args.sigmas:
                t0 = time.perf_counter()
                if sig_name == "fit":  # maximum likelihood in the posterior's model
                    sigma = refit_sigma(tr, log_s)
                elif sig_name == "diag":  # ... in the diagonal model on every direction
                    sigma = refit_sigma(diag, log_s)
                else:
                    sigma = float(sig_name)
                res = prs_weights(tr, store, s, sigma=sigma, kernel=kernel, progress=False)
                secs = time.perf_counter() - t0
                w = np.zeros(X.shape[1])
                w[idx] = res.beta_std
                W.append(w)
                runs.append(
                    dict(
                        prior=pname,
                        ld_model=model,
                        sigma_rule=sig_name,
                        sigma=sigma,
                        h2_prior=float(s.sum()),
                        seconds=secs,
                    )
                )
                log(f"{pname:9s} {model:12s} sigma {sig_name:4s} = {sigma:.3f}")
    if args.viprs:
        vw = pd.read_csv(args.viprs, sep=r"\s+")
        w = _external_std_weights(vw, store, idx, X.shape[1])
        W.append(w)
        runs.append(dict(prior="viprs", ld_model="viprs", sigma_rule=None, sigma=None))
        log("VIPRS weights read")
    V = np.vstack([beta[None], *[w[None] for w in W]])
    RV = _banded_products(X, V, pos, band)
    rb = RV[0]
    h2_real = float(beta @ rb)
    for run, w, Rw in zip(runs, W, RV[1:], strict=True):
        r2 = float((w @ rb) ** 2 / (w @ Rw)) if np.any(w) else 0.0
        emit(dict(bench="prs_accuracy", sim=str(sim), **run, r2=r2, r2_ceiling=h2_real))
        log(
            f"{run['prior']:9s} {run['ld_model']:12s} {run['sigma_rule']!s:4s}  R2 {r2:.4f}"
            f"  (ceiling {h2_real:.4f})"
        )


def _external_std_weights(vw: pd.DataFrame, store, idx, m) -> np.ndarray:
    """Standardised weights of another tool (``SNP A1 BETA_STD``, benchmarks/prs_viprs.py),
    oriented to the store's A1, in the simulation's variant order."""
    t = vw.set_index("SNP").reindex(store.variants["SNP"])
    sign = np.where(t["A1"].to_numpy() == store.variants["A1"].to_numpy(), 1.0, -1.0)
    w = np.zeros(m)
    w[idx] = np.nan_to_num(sign * t["BETA_STD"].to_numpy(np.float64))
    return w


def cmd_speed(args) -> None:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    store = LDStore.open(args.ld)
    df, _ = read_sumstats(args.sumstats)
    matched, _ = harmonize(df, store.variants)
    t_read = time.perf_counter() - t0
    log(f"read + harmonise: {t_read:.1f} s")
    for model in args.models:
        t0 = time.perf_counter()
        ((tr, kernel),) = _traits(store, matched, [model], threads=args.threads).values()
        t_proj = time.perf_counter() - t0
        t0 = time.perf_counter()
        # as deepwas prs without --prior: the constant prior in the diagonal model where the
        # model is calibrated or scaled, with its sigma (deepwas.prs.run_prs)
        base = tr.calibration if tr.calibration is not None else tr
        const = fit_constant(base)
        s = np.full(store.n_variants, const.snpvar)
        sigma = const.sigma
        t_prior = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = prs_weights(tr, store, s, sigma=sigma, kernel=kernel, progress=False)
        t_post = time.perf_counter() - t0
        ranks = [w.rank for w in tr.windows]
        ctx = [w.n_context for w in tr.windows]
        emit(
            dict(
                bench="prs_speed",
                ld=str(args.ld),
                ld_model=model,
                n_variants=store.n_variants,
                n_windows=len(tr.windows),
                n_weights=len(res.weights),
                sum_context_rank2=float(sum(c * r * r for c, r in zip(ctx, ranks, strict=True))),
                seconds_read=t_read,
                seconds_project=t_proj,
                seconds_prior=t_prior,
                seconds_posterior=t_post,
                seconds_total=t_read + t_proj + t_prior + t_post,
                h2=const.h2,
                sigma=sigma,
                threads=args.threads,
            )
        )
        log(
            f"{model}: project {t_proj:.1f} s, constant prior + sigma {t_prior:.1f} s, "
            f"posterior {t_post:.1f} s; h2 {const.h2:.4f}, sigma {sigma:.3f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--sim", required=True)
    a.add_argument("--ld", required=True)
    a.add_argument("--fit", default=None, help="a deepwas fit folder (its priors.tsv.gz)")
    a.add_argument("--viprs", default=None, help="VIPRS weights (benchmarks/prs_viprs.py)")
    a.add_argument("--models", nargs="+", default=["full", "scaled", "calibrated", "diagonal"])
    a.add_argument("--sigmas", nargs="+", default=["fit", "diag", "1"])
    a.add_argument("--threads", type=int, default=1)
    a.set_defaults(func=cmd_accuracy)
    s = sub.add_parser("speed")
    s.add_argument("--ld", required=True)
    s.add_argument("--sumstats", required=True)
    s.add_argument("--models", nargs="+", default=["full", "scaled", "calibrated", "diagonal"])
    s.add_argument("--threads", type=int, default=2)
    s.set_defaults(func=cmd_speed)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
