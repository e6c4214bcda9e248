"""The reverse process's order of reveals and the denoiser's per-SNP tables (deepwas.synth)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _synth_panels import toy_panel
from deepwas.io.genotypes import GenotypePanel
from deepwas.synth.denoiser import Denoiser
from deepwas.synth.generate import reverse_events, spread_steps
from deepwas.synth.model import SynthConfig, load_model, train_synth
from deepwas.synth.processes import ForwardProcess, hwe_law

torch.set_num_threads(1)


class _PairOracle:
    """The exact denoiser of a law where SNPs 2i and 2i+1 carry the same genotype (complete
    LD between the two of a pair, none between pairs): a revealed partner is copied, otherwise
    the genotype's Hardy-Weinberg law. Only what :func:`reverse_events` reads."""

    def __init__(self, m: int, p: float = 0.4) -> None:
        self.process = ForwardProcess("masking", 3)
        af = torch.full((m,), p, dtype=torch.float64)
        self._tab = {"af": af, "pi": self.process.target(af)}
        self._log_law = torch.log(hwe_law(af, 3))
        self.partner = torch.arange(m) ^ 1

        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def tables(self) -> dict:
        return self._tab

    def logits(self, x: torch.Tensor, S: torch.Tensor, start: int = 0) -> torch.Tensor:
        assert bool(((S > 0) == (x == 3)).all())  # masked tokens are exactly those with events
        self.calls.append((x.clone(), S.clone()))
        other = x[:, self.partner]
        known = other < 3
        copy = torch.where(torch.nn.functional.one_hot(other.clamp_max(2), 3) > 0, 0.0, -60.0).to(
            torch.float64
        )
        return torch.where(known[..., None], copy, self._log_law.expand(*x.shape, 3))


def _reveal_all(oracle: _PairOracle, batch: int, n_steps: int, order: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    m = len(oracle.partner)
    x = torch.full((batch, m), 3, dtype=torch.long)
    S = torch.randint(1, 12, (batch, m), generator=gen)
    out, probs = reverse_events(oracle, x, S, n_steps=n_steps, generator=gen, order=order)
    assert bool((out < 3).all())
    torch.testing.assert_close(probs.sum(-1), torch.ones(batch, m, dtype=torch.float64))
    return out


def test_spread_steps_reveal_every_token_once_and_far_apart():
    gen = torch.Generator().manual_seed(0)
    moving = torch.rand(6, 500, generator=gen) < 0.7
    moving[0] = True
    step = spread_steps(moving, 16, gen)
    assert bool((step[~moving] == -1).all())
    assert bool(((step[moving] >= 0) & (step[moving] < 16)).all())
    for b in range(6):
        pos = torch.nonzero(moving[b])[:, 0]
        st = step[b, pos]
        counts = torch.bincount(st, minlength=16)
        assert int(counts.max() - counts.min()) <= 1  # balanced over the steps
        for s in range(16):  # tokens revealed together are 16 moving ranks apart
            ranks = torch.nonzero(st == s)[:, 0]
            assert bool((torch.diff(ranks) == 16).all())
    # the order of the steps differs between sequences
    assert not torch.equal(step[0, :16], step[1, :16]) or not torch.equal(step[0], step[2])


def test_spread_order_keeps_complete_ld_that_random_order_breaks():
    """With an exact denoiser, tokens revealed in one step are drawn independently: random
    order reveals many pairs together (and then they disagree), the spread order none."""
    oracle = _PairOracle(64)
    spread = _reveal_all(oracle, 200, 8, "spread")
    random = _reveal_all(oracle, 200, 8, "random")
    assert int((spread[:, 0::2] != spread[:, 1::2]).sum()) == 0
    assert int((random[:, 0::2] != random[:, 1::2]).sum()) > 200
    # and the marginal law is still Hardy-Weinberg at p = 0.4 (freq. of dosage 2 is 0.16)
    assert abs(float((spread == 2).double().mean()) - 0.16) < 0.02


def test_spread_order_reveals_from_the_last_event_with_training_schedules():
    """Tokens revealed at a step are shown with S = 1 (what SCUD's loss trains); the others
    masked carry S ~ Poisson(Lambda(t)) given S >= 1 at the t of the masked fraction."""
    oracle = _PairOracle(400)
    out = _reveal_all(oracle, 30, 10, "spread")
    xs = [x for x, _ in oracle.calls] + [out]
    for (x, S), nxt in zip(oracle.calls, xs[1:], strict=True):
        revealed = (x == 3) & (nxt < 3)
        assert bool(revealed.any()) and bool((S[revealed] == 1).all())
    # at the first call every token is masked (t = 1): waiting tokens' S has mean about
    # Lambda(1) / (1 - e^-Lambda(1)) = 9.2; half-way it is about Lambda(1/2) = 0.69 given >= 1
    for i in (0, 5):
        x, S = oracle.calls[i]
        waiting = (x == 3) & (xs[i + 1] == 3)
        lam = -np.log(max(1.0 - float((x == 3).double().mean()), 1e-4))  # Lambda(t), t <= 1
        expect = lam / -np.expm1(-lam)  # E[S | S >= 1], S ~ Poisson(lam)
        assert abs(float(S[waiting].double().mean()) - expect) < 0.05 * expect


def test_default_order_is_random_and_unknown_orders_are_refused():
    oracle = _PairOracle(64)
    gen = torch.Generator().manual_seed(3)
    x = torch.full((200, 64), 3, dtype=torch.long)
    S = torch.randint(1, 12, (200, 64), generator=gen)
    out, _ = reverse_events(oracle, x, S, n_steps=8, generator=gen)
    assert int((out[:, 0::2] != out[:, 1::2]).sum()) > 200  # pairs split: the random order
    with pytest.raises(ValueError, match="order"):
        _reveal_all(oracle, 2, 8, "sideways")


def test_spread_order_clamps_observed_tokens():
    oracle = _PairOracle(32)
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 3, (10, 32), generator=gen)
    S = torch.zeros_like(x)
    S[:, 1::2] = 4  # odd SNPs missing: each must copy its observed partner
    x = torch.where(S > 0, 3, x)
    out, _ = reverse_events(oracle, x, S, n_steps=4, generator=gen, order="spread")
    torch.testing.assert_close(out[:, 0::2], x[:, 0::2])
    torch.testing.assert_close(out[:, 1::2], x[:, 0::2])


