"""Standard errors by the delete-one-block jackknife over LD windows.

The exact likelihood gives a point estimate of the SNP heritability of the best constant prior
(:func:`deepwas.exact.fit_constant`); its sampling error comes from the genome's few independent
LD blocks more than from the many variants, so the standard error is taken as LD score
regression takes it: drop one block of windows at a time, refit, and read the spread of the
delete-one estimates. Windows are LD blocks (Berisa & Pickrell) with flanks, so the blocks of the
jackknife are (groups of) windows.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from deepwas.errors import InputError

if TYPE_CHECKING:  # fit loads torch; import it only when a fit is run
    from deepwas.exact import ConstantFit

__all__ = ["constant_h2_jackknife", "half_sample_se", "half_samples", "jackknife_se"]


def jackknife_se(delete_values: np.ndarray) -> float:
    """Delete-one jackknife standard error of an estimate from its delete-one values.

    Parameters
    ----------
    delete_values: (n_blocks,) float64
        The estimate recomputed with each block left out.

    Returns
    -------
    float
        sqrt((B - 1) / B * sum_b (theta_b - mean theta)^2), B = n_blocks.
    """
    d = np.asarray(delete_values, dtype=np.float64)
    B = d.size
    if B < 2:
        raise InputError(f"a jackknife needs at least 2 blocks, got {B}", column="n_blocks")
    return math.sqrt((B - 1) / B * float(np.sum((d - d.mean()) ** 2)))


def half_samples(n_blocks: int, n_partitions: int, seed: int = 0) -> list[np.ndarray]:
    """The blocks deleted by each refit of a delete-half jackknife: random halvings in
    complementary pairs.

    Parameters
    ----------
    n_blocks:
        B, the jackknife blocks (at least 2).
    n_partitions:
        Random partitions of the blocks into two halves (floor(B / 2) and ceil(B / 2) blocks);
        each gives two refits, one without each half.
    seed:
        Seeds the partitions (``numpy.random.default_rng([seed, B])``).

    Returns
    -------
    list of 2 * n_partitions sorted arrays of block indices: the blocks each refit deletes,
    partition by partition (deleted half, then its complement).
    """
    if n_blocks < 2 or n_partitions < 1:
        raise InputError(
            f"a delete-half jackknife needs at least 2 blocks and 1 partition, got {n_blocks} "
            f"blocks and {n_partitions} partitions",
            column="n_blocks",
        )
    rng = np.random.default_rng([int(seed), int(n_blocks)])
    out = []
    for _ in range(int(n_partitions)):
        order = rng.permutation(n_blocks)
        out += [np.sort(order[: n_blocks // 2]), np.sort(order[n_blocks // 2 :])]
    return out


def half_sample_se(values: np.ndarray, n_deleted: np.ndarray, n_blocks: int) -> float:
    """Delete-d jackknife standard error (Shao & Wu 1989) from refits that each deleted
    d_s of the B blocks (:func:`half_samples`: d_s about B / 2).

    Parameters
    ----------
    values: (S,) float64
        The estimate recomputed without each refit's blocks.
    n_deleted: (S,) int
        d_s, the blocks each refit deleted.
    n_blocks:
        B.

    Returns
    -------
    float
        sqrt(1 / S * sum_s (B - d_s) / d_s * (theta_s - mean theta)^2). With d_s = B / 2 this is
        the spread of the half-sample estimates themselves: the factor (B - 1) by which the
        delete-one jackknife multiplies its squared deviations is 1, so run-to-run noise of a
        refit (an early-stopped network's training) enters once, as it enters the estimate,
        instead of B - 1 times (docs/decisions.md, "The delete-half jackknife for networks").
    """
    v = np.asarray(values, dtype=np.float64)
    d = np.asarray(n_deleted, dtype=np.float64)
    if v.size < 2 or v.shape != d.shape or not ((d >= 1) & (d < n_blocks)).all():
        raise InputError(
            f"a delete-half jackknife needs at least 2 refits, each deleting between 1 and "
            f"{n_blocks - 1} blocks",
            column="n_blocks",
        )
    return math.sqrt(float(np.mean((n_blocks - d) / d * (v - v.mean()) ** 2)))


def _groups(n_windows: int, n_blocks: int | None) -> list[np.ndarray]:
    """Window positions of each jackknife block: contiguous, sizes differing by at most one."""
    if n_windows < 2:
        raise InputError(
            f"a jackknife over windows needs at least 2 windows, the trait has {n_windows}",
            fix="use an LD store with more windows (smaller blocks or more chromosomes)",
        )
    if n_blocks is None:
        n_blocks = n_windows
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int | np.integer):
        raise InputError(f"n_blocks must be an integer, got {n_blocks!r}", column="n_blocks")
    if not 2 <= n_blocks <= n_windows:
        raise InputError(
            f"n_blocks must be between 2 and the number of windows ({n_windows}), got {n_blocks}",
            column="n_blocks",
            fix="leave it unset for one block per window",
        )
    return np.array_split(np.arange(n_windows), int(n_blocks))


def constant_h2_jackknife(
    trait, *, n_blocks: int | None = None, max_iter: int = 100
) -> tuple[ConstantFit, float]:
    """The best constant prior and the jackknife standard error of its h2.

    Parameters
    ----------
    trait: deepwas.ld.trait.TraitData
        The trait on an LD store (:func:`deepwas.load_trait`), with at least 2 windows.
    n_blocks:
        Number of jackknife blocks: contiguous groups of the trait's windows in store order
        (chromosome, position), sizes differing by at most one. Default: every window its own
        block.
    max_iter:
        L-BFGS iterations of each fit (:func:`deepwas.exact.fit_constant`).

    Returns
    -------
    fit: deepwas.fit.ConstantFit
        The fit on all windows (as :func:`deepwas.fit.fit_constant`).
    h2_se: float
        Delete-one-block jackknife standard error of ``fit.h2``.

    Raises
    ------
    InputError
        Fewer than 2 windows, or ``n_blocks`` not an integer in [2, number of windows].

    Notes
    -----
    For each block b the constant prior is refitted on the other blocks' windows, giving
    per-SNP heritability s_b; its h2_b = s_b M is scaled to all M store variants (the h2 of the
    full fit is s M too), and

        SE(h2) = sqrt((B - 1) / B * sum_b (h2_b - mean_b h2_b)^2).

    Each window's spectrum is computed once; each refit combines the kept windows' spectra and
    runs a few L-BFGS steps from the full fit's h2 (O(sum of ranks) per step; no pass over the
    LD). Single process (not collective under torch.distributed).
    """
    from deepwas.exact import _Spectra, fit_constant
    from deepwas.linalg.batch import PackedBatches

    groups = _groups(len(trait.windows), n_blocks)
    parts = [
        _Spectra(None, PackedBatches(trait.windows, [[i]], cache_bytes=0))
        for i in range(len(trait.windows))
    ]
    fit = fit_constant(trait, max_iter=max_iter, spectra=_Spectra.combine(parts))
    # start every refit near the full fit's optimum (h2_init must be positive)
    h2_init = fit.h2 if fit.h2 > 0 and math.isfinite(fit.h2) else 0.1
    delete = np.empty(len(groups))
    for b, drop in enumerate(groups):
        keep = np.setdiff1d(np.arange(len(trait.windows)), drop)
        subset = replace(trait, windows=[trait.windows[i] for i in keep])
        # subset.n_variants is the full M, so h2 = s M is on the full fit's scale
        spectra = _Spectra.combine([parts[i] for i in keep])
        delete[b] = fit_constant(subset, h2_init=h2_init, max_iter=max_iter, spectra=spectra).h2
    return fit, jackknife_se(delete)
