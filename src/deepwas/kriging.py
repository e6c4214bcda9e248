"""Consistency of z-scores with an LD matrix: the lambda (s) of SuSiE-RSS and the kriging test.

This module owns the per-variant LD-mismatch diagnostics of Zou et al. (2022, PLoS Genetics,
"Fine-mapping from summary data with the Sum of Single Effects model"), re-derived here:

- :func:`estimate_s_rss`: the maximum-likelihood ``s`` in ``z ~ N(0, (1 - s) R + s I)``, a
  one-dimensional bounded optimisation in the eigenbasis of ``R``. ``s`` near 0 means the
  z-scores are consistent with ``R``; a large ``s`` means they are not (LD mismatch, allele
  flips, a panel of another ancestry). SuSiE-RSS uses it as its ``lambda`` regularisation.
- :func:`kriging_test`: for every variant the conditional distribution of ``z_i`` given all
  other z-scores under the covariance ``(1 - s) R + s I``, the standardised residual, its
  chi-square p-value, a log likelihood ratio for the allele-flip signature and outlier flags.

Both accept either a dense ``R`` or its (possibly truncated) eigendecomposition, such as the
scored block's ``eigvals``/``eigvecs`` of an :class:`deepwas.ld.store.LDWindow`. Pure numpy
(float64); nothing here reads files.

Derivation (Notes of :func:`kriging_test`): with ``Sigma = (1 - s) R + s I`` and its precision
``Q = Sigma^-1``, the Gaussian conditional of ``z_i`` given ``z_-i`` has variance ``1 / Q_ii``
and mean ``z_i - (Q z)_i / Q_ii`` (the Schur-complement identities), so one matrix-vector
product with ``Q`` gives all m conditionals at once; the standardised residual is
``(Q z)_i / sqrt(Q_ii)``. With ``R = U diag(lam) U^T`` truncated to rank r and ``d = (1 - s) lam
+ s``, ``Q = I / s + U diag(1 / d - 1 / s) U^T`` (the discarded directions have ``lam = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["LDEigen", "ld_eigen", "estimate_s_rss", "kriging_test", "KRIGING_COLUMNS"]

# Relative floor on the eigenvalues of (1 - s) R + s I: keeps Q finite when s = 0 and R is
# singular (a panel with fewer samples than variants). The residual is then very large for any
# z outside the panel's span, which is the right verdict: such a z is inconsistent with R.
_COV_FLOOR = 1e-8
# Eigenvalues of R below this fraction of the largest are treated as 0 (numerical noise).
_EIG_RTOL = 1e-10

KRIGING_COLUMNS = [
    "Z",
    "COND_MEAN",
    "COND_SD",
    "RESID",
    "P_RESID",
    "LOGLR_FLIP",
    "FLIP",
    "OUTLIER",
]


@dataclass(frozen=True)
class LDEigen:
    """The eigendecomposition of an LD matrix, possibly truncated.

    Attributes
    ----------
    vals: (r,) float64
        Eigenvalues (>= 0), any order.
    vecs: (m, r) float64
        Orthonormal eigenvectors; the directions not in ``vecs`` have eigenvalue 0.
    """

    vals: np.ndarray
    vecs: np.ndarray

    @property
    def m(self) -> int:
        return int(self.vecs.shape[0])


def ld_eigen(R: np.ndarray, *, rtol: float = _EIG_RTOL) -> LDEigen:  # noqa: N803
    """Eigendecomposition of a symmetric LD matrix, dropping eigenvalues below ``rtol * max``.

    Parameters
    ----------
    R: (m, m)
        Symmetric LD correlation matrix.
    rtol:
        Relative cutoff below which eigenvalues are taken as 0.

    Returns
    -------
    LDEigen
        ``vals`` (r,) and ``vecs`` (m, r), r <= m.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be square, got shape {R.shape}")
    vals, vecs = np.linalg.eigh(0.5 * (R + R.T))
    top = max(float(vals[-1]), 0.0) if vals.size else 0.0
    keep = vals > rtol * top
    return LDEigen(vals=vals[keep].copy(), vecs=vecs[:, keep].copy())


def _as_eigen(R: np.ndarray | LDEigen) -> LDEigen:  # noqa: N803
    if isinstance(R, LDEigen):
        return LDEigen(
            vals=np.asarray(R.vals, dtype=np.float64), vecs=np.asarray(R.vecs, dtype=np.float64)
        )
    return ld_eigen(R)


def _check_z(z: np.ndarray, m: int) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.shape != (m,):
        raise ValueError(f"z must have shape ({m},) to match R, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z has missing or infinite values")
    return z


def adjust_z(z: np.ndarray, n: float | None) -> np.ndarray:
    """z-scores rescaled as susieR does before estimating s: ``z sqrt((n - 1) / (z^2 + n - 2))``.

    This is the PVE adjustment (a z-score of a variant explaining a fraction of the phenotypic
    variance has variance slightly below 1 under the null given the others); it matters only
    for very large |z| relative to n. ``n=None`` returns ``z`` unchanged.
    """
    z = np.asarray(z, dtype=np.float64)
    if n is None:
        return z
    if n <= 2:
        raise ValueError(f"n must be > 2, got {n}")
    return z * np.sqrt((n - 1.0) / (z**2 + n - 2.0))


