"""Reading and parsing a summary-statistics table: the header, the data rows, numbers, alleles,
chromosomes and positions, with errors naming the file line (or parquet record).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepwas._files import is_parquet, open_text
from deepwas.errors import InputError
from deepwas.io.sumstats.columns import _Plan
from deepwas.io.variants import chrom_codes, chrom_label

# The missing markers (any case): QC drops and counts them; other non-numbers are errors.
_MISSING = frozenset({"", "NA", "N/A", "NAN", ".", "NULL", "NONE"})

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


def _parse_columns(
    src: _Source, frame: pd.DataFrame, plan: _Plan, n_gwas: float | None
) -> _Columns:
    """Parse the columns of ``frame`` (rows left after the TEST filter) as the plan says.

    The other allele of REF/ALT files is the one that is not A1; a missing SNP ID falls back to
    SNP2 (GWAS-SSF ``variant_id``), then to ``CHR:BP``. N is ``n_gwas``, else N, else NCASE +
    NCONTROL.

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
    if n_gwas is not None:
        n_arr = np.full(rows, float(n_gwas))
    elif "N" in num:
        n_arr = num["N"]
    else:
        n_arr = num["NCASE"] + num["NCONTROL"]
    return _Columns(
        num, snp, miss_snp, a1, miss_a1, a2, miss_a2, chrom, miss_chr, bp, miss_bp, n_arr,
        has_chr, has_bp,
    )  # fmt: skip
