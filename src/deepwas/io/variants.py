"""The variant table shared by every layer, and chromosome / allele conventions.

A *variant table* is a :class:`pandas.DataFrame` with at least the columns

    CHR  int     chromosome, PLINK numeric codes (1-22, X=23, Y=24, XY=25, MT=26)
    SNP  str     variant identifier (rsID where known)
    BP   int     base-pair position (1-based, genome build as given by the input)
    A1   str     effect / counted allele: z-scores and genotype dosages count A1
    A2   str     the other allele

and optionally ``CM`` (genetic position) and ``AF1`` (frequency of A1). Alleles are upper case.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas.errors import InputError

__all__ = [
    "VARIANT_COLUMNS",
    "CHROM_CODES",
    "normalize_chrom",
    "chrom_label",
    "position_keys",
    "COMPLEMENT",
]

VARIANT_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2"]

CHROM_CODES: dict[str, int] = {
    **{str(i): i for i in range(1, 27)},
    "X": 23,
    "Y": 24,
    "XY": 25,
    "MT": 26,
    "M": 26,
}
_LABELS = {23: "X", 24: "Y", 25: "XY", 26: "MT"}

COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


def normalize_chrom(
    values: pd.Series | np.ndarray | list, *, file: str | None = None, column: str = "CHR"
) -> np.ndarray:
    """Map chromosome names (``'chr1'``, ``'1'``, ``1``, ``'X'``, ``'chrM'``...) to PLINK codes.

    Parameters
    ----------
    values: (n,)
        Chromosome names or numbers.

    Returns
    -------
    codes: (n,) int64

    Raises
    ------
    InputError
        Naming the first row whose chromosome is not recognised.
    """
    s = pd.Series(values)
    if pd.api.types.is_integer_dtype(s.dtype):
        codes = s.to_numpy(dtype=np.int64)
        bad = (codes < 1) | (codes > 26)
    else:
        text = s.astype(str).str.strip().str.upper()
        text = text.str.removeprefix("CHR")
        text = text.str.replace(r"\.0$", "", regex=True)
        mapped = text.map(CHROM_CODES)
        bad = mapped.isna().to_numpy()
        codes = mapped.fillna(0).to_numpy(dtype=np.int64)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"unrecognised chromosome {s.iloc[i]!r}",
            file=file,
            row=i + 2 if file else None,
            column=column,
            fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
        )
    return codes


def chrom_label(code: int) -> str:
    """The display name of a PLINK chromosome code (23 -> 'X')."""
    return _LABELS.get(int(code), str(int(code)))


_POS_BITS = 32  # positions < 2**32 on every human chromosome


def position_keys(chrom: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """One int64 key per (chromosome code, position), ordered by chromosome then position.

    Parameters
    ----------
    chrom: (n,)
        PLINK chromosome codes.
    pos: (n,)
        Base-pair positions, ``0 <= pos < 2**32``.

    Returns
    -------
    keys: (n,) int64
        ``chrom * 2**32 + pos``: equal keys are the same position; sorting keys sorts by
        chromosome then position, and no position of one chromosome reaches the next.
    """
    return (chrom.astype(np.int64) << _POS_BITS) + pos.astype(np.int64)
