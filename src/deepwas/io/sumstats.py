"""Reading GWAS summary statistics into the canonical z-score table.

This module owns the summary-statistic file formats (LDSC ``.sumstats``, fastGWA, PLINK2 ``--glm``,
BOLT-LMM, COJO ``.ma``, GWAS-SSF and generic delimited text or parquet), the derivation of one
signed z-score and one sample size per variant, and the row-level quality control, with a count per
reason in a :class:`QCReport`. Matching the result to an LD reference is
:mod:`deepwas.harmonize`'s job.

Decisions written down here
---------------------------
- Only the missing markers ``""``, ``NA``, ``N/A``, ``nan``, ``.``, ``NULL`` and ``None`` (any
  case) are missing values, which QC drops and counts; anything else that is not a number in a
  numeric column (``abc`` in ``BETA``) is an error naming its line. ``inf`` parses, and QC drops
  it as non-finite.
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
from deepwas.io.variants import chrom_codes, chrom_label, is_parquet

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
#
# The header is read first, so the columns are resolved (and a file missing a needed column is
# rejected) before the data are parsed. Numeric columns are parsed by pandas' C reader with only
# our missing markers as NA; a column that then is not numeric holds garbage somewhere and takes
# the slow path that finds the first bad row. Line numbers are worked out only for error messages.

# The spellings of the missing markers pandas turns into NaN while parsing (others of any case
# are caught by the slow path).
_NA_VALUES = sorted({v for m in _MISSING for v in (m, m.lower(), m.capitalize())})
# The four bases as small integer codes: complement is 3 - code, and A/T, C/G pairs sum to 3.
_BASE = {"A": 0, "C": 1, "G": 2, "T": 3}


@dataclass
class _Source:
    """A sumstats file with its header read."""

    path: Path
    file: str
    parquet: bool
    header: list[str]
    header_line: int = 1  # 1-based line of the header (text files)
    sep: str = "\t"
    positions: np.ndarray | None = None  # data row of each row left, once rows are dropped

    def line_of(self, i: int) -> int:
        """1-based file line of data row ``i`` (0-based, blank lines not counted)."""
        with open_text(self.path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                if line_no <= self.header_line or not raw.strip():
                    continue
                if i == 0:
                    return line_no
                i -= 1
        return -1  # not reached for a row that was read

    def error(self, i: int, message: str, *, column: str | None, fix: str) -> InputError:
        """An InputError pointing at row ``i`` of the rows left (see ``positions``)."""
        i = int(i if self.positions is None else self.positions[i])
        if self.parquet:
            return InputError(f"{message} (record {i + 1})", file=self.file, column=column, fix=fix)
        return InputError(message, file=self.file, row=self.line_of(i), column=column, fix=fix)


def _split_header(line: str, sep: str) -> list[str]:
    if sep == ",":
        return [h.strip() for h in next(csv.reader([line]))]
    if sep == "\t":
        return [h.strip() for h in line.split("\t")]
    return line.split()


def _cannot_read(file: str, e: BaseException) -> InputError:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return InputError(
        f"cannot read file: {msg}",
        file=file,
        fix="check it is an uncorrupted text, gzip or parquet file",
    )


def _open_source(path: Path) -> _Source:
    """Check the file and read its header."""
    file = str(path)
    if not path.exists():
        raise InputError("file not found", file=file, fix="check the path")
    if path.is_dir():
        raise InputError("is a folder, not a file", file=file, fix="give the sumstats file itself")
    try:
        if is_parquet(path):
            import pyarrow.parquet as pq

            names = [str(c) for c in pq.read_schema(path).names if not str(c).startswith("__")]
            if not names:
                raise InputError("file is empty", file=file, fix="give a non-empty sumstats file")
            return _Source(path, file, True, names)
        with open_text(path) as fh:
            header_line, header = 0, ""
            for raw in fh:
                header_line += 1
                if raw.strip() and not raw.startswith("##"):
                    header = raw.rstrip("\r\n")
                    break
    except InputError:
        raise
    except (OSError, UnicodeDecodeError, EOFError, ValueError) as e:
        raise _cannot_read(file, e) from None
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
    return _Source(path, file, False, names, header_line, sep)


def _read_frame(src: _Source, text_columns: set[str], used: list[str]) -> pd.DataFrame:
    """The data rows: ``text_columns`` as strings, other columns parsed as numbers if they can."""
    try:
        if src.parquet:
            return pd.read_parquet(src.path, columns=used).reset_index(drop=True)
        with open_text(src.path) as fh:
            for _ in range(src.header_line):
                fh.readline()
            try:
                return pd.read_csv(
                    fh,
                    sep=src.sep,
                    header=None,
                    names=src.header,
                    dtype={c: str for c in text_columns},
                    keep_default_na=False,
                    na_values=_NA_VALUES,
                    skip_blank_lines=True,
                    index_col=False,
                    low_memory=False,
                    engine="c",
                )
            except pd.errors.EmptyDataError:
                return pd.DataFrame({c: pd.Series([], dtype=str) for c in src.header})
            except pd.errors.ParserError as e:
                m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
                if m:
                    raise InputError(
                        f"row has {m.group(3)} fields but the header has {m.group(1)}",
                        file=src.file,
                        row=src.header_line + int(m.group(2)),
                        fix="make every row have one value per header column",
                    ) from None
                raise InputError(
                    f"cannot parse the table: {e}",
                    file=src.file,
                    fix="check the delimiter and quoting",
                ) from None
    except InputError:
        raise
    except (OSError, UnicodeDecodeError, EOFError, ValueError) as e:
        raise _cannot_read(src.file, e) from None


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
                for k in ("REF", "ALT", "OMITTED"):
                    mapping.pop(k, None)
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


def _text(series: pd.Series, *, upper: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Stripped strings (n,) ("" where missing) and the (n,) missing mask."""
    s = series.astype("str").str.strip()
    up = s.str.upper()
    miss = (s.isna() | up.isin(_MISSING)).to_numpy(dtype=bool)
    out = (up if upper else s).fillna("")
    if miss.any():
        out = out.mask(miss, "")
    return out.reset_index(drop=True), miss


