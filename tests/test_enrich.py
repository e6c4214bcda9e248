"""deepwas enrich and deepwas predict: the .results arithmetic against a slow loop written here,
the linear prior's Coefficient against its forward pass, the jackknife of a constant prior
against constant_h2_jackknife, the CLI end to end on a small simulation (the Prop._h2 of the
table against the written priors.tsv.gz), the predict round trip, and every error a user sees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from _diagonal import diagonal_trait, diagonal_window, linear_diagonal_data
from deepwas.cli import main
from deepwas.data import FitData
from deepwas.enrich import (
    AUTO_SCRATCH_MAX_WINDOWS,
    RESULTS_COLUMNS,
    coefficients,
    enrichment_table,
    jackknife_refits,
    resolve_jackknife,
    resolve_refit,
)
from deepwas.fit import TrainConfig
from deepwas.jackknife import constant_h2_jackknife
from deepwas.optimum import TrainingObjective, fit_to_optimum
from deepwas.priors import PriorConfig, build_prior


# ------------------------------------------------------------------------------ arithmetic
def _slow_table(s, A, delete):
    """Prop._SNPs, Prop._h2 and the jackknife SE of Prop._h2 by explicit loops (float64)."""
    M, K = A.shape
    out = []
    for k in range(K):
        num = sum(A[i, k] * s[i] for i in range(M))
        prop_h2 = num / sum(s)
        prop_snps = sum(A[:, k]) / M
        d = [sum(A[i, k] * sb[i] for i in range(M)) / sum(sb) for sb in delete]
        mean = sum(d) / len(d)
        B = len(d)
        se = math.sqrt((B - 1) / B * sum((x - mean) ** 2 for x in d))
        out.append((prop_snps, prop_h2, se))
    return out


def test_table_against_a_slow_loop():
    rng = np.random.default_rng(0)
    M, B = 200, 7
    A = np.column_stack(
        [rng.random(M) < 0.2, rng.random(M) < 0.5, rng.normal(size=M), rng.gamma(2.0, size=M)]
    ).astype(float)
    s = rng.gamma(1.0, 1e-5, size=M)
    delete = s * rng.lognormal(0, 0.1, size=(B, M))
    tab = enrichment_table(s, A, ["a", "b", "c", "d"], delete_snpvar=delete)
    assert list(tab.columns) == RESULTS_COLUMNS
    for k, (ps, ph, se) in enumerate(_slow_table(s, A, delete)):
        row = tab.iloc[k]
        # sums of 200 terms: agreement to 1e-12 relative is round-off
        assert row["Prop._SNPs"] == pytest.approx(ps, rel=1e-12)
        assert row["Prop._h2"] == pytest.approx(ph, rel=1e-12)
        assert row["Prop._h2_std_error"] == pytest.approx(se, rel=1e-10)
        assert row["Enrichment"] == pytest.approx(ph / ps, rel=1e-12)
        assert row["Enrichment_std_error"] == pytest.approx(se / abs(ps), rel=1e-10)
        p = 2 * stats.t.sf(abs(ph - ps) / se, df=B - 1)
        assert row["Enrichment_p"] == pytest.approx(p, rel=1e-9)
    assert tab["Coefficient"].isna().all()


def test_centred_continuous_annotation_has_no_enrichment():
    rng = np.random.default_rng(1)
    a = rng.normal(size=100)
    a -= a.mean()
    s = rng.gamma(1.0, 1e-5, size=100)
    tab = enrichment_table(s, a[:, None], ["c"], delete_snpvar=[s * 1.01, s * 0.99, s * 1.02])
    assert np.isnan(tab.loc[0, "Enrichment"]) and np.isnan(tab.loc[0, "Enrichment_std_error"])
    assert tab.loc[0, "Prop._h2"] == pytest.approx(float(a @ s / s.sum()), rel=1e-12)


def test_point_estimates_without_refits_and_constant_prior_has_no_enrichment():
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    tab = enrichment_table(np.full(4, 2e-5), A, ["x", "y"])
    # a constant prior: Prop._h2 = Prop._SNPs = 2/4, enrichment 1 (hand values)
    assert tab["Prop._h2"].tolist() == [0.5, 0.5]
    assert tab["Enrichment"].tolist() == [1.0, 1.0]
    assert tab["Prop._h2_std_error"].isna().all() and tab["Enrichment_p"].isna().all()


def test_linear_coefficient_is_the_log_fold_change_per_unit():
    cfg = PriorConfig("linear", ("bin", "cont"), (0.3, 1.0), (0.46, 2.5), init_log_snpvar=-11.0)
    prior = build_prior(cfg)
    with torch.no_grad():
        prior.weight.copy_(torch.tensor([0.7, -0.4], dtype=torch.float64))
    coef = coefficients(prior, ["bin", "other", "cont"])
    x0 = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    x1 = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    step = (prior(x1) - prior(x0)).detach().numpy()
    assert coef[0] == pytest.approx(step[0], rel=1e-12)
    assert coef[2] == pytest.approx(step[1], rel=1e-12)
    assert np.isnan(coef[1])


def test_auto_refit_reruns_small_fits_and_mlps_and_optimises_large_linear_fits():
    names = ("a", "b")
    for model, n, want in [
        ("linear", 18, "scratch"),
        ("linear", AUTO_SCRATCH_MAX_WINDOWS, "scratch"),
        ("linear", AUTO_SCRATCH_MAX_WINDOWS + 1, "optimum"),
        ("constant", 1700, "optimum"),
        ("mlp", 1700, "scratch"),
        ("linear_mlp", 1700, "scratch"),
        ("neighbourhood_linear", 1700, "optimum"),
        ("kernel_linear", 1700, "scratch"),
    ]:
        cfg = PriorConfig(
            model=model,
            feature_names=names,
            feature_mean=(0.0, 0.0),
            feature_scale=(1.0, 1.0),
            width=4,
            depth=1,
        )
        prior = build_prior(cfg)
        assert resolve_refit(prior, n) == want, (model, n)
        # reruns of an early-stopped network: delete-half; of a prior without early stopping or
        # refits to an optimum: delete-one
        network = model in ("mlp", "linear_mlp", "kernel_linear")
        assert resolve_jackknife(prior, "scratch") == ("delete-half" if network else "delete-one")
    with pytest.raises(Exception, match="resolve 'auto'"):
        next(jackknife_refits(None, None, None, method="auto"))


def test_shapes_and_nonpositive_h2_are_input_errors():
    from deepwas.errors import InputError

    with pytest.raises(InputError, match="do not match"):
        enrichment_table(np.ones(3), np.ones((4, 1)), ["a"])
    with pytest.raises(InputError, match="not positive"):
        enrichment_table(np.zeros(3), np.ones((3, 1)), ["a"])


# ------------------------------------------------------------------------------ jackknife
@pytest.mark.slow
def test_constant_prior_jackknife_agrees_with_constant_h2_jackknife():
    """Warm-started AdamW refits of the constant prior (full batch, enough epochs to converge)
    give the delete-one h2 of constant_h2_jackknife's L-BFGS refits, on data of the diagonal
    model."""
    rng = np.random.default_rng(5)
    windows, offset = [], 0
    for i in range(8):
        G, scale = rng.normal(size=(60, 30)) * 0.3, rng.uniform(0.5, 2.0, size=30)
        e = ((G * scale) ** 2).sum(0)
        y = rng.normal(size=30) * np.sqrt(1.2 + 1000.0 * 5e-4 * e)
        windows.append(diagonal_window(i, offset, G, scale, y))
        offset += 60
    trait = diagonal_trait(windows, offset, 1000.0)
    fit, se_ref = constant_h2_jackknife(trait, n_blocks=4)
    prior = build_prior(PriorConfig("constant", (), (), (), init_log_snpvar=math.log(fit.snpvar)))
    data = FitData(trait, np.zeros((offset, 0)), [], list(range(8)), [], [])
    cfg = TrainConfig(model="constant", lr=0.02, batch_windows=8, seed=1)
    h2 = [
        float(torch.exp(p.bias.detach())) * offset
        for _, p in jackknife_refits(
            data,
            prior,
            cfg,
            sigma=fit.sigma,
            n_blocks=4,
            method="adamw",
            epochs=300,
            progress=False,
        )
    ]
    B = len(h2)
    se = math.sqrt((B - 1) / B * float(np.sum((np.array(h2) - np.mean(h2)) ** 2)))
    # AdamW ends within about lr/10 of the optimum in log s: 2% of an SE that is ~20% of h2
    assert se == pytest.approx(se_ref, rel=0.02)


def _dense_objective(data, theta: np.ndarray, windows, prior_sd: float | None = 1.0) -> float:
    """numpy float64 reference of the penalised objective of a linear prior on the diagonal
    model: theta = (bias, w_bin, w_cont, log sigma) on the standardised features."""
    X = data.features
    Z = (X - X.mean(0)) / X.std(0)
    log_s = theta[0] + Z @ theta[1:3]
    sigma, N = math.exp(theta[3]), data.trait.n_gwas
    total, n = 0.0, 0
    for i in windows:
        w = data.trait.windows[i]
        Gt = (w.G * w.scale).T  # (r, C)
        v = sigma + N * (Gt**2) @ np.exp(log_s[w.context])
        total += 0.5 * float(np.sum(np.log(v) + w.y**2 / v)) + w.const
        n += w.n_scored
    if prior_sd is not None:
        total += float(theta[1:3] @ theta[1:3]) / (2 * prior_sd**2)
    return total / n


def _linear_prior(data, bias=-8.0, weight=(0.0, 0.0)):
    X = data.features
    cfg = PriorConfig(
        "linear", tuple(data.feature_names), tuple(X.mean(0)), tuple(X.std(0)), init_log_snpvar=bias
    )
    prior = build_prior(cfg)
    with torch.no_grad():
        prior.weight.copy_(torch.tensor(weight, dtype=torch.float64))
    return prior


def _theta(prior, sigma: float) -> np.ndarray:
    w = prior.weight.detach().numpy()
    return np.array([float(prior.bias.detach()), w[0], w[1], math.log(sigma)])


def test_fit_to_optimum_reaches_the_optimum_of_the_dense_objective():
    """The L-BFGS refit of a linear prior ends where the gradient of an independent numpy
    objective (central differences) vanishes, and from two different starts at the same point."""
    data = linear_diagonal_data()
    obj = TrainingObjective(data)
    windows = data.train
    start = _linear_prior(data, bias=-7.0, weight=(0.3, 0.1))
    theta0 = _theta(start, 2.0)
    # the objective is the dense reference's
    sig = torch.tensor(math.log(2.0), dtype=torch.float64)
    assert float(obj(start, sig, windows).detach()) == pytest.approx(
        _dense_objective(data, theta0, windows, prior_sd=None), rel=1e-12
    )
    a = fit_to_optimum(obj, start, 2.0, windows, tol=1e-8)
    assert a.converged and a.grad_norm <= 1e-8
    theta = _theta(a.prior, a.sigma)
    h = 1e-5
    grad = [
        (
            _dense_objective(data, theta + h * e, windows)
            - _dense_objective(data, theta - h * e, windows)
        )
        / (2 * h)
        for e in np.eye(4)
    ]
    assert np.abs(grad).max() < 1e-7
    # the start is not at the optimum, and the refit moved it
    assert np.abs(theta - theta0).max() > 0.1
    b = fit_to_optimum(obj, _linear_prior(data, bias=-9.0, weight=(-0.5, 0.4)), 0.8, windows)
    assert b.converged
    np.testing.assert_allclose(_theta(b.prior, b.sigma), theta, atol=1e-5)
    assert b.objective == pytest.approx(a.objective, rel=1e-12, abs=1e-12)
    # the starting prior was not changed
    np.testing.assert_array_equal(_theta(start, 2.0), theta0)


def test_optimum_jackknife_refits_equal_from_scratch_fits_on_the_reduced_data():
    """Each delete-one refit (warm start at the full-data optimum) is the optimum of the kept
    windows from a cold start; and the refits differ from each other (the jackknife sees data)."""
    data = linear_diagonal_data()
    obj = TrainingObjective(data)
    full = fit_to_optimum(obj, _linear_prior(data), 1.0, data.train)
    refits = list(
        jackknife_refits(
            data,
            full.prior,
            TrainConfig(model="linear"),
            sigma=full.sigma,
            n_blocks=4,
            objective=obj,
            progress=False,
        )
    )
    assert len(refits) == 4
    thetas = []
    for b, prior in refits:
        kept = [w for w in data.train if w not in (2 * b, 2 * b + 1)]
        cold = fit_to_optimum(obj, _linear_prior(data), 1.0, kept)
        np.testing.assert_allclose(
            prior.weight.detach().numpy(), cold.prior.weight.detach().numpy(), atol=1e-5
        )
        assert float(prior.bias.detach()) == pytest.approx(
            float(cold.prior.bias.detach()), abs=1e-5
        )
        thetas.append(prior.weight.detach().numpy())
    assert np.std(np.array(thetas), axis=0).min() > 1e-3


def test_scratch_refits_take_the_fits_mini_batches_without_the_deleted_windows(monkeypatch):
    """A ``scratch`` delete-one rerun steps through the full fit's mini-batches with the deleted
    windows left out (``train_prior(schedule=...)``), so that it differs from the fit by the data
    and not by a reshuffled optimisation; with nothing deleted it is the fit itself."""
    import deepwas.fit as fit_module

    data = linear_diagonal_data(n_windows=10)
    cfg = TrainConfig(model="mlp", width=4, depth=1, epochs=3, batch_windows=3, seed=2)
    calls: list[list[int]] = []
    real = fit_module._objective_value

    def recording(model, log_sigma, d, positions, *args):
        calls.append([int(w) for w in positions])
        return real(model, log_sigma, d, positions, *args)

    monkeypatch.setattr(fit_module, "_objective_value", recording)
    full = fit_module.train_prior(data, cfg, progress=False)
    full_calls, calls[:] = list(calls), []
    same = fit_module.train_prior(data, cfg, progress=False, schedule=list(data.train))
    assert calls == full_calls
    for a, b in zip(
        full.prior.state_dict().values(), same.prior.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)

    refits = dict(
        jackknife_refits(data, full.prior, cfg, n_blocks=5, method="scratch", progress=False)
    )
    assert len(refits) == 5
    dropped = {4, 5}  # block 2 of 5 contiguous pairs
    kept = [w for w in data.train if w not in dropped]
    calls[:] = []
    by_hand = fit_module.train_prior(
        FitData(data.trait, data.features, data.feature_names, kept, [], []),
        cfg,
        progress=False,
        schedule=list(data.train),
    )
    for a, b in zip(
        refits[2].state_dict().values(), by_hand.prior.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    expected = [[w for w in c if w not in dropped] for c in full_calls]
    assert calls == [c for c in expected if c]
    # without the schedule the batches are reshuffled (what the jackknife must not do)
    calls[:] = []
    fit_module.train_prior(
        FitData(data.trait, data.features, data.feature_names, kept, [], []), cfg, progress=False
    )
    assert calls != [c for c in expected if c]


def test_optimum_jackknife_of_the_constant_prior_equals_constant_h2_jackknife():
    """With refits to the optimum the constant prior's delete-one h2 are constant_h2_jackknife's
    L-BFGS delete-one values: the same SE to optimiser precision."""
    rng = np.random.default_rng(5)
    windows, offset = [], 0
    for i in range(8):
        G, scale = rng.normal(size=(60, 30)) * 0.3, rng.uniform(0.5, 2.0, size=30)
        e = ((G * scale) ** 2).sum(0)
        y = rng.normal(size=30) * np.sqrt(1.2 + 1000.0 * 5e-4 * e)
        windows.append(diagonal_window(i, offset, G, scale, y))
        offset += 60
    trait = diagonal_trait(windows, offset, 1000.0)
    fit, se_ref = constant_h2_jackknife(trait, n_blocks=4)
    prior = build_prior(PriorConfig("constant", (), (), (), init_log_snpvar=math.log(fit.snpvar)))
    data = FitData(trait, np.zeros((offset, 0)), [], list(range(8)), [], [])
    h2 = [
        float(torch.exp(p.bias.detach())) * offset
        for _, p in jackknife_refits(
            data, prior, TrainConfig(model="constant"), sigma=fit.sigma, n_blocks=4, progress=False
        )
    ]
    B = len(h2)
    se = math.sqrt((B - 1) / B * float(np.sum((np.array(h2) - np.mean(h2)) ** 2)))
    assert se == pytest.approx(se_ref, rel=1e-4)


# ------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small simulation, its LD store (6 windows) and a linear fit."""
    root = tmp_path_factory.mktemp("enrich")
    sim, ld, fit = root / "sim", root / "ld", root / "fit"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(sim),
                "--length-mb",
                "3",
                "--n-ref",
                "150",
                "--max-snps",
                "600",
                "--h2",
                "0.05",
                "--n-gwas",
                "50000",
                "--seed",
                "4",
                "--quiet",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "ld",
                "--bfile",
                str(sim / "reference"),
                "--window-kb",
                "500",
                "--flank-kb",
                "500",
                "--out",
                str(ld),
                "--quiet",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "fit",
                "--sumstats",
                str(sim / "sumstats.tsv.gz"),
                "--ld",
                str(ld),
                "--annot",
                str(sim / "annotations.tsv.gz"),
                "--epochs",
                "4",
                "--val-fraction",
                "0",
                "--out",
                str(fit),
                "--quiet",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    return sim, ld, fit


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("deepwas: error: ")
    return err[0]


