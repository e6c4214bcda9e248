"""Per-window work on several threads, in window order, with a progress bar.

The per-window stages that run in NumPy (eigendecompositions of partly measured scored sets,
projections) are independent across windows and release the GIL inside LAPACK, so on two cores
two threads halve them (docs/decisions.md, "Threads for per-window NumPy work"). Each thread's
BLAS must then be single-threaded, as the command line sets it (``OPENBLAS_NUM_THREADS=1``): two
multi-threaded BLAS pools on two cores made one eigendecomposition 30 times slower (measured,
benchmarks/genome_scale.py). Library callers who have not set it get one thread by default.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["default_threads", "map_windows", "prefetch"]

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """torch's thread count (``--threads``) when NumPy's BLAS is single-threaded, else 1."""
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        return 1
    import torch

    return max(1, int(torch.get_num_threads()))


def map_windows(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    threads: int | None = None,
    desc: str = "windows",
    progress: bool = True,
    total: int | None = None,
) -> Iterator[R]:
    """``fn`` over ``items`` on ``threads`` threads (default :func:`default_threads`), yielding
    results in the order of ``items``. At most ``2 * threads`` items are in flight, so memory
    stays bounded by a few windows' working sets. An exception in ``fn`` is raised here, for the
    first failing item in order."""
    threads = default_threads() if threads is None else max(1, int(threads))
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = tqdm(total=total, desc=desc, disable=not progress)
    try:
        if threads == 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * threads:
                    yield pending.popleft().result()
                    bar.update()
            while pending:
                yield pending.popleft().result()
                bar.update()
    finally:
        bar.close()


_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """The items of ``items``, produced on a background thread up to ``depth`` ahead of the
    consumer: reading or packing the next batch of LD overlaps the kernels' work on this one
    (issue 13), so an epoch costs about max(read, compute) instead of their sum while memory
    holds at most ``depth + 2`` items. An exception of the producer is raised here, where its
    item would have been; closing the generator early stops the producer."""
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            q.put((False, exc))

    thread = threading.Thread(target=produce, name="deepwas-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)
