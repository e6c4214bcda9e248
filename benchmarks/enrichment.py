"""Calibration of ``deepwas enrich``: coverage of the 95% intervals of Prop._h2 over simulated
replicates with known enrichment, for the linear and the MLP prior, and agreement with S-LDSC
(pyldsc, the ``bench`` dependency group) for the linear prior.

One panel, one set of synthetic annotations and one LD store are simulated once (msprime, a
reference panel of ``--n-ref`` samples, z-scores from the LD of an in-sample cohort); each
replicate draws a new true prior (``true_prior`` with a new seed: new enrichments) and new
z-scores. The truth of an annotation is Prop._h2 = sum_i a_i s_i / sum_i s_i over the LD-store
variants with the true SNPVAR s. Each replicate fits the prior (``run_fit``, no held-out windows,
no validation windows so that the fit runs its epochs to the best training objective) and runs
:func:`deepwas.enrichment`; a record per (model, replicate) is one JSON line on stdout, and a
summary line per model ends the run.

    PYTHONPATH=src python benchmarks/enrichment.py --out /tmp/enrich_bench --replicates 50 \
        --models linear,mlp --sldsc 10 > enrich.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import emit, log


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="work folder")
    p.add_argument("--replicates", type=int, default=50)
    p.add_argument("--start", type=int, default=0, help="first replicate (to extend a run)")
    p.add_argument("--models", default="linear,mlp")
    p.add_argument("--length-mb", type=float, default=6.0, help="length of each chromosome")
    p.add_argument("--chroms", type=int, default=1, help="simulated chromosomes")
    p.add_argument("--max-snps", type=int, default=2500)
    p.add_argument("--n-ref", type=int, default=400)
    p.add_argument("--n-insample", type=int, default=2000)
    p.add_argument("--n-gwas", type=float, default=200_000)
    p.add_argument("--h2", type=float, default=0.05)
    p.add_argument("--window-kb", type=float, default=300)
    p.add_argument("--flank-kb", type=float, default=500)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--blocks", type=int, default=None)
    p.add_argument("--refit", default="optimum", choices=["auto", "optimum", "scratch", "adamw"])
    p.add_argument("--refit-epochs", type=int, default=5, help="epochs of an adamw refit")
    p.add_argument("--jackknife", default="auto", choices=["auto", "delete-one", "delete-half"])
    p.add_argument("--half-partitions", type=int, default=None)
    p.add_argument("--prior-sd", type=float, default=1.0, help="0: unpenalised optimum")
    p.add_argument(
        "--compare-adamw",
        action="store_true",
        help="also run the first version's 5-epoch AdamW refits on the same fit (diagnosis)",
    )
    p.add_argument(
        "--insample-ld",
        action="store_true",
        help="no panel mismatch: z-scores from the reference panel's own LD, the full LD model",
    )
    p.add_argument("--sldsc", type=int, default=0, help="replicates also run with S-LDSC")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=math.inf, help="stop starting replicates")
    return p.parse_args(argv)


def setup(args) -> dict:
    """The panel, annotations and LD store shared by every replicate."""
    from deepwas.cli import main
    from deepwas.io.genotypes import read_plink
    from deepwas.simulate import SimConfig, run_simulation

    base = Path(args.out) / "base"
    if not (base / "simulation.json").exists():
        cfg = SimConfig(
            n_ref=args.n_ref,
            n_insample=None if args.insample_ld else args.n_insample,
            n_gwas=args.n_gwas,
            h2=args.h2,
            length_mb=args.length_mb,
            chroms=args.chroms,
            max_snps=args.max_snps,
            prior="linear",
            seed=args.seed,
        )
        run_simulation(cfg, base, progress=False)
    store = Path(args.out) / "store"
    if not (store / "manifest.json").exists():
        argv = ["ld", "--bfile", str(base / "reference"), "--window-kb", str(args.window_kb)]
        argv += ["--flank-kb", str(args.flank_kb), "--out", str(store), "--quiet", "--threads", "1"]
        with contextlib.redirect_stdout(sys.stderr):
            assert main(argv) == 0
    annot = pd.read_csv(base / "annotations.tsv.gz", sep="\t")
    names = [c for c in annot.columns if c not in ("CHR", "SNP", "BP", "A1", "A2", "MAF")]
    return {
        "base": base,
        "store": store,
        "annot": annot,
        "names": names,
        "insample": read_plink(base / ("reference" if args.insample_ld else "insample")),
    }


def replicate(args, env, r: int, model: str) -> dict:
    from deepwas.enrich import enrichment
    from deepwas.fit import TrainConfig
    from deepwas.simulate import simulate_sumstats, true_prior
    from deepwas.workflow import run_fit

    work = Path(args.out) / f"rep{r}"
    work.mkdir(parents=True, exist_ok=True)
    annot, names = env["annot"], env["names"]
    ss_path, truth_path = work / "sumstats.tsv.gz", work / "truth.tsv.gz"
    if not ss_path.exists():
        rng = np.random.default_rng([args.seed, r, 17])
        s = true_prior(
            annot[names].to_numpy(), annot["MAF"].to_numpy(), kind="linear", h2=args.h2, rng=rng
        )
        z = simulate_sumstats(env["insample"], s, n_gwas=args.n_gwas, rng=rng, band_bp=1e6)
        ids = annot[["CHR", "SNP", "BP", "A1", "A2"]]
        ids.assign(Z=z, N=args.n_gwas).to_csv(ss_path, sep="\t", index=False)
        ids.assign(SNPVAR=s).to_csv(truth_path, sep="\t", index=False)
    truth = pd.read_csv(truth_path, sep="\t")
    s = truth["SNPVAR"].to_numpy()
    A = annot[names].to_numpy()
    true_prop = A.T @ s / s.sum()
    t0 = time.perf_counter()
    cfg = TrainConfig(
        model=model,
        epochs=args.epochs,
        patience=args.epochs,
        lr=args.lr,
        width=args.width,
        depth=args.depth,
        seed=r + 1,
    )
    fit = work / f"fit_{model}"
    run_fit(
        enrich_se="no",  # its own enrichment or none (not the fit's report)
        sumstats=str(ss_path),
        ld=str(env["store"]),
        annot=str(env["base"] / "annotations.tsv.gz"),
        out=str(fit),
        config=cfg,
        val_fraction=0.0,
        ld_model="full" if args.insample_ld else "auto",
        progress=False,
        say=lambda *a: None,
    )
    t_fit = time.perf_counter() - t0
    res = enrichment(
        fit,
        str(env["base"] / "annotations.tsv.gz"),
        n_blocks=args.blocks,
        refit=args.refit,
        refit_epochs=args.refit_epochs,
        prior_sd=args.prior_sd or None,
        jackknife=args.jackknife,
        half_partitions=args.half_partitions,
        progress=False,
    )
    t_enrich = time.perf_counter() - t0 - t_fit
    tab = res.table
    est, se = tab["Prop._h2"].to_numpy(), tab["Prop._h2_std_error"].to_numpy()
    covered = np.abs(est - true_prop) <= 1.96 * se
    rec = {
        "model": model,
        "replicate": r,
        "refit": args.refit,
        "prior_sd": args.prior_sd,
        "insample_ld": bool(args.insample_ld),
        "annotations": names,
        "prop_h2_true": true_prop.tolist(),
        "prop_h2": est.tolist(),
        "prop_h2_se": se.tolist(),
        "covered": covered.tolist(),
        "z_error": ((est - true_prop) / se).tolist(),
        "coef": tab["Coefficient"].tolist(),
        "coef_se": tab["Coefficient_std_error"].tolist(),
        "max_abs_drift": float(np.nanmax(np.abs(res.drift))) if res.drift is not None else None,
        "report": res.report,
        "n_blocks": res.n_blocks,
        "jackknife": res.jackknife,
        "df": res.n_refits // 2 if res.jackknife == "delete-half" else res.n_blocks - 1,
        "seconds_fit": t_fit,
        "seconds_enrich": t_enrich,
        "fit": str(fit),
    }
    if args.compare_adamw:
        old = enrichment(
            fit,
            str(env["base"] / "annotations.tsv.gz"),
            n_blocks=args.blocks,
            refit="adamw",
            refit_epochs=args.refit_epochs,
            progress=False,
        ).table
        rec["adamw_prop_h2"] = old["Prop._h2"].tolist()
        rec["adamw_prop_h2_se"] = old["Prop._h2_std_error"].tolist()
    return rec


def sldsc(args, env, r: int) -> dict:
    """S-LDSC (pyldsc) Prop._h2 of the binary annotations (plus base) on replicate r."""
    import pyldsc

    work = Path(args.out) / f"rep{r}" / "sldsc"
    work.mkdir(parents=True, exist_ok=True)
    annot, names = env["annot"], [n for n in env["names"] if n.startswith("binary")]
    bfile = env["base"] / "reference"
    bim = pd.read_csv(
        str(bfile) + ".bim", sep=r"\s+", header=None, names=["CHR", "SNP", "CM", "BP", "A1", "A2"]
    )
    a = annot.set_index("SNP").reindex(bim["SNP"])[names].to_numpy()
    A = np.column_stack([np.ones(len(bim)), a])
    with contextlib.redirect_stdout(sys.stderr):
        res = pyldsc.estimate_ldscore(str(bfile), ld_wind_cm=1.0, annot=A, maf=0.01)
    cols = ["base", *names]
    ld = res["ldscore"].rename(columns={f"ANNOT{i}_L2": f"{c}L2" for i, c in enumerate(cols)})
    prefix = str(work / "annot")
    ld[["CHR", "SNP", "BP", *[f"{c}L2" for c in cols]]].to_csv(
        prefix + ".l2.ldscore.gz", sep="\t", index=False, compression="gzip"
    )
    Path(prefix + ".l2.M").write_text("\t".join(str(float(x)) for x in res["M"]) + "\n")
    Path(prefix + ".l2.M_5_50").write_text("\t".join(str(float(x)) for x in res["M_5_50"]) + "\n")
    weights = str(work / "all")  # the regression weights: LD scores of the base annotation
    ld[["CHR", "SNP", "BP", "baseL2"]].to_csv(
        weights + ".l2.ldscore.gz", sep="\t", index=False, compression="gzip"
    )
    Path(weights + ".l2.M").write_text(f"{float(res['M'][0])}\n")
    Path(weights + ".l2.M_5_50").write_text(f"{float(res['M_5_50'][0])}\n")
    kept = bim["SNP"].isin(ld["SNP"]).to_numpy()
    tab = bim.loc[kept, ["CHR", "BP", "SNP", "CM"]].reset_index(drop=True)
    tab = pd.concat([tab, pd.DataFrame(A[kept].astype(int), columns=cols)], axis=1)
    tab.to_csv(prefix + ".annot.gz", sep="\t", index=False, compression="gzip")
    ss = pd.read_csv(Path(args.out) / f"rep{r}" / "sumstats.tsv.gz", sep="\t")
    ss_path = work / "trait.sumstats.gz"
    ss[["SNP", "A1", "A2", "Z", "N"]].to_csv(ss_path, sep="\t", index=False, compression="gzip")
    with contextlib.redirect_stdout(sys.stderr):
        h = pyldsc.estimate_h2(
            str(ss_path),
            prefix,
            weights,
            not_M_5_50=True,
            overlap_annot=True,
            print_coefficients=True,
        )
    o = h.overlap_results
    return {
        str(row["Category"]).removesuffix("L2_0").removesuffix("L2"): (
            float(row["Prop._h2"]),
            float(row["Prop._h2_std_error"]),
        )
        for _, row in o.iterrows()
    }


def diagnosis(recs: list[dict], prefix: str = "") -> dict:
    """Bias against SE error over replicates, per annotation and pooled by kind.

    bias = mean(est - true); sd = sd(est - true) across replicates (the real error of the
    estimator); mean_se = the mean jackknife SE (what it claims); coverage with 1.96 and with
    the t quantile of B - 1 degrees of freedom."""
    from scipy import stats

    names = recs[0]["annotations"]
    est = np.array([r[prefix + "prop_h2"] for r in recs], dtype=float)
    se = np.array([r[prefix + "prop_h2_se"] for r in recs], dtype=float)
    true = np.array([r["prop_h2_true"] for r in recs], dtype=float)
    err = est - true
    q = stats.t.ppf(0.975, df=recs[0].get("df", recs[0]["n_blocks"] - 1))
    binary = np.array([n.startswith("binary") for n in names])
    cov = np.abs(err) <= 1.96 * se
    cov_t = np.abs(err) <= q * se
    return {
        "coverage": float(cov.mean()),
        "coverage_binary": float(cov[:, binary].mean()),
        "coverage_continuous": float(cov[:, ~binary].mean()),
        "coverage_t": float(cov_t.mean()),
        "per_annotation": {
            n: {
                "bias": float(err[:, j].mean()),
                "sd_error": float(err[:, j].std(ddof=1)) if len(recs) > 1 else math.nan,
                "mean_se": float(se[:, j].mean()),
                "rms_se": float(np.sqrt((se[:, j] ** 2).mean())),
                "coverage": float(cov[:, j].mean()),
            }
            for j, n in enumerate(names)
        },
    }


def main(argv=None) -> int:
    import torch

    torch.set_num_threads(1)
    args = parse_args(argv)
    t0 = time.perf_counter()
    env = setup(args)
    log(f"setup in {time.perf_counter() - t0:.0f} s")
    models = args.models.split(",")
    records = {m: [] for m in models}
    for r in range(args.start, args.replicates):
        if time.perf_counter() - t0 > args.max_seconds:
            log(f"time limit: stopped after {r} replicates")
            break
        for model in models:
            rec = replicate(args, env, r, model)
            if model == "linear" and r < args.sldsc:
                try:
                    sl = sldsc(args, env, r)
                    rec["sldsc"] = sl
                    agree = []
                    for j, n in enumerate(rec["annotations"]):
                        if n in sl:
                            p, se = sl[n]
                            d = abs(rec["prop_h2"][j] - p)
                            agree.append(d <= 2 * math.hypot(se, rec["prop_h2_se"][j]))
                    rec["sldsc_within_2se"] = agree
                except Exception as exc:  # a failed S-LDSC fit is a result
                    rec["sldsc_error"] = f"{type(exc).__name__}: {exc}"
            emit(rec)
            records[model].append(rec)
            log(
                f"{model} rep {r}: coverage {np.mean(rec['covered']):.2f} "
                f"({rec['seconds_fit']:.0f}+{rec['seconds_enrich']:.0f} s)"
            )
    for model, recs in records.items():
        if not recs:
            continue
        cov = np.array([c for rec in recs for c in rec["covered"]], dtype=float)
        ze = np.array([z for rec in recs for z in rec["z_error"]], dtype=float)
        by_annot = np.array([rec["covered"] for rec in recs], dtype=float).mean(0)
        summary = {
            "summary": model,
            "refit": args.refit,
            "insample_ld": bool(args.insample_ld),
            "replicates": len(recs),
            "coverage_95": float(cov.mean()),
            "coverage_by_annotation": dict(
                zip(recs[0]["annotations"], by_annot.tolist(), strict=True)
            ),
            "z_error_mean": float(np.nanmean(ze)),
            "z_error_sd": float(np.nanstd(ze)),
            "seconds": time.perf_counter() - t0,
            **diagnosis(recs),
        }
        if args.compare_adamw:
            summary["adamw"] = diagnosis(recs, prefix="adamw_")
        if model == "linear":
            agree = [a for rec in recs for a in rec.get("sldsc_within_2se", [])]
            summary["sldsc_within_2se"] = float(np.mean(agree)) if agree else None
            summary["sldsc_comparisons"] = len(agree)
        emit(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
