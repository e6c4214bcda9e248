"""LD windows: the scored set and the context of each window (DESIGN 2).

This module owns reading LD-block files (:func:`read_blocks`) and cutting a sorted variant table
into windows (:func:`make_windows`). A window has a *scored* set W (the scored sets of all windows
partition the variants) and a *context* C, W plus the variants within ``flank_kb`` of the window on
the same chromosome. Both are contiguous ranges of row positions of the (sorted) variant table,
so a window is described by six integers; the result has the columns of ``windows.parquet``
(docs/ld_store.md) except ``rank``, which the LD store fills in.

Decisions
---------
- A block ``[start, stop)`` scores the variants with ``start <= BP < stop`` on its chromosome,
  taking block coordinates as given (the Berisa & Pickrell files are used this way by LDSC-style
  tools; a one-base offset at block edges does not matter for approximately independent blocks).
- A variant outside every block joins the **nearest** block on its chromosome (distance to the
  block's first or last base; a tie goes to the block on the left), and that block's
  ``start``/``stop`` are widened to cover it, so that ``[start, stop)`` always contains the scored
  set and windows stay disjoint and ordered. Losing such variants instead would silently drop
  them from training; variants beyond the telomeric blocks are the usual case.
- A chromosome of the variants with no block at all is an error (blocks of another genome build
  or another panel are the usual cause).
- Blocks that score no variant are dropped; windows are numbered 0.. in (CHR, start) order.
- Fixed windows (``window_kb``) are consecutive ``window_kb``-sized intervals per chromosome,
  starting at the chromosome's first variant; empty intervals are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deepwas._files import open_text
from deepwas.errors import InputError
from deepwas.io.variants import chrom_code

__all__ = ["read_blocks", "make_windows", "WINDOW_COLUMNS"]

#: Columns of :func:`make_windows`' result (``windows.parquet`` adds ``rank``).
WINDOW_COLUMNS = [
    "window",
    "CHR",
    "start",
    "stop",
    "scored_first",
    "scored_stop",
    "context_first",
    "context_stop",
    "n_scored",
    "n_context",
]

_FIX_BLOCKS = "give a BED-like file with columns chr start stop (e.g. Berisa.EUR.hg19.bed)"


def read_blocks(path: str | Path) -> pd.DataFrame:
    """Read LD-block boundaries.

    Parameters
    ----------
    path:
        Whitespace-separated ``chr start stop`` per line (further columns ignored), an optional
        header line (``chr start stop``), ``#`` comments allowed; ``.gz`` accepted. Chromosomes
        as ``chr1`` or ``1``.

    Returns
    -------
    blocks: pandas.DataFrame, (n_blocks, 3)
        ``CHR`` (int64, PLINK code), ``start``, ``stop`` (int64, bp, half-open), sorted by CHR
        and start. ``blocks.attrs["path"]`` records the file.

    Raises
    ------
    InputError
        Naming the file and line of a malformed row, a block with ``stop <= start``, or two
        overlapping blocks.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("LD-block file not found", file=path, fix=_FIX_BLOCKS)
    chroms: list[int] = []
    starts: list[int] = []
    stops: list[int] = []
    lines: list[int] = []
    with open_text(path) as fh:
        first = True
        for lineno, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.split()
            if first and len(fields) >= 3 and fields[1].lower() in ("start", "begin", "chromstart"):
                first = False
                continue  # header
            first = False
            if len(fields) < 3:
                raise InputError(
                    f"expected 3 columns (chr start stop), found {len(fields)}",
                    file=path,
                    row=lineno,
                    fix=_FIX_BLOCKS,
                )
            code = chrom_code(fields[0])
            if not code:
                raise InputError(
                    f"unrecognised chromosome {fields[0]!r}",
                    file=path,
                    row=lineno,
                    column="chr",
                    fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
                )
            try:
                start, stop = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputError(
                    f"start/stop {fields[1]!r} {fields[2]!r} are not integers",
                    file=path,
                    row=lineno,
                    fix=_FIX_BLOCKS,
                ) from None
            if start < 0 or stop <= start:
                raise InputError(
                    f"block [{start}, {stop}) is empty or negative",
                    file=path,
                    row=lineno,
                    fix="each block needs 0 <= start < stop",
                )
            chroms.append(code)
            starts.append(start)
            stops.append(stop)
            lines.append(lineno)
    if not chroms:
        raise InputError("no LD blocks in file", file=path, fix=_FIX_BLOCKS)
    blocks = pd.DataFrame(
        {
            "CHR": np.asarray(chroms, dtype=np.int64),
            "start": np.asarray(starts, dtype=np.int64),
            "stop": np.asarray(stops, dtype=np.int64),
            "_line": np.asarray(lines, dtype=np.int64),
        }
    )
    blocks = blocks.sort_values(["CHR", "start"], kind="mergesort").reset_index(drop=True)
    same = blocks["CHR"].to_numpy()[1:] == blocks["CHR"].to_numpy()[:-1]
    overlap = same & (blocks["start"].to_numpy()[1:] < blocks["stop"].to_numpy()[:-1])
    if overlap.any():
        i = int(np.flatnonzero(overlap)[0])
        raise InputError(
            f"block overlaps the block on line {int(blocks['_line'].iloc[i])}",
            file=path,
            row=int(blocks["_line"].iloc[i + 1]),
            fix="LD blocks must not overlap",
        )
    blocks = blocks.drop(columns="_line")
    blocks.attrs["path"] = str(path)
    return blocks


