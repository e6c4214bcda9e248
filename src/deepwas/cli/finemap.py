"""Verb ``finemap``: SuSiE-RSS fine-mapping with prior inclusion weights (docs/finemap.md)."""

from __future__ import annotations

import argparse
from numbers import Integral, Real
from pathlib import Path

from deepwas._validation import Interval
from deepwas.cli._args import (
    add_common,
    add_ld,
    add_n_gwas,
    add_output,
    add_sumstats,
    add_sumstats_qc,
    constrain,
    say,
    sumstats_qc,
)

FINEMAP_CONSTRAINTS = {
    "L": Interval(Integral, 1, None, closed="left"),
    "p_threshold": Interval(Real, 0, 1, closed="right"),
    "min_purity": Interval(Real, 0, 1, closed="both"),
    "coverage": Interval(Real, 0, 1, closed="neither"),
    "max_iter": Interval(Integral, 1, None, closed="left"),
}


def _lambda(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'auto' or a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"'auto' or a number in [0, 1), got {text!r}")
    return value


def _cmd_finemap(args: argparse.Namespace) -> int:
    from deepwas.finemapping import FinemapConfig, finemap, write_finemap
    from deepwas.io.priors import prior_table
    from deepwas.provenance import provenance

    cfg = FinemapConfig(
        L=args.L,
        coverage=args.coverage,
        min_purity=args.min_purity,
        p_threshold=args.p_threshold,
        lam=args.lam,
        mismatch=args.mismatch,
        max_iter=args.max_iter,
        estimate_residual_variance=args.estimate_residual_variance,
    )
    result = finemap(
        args.sumstats,
        args.ld,
        prior=args.prior,
        regions=args.regions,
        config=cfg,
        **sumstats_qc(args),
        progress=not args.quiet,
    )
    inputs = {"sumstats": args.sumstats, "ld": Path(args.ld) / "manifest.json"}
    if args.prior:
        inputs["prior"] = prior_table(args.prior)
    if args.regions and Path(args.regions).is_file():
        inputs["regions"] = args.regions
    summary = {
        "settings": {
            "L": cfg.L,
            "coverage": cfg.coverage,
            "min_purity": cfg.min_purity,
            "p_threshold": cfg.p_threshold,
            "lambda": cfg.lam,
            "mismatch": cfg.mismatch,
            "estimate_residual_variance": cfg.estimate_residual_variance,
            "prior_weights": "SNPVAR" if args.prior else "uniform",
            "regions": args.regions,
        },
        "provenance": provenance(inputs=inputs, argv=["deepwas", *args.argv]),
    }
    paths = write_finemap(args.out, result, summary=summary)
    cs = result.credible_sets
    top = []
    if len(cs):
        for _, row in cs.sort_values("LEAD_PIP", ascending=False).head(5).iterrows():
            top.append(
                f"  {row['LOCUS']} CS{row['CS']}: {row['SIZE']} variants, lead {row['LEAD_SNP']} "
                f"(PIP {row['LEAD_PIP']:.2f}, z {row['LEAD_Z']:.2f}), purity {row['PURITY']:.2f}"
                + (" [LD flag]" if row["FLAGGED"] else "")
            )
    say(*result.report, *top, "wrote " + ", ".join(str(p) for p in paths))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``finemap`` verb to the ``deepwas`` parser."""
    f = sub.add_parser(
        "finemap",
        help="fine-map with SuSiE-RSS and prior inclusion weights from a fitted prior",
        description="SuSiE-RSS on every LD-store window with a genome-wide significant variant "
        "(or given regions), with prior inclusion weights proportional to a prior's SNPVAR "
        "(PolyFun), lambda regularisation and a per-locus LD-mismatch check. Writes "
        "OUT.finemap.tsv.gz, OUT.cs.tsv and OUT.finemap.json.",
    )
    add_sumstats(f)
    add_ld(f)
    f.add_argument(
        "--prior",
        default=None,
        help="a deepwas fit folder or a SNPVAR table (FIT/priors.tsv.gz); default: uniform "
        "prior weights",
    )
    add_n_gwas(f)
    f.add_argument("--L", dest="L", type=int, default=10, help="single effects per locus")
    f.add_argument(
        "--regions",
        default=None,
        help="BED file, or chr:start-end[,chr:start-end...] (default: every LD window with a "
        "variant at P < --p-threshold)",
    )
    f.add_argument("--p-threshold", type=float, default=5e-8, help="locus-selection P threshold")
    f.add_argument("--min-purity", type=float, default=0.5, help="minimum |r| within a set")
    f.add_argument("--coverage", type=float, default=0.95, help="credible-set coverage")
    f.add_argument(
        "--lambda",
        dest="lam",
        type=_lambda,
        default="auto",
        help="R -> (1 - lambda) R + lambda I: 'auto' (estimated per locus, susieR's "
        "estimate_s_rss) or a number in [0, 1)",
    )
    f.add_argument(
        "--mismatch",
        choices=["warn", "drop"],
        default="warn",
        help="variants inconsistent with the panel's LD (kriging test): flag them (warn) or "
        "drop them and fit the locus again (drop)",
    )
    f.add_argument("--max-iter", type=int, default=100, help="IBSS sweeps at most")
    f.add_argument(
        "--estimate-residual-variance",
        action="store_true",
        help="estimate sigma^2 (only with in-sample LD; default fixed at 1)",
    )
    add_sumstats_qc(f)
    add_output(
        f, kind="file", what="output prefix: OUT.finemap.tsv.gz, OUT.cs.tsv, OUT.finemap.json"
    )
    add_common(f)
    constrain(f, FINEMAP_CONSTRAINTS)
    f.set_defaults(func=_cmd_finemap)
