"""Traits of the diagonal model built directly from arrays, for tests that draw data from the
model itself (tests/test_mismatch.py, tests/test_jackknife.py, tests/test_enrich.py,
tests/test_evidence.py)."""

from __future__ import annotations

import math

import numpy as np

from deepwas.data import FitData
from deepwas.ld.trait import TraitData, TraitWindow


def diagonal_window(i: int, offset: int, G: np.ndarray, scale: np.ndarray, y: np.ndarray):
    """Window ``i`` with context variants ``offset .. offset + C``, the first ``r`` scored;
    G (C, r), per-direction scales and projected z-scores (r,)."""
    C, r = G.shape
    ctx = np.arange(offset, offset + C)
    return TraitWindow(
        index=i,
        chrom=1,
        start=i * 1000,
        stop=(i + 1) * 1000,
        context=ctx,
        scored=ctx[:r],
        scored_in_context=np.arange(r),
        G=G,
        y=y,
        const=0.5 * r * math.log(2 * math.pi),
        scale=scale,
    )


def diagonal_trait(windows: list, n_variants: int, n_gwas: float) -> TraitData:
    return TraitData(
        windows=windows,
        z=np.zeros(n_variants),
        n_gwas=n_gwas,
        n_variants=n_variants,
        ld_model="diagonal",
    )


def linear_diagonal_data(seed: int = 7, n_windows: int = 8, n_gwas: float = 5000.0):
    """Diagonal-model windows drawn from a log-linear prior on 2 features (one binary)."""
    rng = np.random.default_rng(seed)
    windows, feats, offset = [], [], 0
    for i in range(n_windows):
        C, r = 60, 30
        x = np.column_stack([rng.random(C) < 0.3, rng.normal(size=C)]).astype(float)
        s = 1e-4 * np.exp(1.0 * x[:, 0] - 0.5 * x[:, 1])
        G, scale = rng.normal(size=(C, r)) * 0.3, rng.uniform(0.5, 2.0, size=r)
        v = 1.1 + n_gwas * ((G * scale) ** 2 * s[:, None]).sum(0)
        windows.append(diagonal_window(i, offset, G, scale, rng.normal(size=r) * np.sqrt(v)))
        feats.append(x)
        offset += C
    trait = diagonal_trait(windows, offset, n_gwas)
    X = np.vstack(feats)
    return FitData(trait, X, ["bin", "cont"], list(range(n_windows)), [], [])