def _check_sorted(variants: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("CHR", "BP") if c not in variants.columns]
    if missing:
        raise InputError(f"variant table lacks columns {missing}", column=missing[0])
    chrom = variants["CHR"].to_numpy(dtype=np.int64)
    bp = variants["BP"].to_numpy(dtype=np.int64)
    if chrom.size > 1:
        dc = np.diff(chrom)
        bad = (dc < 0) | ((dc == 0) & (np.diff(bp) < 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0]) + 1
            raise InputError(
                f"variants are not sorted by CHR, BP (row {i} at {chrom[i]}:{bp[i]} comes after "
                f"{chrom[i - 1]}:{bp[i - 1]})",
                column="variants",
                fix="sort the variant table by CHR then BP",
            )
    return chrom, bp


def _assign_blocks(bp: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Index of the block scoring each position: the block containing it, else the nearest."""
    j = np.searchsorted(starts, bp, side="right") - 1  # last block starting at or before bp
    inside = (j >= 0) & (bp < stops[np.clip(j, 0, None)])
    left = np.clip(j, 0, None)
    right = np.clip(j + 1, None, starts.size - 1)
    d_left = np.where(j >= 0, bp - (stops[left] - 1), np.inf)
    d_right = np.where(j + 1 < starts.size, starts[right] - bp, np.inf)
    nearest = np.where(d_left <= d_right, left, right)
    return np.where(inside, j, nearest)


def make_windows(
    variants: pd.DataFrame,
    *,
    blocks: pd.DataFrame | None = None,
    window_kb: float | None = None,
    flank_kb: float = 1000.0,
) -> pd.DataFrame:
    """Cut sorted variants into windows with a scored set and a flanked context.

    Parameters
    ----------
    variants: pandas.DataFrame, (n_variants, >=2)
        With ``CHR`` and ``BP``, sorted by CHR then BP. Row positions are the store indices.
    blocks: pandas.DataFrame, (n_blocks, 3), optional
        ``CHR start stop`` as from :func:`read_blocks`.
    window_kb:
        Fixed window width in kb, instead of ``blocks``.
    flank_kb:
        The context extends this far (kb) beyond each side of the window: variants with
        ``start - flank <= BP < stop + flank`` on the window's chromosome.

    Returns
    -------
    windows: pandas.DataFrame, (n_windows, 10)
        Columns :data:`WINDOW_COLUMNS` (int64): ``window`` number, ``CHR``, ``start``, ``stop``
        (bp, half-open), ``scored_first``/``scored_stop`` and ``context_first``/``context_stop``
        (half-open row ranges), ``n_scored``, ``n_context``.

    Raises
    ------
    InputError
        If not exactly one of ``blocks``/``window_kb`` is given, a size is not positive, the
        variants are not sorted, or a chromosome has no block.

    Notes
    -----
    See the module docstring for variants outside every block and for empty blocks.
    """
    if (blocks is None) == (window_kb is None):
        raise InputError(
            "give exactly one of blocks and window_kb",
            column="blocks",
            fix="choose one way to cut windows",
        )
    if not np.isfinite(flank_kb) or flank_kb < 0:
        raise InputError(f"flank_kb must be >= 0, got {flank_kb}", column="flank_kb")
    if window_kb is not None and not (np.isfinite(window_kb) and window_kb > 0):
        raise InputError(f"window_kb must be > 0, got {window_kb}", column="window_kb")
    chrom, bp = _check_sorted(variants)
    flank = int(round(flank_kb * 1000))
    rows: list[tuple[int, ...]] = []
    chrom_values, chrom_first = np.unique(chrom, return_index=True)
    bounds = list(chrom_first) + [chrom.size]
    for c, (lo, hi) in zip(chrom_values, zip(bounds[:-1], bounds[1:], strict=True), strict=True):
        pos = bp[lo:hi]
        if blocks is not None:
            b = blocks[blocks["CHR"] == c]
            if b.empty:
                raise InputError(
                    f"no LD block on chromosome {c}, which has {hi - lo} variants",
                    column="blocks",
                    fix="use blocks of the panel's genome build, or restrict the chromosomes",
                )
            starts = b["start"].to_numpy(dtype=np.int64)
            stops = b["stop"].to_numpy(dtype=np.int64)
            order = np.argsort(starts, kind="mergesort")
            starts, stops = starts[order], stops[order]
            which = _assign_blocks(pos, starts, stops)
        else:
            width = max(1, int(round(window_kb * 1000)))
            which = (pos - pos[0]) // width
            starts = pos[0] + width * np.arange(int(which[-1]) + 1, dtype=np.int64)
            stops = starts + width
        # which is non-decreasing (positions sorted, blocks disjoint and ordered)
        ids, first = np.unique(which, return_index=True)
        last = np.append(first[1:], pos.size)
        for k, f, s in zip(ids, first, last, strict=True):
            w_start = int(min(starts[k], pos[f]))
            w_stop = int(max(stops[k], pos[s - 1] + 1))
            c_first = int(np.searchsorted(pos, w_start - flank, side="left"))
            c_stop = int(np.searchsorted(pos, w_stop + flank, side="left"))
            rows.append(
                (int(c), w_start, w_stop, lo + int(f), lo + int(s), lo + c_first, lo + c_stop)
            )
    out = pd.DataFrame(
        rows,
        columns=WINDOW_COLUMNS[1:8],  # CHR .. context_stop; window and counts added below
        dtype=np.int64,
    )
    out.insert(0, "window", np.arange(len(out), dtype=np.int64))
    out["n_scored"] = out["scored_stop"] - out["scored_first"]
    out["n_context"] = out["context_stop"] - out["context_first"]
    return out[WINDOW_COLUMNS].astype(np.int64)
