"""Flags and helpers shared by the verbs of the command line.

Flags used by several verbs are declared once here (``add_*``), each with one help text and its
constraint from a table (:mod:`deepwas._validation`); :func:`deepwas.cli.main` validates every
constraint of the verb before the verb does any work (msprime's ``add_output_argument`` habit).
"""

from __future__ import annotations

import argparse
import os
from numbers import Integral, Real

from deepwas._validation import TRAIT_CONSTRAINTS, Interval
from deepwas.errors import InputError

CHI2_1_MEDIAN = 0.454936423119572  # median of the chi-square distribution with 1 df
DEBUG_HELP = "print the traceback of an error before its one line (also DEEPWAS_DEBUG=1)"
# flags of no single configuration (validated by main before the verb runs)
CLI_CONSTRAINTS = {"threads": [Interval(Integral, 1, None, closed="left"), None]}
SPLIT_CONSTRAINTS = {
    "test_blocks": [Interval(Real, 0, 1, closed="neither"), None],
    "val_fraction": Interval(Real, 0, 1, closed="left"),
    "split_seed": [Interval(Integral, 0, None, closed="left"), None],
}


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def chrom_list(text: str, *, flag: str) -> list[int]:
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


def set_threads(n: int | None) -> None:
    import torch

    n = n or min(os.cpu_count() or 1, 8)
    torch.set_num_threads(n)


def constrain(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.set_defaults(constraints={**(sp.get_default("constraints") or {}), **table})


def add_common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument(
        "--threads", type=int, default=None, help="torch threads, >= 1 (default: cores, at most 8)"
    )
    # SUPPRESS: given before the verb (deepwas --debug fit ...) it is not reset by the verb
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    constrain(sp, CLI_CONSTRAINTS)


def add_output(
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


def add_sumstats(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--sumstats", required=True, help="summary statistics file (any format)")


def add_ld(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--ld", required=True, help="LD store folder (deepwas ld)")


def add_n_gwas(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--n-gwas",
        "--n",
        dest="n_gwas",
        type=float,
        default=None,
        metavar="N",
        help="GWAS sample size, for summary statistics without an N column",
    )
    constrain(sp, {"n_gwas": TRAIT_CONSTRAINTS["n_gwas"]})


def add_min_maf(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.add_argument(
        "--min-maf",
        type=float,
        default=0.01,
        help="drop variants with a lower minor-allele frequency",
    )
    constrain(sp, {"min_maf": table["min_maf"]})


def sumstats_qc(args: argparse.Namespace) -> dict:
    """The flags of :func:`add_sumstats_qc` (and ``--n-gwas``) as the keyword arguments of the
    sumstats readers (``load_trait``, ``run_prs``, ``finemap``)."""
    return {
        "n_gwas": args.n_gwas,
        "keep_ambiguous": args.keep_ambiguous,
        "min_info": args.min_info,
        "min_maf": args.min_maf,
    }


def add_sumstats_qc(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--keep-ambiguous", action="store_true", help="keep A/T and C/G SNPs")
    sp.add_argument(
        "--min-info", type=float, default=0.9, help="drop variants with a lower imputation INFO"
    )
    add_min_maf(sp, TRAIT_CONSTRAINTS)
    constrain(sp, {"min_info": TRAIT_CONSTRAINTS["min_info"]})


def add_var_explained(sp: argparse.ArgumentParser, table: dict) -> None:
    sp.add_argument(
        "--var-explained",
        type=float,
        default=None,
        help="keep the leading eigen-directions of each window's LD explaining this fraction of "
        "its variance (default: all)",
    )
    constrain(sp, {"var_explained": table["var_explained"]})


def add_ld_model(sp: argparse.ArgumentParser) -> None:
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


def add_bim(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--bim", default=None, help=".bim giving the variants of thin LDSC .annot files"
    )
