"""The genotype diffusion model (deepwas synth): closed forms of the forward processes, the SCUD
and MDLM losses, the denoiser's scan, depth and length behaviour, training (loss decrease,
resume), imputation, and the ``deepwas synth`` command line end to end on a toy panel."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from _synth_panels import toy_panel
from deepwas.cli import main
from deepwas.errors import InputError
from deepwas.io.genotypes import GenotypePanel, read_plink, write_plink
from deepwas.synth import PROCESSES
from deepwas.synth.denoiser import Denoiser, gated_scan
from deepwas.synth.generate import impute_genotypes, sample_genotypes
from deepwas.synth.model import (
    SynthConfig,
    heldout_bits,
    load_model,
    panel_tokens,
    parse_region,
    train_synth,
)
from deepwas.synth.processes import ForwardProcess, mdlm_loss, prior_kl, scud_loss

torch.set_num_threads(1)


def _toy_panel(n: int = 200, m: int = 128, seed: int = 0) -> GenotypePanel:
    """Strong LD: blocks of 8 SNPs carry the same allele on a haplotype (1% flipped)."""
    rng = np.random.default_rng(seed)
    p = np.repeat(rng.uniform(0.15, 0.85, m // 8), 8)

    def hap() -> np.ndarray:
        h = np.repeat(rng.random(m // 8), 8) < p
        return h ^ (rng.random(m) < 0.01)

    d = np.array([hap().astype(int) + hap().astype(int) for _ in range(n)], dtype=float)
    return toy_panel(d)


_SMALL = {"chunk": 32, "width": 32, "depth": 2, "batch_size": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def panel() -> GenotypePanel:
    return _toy_panel()


@pytest.fixture(scope="module")
def trained(panel, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "model"
    summary = train_synth(panel, out, SynthConfig(epochs=8, **_SMALL), progress=False)
    return out, summary


# --------------------------------------------------------------------------- processes


@pytest.mark.parametrize("kind", PROCESSES)
@pytest.mark.parametrize("n_alleles", [2, 3])
@pytest.mark.parametrize("gamma", [0.0, 0.35])
def test_closed_form_powers_match_matrix_power(kind, n_alleles, gamma):
    proc = ForwardProcess(kind, n_alleles, gamma)
    af = torch.tensor([0.03, 0.4, 0.5, 0.97], dtype=torch.float64)
    K = proc.kernel(af)
    assert (K >= 0).all()
    torch.testing.assert_close(K.sum(-1), torch.ones(4, proc.n_states, dtype=torch.float64))
    # K = I + L / r with L = 1 pi^T - I, and pi is stationary: pi^T K = pi
    pi = proc.target(af)
    torch.testing.assert_close(torch.einsum("ni,nij->nj", pi, K), pi, rtol=0, atol=1e-15)
    for S in range(8):
        dense = torch.linalg.matrix_power(K, S)
        closed = proc.power_matrix(torch.full((4,), S), af)
        torch.testing.assert_close(closed, dense, rtol=0, atol=1e-14)  # float64 rounding only
        # propagate is a row of K^S; step_likelihood a column
        p = torch.softmax(torch.randn(4, proc.n_states, dtype=torch.float64), -1)
        want = torch.einsum("ni,nij->nj", p, dense)
        got = proc.propagate(p, torch.full((4,), S), pi)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-14)
        col = proc.step_likelihood(torch.zeros(4, dtype=torch.long), torch.full((4,), S), pi)
        torch.testing.assert_close(col, dense[:, :, 0], rtol=0, atol=1e-14)


def test_hardy_weinberg_target_of_the_mutation_process():
    proc = ForwardProcess("mutation", 3)
    p = 0.2
    pi = proc.target(torch.tensor([p], dtype=torch.float64))[0]
    # (q^2, 2pq, p^2) by hand
    torch.testing.assert_close(pi, torch.tensor([0.64, 0.32, 0.04], dtype=torch.float64))


@pytest.mark.parametrize("kind", PROCESSES)
def test_posterior_is_bayes_rule_on_dense_matrices(kind):
    proc = ForwardProcess(kind, 3, 0.3)
    af = torch.tensor([0.25], dtype=torch.float64)
    K = proc.kernel(af)[0]
    pi = proc.target(af)
    p0 = torch.tensor([[0.2, 0.5, 0.3, 0.0][: proc.n_states]], dtype=torch.float64)
    p0 = p0 / p0.sum()
    for S, k in [(1, 1), (3, 1), (4, 2), (5, 5)]:
        for xs in range(proc.n_states):
            joint = torch.linalg.matrix_power(K, k)[:, xs] * (
                p0[0] @ torch.linalg.matrix_power(K, S - k)
            )
            if joint.sum() == 0:
                continue
            want = joint / joint.sum()
            got = proc.log_posterior(
                p0, torch.tensor([xs]), torch.tensor([S]), pi, torch.tensor([k])
            ).exp()[0]
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_scud_with_masking_gives_the_mdlm_loss():
    """Same inputs (x0, t, the denoiser's logits): SCUD's loss averaged exactly over the
    schedule S ~ Poisson(Lambda(t)) equals MDLM's averaged exactly over the mask. Per draw the
    two are different estimators of the same ELBO (SCUD puts all of it on S = 1), so the
    comparison is of exact expectations, not of one random draw (docs/decisions.md)."""
    proc = ForwardProcess("masking", 3)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 3, (2, 40), generator=gen)
    logits = torch.randn(2, 40, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.3, 0.85], dtype=torch.float64)
    pi = proc.target(torch.full((40,), 0.3, dtype=torch.float64))
    lam = proc.schedule.integrated(t)[:, None]
    scud = torch.zeros(2, 40, dtype=torch.float64)
    for s in range(80):
        S = torch.full_like(x0, s)
        x_t = torch.full_like(x0, proc.mask_state) if s else x0
        pmf = torch.exp(-lam + s * torch.log(lam) - math.lgamma(s + 1))
        scud += pmf * scud_loss(proc, x0, x_t, S, t, logits, pi)
    masked = torch.full_like(x0, proc.mask_state)
    mdlm = (1 - torch.exp(-lam)) * mdlm_loss(proc, x0, masked, t, logits)
    mdlm += torch.exp(-lam) * mdlm_loss(proc, x0, x0, t, logits)  # unmasked: 0
    torch.testing.assert_close(scud, mdlm, rtol=1e-12, atol=0)  # Poisson tail < 1e-30
    # and per draw: all of SCUD's loss is on S = 1, where it is lambda/Lambda * cross-entropy
    S = torch.ones_like(x0)
    one = scud_loss(proc, x0, masked, S, t, logits, pi)
    ce = -torch.log_softmax(logits, -1).gather(-1, x0[..., None])[..., 0]
    torch.testing.assert_close(one, proc.schedule.rate(t)[:, None] / lam * ce)
    assert scud_loss(proc, x0, masked, 2 * S, t, logits, pi).abs().max() < 1e-12


@pytest.mark.parametrize("kind", PROCESSES)
def test_scud_loss_is_nonnegative_and_zero_for_a_perfect_denoiser(kind):
    proc = ForwardProcess(kind, 3, 0.2)
    gen = torch.Generator().manual_seed(1)
    af = torch.rand(30, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    pi = proc.target(af)
    x0 = torch.randint(0, 3, (8, 30), generator=gen)
    t = torch.rand(8, generator=gen, dtype=torch.float64)
    S = proc.sample_schedule(t, (30,), gen)
    x_t = proc.noise(x0, S, pi.expand(8, -1, -1), gen)
    logits = torch.randn(8, 30, 3, generator=gen, dtype=torch.float64)
    loss = scud_loss(proc, x0, x_t, S, t, logits, pi)
    assert torch.isfinite(loss).all() and (loss >= -1e-12).all()
    perfect = torch.where(torch.nn.functional.one_hot(x0, 3) > 0, 0.0, -60.0).double()
    assert scud_loss(proc, x0, x_t, S, t, perfect, pi).abs().max() < 1e-12
    assert (prior_kl(proc, af) >= 0).all()


# --------------------------------------------------------------------------- denoiser


def _sequential(log_a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The recurrence s_i = exp(log_a_i) s_{i-1} + b_i one step at a time (the reference)."""
    want = torch.empty_like(b)
    s = torch.zeros(b.shape[0], b.shape[2], dtype=b.dtype)
    for i in range(b.shape[1]):
        s = torch.exp(log_a[:, i]) * s + b[:, i]
        want[:, i] = s
    return want


def test_gated_scan_matches_the_sequential_recurrence():
    gen = torch.Generator().manual_seed(2)
    log_a = -torch.rand(3, 53, 5, generator=gen, dtype=torch.float64) * 2
    b = torch.randn(3, 53, 5, generator=gen, dtype=torch.float64)
    want = _sequential(log_a, b)
    torch.testing.assert_close(gated_scan(log_a, b), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 16, 17, 293, 4200])
