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
from deepwas.io.variants import chrom_codes

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


def _allele_codes(columns: list[pd.Series]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Integer codes of allele columns over one shared table.

    Returns the (n_i,) int64 codes of each column (-1 where missing), the table of alleles
    (object, upper case) and, for each table entry, the code of its reverse complement (entries
    are added to the table for complements that do not occur).
    """
    text = pd.concat([c.astype("str").str.strip().str.upper() for c in columns], ignore_index=True)
    codes, uniq = pd.factorize(text.mask(text == ""))
    alleles = [str(u) for u in uniq]
    index = {a: k for k, a in enumerate(alleles)}
    comp = []
    for k in range(len(uniq)):
        rc = alleles[k].translate(_RC)[::-1]
        if rc not in index:
            index[rc] = len(alleles)
            alleles.append(rc)
        comp.append(index[rc])
    for k in range(len(uniq), len(alleles)):  # the added complements point back
        comp.append(index[alleles[k].translate(_RC)[::-1]])
    bounds = np.cumsum([0] + [len(c) for c in columns])
    split = [codes[a:b].astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return split, np.array(alleles, dtype=object), np.array(comp, dtype=np.int64)


def _joint_codes(
    ss_key: pd.Series | np.ndarray, ref_key: pd.Series | np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense int64 codes (n_ss,), (n_ref,) of two key arrays over their union (-1 where the key
    is missing: NaN), and the number of distinct keys."""
    both = pd.concat([pd.Series(ss_key), pd.Series(ref_key)], ignore_index=True)
    codes, uniq = pd.factorize(both)
    codes = codes.astype(np.int64)
    return codes[: len(ss_key)], codes[len(ss_key) :], len(uniq)


def _ids(df: pd.DataFrame) -> pd.Series:
    """SNP IDs (n,), NaN where missing ("", ".")."""
    s = df["SNP"].astype("str").str.strip()
    return s.mask(s.isin(["", "."])).reset_index(drop=True)


def _chrom(series: pd.Series) -> np.ndarray:
    """PLINK chromosome codes as float64 (n,), NaN where missing or unrecognised."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = chrom_codes(series.astype("str"))
    return np.where(codes > 0, codes, np.nan)


def _chrpos(df: pd.DataFrame) -> np.ndarray:
    """(n,) float64 keys CHR * 1e10 + BP (exact below 2**53), NaN where either is missing."""
    chrom = _chrom(df["CHR"])
    bp = pd.to_numeric(df["BP"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return chrom * 1e10 + bp


def _pair_key(a: np.ndarray, b: np.ndarray, comp: np.ndarray, k: int) -> np.ndarray:
    """(n,) float64 code of the allele pair up to order and strand; NaN where one is missing."""
    ok = (a >= 0) & (b >= 0)
    a0, b0 = np.where(ok, a, 0), np.where(ok, b, 0)
    p = np.minimum(a0, b0) * k + np.maximum(a0, b0)
    ca, cb = comp[a0], comp[b0]
    q = np.minimum(ca, cb) * k + np.maximum(ca, cb)
    return np.where(ok, np.minimum(p, q), np.nan)


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
            id_ss, id_ref, n_id = _joint_codes(_ids(ss), _ids(ref))
            known = id_ss[id_ss >= 0]
            in_ref_ids = np.bincount(id_ref[id_ref >= 0], minlength=n_id) > 0
            found = in_ref_ids[known].mean() if len(known) else 0.0
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

    (s1, s2, r1, r2), alleles, comp = _allele_codes([ss["A1"], ss["A2"], ref["A1"], ref["A2"]])

    # Every key becomes a dense integer code over both tables (-1 where missing), so membership
    # and multiplicity are bincounts. The locus key says whether the variant is in the reference
    # at all; the full key (for CHR:BP, the locus plus the allele pair up to order and strand)
    # must occur exactly once on each side.
    if match_by == "rsid":
        loc_ss, loc_ref, n_loc = _joint_codes(_ids(ss), _ids(ref))
        full_ss, full_ref, n_full = loc_ss, loc_ref, n_loc
    else:
        loc_ss, loc_ref, n_loc = _joint_codes(_chrpos(ss), _chrpos(ref))
        k = len(alleles)
        pair_ss, pair_ref, n_pair = _joint_codes(
            _pair_key(s1, s2, comp, k), _pair_key(r1, r2, comp, k)
        )
        # (locus, pair) as one float64 number, exact below 2**53 (n_loc * n_pair is far smaller)
        full_ss, full_ref, n_full = _joint_codes(
            *(
                np.where((lc >= 0) & (pc >= 0), lc * float(n_pair) + pc, np.nan)
                for lc, pc in ((loc_ss, pair_ss), (loc_ref, pair_ref))
            )
        )

    def count(codes: np.ndarray, size: int) -> np.ndarray:
        return np.bincount(codes[codes >= 0], minlength=size)

    loc_in_ref = count(loc_ref, n_loc) > 0
    ref_count, ss_count = count(full_ref, n_full), count(full_ss, n_full)
    fs = np.maximum(full_ss, 0)
    in_ref = (loc_ss >= 0) & loc_in_ref[np.maximum(loc_ss, 0)]
    full_in_ref = in_ref & (full_ss >= 0) & (ref_count[fs] > 0)
    duplicate = full_in_ref & ((ref_count[fs] > 1) | (ss_count[fs] > 1))
    not_in_ref = ~in_ref
    mismatch = in_ref & ~full_in_ref  # CHR:BP present, but no reference variant with these alleles
    ref_row = np.full(max(n_full, 1), -1, dtype=np.int64)
    ref_row[full_ref[full_ref >= 0]] = np.flatnonzero(full_ref >= 0)

    rows = np.flatnonzero(full_in_ref & ~duplicate)
    ridx = ref_row[full_ss[rows]]
    a, b, x, y = s1[rows], s2[rows], r1[ridx], r2[ridx]
    valid = (a >= 0) & (b >= 0) & (x >= 0) & (y >= 0)
    same = valid & (a == x) & (b == y)
    swap = valid & ~same & (a == y) & (b == x)
    ca, cb = comp[np.maximum(a, 0)], comp[np.maximum(b, 0)]
    strand = valid & ~same & ~swap & (ca == x) & (cb == y)
    strand_swap = valid & ~same & ~swap & ~strand & (ca == y) & (cb == x)
    ok = same | swap | strand | strand_swap
    if match_by == "rsid" and "CHR" in ss.columns and "CHR" in ref.columns:
        c_ss, c_ref = _chrom(ss["CHR"]), _chrom(ref["CHR"])
        cs, cr = c_ss[rows], c_ref[ridx]
        ok &= ~((cs != cr) & ~np.isnan(cs) & ~np.isnan(cr))  # an unknown CHR is no disagreement
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
            out[col] = ref[col].iloc[ridx].to_numpy()
    out["A1"] = alleles[r1[ridx]]
    out["A2"] = alleles[r2[ridx]]
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
