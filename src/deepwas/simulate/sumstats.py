"""Summary statistics of a simulation: z-scores drawn exactly from ``z ~ N(0, N R S R + sigma R)``.

This module owns the z-draw models. Today there is one: the cohort's own LD (optionally banded)
generates the signal and the noise; :func:`simulate_sumstats` never forms R.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepwas.io.genotypes import GenotypePanel, standardize

__all__ = ["simulate_sumstats"]


def simulate_sumstats(
    genotypes: np.ndarray | GenotypePanel,
    snpvar: np.ndarray,
    *,
    n_gwas: float,
    sigma: float = 1.0,
    rng: np.random.Generator | int | None = None,
    n_draws: int | None = None,
    positions: np.ndarray | None = None,
    band_bp: float | None = None,
) -> np.ndarray:
    """Draw z-scores from ``z ~ N(0, N R S R + sigma R)`` with ``R = X^T X / n``, exactly.

    Parameters
    ----------
    genotypes: (n, m) array or GenotypePanel
        Either X, used as given (pass standardised genotypes, columns mean 0 and variance 1, for
        R to be the LD correlation), or a panel, standardised chromosome by chromosome with
        :func:`deepwas.io.genotypes.standardize` (LD across chromosomes is zero).
    snpvar: (m,)
        Per-SNP heritability s (the prior variance of standardised effects), non-negative.
    n_gwas:
        GWAS sample size N.
    sigma:
        Intercept: the variance of the noise term is ``sigma R``.
    rng:
        Generator or seed.
    n_draws:
        None for one draw, else the number of independent replicate draws.
    positions: (m,), optional
        Base-pair positions (with a panel they come from it), needed for ``band_bp``.
    band_bp:
        If given, the signal term uses the *banded* LD ``R_band`` (``R_jk`` where
        ``|pos_j - pos_k| < band_bp``, else 0): ``z = sqrt(N) R_band beta + e``,
        ``Cov z = N R_band S R_band + sigma R``. A simulated cohort of n samples has spurious
        LD of order 1/n between every pair of variants; summed over a chromosome it would add
        about ``N h2 / n`` to every chi2, far more than in a real GWAS whose in-sample LD comes
        from N samples. Banding keeps the cohort's local LD and drops the far spurious part.
        Within the band the model of DESIGN 2 holds exactly for windows whose flanks are at
        least ``band_bp``.

    Returns
    -------
    z: (m,) or (n_draws, m) float64

    Notes
    -----
    ``beta ~ N(0, diag(s))``, ``g ~ N(0, I_n)`` and ``z = sqrt(N) X^T (X beta) / n
    + sqrt(sigma / n) X^T g``; then ``E z = 0`` and ``Cov z = N R S R + sigma R`` exactly, and
    R (m x m) is never formed: the cost is O(n m) per draw.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    s = np.asarray(snpvar, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("snpvar must be a 1-d array of finite non-negative values")
    if not (n_gwas > 0 and sigma > 0):
        raise ValueError(f"n_gwas and sigma must be positive, got {n_gwas}, {sigma}")
    d = 1 if n_draws is None else int(n_draws)
    if d < 1:
        raise ValueError(f"n_draws must be None or >= 1, got {n_draws}")
    if isinstance(genotypes, np.ndarray):
        blocks = [(np.arange(s.size), np.asarray(genotypes, dtype=np.float64))]
        if blocks[0][1].ndim != 2 or blocks[0][1].shape[1] != s.size:
            raise ValueError(f"X has shape {genotypes.shape}, expected (n, {s.size})")
    else:
        if genotypes.n_variants != s.size:
            raise ValueError(f"panel has {genotypes.n_variants} variants, snpvar {s.size}")
        chrom = genotypes.variants["CHR"].to_numpy()
        blocks = (
            (idx, standardize(genotypes.dosages(idx))[0])
            for idx in (np.flatnonzero(chrom == c) for c in pd.unique(chrom))
        )
    if band_bp is not None:
        if positions is None and not isinstance(genotypes, np.ndarray):
            positions = genotypes.variants["BP"].to_numpy()
        if positions is None or len(positions) != s.size:
            raise ValueError("band_bp needs one position per variant")
        positions = np.asarray(positions, dtype=np.float64)
    z = np.empty((d, s.size))
    for idx, X in blocks:
        n = X.shape[0]
        beta = np.sqrt(s[idx]) * gen.standard_normal((d, idx.size))  # (d, m_c)
        g = gen.standard_normal((d, n))  # (d, n)
        if band_bp is None:
            signal = (beta @ X.T) @ X / n
        else:
            signal = _banded_ld_times(X, beta, positions[idx], band_bp)
        z[:, idx] = math.sqrt(n_gwas) * signal + math.sqrt(sigma / n) * (g @ X)
    return z[0] if n_draws is None else z


def _banded_ld_times(
    X: np.ndarray, beta: np.ndarray, pos: np.ndarray, band_bp: float, *, chunk: int = 512
) -> np.ndarray:
    """``beta @ R_band`` for R = X^T X / n banded at ``band_bp``, in chunks of variants.

    X: (n, m) standardised, pos: (m,) sorted, beta: (d, m). Returns (d, m).
    """
    n, m = X.shape
    out = np.empty((beta.shape[0], m))
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        k0 = int(np.searchsorted(pos, pos[j0] - band_bp, side="right"))
        k1 = int(np.searchsorted(pos, pos[j1 - 1] + band_bp, side="left"))
        R_jk = X[:, j0:j1].T @ X[:, k0:k1] / n  # (chunk, K)
        R_jk *= np.abs(pos[j0:j1, None] - pos[None, k0:k1]) < band_bp
        out[:, j0:j1] = beta[:, k0:k1] @ R_jk.T
    return out