@pytest.mark.parametrize("refit", [None, "optimum", "scratch", "adamw"])
def test_enrich_end_to_end(fitted, tmp_path, refit):
    sim, _, fit = fitted
    out = tmp_path / "e"
    argv = [
        "enrich",
        "--fit",
        str(fit),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--blocks",
        "3",
        *(["--refit", refit] if refit else []),
        "--refit-epochs",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    tab = pd.read_csv(f"{out}.results", sep="\t")
    assert list(tab.columns) == RESULTS_COLUMNS
    assert (tab["Prop._h2_std_error"] > 0).all() and tab["Enrichment_p"].between(0, 1).all()
    assert tab["Coefficient_std_error"].notna().all()  # every annotation is a feature
    record = json.loads(open(f"{out}.enrich.json").read())
    assert record["n_blocks"] == 3 and record["provenance"]["command"][1] == "enrich"
    # the default for a fit of a few windows: the saved prior's table, its training rerun
    assert record["refit"] == (refit or "scratch")
    assert record["jackknife"] == "delete-one" and record["n_refits"] == 3  # a linear prior
    # Prop._h2 from the written prior (priors.tsv.gz, 6 significant digits) and the annotations;
    # with --refit optimum the table is the optimum's, which is drift_in_se SEs away
    pri = pd.read_csv(fit / "priors.tsv.gz", sep="\t")
    ann = pd.read_csv(sim / "annotations.tsv.gz", sep="\t").merge(pri[["SNP", "SNPVAR"]])
    s = ann["SNPVAR"].to_numpy()
    for _, row in tab.iterrows():
        expect = float(ann[row["Category"]].to_numpy() @ s / s.sum())
        if refit == "optimum":
            expect += record["drift_in_se"][row["Category"]] * row["Prop._h2_std_error"]
        assert row["Prop._h2"] == pytest.approx(expect, rel=1e-4, abs=1e-5)  # %.6g output
    if refit == "optimum":  # a 4-epoch fit is not at the optimum
        assert max(abs(v) for v in record["drift_in_se"].values()) > 0.01
    page = Path(f"{out}.html").read_text()  # the forest plot with 95% intervals and the table
    assert "data:image/png;base64," in page and tab["Category"].iloc[0] in page


def test_delete_half_jackknife_against_its_refits_by_hand(fitted, tmp_path):
    """``jackknife="delete-half"``: 2 x partitions reruns of the fit without the blocks of
    half_samples, SEs by half_sample_se of their Prop._h2 and p-values on ``partitions``
    degrees of freedom; the CLI records it."""
    from deepwas.enrich import enrichment, fit_settings
    from deepwas.jackknife import half_sample_se, half_samples

    sim, _, fit = fitted
    annot = str(sim / "annotations.tsv.gz")
    captured = {}
    import deepwas.enrich as enrich_module

    real = enrich_module.jackknife_refits

    def spy(*args, **kwargs):
        captured["deleted"] = kwargs["deleted"]
        for b, prior in real(*args, **kwargs):
            captured.setdefault("priors", []).append(prior)
            yield b, prior

    enrich_module.jackknife_refits = spy
    try:
        res = enrichment(
            fit, annot, n_blocks=4, jackknife="delete-half", half_partitions=3, progress=False
        )
    finally:
        enrich_module.jackknife_refits = real
    assert res.jackknife == "delete-half" and res.n_refits == 6
    seed = fit_settings(fit).split_seed
    expected = half_samples(4, 3, seed=seed)
    assert all((a == b).all() for a, b in zip(captured["deleted"], expected, strict=True))
    # each refit is the fit's training on the windows outside its deleted blocks
    assert len(captured["priors"]) == 6
    from deepwas.data import build_features
    from deepwas.io.annotations import match_annotations, read_annotations
    from deepwas.ld.store import LDStore

    store = LDStore.open(fit_settings(fit).ld)
    table = read_annotations(annot)
    values, found, _ = match_annotations(table, store.variants)
    X, feature_names, _ = build_features(store, table)
    prior_names = list(captured["priors"][0].config.feature_names)
    X = X[:, [feature_names.index(n) for n in prior_names]]
    A = values[found]
    props = []
    for p in captured["priors"]:
        s = np.exp(p.predict(X).numpy())[found]
        props.append(A.T @ s / s.sum())
    props = np.array(props)
    sizes = np.array([len(d) for d in expected])
    for k in range(len(res.table)):
        se = half_sample_se(props[:, k], sizes, 4)
        assert res.table.loc[k, "Prop._h2_std_error"] == pytest.approx(se, rel=1e-9)
    t = (res.table["Prop._h2"] - res.table["Prop._SNPs"]) / res.table["Prop._h2_std_error"]
    np.testing.assert_allclose(res.table["Enrichment_p"], 2 * stats.t.sf(np.abs(t), df=3))

    out = tmp_path / "h"
    argv = ["enrich", "--fit", str(fit), "--annot", annot, "--blocks", "4"]
    argv += ["--jackknife", "delete-half", "--half-partitions", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    record = json.loads(open(f"{out}.enrich.json").read())
    assert record["jackknife"] == "delete-half" and record["n_refits"] == 4


def test_enrich_without_blocks_gives_point_estimates(fitted, tmp_path):
    sim, _, fit = fitted
    out = tmp_path / "e0"
    argv = [
        "enrich",
        "--fit",
        str(fit),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--blocks",
        "0",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    tab = pd.read_csv(f"{out}.results", sep="\t")
    assert tab["Prop._h2_std_error"].isna().all() and tab["Prop._h2"].notna().all()
    record = json.loads(open(f"{out}.enrich.json").read())
    assert (record["jackknife"], record["n_refits"]) == ("none", 0)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--blocks", "1"], "--blocks"),
        (["--refit-epochs", "0"], "--refit-epochs"),
        (["--blocks", "99"], "n_blocks"),
        (["--half-partitions", "0"], "--half-partitions"),
    ],
)
def test_enrich_bad_flags(fitted, tmp_path, capsys, extra, needle):
    sim, _, fit = fitted
    out = tmp_path / "bad"
    argv = [
        "enrich",
        "--fit",
        str(fit),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    assert main(argv) == 2
    assert needle in _one_error_line(capsys)
    assert not (tmp_path / "bad.results").exists()


def test_enrich_missing_fit_and_unmatched_annotations(fitted, tmp_path, capsys):
    sim, _, fit = fitted
    argv = [
        "enrich",
        "--fit",
        str(tmp_path / "nofit"),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--out",
        str(tmp_path / "x"),
        "--quiet",
    ]
    assert main(argv) == 2
    assert "nofit" in _one_error_line(capsys)
    other = tmp_path / "other.tsv"
    pd.DataFrame({"SNP": ["rsX", "rsY"], "CHR": [9, 9], "BP": [1, 2], "a": [1, 0]}).to_csv(
        other, sep="\t", index=False
    )
    argv = [
        "enrich",
        "--fit",
        str(fit),
        "--annot",
        str(other),
        "--out",
        str(tmp_path / "y"),
        "--quiet",
    ]
    assert main(argv) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "y.results").exists()


# ------------------------------------------------------------------------------ predict
def test_predict_round_trip_and_permuted_subset(fitted, tmp_path):
    sim, ld, fit = fitted
    pri = pd.read_csv(fit / "priors.tsv.gz", sep="\t", dtype={"SNPVAR": str})
    out = tmp_path / "p.tsv.gz"
    argv = [
        "predict",
        "--model",
        str(fit / "model"),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--ld",
        str(ld),
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    got = pd.read_csv(out, sep="\t", dtype={"SNPVAR": str})
    m = got.merge(pri, on="SNP", suffixes=("", "_fit"))
    assert len(m) == len(pri) == len(got)
    assert (m["SNPVAR"] == m["SNPVAR_fit"]).all()  # the same text: exactly the fit's values
    # a permuted subset without a store (frequency from the MAF column)
    ann = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
    sub = ann.sample(frac=0.5, random_state=1)
    sub_path = tmp_path / "sub.tsv"
    sub.to_csv(sub_path, sep="\t", index=False)
    out2 = tmp_path / "p2.tsv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(fit / "model"),
                "--annot",
                str(sub_path),
                "--out",
                str(out2),
                "--quiet",
            ]
        )
        == 0
    )
    got2 = pd.read_csv(out2, sep="\t")
    assert got2["SNP"].tolist() == sub["SNP"].tolist()  # the file's order
    m2 = got2.merge(pri.astype({"SNPVAR": float}), on="SNP", suffixes=("", "_fit"))
    # the MAF column is written with limited digits: log_2pq agrees to ~1e-6 relative
    np.testing.assert_allclose(m2["SNPVAR"], m2["SNPVAR_fit"], rtol=1e-5)


