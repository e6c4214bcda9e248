"""Empirical-Bayes shrinkage (deepwas.evidence): the difference-quotient Hessian of the exact
objective against autograd on a dense float64 reference, and the evidence's precision on
Gaussian sequence models with a known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _diagonal import linear_diagonal_data
from deepwas.evidence import MAX_PRECISION, evidence_precision, hessian
from deepwas.fit import TrainConfig, gradient_function
from deepwas.priors import PriorConfig, build_prior

F64 = torch.float64


def test_hessian_of_a_known_function():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 6))
    A = torch.tensor(A @ A.T, dtype=F64)
    theta = torch.tensor(rng.normal(size=6), dtype=F64)
    H = hessian(lambda t: A @ t + t**2, theta)  # f = t'At/2 + sum t^3/3
    np.testing.assert_allclose(H, (A + torch.diag(2 * theta)).numpy(), rtol=0, atol=1e-8)


def _dense_nll(data, theta: torch.Tensor, windows) -> torch.Tensor:
    """torch float64 reference of the summed NLL of a linear prior on the diagonal model:
    theta = (bias, w_bin, w_cont, log sigma) on the standardised features."""
    X = torch.tensor(data.features, dtype=F64)
    Z = (X - X.mean(0)) / X.std(0, unbiased=False)
    log_s = theta[0] + Z @ theta[1:3]
    sigma, N = torch.exp(theta[3]), data.trait.n_gwas
    total = theta.new_zeros(())
    for i in windows:
        w = data.trait.windows[i]
        Gt = torch.tensor((w.G * w.scale).T, dtype=F64)
        v = sigma + N * (Gt**2) @ torch.exp(log_s[torch.from_numpy(w.context)])
        total = total + 0.5 * torch.sum(torch.log(v) + torch.tensor(w.y, dtype=F64) ** 2 / v)
    return total


def test_hessian_of_the_exact_objective_matches_autograd_of_a_dense_reference():
    """The gradients of the engine (once differentiable) give, by central differences, the
    Hessian that autograd computes twice through an independent dense objective."""
    data = linear_diagonal_data()
    X = data.features
    cfg = PriorConfig(
        "linear", tuple(data.feature_names), tuple(X.mean(0)), tuple(X.std(0)), init_log_snpvar=-8
    )
    prior = build_prior(cfg)
    with torch.no_grad():
        prior.weight.copy_(torch.tensor([0.7, -0.3], dtype=F64))
    log_sigma = torch.tensor(math.log(1.3), dtype=F64, requires_grad=True)
    windows = data.train
    n = sum(data.trait.windows[i].n_scored for i in windows)
    gradient = gradient_function(prior, log_sigma, data, windows, TrainConfig())
    params = [prior.bias, prior.weight, log_sigma]

    def grad_fn(theta):
        with torch.no_grad():
            prior.bias.copy_(theta[0])
            prior.weight.copy_(theta[1:3])
            log_sigma.copy_(theta[3])
        return torch.cat([g.reshape(-1) for g in gradient()[1]]) * n

    theta0 = torch.cat([p.detach().reshape(-1) for p in params])
    H = hessian(grad_fn, theta0)
    ref = torch.autograd.functional.hessian(lambda t: _dense_nll(data, t, windows), theta0)
    np.testing.assert_allclose(H, ref.numpy(), rtol=1e-6, atol=1e-6 * float(ref.abs().max()))


def _sequence(alpha: float, C: int, seed: int):
    """A fit's weights in the eigenbasis of a diagonal curvature: u ~ N(0, 1/alpha) plus the
    fit's noise N(0, 1/l)."""
    rng = np.random.default_rng(seed)
    lam = np.exp(rng.uniform(math.log(1.0), math.log(1e3), size=C))
    u = rng.normal(size=C) / math.sqrt(alpha) if alpha < math.inf else np.zeros(C)
    return lam, u + rng.normal(size=C) / np.sqrt(lam)


def test_evidence_recovers_the_prior_precision():
    lam, v = _sequence(4.0, 400, seed=3)
    sh = evidence_precision(np.diag(lam), v, np.arange(400))
    assert sh.directions == 400
    assert sh.precision == pytest.approx(4.0, rel=0.25)
    # the evidence's fixed point (MacKay): alpha |u_alpha|^2 = gamma
    u_alpha = v * lam / (lam + sh.precision)
    assert sh.precision * float(u_alpha @ u_alpha) == pytest.approx(sh.effective, rel=1e-6)
    assert sh.log_evidence_gain > 0
    # a rotated basis gives the same answer: only the eigenvalues matter
    Q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(400, 400)))
    rot = evidence_precision(Q @ np.diag(lam) @ Q.T, Q @ v, np.arange(400))
    assert rot.precision == pytest.approx(sh.precision, rel=1e-6)


def test_evidence_shrinks_noise_to_nothing():
    """Weights that are the fit's noise alone: the evidence keeps almost no direction."""
    gammas = []
    for seed in range(5):
        lam, v = _sequence(math.inf, 200, seed=seed)
        sh = evidence_precision(np.diag(lam), v, np.arange(200))
        gammas.append(sh.effective)
        assert sh.precision > 1.0  # against 1/alpha = var(u) of a unit effect
    assert np.mean(gammas) < 10  # of 200 directions


