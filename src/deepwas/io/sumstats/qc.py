"""Z derivation and row-level quality control of summary statistics, with a count per reason
in a :class:`QCReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from deepwas.io.sumstats.columns import _Plan
from deepwas.io.sumstats.parse import _bases, _Columns

__all__ = ["QCReport"]

# QC reasons, in the order they are applied; each row is counted under the first that drops it.
R_TEST = "TEST != ADD"
R_MISSING = "missing or non-finite value"
R_SE = "SE <= 0"
R_P = "P outside (0, 1]"
R_DUP = "duplicate SNP"
R_ACGT = "non-ACGT allele"
R_SAME = "A1 same as A2"
R_MULTI = "multi-allelic"
R_AMBIG = "strand-ambiguous (A/T, C/G)"


@dataclass
class QCReport:
    """What :func:`read_sumstats` read, derived and dropped.

    Attributes
    ----------
    n_read:
        Data rows read (blank lines excluded).
    dropped:
        Reason -> rows dropped for it, in the order the filters were applied; each row is counted
        under the first reason that drops it, so ``n_read == n_kept + sum(dropped.values())``.
    n_kept:
        Rows returned.
    format:
        The format the file was read as (one of :data:`FORMATS`).
    z_source:
        How Z was obtained: ``"Z"``, ``"T_STAT"``, ``"BETA/SE"``, ``"LOG_ODDS/SE"``, ``"OR/SE"``,
        ``"HR/SE"``, ``"P+sign(BETA)"``, ``"P+sign(OR)"`` ...
    n_source:
        Where N came from: ``"column N"``, ``"--n-gwas 450000"``, ``"NCASE+NCONTROL"`` ...
    file:
        The file read.
    """

    n_read: int
    dropped: dict[str, int]
    n_kept: int
    format: str
    z_source: str
    n_source: str
    file: str | None = field(default=None)

    def lines(self) -> list[str]:
        """Human-readable summary, one string per line."""
        where = f"{self.file}: " if self.file else ""
        out = [
            f"{where}read {self.n_read:,} rows as {self.format}",
            f"Z from {self.z_source}; N from {self.n_source}",
        ]
        out += [f"dropped {k:,}: {reason}" for reason, k in self.dropped.items() if k]
        out.append(f"kept {self.n_kept:,} variants")
        return out


def _z_inputs(cols: _Columns, plan: _Plan) -> list[np.ndarray]:
    """The columns Z is derived from: Z, or the effect and SE, or the effect and P."""
    if plan.z_source in ("Z", "T_STAT"):
        return [cols.num["Z"]]
    assert plan.effect is not None
    if "/SE" in plan.z_source:
        return [cols.num[plan.effect], cols.num["SE"]]
    return [cols.num[plan.effect], cols.num["P"]]


def _derive_z(cols: _Columns, plan: _Plan, keep: np.ndarray) -> np.ndarray:
    """Signed z-scores (rows,) of A1 by the plan's ``z_source``; non-finite where underivable.

    Notes
    -----
    ``BETA/SE``; ``log(OR)/SE`` (or ``log(HR)/SE``); from P, ``sign(effect) Phi^-1(1 - P/2)``
    with P read only on the rows still kept (others get 0.5, so no warning for a P that QC
    has already dropped).
    """
    num, effect = cols.num, plan.effect
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if plan.z_source in ("Z", "T_STAT"):
            return num["Z"]
        assert effect is not None
        if plan.z_source.startswith("P+"):
            eff = num[effect] if effect == "BETA" else np.log(num[effect])
            return np.sign(eff) * stats.norm.isf(np.where(keep, num["P"], 0.5) / 2.0)
        if effect == "BETA":
            return num["BETA"] / num["SE"]
        return np.log(num[effect]) / num["SE"]


class _QC:
    """The rows kept (rows,) and the count dropped per reason, in the order reasons are met."""

    def __init__(self, rows: int, dropped: dict[str, int]) -> None:
        self.keep = np.ones(rows, dtype=bool)
        self.dropped = dropped

    def drop(self, reason: str, mask: np.ndarray) -> None:
        """Drop the rows of ``mask`` still kept, counting them under ``reason``."""
        hit = mask & self.keep
        self.dropped[reason] = self.dropped.get(reason, 0) + int(hit.sum())
        self.keep[hit] = False

    def reason(self, reason: str) -> None:
        """List ``reason`` in the report (with 0) even when its filter cannot apply."""
        self.dropped[reason] = 0


def _qc_values(qc: _QC, cols: _Columns, plan: _Plan) -> np.ndarray:
    """QC of missing values, SE and P, then Z derived on what is left; returns Z (rows,)."""
    bad = cols.miss_snp | cols.miss_a1 | cols.miss_a2 | cols.miss_chr
    bad |= cols.has_bp & cols.miss_bp
    bad |= ~np.isfinite(cols.n) | (cols.n <= 0)
    for x in _z_inputs(cols, plan):
        bad |= ~np.isfinite(x)
    qc.drop(R_MISSING, bad)
    qc.reason(R_SE)
    if "/SE" in plan.z_source:
        qc.drop(R_SE, cols.num["SE"] <= 0)
    qc.reason(R_P)
    if "P" in cols.num:
        p = cols.num["P"]
        if plan.z_source.startswith("P+"):
            qc.drop(R_P, (p <= 0) | (p > 1))
        else:
            qc.drop(R_P, np.isfinite(p) & ((p < 0) | (p > 1)))
    z = _derive_z(cols, plan, qc.keep)
    qc.drop(R_MISSING, ~np.isfinite(z))
    return z


def _multi_allelic(
    chrom: np.ndarray, bp: np.ndarray, c1: np.ndarray, c2: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    """(rows,) bool: kept rows whose CHR:BP has kept rows with another allele pair.

    Only single-base alleles are left by then, so an unordered pair fits in 4 bits.
    """
    locus = chrom[keep] * np.int64(10_000_000_000) + bp[keep].astype(np.int64)
    pair = np.minimum(c1[keep], c2[keep]) * 4 + np.maximum(c1[keep], c2[keep])
    order = np.lexsort((pair, locus))
    loc_s, pair_s = locus[order], pair[order]
    start = np.r_[True, loc_s[1:] != loc_s[:-1]]
    group = np.cumsum(start) - 1
    differs = np.r_[False, (pair_s[1:] != pair_s[:-1]) & ~start[1:]]
    multi_group = np.zeros(group[-1] + 1, dtype=bool)
    multi_group[group[differs]] = True
    sub = np.empty(len(order), dtype=bool)
    sub[order] = multi_group[group]
    multi = np.zeros(len(keep), dtype=bool)
    multi[keep] = sub
    return multi


def _qc_variants(
    qc: _QC,
    cols: _Columns,
    *,
    keep_ambiguous: bool,
    min_info: float | None,
    min_maf: float | None,
) -> None:
    """QC of the variants themselves: duplicates, alleles, multi-allelic loci, INFO and MAF."""
    keep = qc.keep
    dup = np.zeros(len(keep), dtype=bool)
    dup[keep] = cols.snp[keep].duplicated(keep=False).to_numpy(dtype=bool)
    qc.drop(R_DUP, dup)
    c1, c2 = _bases(cols.a1), _bases(cols.a2)
    qc.drop(R_ACGT, (c1 < 0) | (c2 < 0))
    qc.drop(R_SAME, c1 == c2)
    qc.reason(R_MULTI)
    if cols.has_chr and cols.has_bp and keep.any():
        qc.drop(R_MULTI, _multi_allelic(cols.chrom, cols.bp, c1, c2, keep))
    qc.reason(R_AMBIG)
    if not keep_ambiguous:
        qc.drop(R_AMBIG, c1.astype(np.int16) + c2 == 3)
    if min_info is not None:
        label = f"INFO < {min_info:g}"
        qc.reason(label)
        if "INFO" in cols.num:
            qc.drop(label, cols.num["INFO"] < min_info)
    if min_maf is not None:
        label = f"MAF < {min_maf:g}"
        qc.reason(label)
        freq = cols.num.get("AF1", cols.num.get("MAF"))
        if freq is not None:
            qc.drop(label, np.minimum(freq, 1.0 - freq) < min_maf)