def _net(snp_tokens: bool) -> Denoiser:
    return Denoiser(n_states=4, n_alleles=3, width=8, depth=2, n_snps=20, snp_tokens=snp_tokens)


def _inputs(n: int = 20):
    gen = torch.Generator().manual_seed(2)
    x = torch.randint(0, 4, (3, n), generator=gen)
    S = torch.randint(0, 5, (3, n), generator=gen)
    af = torch.linspace(0.1, 0.9, n, dtype=torch.float64)
    feats = Denoiser.snp_features(af, torch.arange(n, dtype=torch.float64) * 1000)
    return x, S, feats, torch.log(hwe_law(af, 3)).float()


def test_per_snp_tables_start_at_zero_and_learn_per_snp():
    x, S, feats, log_prior = _inputs()
    index = torch.arange(20)
    with_tables, without = _net(True), _net(False)
    with torch.no_grad():  # same initialisation otherwise: the tables start at zero
        for p in without.parameters():
            p.normal_(0, 0.3, generator=torch.Generator().manual_seed(p.numel()))
        with_tables.load_state_dict(without.state_dict(), strict=False)
    torch.testing.assert_close(
        with_tables(x, S, feats, log_prior, index), without(x, S, feats, log_prior, index)
    )
    # the read-out of SNP 5 moves only SNP 5's logits; its token table only what it feeds
    with torch.no_grad():
        with_tables.snp_head[5] += 1.0
    with torch.no_grad():
        diff = with_tables(x, S, feats, log_prior, index) - without(x, S, feats, log_prior, index)
    assert float(diff[:, 5].abs().max()) > 1e-3
    assert float(torch.cat([diff[:, :5], diff[:, 6:]], 1).abs().max()) == 0.0
    # gradients reach the rows of the SNPs in the chunk only
    sub = torch.arange(4, 12)
    out = with_tables(x[:, :8], S[:, :8], feats[4:12], log_prior[4:12], sub)
    out.sum().backward()
    grad = with_tables.snp_token.grad.abs().sum((1, 2))
    assert bool((grad[4:12] > 0).any()) and float(grad[:4].sum() + grad[12:].sum()) == 0.0