def _bases(alleles: pd.Series) -> np.ndarray:
    """(n,) int8 code of a single-base allele (A=0, C=1, G=2, T=3), -1 for anything else."""
    codes, uniq = pd.factorize(alleles)
    table = np.array([_BASE.get(u, -1) for u in uniq] + [-1], dtype=np.int8)
    return table[codes]  # code -1 (missing) picks the trailing -1


def _number(src: _Source, frame: pd.DataFrame, col: str) -> np.ndarray:
    """Parse a column to float64 (n,); missing markers -> NaN, anything else -> InputError."""
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype):
        raise src.error(0, "expected numbers, found true/false", column=col, fix="fix the column")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    s = series.astype("str").str.strip()
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    miss = (s.isna() | s.str.upper().isin(_MISSING)).to_numpy(dtype=bool)
    bad = np.isnan(values) & ~miss
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.error(
            i,
            f"cannot parse {s.iloc[i]!r} as a number",
            column=col,
            fix="fix or remove the row; write NA for a missing value",
        )
    return values


def _chrom_codes(src: _Source, frame: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """PLINK chromosome codes (n,) int64 (0 where missing) and the (n,) missing mask."""
    series = frame[col]
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        miss = np.isnan(values)
        ok = miss | ((values >= 1) & (values <= 26) & (values == np.floor(values)))
        if ok.all():
            return np.where(miss, 0, values).astype(np.int64), miss
    text, miss = _text(series)
    codes = chrom_codes(text.mask(miss))  # 0 where missing or unrecognised
    bad = (codes == 0) & ~miss
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise src.error(
            i,
            f"unrecognised chromosome {text.iloc[i]!r}",
            column=col,
            fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
        )
    return codes, miss


def _fmt_n(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else repr(float(n))


# ---------------------------------------------------------------------------------------------
# The steps of read_sumstats: what to read, parse, derive Z, quality control, the output table


@dataclass(frozen=True)
class _Plan:
    """What a read uses, decided from the header alone.

    ``m`` maps canonical names to file columns (see :func:`_resolve`); ``effect`` is the signed
    effect column among BETA/OR/HR (None if none); ``numeric`` and ``text_keys`` are the canonical
    columns parsed as numbers and as text; ``used`` the file columns read.
    """

    m: dict[str, str]
    z_source: str
    effect: str | None
    n_source: str
    numeric: list[str]
    text_keys: list[str]
    used: list[str]


def _plan_columns(
    header: list[str], fmt: str, m: dict[str, str], file: str, n: float | None
) -> _Plan:
    """Check that the resolved columns ``m`` can give SNP, alleles, Z and N; choose the columns.

    Raises
    ------
    InputError
        No SNP identifier, no effect or other allele, no way to derive Z, or no sample size,
        each naming the columns found.
    """
    found = ", ".join(header)
    ssf_ids = fmt == "gwas-ssf" and ("SNP2" in m or {"CHR", "BP"} <= set(m))
    if "SNP" not in m and not ssf_ids:
        raise InputError(
            f"no SNP identifier column (found: {found})",
            file=file,
            fix="name it SNP, RSID or MarkerName, or pass columns={'SNP': '<column>'}",
        )
    other_from_ref_alt = "A2" not in m and "REF" in m and "ALT" in m
    if "A1" not in m or ("A2" not in m and not other_from_ref_alt):
        which = "effect allele (A1)" if "A1" not in m else "other allele (A2)"
        raise InputError(
            f"no {which} column (found: {found})",
            file=file,
            fix="name the alleles A1/A2 (or EA/NEA, ALLELE1/ALLELE0), or pass columns=",
        )
    effect = next((k for k in ("BETA", "OR", "HR") if k in m), None)
    has_p = "P" in m or "LOG10P" in m
    if "Z" in m:
        z_source = "T_STAT" if _norm(m["Z"]).startswith("T") else "Z"
    elif effect is not None and "SE" in m:
        label = "LOG_ODDS" if effect == "BETA" and _norm(m["BETA"]) == "LOG_ODDS" else effect
        z_source = f"{label}/SE"
    elif effect is not None and has_p:
        z_source = f"P+sign({effect})"
    else:
        why = "P without a signed effect (BETA or OR)" if has_p else "no Z"
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
    wanted = {"BP", "AF1", "MAF", "INFO", "P", "LOG10P"}
    if z_source in ("Z", "T_STAT"):
        wanted.add("Z")
    else:
        wanted |= {effect, "SE"}
    if n is None:
        wanted |= {"N", "NCASE", "NCONTROL"} if "N" not in m else {"N"}
    numeric = [k for k in _NUMERIC if k in m and k in wanted]
    text_keys = [k for k in ("SNP", "SNP2", "A1", "A2", "REF", "ALT", "OMITTED", "TEST") if k in m]
    used = list(
        dict.fromkeys([m[k] for k in (*text_keys, *numeric)] + ([m["CHR"]] if "CHR" in m else []))
    )
    return _Plan(m, z_source, effect, n_source, numeric, text_keys, used)


@dataclass
class _Columns:
    """The parsed columns of the rows left after the TEST filter, each (rows,), with missing masks.

    ``num`` holds the numeric columns of the plan (``LOG10P`` turned into ``P``; ``BP`` taken
    out); ``chrom`` is 0 and ``bp`` 0.0 where the file has no such column; ``n`` is the sample
    size of every row.
    """

    num: dict[str, np.ndarray]
    snp: pd.Series
    miss_snp: np.ndarray
    a1: pd.Series
    miss_a1: np.ndarray
    a2: pd.Series
    miss_a2: np.ndarray
    chrom: np.ndarray
    miss_chr: np.ndarray
    bp: np.ndarray
    miss_bp: np.ndarray
    n: np.ndarray
    has_chr: bool
    has_bp: bool


def _parse_columns(src: _Source, frame: pd.DataFrame, plan: _Plan, n: float | None) -> _Columns:
    """Parse the columns of ``frame`` (rows left after the TEST filter) as the plan says.

    The other allele of REF/ALT files is the one that is not A1; a missing SNP ID falls back to
    SNP2 (GWAS-SSF ``variant_id``), then to ``CHR:BP``. N is ``n``, else N, else NCASE + NCONTROL.

    Raises
    ------
    InputError
        A non-numeric value in a numeric column, an unknown chromosome, a position that is not a
        whole number >= 0, or an allele frequency outside [0, 1], naming the row.
    """
    m = plan.m
    rows = len(frame)
    num = {k: _number(src, frame, m[k]) for k in plan.numeric}
    if "LOG10P" in num:
        log10p = num.pop("LOG10P")
        if "P" not in num:
            num["P"] = 10.0**-log10p
    a1, miss_a1 = _text(frame[m["A1"]], upper=True)
    if "A2" in m:
        a2, miss_a2 = _text(frame[m["A2"]], upper=True)
    else:  # the one of REF/ALT that is not A1
        ref, miss_ref = _text(frame[m["REF"]], upper=True)
        alt, miss_alt = _text(frame[m["ALT"]], upper=True)
        is_alt = (a1 == alt).to_numpy(dtype=bool) & ~miss_alt
        is_ref = (a1 == ref).to_numpy(dtype=bool) & ~miss_ref
        a2 = ref.where(is_alt, alt.where(is_ref, ""))
        miss_a2 = ~(is_alt & ~miss_ref) & ~(is_ref & ~miss_alt)
    has_chr, has_bp = "CHR" in m, "BP" in m
    if has_chr:
        chrom, miss_chr = _chrom_codes(src, frame, m["CHR"])
    else:
        chrom, miss_chr = np.zeros(rows, np.int64), np.zeros(rows, bool)
    bp = num.pop("BP") if has_bp else np.zeros(rows)
    miss_bp = ~np.isfinite(bp)
    frac = ~miss_bp & ((bp != np.floor(bp)) | (bp < 0))
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise src.error(
            i,
            f"position {float(bp[i]):g} is not a whole number >= 0",
            column=m["BP"],
            fix="fix the row",
        )
    if "SNP" in m:
        snp, miss_snp = _text(frame[m["SNP"]])
    else:
        snp, miss_snp = pd.Series([""] * rows, dtype="str"), np.ones(rows, dtype=bool)
    if "SNP2" in m and miss_snp.any():
        snp2, miss_snp2 = _text(frame[m["SNP2"]])
        snp = snp.where(~miss_snp, snp2)
        miss_snp = miss_snp & miss_snp2
    fill = miss_snp & has_chr & has_bp & ~miss_chr & ~miss_bp
    if fill.any():  # an ID from CHR:BP where the file has none
        labels = [f"{chrom_label(c)}:{int(b)}" for c, b in zip(chrom[fill], bp[fill], strict=True)]
        snp = snp.copy()
        snp[fill] = labels
        miss_snp = miss_snp & ~fill
    for k in ("AF1", "MAF"):
        if k in num:
            f = num[k]
            bad = np.isfinite(f) & ((f < 0) | (f > 1))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise src.error(
                    i,
                    f"allele frequency {float(f[i]):g} is outside [0, 1]",
                    column=m[k],
                    fix="map the frequency column with columns={'AF1': ...} or fix the row",
                )
    if n is not None:
        n_arr = np.full(rows, float(n))
    elif "N" in num:
        n_arr = num["N"]
    else:
        n_arr = num["NCASE"] + num["NCONTROL"]
    return _Columns(
        num, snp, miss_snp, a1, miss_a1, a2, miss_a2, chrom, miss_chr, bp, miss_bp, n_arr,
        has_chr, has_bp,
    )  # fmt: skip


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
    src = _open_source(Path(path))
    file, header = src.file, src.header
    fmt_used = detect_format(header) if fmt == "auto" else fmt
    m = _resolve(header, fmt_used, columns, file)
    plan = _plan_columns(header, fmt_used, m, file, n)  # what the file lacks, before the data
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

    cols = _parse_columns(src, frame, plan, n)
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
