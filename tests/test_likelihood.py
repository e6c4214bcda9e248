"""The exact likelihood against a slow, obviously correct dense float64 reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas.errors import InputError, NumericalError
from deepwas.linalg.eigen import eigen_precompute, project_z
from deepwas.linalg.likelihood import exact_nll, ldsc_loss, window_nll


def dense_nll(z, R, scored, F, sigma):
    """-log N(z_W; 0, R_WC diag(F) R_CW + sigma R_WW) by a dense Cholesky (float64)."""
    W = np.flatnonzero(scored)
    S = R[W, :] @ np.diag(F) @ R[:, W] + sigma * R[np.ix_(W, W)]
    L = np.linalg.cholesky(S)
    a = np.linalg.solve(L, z[W])
    return 0.5 * (2 * np.log(np.diag(L)).sum() + a @ a + len(W) * math.log(2 * math.pi))


def dense_projected_nll(z, R, scored, F, sigma, basis):
    """NLL of w = Q^T z_W for an orthonormal basis Q (|W|, r) of range(R_WW): the likelihood of
    the projection of z_W onto the range of R_WW (DESIGN 2.1), whatever the basis."""
    W = np.flatnonzero(scored)
    S = R[W, :] @ np.diag(F) @ R[:, W] + sigma * R[np.ix_(W, W)]
    Sq = basis.T @ S @ basis
    w = basis.T @ z[W]
    L = np.linalg.cholesky(Sq)
    a = np.linalg.solve(L, w)
    r = basis.shape[1]
    return 0.5 * (2 * np.log(np.diag(L)).sum() + a @ a + r * math.log(2 * math.pi))


def random_ld(rng, n_samples, n_variants, decay=0.3):
    """LD from AR(1)-correlated genotypes so that nearby variants are correlated."""
    X = rng.standard_normal((n_samples, n_variants))
    for j in range(1, n_variants):
        X[:, j] = decay * X[:, j - 1] + math.sqrt(1 - decay**2) * X[:, j]
    X = (X - X.mean(0)) / X.std(0)
    return X, X.T @ X / n_samples


@pytest.mark.parametrize("seed", range(5))
def test_full_rank_matches_dense(seed):
    rng = np.random.default_rng(seed)
    C = int(rng.integers(5, 60))
    _, R = random_ld(rng, 4 * C, C)
    scored = np.zeros(C, bool)
    lo = int(rng.integers(0, C // 2))
    scored[lo : lo + max(1, C // 3)] = True
    z = rng.standard_normal(C) * 2
    logF = rng.normal(-1, 1.5, C)
    sigma = float(rng.uniform(0.5, 1.5))
    got = window_nll(z, R, scored, torch.tensor(logF), sigma).item()
    want = dense_nll(z, R, scored, np.exp(logF), sigma)
    assert abs(got - want) <= 1e-8 * abs(want)  # exact identity in float64


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(11)
    C = 25
    _, R = random_ld(rng, 100, C)
    scored = np.zeros(C, bool)
    scored[8:17] = True
    z = rng.standard_normal(C)
    logF = torch.tensor(rng.normal(-1, 1, C), requires_grad=True)
    sigma = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda lf, s: window_nll(z, R, scored, lf, s), (logF, sigma), eps=1e-6, atol=1e-7, rtol=1e-6
    )


def test_gradient_matches_dense_autograd():
    rng = np.random.default_rng(5)
    C = 30
    _, R = random_ld(rng, 120, C)
    scored = np.zeros(C, bool)
    scored[5:20] = True
    z = rng.standard_normal(C) * 3
    logF = torch.tensor(rng.normal(0, 1, C), requires_grad=True)
    sigma = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    window_nll(z, R, scored, logF, sigma).backward()

    # the same NLL written densely in torch, differentiated by autograd
    lf2 = logF.detach().clone().requires_grad_(True)
    s2 = sigma.detach().clone().requires_grad_(True)
    Rt = torch.tensor(R)
    W = torch.tensor(np.flatnonzero(scored))
    S = Rt[W] @ torch.diag(torch.exp(lf2)) @ Rt[:, W] + s2 * Rt[W][:, W]
    dist = torch.distributions.MultivariateNormal(torch.zeros(len(W), dtype=torch.float64), S)
    (-dist.log_prob(torch.tensor(z)[W])).backward()
    assert torch.allclose(logF.grad, lf2.grad, rtol=1e-8, atol=1e-11)
    assert torch.allclose(sigma.grad, s2.grad, rtol=1e-8, atol=1e-11)


def test_backward_through_a_retained_graph_gives_the_same_gradient_twice():
    # the backward pass solves in the memory of a forward intermediate; a second pass through a
    # retained graph must rebuild it, not read overwritten values
    rng = np.random.default_rng(6)
    C = 40
    _, R = random_ld(rng, 60, C)
    scored = np.zeros(C, bool)
    scored[10:30] = True
    logF = torch.tensor(rng.normal(0, 1, C), requires_grad=True)
    sigma = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    nll = window_nll(rng.standard_normal(C), R, scored, logF, sigma)
    first = torch.autograd.grad(nll, (logF, sigma), retain_graph=True)
    second = torch.autograd.grad(nll, (logF, sigma))
    for g1, g2 in zip(first, second, strict=True):
        assert torch.equal(g1, g2)


@pytest.mark.parametrize("n_ref", [10, 40])
def test_rank_deficient_ld_is_the_likelihood_of_the_projection(n_ref):
    # a reference panel with fewer samples than variants: rank(R_WW) <= n_ref < |W|
    rng = np.random.default_rng(n_ref)
    C = 120
    X, R = random_ld(rng, n_ref, C, decay=0.5)
    scored = np.zeros(C, bool)
    scored[30:90] = True
    z = rng.standard_normal(C)
    logF = rng.normal(-2, 1, C)
    got = window_nll(z, R, scored, torch.tensor(logF), 1.0).item()
    # independent basis of range(R_WW) = row space of X_W, from an SVD of the genotypes
    Xw = X[:, scored]
    _, sv, Vt = np.linalg.svd(Xw, full_matrices=False)
    keep = sv > 1e-6 * sv[0]
    basis = Vt[keep].T
    eig = eigen_precompute(R, scored)
    assert eig.rank == basis.shape[1] <= n_ref
    want = dense_projected_nll(z, R, scored, np.exp(logF), 1.0, basis)
    assert abs(got - want) <= 1e-8 * abs(want)


def test_one_variant_window():
    R = np.array([[1.0, 0.3], [0.3, 1.0]])
    scored = np.array([True, False])
    z = np.array([1.7, -0.4])
    logF = np.log([0.5, 2.0])
    got = window_nll(z, R, scored, torch.tensor(logF), 1.1).item()
    var = 0.5 + 0.3**2 * 2.0 + 1.1  # R_11^2 F_1 + R_12^2 F_2 + sigma R_11, derived by hand
    want = 0.5 * (math.log(2 * math.pi * var) + 1.7**2 / var)
    assert abs(got - want) <= 1e-12 * abs(want)


def test_context_equal_to_scored_set():
    rng = np.random.default_rng(3)
    _, R = random_ld(rng, 60, 15)
    scored = np.ones(15, bool)
    z = rng.standard_normal(15)
    logF = rng.normal(0, 1, 15)
    got = window_nll(z, R, scored, torch.tensor(logF), 0.7).item()
    want = dense_nll(z, R, scored, np.exp(logF), 0.7)
    assert abs(got - want) <= 1e-8 * abs(want)


def test_sigma_as_a_parameter_reaches_its_optimum():
    # with F fixed at ~0, z_W ~ N(0, sigma R_WW): the MLE is sigma = z^T R^-1 z / |W|
    rng = np.random.default_rng(8)
    _, R = random_ld(rng, 200, 20)
    scored = np.ones(20, bool)
    z = rng.standard_normal(20) * 1.3
    logF = torch.full((20,), -40.0, dtype=torch.float64)
    log_sigma = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_sigma],
        max_iter=200,
        tolerance_grad=1e-13,
        tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = window_nll(z, R, scored, logF, torch.exp(log_sigma))
        loss.backward()
        return loss

    opt.step(closure)
    want = z @ np.linalg.solve(R, z) / 20
    assert abs(math.exp(log_sigma.item()) - want) <= 1e-6 * want


def test_batched_padded_windows_equal_single_windows():
    rng = np.random.default_rng(21)
    sizes = [(12, 5), (30, 14), (7, 7), (20, 1)]
    items = []
    for C, W in sizes:
        _, R = random_ld(rng, 3 * C, C)
        scored = np.zeros(C, bool)
        scored[:W] = True
        z = rng.standard_normal(C)
        logF = rng.normal(-1, 1, C)
        eig = eigen_precompute(R, scored)
        items.append(
            (eig, project_z(eig, z[scored]), logF, dense_nll(z, R, scored, np.exp(logF), 0.8))
        )
    B, Cm, rm = len(items), max(s[0] for s in sizes), max(it[0].rank for it in items)
    Gt = torch.zeros(B, rm, Cm, dtype=torch.float64)
    y = torch.zeros(B, rm, dtype=torch.float64)
    lf = torch.zeros(B, Cm, dtype=torch.float64)
    valid = torch.zeros(B, rm, dtype=torch.bool)
    cmask = torch.zeros(B, Cm, dtype=torch.bool)
    const = torch.zeros(B, dtype=torch.float64)
    for b, (eig, yy, logF, _) in enumerate(items):
        C, r = eig.G.shape
        Gt[b, :r, :C] = torch.from_numpy(eig.G.T)
        y[b, :r] = torch.from_numpy(yy)
        lf[b, :C] = torch.from_numpy(logF)
        lf[b, C:] = 5.0  # padded rows must not matter
        valid[b, :r] = True
        cmask[b, :C] = True
        const[b] = 0.5 * (r * math.log(2 * math.pi) + eig.logdet_lam)
    lf.requires_grad_(True)
    got = exact_nll(Gt, y, lf, 0.8, valid=valid, context_mask=cmask, const=const)
    for b, it in enumerate(items):
        assert abs(got[b].item() - it[3]) <= 1e-8 * abs(it[3])
    got.sum().backward()
    for b, (eig, yy, logF, _) in enumerate(items):
        C, r = eig.G.shape
        one = torch.tensor(logF, requires_grad=True)
        exact_nll(
            torch.from_numpy(eig.G.T).unsqueeze(0),
            torch.from_numpy(yy).unsqueeze(0),
            one.unsqueeze(0),
            0.8,
        ).sum().backward()
        assert torch.allclose(lf.grad[b, :C], one.grad, rtol=1e-10, atol=1e-13)
        assert not lf.grad[b, C:].any()  # padded context rows get no gradient


def test_ldsc_loss_matches_a_loop():
    rng = np.random.default_rng(4)
    C, W = 15, 6
    _, R = random_ld(rng, 50, C)
    Widx = np.arange(4, 10)
    z = rng.standard_normal(C)
    F = np.exp(rng.normal(0, 1, C))
    sigma = 1.1
    mean_F = F.mean()
    want = 0.0
    for j in Widx:
        l_j = (R[j] ** 2).sum()
        chi2_hat = (R[j] ** 2 * F).sum() + sigma * R[j, j]
        scale = l_j * mean_F + R[j, j]
        want += ((chi2_hat - z[j] ** 2) / scale) ** 2 / l_j
    want /= W
    R2 = torch.tensor(R[Widx] ** 2).unsqueeze(0)
    got = ldsc_loss(
        R2,
        torch.tensor(np.diag(R)[Widx]).unsqueeze(0),
        torch.tensor(z[Widx] ** 2).unsqueeze(0),
        torch.tensor(np.log(F)).unsqueeze(0),
        sigma,
    )
    assert abs(got.item() - want) <= 1e-12 * want


@pytest.mark.parametrize(
    "case, exc, text",
    [
        ("no_scored", InputError, "no scored variants"),
        ("nonfinite_R", NumericalError, "non-finite"),
        ("not_psd", NumericalError, "not positive semi-definite"),
        ("sigma", InputError, "sigma must be > 0"),
        ("shape", InputError, "shapes do not agree"),
        ("mask_type", InputError, "boolean mask"),
    ],
)
def test_bad_input_raises_one_clear_error(case, exc, text):
    R = np.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.0]])
    scored = np.array([True, True, False])
    z = np.zeros(3)
    lpv = torch.zeros(3, dtype=torch.float64)
    sigma = 1.0
    if case == "no_scored":
        scored = np.zeros(3, bool)
    elif case == "nonfinite_R":
        R = R.copy()
        R[0, 2] = R[2, 0] = np.nan
    elif case == "not_psd":
        R = np.array([[1.0, 0.99, -0.99], [0.99, 1.0, 0.99], [-0.99, 0.99, 1.0]])
        scored = np.ones(3, bool)
    elif case == "sigma":
        sigma = 0.0
    elif case == "shape":
        z = np.zeros(4)
    elif case == "mask_type":
        scored = np.array([1, 1, 0])
    with pytest.raises(exc, match=text) as info:
        window_nll(z, R, scored, lpv, sigma)
    assert "\n" not in str(info.value)


def test_public_window_nll_is_reexported():
    import deepwas

    assert deepwas.window_nll is window_nll


def test_window_ldsc_has_the_window_nll_interface():
    from deepwas.linalg.likelihood import window_ldsc

    rng = np.random.default_rng(12)
    C = 14
    _, R = random_ld(rng, 60, C)
    scored = np.zeros(C, bool)
    scored[3:9] = True
    z = rng.standard_normal(C)
    logF = torch.tensor(rng.normal(0, 1, C), requires_grad=True)
    F = np.exp(logF.detach().numpy())
    want = 0.0
    for j in np.flatnonzero(scored):  # DESIGN 2.3 term by term
        l_j = (R[j] ** 2).sum()
        chi2_hat = (R[j] ** 2 * F).sum() + 0.9 * R[j, j]
        want += ((chi2_hat - z[j] ** 2) / (l_j * F.mean() + R[j, j])) ** 2 / l_j
    want /= scored.sum()
    got = window_ldsc(z, R, scored, logF, 0.9)
    assert abs(got.item() - want) <= 1e-12 * want
    got.backward()
    assert torch.isfinite(logF.grad).all()
