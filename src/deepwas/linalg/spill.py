"""Projected LD kept on disk and read on use, so that a genome-scale trait fits a few GB of memory.

With real sumstats nearly every window's scored set is measured only in part, so
:func:`deepwas.ld.trait.prepare_trait` recomputes its projected LD G (n_context x rank, float64):
about 8 GB for 1.1 million variants with a 378-sample panel, which used to stay in memory for the
whole fit (peak 9.9 GB, BENCHMARKS.md section 14). :class:`Spill` writes each window's G beyond a
memory budget to a temporary file (G^T, so that a window's leading directions are a prefix of
it) and :class:`SpilledArray` reads it back when it is used: by packing a batch (whose reading is
overlapped with the kernels, :meth:`deepwas.linalg.batch.PackedBatches.iterate`), by the
posterior means of ``deepwas prs``, by the diagnostics. The files are read with ``read()``, not
memory-mapped, so their pages live in the page cache (evictable, not counted in the process's
resident set) and the values are bit for bit those that were written.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np

__all__ = ["SpilledArray", "Spill", "DEFAULT_SPILL_BYTES"]

#: projected LD of re-projected windows kept in memory before the rest goes to disk
DEFAULT_SPILL_BYTES = 1 << 29


class SpilledArray:
    """A read-only (n_context, k) float64 matrix whose transpose is stored in ``path``: the first
    ``k`` of the file's ``rank`` rows of ``n_context`` values.

    Supports what the kernels and verbs use of G: ``shape``, ``ndim``, ``dtype``,
    ``np.asarray(...)``, ``.T``, any indexing (read, then indexed), and ``[:, :k]`` (a
    SpilledArray of the leading ``k`` columns, read as a prefix of the file)."""

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(
        self, path: Path, n_context: int, rank: int, k: int | None = None, owner=None
    ) -> None:
        self.path = Path(path)
        self._owner = owner  # the Spill whose folder holds the file: kept alive with it
        self._n_context, self._rank = int(n_context), int(rank)
        self._k = self._rank if k is None else int(k)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n_context, self._k)

    def load(self) -> np.ndarray:
        """The matrix, read from the file: (n_context, k), a transposed view of fresh memory."""
        count = self._k * self._n_context
        with open(self.path, "rb") as fh:
            Gt = np.fromfile(fh, dtype=np.float64, count=count)
        if Gt.size != count:
            raise OSError(f"{self.path}: expected {count} values, read {Gt.size}")
        return Gt.reshape(self._k, self._n_context).T

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self.load()
        return a if dtype is None else a.astype(dtype, copy=False)

    @property
    def T(self) -> np.ndarray:  # noqa: N802 - numpy's name
        return self.load().T

    def __getitem__(self, idx):
        if (
            isinstance(idx, tuple)
            and len(idx) == 2
            and idx[0] == slice(None)
            and isinstance(idx[1], slice)
            and idx[1].start in (None, 0)
            and idx[1].step in (None, 1)
        ):
            stop = self._k if idx[1].stop is None else min(int(idx[1].stop), self._k)
            return SpilledArray(
                self.path, self._n_context, self._rank, max(stop, 0), owner=self._owner
            )
        return self.load()[idx]

    def __len__(self) -> int:
        return self._n_context

    def __repr__(self) -> str:
        return f"SpilledArray({self.path.name}, shape={self.shape})"


class Spill:
    """Keeps matrices in memory up to ``budget_bytes`` in total, then writes the rest to files in
    a temporary folder (``TMPDIR``; removed when this object is collected or at exit).
    Thread-safe: :func:`deepwas.parallel.map_windows` projects windows on several threads."""

    def __init__(self, budget_bytes: int | None = DEFAULT_SPILL_BYTES) -> None:
        self.budget = None if budget_bytes is None else int(budget_bytes)
        self.kept_bytes = 0
        self.spilled_bytes = 0
        self.n_spilled = 0
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def _folder(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="deepwas-G-"))
            weakref.finalize(self, shutil.rmtree, self._dir, True)
        return self._dir

    def keep(self, G: np.ndarray, name: str):
        """``G`` itself while the budget lasts, else a :class:`SpilledArray` of it."""
        size = G.size * 8
        with self._lock:
            if self.budget is None or self.kept_bytes + size <= self.budget:
                self.kept_bytes += size
                return G
            path = self._folder() / f"{name}.f64"
            self.spilled_bytes += size
            self.n_spilled += 1
        np.ascontiguousarray(G.T, dtype=np.float64).tofile(path)
        return SpilledArray(path, G.shape[0], G.shape[1], owner=self)