def _toy_panel(n: int = 60, m: int = 48) -> GenotypePanel:
    return toy_panel(np.random.default_rng(0).integers(0, 3, size=(n, m)).astype(float))


def test_models_saved_before_the_per_snp_tables_still_load(tmp_path):
    panel = _toy_panel()
    cfg = SynthConfig(epochs=1, chunk=16, width=8, depth=1, snp_tokens=False)
    train_synth(panel, tmp_path / "m", cfg, progress=False)
    before = load_model(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    del meta["config"]["snp_tokens"]  # as written before the setting existed
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    after = load_model(tmp_path / "m")
    assert after.config.snp_tokens is False and after.denoiser.snp_token is None
    x = torch.zeros(2, 48, dtype=torch.long)
    S = torch.zeros_like(x)
    torch.testing.assert_close(after.logits(x, S), before.logits(x, S))


def test_estimator_resolution_and_checks():
    from deepwas.errors import InputError
    from deepwas.synth.model import SynthModel

    panel = _toy_panel()
    auto = SynthModel.build(SynthConfig(), panel.variants)
    assert auto.estimator == "mdlm"
    assert SynthModel.build(SynthConfig(gamma=0.3), panel.variants).estimator == "scud"
    assert SynthModel.build(SynthConfig(process="mutation"), panel.variants).estimator == "scud"
    assert SynthModel.build(SynthConfig(estimator="scud"), panel.variants).estimator == "scud"
    with pytest.raises(InputError, match="mdlm estimator"):
        SynthConfig(process="uniform", estimator="mdlm")


def test_both_estimators_give_the_same_heldout_bits_in_expectation(tmp_path):
    """The held-out ELBO of one model by the two estimators agrees within their noise."""
    from deepwas.synth.model import heldout_bits, panel_tokens

    panel = _toy_panel(n=200)
    cfg = SynthConfig(epochs=2, chunk=16, width=8, depth=1, estimator="scud")
    train_synth(panel, tmp_path / "m", cfg, progress=False)
    model = load_model(tmp_path / "m")
    tokens = panel_tokens(panel)
    scud = heldout_bits(model, tokens, draws=40, seed=1)
    object.__setattr__(model, "config", SynthConfig(**{**cfg.__dict__, "estimator": "mdlm"}))
    mdlm = heldout_bits(model, tokens, draws=40, seed=1)
    assert abs(scud - mdlm) < 0.01 * scud


def test_convergence_note_warns_only_while_heldout_bits_still_fall():
    import pandas as pd

    from deepwas.synth.model import convergence_note

    falling = pd.DataFrame({"heldout_bits_per_snp": [0.9, 0.8, 0.7, 0.62, 0.56, 0.51]})
    note = convergence_note(falling)
    assert note is not None and "--epochs" in note and "0.8000 -> 0.5100" in note
    flat = pd.DataFrame({"heldout_bits_per_snp": [0.9, 0.5, 0.40, 0.399, 0.401, 0.398, 0.397]})
    assert convergence_note(flat) is None
    assert convergence_note(falling.iloc[:3]) is None  # too few epochs to tell
    no_heldout = pd.DataFrame({"heldout_bits_per_snp": [float("nan")] * 8})
    assert convergence_note(no_heldout) is None


def test_training_on_past_a_finished_model_removes_its_stale_weights(tmp_path):
    """A finished folder trained for more epochs holds no weights until the new ones are
    written (a sampler could otherwise read the old model under the new config)."""
    panel = _toy_panel()
    cfg = dict(chunk=16, width=8, depth=1)
    train_synth(panel, tmp_path / "m", SynthConfig(epochs=1, **cfg), progress=False)
    weights = tmp_path / "m" / "weights.safetensors"
    assert weights.exists()
    seen = []
    train_synth(
        panel,
        tmp_path / "m",
        SynthConfig(epochs=2, **cfg),
        say=lambda line: seen.append((line, weights.exists())),
    )
    during = [exists for line, exists in seen if not line.startswith("resuming")]
    assert during and not any(during) and weights.exists()