def test_gated_scan_is_exact_over_many_chunks(n):
    """Sequences of 1 to 263 chunks with decays down to the floor (a chunk's total reaches -64)
    and runs of no decay that carry a state across chunks: float64 equal to the loop to 1e-10,
    float32 finite and close (no overflow of exp(-cumulative))."""
    gen = torch.Generator().manual_seed(n)
    log_a = -torch.rand(2, n, 3, generator=gen, dtype=torch.float64) * 4
    log_a[:, ::7] = 0.0  # runs of no decay carry a state across many chunks
    b = torch.randn(2, n, 3, generator=gen, dtype=torch.float64)
    want = _sequential(log_a, b)
    torch.testing.assert_close(gated_scan(log_a, b), want, rtol=1e-10, atol=1e-10)
    got32 = gated_scan(log_a.float(), b.float())
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("n", [17, 293, 4200])
def test_gated_scan_with_a_gradient_equals_the_loop(n):
    """With a gradient to take, the chunk ends run through _scan_any (no Python loop over the
    chunks): the same values as the sequential recurrence, even for chunk totals near -64 and
    float32, and the same gradients as the loop path."""
    gen = torch.Generator().manual_seed(n)
    log_a = -torch.rand(2, n, 3, generator=gen, dtype=torch.float64) * 4
    log_a[:, ::7] = 0.0
    b = torch.randn(2, n, 3, generator=gen, dtype=torch.float64)
    want = _sequential(log_a, b)
    w = torch.randn(2, n, 3, generator=gen, dtype=torch.float64)
    grads = []
    for requires_grad in (True, False):
        la, bb = log_a.clone().requires_grad_(requires_grad), b.clone().requires_grad_()
        got = gated_scan(la, bb)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        (got * w).sum().backward()
        grads.append(bb.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)
    la32 = log_a.float().requires_grad_()
    got32 = gated_scan(la32, b.float())
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), want, rtol=1e-3, atol=1e-3)
    got32.sum().backward()
    assert torch.isfinite(la32.grad).all()