def test_predict_without_any_frequency_warns(fitted, tmp_path, capsys):
    """No --ld and no MAF column: given the fit folder, the frequencies come from the store the
    fit used (the output is the fit's priors exactly); given a model folder with no fit around
    it, the frequency feature falls back to its training mean for every variant, which a user
    must be told (one warning line with the fix)."""
    import shutil

    sim, _, fit = fitted
    pri = pd.read_csv(fit / "priors.tsv.gz", sep="\t", dtype={"SNPVAR": str})
    ann = pd.read_csv(sim / "annotations.tsv.gz", sep="\t").drop(columns=["MAF"])
    path = tmp_path / "nofreq.tsv"
    ann.to_csv(path, sep="\t", index=False)
    out = tmp_path / "p.tsv"
    assert main(["predict", "--model", str(fit), "--annot", str(path), "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().out
    got = pd.read_csv(out, sep="\t", dtype={"SNPVAR": str}).merge(
        pri, on="SNP", suffixes=("", "_fit")
    )
    assert len(got) == len(pri) and (got["SNPVAR"] == got["SNPVAR_fit"]).all()
    alone = tmp_path / "alone"
    shutil.copytree(fit / "model", alone)
    argv = ["predict", "--model", str(alone), "--annot", str(path), "--out", str(out)]
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "ignores their frequency" in warnings[0]
    assert "--ld STORE" in warnings[0]


def test_predict_missing_feature_and_missing_model(fitted, tmp_path, capsys):
    sim, _, fit = fitted
    ann = pd.read_csv(sim / "annotations.tsv.gz", sep="\t").drop(columns=["binary2"])
    path = tmp_path / "lacking.tsv"
    ann.to_csv(path, sep="\t", index=False)
    argv = [
        "predict",
        "--model",
        str(fit / "model"),
        "--annot",
        str(path),
        "--out",
        str(tmp_path / "p.tsv"),
        "--quiet",
    ]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert "binary2" in line and "lacking.tsv" in line
    assert not (tmp_path / "p.tsv").exists()
    argv[2] = str(tmp_path / "nomodel")
    assert main(argv) == 2
    assert "nomodel" in _one_error_line(capsys)


def test_report_section_draws_the_results(fitted, tmp_path):
    from deepwas.report import enrichment_results_section

    tab = enrichment_table(
        np.array([1.0, 2.0, 3.0]),
        np.array([[1.0], [0.0], [1.0]]),
        ["a"],
        delete_snpvar=[np.array([1.0, 2.0, 3.5]), np.array([1.1, 2.0, 3.0])],
    )
    html = enrichment_results_section(tab)
    assert "<img" in html and ">a<" in html and f"{tab.loc[0, 'Prop._h2']:.4f}" in html


def test_fit_writes_its_enrichment_with_ses(fitted, tmp_path):
    """deepwas fit's default (--enrich-se auto) on a small linear fit: OUT/enrichment.results is
    exactly what `deepwas enrich --fit OUT --annot <the fit's annotations>` writes with its
    defaults, and the report shows it with 95% intervals."""
    sim, _, fit = fitted
    own = pd.read_csv(fit / "enrichment.results", sep="\t")
    assert list(own.columns) == RESULTS_COLUMNS and (own["Prop._h2_std_error"] > 0).all()
    out = tmp_path / "e"
    argv = ["enrich", "--fit", str(fit), "--annot", str(sim / "annotations.tsv.gz")]
    assert main([*argv, "--out", str(out), "--quiet", "--threads", "1"]) == 0
    pd.testing.assert_frame_equal(own, pd.read_csv(f"{out}.results", sep="\t"))
    page = (fit / "report.html").read_text()
    assert "Heritability enrichment (95% intervals)" in page and own["Category"].iloc[0] in page


def test_enrich_plan_of_a_fit():
    """--enrich-se auto runs the jackknife when its reruns of the training are cheap (a linear
    prior's delete-one, a network's delete-half), and says how to get the SEs otherwise; yes
    and no are obeyed."""
    from deepwas.workflow import AUTO_ENRICH_SECONDS, _enrich_plan

    def prior(model):
        return build_prior(PriorConfig(model, ("a", "b"), (0.0, 0.0), (1.0, 1.0), width=4, depth=1))

    linear, mlp = prior("linear"), prior("mlp")
    assert _enrich_plan("auto", linear, 20, 1.0) == (True, "")
    run, why = _enrich_plan("auto", linear, 20, AUTO_ENRICH_SECONDS)  # 20 reruns: too long
    assert not run and "deepwas enrich --fit" in why and "20 reruns" in why
    run, why = _enrich_plan("auto", linear, 500, 0.1)  # many windows: optimum refits
    assert not run and "500 windows" in why
    # a network's delete-half jackknife: 2 x min(20, blocks - 1) reruns on half the windows
    assert _enrich_plan("auto", mlp, 20, 1.0) == (True, "")
    run, why = _enrich_plan("auto", mlp, 500, AUTO_ENRICH_SECONDS / 19)
    assert not run and "40 reruns" in why and "half the windows" in why
    assert _enrich_plan("auto", mlp, 500, AUTO_ENRICH_SECONDS / 21)[0]
    assert _enrich_plan("yes", mlp, 500, 100.0) == (True, "")
    assert _enrich_plan("no", linear, 20, 0.1) == (False, "")
