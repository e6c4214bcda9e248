"""Projected LD kept on disk and read on use, so that a genome-scale trait fits a few GB of memory.

With real sumstats nearly every window's scored set is measured only in part, so
:func:`deepwas.ld.trait.prepare_trait` recomputes its projected LD G (n_context x rank, float64):
about 8 GB for 1.1 million variants with a 378-sample panel, which used to stay in memory for the
whole fit (peak 9.9 GB, BENCHMARKS.md section 14). :class:`Spill` writes each window's G beyond a
memory budget to a temporary file (G^T, so that a window's leading directions are a prefix of
it) and :class:`SpilledArray` reads it back when it is used: by packing a batch (whose reading is
overlapped with the kernels, :meth:`deepwas.linalg.batch.PackedBatches.iterate`), by the
posterior means of ``deepwas prs``, by the diagnostics. The files are read with ``read()``, not
memory-mapped, and the values are bit for bit those that were written. While the page cache can
hold the spilled files (the usual case: they were just written) they are read through it; when
it cannot (spilled bytes above half the memory available), every epoch would read them from the
disk through the page cache, and on a 2-core machine that copying made a cold epoch 36% slower
(BENCHMARKS.md section 2): they are then read with ``O_DIRECT`` (:func:`read_float64`), the disk
writing straight into the process's buffer while the CPUs compute.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np

__all__ = ["SpilledArray", "Spill", "DEFAULT_SPILL_BYTES", "read_float64"]

#: projected LD of re-projected windows kept in memory before the rest goes to disk
DEFAULT_SPILL_BYTES = 1 << 29

#: the alignment O_DIRECT asks of file offsets, lengths and buffers (a page: enough everywhere)
_ALIGN = 4096


def read_float64(path, count: int, *, offset: int = 0, direct: bool = False) -> np.ndarray:
    """``count`` float64 values of the file ``path`` from element ``offset`` on, in fresh memory.

    ``direct=True`` reads with ``O_DIRECT``: the disk writes into the (page-aligned) buffer
    without the page cache, so reading costs the CPUs almost nothing (a cold 9 GiB file: 0.2 s
    of CPU against 5.4 s buffered, measured) but always goes to the disk. Where the file system
    or the platform does not support it (tmpfs, macOS) the file is read normally. The values are
    the same either way."""
    count, offset = int(count), int(offset)
    if direct and hasattr(os, "O_DIRECT"):
        try:
            return _read_direct(path, count, offset)
        except OSError as exc:
            if not _unsupported(exc):
                raise
    with open(path, "rb") as fh:
        fh.seek(8 * offset)
        values = np.fromfile(fh, dtype=np.float64, count=count)
    if values.size != count:
        raise OSError(f"{path}: expected {count} values, read {values.size}")
    return values


def _unsupported(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


def _read_direct(path, count: int, offset: int) -> np.ndarray:
    start = 8 * offset
    lo = start - start % _ALIGN
    hi = -(-(start + 8 * count) // _ALIGN) * _ALIGN
    raw = np.empty(hi - lo + _ALIGN, np.uint8)
    shift = (-raw.ctypes.data) % _ALIGN
    buf = memoryview(raw[shift : shift + hi - lo])
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    got = 0
    try:
        while got < hi - lo:
            n = os.preadv(fd, [buf[got:]], lo + got)
            if n == 0:  # end of file (its last page is partial)
                break
            got += n
    finally:
        os.close(fd)
    if got < start - lo + 8 * count:
        raise OSError(f"{path}: expected {count} values, read {max(got - (start - lo), 0) // 8}")
    first = shift + start - lo
    return raw[first : first + 8 * count].view(np.float64)


def _memory_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (memory the page cache could use), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


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
        direct = self._owner is not None and self._owner.direct_reads()
        Gt = read_float64(self.path, self._k * self._n_context, direct=direct)
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
    Thread-safe: :func:`deepwas.parallel.map_windows` projects windows on several threads.

    ``direct``: read the files back with ``O_DIRECT`` (:func:`read_float64`) always (True),
    never (False), or (``"auto"``, the default) when the spilled bytes exceed half the memory
    available, i.e. when the page cache cannot be expected to keep them between epochs. The
    environment variable ``DEEPWAS_DIRECT_IO`` (1 or 0) overrides ``"auto"``."""

    def __init__(
        self, budget_bytes: int | None = DEFAULT_SPILL_BYTES, *, direct: bool | str = "auto"
    ) -> None:
        if direct not in (True, False, "auto"):
            raise ValueError(f"direct must be True, False or 'auto', got {direct!r}")
        self.direct = direct
        self.budget = None if budget_bytes is None else int(budget_bytes)
        self.kept_bytes = 0
        self.spilled_bytes = 0
        self.n_spilled = 0
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def direct_reads(self) -> bool:
        """Whether spilled files are read with O_DIRECT now (see the class)."""
        if self.direct != "auto":
            return bool(self.direct)
        env = os.environ.get("DEEPWAS_DIRECT_IO", "").strip()
        if env in ("0", "1"):
            return env == "1"
        available = _memory_available()
        return available is not None and self.spilled_bytes > available // 2

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
