"""The neighbourhood prior ``ssm``: its scan against a slow loop of the recurrence and a dense
kernel, chromosome boundaries, window-context vs whole-chromosome outputs, gradients, start at the
constant prior, save/load/predict, ``deepwas fit --model ssm`` end to end, and the simulator's
``neighbourhood`` prior."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas.cli import main
from deepwas.errors import InputError
from deepwas.io.annotations import AnnotationSet
from deepwas.predict import predict_prior
from deepwas.prior_files import load_prior, save_prior
from deepwas.priors import PriorConfig, build_prior
from deepwas.simulate.annotations import _distance_to_mark, true_prior
from deepwas.ssm import CHUNK, decayed_cumsum, variant_positions, window_kernel_mean

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _sequence(n: int, n_seg: int, span: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted positions in ``n_seg`` segments, with duplicated positions and large gaps."""
    rng = np.random.default_rng(seed)
    seg = np.sort(rng.integers(0, n_seg, n))
    pos = np.zeros(n)
    for s in range(n_seg):
        rows = seg == s
        p = np.sort(rng.integers(0, span, rows.sum()))
        p[len(p) // 3 :] += 5 * span  # a gap far beyond any window
        pos[rows] = p
    pos[5] = pos[4] if seg[5] == seg[4] else pos[5]
    return torch.tensor(pos, dtype=F64), torch.tensor(seg)


def _loop_recurrence(x, pos, seg, length):
    """The recurrence written as it reads: S_i = a_i S_{i-1} + x_i, a_i = 0 at a segment start."""
    out = torch.zeros_like(x)
    state = torch.zeros(x.shape[1], dtype=F64)
    for i in range(x.shape[0]):
        if i > 0 and seg[i] == seg[i - 1]:
            a = torch.exp(-(pos[i] - pos[i - 1]) / length)
        else:
            a = torch.zeros(x.shape[1], dtype=F64)
        state = a * state + x[i]
        out[i] = state
    return out


def _dense_kernel_mean(x, pos, seg, length, w):
    d = (pos[:, None] - pos[None, :]).abs()
    near = (d <= w) & (seg[:, None] == seg[None, :])
    k = torch.exp(-d[..., None] / length) * near[..., None]
    return torch.einsum("ijc,jc->ic", k, x) / k.sum(1)


@pytest.mark.parametrize(
    "lengths",
    [
        (800.0, 5_000.0, 60_000.0),  # offsets within a chunk below 600 L: the cheap path
        (3.0, 7.0, 50.0),  # kilobase offsets of a few bp lengths: the dense path
    ],
)
def test_scan_matches_the_loop_of_the_recurrence(lengths):
    n = 10 * CHUNK + 3  # padded last chunk, and three levels of chunk ends
    pos, seg = _sequence(n, 3, 40_000, seed=1)
    x = torch.tensor(np.random.default_rng(2).normal(size=(n, 3)), dtype=F64)
    length = torch.tensor(lengths, dtype=F64)
    got = decayed_cumsum(x, pos, seg, length)
    want = _loop_recurrence(x, pos, seg, length)
    # float64 sums of O(10) terms of size O(1), rescaled by exp(+-a) with a <= 600 on the cheap
    # path: a few ulps of exp(600) products, relative 1e-12
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_windowed_kernel_matches_the_dense_definition():
    n = 150
    pos, seg = _sequence(n, 2, 60_000, seed=3)
    x = torch.tensor(np.random.default_rng(4).normal(size=(n, 4)), dtype=F64)
    length = torch.tensor([600.0, 3_000.0, 20_000.0, 80_000.0], dtype=F64)
    for w in (5_000.0, 20_000.0):
        got = window_kernel_mean(x, pos, seg, length, w)
        want = _dense_kernel_mean(x, pos, seg, length, w)
        # the scan subtracts the state beyond the window (at most a factor L/w ~ 4 of the kept
        # sum): a few ulps times that ratio
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _random_prior(*, k=3, width=8, depth=2, window_kb=40.0, seed=0):
    cfg = PriorConfig(
        model="ssm",
        feature_names=tuple(f"a{j}" for j in range(k)),
        feature_mean=(0.0,) * k,
        feature_scale=(1.0,) * k,
        width=width,
        depth=depth,
        init_log_snpvar=-11.0,
        window_kb=window_kb,
    )
    prior = build_prior(cfg, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # away from the constant start, so that the neighbourhood matters
        for p in prior.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=F64))
    return prior


