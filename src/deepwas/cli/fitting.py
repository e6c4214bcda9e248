"""Verbs that fit: ``loglik`` (the constant prior), ``fit`` (a learned prior), ``demo``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepwas._validation import TRAIT_CONSTRAINTS
from deepwas.cli._args import (
    SPLIT_CONSTRAINTS,
    add_bim,
    add_common,
    add_ld,
    add_ld_model,
    add_n_gwas,
    add_output,
    add_sumstats,
    add_sumstats_qc,
    add_var_explained,
    chrom_list,
    constrain,
    say,
    sumstats_qc,
)


# ------------------------------------------------------------------------------------ loglik
def _cmd_loglik(args: argparse.Namespace) -> int:
    from deepwas._files import atomic_file
    from deepwas.exact import fit_constant
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import constant_prior_model, load_trait
    from deepwas.provenance import provenance

    store = LDStore.open(args.ld)
    trait = load_trait(
        args.sumstats,
        store,
        **sumstats_qc(args),
        var_explained=args.var_explained,
        # the best constant prior's h2: with a small panel, the diagonal model (docs/mismatch.md)
        ld_model=constant_prior_model(store, args.ld_model),
        progress=not args.quiet,
    )
    say(*trait.report)
    from deepwas.diagnostics import (
        flagged_variants,
        mismatch_warnings,
        outlier_lines,
        panel_warnings,
        variant_diagnostics,
        variant_lines,
        window_diagnostics,
    )
    from deepwas.jackknife import constant_h2_jackknife

    if len(trait.windows) >= 2:
        fit, h2_se = constant_h2_jackknife(trait)
    else:
        fit, h2_se = fit_constant(trait), None
    table = window_diagnostics(trait, fit.snpvar, fit.sigma)
    mismatch = mismatch_warnings(table, ld_model=trait.ld_model)
    warnings_ = mismatch + panel_warnings(
        store.n_ref, ld_model=trait.ld_model, mismatch=store.manifest.get("mismatch")
    )
    notes = outlier_lines(table)
    variants = variant_diagnostics(trait, store)
    notes += variant_lines(variants)
    flagged = flagged_variants(variants)
    result = {
        "loglik": -fit.nll,
        "loglik_per_snp": -fit.nll / trait.n_scored,
        "n_scored": trait.n_scored,
        "n_windows": len(trait.windows),
        "h2": fit.h2,
        "h2_se": h2_se,
        "snpvar": fit.snpvar,
        "sigma": fit.sigma,
        "n_gwas": trait.n_gwas,
        "ld_model": trait.ld_model,
        "mismatch_excess_low": float(table["excess_low"].median()),
        "mismatch_excess_high": float(table["excess_high"].median()),
        "warnings": warnings_,
        "notes": notes,
        "n_variants_tested": int(len(variants)),
        "n_allele_flip": int((flagged["FLAG"] == "allele_flip").sum()),
        "n_kriging_outliers": int((flagged["FLAG"] == "ld_outlier").sum()),
        "flagged_variants": json.loads(flagged.to_json(orient="records")),
        "provenance": provenance(
            inputs={"sumstats": args.sumstats, "ld": Path(args.ld) / "manifest.json"},
            argv=["deepwas", *args.argv],
        ),
    }
    se = "" if h2_se is None else f" (SE {h2_se:.4f}, block jackknife over windows)"
    # say at once when the number is not to be read as an estimate
    caveat = (
        "; at its lower bound 0: the likelihood puts the signal in sigma" if fit.h2 < 1e-6 else ""
    ) + ("; not reliable with this panel, see the warning below" if mismatch else "")
    say(
        f"best constant prior: h2 = {fit.h2:.4f}{se} over {trait.n_variants:,} variants "
        f"(SNPVAR {fit.snpvar:.3e}), sigma = {fit.sigma:.4f}{caveat}",
        f"exact log-likelihood: {-fit.nll:.3f} "
        f"({-fit.nll / trait.n_scored:.5f} per scored variant)",
        *notes,
        *(f"warning: {w}" for w in warnings_),
    )
    if args.out:
        with atomic_file(args.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        say(f"wrote {args.out}")
    return 0


# --------------------------------------------------------------------------------------- fit
def _cmd_fit(args: argparse.Namespace) -> int:
    from deepwas.fit import TrainConfig
    from deepwas.workflow import run_fit

    cfg = TrainConfig(
        model=args.model,
        objective=args.objective,
        width=args.width,
        depth=args.depth,
        lr=args.lr,
        weight_decay=args.weight_decay,
        epochs=args.epochs,
        batch_windows=args.batch_windows,
        patience=args.patience,
        learn_sigma=args.fixed_sigma is None,
        sigma=args.fixed_sigma,
        seed=args.seed,
        device=args.device,
        engine=args.engine,
        precision=args.precision,
        ssm_window_kb=args.ssm_window_kb,
        fasta=args.fasta,
    )
    test_chrom = chrom_list(args.test_chrom, flag="--test-chrom") if args.test_chrom else None
    m = run_fit(
        sumstats=args.sumstats,
        ld=args.ld,
        annot=args.annot if len(args.annot) > 1 else args.annot[0],
        out=args.out,
        config=cfg,
        test_chrom=test_chrom,
        test_blocks=args.test_blocks,
        truth=args.truth,
        n_gwas=args.n_gwas,
        bim=args.bim,
        var_explained=args.var_explained,
        ld_model=args.ld_model,
        val_fraction=args.val_fraction,
        split_seed=args.split_seed,
        resume=args.resume,
        enrich_se=args.enrich_se,
        argv=["deepwas", *args.argv],
        progress=not args.quiet,
        say=say,
    )
    if m is None:  # a non-zero rank of a torchrun launch: rank 0 reports
        return 0
    lines = [
        f"{m.model} prior trained with the {m.objective} objective "
        f"({m.n_params} parameters, {m.stopped}, best epoch {m.best_epoch})",
        f"h2 = {m.h2:.4g}, sigma = {m.sigma:.4g}"
        + (
            f" (h2 calibrated by the small-panel model: x{m.h2_scale:.3g} of "
            f"{m.h2_uncalibrated:.4g}; its sigma {m.sigma_diagonal:.4g})"
            if m.h2_scale is not None
            else ""
        ),
    ]
    if m.heldout_n_snps:
        lines.append(
            f"held-out exact log-likelihood {m.heldout_loglik:.2f} vs constant prior "
            f"{m.heldout_loglik_constant:.2f}: gain {m.heldout_gain:.2f} "
            f"({m.heldout_gain_per_1000:.3f} per 1,000 of {m.heldout_n_snps:,} variants)"
        )
    if m.truth_pearson is not None:
        lines.append(
            f"truth: Pearson {m.truth_pearson:.3f}, Spearman {m.truth_spearman:.3f} "
            f"(log SNPVAR); h2 {m.h2:.4g} vs true {m.h2_true:.4g}"
        )
    lines += [f"warning: {w}" for w in m.warnings]
    say(*lines, f"wrote {args.out}/priors.tsv.gz, metrics.json, model/, report.html")
    return 0


# -------------------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from deepwas.demo import run_demo

    run_demo(args.out, seed=args.seed, quick=args.quick, progress=not args.quiet)
    return 0


# ------------------------------------------------------------------------------------ parser
def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the ``deepwas`` parser."""
    lk = sub.add_parser(
        "loglik",
        help="exact log-likelihood of sumstats under the best constant prior",
        description="Read, QC and harmonise summary statistics against an LD store, "
        "then maximise the exact likelihood over a constant per-SNP heritability and sigma.",
    )
    add_sumstats(lk)
    add_ld(lk)
    add_n_gwas(lk)
    add_sumstats_qc(lk)
    add_var_explained(lk, TRAIT_CONSTRAINTS)
    add_ld_model(lk)
    add_output(lk, kind="file", what="write the result as JSON to this file", required=False)
    add_common(lk)
    lk.set_defaults(func=_cmd_loglik)

    f = sub.add_parser(
        "fit",
        help="learn a prior from sumstats, LD and annotations",
        description="Train a constant, linear or MLP prior with the exact likelihood "
        "or the LDSC objective and evaluate it on held-out windows (DESIGN 4).",
    )
    add_sumstats(f)
    add_ld(f)
    f.add_argument("--annot", required=True, nargs="+", help="annotation file(s)")
    add_bim(f)
    from deepwas.priors import PRIOR_FAMILIES  # the registry (imports torch, as main() does)

    f.add_argument("--model", choices=list(PRIOR_FAMILIES), default="linear")
    from deepwas.fit import OBJECTIVES

    f.add_argument("--objective", choices=list(OBJECTIVES), default="likelihood")
    f.add_argument("--test-chrom", default=None, help="held-out chromosomes, e.g. 1,3 or 20-22")
    f.add_argument(
        "--test-blocks",
        type=float,
        default=None,
        help="held-out fraction of LD blocks (single-chromosome data)",
    )
    f.add_argument("--truth", default=None, help="truth.tsv.gz of deepwas simulate")
    add_n_gwas(f)
    add_var_explained(f, TRAIT_CONSTRAINTS)
    add_ld_model(f)
    f.add_argument("--width", type=int, default=64, help="MLP (and ssm) width")
    f.add_argument("--depth", type=int, default=4, help="MLP (and ssm) residual blocks")
    f.add_argument(
        "--ssm-window-kb",
        type=float,
        default=100.0,
        help="--model ssm: a variant's prior depends on the variants within this many kb "
        "each side (keep it below the LD store's flank)",
    )
    f.add_argument(
        "--fasta",
        default=None,
        help="reference genome FASTA (or .2bit) of the store's build: the prior also reads the "
        "DNA around each variant (a reverse-complement-invariant encoder of the ref and alt "
        "sequences; docs/ssm.md)",
    )
    f.add_argument("--lr", type=float, default=0.01)
    f.add_argument("--weight-decay", type=float, default=1e-4)
    f.add_argument("--epochs", type=int, default=60)
    f.add_argument("--batch-windows", type=int, default=4, help="windows per optimiser step")
    f.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    f.add_argument("--fixed-sigma", type=float, default=None, help="fix sigma at this value")
    f.add_argument("--seed", type=int, default=1)
    f.add_argument(
        "--val-fraction",
        type=float,
        default=0.15,
        help="fraction of training windows held out for early stopping",
    )
    f.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the held-out/validation split (default: --seed)",
    )
    f.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    f.add_argument(
        "--engine",
        choices=["auto", "exact", "iterative"],
        default="auto",
        help="likelihood engine for training steps (auto: by cost model)",
    )
    f.add_argument(
        "--precision",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the exact engine's training steps (float32: ~1.8x faster on a CPU, "
        "more on GPUs; validation and reported values stay float64)",
    )
    f.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    f.add_argument(
        "--enrich-se",
        choices=["auto", "yes", "no"],
        default="auto",
        help="enrichment of the annotations with block-jackknife SEs in OUT/enrichment.results "
        "and the report (as deepwas enrich): auto (default) when its reruns of the training "
        "should take <= 5 min (a linear prior's delete-one: blocks x the training time; a "
        "network's delete-half: min(20, blocks - 1) x the training time), yes, no",
    )
    add_output(f, kind="dir", what="output folder")
    add_common(f)
    constrain(f, SPLIT_CONSTRAINTS)
    f.set_defaults(func=_cmd_fit)

    d = sub.add_parser("demo", help="run the main job end to end on an embedded default")
    add_output(d, kind="dir", what="output folder", required=False, default="demo_out")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--quick", action="store_true", help="a smaller problem (for tests)")
    add_common(d)
    d.set_defaults(func=_cmd_demo)