def test_scan_any_takes_any_decay():
    """_scan_any, which runs the chunk ends, holds for decays far beyond gated_scan's floor
    (down to -200 per step) in float32: no overflow, equal to the loop."""
    from deepwas.synth.denoiser import _scan_any

    gen = torch.Generator().manual_seed(3)
    log_a = -torch.rand(2, 300, 4, generator=gen, dtype=torch.float64) * 200
    log_a[:, ::5] = 0.0
    b = torch.randn(2, 300, 4, generator=gen, dtype=torch.float64)
    want = _sequential(log_a, b)
    torch.testing.assert_close(_scan_any(log_a, b), want, rtol=1e-12, atol=1e-12)
    got32 = _scan_any(log_a.float(), b.float())
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), want, rtol=1e-4, atol=1e-4)


def _first_step(depth: int) -> tuple[float, float]:
    proc = ForwardProcess("masking", 3)
    net = Denoiser(n_states=4, n_alleles=3, width=32, depth=depth, n_snps=0, seed=3)
    gen = torch.Generator().manual_seed(4)
    x0 = torch.randint(0, 3, (8, 96), generator=gen)
    af = torch.full((96,), 0.4, dtype=torch.float64)
    t = torch.rand(8, generator=gen, dtype=torch.float64)
    S = proc.sample_schedule(t, (96,), gen)
    x_t = proc.noise(x0, S, proc.target(af).expand(8, -1, -1), gen)
    feats = Denoiser.snp_features(af, torch.arange(96.0) * 1000)
    logits = net(x_t, S, feats, torch.zeros(96, 3))
    loss = scud_loss(proc, x0, x_t, S, t, logits, proc.target(af)).mean()
    loss.float().backward()
    grad = math.sqrt(
        sum(float(p.grad.pow(2).sum()) for p in net.parameters() if p.grad is not None)
    )
    return float(loss.detach()), grad


def test_training_is_stable_as_depth_grows():
    """Residual branches scaled by 1/sqrt(2 depth): 32 blocks start like 4 blocks."""
    loss4, grad4 = _first_step(4)
    loss32, grad32 = _first_step(32)
    assert math.isfinite(loss32) and math.isfinite(grad32)
    assert abs(loss32 - loss4) < 0.1 * loss4  # same initial predictions (zero head)
    assert 0.25 < grad32 / grad4 < 4.0


