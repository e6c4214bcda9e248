"""Verbs of polygenic scores: ``prs`` (posterior mean weights under a prior) and ``score``."""

from __future__ import annotations

import argparse
from numbers import Integral, Real
from pathlib import Path

from deepwas._validation import TRAIT_CONSTRAINTS, Interval
from deepwas.cli._args import (
    add_common,
    add_ld,
    add_n_gwas,
    add_output,
    add_sumstats,
    add_sumstats_qc,
    add_var_explained,
    constrain,
    say,
    sumstats_qc,
)

PRS_CONSTRAINTS = {"sigma": [Interval(Real, 0, None, closed="neither"), None]}
SCORE_CONSTRAINTS = {"chunk_variants": Interval(Integral, 1, None, closed="left")}


def _cmd_prs(args: argparse.Namespace) -> int:
    from deepwas.io.priors import prior_table
    from deepwas.ld.store import LDStore
    from deepwas.provenance import provenance
    from deepwas.prs import run_prs, write_weights

    store = LDStore.open(args.ld)
    result = run_prs(
        args.sumstats,
        store,
        prior=args.prior,
        **sumstats_qc(args),
        ld_model=args.ld_model,
        var_explained=args.var_explained,
        sigma=args.sigma,
        freq=args.freq,
        measured_only=args.measured_only,
        fill_missing_prior=args.fill_missing_prior,
        progress=not args.quiet,
    )
    say(*result.report)
    inputs = {"sumstats": args.sumstats, "ld": Path(args.ld) / "manifest.json"}
    if args.prior:
        inputs["prior"] = prior_table(args.prior)
    side = write_weights(
        result, args.out, provenance=provenance(inputs=inputs, argv=["deepwas", *args.argv])
    )
    say(f"wrote {args.out} and {side}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from deepwas._files import atomic_file
    from deepwas.score import score_genotypes

    res = score_genotypes(
        args.bfile, args.weights, chunk_variants=args.chunk_variants, progress=not args.quiet
    )
    say(*res.report)
    with atomic_file(args.out) as tmp:
        res.scores.to_csv(tmp, sep="\t", index=False, float_format="%.12g")
    say(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the ``deepwas`` parser."""
    from deepwas.prs import PRS_LD_MODEL_CHOICES

    p = sub.add_parser(
        "prs",
        help="polygenic-score weights: posterior mean effects under a prior",
        description="Posterior mean effect of every variant given the z-scores, exact per LD "
        "window, under a prior (a fit's priors.tsv.gz; default: the best constant prior, "
        "LDpred-inf). Writes CHR SNP BP A1 A2 BETA (per copy of A1, phenotype SD; "
        "docs/prs.md) and a JSON sidecar.",
    )
    add_sumstats(p)
    add_ld(p)
    p.add_argument(
        "--prior",
        default=None,
        help="a deepwas fit folder or a SNPVAR table (CHR SNP BP A1 A2 SNPVAR, e.g. "
        "FIT/priors.tsv.gz); default: the best constant prior",
    )
    p.add_argument(
        "--fill-missing-prior",
        choices=["error", "median"],
        default="error",
        help="store variants without a SNPVAR in --prior: an error, or the median SNPVAR",
    )
    add_n_gwas(p)
    add_sumstats_qc(p)
    add_var_explained(p, TRAIT_CONSTRAINTS)
    p.add_argument(
        "--ld-model",
        choices=PRS_LD_MODEL_CHOICES,
        default="auto",
        help="model of the z-scores for the posterior (docs/prs.md): 'full' (every "
        "eigen-direction; in-sample or biobank-sized LD), 'scaled' (the full model with the "
        "panel's cross-validated noise and signal scales per direction), 'calibrated' (full "
        "model on each window's leading directions, 90%% of its LD variance), 'diagonal' (the "
        "small-panel model of docs/mismatch.md), 'auto' (scaled when the LD store has "
        "direction scales, else full)",
    )
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="noise scale of the model (default: maximum likelihood for the prior)",
    )
    p.add_argument(
        "--freq",
        choices=["panel", "sumstats"],
        default="panel",
        help="allele frequency for the per-allele effect (default: the LD panel's, the "
        "sumstats' where the panel has none)",
    )
    p.add_argument(
        "--measured-only",
        action="store_true",
        help="weight only variants with a z-score (default: also the unmeasured variants of "
        "each window, predicted through LD)",
    )
    add_output(p, kind="file", what="weights file (.tsv.gz)")
    add_common(p)
    constrain(p, PRS_CONSTRAINTS)
    p.set_defaults(func=_cmd_prs)

    s = sub.add_parser(
        "score",
        help="score individuals' genotypes with PRS weights",
        description="Sum of weight x dosage over the variants of a weights table (matched by SNP "
        "and alleles), streaming a PLINK fileset; writes FID IID SCORE N_VARIANTS.",
    )
    s.add_argument("--bfile", required=True, help="PLINK fileset prefix (.bed/.bim/.fam)")
    s.add_argument("--weights", required=True, help="weights table (deepwas prs)")
    s.add_argument(
        "--chunk-variants",
        type=int,
        default=4096,
        help="variants read from the .bed at a time",
    )
    add_output(s, kind="file", what="scores table (TSV)")
    add_common(s)
    constrain(s, SCORE_CONSTRAINTS)
    s.set_defaults(func=_cmd_score)
