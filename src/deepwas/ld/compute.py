"""LD from reference-panel genotypes: the correlation matrix of a window's context.

This module owns :func:`window_ld`, the one formula by which deepwas turns standardised genotypes
(:func:`deepwas.io.genotypes.standardize`) into an LD matrix, with optional shrinkage towards the
identity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_ld"]


def window_ld(X_context: np.ndarray, *, shrinkage: float = 0.0) -> np.ndarray:
    """LD (correlation) matrix of standardised genotypes, optionally shrunk towards I.

    Parameters
    ----------
    X_context: (n_samples, n_context)
        Standardised genotypes of the context variants (each column mean 0, population
        variance 1, as returned by :func:`deepwas.io.genotypes.standardize`).
    shrinkage:
        s in [0, 1].

    Returns
    -------
    R: (n_context, n_context) float64
        ``(1 - s) X^T X / n_samples + s I``, exactly symmetric with an exactly unit diagonal.

    Notes
    -----
    With mean-imputed missing calls and the scale taken after imputation, ``X^T X / n`` is the
    Pearson correlation of the imputed dosages (``np.corrcoef`` on complete data). Its rank is at
    most ``n_samples - 1``; shrinkage makes it full rank (eigenvalues >= s), the usual remedy for
    small panels and for LD/GWAS sample mismatch.
    """
    X = np.asarray(X_context, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X_context must be 2-d (n_samples, n_context), got shape {X.shape}")
    if not (0.0 <= shrinkage <= 1.0):
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples to compute LD, got {n}")
    R = X.T @ X
    R /= n
    R += R.T  # exact symmetry whatever the BLAS kernel
    R *= 0.5
    if shrinkage:
        R *= 1.0 - shrinkage
    np.fill_diagonal(R, 1.0)
    return R
