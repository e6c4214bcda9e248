"""The ``deepwas`` command line: thin verbs over the library (DESIGN 4).

Every verb parses LDSC/PLINK-style flags, calls library functions and prints what they report.
Flags shared by several verbs are declared once (``_add_*``), each with its constraint from a
table (:mod:`deepwas._validation`), and :func:`main` checks them and the ``--out`` path before
the verb does any work. A :class:`deepwas.errors.DeepwasError` becomes one line
``deepwas: error: ...`` on stderr and exit status 2; any other exception is a bug and becomes one
line ``deepwas: internal error: ...`` and exit status 1 (``--debug`` or ``DEEPWAS_DEBUG=1`` print
the traceback too). Outputs are written atomically by the library, so an error leaves nothing
half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from numbers import Integral, Real
from pathlib import Path

# torch (MKL) does the heavy linear algebra; NumPy's own BLAS stays single-threaded so that the
# two thread pools do not fight over the cores (measured: a 2-4x slowdown on 2 cores otherwise).
# Set before NumPy is first imported; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from deepwas import __version__  # noqa: E402
from deepwas._validation import (  # noqa: E402
    STORE_BUILD_CONSTRAINTS,
    TRAIT_CONSTRAINTS,
    Interval,
    validate,
)
from deepwas.errors import DeepwasError, InputError  # noqa: E402

__all__ = ["main", "build_parser"]

CHI2_1_MEDIAN = 0.454936423119572  # median of the chi-square distribution with 1 df
_REPORT = (
    "this is a bug in deepwas: please report it with the command line; "
    "rerun with --debug for the traceback"
)
_DEBUG_HELP = "print the traceback of an error before its one line (also DEEPWAS_DEBUG=1)"
# flags of no single configuration (validated by main before the verb runs)
_CLI_CONSTRAINTS = {"threads": [Interval(Integral, 1, None, closed="left"), None]}
_SPLIT_CONSTRAINTS = {
    "test_blocks": [Interval(Real, 0, 1, closed="neither"), None],
    "val_fraction": Interval(Real, 0, 1, closed="left"),
    "split_seed": [Interval(Integral, 0, None, closed="left"), None],
}


def _say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def _chrom_list(text: str, *, flag: str) -> list[int]:
    """PLINK codes of a chromosome flag's value: comma-separated labels and ranges (``1-22``).

    Each label (and each end of a range) is read by the one rule, ``io.variants.chrom_code``;
    an unrecognised one is one :class:`InputError` naming ``flag``.
    """
    from deepwas.io.variants import chrom_code

    out: list[int] = []
    for part in text.split(","):
        if not part.strip():
            continue
        ends = [end.strip() for end in part.split("-", 1)]  # a label, or a range's two ends
        codes = [chrom_code(end) for end in ends]
        if 0 in codes:
            raise InputError(
                f"unrecognised chromosome {ends[codes.index(0)]!r}",
                column=flag,
                fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
            )
        out.extend(range(codes[0], codes[-1] + 1))
    return out


def _set_threads(n: int | None) -> None:
    import torch

    n = n or min(os.cpu_count() or 1, 8)
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    from deepwas.simulate import SimConfig, run_simulation

    cfg = SimConfig(
        n_ref=args.n_ref,
        n_insample=args.n_insample,
        n_gwas=args.n_gwas,
        h2=args.h2,
        length_mb=args.length_mb,
        chroms=args.chroms,
        demography=args.demography,
        ref_population=args.ref_population,
        genetic_map=args.genetic_map,
        panel=args.bfile or args.vcf,
        min_maf=args.min_maf,
        max_snps=args.max_snps,
        annotations=args.annot,
        n_binary=args.n_binary,
        n_continuous=args.n_continuous,
        prior=args.prior,
        sigma=args.sigma,
        seed=args.seed,
    )
    summary = run_simulation(cfg, args.out, argv=["deepwas", *args.argv], progress=not args.quiet)
    _say(
        f"simulated {summary['n_snps']:,} variants, N = {summary['n_gwas']:,.0f}, "
        f"h2 = {summary['h2']:.3g}, mean chi2 = {summary['mean_chi2']:.3f}",
        f"wrote {args.out}/sumstats.tsv.gz, annotations.tsv.gz, truth.tsv.gz, "
        "reference.bed/bim/fam",
    )
    return 0


# ---------------------------------------------------------------------------------------- ld
def _cmd_ld(args: argparse.Namespace) -> int:
    from deepwas.provenance import provenance

    chroms = _chrom_list(args.chrom, flag="--chrom") if args.chrom else None
    argv = ["deepwas", *args.argv]
    if args.ukbb_npz:
        from deepwas.ld.ukbb import import_ukbb_ld

        store = import_ukbb_ld(
            args.ukbb_npz,
            args.out,
            chroms=chroms,
            shrinkage=args.shrinkage,
            eig_rtol=args.eig_rtol,
            var_explained=args.var_explained,
            provenance=provenance(inputs={"ukbb_npz": args.ukbb_npz}, argv=argv, hash_inputs=False),
            progress=not args.quiet,
        )
    else:
        from deepwas.io.genotypes import read_plink, read_vcf
        from deepwas.ld.build import build_store
        from deepwas.ld.windows import read_blocks

        if bool(args.bfile) == bool(args.vcf):
            raise InputError("give exactly one of --bfile, --vcf or --ukbb-npz", column="--bfile")
        if (args.blocks is None) == (args.window_kb is None):
            raise InputError(
                "give exactly one of --blocks BED or --window-kb K",
                column="--blocks",
                fix="e.g. --blocks Berisa.EUR.hg19.bed (LD blocks) or --window-kb 1500",
            )
        panel = read_plink(args.bfile, chroms=chroms) if args.bfile else read_vcf(args.vcf)
        blocks = read_blocks(args.blocks) if args.blocks else None
        inputs: dict[str, str | Path] = dict(panel.files)
        if args.blocks:
            inputs["blocks"] = args.blocks
        store = build_store(
            panel,
            args.out,
            blocks=blocks,
            window_kb=args.window_kb,
            flank_kb=args.flank_kb,
            min_maf=args.min_maf,
            shrinkage=args.shrinkage,
            eig_rtol=args.eig_rtol,
            var_explained=args.var_explained,
            chroms=chroms,
            provenance=provenance(inputs=inputs, argv=argv),
            progress=not args.quiet,
        )
    _say(*store.summary(), f"wrote LD store {args.out}")
    return 0


# -------------------------------------------------------------------------------------- info
def _looks_like_sumstats(path: Path) -> bool:
    from deepwas._files import is_parquet, open_text
    from deepwas.io.sumstats import detect_format

    name = path.name.lower()
    if ".annot" in name:
        return False
    try:
        if is_parquet(path):
            import pyarrow.parquet as pq

            header = pq.read_schema(path).names
        else:
            with open_text(path) as fh:
                first = fh.readline()
            sep = "\t" if "\t" in first else ("," if "," in first else None)
            header = first.strip().split(sep)
    except (OSError, ValueError, InputError):  # the annotation reader then says what is wrong
        return False
    upper = {h.strip().upper() for h in header}
    effect = {
        "Z",
        "BETA",
        "OR",
        "P",
        "PVAL",
        "P_VALUE",
        "B",
        "ZSCORE",
        "Z_STAT",
        "ODDS_RATIO",
        "LOG_ODDS",
        "T_STAT",
        "P_BOLT_LMM",
        "P_BOLT_LMM_INF",
    }
    if upper & effect:
        return True
    return detect_format(header) not in ("generic",)


def _cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise InputError("no such file or folder", file=path)
    if path.is_dir():
        from deepwas.ld.store import LDStore

        _say(*LDStore.open(path).summary())
        return 0
    if _looks_like_sumstats(path):
        import numpy as np

        from deepwas.io.sumstats import read_sumstats

        df, qc = read_sumstats(
            path, n_gwas=args.n_gwas, keep_ambiguous=True, min_info=None, min_maf=None
        )
        _say(f"summary statistics: {path}", *qc.lines())
        z = df["Z"].to_numpy()
        chi2 = z * z
        chroms = sorted(set(df["CHR"])) if "CHR" in df else []
        med = float(np.median(chi2))
        n_col = df["N"]
        _say(
            f"variants: {len(df):,}; chromosomes: {', '.join(map(str, chroms)) or 'not given'}",
            f"N: median {n_col.median():,.0f} (min {n_col.min():,.0f}, max {n_col.max():,.0f})",
            f"chi2: mean {chi2.mean():.4f}, median {med:.4f}, max {chi2.max():.2f}; "
            f"lambda_GC {med / CHI2_1_MEDIAN:.4f}",
        )
        return 0
    from deepwas.io.annotations import read_annotations, summarize_annotations

    annot = read_annotations(path, bim=args.bim)
    _say(*summarize_annotations(annot))
    return 0


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
        n_gwas=args.n_gwas,
        keep_ambiguous=args.keep_ambiguous,
        min_info=args.min_info,
        min_maf=args.min_maf,
        var_explained=args.var_explained,
        # the best constant prior's h2: with a small panel, the diagonal model (docs/mismatch.md)
        ld_model=constant_prior_model(store, args.ld_model),
        progress=not args.quiet,
    )
    _say(*trait.report)
    from deepwas.diagnostics import mismatch_warnings, outlier_lines, window_diagnostics
    from deepwas.jackknife import constant_h2_jackknife

    if len(trait.windows) >= 2:
        fit, h2_se = constant_h2_jackknife(trait)
    else:
        fit, h2_se = fit_constant(trait), None
    table = window_diagnostics(trait, fit.snpvar, fit.sigma)
    warnings_ = mismatch_warnings(table, ld_model=trait.ld_model)
    notes = outlier_lines(table)
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
        "provenance": provenance(
            inputs={"sumstats": args.sumstats, "ld": Path(args.ld) / "manifest.json"},
            argv=["deepwas", *args.argv],
        ),
    }
    se = "" if h2_se is None else f" (SE {h2_se:.4f}, block jackknife over windows)"
    _say(
        f"best constant prior: h2 = {fit.h2:.4f}{se} over {trait.n_variants:,} variants "
        f"(SNPVAR {fit.snpvar:.3e}), sigma = {fit.sigma:.4f}",
        f"exact log-likelihood: {-fit.nll:.3f} "
        f"({-fit.nll / trait.n_scored:.5f} per scored variant)",
        *notes,
        *(f"warning: {w}" for w in warnings_),
    )
    if args.out:
        with atomic_file(args.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        _say(f"wrote {args.out}")
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
    )
    test_chrom = _chrom_list(args.test_chrom, flag="--test-chrom") if args.test_chrom else None
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
        argv=["deepwas", *args.argv],
        progress=not args.quiet,
        say=_say,
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
    _say(*lines, f"wrote {args.out}/priors.tsv.gz, metrics.json, model/, report.html")
    return 0


# -------------------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from deepwas.demo import run_demo

    run_demo(args.out, seed=args.seed, quick=args.quick, progress=not args.quiet)
    return 0


# ------------------------------------------------------------------------------------ parser
# Flags shared by several verbs are declared once here, with one help text and their constraint
# (msprime's add_output_argument); main() validates every constraint of the verb before it runs.
def _constrain(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.set_defaults(constraints={**(sp.get_default("constraints") or {}), **table})


def _add_common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument(
        "--threads", type=int, default=None, help="torch threads, >= 1 (default: cores, at most 8)"
    )
    # SUPPRESS: given before the verb (deepwas --debug fit ...) it is not reset by the verb
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
    _constrain(sp, _CLI_CONSTRAINTS)


def _add_output(
    sp: argparse.ArgumentParser, *, kind: str, what: str, required: bool = True, default=None
) -> None:
    """``--out``: a folder (``kind="dir"``) or a file, written under a temporary name and renamed
    into place when complete; main() refuses an impossible path before the verb runs."""
    sp.add_argument(
        "--out",
        required=required,
        default=default,
        metavar="FOLDER" if kind == "dir" else "FILE",
        help=f"{what} (appears only when complete)",
    )
    sp.set_defaults(out_kind=kind)


def _add_sumstats(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--sumstats", required=True, help="summary statistics file (any format)")


def _add_ld(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--ld", required=True, help="LD store folder (deepwas ld)")


def _add_n_gwas(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--n-gwas",
        "--n",
        dest="n_gwas",
        type=float,
        default=None,
        metavar="N",
        help="GWAS sample size, for summary statistics without an N column",
    )
    _constrain(sp, {"n_gwas": TRAIT_CONSTRAINTS["n_gwas"]})


def _add_min_maf(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.add_argument(
        "--min-maf",
        type=float,
        default=0.01,
        help="drop variants with a lower minor-allele frequency",
    )
    _constrain(sp, {"min_maf": table["min_maf"]})


def _add_sumstats_qc(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--keep-ambiguous", action="store_true", help="keep A/T and C/G SNPs")
    sp.add_argument(
        "--min-info", type=float, default=0.9, help="drop variants with a lower imputation INFO"
    )
    _add_min_maf(sp, TRAIT_CONSTRAINTS)
    _constrain(sp, {"min_info": TRAIT_CONSTRAINTS["min_info"]})


def _add_var_explained(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.add_argument(
        "--var-explained",
        type=float,
        default=None,
        help="keep the leading eigen-directions of each window's LD explaining this fraction of "
        "its variance (default: all)",
    )
    _constrain(sp, {"var_explained": table["var_explained"]})


def _add_ld_model(sp: argparse.ArgumentParser) -> None:
    from deepwas.ld.trait import LD_MODEL_CHOICES

    sp.add_argument(
        "--ld-model",
        choices=LD_MODEL_CHOICES,
        default="auto",
        help="model of the z-scores projected on the panel's LD (docs/mismatch.md): 'full' "
        "(DESIGN 2.1: in-sample or biobank-sized LD), 'diagonal' (cross-validated noise and "
        "signal scales per eigen-direction: calibrated h2 with a panel of a few hundred to a few "
        "thousand samples), 'calibrated' (the prior's shape from the full model on the leading "
        "directions, its scale and sigma from the diagonal model), 'auto' (calibrated when the "
        "LD store holds the panel's direction scales, else full; loglik then reports the "
        "diagonal model's h2)",
    )


def _add_bim(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--bim", default=None, help=".bim giving the variants of thin LDSC .annot files"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepwas",
        description="Learn functionally informed SNP-heritability priors from GWAS summary "
        "statistics with the exact likelihood under LD.",
    )
    p.add_argument("--version", action="version", version=f"deepwas {__version__}")
    p.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    s = sub.add_parser(
        "simulate",
        help="simulate a GWAS with known truth",
        description="Simulate genotypes, annotations, a true prior and GWAS "
        "summary statistics (DESIGN 2), writing sumstats/annotations/truth. "
        "UKB-height-like (z with population LD, mean chi2 3.1): --n-insample 20000 "
        "--n-gwas 300000 --h2 0.004 --length-mb 20 --max-snps 8600 (see SimConfig).",
    )
    _add_output(s, kind="dir", what="output folder")
    s.add_argument("--n-ref", type=int, default=500, help="reference-panel diploids (msprime)")
    s.add_argument(
        "--n-insample",
        type=int,
        default=None,
        help="separate in-sample cohort whose LD generates z (panel mismatch)",
    )
    s.add_argument("--n-gwas", type=float, default=100_000, help="GWAS sample size to simulate")
    s.add_argument("--h2", type=float, default=0.3, help="total SNP heritability")
    s.add_argument("--length-mb", type=float, default=10.0, help="Mb simulated per chromosome")
    s.add_argument("--chroms", type=int, default=1, help="number of chromosomes")
    s.add_argument("--demography", choices=["ooa_ceu", "constant"], default="ooa_ceu")
    s.add_argument(
        "--ref-population",
        default="CEU",
        help="Out-of-Africa population of the reference panel: CEU (as the GWAS), YRI or CHB",
    )
    s.add_argument("--genetic-map", default=None, help="genetic map 'pos chr cM' (shapeit4)")
    s.add_argument("--bfile", default=None, help="use this PLINK panel instead of msprime")
    s.add_argument("--vcf", default=None, help="use this VCF panel instead of msprime")
    _add_min_maf(s, STORE_BUILD_CONSTRAINTS)
    s.add_argument("--max-snps", type=int, default=None, help="thin to this many per chromosome")
    s.add_argument("--annot", default=None, help="given annotations instead of synthetic ones")
    s.add_argument("--n-binary", type=int, default=6, help="synthetic binary annotations")
    s.add_argument("--n-continuous", type=int, default=4, help="synthetic continuous annotations")
    s.add_argument("--prior", choices=["linear", "nonlinear"], default="nonlinear")
    s.add_argument("--sigma", type=float, default=1.0, help="intercept of the sampling model")
    s.add_argument("--seed", type=int, default=1)
    _add_common(s)
    s.set_defaults(func=_cmd_simulate)

    ld = sub.add_parser(
        "ld",
        help="build an LD store from a reference panel",
        description="Compute each window's LD and its eigen precomputation and "
        "save them in an LD store (docs/ld_store.md), reused across traits.",
    )
    ld.add_argument(
        "--bfile",
        default=None,
        help="PLINK .bed/.bim/.fam prefix; '@' stands for the chromosome "
        "(ref.@ reads ref.1 ... ref.22, ref.X, one fileset per chromosome)",
    )
    ld.add_argument("--vcf", default=None, help="VCF/BCF file")
    ld.add_argument("--ukbb-npz", default=None, help="folder of UK Biobank chrN_S_E.npz/.gz LD")
    ld.add_argument("--blocks", default=None, help="BED of LD blocks (e.g. Berisa.EUR.hg19.bed)")
    ld.add_argument("--window-kb", type=float, default=None, help="fixed windows of this size")
    ld.add_argument("--flank-kb", type=float, default=1000.0, help="context flank each side")
    _add_min_maf(ld, STORE_BUILD_CONSTRAINTS)
    ld.add_argument("--shrinkage", type=float, default=0.0, help="R <- (1-s) R + s I")
    ld.add_argument("--eig-rtol", type=float, default=1e-6, help="relative eigenvalue cutoff")
    _add_var_explained(ld, STORE_BUILD_CONSTRAINTS)
    ld.add_argument("--chrom", default=None, help="chromosomes, e.g. 22 or 1-22 or 1,2,X")
    _add_output(ld, kind="dir", what="LD store folder")
    _add_common(ld)
    # build_store and import_ukbb_ld check the same table; main() checks it before the panel is read
    _constrain(ld, STORE_BUILD_CONSTRAINTS)
    ld.set_defaults(func=_cmd_ld)

    i = sub.add_parser("info", help="summarise a sumstats, LD store or annotation file")
    i.add_argument("file", help="summary statistics, annotation file, or LD store folder")
    _add_n_gwas(i)
    _add_bim(i)
    _add_common(i)
    i.set_defaults(func=_cmd_info)

    lk = sub.add_parser(
        "loglik",
        help="exact log-likelihood of sumstats under the best constant prior",
        description="Read, QC and harmonise summary statistics against an LD store, "
        "then maximise the exact likelihood over a constant per-SNP heritability and sigma.",
    )
    _add_sumstats(lk)
    _add_ld(lk)
    _add_n_gwas(lk)
    _add_sumstats_qc(lk)
    _add_var_explained(lk, TRAIT_CONSTRAINTS)
    _add_ld_model(lk)
    _add_output(lk, kind="file", what="write the result as JSON to this file", required=False)
    _add_common(lk)
    lk.set_defaults(func=_cmd_loglik)

    f = sub.add_parser(
        "fit",
        help="learn a prior from sumstats, LD and annotations",
        description="Train a constant, linear or MLP prior with the exact likelihood "
        "or the LDSC objective and evaluate it on held-out windows (DESIGN 4).",
    )
    _add_sumstats(f)
    _add_ld(f)
    f.add_argument("--annot", required=True, nargs="+", help="annotation file(s)")
    _add_bim(f)
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
    _add_n_gwas(f)
    _add_var_explained(f, TRAIT_CONSTRAINTS)
    _add_ld_model(f)
    f.add_argument("--width", type=int, default=64, help="MLP width")
    f.add_argument("--depth", type=int, default=4, help="MLP residual blocks")
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
    _add_output(f, kind="dir", what="output folder")
    _add_common(f)
    _constrain(f, _SPLIT_CONSTRAINTS)
    f.set_defaults(func=_cmd_fit)

    d = sub.add_parser("demo", help="run the main job end to end on an embedded default")
    _add_output(d, kind="dir", what="output folder", required=False, default="demo_out")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--quick", action="store_true", help="a smaller problem (for tests)")
    _add_common(d)
    d.set_defaults(func=_cmd_demo)
    return p


def _internal_error_line(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    message = " ".join(str(exc).split())
    return f"deepwas: internal error: {name}{': ' + message if message else ''} ({_REPORT})"


def _check_args(args: argparse.Namespace) -> None:
    """Everything about the flags that can be refused before the verb does any work."""
    validate(vars(args), getattr(args, "constraints", {}), where=None)
    if getattr(args, "out", None):
        from deepwas._files import check_output

        check_output(args.out, directory=args.out_kind == "dir")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepwas`` console script; returns the exit status.

    Exit status 0 on success; 2 for an error the user can act on (bad flags or input: one line
    ``deepwas: error: ...`` on stderr, and argparse's usage errors); 1 for an internal error (a
    bug: one line ``deepwas: internal error: TYPE: message (...)``; with ``--debug`` or
    ``DEEPWAS_DEBUG=1`` the traceback is printed first); 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    debug = args.debug or os.environ.get("DEEPWAS_DEBUG", "") not in ("", "0")
    t0 = time.perf_counter()
    try:
        _check_args(args)
        _set_threads(args.threads)
        status = args.func(args)
    except DeepwasError as exc:
        if debug:
            traceback.print_exc()
        print(f"deepwas: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("deepwas: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only on request
        if debug:
            traceback.print_exc()
        print(_internal_error_line(exc), file=sys.stderr, flush=True)
        return 1
    if not getattr(args, "quiet", False):
        print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
