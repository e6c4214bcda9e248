"""SuSiE-RSS: the Sum of Single Effects model on summary statistics (z, R, N), in numpy float64.

This module owns the fitting algorithm and the credible sets, for one locus held in memory; the
loci, files and LD-mismatch checks are :mod:`deepwas.finemapping`'s. It re-derives the
sufficient-statistics form of Wang et al. (2020, JRSS-B) and Zou et al. (2022, PLoS Genetics)
as susieR 0.12 runs it for ``susie_rss(z, R, n)``:

* z is first rescaled, ``z_j sqrt((n - 1) / (z_j^2 + n - 2))`` (:func:`deepwas.kriging.adjust_z`),
  then ``X^T X = (n - 1) R``, ``X^T y = sqrt(n - 1) z``, ``y^T y = n - 1``: genotypes and phenotype
  standardised to variance 1, so effects are in phenotype standard deviations per genotype
  standard deviation (the "standardised scale");
* ``R`` may be regularised, ``R -> (1 - lambda) R + lambda I`` (the ``lambda`` of
  :func:`fit_susie_rss`; :func:`deepwas.kriging.estimate_s_rss` estimates it);
* L single effects ``b_l = gamma_l beta_l``, ``gamma_l ~ Mult(1, pi)`` (``pi``: the prior
  inclusion weights), ``beta_l ~ N(0, V_l)``; iterative Bayesian stepwise selection (IBSS):
  each effect in turn is refitted to the residual ``X^T y - X^T X sum_{k != l} E b_k`` by a
  single-effect regression with ``V_l`` re-estimated by maximum likelihood (Brent on log V in
  [-30, 15], set to 0 when that is no better than V = 0, susieR's "optim" rule);
* the residual variance sigma^2 is 1 (fixed) by default, as susieR's ``susie_rss``; with
  ``estimate_residual_variance=True`` it is set to E[RSS] / n after every sweep;
* stop when the evidence lower bound (ELBO) changes by less than ``tol``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from deepwas.kriging import adjust_z

__all__ = ["SusieConfig", "SusieResult", "fit_susie_rss", "credible_sets", "CredibleSet"]

_LOG_V_BOUNDS = (-30.0, 15.0)
_V_ZERO = 1e-9  # effects with a prior variance at or below this are treated as absent


@dataclass(frozen=True)
class SusieConfig:
    """Settings of :func:`fit_susie_rss`.

    Attributes
    ----------
    L:
        Number of single effects (default 10).
    max_iter:
        Maximum number of IBSS sweeps.
    tol:
        Convergence: stop when the ELBO changes by less than this (susieR's default 1e-3).
    prior_variance:
        Initial prior variance of each effect on the standardised scale (susieR: 0.2 times
        var(y) = 0.2).
    estimate_prior_variance:
        Re-estimate V_l in each single-effect regression (default True).
    estimate_residual_variance:
        Re-estimate sigma^2 (default False, as susieR's susie_rss; sigma^2 = 1).
    """

    L: int = 10  # noqa: N815 - the model's letter
    max_iter: int = 100
    tol: float = 1e-3
    prior_variance: float = 0.2
    estimate_prior_variance: bool = True
    estimate_residual_variance: bool = False


@dataclass
class SusieResult:
    """A fitted SuSiE-RSS model of one locus (m variants).

    Attributes
    ----------
    alpha: (L, m)
        Posterior inclusion probabilities of each single effect.
    mu, mu2: (L, m)
        Posterior mean and second moment of each effect's beta given inclusion.
    V: (L,)
        Estimated prior variances.
    sigma2: float
        Residual variance.
    elbo: list of float
        ELBO after each sweep.
    converged: bool
    n_iter: int
    pip: (m,)
        1 - prod_l (1 - alpha_l) over the effects with V_l > 1e-9.
    beta_mean, beta_sd: (m,)
        Posterior mean and standard deviation of the effects (standardised scale).
    """

    alpha: np.ndarray
    mu: np.ndarray
    mu2: np.ndarray
    V: np.ndarray  # noqa: N815
    sigma2: float
    elbo: list[float] = field(default_factory=list)
    converged: bool = False
    n_iter: int = 0

    @property
    def active(self) -> np.ndarray:
        """(L,) bool: effects with a non-zero prior variance."""
        return self.V > _V_ZERO

    @property
    def pip(self) -> np.ndarray:
        a = self.alpha[self.active]
        if a.shape[0] == 0:
            return np.zeros(self.alpha.shape[1])
        return 1.0 - np.prod(1.0 - a, axis=0)

    @property
    def beta_mean(self) -> np.ndarray:
        return np.sum(self.alpha * self.mu, axis=0)

    @property
    def beta_sd(self) -> np.ndarray:
        var = np.sum(self.alpha * self.mu2 - (self.alpha * self.mu) ** 2, axis=0)
        return np.sqrt(np.maximum(var, 0.0))


def _log_bf(V: float, betahat: np.ndarray, shat2: np.ndarray) -> np.ndarray:  # noqa: N803
    """Per-variant log Bayes factor of beta ~ N(0, V) against beta = 0, betahat ~ N(beta, shat2)."""
    return 0.5 * np.log(shat2 / (V + shat2)) + 0.5 * betahat**2 / shat2 * V / (V + shat2)


def _log_sum_weighted(lbf: np.ndarray, log_pi: np.ndarray) -> float:
    a = lbf + log_pi
    top = float(np.max(a))
    return top + math.log(float(np.sum(np.exp(a - top))))


def _optimise_v(betahat, shat2, log_pi, V_current: float) -> float:  # noqa: N803
    """susieR's "optim" rule: the prior variance maximising the SER marginal likelihood.

    Brent on log V in [-30, 15]; the current V is kept when the optimum found is no better, and V
    is set to 0 when that is at least as likely (the log BF at V = 0 is 0 for every variant, so
    the null's log likelihood is log sum pi = 0).
    """

    def neg(log_v: float) -> float:
        return -_log_sum_weighted(_log_bf(math.exp(log_v), betahat, shat2), log_pi)

    res = optimize.minimize_scalar(
        neg, bounds=_LOG_V_BOUNDS, method="bounded", options={"xatol": 1e-10}
    )
    v, best = math.exp(float(res.x)), -float(res.fun)
    if V_current > 0.0:
        current = -neg(math.log(V_current))
        if current > best:
            v, best = V_current, current
    return 0.0 if best <= 0.0 else v


def _single_effect(xtr, d, sigma2, V, log_pi, estimate):  # noqa: N803
    """One single-effect regression on the residual X^T r; returns (alpha, mu, mu2, V, lbf)."""
    betahat = xtr / d
    shat2 = sigma2 / d
    if estimate:
        V = _optimise_v(betahat, shat2, log_pi, V)
    if V <= 0.0:
        m = xtr.size
        alpha = np.exp(log_pi - _log_sum_weighted(np.zeros(m), log_pi))
        return alpha, np.zeros(m), np.zeros(m), 0.0, 0.0
    lbf = _log_bf(V, betahat, shat2)
    lbf_model = _log_sum_weighted(lbf, log_pi)
    alpha = np.exp(lbf + log_pi - lbf_model)
    post_var = 1.0 / (1.0 / V + d / sigma2)
    mu = post_var * xtr / sigma2
    return alpha, mu, post_var + mu**2, V, lbf_model


def _expected_rss(xtx, xty, yty, d, alpha, mu, mu2) -> float:
    b = np.sum(alpha * mu, axis=0)
    per_effect = alpha * mu
    quad = float(b @ xtx @ b)
    quad_l = float(np.einsum("lj,jk,lk->", per_effect, xtx, per_effect))
    return yty - 2.0 * float(b @ xty) + quad - quad_l + float(np.sum(d * (alpha * mu2)))


def fit_susie_rss(
    z: np.ndarray,
    R: np.ndarray,  # noqa: N803
    n: float,
    *,
    prior_weights: np.ndarray | None = None,
    lam: float = 0.0,
    config: SusieConfig | None = None,
) -> SusieResult:
    """Fit SuSiE-RSS to one locus.

    Parameters
    ----------
    z: (m,)
        z-scores, aligned with ``R``.
    R: (m, m)
        LD correlation matrix (unit diagonal).
    n:
        GWAS sample size (> 2).
    prior_weights: (m,) or None
        Prior inclusion weights pi (non-negative, normalised here to sum 1); None: uniform.
    lam:
        Regularisation: ``R`` is replaced by ``(1 - lam) R + lam I``, lam in [0, 1).
    config:
        :class:`SusieConfig` (default: L = 10, tol 1e-3, prior variance estimated).

    Returns
    -------
    SusieResult
        With ``pip``, ``beta_mean``, ``beta_sd``; warns (RuntimeWarning) when the ELBO did not
        converge within ``max_iter`` sweeps.

    Notes
    -----
    Single-effect regression on the sufficient statistics: with ``d = diag(X^T X)`` and the
    residual ``r_l = X^T y - X^T X sum_{k != l} alpha_k mu_k``, ``betahat = r_l / d``, ``shat^2 =
    sigma^2 / d``, log BF_j = 1/2 log(shat^2 / (V + shat^2)) + betahat^2 V / (2 shat^2 (V +
    shat^2)), alpha = softmax(log pi + log BF), posterior variance 1 / (1/V + d / sigma^2) and
    mean that times r_l / sigma^2. ELBO = -n/2 log(2 pi sigma^2) - E[RSS] / (2 sigma^2) - sum KL_l,
    KL_l = -log sum_j pi_j BF_j - (1 / (2 sigma^2)) (-2 sum_j r_lj E b_lj + sum_j d_j E b_lj^2).
    """
    cfg = config or SusieConfig()
    z = np.asarray(z, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    m = z.size
    if R.shape != (m, m):
        raise ValueError(f"R must have shape ({m}, {m}) to match z, got {R.shape}")
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"lam must be in [0, 1), got {lam}")
    if n <= 2:
        raise ValueError(f"n must be > 2, got {n}")
    if prior_weights is None:
        pi = np.full(m, 1.0 / m)
    else:
        pi = np.asarray(prior_weights, dtype=np.float64)
        if pi.shape != (m,) or np.any(pi < 0) or not np.all(np.isfinite(pi)) or pi.sum() <= 0:
            raise ValueError("prior_weights must be m finite non-negative numbers, not all 0")
        pi = pi / pi.sum()
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    if lam > 0:
        R = (1.0 - lam) * R + lam * np.eye(m)
    zt = adjust_z(z, n)
    xtx = (n - 1.0) * R
    xty = math.sqrt(n - 1.0) * zt
    yty = n - 1.0
    d = np.diag(xtx).copy()
    L = cfg.L
    alpha = np.tile(pi, (L, 1))
    mu = np.zeros((L, m))
    mu2 = np.zeros((L, m))
    V = np.full(L, cfg.prior_variance * yty / (n - 1.0))
    sigma2 = yty / (n - 1.0)
    xr = np.zeros(m)  # X^T X sum_l alpha_l mu_l
    kl = np.zeros(L)
    res = SusieResult(alpha=alpha, mu=mu, mu2=mu2, V=V, sigma2=sigma2)
    for it in range(cfg.max_iter):
        for ell in range(L):
            xr -= xtx @ (alpha[ell] * mu[ell])
            xtr = xty - xr
            a, b, b2, v, lbf_model = _single_effect(
                xtr, d, sigma2, V[ell], log_pi, cfg.estimate_prior_variance
            )
            alpha[ell], mu[ell], mu2[ell], V[ell] = a, b, b2, v
            eb = a * b
            e_loglik = -0.5 / sigma2 * (-2.0 * float(xtr @ eb) + float(d @ (a * b2)))
            kl[ell] = -lbf_model + e_loglik
            xr += xtx @ eb
        erss = _expected_rss(xtx, xty, yty, d, alpha, mu, mu2)
        elbo = -0.5 * n * math.log(2 * math.pi * sigma2) - 0.5 * erss / sigma2 - float(kl.sum())
        res.elbo.append(elbo)
        res.n_iter = it + 1
        # signed, as susieR: a (numerical) decrease also stops
        if it > 0 and elbo - res.elbo[-2] < cfg.tol:
            res.converged = True
            break
        if cfg.estimate_residual_variance:
            sigma2 = max(erss / n, 1e-12)
    res.sigma2 = sigma2
    if not res.converged:
        warnings.warn(
            f"SuSiE did not converge in {cfg.max_iter} sweeps (ELBO change "
            f"{abs(res.elbo[-1] - res.elbo[-2]) if len(res.elbo) > 1 else float('nan'):.3g})",
            RuntimeWarning,
            stacklevel=2,
        )
    return res


@dataclass(frozen=True)
class CredibleSet:
    """One credible set of a fitted locus.

    Attributes
    ----------
    effect: int
        The single effect (0-based row of ``alpha``) it comes from.
    variants: (k,) int
        Positions of its variants in the locus, by decreasing alpha.
    coverage: float
        Sum of the effect's alpha over the set (>= the requested coverage).
    purity: float
        Minimum |r| between any two of its variants (1 for a single variant).
    mean_abs_r, median_abs_r: float
        Mean and median |r| over its pairs (1 for a single variant).
    """

    effect: int
    variants: np.ndarray
    coverage: float
    purity: float
    mean_abs_r: float
    median_abs_r: float


def credible_sets(
    result: SusieResult,
    R: np.ndarray,  # noqa: N803
    *,
    coverage: float = 0.95,
    min_purity: float = 0.5,
) -> list[CredibleSet]:
    """Level-``coverage`` credible sets of the active effects, filtered by purity.

    Parameters
    ----------
    result:
        A fitted model.
    R: (m, m)
        The LD matrix used to measure purity (the unregularised one).
    coverage:
        Each effect's set is the fewest variants, by decreasing alpha, whose alphas sum to at
        least this.
    min_purity:
        Keep sets whose minimum |r| among their variants is at least this (0.5, susieR's
        ``min_abs_corr``).

    Returns
    -------
    list of CredibleSet
        Ordered by effect; an effect whose set equals an earlier effect's is dropped
        (susieR keeps one copy of identical sets).
    """
    R = np.asarray(R, dtype=np.float64)
    out: list[CredibleSet] = []
    seen: set[tuple[int, ...]] = set()
    for ell in np.flatnonzero(result.active):
        a = result.alpha[ell]
        order = np.argsort(-a, kind="stable")
        csum = np.cumsum(a[order])
        # the fewest variants reaching the coverage: those whose cumulative alpha is still
        # below it, plus one
        k = min(int(np.searchsorted(csum, coverage, side="left")) + 1, a.size)
        members = order[:k]
        key = tuple(sorted(int(i) for i in members))
        if key in seen:
            continue
        seen.add(key)
        if k == 1:
            purity = mean_r = median_r = 1.0
        else:
            sub = np.abs(R[np.ix_(members, members)])
            pairs = sub[np.triu_indices(k, 1)]
            purity, mean_r, median_r = (
                float(pairs.min()),
                float(pairs.mean()),
                float(np.median(pairs)),
            )
        if purity < min_purity:
            continue
        out.append(
            CredibleSet(
                effect=int(ell),
                variants=members,
                coverage=float(csum[k - 1]),
                purity=purity,
                mean_abs_r=mean_r,
                median_abs_r=median_r,
            )
        )
    return out
