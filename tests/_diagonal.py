"""Traits of the diagonal model built directly from arrays, for tests that draw data from the
model itself (tests/test_mismatch.py, tests/test_jackknife.py)."""

from __future__ import annotations

import math

import numpy as np

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