def _chromosome(n: int, chrom: int, seed: int, span: int = 1_000_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([np.full(n, chrom), np.sort(rng.integers(1, span, n))]).astype(float)


def test_chromosome_boundaries_break_the_recurrence():
    prior = _random_prior()
    a, b = _chromosome(120, 1, seed=1), _chromosome(90, 2, seed=2)
    # chromosome 2's positions start where chromosome 1's end: only the CHR column separates them
    b[:, 1] = b[:, 1] - b[0, 1] + a[-1, 1] + 10
    x = torch.tensor(np.random.default_rng(3).normal(size=(210, 3)), dtype=F64)
    both = prior(x, np.vstack([a, b]))
    alone = torch.cat([prior(x[:120], a), prior(x[120:], b)])
    # the same up to rounding (the chunks of the scan fall differently)
    torch.testing.assert_close(both, alone, rtol=0, atol=1e-13)
    # and exactly: other inputs on chromosome 2 leave chromosome 1 bit for bit as it was (every
    # weight across the boundary is an exact 0, not a small number)
    x2 = x.clone()
    x2[120:] = torch.randn(90, 3, dtype=F64) * 10
    assert torch.equal(prior(x2, np.vstack([a, b]))[:120], both[:120])
    # and the same positions on one chromosome do interact
    one = np.vstack([a, b])
    one[:, 0] = 1
    assert (prior(x, one)[115:125] - both[115:125]).abs().max() > 1e-6


def test_window_context_equals_whole_chromosome_inside_the_window():
    prior = _random_prior(window_kb=40.0, depth=2)
    pos = _chromosome(800, 3, seed=5)
    x = torch.tensor(np.random.default_rng(6).normal(size=(800, 3)), dtype=F64)
    whole = prior(x, pos)
    lo, hi = 250, 600  # a window's context: contiguous rows
    ctx = prior(x[lo:hi], pos[lo:hi])
    bp = pos[lo:hi, 1]
    inside = (bp - 40_000 >= bp[0]) & (bp + 40_000 <= bp[-1])
    assert inside.sum() > 100
    # exact in real arithmetic (the hard window); in float64 the scans' sums differ by the far
    # terms the whole-chromosome pass carries and then subtracts: rounding of O(1e2) terms
    # through two blocks and LayerNorms, well below 1e-11
    torch.testing.assert_close(ctx[inside], whole[lo:hi][inside], rtol=0, atol=1e-11)
    # near the context's edges the neighbourhood is cut, and it shows
    assert (ctx[~inside] - whole[lo:hi][~inside]).abs().max() > 1e-4


def test_evaluation_window_widens_the_reach_and_restores_the_prior():
    # length extrapolation (issue 12): a prior trained on +-20 kb evaluated on +-200 kb sees
    # exactly the variants within +-200 kb, with each block's decay lengths those it learned
    from deepwas.ssm import evaluation_window

    prior = _random_prior(window_kb=20.0, depth=2)
    pos = _chromosome(600, 1, seed=7, span=2_000_000)
    x = torch.tensor(np.random.default_rng(8).normal(size=(600, 3)), dtype=F64)
    base = prior(x, pos)
    with evaluation_window(prior, 20.0):  # the configured window: the same numbers
        assert torch.equal(prior(x, pos), base)
    with evaluation_window(prior, 200.0):
        wide = prior(x, pos)
    assert not hasattr(prior, "_reach_kb") and torch.equal(prior(x, pos), base)
    i = 300
    d = np.abs(pos[:, 1] - pos[i, 1])
    for reach_kb, out in ((20.0, base), (200.0, wide)):
        near, far = (d > 25_000) & (d <= 0.8 * reach_kb * 1000), d > reach_kb * 1000
        x2 = x.clone()
        x2[far] += 5.0  # beyond the reach: nothing changes, bit for bit
        with evaluation_window(prior, reach_kb):
            assert torch.equal(prior(x2, pos)[i], out[i])
        if near.any():  # between the trained window and the reach: it does
            x3 = x.clone()
            x3[near] += 5.0
            with evaluation_window(prior, reach_kb):
                assert abs(float(prior(x3, pos)[i].detach() - out[i].detach())) > 1e-8
    with pytest.raises(ValueError, match="window_kb"):
        with evaluation_window(prior, 0.0):
            pass


def test_row_order_does_not_matter():
    prior = _random_prior()
    pos = np.vstack([_chromosome(60, 1, seed=7), _chromosome(70, 4, seed=8)])
    x = torch.tensor(np.random.default_rng(9).normal(size=(130, 3)), dtype=F64)
    perm = np.random.default_rng(10).permutation(130)
    torch.testing.assert_close(prior(x[perm], pos[perm]), prior(x, pos)[perm], rtol=0, atol=1e-13)


def test_starts_exactly_at_the_constant_prior_and_needs_positions():
    cfg = _random_prior().config
    prior = build_prior(cfg, seed=4)
    x = torch.tensor(np.random.default_rng(0).normal(size=(50, 3)), dtype=F64)
    out = prior(x, _chromosome(50, 1, seed=0))
    assert torch.equal(out, torch.full((50,), -11.0, dtype=F64))
    with pytest.raises(InputError, match="needs the variants' positions"):
        prior(x)
    with pytest.raises(InputError, match="positions must be a finite"):
        prior(x, _chromosome(49, 1, seed=0))


def test_gradcheck_float64():
    from torch.func import functional_call

    prior = _random_prior(width=4, depth=2, window_kb=20.0)
    pos = _chromosome(40, 1, seed=11, span=60_000)
    x = torch.tensor(np.random.default_rng(12).normal(size=(40, 3)), dtype=F64)
    names = ["blocks.0.theta", "blocks.1.value.weight", "input.weight", "weight"]
    params = {k: v.detach() for k, v in prior.named_parameters()}

    def f(x_, *ps):
        return functional_call(prior, {**params, **dict(zip(names, ps, strict=True))}, (x_, pos))

    inputs = (x.clone().requires_grad_(), *(params[k].clone().requires_grad_() for k in names))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)
    # and the kernel in its decay lengths, on both scan paths
    ps, sg = _sequence(3 * CHUNK, 2, 30_000, seed=13)
    xs = torch.randn(3 * CHUNK, 2, dtype=F64, requires_grad=True)
    for L in ([700.0, 9_000.0], [4.0, 30.0]):
        length = torch.tensor(L, dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda a, b: window_kernel_mean(a, ps, sg, b, 12_000.0), (xs, length)
        )