def test_evidence_profiles_out_the_other_parameters():
    """A parameter that duplicates a shrunk weight's direction (its curvature shared) leaves that
    weight uninformed: the profiled curvature is the Schur complement, not H_uu."""
    lam, v = _sequence(4.0, 50, seed=5)
    H = np.zeros((51, 51))
    H[:50, :50] = np.diag(lam)
    H[50, 50] = lam[0]
    H[0, 50] = H[50, 0] = lam[0]  # o moves the likelihood exactly as u_0 does
    theta = np.append(v, 0.0)
    sh = evidence_precision(H, theta, np.arange(50))
    assert sh.directions == 49
    alone = evidence_precision(np.diag(lam[1:]), v[1:], np.arange(49))
    assert sh.precision == pytest.approx(alone.precision, rel=1e-6)


def test_no_informed_direction_means_maximal_precision():
    sh = evidence_precision(np.zeros((3, 3)), np.zeros(3), np.arange(3))
    assert sh.precision == MAX_PRECISION and sh.effective == 0.0


def _neighbourhood_case(n_windows: int = 8, alpha: float = 20.0):
    """Diagonal-model windows on one chromosome, 500 bp apart, and a calibrated
    neighbourhood_linear prior (window 10 kb) with channel precision ``alpha``."""
    from dataclasses import replace

    from deepwas.neighbourhood import calibrate

    data = linear_diagonal_data(n_windows=n_windows)
    n_var = data.features.shape[0]
    pos = np.column_stack([np.ones(n_var), 1000.0 + 500.0 * np.arange(n_var)])
    data = replace(data, positions=pos)
    X = data.features
    cfg = PriorConfig(
        "neighbourhood_linear",
        tuple(data.feature_names),
        tuple(X.mean(0)),
        tuple(X.std(0)),
        init_log_snpvar=-8,
        window_kb=10.0,
    )
    prior = build_prior(cfg)
    calibrate(prior, X, pos)
    prior.shrinkage_precision.fill_(alpha)
    return data, prior


def test_refit_to_the_optimum_keeps_the_shrunk_block_prior():
    """``fit_to_optimum`` of a neighbourhood_linear prior (the jackknife's refits of large fits)
    reads the variants' positions and ends where the gradient of NLL + |w|^2 / 2 + alpha |u|^2
    / 2 vanishes: the channels keep their empirical-Bayes prior, the own weights the common one."""
    from deepwas.optimum import TrainingObjective, fit_to_optimum

    alpha = 20.0
    data, prior = _neighbourhood_case(alpha=alpha)
    obj = TrainingObjective(data)
    fit = fit_to_optimum(obj, prior, 1.2, data.train, tol=1e-8)
    assert fit.grad_norm <= 1e-8
    model = fit.prior
    log_sigma = torch.tensor(math.log(fit.sigma), dtype=F64, requires_grad=True)
    value = obj(model, log_sigma, data.train)
    value.backward()
    n = sum(data.trait.windows[i].n_scored for i in data.train)
    u, w = model.nb_weight.detach(), model.weight.detach()
    informed = model.nb_scale != 1.0  # channels with variance (the binary feature's proximity)
    assert informed.sum() >= 4 and float(u[informed].abs().max()) > 1e-4
    np.testing.assert_allclose(model.nb_weight.grad, -alpha * u / n, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.weight.grad, -w / n, rtol=0, atol=1e-8)


def test_fit_precision_samples_windows_beyond_its_limit(monkeypatch):
    """Beyond ``max_windows`` the Hessian is a seeded sample's, scaled to all windows by their
    scored variants; within the limit, all windows'."""
    import deepwas.evidence as ev

    data, prior = _neighbourhood_case(n_windows=12)
    with torch.no_grad():
        prior.nb_weight.copy_(0.05 * torch.arange(prior.nb_weight.numel(), dtype=F64))
    seen = []
    real = ev.evidence_precision
    monkeypatch.setattr(ev, "evidence_precision", lambda H, *a: seen.append(H) or real(H, *a))
    log_sigma = torch.tensor(math.log(1.2), dtype=F64, requires_grad=True)
    cfg = TrainConfig(model="neighbourhood_linear")
    windows = list(range(12))
    ev.fit_precision(prior, log_sigma, data, windows, cfg, max_windows=5)
    sample = sorted(int(i) for i in np.random.default_rng(0).choice(windows, 5, replace=False))
    ev.fit_precision(prior, log_sigma, data, sample, cfg, max_windows=5)
    n = lambda ws: sum(data.trait.windows[i].n_scored for i in ws)  # noqa: E731
    # the same difference quotients, scaled before the subtraction: rounding of ~1e-16 x the
    # gradient's size over the step
    scaled = seen[1] * n(windows) / n(sample)
    np.testing.assert_allclose(seen[0], scaled, rtol=1e-9, atol=1e-9 * np.abs(scaled).max())
    # within the limit: every window, and the same prior state afterwards
    before = [p.detach().clone() for p in prior.parameters()]
    ev.fit_precision(prior, log_sigma, data, windows, cfg)
    assert seen[2].shape == seen[0].shape and not np.allclose(seen[2], seen[0], rtol=1e-3)
    assert all(torch.equal(a, b) for a, b in zip(before, prior.parameters(), strict=True))
