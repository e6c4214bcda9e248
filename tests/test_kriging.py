"""kriging.py against dense float64 references: explicit Gaussian conditioning, a grid search
for the maximum-likelihood s, and the recovery of a planted allele flip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepwas.kriging import LDEigen, adjust_z, estimate_s_rss, kriging_test, ld_eigen


def ar1(m: int, rho: float) -> np.ndarray:
    idx = np.arange(m)
    return rho ** np.abs(idx[:, None] - idx[None, :])


def random_psd_corr(m: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    """A correlation matrix from `rank` samples (singular when rank < m), like a small panel."""
    X = rng.standard_normal((rank, m)) @ np.linalg.cholesky(ar1(m, 0.8)).T
    X = (X - X.mean(0)) / X.std(0)
    return X.T @ X / rank


def dense_conditional(z, Sigma, i):
    """Slow reference: condition z_i on z_-i by solving on the (m-1) block."""
    rest = np.delete(np.arange(len(z)), i)
    S_rr = Sigma[np.ix_(rest, rest)]
    S_ir = Sigma[i, rest]
    w = np.linalg.solve(S_rr, S_ir)
    return w @ z[rest], Sigma[i, i] - S_ir @ w


@pytest.mark.parametrize("rank_full", [True, False])
@pytest.mark.parametrize("s", [0.05, 0.4])
def test_closed_form_matches_explicit_conditioning(rank_full, s):
    rng = np.random.default_rng(3)
    m = 30
    R = random_psd_corr(m, 200 if rank_full else 12, rng)
    z = rng.standard_normal(m) * 2
    Sigma = (1 - s) * R + s * np.eye(m)
    out = kriging_test(z, R, s)
    for i in range(m):
        mu, var = dense_conditional(z, Sigma, i)
        # float64 solves on a matrix with condition number <= 1/s = 20: agreement to 1e-9
        assert out["COND_MEAN"][i] == pytest.approx(mu, abs=1e-9)
        assert out["COND_SD"][i] == pytest.approx(np.sqrt(var), rel=1e-9)
        resid = (z[i] - mu) / np.sqrt(var)
        assert out["RESID"][i] == pytest.approx(resid, abs=1e-8)
        assert out["P_RESID"][i] == pytest.approx(stats.chi2.sf(resid**2, 1), rel=1e-6, abs=1e-300)
        # log likelihood ratio of the flipped allele, from the two Gaussian densities
        sd = np.sqrt(var)
        ref = stats.norm.logpdf(z[i], -mu, sd) - stats.norm.logpdf(z[i], mu, sd)
        assert out["LOGLR_FLIP"][i] == pytest.approx(ref, abs=1e-8)


def test_eigen_input_equals_dense_input():
    rng = np.random.default_rng(4)
    m = 25
    R = random_psd_corr(m, 10, rng)  # rank 10: the truncated eigenbasis carries a null space
    z = rng.standard_normal(m)
    eig = ld_eigen(R)
    assert eig.vals.size == 9  # centring removes one dimension
    a = kriging_test(z, R, 0.2)
    b = kriging_test(z, LDEigen(eig.vals, eig.vecs), 0.2)
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, atol=1e-12)
    assert estimate_s_rss(z, R) == pytest.approx(estimate_s_rss(z, eig), abs=1e-10)


def dense_neg_loglik(z, R, s):
    Sigma = (1 - s) * R + s * np.eye(len(z))
    return -stats.multivariate_normal(np.zeros(len(z)), Sigma).logpdf(z)


def test_estimate_s_matches_a_grid_search():
    rng = np.random.default_rng(5)
    m = 40
    R = random_psd_corr(m, 100, rng)
    s_true = 0.3
    z = np.linalg.cholesky((1 - s_true) * R + s_true * np.eye(m)) @ rng.standard_normal(m)
    s_hat = estimate_s_rss(z, R)
    grid = np.linspace(1e-4, 1, 10_001)
    s_grid = grid[np.argmin([dense_neg_loglik(z, R, g) for g in grid])]
    assert abs(s_hat - s_grid) < 2e-4  # grid step 1e-4
    # the optimum is a true minimum of the dense likelihood
    assert dense_neg_loglik(z, R, s_hat) <= dense_neg_loglik(z, R, s_grid) + 1e-9


def test_estimate_s_recovers_planted_mixture_and_zero_when_consistent():
    rng = np.random.default_rng(6)
    m = 400
    R = ar1(m, 0.95)
    L = np.linalg.cholesky(R)
    z0 = L @ rng.standard_normal(m)
    assert estimate_s_rss(z0, R) < 0.01
    s_true = 0.2
    z1 = np.linalg.cholesky((1 - s_true) * R + s_true * np.eye(m)) @ rng.standard_normal(m)
    assert abs(estimate_s_rss(z1, R) - s_true) < 0.05  # sampling error at m=400 is ~0.02


def test_adjust_z():
    z = np.array([0.0, 3.0, -50.0])
    np.testing.assert_allclose(adjust_z(z, 1000), z * np.sqrt(999 / (z**2 + 998)))
    np.testing.assert_array_equal(adjust_z(z, None), z)
    with pytest.raises(ValueError):
        adjust_z(z, 2)


def test_planted_allele_flip_is_recovered():
    rng = np.random.default_rng(7)
    m, n = 200, 50_000
    R = ar1(m, 0.97)
    s_var = np.zeros(m)
    causal = [60, 140]
    s_var[causal] = 4e-4  # z about sqrt(N s) = 4.5 at the causal variants, shared by neighbours
    cov = R + n * R @ np.diag(s_var) @ R
    z = np.linalg.cholesky(cov) @ rng.standard_normal(m)
    flipped = 62
    assert abs(z[flipped]) > 3
    z_bad = z.copy()
    z_bad[flipped] *= -1
    s_hat = estimate_s_rss(z_bad, R, n)
    assert s_hat > estimate_s_rss(z, R, n)
    out = kriging_test(z_bad, R, s_hat)
    assert out["FLIP"][flipped]
    assert int(np.argmax(out["LOGLR_FLIP"])) == flipped
    assert int(np.argmin(out["P_RESID"])) == flipped
    # the unflipped z shows no flip
    clean = kriging_test(z, R, estimate_s_rss(z, R, n))
    assert not clean["FLIP"].any()


def test_bad_inputs():
    R = ar1(5, 0.5)
    with pytest.raises(ValueError, match="shape"):
        kriging_test(np.zeros(4), R, 0.1)
    with pytest.raises(ValueError, match="s must be"):
        kriging_test(np.zeros(5), R, 1.5)
    with pytest.raises(ValueError, match="missing"):
        estimate_s_rss(np.array([0, 1, np.nan, 0, 0.0]), R)
    with pytest.raises(ValueError, match="square"):
        ld_eigen(np.zeros((3, 4)))
