"""The torch.distributed process-group helpers shared by training (:mod:`deepwas.fit`) and the
exact-likelihood fits and evaluation (:mod:`deepwas.exact`, :mod:`deepwas.metrics`): this
process's rank and the world size, and sums over the group in one collective call. Without a
process group (or with one process) they do nothing, so the same code runs alone or under
torchrun.
"""

from __future__ import annotations

import torch


def _world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group, or (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _share(ks, cost, world: int | None = None, rank: int | None = None) -> list[int]:
    """This process's share of the work items ``ks``, balanced by their ``cost(k)``.

    Every process computes the same assignment: items in decreasing cost (ties by position in
    ``ks``) each go to the least-loaded process so far (ties to the lowest rank), the greedy
    longest-processing-time rule, whose largest load is within 4/3 of the best possible. The share
    keeps the order of ``ks``. Alone (``world == 1``) it is ``ks`` itself.
    """
    if world is None or rank is None:
        rank, world = _world()
    ks = list(ks)
    if world == 1:
        return ks
    costs = [float(cost(k)) for k in ks]
    load = [0.0] * world
    owner = {}
    for j in sorted(range(len(ks)), key=lambda j: (-costs[j], j)):
        p = min(range(world), key=lambda q: (load[q], q))
        load[p] += costs[j]
        owner[j] = p
    return [k for j, k in enumerate(ks) if owner[j] == rank]


def _allreduce_(tensors) -> None:
    """Sum tensors in place over the process group (nothing without one), in one collective call
    on a flat float64 buffer."""
    import torch.distributed as dist

    if _world()[1] > 1:
        tensors = list(tensors)
        flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
        dist.all_reduce(flat)
        k = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[k : k + n].reshape(t.shape))
            k += n


def _collective_value_and_grad(value: torch.Tensor, params) -> torch.Tensor:
    """Back-propagate this process's share of a sum and add the shares (value and gradients of
    ``params``) over the process group; returns the detached total."""
    if value.requires_grad:
        value.backward()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    out = value.detach().reshape(1).clone()
    _allreduce_([out, *(p.grad for p in params)])
    return out[0]
