"""The on-disk LD store (docs/ld_store.md, format version 2; version 1 stores are read too).

This module owns the store format: writing a store from LD matrices (:func:`write_store`) and
reading one back (:class:`LDStore`, :class:`LDWindow`). Builders live beside it: from a reference
panel in :mod:`deepwas.ld.build`, from UK Biobank LD files in :mod:`deepwas.ld.ukbb`. A store is
a folder with a manifest, the variant and window tables, and per window the float32 LD of its
context and the float64 eigen precomputation of DESIGN 2.1, computed from the float32 matrix as
stored so that it is exact for what a reader loads. Everything is written inside
:func:`deepwas._files.atomic_dir`: an error leaves no folder behind (or the old store untouched).

Memory: :func:`write_store` consumes the LD matrices one window at a time.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from deepwas.errors import InputError, NumericalError, StoreError
from deepwas.io.variants import chrom_label
from deepwas.ld.windows import WINDOW_COLUMNS
from deepwas.linalg.eigen import eigen_precompute

__all__ = ["STORE_FORMAT", "STORE_VERSION", "write_store", "LDStore", "LDWindow"]

STORE_FORMAT = "deepwas-ld-store"
STORE_VERSION = 2

_FIX_REBUILD = "rebuild it with `deepwas ld`"
_STORE_VARIANT_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2", "AF1", "CM"]
_WINDOW_FILES = ("R.npy", "eigvals.npy", "eigvecs.npy", "G.npy")
_SYMMETRY_ATOL = 1e-5
_DIAG_ATOL = 1e-4


def _window_dir(root: Path, i: int) -> Path:
    return root / "windows" / f"{i:05d}"


def _window_name(i: int, row: pd.Series | dict) -> str:
    return f"window {i} (chr{chrom_label(int(row['CHR']))}:{int(row['start'])}-{int(row['stop'])})"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _store_variants(variants: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("CHR", "SNP", "BP", "A1", "A2") if c not in variants.columns]
    if missing:
        raise InputError(f"variant table lacks columns {missing}", column=missing[0])
    out = pd.DataFrame(
        {
            "CHR": variants["CHR"].to_numpy(dtype=np.int64),
            "SNP": variants["SNP"].astype(str).to_numpy(dtype=object),
            "BP": variants["BP"].to_numpy(dtype=np.int64),
            "A1": variants["A1"].astype(str).to_numpy(dtype=object),
            "A2": variants["A2"].astype(str).to_numpy(dtype=object),
            "AF1": (
                variants["AF1"].to_numpy(dtype=np.float64)
                if "AF1" in variants
                else np.full(len(variants), np.nan)
            ),
            "CM": (
                variants["CM"].to_numpy(dtype=np.float64)
                if "CM" in variants
                else np.full(len(variants), np.nan)
            ),
        }
    )
    return out


def _check_windows(windows: pd.DataFrame, n_variants: int, *, file: Path | None = None) -> None:
    """Raise if the windows are not a valid partition with contiguous contexts."""
    err = StoreError if file is not None else InputError
    fix = _FIX_REBUILD if file is not None else "build windows with deepwas.ld.windows.make_windows"
    missing = [c for c in WINDOW_COLUMNS if c not in windows.columns]
    if missing:
        raise err(f"window table lacks columns {missing}", file=file, column=missing[0], fix=fix)
    sf = windows["scored_first"].to_numpy(dtype=np.int64)
    ss = windows["scored_stop"].to_numpy(dtype=np.int64)
    cf = windows["context_first"].to_numpy(dtype=np.int64)
    cs = windows["context_stop"].to_numpy(dtype=np.int64)
    ok = (
        len(windows) > 0
        and sf[0] == 0
        and ss[-1] == n_variants
        and np.array_equal(sf[1:], ss[:-1])
        and bool(np.all(ss > sf))
        and bool(np.all((cf <= sf) & (cs >= ss)))
        and np.array_equal(windows["window"].to_numpy(), np.arange(len(windows)))
        and np.array_equal(windows["n_scored"].to_numpy(), ss - sf)
        and np.array_equal(windows["n_context"].to_numpy(), cs - cf)
    )
    if not ok:
        raise err(
            f"windows do not partition the {n_variants} variants into non-empty scored sets "
            "inside their contexts",
            file=file,
            fix=fix,
        )


def _validate_R(R: np.ndarray, n_context: int, name: str) -> np.ndarray:
    """Check an incoming LD matrix; return it symmetrised with a unit diagonal, as float32."""
    R = np.asarray(R)
    if R.shape != (n_context, n_context):
        raise NumericalError(
            f"{name}: LD matrix has shape {R.shape}, expected ({n_context}, {n_context})",
            fix="yield one (n_context, n_context) matrix per window, in window order",
        )
    if not np.all(np.isfinite(R)):
        bad = np.argwhere(~np.isfinite(R))[0]
        raise NumericalError(
            f"{name}: LD matrix has a non-finite entry at ({bad[0]}, {bad[1]})",
            fix="remove monomorphic variants (raise --min-maf) or check the LD input",
        )
    R = np.asarray(R, dtype=np.float64)
    asym = float(np.max(np.abs(R - R.T))) if n_context else 0.0
    if asym > _SYMMETRY_ATOL:
        raise NumericalError(
            f"{name}: LD matrix is not symmetric (max |R - R^T| = {asym:.3g})",
            fix="check the LD input",
        )
    diag = np.diagonal(R)
    dev = float(np.max(np.abs(diag - 1.0))) if n_context else 0.0
    if dev > _DIAG_ATOL:
        raise NumericalError(
            f"{name}: LD matrix diagonal is not 1 (max |R_ii - 1| = {dev:.3g})",
            fix="give correlations, not covariances",
        )
    R32 = ((R + R.T) * 0.5).astype(np.float32)
    np.fill_diagonal(R32, 1.0)
    return R32


def write_store(
    path: str | Path,
    variants: pd.DataFrame,
    windows: pd.DataFrame,
    ld_matrices: Iterable[np.ndarray],
    *,
    source: dict,
    window_params: dict,
    ld_params: dict,
    eig_rtol: float = 1e-6,
    var_explained: float | None = None,
    provenance: dict | None = None,
    progress: bool = True,
) -> LDStore:
    """Write an LD store folder (docs/ld_store.md), atomically.

    Parameters
    ----------
    path:
        The store folder; an existing store there is replaced only once the new one is complete.
    variants: pandas.DataFrame, (n_variants, >=5)
        ``CHR SNP BP A1 A2`` (+ ``AF1``, ``CM``), sorted by CHR, BP: the store order.
    windows: pandas.DataFrame, (n_windows, 10)
        As from :func:`deepwas.ld.windows.make_windows` on ``variants``.
    ld_matrices: iterable of (n_context, n_context) arrays, or of (array, DirectionScales) pairs
        Each window's LD, in window order, with the panel's cross-validated direction scales
        when the genotypes are at hand (:func:`deepwas.ld.mismatch.cv_direction_scales`). May be
        a generator: only one is held at a time.
    source, window_params, ld_params:
        Recorded in ``manifest.json`` under ``source``, ``windows`` and ``ld``.
    eig_rtol, var_explained:
        Passed to :func:`deepwas.linalg.eigen.eigen_precompute`.
    provenance:
        Recorded under ``provenance``; defaults to :func:`deepwas.provenance.provenance`.
    progress:
        Show a progress bar (on a terminal).

    Returns
    -------
    LDStore
        The written store, opened.

    Raises
    ------
    NumericalError
        If a matrix has the wrong shape, a non-finite entry, is not symmetric (1e-5), has a
        diagonal off 1 (1e-4), or is not positive semi-definite; the message names the window.
    InputError
        If the variant or window tables are malformed, or the number of matrices is not the
        number of windows.

    Notes
    -----
    Each matrix is stored symmetrised with an exact unit diagonal as float32; ``eigen_precompute``
    runs in float64 on that float32 matrix, and each window's ``rank`` is recorded.
    """
    from deepwas.provenance import provenance as _provenance

    path = Path(path)
    store_variants = _store_variants(variants)
    windows = windows.reset_index(drop=True)
    _check_windows(windows, len(store_variants))
    windows = windows[WINDOW_COLUMNS].astype(np.int64).copy()
    n_windows = len(windows)
    ranks = np.zeros(n_windows, dtype=np.int64)
    n_scaled = 0
    method: dict = {}  # how the direction scales were made (DirectionScales.method)
    record = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "n_variants": int(len(store_variants)),
        "n_windows": int(n_windows),
        "source": dict(source),
        "windows": dict(window_params),
        "ld": {**ld_params, "dtype": "float32"},
        "eigen": {"eig_rtol": float(eig_rtol), "var_explained": var_explained},
        "provenance": provenance if provenance is not None else _provenance(),
    }
    from deepwas._files import atomic_dir

    with atomic_dir(path) as tmp:
        store_variants.to_parquet(tmp / "variants.parquet", index=False)
        matrices = iter(ld_matrices)
        bar = tqdm(
            total=n_windows, desc="LD windows", unit="window", disable=None if progress else True
        )
        try:
            for i, row in enumerate(windows.itertuples(index=False)):
                row_d = row._asdict()
                name = _window_name(i, row_d)
                try:
                    item = next(matrices)
                except StopIteration:
                    raise InputError(
                        f"got {i} LD matrices for {n_windows} windows", column="ld_matrices"
                    ) from None
                R, scales = item if isinstance(item, tuple) else (item, None)
                R32 = _validate_R(R, int(row.n_context), name)
                del R, item
                mask = np.zeros(int(row.n_context), dtype=bool)
                mask[row.scored_first - row.context_first : row.scored_stop - row.context_first] = (
                    True
                )
                eig = eigen_precompute(
                    R32.astype(np.float64),
                    mask,
                    eig_rtol=eig_rtol,
                    var_explained=var_explained,
                    window=name,
                )
                d = _window_dir(tmp, i)
                d.mkdir(parents=True)
                np.save(d / "R.npy", R32)
                np.save(d / "eigvals.npy", eig.lam)
                np.save(d / "eigvecs.npy", eig.U)
                np.save(d / "G.npy", eig.G)
                if scales is not None:
                    np.save(d / "scales.npy", scales.as_array())
                    n_scaled += 1
                    method = method or scales.method()
                ranks[i] = eig.rank
                bar.update(1)
        finally:
            bar.close()
        extra = next(matrices, None)
        if extra is not None:
            raise InputError(
                f"got more LD matrices than the {n_windows} windows", column="ld_matrices"
            )
        if n_scaled and n_scaled != n_windows:
            raise InputError(
                f"direction scales for {n_scaled} of {n_windows} windows", column="ld_matrices"
            )
        if n_scaled:
            from deepwas.ld.mismatch import DEFAULT_FOLDS, GRID

            record["mismatch"] = {
                "method": "cross-validated direction scales",
                "folds": DEFAULT_FOLDS,
                "grid": len(GRID),
                **method,
            }
        windows["rank"] = ranks
        windows.to_parquet(tmp / "windows.parquet", index=False)
        with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=_json_default)
            fh.write("\n")
    return LDStore.open(path)


_DROP_LABELS = {
    "n_variants_other_chroms": "other chromosomes",
    "n_dropped_zero_variance": "zero variance",
    "n_dropped_maf": "MAF below min",
    "n_dropped_duplicate_id": "duplicate ID",
    "n_dropped_duplicate_position": "duplicate position",
}


def _filter_lines(source: dict) -> list[str]:
    """The build report's variant and sample counts, from what ``manifest["source"]`` has
    (older stores and other builders record fewer counts; absent ones are left out)."""
    if "n_variants_input" not in source:
        return []
    dropped = [
        f"{_DROP_LABELS.get(k, k.removeprefix('n_dropped_').replace('_', ' '))} {v:,}"
        for k, v in source.items()
        if (k in _DROP_LABELS or k.startswith("n_dropped_")) and isinstance(v, int)
    ]
    kept = source.get("n_variants_kept")
    lines = [
        f"  filters: {source['n_variants_input']:,} variants in, "
        + (f"{kept:,} kept" if isinstance(kept, int) else "? kept")
        + ("; dropped: " + ", ".join(dropped) if dropped else "")
    ]
    if "n_duplicate_samples" in source:
        lines.append(
            f"  samples: {source['n_duplicate_samples']:,} duplicated (same genotypes as an "
            f"earlier sample), {source.get('n_samples_no_calls', 0):,} without calls; all kept"
        )
    return lines


_NPY_HEADER = re.compile(
    r"\{'descr': '(?P<descr>[<>|=]?[a-zA-Z]\d*)', 'fortran_order': (?P<fortran>True|False), "
    r"'shape': \((?P<shape>[\d, ]*)\), \}"
)
_NPY_LOCK = threading.Lock()


def open_npy(path: Path) -> np.ndarray:
    """A read-only memory map of a ``.npy`` file, safe in any thread.

    ``np.load`` parses the header with ``ast.literal_eval``, and CPython 3.11's AST constructor
    keeps its recursion depth in interpreter-wide state (gh-106905): two threads parsing at once
    can fail with ``SystemError: AST constructor recursion depth mismatch``. Window arrays are
    opened by the projection threads (:func:`deepwas.parallel.map_windows`) and the batch
    reader (:func:`deepwas.parallel.prefetch`) while the main thread may be importing modules that
    parse source, so the header of a plain array (what the store writes) is read here without
    ``ast``; anything else goes through ``np.load`` under a lock.
    """
    with open(path, "rb") as fh:
        magic = fh.read(8)
        if magic[:6] == b"\x93NUMPY" and magic[6] in (1, 2, 3):
            size = int.from_bytes(fh.read(2 if magic[6] == 1 else 4), "little")
            header = fh.read(size).decode("latin1").strip()
            m = _NPY_HEADER.fullmatch(header)
            if m is not None:
                shape = tuple(int(x) for x in m["shape"].replace(" ", "").split(",") if x)
                order = "F" if m["fortran"] == "True" else "C"
                offset = fh.tell()
                dtype = np.dtype(m["descr"])
                if dtype.itemsize * math.prod(shape) == 0:
                    return np.empty(shape, dtype=dtype, order=order)
                return np.memmap(
                    path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order
                )
    with _NPY_LOCK:
        return np.load(path, mmap_mode="r")


class LDWindow:
    """One window of an :class:`LDStore`; its arrays are memory-mapped on first access.

    Attributes
    ----------
    index: int
        Window number.
    chrom: int
        Chromosome (PLINK code).
    start, stop: int
        Bp bounds of the window, half-open.
    context: slice
        Store index range of the context variants (n_context).
    scored: slice
        Store index range of the scored variants (n_scored).
    scored_in_context: slice
        Positions of the scored variants within the context.
    R: (n_context, n_context) float32
        LD among the context variants.
    eigvals: (rank,) float64
        Kept eigenvalues of R_WW, descending.
    eigvecs: (n_scored, rank) float64
        Their eigenvectors U.
    G: (n_context, rank) float64
        R_CW U diag(eigvals)^-1/2.
    scales: DirectionScales or None
        The panel's cross-validated noise and signal scales of the eigen-directions
        (:mod:`deepwas.ld.mismatch`); None in stores without them.
    """

    def __init__(
        self,
        directory: Path,
        index: int,
        chrom: int,
        start: int,
        stop: int,
        context: slice,
        scored: slice,
    ) -> None:
        self._dir = directory
        self.index = index
        self.chrom = chrom
        self.start = start
        self.stop = stop
        self.context = context
        self.scored = scored
        self.scored_in_context = slice(scored.start - context.start, scored.stop - context.start)

    def __repr__(self) -> str:
        return (
            f"LDWindow({self.index}, chr{chrom_label(self.chrom)}:{self.start}-{self.stop}, "
            f"n_scored={self.n_scored}, n_context={self.n_context})"
        )

    @property
    def n_context(self) -> int:
        return self.context.stop - self.context.start

    @property
    def n_scored(self) -> int:
        return self.scored.stop - self.scored.start

    @property
    def scored_mask(self) -> np.ndarray:
        """(n_context,) bool: which context variants are scored."""
        mask = np.zeros(self.n_context, dtype=bool)
        mask[self.scored_in_context] = True
        return mask

    def _load(self, name: str) -> np.ndarray:
        f = self._dir / name
        try:
            return open_npy(f)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read window array: {exc}", file=f, fix=_FIX_REBUILD) from exc

    @cached_property
    def R(self) -> np.ndarray:  # noqa: N802 - the matrix is called R everywhere
        return self._load("R.npy")

    @cached_property
    def eigvals(self) -> np.ndarray:
        return self._load("eigvals.npy")

    @cached_property
    def eigvecs(self) -> np.ndarray:
        return self._load("eigvecs.npy")

    @cached_property
    def G(self) -> np.ndarray:  # noqa: N802
        return self._load("G.npy")

    @cached_property
    def scales(self):
        from deepwas.ld.mismatch import DirectionScales

        if not (self._dir / "scales.npy").exists():
            return None
        return DirectionScales.from_array(np.asarray(self._load("scales.npy")))

    @property
    def rank(self) -> int:
        return int(self.eigvals.shape[0])


class LDStore:
    """An LD store folder opened for reading (docs/ld_store.md).

    Attributes
    ----------
    path: Path
    manifest: dict
    variants: pandas.DataFrame, (n_variants, 7)
        ``CHR SNP BP A1 A2 AF1 CM``; row i is store index i.
    windows: pandas.DataFrame, (n_windows, 11)
        The window table, with ``rank``.
    """

    def __init__(
        self, path: Path, manifest: dict, variants: pd.DataFrame, windows: pd.DataFrame
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.variants = variants
        self.windows = windows

    @classmethod
    def open(cls, path: str | Path) -> LDStore:
        """Open and validate a store.

        Raises
        ------
        StoreError
            Naming the file at fault if the folder, its manifest, tables or window files are
            missing or corrupt, the format is not ``deepwas-ld-store``, or the version is newer
            than this deepwas reads.
        """
        path = Path(path)
        if not path.is_dir():
            raise StoreError(
                "LD store folder not found", file=path, fix="build one with `deepwas ld`"
            )
        mpath = path / "manifest.json"
        if not mpath.is_file():
            raise StoreError(
                "not an LD store: manifest.json is missing", file=path, fix=_FIX_REBUILD
            )
        try:
            with open(mpath, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the manifest: {exc}", file=mpath, fix=_FIX_REBUILD
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
            got = manifest.get("format") if isinstance(manifest, dict) else None
            raise StoreError(
                f"format is {got!r}, not {STORE_FORMAT!r}",
                file=mpath,
                column="format",
                fix=_FIX_REBUILD,
            )
        version = manifest.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StoreError(
                f"invalid version {version!r}", file=mpath, column="version", fix=_FIX_REBUILD
            )
        if version > STORE_VERSION:
            raise StoreError(
                f"store format version {version} is newer than this deepwas reads "
                f"({STORE_VERSION})",
                file=mpath,
                column="version",
                fix="upgrade deepwas, or rebuild the store with this version's `deepwas ld`",
            )
        tables = {}
        for name in ("variants.parquet", "windows.parquet"):
            f = path / name
            if not f.is_file():
                raise StoreError(f"{name} is missing", file=path, fix=_FIX_REBUILD)
            try:
                tables[name] = pd.read_parquet(f)
            except Exception as exc:  # pyarrow raises many types on corrupt files
                raise StoreError(f"cannot read {name}: {exc}", file=f, fix=_FIX_REBUILD) from exc
        variants, windows = tables["variants.parquet"], tables["windows.parquet"]
        missing = [c for c in _STORE_VARIANT_COLUMNS if c not in variants.columns]
        if missing:
            raise StoreError(
                f"variants.parquet lacks columns {missing}",
                file=path / "variants.parquet",
                fix=_FIX_REBUILD,
            )
        if len(variants) != manifest.get("n_variants") or len(windows) != manifest.get("n_windows"):
            raise StoreError(
                f"the manifest says {manifest.get('n_variants')} variants and "
                f"{manifest.get('n_windows')} windows, the tables have {len(variants)} and "
                f"{len(windows)}",
                file=mpath,
                fix=_FIX_REBUILD,
            )
        _check_windows(windows, len(variants), file=path / "windows.parquet")
        if "rank" not in windows.columns:
            raise StoreError(
                "windows.parquet lacks column 'rank'",
                file=path / "windows.parquet",
                fix=_FIX_REBUILD,
            )
        for i in range(len(windows)):
            d = _window_dir(path, i)
            for name in _WINDOW_FILES:
                if not (d / name).is_file():
                    raise StoreError(f"window file {name} is missing", file=d, fix=_FIX_REBUILD)
        return cls(path, manifest, variants, windows)

    @property
    def n_ref(self) -> int | None:
        """The reference panel's sample size (``source.n_ref`` of the manifest; None when the
        store does not say, as for UK Biobank imports)."""
        n = self.manifest.get("source", {}).get("n_ref")
        return None if n is None else int(n)

    @property
    def has_scales(self) -> bool:
        """Whether every window holds the panel's cross-validated direction scales (stores built
        from genotypes by format version 2; docs/mismatch.md)."""
        return "mismatch" in self.manifest

    @property
    def n_windows(self) -> int:
        return int(len(self.windows))

    @property
    def n_variants(self) -> int:
        return int(len(self.variants))

    def window(self, i: int) -> LDWindow:
        """The i-th window (0-based; negative counts from the end)."""
        n = self.n_windows
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for a store of {n} windows")
        i %= n
        w = self.windows.iloc[i]
        return LDWindow(
            _window_dir(self.path, i),
            index=i,
            chrom=int(w["CHR"]),
            start=int(w["start"]),
            stop=int(w["stop"]),
            context=slice(int(w["context_first"]), int(w["context_stop"])),
            scored=slice(int(w["scored_first"]), int(w["scored_stop"])),
        )

    def __len__(self) -> int:
        return self.n_windows

    def __iter__(self) -> Iterator[LDWindow]:
        for i in range(self.n_windows):
            yield self.window(i)

    def summary(self) -> list[str]:
        """Human-readable lines describing the store (for ``deepwas info``)."""
        m = self.manifest
        w = self.windows
        src = m.get("source", {})
        wp = m.get("windows", {})
        ld = m.get("ld", {})
        eg = m.get("eigen", {})
        prov = m.get("provenance", {}) or {}
        chroms = ", ".join(chrom_label(c) for c in np.unique(self.variants["CHR"]))
        how = (
            f"blocks {wp.get('blocks')}"
            if wp.get("blocks") is not None
            else f"fixed {wp.get('window_kb')} kb windows"
        )
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        lines = [
            f"LD store {self.path}",
            f"  format {m.get('format')} version {m.get('version')}, built by deepwas "
            f"{prov.get('deepwas_version', '?')} on {prov.get('created', '?')}",
            f"  source: {src.get('kind', '?')} {src.get('path', '?')} "
            f"({src.get('n_ref', '?')} samples)",
            f"  variants: {self.n_variants:,} on chromosome(s) {chroms}",
            f"  windows: {self.n_windows:,} from {how}, flank {wp.get('flank_kb')} kb",
        ]
        lines += _filter_lines(src)
        if len(w):
            lines.append(
                "  per window: scored median {:.0f} (max {}), context median {:.0f} (max {}), "
                "rank median {:.0f} (max {}, total {:,})".format(
                    w["n_scored"].median(),
                    int(w["n_scored"].max()),
                    w["n_context"].median(),
                    int(w["n_context"].max()),
                    w["rank"].median(),
                    int(w["rank"].max()),
                    int(w["rank"].sum()),
                )
            )
        lines += [
            f"  LD: shrinkage {ld.get('shrinkage')}, min MAF {ld.get('min_maf')}, "
            f"stored as {ld.get('dtype')}",
            f"  eigen: eig_rtol {eg.get('eig_rtol')}, var_explained {eg.get('var_explained')}",
            "  direction scales for small-panel LD: "
            + _scales_summary(m.get("mismatch"), self.n_ref),
            f"  size on disk: {size / 2**20:.1f} MiB",
        ]
        return lines


def _scales_summary(mismatch: dict | None, n_ref: int | None) -> str:
    """How a store's direction scales were made (its manifest's ``mismatch``), in words, and
    whether a rebuild would make them better (:func:`deepwas.ld.mismatch.outdated_scales`)."""
    from deepwas.ld.mismatch import outdated_scales

    if mismatch is None:
        return "none (the full model only; rebuild with this deepwas for the small-panel model)"
    text = f"cross-validated, {mismatch.get('folds')} folds"
    if mismatch.get("held_out") != "richardson":
        return text + (
            " (built before the held-out correction of 2026-12-02: a rebuild brings sigma "
            "closer to 1, docs/mismatch.md)"
        )
    text += ", held-out variance Richardson-corrected"
    if mismatch.get("signal") == "halves":
        text += ", signal from independent halves"
    if mismatch.get("pool") == "mean":
        text += ", noise pooled on its own scale"
    if mismatch.get("extrapolated"):
        text += ", transferred to the panel's size"
    note = outdated_scales(mismatch, n_ref)
    return text + (f" ({note})" if note else "")