def _neg_loglik_s(s: float, lam: np.ndarray, w2: np.ndarray, rest2: float, m: int) -> float:
    """-log N(z; 0, (1 - s) R + s I) up to a constant, in the eigenbasis.

    ``w2 = (U^T z)^2`` for the kept directions and ``rest2 = |z|^2 - sum(w2)`` is the part of z
    in the null space of R (eigenvalue 0, so variance s there).
    """
    d = (1.0 - s) * lam + s
    floor = _COV_FLOOR * max(1.0, float(d.max()) if d.size else 1.0)
    d = np.maximum(d, floor)
    s_null = max(s, floor)
    n_null = m - lam.size
    value = 0.5 * (np.sum(np.log(d)) + np.sum(w2 / d))
    if n_null > 0:
        value += 0.5 * (n_null * np.log(s_null) + rest2 / s_null)
    return float(value)


def estimate_s_rss(
    z: np.ndarray,
    R: np.ndarray | LDEigen,  # noqa: N803
    n: float | None = None,
    *,
    xatol: float = 1e-8,
) -> float:
    """Maximum-likelihood ``s`` in ``z ~ N(0, (1 - s) R + s I)``, ``s`` in [0, 1].

    Parameters
    ----------
    z: (m,)
        z-scores, aligned with ``R``.
    R: (m, m) array or LDEigen
        LD matrix, or its eigendecomposition (truncated directions have eigenvalue 0).
    n:
        GWAS sample size; if given, z is first rescaled by :func:`adjust_z` (as susieR does).
    xatol:
        Absolute tolerance of the bounded scalar optimisation (scipy's Brent-bounded method).

    Returns
    -------
    float
        The estimate of ``s``. 0 means the z-scores are fully consistent with ``R``; SuSiE-RSS
        uses it as ``lambda`` (R -> (1 - lambda) R + lambda I).

    Notes
    -----
    With ``R = U diag(lam) U^T`` the negative log-likelihood is
    ``1/2 sum_k [log d_k + (u_k^T z)^2 / d_k]``, ``d_k = (1 - s) lam_k + s``, plus the same term
    with ``lam = 0`` for each direction outside the range of ``U``. It is minimised over
    ``[0, 1]`` with a bounded Brent search; the end points are compared too, because the optimum
    is often at ``s = 0`` exactly (consistent data) and Brent never evaluates the bounds.
    """
    eig = _as_eigen(R)
    z = adjust_z(_check_z(z, eig.m), n)
    w = eig.vecs.T @ z
    w2 = w**2
    rest2 = max(float(z @ z) - float(w2.sum()), 0.0)
    lam = np.clip(eig.vals, 0.0, None)
    fun = lambda s: _neg_loglik_s(s, lam, w2, rest2, eig.m)  # noqa: E731
    res = optimize.minimize_scalar(
        fun, bounds=(0.0, 1.0), method="bounded", options={"xatol": xatol}
    )
    candidates = [(float(res.fun), float(res.x)), (fun(0.0), 0.0), (fun(1.0), 1.0)]
    return min(candidates)[1]


def _precision_diag_and_qz(z: np.ndarray, eig: LDEigen, s: float) -> tuple[np.ndarray, np.ndarray]:
    """diag(Q) and Q z for Q = ((1 - s) R + s I)^-1 from the eigendecomposition of R."""
    lam = np.clip(eig.vals, 0.0, None)
    d = (1.0 - s) * lam + s
    top = max(1.0, float(d.max()) if d.size else 1.0)
    floor = _COV_FLOOR * top
    d = np.maximum(d, floor)
    s_null = max(s, floor)
    U = eig.vecs
    if lam.size == eig.m:  # full rank: no null-space term
        coef = 1.0 / d
        q_diag = (U**2) @ coef
        qz = U @ (coef * (U.T @ z))
    else:
        coef = 1.0 / d - 1.0 / s_null
        q_diag = 1.0 / s_null + (U**2) @ coef
        qz = z / s_null + U @ (coef * (U.T @ z))
    return q_diag, qz


