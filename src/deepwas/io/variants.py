"""The variant table shared by every layer, and chromosome / allele conventions.

A *variant table* is a :class:`pandas.DataFrame` with at least the columns

    CHR  int     chromosome, PLINK numeric codes (1-22, X=23, Y=24, XY=25, MT=26)
    SNP  str     variant identifier (rsID where known)
    BP   int     base-pair position (1-based, genome build as given by the input)
    A1   str     effect / counted allele: z-scores and genotype dosages count A1
    A2   str     the other allele

and optionally ``CM`` (genetic position) and ``AF1`` (frequency of A1). Alleles are upper case.

This module also owns the conventions every io reader shares: the one chromosome-label rule
(:func:`chrom_code`, :func:`chrom_codes`, :func:`normalize_chrom`), the (CHR, BP) key packing
(:func:`position_keys`). :func:`is_parquet` is re-exported from :mod:`deepwas._files`, which owns
file-format sniffing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas._files import is_parquet  # re-exported: the io readers imported it from here
from deepwas.errors import InputError

__all__ = [
    "VARIANT_COLUMNS",
    "CHROM_CODES",
    "chrom_code",
    "chrom_codes",
    "normalize_chrom",
    "chrom_label",
    "is_parquet",
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


def chrom_code(label: object) -> int:
    """The PLINK code of one chromosome label, 0 when it is not recognised.

    The one rule for chromosome labels: surrounding blanks, case, a ``chr`` prefix, leading
    zeros and a trailing ``.0`` (a number written as a float) are ignored; then 1-26, X, Y, XY,
    MT or M. ``'chr1'``, ``'01'``, ``1``, ``'1.0'``, ``'x'``, ``'chrM'`` are all recognised.
    """
    text = str(label).strip().upper().removeprefix("CHR")
    text = text.removesuffix(".0").lstrip("0")
    return CHROM_CODES.get(text, 0)


def chrom_codes(values: pd.Series | np.ndarray | list) -> np.ndarray:
    """PLINK codes of many chromosome labels by :func:`chrom_code`, 0 where not recognised.

    Parameters
    ----------
    values: (n,)
        Chromosome names or numbers; missing values (None, NaN) are not recognised.

    Returns
    -------
    codes: (n,) int64
        1-26, or 0 for an unrecognised or missing label. Integers outside 1-26 are 0.

    Notes
    -----
    Only the distinct labels are parsed (a genome has a few dozen), so this is fast on millions
    of rows.
    """
    s = pd.Series(values)
    if pd.api.types.is_integer_dtype(s.dtype):
        codes = s.to_numpy(dtype=np.int64)
        return np.where((codes >= 1) & (codes <= 26), codes, 0)
    index, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.array([chrom_code(u) for u in uniques] + [0], dtype=np.int64)
    return table[index]  # the sentinel -1 picks the appended 0


def normalize_chrom(
    values: pd.Series | np.ndarray | list, *, file: str | None = None, column: str = "CHR"
) -> np.ndarray:
    """Map chromosome names (``'chr1'``, ``'1'``, ``1``, ``'X'``, ``'chrM'``...) to PLINK codes.

    Parameters
    ----------
    values: (n,)
        Chromosome names or numbers (the rule of :func:`chrom_code`).

    Returns
    -------
    codes: (n,) int64

    Raises
    ------
    InputError
        Naming the first row whose chromosome is not recognised.
    """
    codes = chrom_codes(values)
    bad = codes == 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"unrecognised chromosome {pd.Series(values).iloc[i]!r}",
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
