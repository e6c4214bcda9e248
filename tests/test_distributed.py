"""Data parallelism over windows: 2 CPU processes (torch.distributed, gloo) give the gradient,
the constant-prior fit and the window likelihoods of 1 process, for the full model and the
diagonal model of a small panel (docs/mismatch.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from deepwas.data import FitData
from deepwas.exact import fit_constant, refit_sigma, window_nlls
from deepwas.fit import TrainConfig, objective_gradient
from deepwas.ld.trait import TraitData, TraitWindow
from deepwas.linalg.eigen import eigen_precompute, project_z
from deepwas.priors import PriorConfig, build_prior
from deepwas.workflow import _leave_distributed

N_WINDOWS, C, W = 7, 40, 15


def toy_fit_data(diagonal: bool = False) -> FitData:
    """Seven windows of random LD on disjoint contexts, three features (deterministic); with
    ``diagonal`` the windows carry per-direction scales (the diagonal model)."""
    rng = np.random.default_rng(0)
    windows = []
    for i in range(N_WINDOWS):
        X = rng.standard_normal((60, C))
        X = (X - X.mean(0)) / X.std(0)
        R = X.T @ X / 60
        sic = np.arange(10, 10 + W)
        eig = eigen_precompute(R, sic)
        z = rng.standard_normal(W) * 1.5
        ctx = np.arange(i * C, (i + 1) * C)
        windows.append(
            TraitWindow(
                index=i,
                chrom=1,
                start=i * 1000,
                stop=(i + 1) * 1000,
                context=ctx,
                scored=ctx[sic],
                scored_in_context=sic,
                G=eig.G,
                y=project_z(eig, z),
                const=0.5 * (eig.rank * math.log(2 * math.pi) + eig.logdet_lam),
                scale=rng.uniform(0.5, 2.0, eig.rank) if diagonal else None,
            )
        )
    trait = TraitData(
        windows=windows,
        z=np.zeros(N_WINDOWS * C),
        n_gwas=1e4,
        n_variants=N_WINDOWS * C,
        ld_model="diagonal" if diagonal else "full",
    )
    feats = rng.standard_normal((N_WINDOWS * C, 3))
    return FitData(trait, feats, ["a", "b", "c"], list(range(N_WINDOWS)), [], [])


def toy_model(data: FitData):
    cfg = PriorConfig(
        model="mlp",
        feature_names=("a", "b", "c"),
        feature_mean=tuple(data.features.mean(0)),
        feature_scale=tuple(data.features.std(0)),
        width=8,
        depth=2,
        init_log_snpvar=math.log(1e-4),
    )
    model = build_prior(cfg, seed=0)
    with torch.no_grad():  # non-zero output weights so that every layer gets a gradient
        model.weight.copy_(torch.linspace(-0.5, 0.5, model.weight.numel(), dtype=torch.float64))
    log_sigma = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    return model, log_sigma


def _evaluation(data: FitData) -> dict:
    """The collective evaluation calls of ``deepwas fit``, in its order."""
    const = fit_constant(data.trait)
    log_s = torch.from_numpy(np.log(1e-4) + 0.3 * data.features[:, 0])
    return {
        "const": (const.snpvar, const.sigma, const.nll),
        "sigma": refit_sigma(data.trait, log_s),
        "nlls": torch.from_numpy(window_nlls(data.trait, log_s, 1.05)),
    }


def _worker(rank: int, store: str, out: str, diagonal: bool) -> None:
    torch.set_num_threads(1)
    # a file store, not tcp://: with tcp the store's server lives in rank 0, and rank 1 aborted
    # once ("terminate called without an active exception") when rank 0 left first
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        data = toy_fit_data(diagonal)
        model, log_sigma = toy_model(data)
        value, grads = objective_gradient(
            model, log_sigma, data, list(range(N_WINDOWS)), TrainConfig(model="mlp")
        )
        evaluation = _evaluation(data)
        if rank == 0:
            torch.save({"value": value, "grads": grads, "evaluation": evaluation}, out)
    finally:
        _leave_distributed(True)  # the teardown of `deepwas fit`: barrier, destroy, collect


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("diagonal", [False, True], ids=["full", "diagonal"])
def test_two_processes_give_the_gradient_of_one(tmp_path, diagonal):
    data = toy_fit_data(diagonal)
    model, log_sigma = toy_model(data)
    value1, grads1 = objective_gradient(
        model, log_sigma, data, list(range(N_WINDOWS)), TrainConfig(model="mlp")
    )
    out = tmp_path / "rank0.pt"
    store = tmp_path / "store"  # must not exist yet
    mp.spawn(_worker, args=(str(store), str(out), diagonal), nprocs=2, join=True)
    got = torch.load(out)
    # the same sums in another order: equal to float64 round-off
    assert abs(got["value"] - value1) <= 1e-12 * abs(value1)
    assert len(got["grads"]) == len(grads1)
    for g2, g1 in zip(got["grads"], grads1, strict=True):
        assert torch.allclose(g2, g1, rtol=1e-10, atol=1e-14)
    assert any(float(g.abs().max()) > 0 for g in grads1[:-1])  # the check is not vacuous
    want, ev = _evaluation(data), got["evaluation"]
    # L-BFGS on sums taken in another order: the same optimum to its tolerance
    assert np.allclose(ev["const"], want["const"], rtol=1e-7)
    assert math.isclose(ev["sigma"], want["sigma"], rel_tol=1e-7)
    assert torch.allclose(ev["nlls"], want["nlls"], rtol=1e-12, atol=0)


def test_share_balances_windows_by_cost():
    """The processes' shares partition the work, keep its order, and balance the cost model
    better than dealing the items out in turn (costs as sorted batches have them)."""
    from deepwas._distributed import _share

    rng = np.random.default_rng(3)
    costs = np.sort(rng.lognormal(0.0, 1.5, 40))  # group_by_size orders batches by size
    ks = list(rng.permutation(40))
    for world in (1, 2, 3):
        shares = [_share(ks, costs.__getitem__, world, rank) for rank in range(world)]
        assert sorted(k for s in shares for k in s) == sorted(ks)
        for s in shares:  # order of ks kept
            assert s == [k for k in ks if k in set(s)]
        loads = [costs[s].sum() for s in shares]
        dealt = [costs[ks[rank::world]].sum() for rank in range(world)]
        assert max(loads) <= max(dealt) + 1e-9
        # greedy LPT is within 4/3 of the best possible, which is at least the mean and the max
        assert max(loads) <= 4.0 / 3.0 * max(costs.sum() / world, costs.max()) + 1e-9
    assert _share(ks, costs.__getitem__, 1, 0) == ks


def test_batch_cost_follows_the_kernels_cost_model():
    from deepwas.linalg.batch import PackedBatches, batch_cost, pack_windows, window_cost

    class W:
        def __init__(self, C, r, seed):
            rng = np.random.default_rng(seed)
            self.G = rng.standard_normal((C, r))
            self.y = rng.standard_normal(r)
            self.context = np.arange(C)
            self.const = 0.0
            self.scale = None

    windows = [W(30, 10, 1), W(20, 12, 2)]
    packed = PackedBatches(windows, [[0, 1]])
    C, r = 30, 12  # padded
    assert batch_cost(packed, 0) == 2 * (C * r * r + r**3 / 3)
    assert batch_cost([pack_windows(windows, [0, 1])], 0) == batch_cost(packed, 0)
    assert window_cost(windows[0]) == 30 * 100 + 1000 / 3
