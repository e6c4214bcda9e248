"""The theta-independent eigen precomputation of a window (DESIGN 2.1).

For a window with context C and scored set W (a subset of C) and LD R = R_CC:

    R_WW = U diag(lam) U^T          keep the r components above a relative cutoff
    G    = R_CW U diag(lam)^(-1/2)  (|C|, r)
    y    = diag(lam)^(-1/2) U^T z_W (r,)   (trait-dependent, see :func:`project_z`)

after which y ~ N(0, sigma I_r + G^T diag(F_C) G). Everything here is float64 NumPy; it is
computed once per window (when the LD store is built, or at fit time when a trait measured only
part of the scored set), never per training step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepwas.errors import NumericalError

__all__ = ["EigenWindow", "eigen_precompute", "n_leading", "project_z", "NEG_EIG_RTOL"]

#: An eigenvalue of R_WW below ``-NEG_EIG_RTOL * max(lam)`` means the LD matrix is not positive
#: semi-definite beyond what float32 storage and round-off explain; such a matrix is refused.
NEG_EIG_RTOL = 1e-4


@dataclass(frozen=True)
class EigenWindow:
    """The kept spectrum of R_WW and the projected LD of a window.

    Attributes
    ----------
    lam: (rank,) float64
        Kept eigenvalues of R_WW, descending.
    U: (n_scored, rank) float64
        Their eigenvectors.
    G: (n_context, rank) float64
        R_CW U diag(lam)^(-1/2).
    """

    lam: np.ndarray
    U: np.ndarray
    G: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.lam.shape[0])

    @property
    def logdet_lam(self) -> float:
        """sum(log lam): the constant that turns the NLL of y into that of z_W."""
        return float(np.sum(np.log(self.lam)))


def _as_index(scored: np.ndarray, n: int) -> np.ndarray:
    scored = np.asarray(scored)
    if scored.dtype == bool:
        if scored.shape != (n,):
            raise ValueError(f"scored mask has shape {scored.shape}, expected ({n},)")
        return np.flatnonzero(scored)
    return scored.astype(np.int64)


def eigen_precompute(
    R: np.ndarray,
    scored: np.ndarray,
    *,
    eig_rtol: float = 1e-8,
    var_explained: float | None = None,
    window: str = "window",
) -> EigenWindow:
    """Eigendecompose R_WW and project the context LD onto its kept components.

    Parameters
    ----------
    R: (n_context, n_context)
        LD among the context variants (any float dtype; promoted to float64).
    scored: (n_context,) bool or (n_scored,) int
        Which context variants are scored.
    eig_rtol:
        Keep eigenvalues ``lam > eig_rtol * max(lam)``. The default keeps every direction
        that round-off does not swamp, so that the NLL is the exact Gaussian NLL of z_W for a
        full-rank R_WW; reference panels of n_ref samples give rank <= n_ref.
    var_explained:
        If given (0 < v <= 1), further keep only the leading components whose eigenvalues sum to
        at least this fraction of ``trace(R_WW)``.
    window:
        A name for the window in error messages.

    Returns
    -------
    EigenWindow

    Raises
    ------
    NumericalError
        If R has non-finite entries, the scored set is empty, or R_WW has an eigenvalue below
        ``-NEG_EIG_RTOL * max(lam)`` (not positive semi-definite).
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise NumericalError(f"{window}: LD matrix has shape {R.shape}, expected a square matrix")
    idx = _as_index(scored, R.shape[0])
    if idx.size == 0:
        raise NumericalError(
            f"{window}: no scored variants", fix="drop empty windows or check the window definition"
        )
    if not np.all(np.isfinite(R)):
        bad = np.argwhere(~np.isfinite(R))[0]
        raise NumericalError(
            f"{window}: LD matrix has a non-finite entry at ({bad[0]}, {bad[1]})",
            fix="remove monomorphic variants (raise --min-maf) or rebuild the LD store",
        )
    if not (0.0 < eig_rtol < 1.0):
        raise ValueError(f"eig_rtol must be in (0, 1), got {eig_rtol}")
    R_WW = R[np.ix_(idx, idx)]
    R_WW = 0.5 * (R_WW + R_WW.T)
    lam, U = np.linalg.eigh(R_WW)
    lam, U = lam[::-1], U[:, ::-1]
    lam_max = lam[0]
    if not lam_max > 0:
        raise NumericalError(f"{window}: LD matrix of the scored variants is zero or negative")
    if lam[-1] < -NEG_EIG_RTOL * lam_max:
        raise NumericalError(
            f"{window}: LD matrix is not positive semi-definite (eigenvalue {lam[-1]:.3g}, "
            f"largest {lam_max:.3g})",
            fix="shrink it towards the identity with --shrinkage (e.g. 0.01) "
            "or rebuild it from genotypes",
        )
    keep = lam > eig_rtol * lam_max  # a leading run: lam is descending
    if var_explained is not None:
        keep &= np.arange(lam.size) < n_leading(lam[keep], var_explained)
    lam, U = np.ascontiguousarray(lam[keep]), np.ascontiguousarray(U[:, keep])
    G = (R[:, idx] @ U) / np.sqrt(lam)
    return EigenWindow(lam=lam, U=U, G=np.ascontiguousarray(G))


def n_leading(lam: np.ndarray, var_explained: float) -> int:
    """How many leading eigenvalues explain the fraction ``var_explained`` of the variance.

    The one eigen-truncation rule: the store build, :func:`eigen_precompute` and the truncation of
    stored spectra at fit time (:func:`deepwas.ld.trait.prepare_trait`) all use it.

    Parameters
    ----------
    lam: (rank,)
        Eigenvalues, descending, positive.
    var_explained:
        The fraction, ``0 < v <= 1``.

    Returns
    -------
    int
        The smallest k with ``sum(lam[:k]) >= v * sum(lam)`` (up to a relative 1e-12, so that
        ``v = 1`` keeps every component despite round-off in the cumulative sum), at most
        ``lam.size``.

    Raises
    ------
    ValueError
        If ``var_explained`` is outside (0, 1].
    """
    if not (0.0 < var_explained <= 1.0):
        raise ValueError(f"var_explained must be in (0, 1], got {var_explained}")
    cum = np.cumsum(lam)
    return int(min(lam.size, np.searchsorted(cum, var_explained * cum[-1] * (1 - 1e-12)) + 1))


def project_z(eig: EigenWindow, z_scored: np.ndarray) -> np.ndarray:
    """y = diag(lam)^(-1/2) U^T z_W.

    Parameters
    ----------
    eig: EigenWindow
    z_scored: (n_scored,)
        z-scores of the scored variants, in the order of ``eig.U``'s rows.

    Returns
    -------
    y: (rank,) float64
    """
    return (eig.U.T @ np.asarray(z_scored, dtype=np.float64)) / np.sqrt(eig.lam)