def test_outputs_do_not_blow_up_on_four_times_longer_chunks(trained, panel):
    model = load_model(trained[0])
    tokens = torch.as_tensor(panel_tokens(panel)[:4].astype(np.int64))
    S = torch.zeros_like(tokens)
    S[:, ::2] = 1
    x = torch.where(S > 0, model.process.mask_state, tokens)
    with torch.no_grad():
        long = model.logits(x, S)  # 128 SNPs: 4x the training chunk of 32
        short = torch.cat(
            [model.logits(x[:, s : s + 32], S[:, s : s + 32], s) for s in range(0, 128, 32)], 1
        )
    assert torch.isfinite(long).all()
    lp = model.tables()["log_prior"]
    # away from chunk edges the long pass sees what the short passes see, and a little more
    assert (long - lp).abs().max() < 2 * (short - lp).abs().max() + 1.0
    agree = (long.argmax(-1) == short.argmax(-1)).float().mean()
    assert agree > 0.9


# --------------------------------------------------------------------------- training


def test_loss_decreases_on_a_panel_with_strong_ld(trained, panel):
    _, summary = trained
    bits = summary.log["heldout_bits_per_snp"].to_numpy()
    assert np.isfinite(bits).all() and (summary.log["train_nats_per_token"] > 0).all()
    # independent SNPs (Hardy-Weinberg at the training frequencies) cost about this much
    tokens = panel_tokens(panel)
    p = tokens.mean(0) / 2
    hwe = np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], 1).clip(1e-12)
    entropy_bits = float(-(hwe * np.log2(hwe)).sum(1).mean())
    assert bits[-1] < bits[0] - 0.1
    assert bits[-1] < 0.6 * entropy_bits


def test_resume_gives_the_same_result_as_an_uninterrupted_run(panel, tmp_path):
    cfg = dict(_SMALL, width=16, depth=1)
    whole = train_synth(panel, tmp_path / "a", SynthConfig(epochs=2, **cfg), progress=False)
    train_synth(panel, tmp_path / "b", SynthConfig(epochs=1, **cfg), progress=False)
    resumed = train_synth(panel, tmp_path / "b", SynthConfig(epochs=2, **cfg), progress=False)
    assert resumed.resumed_from == 1
    a, b = (
        load_model(tmp_path / "a").denoiser.state_dict(),
        load_model(tmp_path / "b").denoiser.state_dict(),
    )
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    pd.testing.assert_frame_equal(
        whole.log.drop(columns="seconds"), resumed.log.drop(columns="seconds")
    )


def test_resume_with_other_settings_is_refused(panel, tmp_path):
    cfg = dict(_SMALL, width=16, depth=1)
    train_synth(panel, tmp_path / "m", SynthConfig(epochs=1, **cfg), progress=False)
    with pytest.raises(InputError, match="other settings"):
        train_synth(
            panel, tmp_path / "m", SynthConfig(epochs=2, **dict(cfg, width=8)), progress=False
        )


def test_imputation_beats_allele_frequency_imputation(trained, panel):
    folder, _ = trained
    model = load_model(folder)
    held_ids = set(pd.read_csv(folder / "heldout_samples.tsv", sep="\t")["IID"])
    is_held = panel.samples["IID"].isin(held_ids).to_numpy()
    truth = panel_tokens(panel)[is_held].astype(float)
    mask = np.random.default_rng(5).random(truth.shape) < 0.2
    result = impute_genotypes(model, np.where(mask, np.nan, truth), n_draws=2, n_steps=8)
    mse = np.mean((result.dosage[mask] - truth[mask]) ** 2)
    af = np.broadcast_to(2 * model.variants["AF1"].to_numpy(), truth.shape)[mask]
    mse_af = np.mean((af - truth[mask]) ** 2)
    assert mse < 0.7 * mse_af
    assert ((result.info >= 0) & (result.info <= 1)).all()
    assert (result.n_imputed == mask.sum(0)).all()
    np.testing.assert_array_equal(result.dosage[~mask], truth[~mask])  # observed are clamped


def test_samples_are_genotypes_with_the_panel_frequencies(trained, panel):
    model = load_model(trained[0])
    syn = sample_genotypes(model, 64, n_steps=16, seed=1)
    assert syn.shape == (64, 128) and set(np.unique(syn)) <= {0, 1, 2}
    af_real = panel_tokens(panel).mean(0)
    assert np.corrcoef(syn.mean(0), af_real)[0, 1] > 0.9


