"""Pack windows of different sizes into padded batches for the exact kernels.

Windows are grouped by size so that padding wastes little work, and each group becomes one set
of tensors (B, r_max, C_max) on which :func:`deepwas.linalg.likelihood.exact_nll` runs as
batched matrix products. A window is anything with ``G`` (n_context, rank), ``y`` (rank,),
``context`` (n_context,) global variant indices and ``const``
(see :class:`deepwas.ld.trait.TraitWindow`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from deepwas.linalg.likelihood import diagonal_nll, exact_nll

__all__ = ["PackedBatch", "PackedBatches", "pack_windows", "group_by_size", "batched_nll"]


@dataclass
class PackedBatch:
    """Padded tensors of B windows.

    Attributes
    ----------
    Gt: (B, r, C) float64, G transposed
    y: (B, r) float64
    valid: (B, r) bool
    context_index: (B, C) int64, global variant index (0 where padded)
    context_mask: (B, C) bool
    const: (B,) float64
    windows: list[int], the positions of these windows in the packed sequence
    diagonal: bool, whether the windows use the diagonal model of a small reference panel
        (:func:`deepwas.linalg.likelihood.diagonal_nll`; G's columns then carry their scales)
    """

    Gt: torch.Tensor
    y: torch.Tensor
    valid: torch.Tensor
    context_index: torch.Tensor
    context_mask: torch.Tensor
    const: torch.Tensor
    windows: list[int]
    diagonal: bool = False

    def to(self, device: torch.device | str) -> PackedBatch:
        return PackedBatch(
            *(
                t.to(device)
                for t in (
                    self.Gt,
                    self.y,
                    self.valid,
                    self.context_index,
                    self.context_mask,
                    self.const,
                )
            ),
            windows=self.windows,
            diagonal=self.diagonal,
        )


def group_by_size(windows: Sequence, *, max_elements: int = 2_000_000) -> list[list[int]]:
    """Group window positions so that each padded batch holds at most ``max_elements`` entries of
    G (B * C_max * r_max), sorting by size so that windows of similar shape share a batch.

    A window larger than ``max_elements`` on its own forms its own batch.
    """
    order = sorted(
        range(len(windows)), key=lambda i: (windows[i].G.shape[1], windows[i].G.shape[0])
    )
    groups: list[list[int]] = []
    cur: list[int] = []
    c_max = r_max = 0
    for i in order:
        C, r = windows[i].G.shape
        nc, nr = max(c_max, C), max(r_max, r)
        if cur and (len(cur) + 1) * nc * nr > max_elements:
            groups.append(cur)
            cur, nc, nr = [], C, r
        cur.append(i)
        c_max, r_max = nc, nr
    if cur:
        groups.append(cur)
    return groups


def pack_windows(windows: Sequence, positions: Sequence[int]) -> PackedBatch:
    """Pad the windows at ``positions`` into one :class:`PackedBatch` (float64, CPU)."""
    sel = [windows[i] for i in positions]
    B = len(sel)
    C = max(w.G.shape[0] for w in sel)
    r = max(w.G.shape[1] for w in sel)
    Gt = np.zeros((B, r, C))
    y = np.zeros((B, r))
    valid = np.zeros((B, r), bool)
    cidx = np.zeros((B, C), np.int64)
    cmask = np.zeros((B, C), bool)
    const = np.zeros(B)
    scaled = [getattr(w, "scale", None) is not None for w in sel]
    if any(scaled) and not all(scaled):
        raise ValueError("a batch mixes windows of the full and the diagonal model")
    for b, w in enumerate(sel):
        c, k = w.G.shape
        Gt[b, :k, :c] = w.G.T
        if scaled[b]:
            Gt[b, :k, :c] *= w.scale[:, None]
        y[b, :k] = w.y
        valid[b, :k] = True
        cidx[b, :c] = w.context
        cmask[b, :c] = True
        const[b] = w.const
    return PackedBatch(
        Gt=torch.from_numpy(Gt),
        y=torch.from_numpy(y),
        valid=torch.from_numpy(valid),
        context_index=torch.from_numpy(cidx),
        context_mask=torch.from_numpy(cmask),
        const=torch.from_numpy(const),
        windows=list(positions),
        diagonal=all(scaled),
    )


def batched_nll(
    batch: PackedBatch, log_F: torch.Tensor, sigma: torch.Tensor | float
) -> torch.Tensor:
    """NLL of each window of ``batch`` given the global log prior variances.

    Parameters
    ----------
    batch: PackedBatch
    log_F: (n_variants,) float64
        log F = log(N s) of every variant (global index), differentiable.
    sigma:
        The intercept, differentiable.

    Returns
    -------
    nll: (B,) float64
    """
    lf = log_F[batch.context_index]
    return (diagonal_nll if batch.diagonal else exact_nll)(
        batch.Gt,
        batch.y,
        lf,
        sigma,
        valid=batch.valid,
        context_mask=batch.context_mask,
        const=batch.const,
    )


class PackedBatches:
    """Batches of windows packed on first use and kept while they fit in ``cache_bytes``.

    A small problem is packed once and then served from memory; at genome scale (G of every window
    together larger than the cache) batches beyond the cache are packed again from the windows'
    arrays (memory-mapped LD-store files) each time they are needed, so a fit holds a bounded
    amount of LD in memory.

    Parameters
    ----------
    windows: sequence of windows (see :func:`pack_windows`)
    groups: list of lists of window positions, one per batch (default: one window per batch)
    cache_bytes: memory budget for kept batches (default 2 GiB)
    """

    def __init__(
        self,
        windows: Sequence,
        groups: list[list[int]] | None = None,
        *,
        cache_bytes: int = 2 << 30,
    ) -> None:
        self.windows = windows
        self.groups = groups if groups is not None else [[i] for i in range(len(windows))]
        self.cache_bytes = cache_bytes
        self._cache: dict[int, PackedBatch] = {}
        self._used = 0

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, k: int) -> PackedBatch:
        hit = self._cache.get(k)
        if hit is not None:
            return hit
        return self._keep(k, pack_windows(self.windows, self.groups[k]))

    def _keep(self, k: int, batch: PackedBatch) -> PackedBatch:
        size = batch.Gt.element_size() * batch.Gt.nelement()
        if k not in self._cache and self._used + size <= self.cache_bytes:
            self._cache[k] = batch
            self._used += size
        return batch

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def iterate(
        self, ks: Sequence[int], *, ahead: bool = True
    ) -> Iterator[tuple[int, PackedBatch]]:
        """(k, batch k) for ``ks`` in order. Batches that are not kept in memory are packed one
        ahead on a background thread (:func:`deepwas.parallel.prefetch`), so that reading the
        next batch's LD (from the page cache or the disk) overlaps the work on this one; the
        batches are the same as ``self[k]``'s."""
        ks = [int(k) for k in ks]
        if not ahead or all(k in self._cache for k in ks):
            for k in ks:
                yield k, self[k]
            return
        from deepwas.parallel import prefetch

        def packed():
            for k in ks:
                hit = self._cache.get(k)
                yield k, hit, hit if hit is not None else pack_windows(self.windows, self.groups[k])

        for k, hit, batch in prefetch(packed()):
            yield k, (batch if hit is not None else self._keep(k, batch))


def batch_cost(batches, k: int) -> float:
    """Flops of one likelihood evaluation of batch ``k`` (the cost model of the kernels): B (C r^2 +
    r^3 / 3) for padded shape (B, r, C) under the full model, 2 B C r under the diagonal one;
    ``batches`` a :class:`PackedBatches` (from its windows' shapes, nothing packed) or a list
    of packed batches."""
    if isinstance(batches, PackedBatches):
        sel = [batches.windows[i] for i in batches.groups[k]]
        B = len(sel)
        C = max(w.G.shape[0] for w in sel)
        r = max(w.G.shape[1] for w in sel)
        diagonal = getattr(sel[0], "scale", None) is not None
    else:
        B, r, C = batches[k].Gt.shape
        diagonal = bool(batches[k].diagonal)
    return B * _cost(C, r, diagonal)


def window_cost(window) -> float:
    """:func:`batch_cost` of a batch of this one window."""
    C, r = window.G.shape
    return _cost(C, r, getattr(window, "scale", None) is not None)


def _cost(C: int, r: int, diagonal: bool) -> float:
    return float(2 * C * r) if diagonal else float(C * r * r + r**3 / 3.0)


def iterate_batches(batches, ks: Sequence[int]) -> Iterator[tuple[int, PackedBatch]]:
    """(k, batches[k]) for ``ks``: :meth:`PackedBatches.iterate` (packing ahead) when ``batches``
    has it, else plain indexing (a list of packed batches)."""
    if isinstance(batches, PackedBatches):
        yield from batches.iterate(ks)
    else:
        for k in ks:
            yield k, batches[k]