def kriging_test(
    z: np.ndarray,
    R: np.ndarray | LDEigen,  # noqa: N803
    s: float,
    *,
    outlier_p: float | None = None,
    flip_loglr: float = 2.0,
    flip_min_abs_z: float = 2.0,
    error_loglr: float = 2.0,
) -> pd.DataFrame:
    """Per-variant consistency of z-scores with LD: the conditional of each z given the others.

    Parameters
    ----------
    z: (m,)
        z-scores, aligned with ``R``.
    R: (m, m) array or LDEigen
        LD matrix or its eigendecomposition.
    s:
        Mixing weight of the identity, in [0, 1] (usually :func:`estimate_s_rss`).
    outlier_p:
        A variant is an ``OUTLIER`` when ``P_RESID`` is below this; default ``0.05 / m``
        (Bonferroni over the variants tested).
    flip_loglr, flip_min_abs_z:
        A variant is flagged ``FLIP`` (the allele-flip signature) when ``LOGLR_FLIP >
        flip_loglr`` and ``|z| > flip_min_abs_z`` (susieR's rule, 2 and 2).
    error_loglr:
        An ``OUTLIER`` must also have ``LOGLR_ERROR`` above this: an error in its own z must
        explain the data better than a causal effect at it.

    Returns
    -------
    pandas.DataFrame, (m, 9)
        Columns (in input order):

        - ``Z``: the input z-score;
        - ``COND_MEAN``: E[z_i | z_-i] = z_i - (Q z)_i / Q_ii;
        - ``COND_SD``: sd(z_i | z_-i) = 1 / sqrt(Q_ii);
        - ``RESID``: (z_i - COND_MEAN) / COND_SD = (Q z)_i / sqrt(Q_ii);
        - ``P_RESID``: chi-square (1 df) p-value of ``RESID**2``;
        - ``LOGLR_FLIP``: log N(z_i; -mu_i, sd_i^2) - log N(z_i; mu_i, sd_i^2) = -2 z_i mu_i /
          sd_i^2: how much better the conditional fits with the variant's allele flipped;
        - ``FLIP``: the flip flag (see ``flip_loglr``);
        - ``LOGLR_ERROR``: ``(RESID^2 - z_i^2) / 2``, the log likelihood ratio of an error in z_i
          (z = delta e_i + N(0, Sigma)) against a causal effect at variant i (z = beta Sigma e_i
          + N(0, Sigma)), each at its maximum-likelihood delta or beta;
        - ``OUTLIER``: ``P_RESID < outlier_p`` and ``LOGLR_ERROR > error_loglr``.

        ``df.attrs["s"]`` holds ``s``.

    Notes
    -----
    With ``Sigma = (1 - s) R + s I`` and ``Q = Sigma^-1``, partitioning on variant i gives
    ``Var(z_i | z_-i) = 1 / Q_ii`` and ``E(z_i | z_-i) = -Q_i,-i z_-i / Q_ii = z_i - (Q z)_i /
    Q_ii``. susieR's ``kriging_rss`` integrates the conditional over a grid of variance
    inflations; this uses the plain Gaussian conditional, so its log likelihood ratio is the
    closed form above.

    A causal variant departs from what its neighbours predict too: with z = beta Sigma e_i + e,
    ``RESID_i = beta / COND_SD + N(0, 1)``, so with a strong enough effect every causal variant
    fails the test on ``P_RESID`` alone (5 of UK Biobank height's chr22 lead variants did with
    the 378-sample panel). The two explanations of a large residual differ in what they predict
    for the neighbours, and their profile likelihoods have a closed form: minimising the
    Mahalanobis distance ``(z - mu)^T Q (z - mu)`` over delta gives ``z^T Q z - (Q z)_i^2 /
    Q_ii = z^T Q z - RESID_i^2`` for ``mu = delta e_i``, and over beta gives ``z^T Q z - z_i^2``
    for ``mu = beta Sigma e_i`` (``Sigma_ii = 1``), hence ``LOGLR_ERROR``. A z that its LD
    neighbours deny (they are near 0 while z_i is large) has ``RESID`` far above ``|z_i|``; a
    causal variant has ``RESID`` below it.

    With ``s = 0`` and a singular ``R`` the eigenvalues of Sigma are floored
    at ``1e-8`` times the largest, so a z outside the span of the panel shows as a huge residual.
    """
    if not 0.0 <= float(s) <= 1.0:
        raise ValueError(f"s must be in [0, 1], got {s}")
    eig = _as_eigen(R)
    z = _check_z(z, eig.m)
    m = eig.m
    q_diag, qz = _precision_diag_and_qz(z, eig, float(s))
    cond_sd = 1.0 / np.sqrt(q_diag)
    cond_mean = z - qz / q_diag
    resid = qz / np.sqrt(q_diag)
    p_resid = stats.chi2.sf(resid**2, df=1)
    loglr = -2.0 * z * cond_mean / cond_sd**2
    loglr_error = 0.5 * (resid**2 - z**2)
    alpha = 0.05 / max(m, 1) if outlier_p is None else float(outlier_p)
    out = pd.DataFrame(
        {
            "Z": z,
            "COND_MEAN": cond_mean,
            "COND_SD": cond_sd,
            "RESID": resid,
            "P_RESID": p_resid,
            "LOGLR_FLIP": loglr,
            "FLIP": (loglr > flip_loglr) & (np.abs(z) > flip_min_abs_z),
            "LOGLR_ERROR": loglr_error,
            "OUTLIER": (p_resid < alpha) & (loglr_error > error_loglr),
        }
    )
    out.attrs["s"] = float(s)
    return out
