"""Tests of deepwas.priors: the prior families, their standardisation, and their on-disk format."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from deepwas.errors import InputError
from deepwas.prior_files import load_prior, save_prior
from deepwas.priors import (
    MODELS,
    PRIOR_FAMILIES,
    PriorConfig,
    build_prior,
    fit_standardization,
    log_2pq,
)

K = 3
NAMES = ("coding", "conserved", "log_2pq")


def make_config(model: str, **kw) -> PriorConfig:
    kw.setdefault("feature_names", NAMES)
    kw.setdefault("feature_mean", (0.1, -0.2, -1.5))
    kw.setdefault("feature_scale", (0.3, 1.2, 0.8))
    kw.setdefault("width", 8)
    kw.setdefault("depth", 2)
    return PriorConfig(model=model, **kw)


def raw_features(n: int = 50, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.normal(0.0, 2.0, (n, K)), dtype=torch.float64)


def positions(n: int, seed: int = 0) -> np.ndarray:
    """(CHR, BP) of n variants on one chromosome, for families that use positions (ssm); the
    other families ignore them."""
    rng = np.random.default_rng(seed)
    return np.column_stack([np.ones(n), rng.integers(1, 500_000, n)]).astype(np.float64)


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine (e.g. 2 cores
    shared with another job) the thread barriers make them several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- initialisation ------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)  # every registered family
def test_init_outputs_exactly_init_log_snpvar(model):
    prior = build_prior(make_config(model, init_log_snpvar=-11.25), seed=3)
    x = raw_features(40)
    out = prior(x, positions(40))
    assert out.shape == (40,) and out.dtype == torch.float64
    # Exact: the output weights are zero, so the output is the bias plus an exact 0.
    assert torch.equal(out, torch.full((40,), -11.25, dtype=torch.float64))
    assert all(p.dtype == torch.float64 for p in prior.parameters())


def test_constant_ignores_feature_columns():
    prior = build_prior(PriorConfig("constant", (), (), ()), seed=0)
    for x in (torch.zeros(5, 0), torch.randn(7, 4, dtype=torch.float64)):
        assert torch.equal(prior(x), torch.full((x.shape[0],), -12.0, dtype=torch.float64))


def test_linear_matches_numpy_formula():
    config = make_config("linear", init_log_snpvar=-10.0)
    prior = build_prior(config)
    w = np.array([0.5, -1.25, 0.75])
    with torch.no_grad():
        prior.weight.copy_(torch.tensor(w))
        prior.bias.fill_(-9.5)
    x = raw_features(30)
    expect = (
        -9.5 + ((x.numpy() - np.array(config.feature_mean)) / np.array(config.feature_scale)) @ w
    )
    got = prior(x).detach().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-13, atol=1e-13)  # same float64 arithmetic


def test_forward_rejects_wrong_number_of_columns():
    prior = build_prior(make_config("linear"))
    with pytest.raises(InputError, match="features have 2 columns but the prior was built for 3"):
        prior(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(InputError, match="2-D tensor"):
        prior(torch.zeros(4, dtype=torch.float64))


def test_nan_feature_gives_nan_output():
    prior = build_prior(make_config("linear"))
    x = raw_features(3)
    x[1, 0] = math.nan
    out = prior(x)
    out = out.detach()
    assert math.isnan(out[1]) and torch.isfinite(out[[0, 2]]).all()


def test_deterministic_init_and_global_rng_untouched():
    config = make_config("mlp")
    rng_before = torch.get_rng_state()
    a, b, c = build_prior(config, seed=1), build_prior(config, seed=1), build_prior(config, seed=2)
    assert torch.equal(torch.get_rng_state(), rng_before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["input.weight"], sc["input.weight"])
    assert not torch.equal(sa["blocks.0.fc1.weight"], sc["blocks.0.fc1.weight"])


def test_n_params():
    assert build_prior(make_config("constant")).n_params == 1
    assert build_prior(make_config("linear")).n_params == K + 1
    # By hand, k=3, width=8, depth=2:
    #   input Linear 3*8 + 8 = 32
    #   per block: LayerNorm 2*8 + fc1 8*8+8 + fc2 8*8+8 = 16 + 72 + 72 = 160, times 2 = 320
    #   output LayerNorm 2*8 = 16, output weights 8 + bias 1 = 9
    assert build_prior(make_config("mlp", width=8, depth=2)).n_params == 32 + 320 + 16 + 9
    # linear_mlp: the MLP plus a linear path of k weights
    assert (
        build_prior(make_config("linear_mlp", width=8, depth=2)).n_params == 32 + 320 + 16 + 9 + K
    )


@pytest.mark.parametrize("combined, network", [("linear_mlp", "mlp"), ("linear_ssm", "ssm")])
def test_linear_plus_network_is_the_linear_prior_plus_the_network(combined, network):
    both = build_prior(make_config(combined, width=4, depth=2), seed=3)
    net = build_prior(make_config(network, width=4, depth=2), seed=3)
    lin = build_prior(make_config("linear"), seed=3)
    with torch.no_grad():
        for p in (both.weight, net.weight):
            p.copy_(torch.linspace(-1.0, 1.0, 4, dtype=torch.float64))
        both.linear.copy_(torch.arange(1.0, K + 1, dtype=torch.float64) / 10)
        lin.weight.copy_(both.linear)
        lin.bias.copy_(both.bias)
        net.bias.zero_()
    x, pos = raw_features(6), positions(6)  # the mlp ignores the positions
    with torch.no_grad():
        assert torch.allclose(both(x, pos), lin(x) + net(x, pos), rtol=0, atol=1e-12)


def test_mlp_gradcheck_wrt_features():
    prior = build_prior(make_config("mlp", width=4, depth=2), seed=0)
    with torch.no_grad():  # make the output depend on the features
        prior.weight.copy_(torch.linspace(-1.0, 1.0, 4, dtype=torch.float64))
    x = raw_features(5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: prior(t), (x,), eps=1e-6, atol=1e-7)


def test_depth_keeps_residual_stream_variance_bounded(one_thread):
    # Variance of the residual stream h (the pre-output activations, before the output
    # LayerNorm) at initialisation, for a shallow and a deep MLP.
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(2000, 5)), dtype=torch.float64)
    config = dict(feature_names=tuple(f"a{i}" for i in range(5)), feature_mean=(0.0,) * 5)
    config["feature_scale"] = (1.0,) * 5

    def stream_var(depth: int, block_scale: float | None = None) -> float:
        prior = build_prior(PriorConfig("mlp", width=64, depth=depth, **config), seed=0)
        with torch.no_grad():
            return prior._hidden(prior.standardize(x), block_scale=block_scale).var().item()

    ratio = stream_var(32) / stream_var(1)
    assert ratio < 3.0, ratio
    # The test has teeth: without the 1/sqrt(depth) factor the deep stream blows up.
    assert stream_var(32, block_scale=1.0) / stream_var(1, block_scale=1.0) > 3.0


def test_training_mlp_beats_linear(one_thread):
    # Gradients flow through every family: fit log s = sin(x0) + x1 * x2 by full-batch Adam.
    # The best linear fit leaves MSE ~1.06 (Var(x1 x2) = 1 is not linear); the MLP must do
    # better than half of what linear reaches.
    rng = np.random.default_rng(1)
    xn = rng.normal(size=(2000, 3))
    x = torch.tensor(xn, dtype=torch.float64)
    y = torch.tensor(np.sin(xn[:, 0]) + xn[:, 1] * xn[:, 2], dtype=torch.float64)
    names = ("x0", "x1", "x2")
    mean, scale = fit_standardization(xn, names)
    mse = {}
    for model in ("linear", "mlp"):
        config = PriorConfig(model, names, mean, scale, width=16, depth=2, init_log_snpvar=0.0)
        prior = build_prior(config, seed=0)
        opt = torch.optim.Adam(prior.parameters(), lr=3e-2)
        first = None
        for _ in range(100):
            opt.zero_grad()
            loss = torch.mean((prior(x) - y) ** 2)
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
        mse[model] = torch.mean((prior(x) - y) ** 2).item()
        assert mse[model] < first
    assert mse["linear"] == pytest.approx(1.06, abs=0.15)
    assert mse["mlp"] < 0.5 * mse["linear"], mse


# --- config ------------------------------------------------------------------------------


def test_config_json_round_trip():
    config = make_config("mlp", activation="silu", init_log_snpvar=-13.5)
    d = config.to_json()
    assert d["feature_names"] == list(NAMES) and isinstance(d["feature_mean"], list)
    assert PriorConfig.from_json(json.loads(json.dumps(d))) == config


def test_config_normalises_numpy_inputs():
    mean, scale = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    config = PriorConfig("linear", ["a", "b"], mean, scale)
    assert config.feature_mean == (0.0, 1.0) and type(config.feature_mean[0]) is float
    assert config.feature_names == ("a", "b")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"model": "cnn"}, "model"),
        ({"width": 0}, "width"),
        ({"depth": 0}, "depth"),
        ({"depth": 2.5}, "depth"),
        ({"activation": "swish2"}, "activation"),
        ({"feature_mean": [0.0, 1.0]}, "feature_mean"),
        ({"feature_scale": [1.0, 1.0]}, "feature_scale"),
        ({"feature_scale": [1.0, 0.0, 1.0]}, "feature_scale"),
        ({"feature_mean": [0.0, math.nan, 1.0]}, "feature_mean"),
        ({"feature_names": ["a", "a", "b"]}, "feature_names"),
        ({"init_log_snpvar": math.inf}, "init_log_snpvar"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_config_from_json_errors_name_the_key(change, key):
    d = make_config("mlp").to_json() | change
    with pytest.raises(InputError) as info:
        PriorConfig.from_json(d)
    assert info.value.column == key
    assert f"column '{key}'" in str(info.value)


def test_config_missing_key_and_featureless_linear():
    d = make_config("linear").to_json()
    del d["feature_scale"]
    with pytest.raises(InputError, match="column 'feature_scale': missing key"):
        PriorConfig.from_json(d)
    with pytest.raises(InputError, match="needs at least one feature"):
        PriorConfig("linear", (), (), ())


# --- standardisation and allele frequency -------------------------------------------------


def test_fit_standardization_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, (500, 4))
    mean, scale = fit_standardization(x, ["a", "b", "c", "d"])
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(scale, x.std(axis=0, ddof=0), rtol=1e-15)


def test_fit_standardization_rejects_constant_and_missing_columns():
    x = np.column_stack([np.arange(10.0), np.full(10, 7.0)])
    with pytest.raises(InputError, match=r"column 'flat':.*no variance.*drop this annotation"):
        fit_standardization(x, ["ok", "flat"])
    x[3, 0] = np.nan
    with pytest.raises(InputError, match=r"column 'ok': annotation has 1 missing"):
        fit_standardization(x, ["ok", "flat"])
    with pytest.raises(InputError, match="2 names"):
        fit_standardization(np.zeros((3, 3)), ["a", "b"])


def test_log_2pq():
    af = np.array([0.5, 0.2, 0.8, 0.0, 1.0, 1e-6, np.nan])
    got = log_2pq(af)
    assert got[0] == pytest.approx(math.log(0.5), rel=1e-15)
    # 1 - 0.8 is 0.19999999999999996 in float64, hence rel 1e-14 rather than exact.
    assert got[1] == pytest.approx(math.log(2 * 0.2 * 0.8), rel=1e-15)
    assert got[2] == pytest.approx(got[1], rel=1e-14)
    floor = math.log(2 * 1e-4 * (1 - 1e-4))  # the clip at p = 1e-4
    assert got[3] == got[4] == got[5] == pytest.approx(floor, rel=1e-15)
    assert math.isnan(got[6])
    with pytest.raises(InputError, match="column 'af': 1 allele frequencies outside"):
        log_2pq(np.array([0.1, 12.0]))


# --- the registry ---------------------------------------------------------------------------


def test_registry_lists_the_families_once():
    assert MODELS == tuple(PRIOR_FAMILIES)
    assert MODELS == (
        "constant",
        "linear",
        "mlp",
        "linear_mlp",
        "ssm",
        "linear_ssm",
        "kernel_linear",
        "neighbourhood_linear",
    )
    for name, family in PRIOR_FAMILIES.items():
        assert family.name == name and family.description
        assert build_prior(make_config(name)).family is family
    with pytest.raises(TypeError):
        PRIOR_FAMILIES["other"] = PRIOR_FAMILIES["linear"]  # read-only
    with pytest.raises(
        InputError,
        match="PriorConfig.model .give one of constant, linear, mlp, linear_mlp, ssm, linear_ssm, "
        "kernel_linear or neighbourhood_linear",
    ):
        make_config("transformer")


def test_state_dict_keys_are_those_of_the_saved_format():
    # the families' parameter names are the on-disk format (model.safetensors keys)
    keys = {m: set(build_prior(make_config(m, depth=1)).state_dict()) for m in MODELS}
    common = {"feature_mean", "feature_scale", "bias"}
    assert keys["constant"] == common
    assert keys["linear"] == common | {"weight"}
    block = {f"blocks.0.{p}.{w}" for p in ("norm", "fc1", "fc2") for w in ("weight", "bias")}
    io = {f"{m}.{w}" for m in ("input", "out_norm") for w in ("weight", "bias")}
    assert keys["mlp"] == common | {"weight"} | block | io
    assert keys["linear_mlp"] == keys["mlp"] | {"linear"}
    ssm_block = {
        f"blocks.0.{p}.{w}"
        for p in ("norm", "value", "gate", "out", "norm2", "fc1", "fc2")
        for w in ("weight", "bias")
    }
    assert keys["ssm"] == common | {"weight", "blocks.0.theta"} | ssm_block | io
    assert keys["linear_ssm"] == keys["ssm"] | {"linear"}
    assert keys["kernel_linear"] == common | {"weight", "mix", "theta"}
    nb = {"nb_weight", "nb_binary", "nb_threshold", "nb_mean", "nb_scale", "shrinkage_precision"}
    assert keys["neighbourhood_linear"] == common | {"weight"} | nb


# --- on disk -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)  # every registered family
def test_save_load_round_trip(tmp_path, model):
    prior = build_prior(make_config(model), seed=5)
    with torch.no_grad():  # move away from the (trivial) initial output
        for p in prior.parameters():
            p.add_(0.1 * torch.randn(p.shape, dtype=torch.float64))
    save_prior(prior, tmp_path / "model", seed=5)
    loaded = load_prior(tmp_path / "model")
    assert loaded.config == prior.config
    x, pos = raw_features(20), positions(20)
    assert torch.equal(loaded(x, pos), prior(x, pos))
    meta = json.loads((tmp_path / "model" / "config.json").read_text())
    assert meta["format"] == "deepwas-prior" and meta["version"] == 1
    assert meta["n_params"] == prior.n_params
    assert meta["model"] == model and meta["feature_names"] == list(NAMES)
    assert meta["provenance"]["seed"] == 5
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]


def test_save_replaces_existing_folder(tmp_path):
    save_prior(build_prior(make_config("linear")), tmp_path / "m")
    save_prior(build_prior(make_config("constant")), tmp_path / "m")
    assert load_prior(tmp_path / "m").config.model == "constant"


def test_load_from_the_fit_folder(tmp_path):
    """A fit's folder (FIT/model/ holds the prior) loads as its model/ does."""
    save_prior(build_prior(make_config("linear"), seed=2), tmp_path / "fit" / "model")
    a, b = load_prior(tmp_path / "fit"), load_prior(tmp_path / "fit" / "model")
    assert a.config == b.config
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    (tmp_path / "other").mkdir()
    with pytest.raises(InputError, match="missing file of a saved prior"):
        load_prior(tmp_path / "other")


