"""Prior tables: per-variant SNPVAR (``CHR SNP BP A1 A2 SNPVAR``, a fit's ``priors.tsv.gz`` or any
PolyFun-style table) read onto an LD store's variants, for ``deepwas finemap`` and ``deepwas prs``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepwas.errors import InputError

__all__ = ["read_prior_snpvar", "prior_table", "FILL_MISSING"]

#: what becomes of a store variant the prior table lacks
FILL_MISSING = ("error", "median", "nan")

_FIX = "pass the priors.tsv.gz written by 'deepwas fit' on this LD store"


def prior_table(path) -> Path:
    """The SNPVAR table ``path`` names: the file itself, or a ``deepwas fit`` folder's
    ``priors.tsv.gz``."""
    p = Path(path)
    if p.is_dir():
        table = p / "priors.tsv.gz"
        if not table.is_file():
            raise InputError("is a folder without a priors.tsv.gz", file=path, fix=_FIX)
        return table
    return p


def _read_table(path) -> pd.DataFrame:
    from deepwas._files import open_text

    try:
        with open_text(path) as fh:
            return pd.read_csv(fh, sep=r"\s+", dtype={"SNP": str, "A1": str, "A2": str})
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors too
        reason = " ".join(str(exc).split())
        raise InputError(f"cannot read the prior ({reason})", file=path, fix=_FIX) from None


def read_prior_snpvar(path, variants: pd.DataFrame, *, fill_missing: str = "error") -> np.ndarray:
    """SNPVAR of every store variant from a prior table, matched by SNP id.

    Parameters
    ----------
    path:
        A ``priors.tsv.gz`` of ``deepwas fit`` (or the fit's folder), or any whitespace-separated
        table with SNP and SNPVAR columns. When it has A1 and A2 they must be the store's
        alleles, in either order (a prior is a variance: the orientation does not matter).
    variants: DataFrame
        The LD store's variant table (``SNP A1 A2``).
    fill_missing:
        A store variant the table lacks: ``"error"`` (one line naming the first), ``"median"``
        (the median SNPVAR of the matched variants) or ``"nan"`` (left NaN for the caller).

    Returns
    -------
    (n_store,) float64

    Raises
    ------
    InputError
        The file cannot be read, lacks SNP or SNPVAR, has a negative or non-numeric SNPVAR or a
        variant twice, has other alleles than the store for a variant, shares no variant with the
        store, or (``fill_missing="error"``) misses a store variant.
    """
    if fill_missing not in FILL_MISSING:
        raise ValueError(f"fill_missing must be one of {FILL_MISSING}, got {fill_missing!r}")
    path = prior_table(path)
    prior = _read_table(path)
    if not {"SNP", "SNPVAR"} <= set(prior.columns):
        raise InputError("the prior needs columns SNP and SNPVAR", file=path, fix=_FIX)
    snpvar = pd.to_numeric(prior["SNPVAR"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(snpvar) | (snpvar < 0))
    if bad.size:
        raise InputError(
            f"SNPVAR must be a finite number >= 0, got {prior['SNPVAR'].iloc[bad[0]]!r}",
            file=path,
            row=int(bad[0]) + 2,
            column="SNPVAR",
            fix=_FIX,
        )
    dup = prior["SNP"].duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise InputError(
            f"variant {prior['SNP'].iloc[row]} appears twice in the prior",
            file=path,
            row=row + 2,
            fix="give one SNPVAR per variant",
        )
    merged = variants[["SNP", "A1", "A2"]].merge(
        prior.assign(SNPVAR=snpvar), on="SNP", how="left", suffixes=("", "_prior")
    )
    have = merged["SNPVAR"].notna().to_numpy()
    if not have.any():
        raise InputError("no variant of the prior is in the LD store", file=path, fix=_FIX)
    if {"A1_prior", "A2_prior"} <= set(merged.columns):
        a1, a2 = merged["A1"].str.upper(), merged["A2"].str.upper()
        p1, p2 = merged["A1_prior"].str.upper(), merged["A2_prior"].str.upper()
        wrong = have & ~(((a1 == p1) & (a2 == p2)) | ((a1 == p2) & (a2 == p1))).to_numpy()
        if wrong.any():
            first = merged.loc[wrong].iloc[0]
            raise InputError(
                f"{int(wrong.sum())} variants of the prior have other alleles than the LD store "
                f"(first {first['SNP']}: {first['A1_prior']}/{first['A2_prior']} vs "
                f"{first['A1']}/{first['A2']})",
                file=path,
                fix=_FIX,
            )
    out = merged["SNPVAR"].to_numpy(np.float64, copy=True)
    if not have.all():
        if fill_missing == "median":
            out[~have] = float(np.median(out[have]))
        elif fill_missing == "error":
            first = variants["SNP"].iloc[int(np.flatnonzero(~have)[0])]
            raise InputError(
                f"{int((~have).sum()):,} of {len(out):,} LD-store variants have no SNPVAR in "
                f"the prior (the first: {first})",
                file=path,
                fix="give the priors.tsv.gz of a fit on this LD store, or --fill-missing-prior "
                "median to give them the median SNPVAR",
            )
    return out