def test_save_load_and_predict_round_trip(tmp_path):
    prior = _random_prior(window_kb=30.0)
    save_prior(prior, tmp_path / "model", seed=1)
    meta = json.loads((tmp_path / "model" / "config.json").read_text())
    assert meta["model"] == "ssm" and meta["window_kb"] == 30.0
    loaded = load_prior(tmp_path / "model")
    assert loaded.config == prior.config
    pos = np.vstack([_chromosome(80, 1, seed=1), _chromosome(50, 2, seed=2)])
    x = np.random.default_rng(3).normal(size=(130, 3))
    want = prior(torch.tensor(x), pos).detach()
    assert torch.equal(loaded(torch.tensor(x), pos), want)
    variants = pd.DataFrame(
        {"CHR": pos[:, 0].astype(int), "SNP": [f"rs{i}" for i in range(130)], "BP": pos[:, 1]}
    )
    annot = AnnotationSet(variants, x, ["a0", "a1", "a2"], "test")
    table, report = predict_prior(loaded, annot)
    np.testing.assert_allclose(table["SNPVAR"], np.exp(want.numpy()), rtol=1e-14)
    assert any("neighbourhoods from the 130 annotated variants" in r for r in report)
    # a file keyed by SNP only has no positions for a neighbourhood prior
    with pytest.raises(InputError, match="no CHR"):
        predict_prior(loaded, AnnotationSet(variants[["SNP"]], x, ["a0", "a1", "a2"], "test"))


