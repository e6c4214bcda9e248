"""Reading GWAS summary statistics into the canonical z-score table.

This module owns the summary-statistic file formats (LDSC ``.sumstats``, fastGWA, PLINK2 ``--glm``,
BOLT-LMM, COJO ``.ma``, GWAS-SSF and generic delimited text or parquet), the derivation of one
signed z-score and one sample size per variant, and the row-level quality control, with a count per
reason in a :class:`QCReport`. Matching the result to an LD reference is
:mod:`deepwas.harmonize`'s job.

Decisions written down here
---------------------------
- Text is read as strings and parsed here, so a non-numeric value in a numeric column (``abc`` in
  ``BETA``) is an error naming its line, while the missing markers ``""``, ``NA``, ``N/A``, ``nan``,
  ``.``, ``NULL`` and ``None`` (any case) are missing values that QC drops and counts.
- Line numbers count every physical line of the file, the header being line 1 (or later, after
  ``##`` meta lines). Blank lines are skipped and not counted as rows read.
- The ``n`` argument, when given, overrides any sample-size column.
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

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from deepwas._files import open_text
from deepwas.errors import InputError
from deepwas.io.variants import chrom_label, normalize_chrom

__all__ = ["QCReport", "read_sumstats", "detect_format", "FORMATS"]

FORMATS = ("ldsc", "fastgwa", "plink2", "bolt", "cojo", "gwas-ssf", "generic")

_MISSING = frozenset({"", "NA", "N/A", "NAN", ".", "NULL", "NONE"})
_ACGT = ("A", "C", "G", "T")
_AMBIGUOUS = frozenset({"AT", "TA", "CG", "GC"})

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

# Canonical names a user may map with ``columns=``.
USER_COLUMNS = (
    "SNP", "CHR", "BP", "A1", "A2", "Z", "BETA", "SE", "OR", "P", "N", "NCASE", "NCONTROL",
    "AF1", "MAF", "INFO",
)  # fmt: skip

# Generic aliases, matched case-insensitively after dropping a leading '#'; first found wins.
# REF/ALT/OMITTED are internal: they resolve the other allele of PLINK-style files.
_GENERIC: dict[str, tuple[str, ...]] = {
    "SNP": ("SNP", "RSID", "MARKERNAME", "ID", "VARIANT_ID", "SNPID", "SNP_ID", "RS_ID", "MARKER"),
    "CHR": ("CHR", "CHROM", "CHROMOSOME"),
    "BP": ("BP", "POS", "POSITION", "BASE_PAIR_LOCATION"),
    "A1": ("A1", "EA", "ALLELE1", "EFFECT_ALLELE", "TESTED_ALLELE", "ALT"),
    "A2": ("A2", "NEA", "ALLELE0", "OTHER_ALLELE", "ALLELE2", "NON_EFFECT_ALLELE"),
    "REF": ("REF",),
    "ALT": ("ALT",),
    "OMITTED": ("OMITTED",),
    "TEST": ("TEST",),
    "Z": ("Z", "ZSCORE", "Z_SCORE", "Z_STAT", "ZSTAT", "T_STAT", "TSTAT"),
    "BETA": ("BETA", "B", "EFFECT", "LOG_ODDS"),
    "SE": ("SE", "STDERR", "STANDARD_ERROR", "LOG(OR)_SE", "SEBETA", "SE_BETA"),
    "OR": ("OR", "ODDS_RATIO"),
    "HR": ("HR", "HAZARD_RATIO"),
    "P": ("P", "PVAL", "P_VALUE", "PVALUE", "P-VALUE"),
    "LOG10P": ("NEG_LOG_10_P_VALUE", "LOG10_P", "LOG10P", "MLOG10P", "NEG_LOG10_P"),
    "N": ("N", "NEFF", "N_EFF", "OBS_CT", "NMISS", "N_TOTAL", "SAMPLESIZE", "SAMPLE_SIZE"),
    "NCASE": ("NCASE", "N_CASE", "N_CASES", "NCAS"),
    "NCONTROL": ("NCONTROL", "N_CONTROL", "N_CONTROLS", "NCON", "NCONT"),
    "AF1": ("FRQ", "EAF", "AF1", "A1FREQ", "A1_FREQ", "FREQ", "EFFECT_ALLELE_FREQUENCY", "FREQ1"),
    "MAF": ("MAF",),
    "INFO": ("INFO", "IMPINFO", "INFO_SCORE"),
}

# Named formats: their own column names, and the columns without which a file is not of that format.
_SPECS: dict[str, dict[str, tuple[str, ...]]] = {
    "ldsc": {
        "SNP": ("SNP",), "A1": ("A1",), "A2": ("A2",), "Z": ("Z",), "N": ("N",),
        "CHR": ("CHR",), "BP": ("BP",),
    },
    "fastgwa": {
        "CHR": ("CHR",), "SNP": ("SNP",), "BP": ("POS",), "A1": ("A1",), "A2": ("A2",),
        "N": ("N",), "AF1": ("AF1",), "BETA": ("BETA",), "SE": ("SE",), "P": ("P",),
        "INFO": ("INFO",),
    },
    "plink2": {
        "CHR": ("CHROM",), "BP": ("POS",), "SNP": ("ID",), "REF": ("REF",), "ALT": ("ALT",),
        "A1": ("A1", "ALT"), "OMITTED": ("OMITTED",), "AF1": ("A1_FREQ",), "TEST": ("TEST",),
        "N": ("OBS_CT",), "BETA": ("BETA",), "OR": ("OR",), "SE": ("LOG(OR)_SE", "SE"),
        "Z": ("Z_STAT", "T_STAT"), "P": ("P",), "LOG10P": ("LOG10_P",), "INFO": ("MACH_R2",),
    },
    "bolt": {
        "SNP": ("SNP",), "CHR": ("CHR",), "BP": ("BP",), "A1": ("ALLELE1",), "A2": ("ALLELE0",),
        "AF1": ("A1FREQ",), "INFO": ("INFO",), "BETA": ("BETA",), "SE": ("SE",),
        "P": ("P_BOLT_LMM", "P_BOLT_LMM_INF", "P_LINREG"), "N": ("N",),
    },
    "cojo": {
        "SNP": ("SNP",), "A1": ("A1",), "A2": ("A2",), "AF1": ("FREQ",), "BETA": ("B",),
        "SE": ("SE",), "P": ("P",), "N": ("N",),
    },
    "gwas-ssf": {
        "CHR": ("CHROMOSOME",), "BP": ("BASE_PAIR_LOCATION",), "A1": ("EFFECT_ALLELE",),
        "A2": ("OTHER_ALLELE",), "BETA": ("BETA",), "OR": ("ODDS_RATIO",),
        "HR": ("HAZARD_RATIO",), "SE": ("STANDARD_ERROR",), "AF1": ("EFFECT_ALLELE_FREQUENCY",),
        "P": ("P_VALUE",), "LOG10P": ("NEG_LOG_10_P_VALUE",), "SNP": ("RSID",),
        "SNP2": ("VARIANT_ID",), "N": ("N",), "INFO": ("INFO",),
    },
}  # fmt: skip
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ldsc": ("SNP", "A1", "A2", "Z"),
    "fastgwa": ("CHR", "SNP", "POS", "A1", "A2"),
    "plink2": ("CHROM", "POS", "ID", "REF", "ALT"),
    "bolt": ("SNP", "ALLELE1", "ALLELE0"),
    "cojo": ("SNP", "A1", "A2", "FREQ", "B", "SE"),
    "gwas-ssf": ("CHROMOSOME", "BASE_PAIR_LOCATION", "EFFECT_ALLELE", "OTHER_ALLELE"),
}
_NUMERIC = (
    "BP", "Z", "BETA", "SE", "OR", "HR", "P", "LOG10P", "N", "NCASE", "NCONTROL",
    "AF1", "MAF", "INFO",
)  # fmt: skip


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
        Where N came from: ``"column N"``, ``"--n 450000"``, ``"NCASE+NCONTROL"`` ...
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


def _norm(name: str) -> str:
    return str(name).strip().lstrip("#").strip().upper()


def detect_format(header: list[str]) -> str:
    """Name the sumstats format a header belongs to.

    Parameters
    ----------
    header: (n_columns,)
        Column names as written in the file (case and a leading ``#`` are ignored).

    Returns
    -------
    str
        One of ``"plink2"``, ``"gwas-ssf"``, ``"bolt"``, ``"fastgwa"``, ``"cojo"``, ``"ldsc"`` or
        ``"generic"`` (anything else; columns are then found by their common aliases).
    """
    names = {_norm(h) for h in header}
    if {"CHROM", "POS", "ID", "REF", "ALT"} <= names:
        return "plink2"
    if set(_REQUIRED["gwas-ssf"]) <= names:
        return "gwas-ssf"
    if {"SNP", "CHR", "BP", "ALLELE1", "ALLELE0", "A1FREQ", "BETA", "SE"} <= names:
        return "bolt"
    if {"CHR", "SNP", "POS", "A1", "A2", "AF1", "BETA", "SE"} <= names:
        return "fastgwa"
    if names == {"SNP", "A1", "A2", "FREQ", "B", "SE", "P", "N"}:
        return "cojo"
    if {"SNP", "A1", "A2", "Z"} <= names <= {"SNP", "A1", "A2", "Z", "N", "CHR", "BP"}:
        return "ldsc"
    return "generic"


# ---------------------------------------------------------------------------------------------
# Reading the table


class _Table:
    """Raw columns (strings for text files) with the file line (or record) number of each row."""

    def __init__(self, frame: pd.DataFrame, lines: np.ndarray, *, parquet: bool, file: str):
        self.frame = frame
        self.lines = lines
        self.parquet = parquet
        self.file = file

    def error(self, i: int, message: str, *, column: str | None, fix: str) -> InputError:
        """An InputError pointing at row position ``i``."""
        if self.parquet:
            return InputError(
                f"{message} (record {int(self.lines[i])})", file=self.file, column=column, fix=fix
            )
        return InputError(message, file=self.file, row=int(self.lines[i]), column=column, fix=fix)


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _split_header(line: str, sep: str) -> list[str]:
    if sep == ",":
        return next(csv.reader([line]))
    if sep == "\t":
        return [h.strip() for h in line.split("\t")]
    return line.split()


def _read_table(path: Path) -> _Table:
    file = str(path)
    if not path.exists():
        raise InputError("file not found", file=file, fix="check the path")
    if path.is_dir():
        raise InputError("is a folder, not a file", file=file, fix="give the sumstats file itself")
    try:
        if _is_parquet(path):
            frame = pd.read_parquet(path)
            if frame.shape[1] == 0:
                raise InputError("file is empty", file=file, fix="give a non-empty sumstats file")
            frame = frame.reset_index(drop=True)
            frame.columns = [str(c) for c in frame.columns]
            lines = np.arange(1, len(frame) + 1, dtype=np.int64)
            return _Table(frame, lines, parquet=True, file=file)
        with open_text(path) as fh:
            header_line = 0
            header = ""
            for raw in fh:
                header_line += 1
                if raw.strip() and not raw.startswith("##"):
                    header = raw.rstrip("\r\n")
                    break
            if not header:
                raise InputError("file is empty", file=file, fix="give a non-empty sumstats file")
            sep = "\t" if "\t" in header else "," if "," in header else r"\s+"
            names = _split_header(header, sep)
            seen: set[str] = set()
            for name in names:
                if name in seen or name == "":
                    what = "an empty" if name == "" else f"a duplicate ('{name}')"
                    raise InputError(
                        f"the header has {what} column name",
                        file=file,
                        row=header_line,
                        fix="give every column a distinct name",
                    )
                seen.add(name)
            try:
                frame = pd.read_csv(
                    fh,
                    sep=sep,
                    header=None,
                    names=names,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skip_blank_lines=False,
                    index_col=False,
                    engine="c",
                )
            except pd.errors.EmptyDataError:
                frame = pd.DataFrame({n: pd.Series([], dtype=str) for n in names})
            except pd.errors.ParserError as e:
                m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
                if m:
                    raise InputError(
                        f"row has {m.group(3)} fields but the header has {m.group(1)}",
                        file=file,
                        row=header_line + int(m.group(2)),
                        fix="make every row have one value per header column",
                    ) from None
                raise InputError(
                    f"cannot parse the table: {e}", file=file, fix="check the delimiter and quoting"
                ) from None
    except InputError:
        raise
    except (OSError, UnicodeDecodeError, EOFError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(
            f"cannot read file: {msg}",
            file=file,
            fix="check it is an uncorrupted text, gzip or parquet file",
        ) from None
    lines = np.arange(len(frame), dtype=np.int64) + header_line + 1
    # blank lines become all-empty rows: drop them, keeping the true line numbers of the rest
    blank = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        blank &= (frame[name] == "").to_numpy()
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return _Table(frame, lines, parquet=False, file=file)


# ---------------------------------------------------------------------------------------------
# Columns


def _resolve(
    header: list[str], fmt: str, columns: dict[str, str] | None, file: str
) -> dict[str, str]:
    """Map canonical names (and REF/ALT/OMITTED/TEST/SNP2/LOG10P/HR) to file column names."""
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(_norm(h), h)
    if fmt != "generic":
        for need in _REQUIRED[fmt]:
            if need not in by_norm:
                raise InputError(
                    f"not a {fmt} file: it has no column {need}",
                    file=file,
                    column=need,
                    fix="pass fmt='auto' or the right format, or map columns explicitly",
                )
    spec = _GENERIC if fmt == "generic" else _SPECS[fmt]
    mapping: dict[str, str] = {}
    for canon, aliases in spec.items():
        for alias in aliases:
            if alias in by_norm:
                mapping[canon] = by_norm[alias]
                break
    if columns:
        for canon, col in columns.items():
            key = str(canon).upper()
            if key not in USER_COLUMNS:
                raise InputError(
                    f"unknown canonical name {canon!r} in columns",
                    column="columns",
                    fix=f"use names among {', '.join(USER_COLUMNS)}",
                )
            if col in header:
                actual = col
            elif _norm(col) in by_norm:
                actual = by_norm[_norm(col)]
            else:
                raise InputError(
                    f"columns maps {key} to {col!r}, which is not in the header "
                    f"({', '.join(header)})",
                    file=file,
                    column=col,
                    fix="spell the column as in the file",
                )
            for other, mapped in list(mapping.items()):
                if mapped == actual and other != key:
                    del mapping[other]
            mapping[key] = actual
            if key == "A2":
                mapping.pop("REF", None), mapping.pop("ALT", None), mapping.pop("OMITTED", None)
    # The other allele of PLINK-style files (A1 + REF/ALT, or ALT alone as effect allele).
    if "A1" in mapping and "A2" not in mapping:
        if "OMITTED" in mapping:
            mapping["A2"] = mapping["OMITTED"]
        elif "REF" in mapping and mapping["A1"] == mapping.get("ALT"):
            mapping["A2"] = mapping["REF"]
        elif "REF" in mapping and "ALT" not in mapping:
            mapping["A2"] = mapping["REF"]
    if "A1" not in mapping and "REF" in mapping and "ALT" in mapping and "A2" not in mapping:
        mapping["A1"], mapping["A2"] = mapping["ALT"], mapping["REF"]
    return mapping


def _needs_other_allele(mapping: dict[str, str]) -> bool:
    return "A1" in mapping and "A2" not in mapping and "REF" in mapping and "ALT" in mapping


def _text(series: pd.Series, *, upper: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stripped text values (object, "" where missing) and the missing mask, both (n,)."""
    s = series.astype("string").str.strip()
    up = s.str.upper()
    miss = (s.isna() | up.isin(_MISSING)).to_numpy(dtype=bool)
    vals = (up if upper else s).fillna("").to_numpy(dtype=object)
    vals[miss] = ""
    return vals, miss


def _number(table: _Table, col: str) -> np.ndarray:
    """Parse a numeric column to float64 (n,); missing markers -> NaN, garbage -> InputError."""
    series = table.frame[col]
    if pd.api.types.is_bool_dtype(series.dtype):
        raise table.error(0, "expected numbers, found true/false", column=col, fix="fix the column")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    s = series.astype("string").str.strip()
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    miss = (s.isna() | s.str.upper().isin(_MISSING)).to_numpy(dtype=bool)
    bad = np.isnan(values) & ~miss
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise table.error(
            i,
            f"cannot parse {s.iloc[i]!r} as a number",
            column=col,
            fix="fix or remove the row; write NA for a missing value",
        )
    return values


def _chrom_codes(table: _Table, col: str) -> tuple[np.ndarray, np.ndarray]:
    """PLINK chromosome codes (n,) int64 (0 where missing) and the missing mask (n,)."""
    vals, miss = _text(table.frame[col])
    codes = np.zeros(len(vals), dtype=np.int64)
    if (~miss).any():
        uniq, inv = np.unique(vals[~miss].astype(str), return_inverse=True)
        mapped = np.zeros(len(uniq), dtype=np.int64)
        for j, u in enumerate(uniq):
            try:
                mapped[j] = normalize_chrom([u])[0]
            except InputError:
                i = int(np.flatnonzero(~miss)[np.flatnonzero(inv == j)[0]])
                raise table.error(
                    i,
                    f"unrecognised chromosome {str(u)!r}",
                    column=col,
                    fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
                ) from None
        codes[~miss] = mapped[inv]
    return codes, miss


def _fmt_n(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else repr(float(n))


# ---------------------------------------------------------------------------------------------
# The public reader


def read_sumstats(
    path: str | os.PathLike[str],
    *,
    n: float | None = None,
    fmt: str = "auto",
    keep_ambiguous: bool = False,
    min_info: float | None = 0.9,
    min_maf: float | None = 0.01,
    columns: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, QCReport]:
    """Read a GWAS summary-statistics file into signed z-scores with quality control.

    Parameters
    ----------
    path:
        Delimited text (tab, comma or whitespace; gzip recognised by its magic bytes, whatever the
        name) or parquet (``.parquet`` / ``.pq`` suffix, or parquet magic bytes).
    n:
        GWAS sample size for every variant. When given it overrides any N column; it is required
        when the file has no N (or NCASE + NCONTROL) column.
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
    InputError
        One line naming the file and the row or column: file missing, unreadable or empty; no SNP,
        allele, Z-deriving or sample-size column; a non-numeric value in a numeric column; an
        unknown chromosome; or every row dropped by QC.

    Notes
    -----
    Z is taken, in this order of preference, from a Z (or Z_STAT / T_STAT) column; BETA/SE;
    log(OR)/SE (or log(HR)/SE); or from P with the sign of BETA (or of log OR):
    ``|Z| = Phi^-1(1 - P/2) = sqrt(chi2_1.isf(P))``. N comes from ``n``, else an N column,
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
    if n is not None and not (np.isfinite(n) and n > 0):
        raise InputError(
            f"sample size must be a positive number, got {n!r}", column="n", fix="pass --n N"
        )
    path = Path(path)
    table = _read_table(path)
    file = table.file
    header = [str(c) for c in table.frame.columns]
    fmt_used = detect_format(header) if fmt == "auto" else fmt
    m = _resolve(header, fmt_used, columns, file)
    found = ", ".join(header)

    # -- what the file lacks
    if "SNP" not in m and not (fmt_used == "gwas-ssf" and ("SNP2" in m or {"CHR", "BP"} <= set(m))):
        raise InputError(
            f"no SNP identifier column (found: {found})",
            file=file,
            fix="name it SNP, RSID or MarkerName, or pass columns={'SNP': '<column>'}",
        )
    if "A1" not in m or ("A2" not in m and not _needs_other_allele(m)):
        which = "effect allele (A1)" if "A1" not in m else "other allele (A2)"
        raise InputError(
            f"no {which} column (found: {found})",
            file=file,
            fix="name the alleles A1/A2 (or EA/NEA, ALLELE1/ALLELE0), or pass columns=",
        )
    effect = next((k for k in ("BETA", "OR", "HR") if k in m), None)
    p_col = m.get("P", m.get("LOG10P"))
    if "Z" in m:
        z_source = "T_STAT" if _norm(m["Z"]).startswith("T") else "Z"
    elif effect is not None and "SE" in m:
        label = "LOG_ODDS" if effect == "BETA" and _norm(m["BETA"]) == "LOG_ODDS" else effect
        z_source = f"{label}/SE"
    elif effect is not None and p_col is not None:
        z_source = f"P+sign({effect})"
    else:
        why = "P without a signed effect (BETA or OR)" if p_col is not None else "no Z"
        raise InputError(
            f"cannot derive Z: {why}; need Z, BETA+SE, OR+SE or P+BETA (found: {found})",
            file=file,
            fix="add the missing column or map it with columns=",
        )
    if n is not None:
        n_source = f"--n {_fmt_n(n)}"
    elif "N" in m:
        n_source = f"column {m['N']}"
    elif "NCASE" in m and "NCONTROL" in m:
        n_source = f"{m['NCASE']}+{m['NCONTROL']}"
    else:
        raise InputError(
            f"no sample size: no N column and no NCASE+NCONTROL (found: {found})",
            file=file,
            fix="pass the GWAS sample size with --n",
        )

    dropped: dict[str, int] = {}
    # -- PLINK2 covariate rows
    if "TEST" in m:
        vals, _ = _text(table.frame[m["TEST"]], upper=True)
        add = vals == "ADD"
        n_read = len(add)
        dropped[R_TEST] = int((~add).sum())
        table = _Table(
            table.frame.loc[add].reset_index(drop=True),
            table.lines[add],
            parquet=table.parquet,
            file=file,
        )
    else:
        n_read = len(table.frame)
    if n_read == 0:
        raise InputError(
            "no data rows below the header", file=file, fix="give a file with variants"
        )
    rows = len(table.frame)
    frame = table.frame

    # -- parse
    num = {k: _number(table, m[k]) for k in _NUMERIC if k in m}
    if "LOG10P" in num and "P" not in m:
        num["P"] = 10.0 ** -num.pop("LOG10P")
    a1, miss_a1 = _text(frame[m["A1"]], upper=True)
    if "A2" in m:
        a2, miss_a2 = _text(frame[m["A2"]], upper=True)
    else:  # the one of REF/ALT that is not A1
        ref, miss_ref = _text(frame[m["REF"]], upper=True)
        alt, miss_alt = _text(frame[m["ALT"]], upper=True)
        a2 = np.where(a1 == alt, ref, np.where(a1 == ref, alt, ""))
        miss_a2 = (a2 == "") | np.where(a1 == alt, miss_ref, miss_alt)
    has_chr, has_bp = "CHR" in m, "BP" in m
    chrom, miss_chr = _chrom_codes(table, m["CHR"]) if has_chr else (None, np.zeros(rows, bool))
    bp = num.pop("BP") if has_bp else None
    miss_bp = np.zeros(rows, bool)
    if bp is not None:
        miss_bp = ~np.isfinite(bp)
        frac = np.isfinite(bp) & ((bp != np.floor(bp)) | (bp < 0))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise table.error(
                i,
                f"position {float(bp[i]):g} is not a whole number",
                column=m["BP"],
                fix="fix the row",
            )
    if "SNP" in m:
        snp, miss_snp = _text(frame[m["SNP"]])
    else:
        snp, miss_snp = np.full(rows, "", dtype=object), np.ones(rows, dtype=bool)
    if "SNP2" in m:
        snp2, miss_snp2 = _text(frame[m["SNP2"]])
        snp = np.where(miss_snp, snp2, snp)
        miss_snp = miss_snp & miss_snp2
    if has_chr and has_bp and miss_snp.any():
        fill = miss_snp & ~miss_chr & ~miss_bp
        if fill.any():
            snp = snp.copy()
            snp[fill] = [
                f"{chrom_label(c)}:{int(b)}" for c, b in zip(chrom[fill], bp[fill], strict=True)
            ]
            miss_snp = miss_snp & ~fill
    for k in ("AF1", "MAF"):
        if k in num:
            f = num[k]
            bad = np.isfinite(f) & ((f < 0) | (f > 1))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise table.error(
                    i,
                    f"allele frequency {float(f[i]):g} is outside [0, 1]",
                    column=m[k],
                    fix="map the frequency column with columns={'AF1': ...} or fix the row",
                )

    # -- N
    if n is not None:
        n_arr = np.full(rows, float(n))
    elif "N" in num:
        n_arr = num["N"]
    else:
        n_arr = num["NCASE"] + num["NCONTROL"]

    # -- inputs of Z
    if z_source in ("Z", "T_STAT"):
        z_inputs = [num["Z"]]
    elif "/SE" in z_source:
        z_inputs = [num[effect], num["SE"]]
    else:
        z_inputs = [num[effect], num["P"]]

    keep = np.ones(rows, dtype=bool)

    def drop(reason: str, mask: np.ndarray) -> None:
        hit = mask & keep
        dropped[reason] = dropped.get(reason, 0) + int(hit.sum())
        keep[hit] = False

    bad = miss_snp | miss_a1 | miss_a2 | miss_chr | miss_bp | ~np.isfinite(n_arr) | (n_arr <= 0)
    for x in z_inputs:
        bad |= ~np.isfinite(x)
    drop(R_MISSING, bad)
    se_used = "/SE" in z_source
    dropped[R_SE] = 0
    if se_used:
        drop(R_SE, num["SE"] <= 0)
    dropped[R_P] = 0
    if "P" in num:
        p = num["P"]
        if z_source.startswith("P+"):
            drop(R_P, (p <= 0) | (p > 1))
        else:
            drop(R_P, np.isfinite(p) & ((p < 0) | (p > 1)))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if z_source in ("Z", "T_STAT"):
            z = num["Z"].copy()
        elif z_source.startswith("P+"):
            eff = num[effect] if effect == "BETA" else np.log(num[effect])
            z = np.sign(eff) * stats.norm.isf(np.where(keep, num["P"], 0.5) / 2.0)
        elif effect == "BETA":
            z = num["BETA"] / num["SE"]
        else:
            z = np.log(num[effect]) / num["SE"]
    drop(R_MISSING, ~np.isfinite(z))

    snp_s = pd.Series(snp, dtype=object)
    dup = np.zeros(rows, bool)
    if keep.any():
        dup[keep] = snp_s[keep].duplicated(keep=False).to_numpy()
    drop(R_DUP, dup)

    def acgt(x: np.ndarray) -> np.ndarray:
        return pd.Series(x, dtype=object).isin(_ACGT).to_numpy()

    drop(R_ACGT, ~(acgt(a1) & acgt(a2)))
    drop(R_SAME, a1 == a2)
    dropped[R_MULTI] = 0
    if has_chr and has_bp and keep.any():
        key = chrom[keep] * np.int64(10_000_000_000) + bp[keep].astype(np.int64)
        k1, k2 = a1[keep], a2[keep]
        pair = np.where(k1 < k2, k1 + k2, k2 + k1)
        kinds = pd.DataFrame({"key": key, "pair": pair}).groupby("key")["pair"].transform("nunique")
        multi = np.zeros(rows, bool)
        multi[keep] = kinds.to_numpy() > 1
        drop(R_MULTI, multi)
    dropped[R_AMBIG] = 0
    if not keep_ambiguous:
        drop(R_AMBIG, pd.Series(a1 + a2, dtype=object).isin(_AMBIGUOUS).to_numpy())
    if min_info is not None:
        label = f"INFO < {min_info:g}"
        dropped[label] = 0
        if "INFO" in num:
            drop(label, num["INFO"] < min_info)
    if min_maf is not None:
        label = f"MAF < {min_maf:g}"
        dropped[label] = 0
        freq = num.get("AF1", num.get("MAF"))
        if freq is not None:
            drop(label, np.minimum(freq, 1.0 - freq) < min_maf)

    n_kept = int(keep.sum())
    report = QCReport(
        n_read=n_read,
        dropped=dropped,
        n_kept=n_kept,
        format=fmt_used,
        z_source=z_source,
        n_source=n_source,
        file=file,
    )
    if n_kept == 0:
        reasons = ", ".join(f"{r}: {k}" for r, k in dropped.items() if k)
        raise InputError(
            f"all {n_read} rows were dropped by quality control ({reasons})",
            file=file,
            fix="check the columns, or relax --min-info / --min-maf / use --keep-ambiguous",
        )

    out: dict[str, np.ndarray] = {}
    if has_chr:
        out["CHR"] = chrom[keep]
    out["SNP"] = snp[keep]
    if has_bp:
        out["BP"] = bp[keep].astype(np.int64)
    out["A1"] = a1[keep].astype(object)
    out["A2"] = a2[keep].astype(object)
    out["Z"] = z[keep].astype(np.float64)
    out["N"] = n_arr[keep].astype(np.float64)
    if "AF1" in num:
        out["AF1"] = num["AF1"][keep]
    if "INFO" in num:
        out["INFO"] = num["INFO"][keep]
    df = pd.DataFrame(out)
    for col in ("SNP", "A1", "A2"):
        df[col] = df[col].astype(str)
    return df, report
