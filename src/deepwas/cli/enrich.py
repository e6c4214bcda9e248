"""Verbs that deliver from a fitted prior: ``enrich`` (S-LDSC ``.results`` with jackknife SEs)
and ``predict`` (a saved prior applied to new annotation files)."""

from __future__ import annotations

import argparse
import json
from numbers import Integral, Real
from pathlib import Path

from deepwas._validation import Interval
from deepwas.cli._args import add_bim, add_common, constrain, say

_ENRICH_CONSTRAINTS = {
    "blocks": [Interval(Integral, 0, None, closed="left"), None],
    "refit_epochs": Interval(Integral, 1, None, closed="left"),
    "prior_sd": Interval(Real, 0, None, closed="left"),
    "half_partitions": [Interval(Integral, 1, None, closed="left"), None],
}


def _cmd_enrich(args: argparse.Namespace) -> int:
    from deepwas._files import atomic_file
    from deepwas.enrich import enrichment
    from deepwas.errors import InputError
    from deepwas.provenance import provenance

    if args.blocks == 1:
        raise InputError(
            "a jackknife needs at least 2 blocks",
            column="--blocks",
            fix="use --blocks 0 for point estimates only",
        )
    res = enrichment(
        args.fit,
        args.annot if len(args.annot) > 1 else args.annot[0],
        sumstats=args.sumstats,
        ld=args.ld,
        fit_annot=args.fit_annot,
        bim=args.bim,
        n_blocks=args.blocks,
        refit=args.refit,
        refit_epochs=args.refit_epochs,
        prior_sd=args.prior_sd or None,
        jackknife=args.jackknife,
        half_partitions=args.half_partitions,
        progress=not args.quiet,
        say=say,
    )
    record = {
        "h2": res.h2,
        "h2_se": res.h2_se,
        "n_variants": res.n_variants,
        "n_blocks": res.n_blocks,
        "refit": res.refit,
        "jackknife": res.jackknife,
        "n_refits": res.n_refits,
        "prior_sd": (args.prior_sd or None) if res.refit == "optimum" else None,
        "refit_epochs": res.refit_epochs if res.refit == "adamw" else None,
        "drift_in_se": None if res.drift is None else res.drift.to_dict(),
        "report": res.report,
        "provenance": provenance(
            inputs={
                "fit": Path(args.fit) / "metrics.json",
                "model": Path(args.fit) / "model",
                "annot": args.annot,
            },
            argv=["deepwas", *args.argv],
        ),
    }
    results = f"{args.out}.results"
    with atomic_file(results) as tmp:
        res.table.to_csv(tmp, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    with atomic_file(f"{args.out}.enrich.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str, allow_nan=True) + "\n")
    from deepwas.report import enrichment_results_section, write_page

    write_page(
        f"{args.out}.html",
        f"deepwas enrich: {args.fit}",
        [("Heritability enrichment (95% intervals)", enrichment_results_section(res.table))],
    )
    se = (
        ""
        if res.n_blocks == 0
        else f" (SE {res.h2_se:.4g}, {res.jackknife} jackknife over {res.n_blocks} blocks)"
    )
    say(
        *[line for line in res.report if line.startswith("warning:")],
        f"h2 of the prior over {res.n_variants:,} variants: {res.h2:.4g}{se}",
        f"wrote {results}, {args.out}.enrich.json and {args.out}.html",
    )
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from deepwas.predict import run_predict

    table, report = run_predict(
        args.model,
        args.annot if len(args.annot) > 1 else args.annot[0],
        args.out,
        bim=args.bim,
        ld=args.ld,
        fasta=args.fasta,
        argv=["deepwas", *args.argv],
    )
    say(*report, f"wrote {args.out} ({len(table):,} variants) and {args.out}.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the ``deepwas`` parser."""
    e = sub.add_parser(
        "enrich",
        help="heritability enrichment of annotations under a fitted prior, with SEs",
        description="Prop._h2 and enrichment of each annotation under a fitted prior (any "
        "family), with block-jackknife standard errors from refits; "
        "writes OUT.results (S-LDSC columns) and OUT.enrich.json (docs/enrich.md).",
    )
    e.add_argument("--fit", required=True, help="folder written by deepwas fit")
    e.add_argument("--annot", required=True, nargs="+", help="annotation file(s) to test")
    add_bim(e)
    e.add_argument("--sumstats", default=None, help="override the fit's summary statistics")
    e.add_argument("--ld", default=None, help="override the fit's LD store")
    e.add_argument(
        "--fit-annot",
        nargs="+",
        default=None,
        help="override the fit's annotation file(s) (the prior's features)",
    )
    e.add_argument(
        "--blocks",
        type=int,
        default=None,
        help="jackknife blocks (default: min(200, training windows); 0: no SEs)",
    )
    e.add_argument(
        "--refit",
        choices=("auto", "optimum", "scratch", "adamw"),
        default="auto",
        help="auto (default): scratch for an MLP or a fit of at most 100 windows, else optimum; "
        "scratch: the table is the saved prior's and the fit's training is rerun without each "
        "block; optimum: the prior and every delete-one refit by full-batch L-BFGS to the "
        "optimum of the penalised likelihood (linear and constant priors); adamw: the saved "
        "prior and --refit-epochs epochs of the fit's optimiser per refit (the first version: "
        "SEs too small)",
    )
    e.add_argument(
        "--jackknife",
        choices=("auto", "delete-one", "delete-half"),
        default="auto",
        help="auto (default): delete-half when the refits rerun a network's training (their "
        "run-to-run noise would be counted B - 1 times by delete-one), else delete-one; "
        "delete-one: a refit without each block; delete-half: refits without random halves "
        "of the blocks, in complementary pairs",
    )
    e.add_argument(
        "--half-partitions",
        type=int,
        default=None,
        help="random halvings of a delete-half jackknife, two refits each (default: "
        "min(20, blocks - 1)); the p-values' degrees of freedom",
    )
    e.add_argument(
        "--prior-sd",
        type=float,
        default=1.0,
        help="with --refit optimum: a N(0, SD^2) penalty on the prior's parameters other than "
        "its output bias (log-enrichment per SD of a feature for a linear prior); 0: none",
    )
    e.add_argument(
        "--refit-epochs", type=int, default=5, help="epochs of each adamw refit (--refit adamw)"
    )
    e.add_argument(
        "--out",
        required=True,
        metavar="PREFIX",
        help="output prefix: PREFIX.results and PREFIX.enrich.json",
    )
    e.set_defaults(out_kind="file")
    add_common(e)
    constrain(e, _ENRICH_CONSTRAINTS)
    e.set_defaults(func=_cmd_enrich)

    p = sub.add_parser(
        "predict",
        help="SNPVAR of new annotated variants under a saved prior",
        description="Apply a saved prior (FIT/model) to annotation files of any variants; "
        "writes CHR SNP BP A1 A2 SNPVAR (docs/predict.md).",
    )
    p.add_argument("--model", required=True, help="prior folder (FIT/model)")
    p.add_argument("--annot", required=True, nargs="+", help="annotation file(s)")
    add_bim(p)
    p.add_argument(
        "--ld",
        default=None,
        help="LD store giving the allele frequency by SNP (else a MAF/FRQ column)",
    )
    p.add_argument(
        "--fasta",
        default=None,
        help="a prior with a DNA branch: the reference genome to read (default: the one it "
        "was trained with, named in model/config.json)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv or .tsv.gz)")
    p.set_defaults(out_kind="file")
    add_common(p)
    p.set_defaults(func=_cmd_predict)