def test_heldout_bits_is_reproducible(trained, panel):
    model = load_model(trained[0])
    tokens = panel_tokens(panel)[:20]
    assert heldout_bits(model, tokens, seed=7) == heldout_bits(model, tokens, seed=7)


# --------------------------------------------------------------------------- command line


def test_cli_train_sample_impute_round_trip(panel, tmp_path, capsys):
    bfile = tmp_path / "panel"
    write_plink(bfile, panel_tokens(panel).astype(float), panel.variants)
    model = tmp_path / "model"
    common = ["--chunk", "32", "--width", "8", "--depth", "1", "--threads", "1", "--quiet"]
    assert (
        main(
            ["synth", "train", "--bfile", str(bfile), "--epochs", "1", *common, "--out", str(model)]
        )
        == 0
    )
    for name in (
        "config.json",
        "weights.safetensors",
        "heldout_samples.tsv",
        "training_log.tsv",
        "provenance.json",
    ):
        assert (model / name).exists()
    syn = tmp_path / "syn"
    argv = [
        "synth",
        "sample",
        "--model",
        str(model),
        "--n",
        "7",
        "--steps",
        "4",
        "--write-vcf",
        "--out",
        str(syn),
    ]
    assert main(argv) == 0
    real, fake = read_plink(bfile), read_plink(syn)
    assert fake.n_samples == 7 and (tmp_path / "syn.vcf.gz").exists()
    cols = ["CHR", "SNP", "BP", "A1", "A2"]
    pd.testing.assert_frame_equal(fake.variants[cols], real.variants[cols])
    target = panel_tokens(panel)[:5].astype(float)
    target[:, ::4] = np.nan
    write_plink(tmp_path / "target", np.ascontiguousarray(target), panel.variants)
    imp = tmp_path / "imp"
    argv = ["synth", "impute", "--model", str(model), "--bfile", str(tmp_path / "target")]
    assert main([*argv, "--steps", "4", "--draws", "1", "--out", str(imp)]) == 0
    dos = pd.read_csv(tmp_path / "imp.dosage.tsv.gz", sep="\t")
    info = pd.read_csv(tmp_path / "imp.info.tsv", sep="\t")
    assert dos.shape == (128, 5 + 5) and not dos.isna().any().any()
    assert (info["N_IMPUTED"].to_numpy()[::4] == 5).all() and (
        info["N_IMPUTED"].to_numpy()[1::4] == 0
    ).all()
    # evaluate against the model's own held-out and training individuals of the panel
    report = tmp_path / "report"
    argv = ["synth", "evaluate", "--real", str(bfile), "--synthetic", str(syn)]
    assert main([*argv, "--model", str(model), "--out", str(report)]) == 0
    record = json.loads((report / "metrics.json").read_text())
    held = pd.read_csv(model / "heldout_samples.tsv", sep="\t")
    assert record["panels"]["real"]["n_samples"] == len(held)
    assert record["panels"]["train"]["n_samples"] == panel.n_samples - len(held)
    assert record["metrics"]["exact_copy_rate"] >= 0.0 and (report / "report.html").exists()
    # the headline figures are printed, as metrics.json has them
    out = capsys.readouterr().out
    m = record["metrics"]
    assert f"LD r^2 correlation: {m['ld_r2_corr']:.3f}" in out
    assert f"privacy loss {m['privacy_loss']:+.3f} (ideal 0)" in out
    assert f"wrote {report}/metrics.json and report.html" in out
    # a model folder and a training panel together are refused
    both = [*argv, "--model", str(model), "--train", str(bfile), "--out", str(tmp_path / "r2")]
    assert main(both) == 2 and not (tmp_path / "r2").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["synth", "train", "--region", "22:abc", "--epochs", "1"], "--region"),
        (["synth", "train", "--region", "22:1-2", "--epochs", "1"], "no variant of the panel"),
        (["synth", "train", "--gamma", "1.5"], "--gamma"),
        (
            ["synth", "sample", "--model", "NOTAMODEL", "--n", "3"],
            "not a deepwas synth model folder",
        ),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(argv, message, panel, tmp_path, capsys):
    bfile = tmp_path / "panel"
    write_plink(bfile, panel_tokens(panel).astype(float), panel.variants)
    argv = [str(tmp_path / a) if a == "NOTAMODEL" else a for a in argv]
    if argv[1] == "train":
        argv = [*argv, "--bfile", str(bfile)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_parse_region():
    assert parse_region("chr22:16,000,000-17000000") == (22, 16_000_000, 17_000_000)
    with pytest.raises(InputError):
        parse_region("22:5-1")