def _saved(tmp_path):
    out = tmp_path / "model"
    save_prior(build_prior(make_config("mlp")), out)
    return out


def test_load_errors_missing(tmp_path):
    with pytest.raises(InputError, match="prior folder not found") as info:
        load_prior(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    out = _saved(tmp_path)
    (out / "model.safetensors").unlink()
    with pytest.raises(InputError, match="missing file") as info:
        load_prior(out)
    assert str(out / "model.safetensors") in str(info.value)
    (out / "config.json").unlink()
    with pytest.raises(InputError, match="missing file") as info:
        load_prior(out)
    assert str(out / "config.json") in str(info.value)


def _edit_config(path, **change):
    meta = json.loads(path.read_text()) | change
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "prior format version 2; this deepwas reads version 1"),
        ({"format": "something-else"}, "not a deepwas prior"),
        ({"model": "cnn"}, "column 'model': invalid prior config"),
        ({"n_params": 3}, "says n_params=3"),
    ],
)
def test_load_errors_config(tmp_path, change, message):
    out = _saved(tmp_path)
    _edit_config(out / "config.json", **change)
    with pytest.raises(InputError, match=message) as info:
        load_prior(out)
    assert str(out / "config.json") in str(info.value)


def test_load_errors_corrupt(tmp_path):
    out = _saved(tmp_path)
    (out / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read prior config") as info:
        load_prior(out)
    assert str(out / "config.json") in str(info.value)

    out = _saved(tmp_path)
    (out / "model.safetensors").write_bytes(b"garbage bytes")
    with pytest.raises(InputError, match="cannot read prior weights") as info:
        load_prior(out)
    assert str(out / "model.safetensors") in str(info.value)

    out = _saved(tmp_path)
    _edit_config(out / "config.json", width=4, n_params=None)  # weights no longer fit
    with pytest.raises(InputError, match="weights do not match config.json") as info:
        load_prior(out)
    assert str(out / "model.safetensors") in str(info.value)


@pytest.mark.parametrize("model", ["constant", "linear", "mlp"])
def test_predict_in_blocks_equals_forward(model):
    """Prior.predict evaluates a genome's rows in blocks (memory) with the values of forward."""
    from deepwas.priors import PREDICT_ROWS

    if model == "constant":
        config = PriorConfig("constant", (), (), ())
    else:
        config = make_config(model)
    prior = build_prior(config, seed=3)
    n = PREDICT_ROWS + 123
    x = np.random.default_rng(0).normal(size=(n, prior.config.n_features))
    with torch.no_grad():
        want = prior(torch.from_numpy(x))
    got = prior.predict(x)
    assert got.shape == (n,) and not got.requires_grad
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)