def test_other_families_write_no_window_and_old_folders_read(tmp_path):
    cfg = PriorConfig(model="mlp", feature_names=("a",), feature_mean=(0.0,), feature_scale=(1.0,))
    assert "window_kb" not in cfg.to_json()
    d = cfg.to_json()
    assert PriorConfig.from_json(d) == cfg  # a config.json without window_kb: the default


def test_variant_positions_errors():
    ok = variant_positions(pd.DataFrame({"CHR": ["chr1", "X"], "BP": [10, 20]}))
    np.testing.assert_array_equal(ok, [[1, 10], [23, 20]])
    with pytest.raises(InputError, match="no BP"):
        variant_positions(pd.DataFrame({"CHR": [1]}))
    with pytest.raises(InputError, match="without a valid BP .first at row 2"):
        variant_positions(pd.DataFrame({"CHR": [1, 1], "BP": [5, np.nan]}))


def test_neighbourhood_truth_depends_on_neighbours_only_for_its_kind():
    rng = np.random.default_rng(0)
    m = 400
    pos = _chromosome(m, 1, seed=1, span=2_000_000)
    values = np.column_stack(
        [rng.random(m) < 0.05, rng.random(m) < 0.1, rng.random(m) < 0.1, rng.normal(size=m)]
    )
    values = values.astype(float)
    maf = rng.uniform(0.05, 0.5, m)

    def s(kind, v):
        return true_prior(v, maf, kind=kind, h2=0.1, rng=np.random.default_rng(3), positions=pos)

    # flipping the third mark of one variant changes the neighbourhood prior of variants near
    # it (themselves unchanged), and leaves the per-variant kinds of the others as they were
    i = 200
    flipped = values.copy()
    flipped[i, 2] = 1.0 - flipped[i, 2]
    near = np.flatnonzero((np.abs(pos[:, 1] - pos[i, 1]) <= 20_000) & (np.arange(m) != i))
    far = np.flatnonzero(np.abs(pos[:, 1] - pos[i, 1]) > 20_000)
    assert near.size >= 2
    for kind in ("linear", "nonlinear"):
        a, b = s(kind, values), s(kind, flipped)
        r = a[far] / b[far]  # h2 normalisation rescales everything by one factor
        np.testing.assert_allclose(r, r[0], rtol=1e-12)
        np.testing.assert_allclose(a[near] / b[near], r[0], rtol=1e-12)
    a, b = s("neighbourhood", values), s("neighbourhood", flipped)
    # beyond 20 kb only the flank term can change, through the distance to the nearest mark
    d0 = _distance_to_mark(values[:, 2], pos[:, 0], pos[:, 1])
    d1 = _distance_to_mark(flipped[:, 2], pos[:, 0], pos[:, 1])
    same = far[d0[far] == d1[far]]
    assert same.size > 300
    r = a[same] / b[same]
    np.testing.assert_allclose(r, r[0], rtol=1e-12)
    assert np.abs(np.log(a[near] / b[near] / r[0])).min() > 1e-3
    # the existing kinds ignore positions
    np.testing.assert_array_equal(
        true_prior(values, maf, kind="nonlinear", h2=0.1, rng=np.random.default_rng(3)),
        s("nonlinear", values),
    )


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ssm") / "sim"
    argv = ["simulate", "--out", str(out), "--length-mb", "4", "--n-ref", "200"]
    argv += ["--max-snps", "1500", "--h2", "0.05", "--n-gwas", "200000"]
    argv += ["--prior", "neighbourhood", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    argv = ["ld", "--bfile", str(out / "reference"), "--window-kb", "800"]
    assert main([*argv, "--out", str(out / "ld"), "--quiet"]) == 0
    return out


@pytest.mark.parametrize("model", ["ssm", "kernel_linear", "neighbourhood_linear"])
def test_fit_ssm_end_to_end_and_predict(sim, tmp_path, capsys, model):
    fit = tmp_path / "fit"
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")]
    argv += ["--annot", str(sim / "annotations.tsv.gz"), "--model", model, "--width", "8"]
    argv += ["--depth", "2", "--ssm-window-kb", "50", "--epochs", "3", "--test-blocks", "0.25"]
    argv += ["--truth", str(sim / "truth.tsv.gz"), "--out", str(fit)]
    assert main(argv) == 0
    assert "exceeds the LD store's flank" not in capsys.readouterr().out
    metrics = json.loads((fit / "metrics.json").read_text())
    assert metrics["model"] == model and np.isfinite(metrics["heldout_gain"])
    if model == "neighbourhood_linear":  # its channels shrunk by empirical Bayes, then refitted
        sh = metrics["shrinkage"]
        assert sh["precision"] > 0 and 0 <= sh["effective_channels"] <= sh["informed_channels"]
        assert load_prior(fit / "model").shrinkage_precision == pytest.approx(sh["precision"])
        stages = pd.read_csv(fit / "history.tsv", sep="\t")["stage"]
        assert stages.tolist() == ["unshrunk"] * 3 + ["shrunk"] * 3
    else:
        assert metrics["shrinkage"] is None
    cfg = json.loads((fit / "model" / "config.json").read_text())
    assert cfg["window_kb"] == 50.0 and cfg["depth"] == 2
    priors = pd.read_csv(fit / "priors.tsv.gz", sep="\t")
    assert priors["SNPVAR"].gt(0).all()
    # deepwas predict on the same variants gives the fit's priors (to the %.6g of the files)
    out = tmp_path / "pred.tsv.gz"
    argv = ["predict", "--model", str(fit / "model"), "--annot", str(sim / "annotations.tsv.gz")]
    assert main([*argv, "--ld", str(sim / "ld"), "--out", str(out), "--quiet"]) == 0
    pred = pd.read_csv(out, sep="\t").set_index("SNP")["SNPVAR"]
    np.testing.assert_allclose(
        pred.reindex(priors["SNP"]).to_numpy(), priors["SNPVAR"].to_numpy(), rtol=2e-6
    )


def test_fit_warns_when_the_window_exceeds_the_flank(sim, tmp_path, capsys):
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")]
    argv += ["--annot", str(sim / "annotations.tsv.gz"), "--model", "ssm", "--width", "4"]
    argv += ["--depth", "1", "--ssm-window-kb", "1500", "--epochs", "1", "--test-blocks", "0.25"]
    assert main([*argv, "--out", str(tmp_path / "fit")]) == 0
    assert "--ssm-window-kb 1500 exceeds the LD store's flank (1000 kb)" in capsys.readouterr().out


def test_kernel_linear_matches_its_dense_definition_and_starts_at_the_constant():
    from deepwas.ssm import KERNELS, kernel_linear_lengths

    cfg = replace(_random_prior().config, model="kernel_linear", window_kb=30.0)
    prior = build_prior(cfg, seed=2)
    pos = np.vstack([_chromosome(80, 1, seed=3, span=300_000), _chromosome(50, 2, seed=4)])
    x = torch.tensor(np.random.default_rng(5).normal(size=(130, 3)), dtype=F64)
    assert torch.equal(prior(x, pos), torch.full((130,), -11.0, dtype=F64))
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for p in (prior.weight, prior.mix, prior.theta):
            p.add_(torch.randn(p.shape, generator=gen, dtype=F64))
    lengths = kernel_linear_lengths(prior).detach().numpy()
    assert lengths.shape == (KERNELS,) and (lengths > 0).all()
    same = pos[:, None, 0] == pos[None, :, 0]
    d = np.abs(pos[:, None, 1] - pos[None, :, 1])
    xn = x.numpy()
    expected = -11.0 + xn @ prior.weight.detach().numpy()
    for m in range(KERNELS):
        k = np.exp(-d / lengths[m]) * same * (d <= 30_000)
        expected += (k @ xn / k.sum(1, keepdims=True)) @ prior.mix.detach().numpy()[m]
    np.testing.assert_allclose(prior(x, pos).detach().numpy(), expected, rtol=0, atol=1e-12)
    # gradients reach the decay lengths
    prior(x, pos).sum().backward()
    assert prior.theta.grad.abs().min() > 0


def test_neighbourhood_linear_matches_its_dense_definition(monkeypatch):
    """Density channels: the kernel means of every feature; proximity channels: exp(-d / L) to
    the nearest variant carrying each binary feature within the window, else 0; both
    standardised by :func:`deepwas.neighbourhood.calibrate` over the variants given."""
    from deepwas.neighbourhood import calibrate, lengths_bp

    rng = np.random.default_rng(7)
    pos = np.vstack([_chromosome(90, 1, seed=3, span=400_000), _chromosome(60, 2, seed=4)])
    raw = np.column_stack([rng.normal(size=150), rng.random(150) < 0.1, rng.normal(size=150)])
    raw[:60, 1] = 0.0  # the first stretch of chromosome 1 has no mark: long distances
    raw[[70, 100, 140], 1] = raw[:, 1].mean()  # imputed means: still binary, not marked
    mean, sd = raw.mean(0), raw.std(0)
    cfg = replace(
        _random_prior().config,
        model="neighbourhood_linear",
        window_kb=30.0,
        feature_mean=tuple(mean),
        feature_scale=tuple(sd),
    )
    prior = build_prior(cfg, seed=2)
    x = torch.tensor(raw, dtype=F64)
    assert torch.equal(prior(x, pos), torch.full((150,), -11.0, dtype=F64))  # the constant
    calibrate(prior, raw, pos)
    assert prior.nb_binary.tolist() == [0.0, 1.0, 0.0]
    lengths = lengths_bp(30.0)
    assert lengths == [3000.0, 10000.0, 30000.0]
    xs = (raw - mean) / sd
    same = pos[:, None, 0] == pos[None, :, 0]
    d = np.abs(pos[:, None, 1] - pos[None, :, 1])
    cols = []
    for L in lengths:
        k = np.exp(-d / L) * same * (d <= 30_000)
        cols.append(k @ xs / k.sum(1, keepdims=True))
        prox = np.zeros((150, 3))
        marked = raw[:, 1] == 1.0
        dist = np.where(same & marked[None, :], d, np.inf).min(1)
        prox[:, 1] = np.where(dist <= 30_000, np.exp(-dist / L), 0.0)
        cols.append(prox)
    z = np.hstack(cols)
    zm, zs = z.mean(0), z.std(0)
    zs = np.where(zs > 1e-12, zs, 1.0)
    np.testing.assert_allclose(prior.nb_mean.numpy(), zm, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prior.nb_scale.numpy(), zs, rtol=1e-10)
    assert (zs[[3, 5, 9, 11, 15, 17]] == 1.0).all()  # proximity of continuous features: none
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for p in (prior.weight, prior.nb_weight):
            p.add_(torch.randn(p.shape, generator=gen, dtype=F64))
    expected = (
        -11.0
        + xs @ prior.weight.detach().numpy()
        + ((z - zm) / zs) @ prior.nb_weight.detach().numpy()
    )
    np.testing.assert_allclose(prior(x, pos).detach().numpy(), expected, rtol=0, atol=1e-10)
    # any row order gives the same values per variant
    perm = rng.permutation(150)
    np.testing.assert_allclose(
        prior(x[perm], pos[perm]).detach().numpy(), expected[perm], rtol=0, atol=1e-10
    )
    # the channels are kept between calls with the same inputs, and recomputed when any changes
    import deepwas.neighbourhood as nb

    calls = []
    real = nb.channels
    monkeypatch.setattr(nb, "channels", lambda *a: calls.append(1) or real(*a))
    np.testing.assert_allclose(prior(x, pos).detach().numpy(), expected, rtol=0, atol=1e-10)
    assert calls == []
    moved = pos.copy()
    moved[0, 1] += 1.0
    prior(x, moved)
    assert calls == [1]
    prior.nb_threshold[1] += 1e-9  # a buffer changed: the kept channels are stale
    prior(x, pos)
    assert calls == [1, 1]
    from deepwas.fit import stops_early

    assert not stops_early("neighbourhood_linear")
