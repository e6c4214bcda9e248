"""The delete-one-block jackknife of the constant prior's h2 (deepwas.jackknife): the formula on
hand-computed values, the block grouping against a slow loop of refits written here, a degenerate
case whose standard error is zero, calibration against the spread of the estimate over
independent replicates of data drawn from the diagonal model, and the errors a user can see."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _diagonal import diagonal_trait, diagonal_window
from deepwas.errors import InputError
from deepwas.jackknife import constant_h2_jackknife, half_sample_se, half_samples, jackknife_se
from deepwas.ld.trait import TraitData, TraitWindow

N_GWAS, S_TRUE, SIGMA_TRUE = 1000.0, 1e-4, 1.2


def _layout(rng: np.random.Generator, n_windows: int, C: int = 60, r: int = 30):
    """Fixed windows of the diagonal model (as tests/test_mismatch.py's recovery test): per
    window G (C, r) and per-direction scales (r,)."""
    return [
        (rng.normal(size=(C, r)) * 0.3, rng.uniform(0.5, 2.0, size=r)) for _ in range(n_windows)
    ]


def _draw(layout, rng: np.random.Generator, *, s: float = S_TRUE) -> TraitData:
    """y drawn from the diagonal model, y_k ~ N(0, sigma + N s sum_c (g_ck scale_k)^2), on the
    windows of ``layout``."""
    windows, offset = [], 0
    for i, (G, scale) in enumerate(layout):
        e = ((G * scale) ** 2).sum(0)
        y = rng.normal(size=G.shape[1]) * np.sqrt(SIGMA_TRUE + N_GWAS * s * e)
        windows.append(diagonal_window(i, offset, G, scale, y))
        offset += G.shape[0]
    return diagonal_trait(windows, offset, N_GWAS)


def test_jackknife_se_formula_on_hand_values():
    # theta_b = 1, 2, 3, 4: mean 2.5, sum of squares 5, sqrt(3/4 * 5) = sqrt(3.75)
    assert jackknife_se(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(math.sqrt(3.75), rel=1e-15)
    assert jackknife_se(np.array([0.5, 0.5, 0.5])) == 0.0  # exact in binary


def test_blocks_are_contiguous_groups_refitted_on_the_rest():
    """7 windows in 3 blocks = windows {0,1,2}, {3,4}, {5,6}: against a slow loop of refits."""
    from deepwas.fit import fit_constant

    rng = np.random.default_rng(11)
    trait = _draw(_layout(rng, 7), rng, s=5e-4)
    fit, se = constant_h2_jackknife(trait, n_blocks=3)
    assert fit.h2 == fit_constant(trait).h2  # the full fit is fit_constant's, unchanged
    delete = []
    for drop in ({0, 1, 2}, {3, 4}, {5, 6}):
        rest = [w for i, w in enumerate(trait.windows) if i not in drop]
        sub = TraitData(
            windows=rest, z=trait.z, n_gwas=N_GWAS, n_variants=trait.n_variants, ld_model="diagonal"
        )
        delete.append(fit_constant(sub).h2)
    d = np.array(delete)
    want = math.sqrt(2 / 3 * np.sum((d - d.mean()) ** 2))
    # the refits start from different points (the full fit's h2 vs the default 0.1) and stop at
    # L-BFGS's tolerances, hence 1e-5 and not 1e-8
    assert se == pytest.approx(want, rel=1e-5)
    assert se > 0


def test_identical_windows_give_zero_standard_error():
    # every delete-one likelihood is (B - 1) / B times the full one: the same optimum
    rng = np.random.default_rng(12)
    one = _draw(_layout(rng, 1), rng, s=5e-4).windows[0]
    wins = [
        TraitWindow(**{**one.__dict__, "index": i, "start": i * 1000, "stop": (i + 1) * 1000})
        for i in range(5)
    ]
    trait = TraitData(windows=wins, z=np.zeros(60), n_gwas=N_GWAS, n_variants=60)
    fit, se = constant_h2_jackknife(trait)
    assert fit.h2 > 0 and se <= 1e-6 * fit.h2  # L-BFGS's tolerance around the same optimum


def test_standard_error_matches_the_spread_over_replicates():
    """40 fixed windows (1,200 directions); y redrawn 30 times from the diagonal model. The sd of
    h2 over the replicates is the standard error the jackknife must estimate; the mean jackknife
    SE of 6 replicates (one block per window) must be within a factor 1.5 of it. Measured with
    layout seeds 20-24: SE / sd = 0.96-1.09 (the sd of 30 replicates is itself +- 13%)."""
    from deepwas.fit import fit_constant

    rng = np.random.default_rng(20)
    layout = _layout(rng, 40)
    draws = [_draw(layout, rng) for _ in range(30)]
    h2 = np.array([fit_constant(t).h2 for t in draws])
    sd = float(h2.std(ddof=1))
    se = float(np.mean([constant_h2_jackknife(t)[1] for t in draws[:6]]))
    h2_true = S_TRUE * draws[0].n_variants
    assert abs(h2.mean() / h2_true - 1) < 0.1  # unbiased to within the replicates' noise
    assert 1 / 1.5 < se / sd < 1.5, (se, sd)


@pytest.mark.parametrize(
    ("n_windows", "n_blocks", "match"),
    [
        (1, None, "needs at least 2 windows, the trait has 1"),
        (4, 1, "n_blocks must be between 2 and the number of windows \\(4\\), got 1"),
        (4, 5, "n_blocks must be between 2 and the number of windows \\(4\\), got 5"),
        (4, 2.5, "n_blocks must be an integer, got 2.5"),
    ],
)
def test_errors(n_windows, n_blocks, match):
    rng = np.random.default_rng(13)
    trait = _draw(_layout(rng, n_windows, C=8, r=4), rng)
    with pytest.raises(InputError, match=match):
        constant_h2_jackknife(trait, n_blocks=n_blocks)


def test_jackknife_se_needs_two_values():
    with pytest.raises(InputError, match="at least 2 blocks, got 1"):
        jackknife_se(np.array([1.0]))


def test_half_samples_are_complementary_halvings():
    drops = half_samples(7, 5, seed=3)
    assert len(drops) == 10
    for a, b in zip(drops[::2], drops[1::2], strict=True):
        assert sorted([*a, *b]) == list(range(7))
        assert (len(a), len(b)) == (3, 4)
    assert all((x == y).all() for x, y in zip(drops, half_samples(7, 5, seed=3), strict=True))
    assert any((x != y).any() for x, y in zip(drops, half_samples(7, 5, seed=4), strict=True))


def test_delete_half_se_of_a_mean_over_every_halving_is_the_delete_one_se():
    """For a linear statistic (the mean of B block values) the delete-d jackknife over all
    C(B, B/2) halvings equals the delete-one jackknife, s / sqrt(B) (Shao & Wu 1989)."""
    from itertools import combinations

    x = np.random.default_rng(2).normal(size=6)
    halves = [np.array(c) for c in combinations(range(6), 3)]
    values = np.array([np.delete(x, h).mean() for h in halves])
    se = half_sample_se(values, np.full(len(halves), 3), 6)
    delete_one = np.array([np.delete(x, b).mean() for b in range(6)])
    assert se == pytest.approx(jackknife_se(delete_one), rel=1e-12)
    assert se == pytest.approx(x.std(ddof=1) / math.sqrt(6), rel=1e-12)


def test_delete_half_counts_run_to_run_noise_once_where_delete_one_counts_it_b_minus_1_times():
    """Refits with independent noise of SD tau around a statistic that does not depend on the
    data: delete-one reports about sqrt(B - 1) tau, delete-half about tau (the noise the
    estimate itself carries)."""
    rng = np.random.default_rng(0)
    B, tau = 40, 1.0
    one = [jackknife_se(rng.normal(scale=tau, size=B)) for _ in range(200)]
    drops = half_samples(B, 40)
    half = [
        half_sample_se(rng.normal(scale=tau, size=len(drops)), np.full(len(drops), B // 2), B)
        for _ in range(200)
    ]
    assert np.sqrt(np.mean(np.square(one))) == pytest.approx(math.sqrt(B - 1), rel=0.05)
    assert np.sqrt(np.mean(np.square(half))) == pytest.approx(tau, rel=0.05)


def test_delete_half_inputs():
    with pytest.raises(InputError):
        half_samples(1, 3)
    with pytest.raises(InputError):
        half_sample_se(np.array([1.0, 2.0]), np.array([0, 2]), 4)
    with pytest.raises(InputError):
        half_sample_se(np.array([1.0]), np.array([2]), 4)
