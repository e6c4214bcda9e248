"""Summary statistics of a simulation: z-scores drawn exactly from ``z ~ N(0, N R S R + sigma R)``.

This module owns the z-draw models. Today there is one: the cohort's own LD (optionally banded)
generates the signal and the noise; :func:`simulate_sumstats` never forms R densely. The banded
LD of a large cohort can be formed once as a sparse matrix (:class:`BandedLD`) and reused for
many traits drawn on the same genotypes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from deepwas.io.genotypes import GenotypePanel, standardize

__all__ = ["BandedLD", "simulate_sumstats"]


def _standardised_blocks(genotypes: np.ndarray | GenotypePanel, m: int):
    """(variant indices, standardised X) per chromosome of a panel, or the array as one block."""
    if isinstance(genotypes, np.ndarray):
        X = np.asarray(genotypes, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != m:
            raise ValueError(f"X has shape {genotypes.shape}, expected (n, {m})")
        return [(np.arange(m), X)]
    if genotypes.n_variants != m:
        raise ValueError(f"panel has {genotypes.n_variants} variants, snpvar {m}")
    chrom = genotypes.variants["CHR"].to_numpy()
    return (
        (idx, standardize(genotypes.dosages(idx))[0])
        for idx in (np.flatnonzero(chrom == c) for c in pd.unique(chrom))
    )


@dataclass(frozen=True)
class BandedLD:
    """A cohort's banded LD ``R_band`` as sparse matrices, one per chromosome.

    Forming ``R_band`` costs O(n m w) for w variants within the band; a trait's signal term is
    then a sparse product. Reuse one for many traits drawn on the same genotypes
    (``simulate_sumstats(..., banded_ld=...)``); the z-scores are those drawn with ``band_bp``
    from the genotypes, up to rounding.

    Attributes
    ----------
    band_bp: the band (base pairs)
    blocks: ``(variant indices, R_band)`` per chromosome, in the order
        :func:`simulate_sumstats` visits them
    """

    band_bp: float
    blocks: tuple[tuple[np.ndarray, sparse.csr_matrix], ...]

    @classmethod
    def from_genotypes(
        cls,
        genotypes: np.ndarray | GenotypePanel,
        band_bp: float,
        positions: np.ndarray | None = None,
    ) -> BandedLD:
        """Form ``R_band`` of standardised X (an array) or of a panel (standardised per
        chromosome, positions from the panel)."""
        if positions is None and not isinstance(genotypes, np.ndarray):
            positions = genotypes.variants["BP"].to_numpy()
        m = genotypes.shape[1] if isinstance(genotypes, np.ndarray) else genotypes.n_variants
        if positions is None or len(positions) != m:
            raise ValueError("BandedLD needs one position per variant")
        pos = np.asarray(positions, dtype=np.float64)
        blocks = tuple(
            (idx, _banded_ld(X, pos[idx], band_bp)) for idx, X in _standardised_blocks(genotypes, m)
        )
        return cls(band_bp=float(band_bp), blocks=blocks)

    def times(self, v: np.ndarray) -> np.ndarray:
        """``v @ R_band`` for ``v`` of shape (m,) or (d, m) over all the variants."""
        v = np.asarray(v, dtype=np.float64)
        out = np.zeros_like(v)
        for idx, R_band in self.blocks:
            out[..., idx] = np.asarray((R_band @ v[..., idx].T).T)
        return out


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
    banded_ld: BandedLD | None = None,
    return_effects: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
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
    banded_ld:
        ``BandedLD.from_genotypes(genotypes, band_bp)`` formed once, for many traits on the same
        genotypes: the same z as with ``band_bp`` (up to rounding; ``band_bp`` is then taken
        from it), faster.

    return_effects:
        Also return the standardised effects beta that generated z.

    Returns
    -------
    z: (m,) or (n_draws, m) float64
    beta: like z, only with ``return_effects``

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
    blocks = _standardised_blocks(genotypes, s.size)
    if banded_ld is not None:
        if band_bp is not None and band_bp != banded_ld.band_bp:
            raise ValueError(f"band_bp {band_bp} differs from banded_ld's {banded_ld.band_bp}")
        band_bp = None
    if band_bp is not None:
        if positions is None and not isinstance(genotypes, np.ndarray):
            positions = genotypes.variants["BP"].to_numpy()
        if positions is None or len(positions) != s.size:
            raise ValueError("band_bp needs one position per variant")
        positions = np.asarray(positions, dtype=np.float64)
    z = np.empty((d, s.size))
    effects = np.empty((d, s.size))
    for b, (idx, X) in enumerate(blocks):
        n = X.shape[0]
        beta = np.sqrt(s[idx]) * gen.standard_normal((d, idx.size))  # (d, m_c)
        g = gen.standard_normal((d, n))  # (d, n)
        if banded_ld is not None:
            bidx, R_band = banded_ld.blocks[b]
            if not np.array_equal(bidx, idx):
                raise ValueError("banded_ld was formed from other genotypes")
            signal = np.asarray((R_band @ beta.T).T)
        elif band_bp is None:
            signal = (beta @ X.T) @ X / n
        else:
            signal = _banded_ld_times(X, beta, positions[idx], band_bp)
        z[:, idx] = math.sqrt(n_gwas) * signal + math.sqrt(sigma / n) * (g @ X)
        effects[:, idx] = beta
    if n_draws is None:
        z, effects = z[0], effects[0]
    return (z, effects) if return_effects else z


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


def _banded_ld(X: np.ndarray, pos: np.ndarray, band_bp: float, *, chunk: int = 512):
    """R = X^T X / n banded at ``band_bp`` as a sparse CSR matrix, in the chunks of
    :func:`_banded_ld_times` (so that both give the same entries)."""
    n, m = X.shape
    rows, cols, vals = [], [], []
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        k0 = int(np.searchsorted(pos, pos[j0] - band_bp, side="right"))
        k1 = int(np.searchsorted(pos, pos[j1 - 1] + band_bp, side="left"))
        R_jk = X[:, j0:j1].T @ X[:, k0:k1] / n
        jj, kk = np.nonzero(np.abs(pos[j0:j1, None] - pos[None, k0:k1]) < band_bp)
        rows.append(jj + j0)
        cols.append(kk + k0)
        vals.append(R_jk[jj, kk])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m)
    )
