"""Reading GWAS summary statistics into the canonical z-score table.

This package owns the summary-statistic file formats (LDSC ``.sumstats``, fastGWA, PLINK2 ``--glm``,
BOLT-LMM, COJO ``.ma``, GWAS-SSF and generic delimited text or parquet), the derivation of one
signed z-score and one sample size per variant, and the row-level quality control, with a count per
reason in a :class:`QCReport`. Matching the result to an LD reference is
:mod:`deepwas.harmonize`'s job. :func:`read_sumstats` composes its steps, one module each:
:mod:`~deepwas.io.sumstats.columns` (formats, aliases, detection, the plan of a read),
:mod:`~deepwas.io.sumstats.parse` (the table and its columns, errors naming the line) and
:mod:`~deepwas.io.sumstats.qc` (Z derivation, quality control, :class:`QCReport`).

Decisions written down here
---------------------------
- Only the missing markers ``""``, ``NA``, ``N/A``, ``nan``, ``.``, ``NULL`` and ``None`` (any
  case) are missing values, which QC drops and counts; anything else that is not a number in a
  numeric column (``abc`` in ``BETA``) is an error naming its line. ``inf`` parses, and QC drops
  it as non-finite.
- Line numbers count every physical line of the file, the header being line 1 (or later, after
  ``##`` meta lines). Blank lines are skipped and not counted as rows read.
- The ``n_gwas`` argument, when given, overrides any sample-size column. (It was ``n``, which
  still works for one release with a ``DeprecationWarning``.)
- ``P == 0`` (an underflow in many tools) drops a row only when Z must be derived from P; a P
  below 0 or above 1 is always dropped as corrupt.
- A ``MAF`` column (minor-allele frequency) is used for the MAF filter only; it cannot give the
  frequency of A1, so the output then has no ``AF1``.
- A missing ``AF1`` or ``INFO`` value does not drop a row (filters pass it); a frequency outside
  [0, 1] is an error, because it means the column is not a frequency.
- GWAS-SSF rows take their ID from ``rsid``, else ``variant_id``, else ``CHR:BP``; in every format a
  missing ID falls back to ``CHR:BP`` when both are present.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepwas._validation import TRAIT_CONSTRAINTS, validate
from deepwas.errors import InputError
from deepwas.io.sumstats.columns import (
    FORMATS,
    USER_COLUMNS,
    _plan_columns,
    _resolve,
    detect_format,
)
from deepwas.io.sumstats.parse import _Columns, _open_source, _parse_columns, _read_frame, _text
from deepwas.io.sumstats.qc import (
    _QC,
    R_ACGT,
    R_AMBIG,
    R_DUP,
    R_MISSING,
    R_MULTI,
    R_P,
    R_SAME,
    R_SE,
    R_TEST,
    QCReport,
    _qc_values,
    _qc_variants,
)

__all__ = [
    "QCReport",
    "read_sumstats",
    "detect_format",
    "FORMATS",
    "USER_COLUMNS",
    # the QC reasons, in the order they are applied (QCReport.dropped's keys)
    "R_TEST",
    "R_MISSING",
    "R_SE",
    "R_P",
    "R_DUP",
    "R_ACGT",
    "R_SAME",
    "R_MULTI",
    "R_AMBIG",
]


def _output_frame(cols: _Columns, z: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    """The canonical table of the kept rows (see :func:`read_sumstats`, Returns)."""
    out: dict[str, object] = {}
    if cols.has_chr:
        out["CHR"] = cols.chrom[keep]
    out["SNP"] = cols.snp[keep].reset_index(drop=True).astype("str")
    if cols.has_bp:
        out["BP"] = cols.bp[keep].astype(np.int64)
    out["A1"] = cols.a1[keep].reset_index(drop=True).astype("str")
    out["A2"] = cols.a2[keep].reset_index(drop=True).astype("str")
    out["Z"] = np.asarray(z[keep], dtype=np.float64)
    out["N"] = cols.n[keep].astype(np.float64)
    if "AF1" in cols.num:
        out["AF1"] = cols.num["AF1"][keep]
    if "INFO" in cols.num:
        out["INFO"] = cols.num["INFO"][keep]
    return pd.DataFrame(out)


_UNSET: Any = object()  # the deprecated ``n`` was not passed


def read_sumstats(
    path: str | os.PathLike[str],
    *,
    n_gwas: float | None = None,
    fmt: str = "auto",
    keep_ambiguous: bool = False,
    min_info: float | None = 0.9,
    min_maf: float | None = 0.01,
    columns: dict[str, str] | None = None,
    n: float | None = _UNSET,
) -> tuple[pd.DataFrame, QCReport]:
    """Read a GWAS summary-statistics file into signed z-scores with quality control.

    Parameters
    ----------
    path:
        Delimited text (tab, comma or whitespace; gzip recognised by its magic bytes, whatever the
        name) or parquet (``.parquet`` / ``.pq`` suffix, or parquet magic bytes).
    n_gwas:
        GWAS sample size for every variant, > 0. When given it overrides any N column; it is
        required when the file has no N (or NCASE + NCONTROL) column.
    fmt:
        ``"auto"`` (detect from the header, see :func:`detect_format`) or one of :data:`FORMATS`.
    keep_ambiguous:
        Keep strand-ambiguous A/T and C/G variants (dropped by default).
    min_info:
        Drop variants with INFO below this (when an INFO column exists); ``None`` disables.
    min_maf:
        Drop variants with minor-allele frequency ``min(f, 1 - f)`` below this (when a frequency
        column exists); ``None`` disables.
    columns:
        Explicit canonical name -> file column mapping (e.g. ``{"SNP": "MarkerName"}``); canonical
        names are those of ``USER_COLUMNS``. Overrides the format's own columns.
    n:
        Deprecated alias of ``n_gwas`` (the sample size's name everywhere else), kept for one
        release: passing it warns.

    Returns
    -------
    sumstats: pandas.DataFrame, (n_kept, k)
        Rows in file order, index 0..n_kept-1, with columns ``CHR`` (int64 PLINK code; only when
        the file has chromosomes), ``SNP`` (str), ``BP`` (int64; only when the file has positions),
        ``A1`` (effect allele, upper case), ``A2`` (other allele), ``Z`` (float64, effect of A1),
        ``N`` (float64), and ``AF1`` (float64, frequency of A1) and ``INFO`` when present.
    report: QCReport
        Rows read, dropped per reason, the format and how Z and N were obtained.

    Raises
    ------
    TypeError
        If both ``n_gwas`` and its deprecated alias ``n`` are passed.
    InputError
        ``n_gwas`` not a finite number > 0 (naming ``--n-gwas``, as the CLI does). One line
        naming the file and the row or column: file missing, unreadable or empty; no SNP,
        allele, Z-deriving or sample-size column; a non-numeric value in a numeric column; an
        unknown chromosome; or every row dropped by QC.

    Notes
    -----
    Z is taken, in this order of preference, from a Z (or Z_STAT / T_STAT) column; BETA/SE;
    log(OR)/SE (or log(HR)/SE); or from P with the sign of BETA (or of log OR):
    ``|Z| = Phi^-1(1 - P/2) = sqrt(chi2_1.isf(P))``. N comes from ``n_gwas``, else an N column,
    else NCASE + NCONTROL.

    Quality control is applied in this order, each row counted under the first reason that drops
    it: TEST != ADD (PLINK2 files with a TEST column); missing or non-finite value (SNP, alleles,
    the columns Z is derived from, N <= 0 or missing, CHR/BP when present; also a non-finite
    derived Z such as from OR <= 0); SE <= 0; P outside (0, 1] (see module notes for P == 0);
    duplicate SNP (every copy of an ID seen more than once); non-ACGT allele (anything but one
    of A, C, G, T: indels, '*', ...); A1 same as A2; multi-allelic (the same CHR:BP with
    different allele pairs: all rows at that position, only when CHR and BP exist);
    strand-ambiguous A/T, C/G (unless ``keep_ambiguous``); INFO < ``min_info``;
    MAF < ``min_maf``.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(
            f"unknown sumstats format {fmt!r}",
            column="fmt",
            fix=f"use auto or one of {', '.join(FORMATS)}",
        )
    if n is not _UNSET:
        if n_gwas is not None:
            raise TypeError("read_sumstats() got both n_gwas and its deprecated alias n")
        warnings.warn(
            "read_sumstats(n=...) is deprecated and will be removed: pass n_gwas=...",
            DeprecationWarning,
            stacklevel=2,
        )
        n_gwas = n
    validate({"n_gwas": n_gwas}, {"n_gwas": TRAIT_CONSTRAINTS["n_gwas"]}, where="read_sumstats")
    src = _open_source(Path(path))
    file, header = src.file, src.header
    fmt_used = detect_format(header) if fmt == "auto" else fmt
    m = _resolve(header, fmt_used, columns, file)
    plan = _plan_columns(header, fmt_used, m, file, n_gwas)  # what the file lacks, before data
    frame = _read_frame(src, {m[k] for k in plan.text_keys}, plan.used)

    dropped: dict[str, int] = {}
    n_read = len(frame)
    if n_read == 0:
        raise InputError(
            "no data rows below the header", file=file, fix="give a file with variants"
        )
    # -- PLINK2 covariate rows (errors below still name the right line: ``src.positions``)
    if "TEST" in m:
        test, _ = _text(frame[m["TEST"]], upper=True)
        add = (test == "ADD").to_numpy(dtype=bool)
        dropped[R_TEST] = int((~add).sum())
        frame = frame.loc[add].reset_index(drop=True)
        src.positions = np.flatnonzero(add)

    cols = _parse_columns(src, frame, plan, n_gwas)
    qc = _QC(len(frame), dropped)  # quality control, in the documented order
    z = _qc_values(qc, cols, plan)
    _qc_variants(qc, cols, keep_ambiguous=keep_ambiguous, min_info=min_info, min_maf=min_maf)

    n_kept = int(qc.keep.sum())
    report = QCReport(
        n_read=n_read,
        dropped=dropped,
        n_kept=n_kept,
        format=fmt_used,
        z_source=plan.z_source,
        n_source=plan.n_source,
        file=file,
    )
    if n_kept == 0:
        reasons = ", ".join(f"{r}: {k}" for r, k in dropped.items() if k)
        raise InputError(
            f"all {n_read} rows were dropped by quality control ({reasons})",
            file=file,
            fix="check the columns, or relax --min-info / --min-maf / use --keep-ambiguous",
        )
    return _output_frame(cols, z, qc.keep), report
