"""Matching summary statistics to a reference panel's variants, allele by allele.

This module owns the join between a sumstats table (from :func:`deepwas.io.sumstats.read_sumstats`)
and a reference variant table (the LD store's variants, see :mod:`deepwas.io.variants`): the choice
of key (rsID or chromosome + position), allele comparison with swaps and strand complements, the
re-orientation of Z (and of AF1) to the reference's A1, and a count of what did not match
(:class:`HarmonizeReport`).

Decisions written down here
---------------------------
- Alleles are compared as given first: (A1, A2) equal to the reference's keeps the sign, swapped
  negates Z. Only when neither holds are the reverse complements tried (a strand flip). For a
  strand-ambiguous pair (A/T, C/G) the complement is the same pair, so it is always resolved as
  "same" or "swapped" as written: no strand inference is attempted for ambiguous variants.
- A key (rsID, or CHR:BP plus the allele pair) that occurs more than once in the reference, or more
  than once in the sumstats, matches nothing; those sumstats rows are counted as duplicates.
- With CHR:BP matching, a position present in the reference whose alleles fit no reference variant
  there is an allele mismatch; a position absent from the reference is "not in reference".
- With rsID matching, a match whose chromosome differs (when both tables have CHR) is an allele
  mismatch too: the two tables disagree about what the variant is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.io.variants import CHROM_CODES

__all__ = ["HarmonizeReport", "harmonize"]

_RC = str.maketrans("ACGTacgt", "TGCAtgca")


@dataclass
class HarmonizeReport:
    """Counts from :func:`harmonize`.

    Every sumstats row is exactly one of matched, allele mismatch, not in reference or duplicate:
    ``n_sumstats == n_matched + n_allele_mismatch + n_not_in_reference + n_duplicate``.

    Attributes
    ----------
    n_sumstats, n_reference:
        Rows in the two input tables.
    n_matched:
        Sumstats rows matched to one reference variant (rows of the result).
    n_flipped:
        Matched rows whose A1/A2 were swapped relative to the reference, so Z was negated
        (including those also strand-flipped).
    n_strand_flipped:
        Matched rows that matched only after complementing both alleles.
    n_allele_mismatch:
        Rows dropped because their alleles (or, by rsID, their chromosome) fit no reference variant.
    n_not_in_reference:
        Rows whose rsID (or CHR:BP) is absent from the reference, or missing.
    match_by:
        ``"rsid"`` or ``"chrpos"``.
    n_duplicate:
        Rows dropped because their key occurs more than once in the reference or in the sumstats.
    """

    n_sumstats: int
    n_reference: int
    n_matched: int
    n_flipped: int
    n_strand_flipped: int
    n_allele_mismatch: int
    n_not_in_reference: int
    match_by: str
    n_duplicate: int = 0

    def lines(self) -> list[str]:
        """Human-readable summary, one string per line."""
        how = "rsID" if self.match_by == "rsid" else "CHR:BP"
        return [
            f"matched {self.n_matched:,} of {self.n_sumstats:,} sumstats variants to the "
            f"{self.n_reference:,} reference variants by {how}",
            f"A1/A2 swapped (Z negated): {self.n_flipped:,}; "
            f"strand flipped: {self.n_strand_flipped:,}",
            f"dropped: {self.n_not_in_reference:,} not in reference, "
            f"{self.n_allele_mismatch:,} allele mismatch, {self.n_duplicate:,} duplicate key",
        ]


def _alleles(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].astype("string").str.strip().str.upper().fillna("").to_numpy(dtype=object)


def _revcomp(x: np.ndarray) -> np.ndarray:
    return pd.Series(x, dtype="string").str.translate(_RC).str[::-1].to_numpy(dtype=object)


def _ids(df: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """SNP IDs as an object Index (n,) ("" where missing) and the (n,) missing mask."""
    # object dtype on purpose: isin / get_indexer on Arrow-backed strings is far slower here
    s = df["SNP"].astype("string").str.strip()
    miss = (s.isna() | (s == "") | (s == ".")).to_numpy(dtype=bool)
    vals = s.fillna("").to_numpy(dtype=object)
    vals[miss] = ""
    return pd.Index(vals, dtype=object), miss


def _chrom(series: pd.Series) -> np.ndarray:
    """PLINK chromosome codes as float64 (n,), NaN where missing or unrecognised."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype("string").str.strip().str.upper().str.removeprefix("CHR")
    return text.map(CHROM_CODES).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _chrpos(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(n,) int64 keys CHR * 1e10 + BP and (n,) bool missing mask."""
    chrom = _chrom(df["CHR"])
    bp = pd.to_numeric(df["BP"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    miss = ~(np.isfinite(chrom) & np.isfinite(bp))
    key = np.where(miss, -1, np.nan_to_num(chrom) * 1e10 + np.nan_to_num(bp)).astype(np.int64)
    return key, miss


def _pair_code(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """The allele pair up to order and strand, as one string per row, (n,)."""
    c1, c2 = _revcomp(a1), _revcomp(a2)
    p = np.where(a1 < a2, a1 + "/" + a2, a2 + "/" + a1)
    q = np.where(c1 < c2, c1 + "/" + c2, c2 + "/" + c1)
    return pd.Index(np.where(p < q, p, q), dtype=object)


def harmonize(
    sumstats: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    match_by: str = "auto",
    file: str | None = None,
) -> tuple[pd.DataFrame, HarmonizeReport]:
    """Match summary statistics to reference variants and orient Z to the reference's A1.

    Parameters
    ----------
    sumstats: pandas.DataFrame, (n_sumstats, k)
        From :func:`deepwas.io.sumstats.read_sumstats`: ``SNP`` and/or ``CHR`` + ``BP``, ``A1``,
        ``A2``, ``Z`` (effect of A1), ``N``, optionally ``AF1`` and ``INFO``.
    reference: pandas.DataFrame, (n_reference, k)
        A variant table (``CHR SNP BP A1 A2``; A1 the counted allele), e.g. the LD store's.
    match_by:
        ``"rsid"``, ``"chrpos"`` or ``"auto"``: rsID when both tables have ``SNP`` and more than
        half of the sumstats IDs occur in the reference, else CHR:BP when both have ``CHR`` and
        ``BP``, else rsID.
    file:
        The sumstats file name, for error messages.

    Returns
    -------
    matched: pandas.DataFrame, (n_matched, k)
        One row per matched reference variant, sorted by ``ref_index`` (int64, row position in
        ``reference``), with the reference's ``CHR SNP BP A1 A2`` (those it has), ``Z`` and ``N``
        from the sumstats with Z oriented to the reference A1, and ``AF1`` (as the frequency of
        the reference A1) and ``INFO`` when the sumstats have them.
    report: HarmonizeReport

    Raises
    ------
    InputError
        When a needed column is missing, ``match_by`` is unknown, or no variant matches.

    Notes
    -----
    With sumstats alleles (s1, s2), reference alleles (r1, r2) and c() the complement:
    (s1, s2) = (r1, r2) keeps Z; (s2, s1) negates it; (c(s1), c(s2)) = (r1, r2) keeps it
    (strand flip); (c(s2), c(s1)) negates it; anything else is an allele mismatch. The tests run
    in that order, so strand-ambiguous pairs are never strand-flipped.
    """
    for col in ("A1", "A2", "Z", "N"):
        if col not in sumstats.columns:
            raise InputError(
                f"the sumstats table has no {col} column",
                file=file,
                column=col,
                fix="read it with deepwas.io.sumstats.read_sumstats",
            )
    for col in ("A1", "A2"):
        if col not in reference.columns:
            raise InputError(
                f"the reference variant table has no {col} column",
                column=col,
                fix="give a variant table with CHR SNP BP A1 A2",
            )
    if match_by not in ("auto", "rsid", "chrpos"):
        raise InputError(
            f"unknown match_by {match_by!r}", column="match_by", fix="use auto, rsid or chrpos"
        )
    ss = sumstats.reset_index(drop=True)
    ref = reference.reset_index(drop=True)
    n_ss, n_ref = len(ss), len(ref)
    can_rsid = "SNP" in ss.columns and "SNP" in ref.columns
    can_pos = {"CHR", "BP"} <= set(ss.columns) and {"CHR", "BP"} <= set(ref.columns)

    if match_by == "auto":
        match_by = "chrpos" if can_pos else "rsid"
        if can_rsid:
            (ss_ids, ss_miss), (ref_ids, ref_miss) = _ids(ss), _ids(ref)
            ids = ss_ids[~ss_miss]
            found = ids.isin(ref_ids[~ref_miss]).mean() if len(ids) else 0.0
            if found > 0.5 or not can_pos:
                match_by = "rsid"
    if match_by == "rsid" and not can_rsid:
        raise InputError(
            "cannot match by rsID: both tables need a SNP column",
            file=file,
            column="SNP",
            fix="match by CHR:BP instead (both tables need CHR and BP)",
        )
    if match_by == "chrpos" and not can_pos:
        raise InputError(
            "cannot match by CHR:BP: both tables need CHR and BP columns",
            file=file,
            column="CHR/BP",
            fix="match by rsID instead, or give a file with chromosome and position",
        )

    s1, s2 = _alleles(ss, "A1"), _alleles(ss, "A2")
    r1, r2 = _alleles(ref, "A1"), _alleles(ref, "A2")

    # Level 1: is the locus in the reference at all? Level 2: the full key (locus, and for CHR:BP
    # the allele pair up to order and strand), which must be unique on both sides.
    if match_by == "rsid":
        (ss_full, ss_miss), (ref_full, ref_miss) = _ids(ss), _ids(ref)
        in_ref = ss_full.isin(ref_full[~ref_miss]) & ~ss_miss
    else:
        ss_pos, ss_miss = _chrpos(ss)
        ref_pos, ref_miss = _chrpos(ref)
        in_ref = np.isin(ss_pos, ref_pos[~ref_miss]) & ~ss_miss
        ss_full = pd.MultiIndex.from_arrays([ss_pos, _pair_code(s1, s2)])
        ref_full = pd.MultiIndex.from_arrays([ref_pos, _pair_code(r1, r2)])

    ref_ok = ~ref_miss
    ref_dup = np.zeros(n_ref, dtype=bool)
    ref_dup[ref_ok] = ref_full[ref_ok].duplicated(keep=False)
    ss_dup = np.asarray(ss_full.duplicated(keep=False)) & ~ss_miss
    full_in_ref = np.asarray(ss_full.isin(ref_full[ref_ok])) & in_ref
    dup_hit = np.asarray(ss_full.isin(ref_full[ref_dup])) & in_ref
    uniq_pos = np.flatnonzero(ref_ok & ~ref_dup)
    hit = ref_full[uniq_pos].get_indexer(ss_full)

    not_in_ref = ~in_ref
    duplicate = in_ref & full_in_ref & (dup_hit | ss_dup)
    candidate = in_ref & full_in_ref & ~duplicate & (hit >= 0)
    mismatch = in_ref & ~full_in_ref  # CHR:BP present but no reference variant with these alleles

    rows = np.flatnonzero(candidate)
    ridx = uniq_pos[hit[rows]]
    a, b, x, y = s1[rows], s2[rows], r1[ridx], r2[ridx]
    same = (a == x) & (b == y)
    swap = ~same & (a == y) & (b == x)
    ca, cb = _revcomp(a), _revcomp(b)
    strand = ~same & ~swap & (ca == x) & (cb == y)
    strand_swap = ~same & ~swap & ~strand & (ca == y) & (cb == x)
    ok = same | swap | strand | strand_swap
    if match_by == "rsid" and "CHR" in ss.columns and "CHR" in ref.columns:
        c_ss, c_ref = _chrom(ss["CHR"]), _chrom(ref["CHR"])
        ok &= ~(c_ss[rows] != c_ref[ridx])  # NaN on either side does not count as a difference
    mismatch[rows[~ok]] = True

    rows, ridx = rows[ok], ridx[ok]
    flip = (swap | strand_swap)[ok]
    sign = np.where(flip, -1.0, 1.0)
    order = np.argsort(ridx, kind="stable")
    rows, ridx, flip, sign = rows[order], ridx[order], flip[order], sign[order]

    report = HarmonizeReport(
        n_sumstats=n_ss,
        n_reference=n_ref,
        n_matched=len(rows),
        n_flipped=int(flip.sum()),
        n_strand_flipped=int((strand | strand_swap)[ok].sum()),
        n_allele_mismatch=int(mismatch.sum()),
        n_not_in_reference=int(not_in_ref.sum()),
        match_by=match_by,
        n_duplicate=int(duplicate.sum()),
    )
    if len(rows) == 0:
        how = "rsID" if match_by == "rsid" else "CHR:BP"
        raise InputError(
            f"0 of {n_ss} variants matched the {n_ref} reference variants by {how} "
            f"({report.n_not_in_reference} not in reference, {report.n_allele_mismatch} allele "
            f"mismatch, {report.n_duplicate} duplicate)",
            file=file,
            fix="check the genome build and the SNP ID column, or use an LD reference built "
            "for these variants",
        )

    out: dict[str, np.ndarray] = {"ref_index": ridx.astype(np.int64)}
    for col in ("CHR", "SNP", "BP"):
        if col in ref.columns:
            out[col] = ref[col].to_numpy()[ridx]
    out["A1"] = r1[ridx]
    out["A2"] = r2[ridx]
    out["Z"] = sign * ss["Z"].to_numpy(dtype=np.float64)[rows]
    out["N"] = ss["N"].to_numpy(dtype=np.float64)[rows]
    if "AF1" in ss.columns:
        f = ss["AF1"].to_numpy(dtype=np.float64)[rows]
        out["AF1"] = np.where(flip, 1.0 - f, f)
    if "INFO" in ss.columns:
        out["INFO"] = ss["INFO"].to_numpy(dtype=np.float64)[rows]
    df = pd.DataFrame(out)
    for col in ("CHR", "BP"):
        if col in df.columns and pd.api.types.is_integer_dtype(ref[col].dtype):
            df[col] = df[col].astype(np.int64)
    for col in ("SNP", "A1", "A2"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    return df, report
