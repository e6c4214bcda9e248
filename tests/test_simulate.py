"""Tests of deepwas.simulate: exact calibration of the z-score draws against the dense covariance
N R S R + sigma R, properties of the annotations and the true prior, msprime genotypes (MAF,
positions, LD decay), the genetic map, and run_simulation end to end (files, determinism,
atomicity, given annotations and a given panel)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas.errors import InputError
from deepwas.io.genotypes import read_genotypes, standardize
from deepwas.simulate import (
    SimConfig,
    ooa_ceu_demography,
    read_genetic_map,
    run_simulation,
    simulate_genotypes,
    simulate_sumstats,
    synthetic_annotations,
    true_prior,
)
from deepwas.simulate.config import _FLAGS, _SIM_CONSTRAINTS, _SIM_LIBRARY_CONSTRAINTS

SMALL = dict(length_mb=2.0, n_ref=100, n_insample=100, seed=3)


def _standardised_deviation(z: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(C_hat - cov) / SE elementwise, C_hat = z^T z / K for K mean-zero Gaussian draws.

    For Gaussian z the sample second moment of entry (i, j) has variance
    (cov_ii cov_jj + cov_ij^2) / K (Isserlis), so each ratio is approximately N(0, 1).
    """
    K = z.shape[0]
    emp = z.T @ z / K
    d = np.diag(cov)
    se = np.sqrt((np.outer(d, d) + cov**2) / K)
    return (emp - cov) / se


def _correlated_X(rng: np.random.Generator, n: int, m: int, rho: float = 0.8) -> np.ndarray:
    """Columns with AR(1)-like correlation, then standardised (mean 0, variance 1)."""
    X = rng.standard_normal((n, m))
    for j in range(1, m):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * X[:, j]
    X -= X.mean(axis=0)
    return X / X.std(axis=0)


# ------------------------------------------------------------------------------------------
# simulate_sumstats: exact calibration
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_sumstats_covariance_matches_model(sigma: float) -> None:
    rng = np.random.default_rng(11)
    n, m, K, N = 200, 30, 20_000, 30.0  # N chosen so N R S R and sigma R are comparable
    X = _correlated_X(rng, n, m)
    s = rng.uniform(0.0, 0.02, m)
    R = X.T @ X / n  # dense float64 reference
    cov = N * R @ np.diag(s) @ R + sigma * R
    z = simulate_sumstats(X, s, n_gwas=N, sigma=sigma, rng=5, n_draws=K)
    assert z.shape == (K, m)
    # Tolerance: each standardised deviation is ~N(0, 1) (Monte Carlo error of K = 20,000
    # draws); the largest of the 900 entries (465 distinct) stays below 5 except with
    # probability ~3e-4 for a correct sampler. The seed is fixed, so the test is deterministic.
    assert np.abs(_standardised_deviation(z, cov)).max() < 5.0
    mean_se = np.sqrt(np.diag(cov) / K)
    assert np.abs(z.mean(axis=0) / mean_se).max() < 5.0
    # ... and the check has power: a 30% wrong intercept is rejected by a wide margin.
    wrong = N * R @ np.diag(s) @ R + 1.3 * sigma * R
    assert np.abs(_standardised_deviation(z, wrong)).max() > 10.0


def test_sumstats_single_draw_shape_and_validation() -> None:
    X = _correlated_X(np.random.default_rng(0), 50, 7)
    z = simulate_sumstats(X, np.full(7, 0.01), n_gwas=1000, rng=np.random.default_rng(1))
    assert z.shape == (7,) and np.isfinite(z).all()
    with pytest.raises(ValueError, match="snpvar"):
        simulate_sumstats(X, np.full(7, -0.01), n_gwas=1000, rng=1)
    with pytest.raises(ValueError, match="shape"):
        simulate_sumstats(X, np.full(6, 0.01), n_gwas=1000, rng=1)


def test_sumstats_from_panel_is_block_diagonal_by_chromosome() -> None:
    # Two chromosomes of a tiny msprime panel: z uses each chromosome's own standardised LD
    # and no LD across chromosomes.
    ref, _ = simulate_genotypes(
        SimConfig(length_mb=0.1, n_ref=60, chroms=2, max_snps=8, seed=2), progress=False
    )
    chrom = ref.variants["CHR"].to_numpy()
    assert set(chrom) == {1, 2}
    s = np.random.default_rng(0).uniform(0.0, 0.05, ref.n_variants)
    N, sigma, K = 500.0, 1.5, 20_000
    cov = np.zeros((ref.n_variants, ref.n_variants))
    for c in (1, 2):
        idx = np.flatnonzero(chrom == c)
        X, _ = standardize(ref.dosages(idx))
        R = X.T @ X / X.shape[0]
        cov[np.ix_(idx, idx)] = N * R @ np.diag(s[idx]) @ R + sigma * R
    z = simulate_sumstats(ref, s, n_gwas=N, sigma=sigma, rng=9, n_draws=K)
    # Same tolerance argument as above (at most 256 distinct entries, fixed seed).
    assert np.abs(_standardised_deviation(z, cov)).max() < 5.0


def test_sumstats_banded_population_ld_covariance() -> None:
    # The path run_simulation takes: the signal uses R banded at band_bp, the noise the full
    # sample LD, so Cov z = N R_band S R_band + sigma R (dense float64 reference built here).
    rng = np.random.default_rng(4)
    n, m, K, N, sigma = 300, 24, 20_000, 40.0, 1.2
    X = _correlated_X(rng, n, m, rho=0.9)
    pos = np.cumsum(rng.integers(1_000, 20_000, m)).astype(np.float64)
    band = 60_000.0
    s = rng.uniform(0.0, 0.03, m)
    R = X.T @ X / n
    R_band = R * (np.abs(pos[:, None] - pos[None, :]) < band)
    assert 0 < (R_band == 0).sum() < m * m - m  # the band drops some pairs, keeps others
    cov = N * R_band @ np.diag(s) @ R_band + sigma * R
    z = simulate_sumstats(
        X, s, n_gwas=N, sigma=sigma, rng=8, n_draws=K, positions=pos, band_bp=band
    )
    # Same tolerance argument as test_sumstats_covariance_matches_model (300 distinct entries).
    assert np.abs(_standardised_deviation(z, cov)).max() < 5.0
    # Power: the unbanded signal N R S R differs detectably at this K.
    unbanded = N * R @ np.diag(s) @ R + sigma * R
    assert np.abs(_standardised_deviation(z, unbanded)).max() > 6.0


# ------------------------------------------------------------------------------------------
# Annotations and the true prior
# ------------------------------------------------------------------------------------------


def _fake_variants(m: int = 20_000, span: int = 10_000_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bp = np.sort(rng.choice(np.arange(1, span), size=m, replace=False))
    return pd.DataFrame({"CHR": 1, "SNP": [f"v{i}" for i in range(m)], "BP": bp})


def test_synthetic_annotations_are_spatially_clustered() -> None:
    variants = _fake_variants()
    values, names = synthetic_annotations(
        variants, n_binary=6, n_continuous=4, rng=np.random.default_rng(1)
    )
    assert values.shape == (20_000, 10) and values.dtype == np.float64
    assert names[:6] == [f"binary{i}" for i in range(1, 7)]
    assert names[6:] == [f"continuous{i}" for i in range(1, 5)]
    binary, cont = values[:, :6], values[:, 6:]
    assert set(np.unique(binary)) <= {0.0, 1.0}
    coverage = binary.mean(axis=0)
    # Targets are 1%..30% (log-spaced); a 10 Mb realisation of runs of 5-50 kb fluctuates,
    # so only the range and the ordering of the extremes are checked.
    assert (coverage > 0.0).all() and (coverage < 0.6).all()
    assert coverage[-1] > coverage[0]
    for j in range(10):
        col = values[:, j]
        lag1 = np.corrcoef(col[:-1], col[1:])[0, 1]
        assert lag1 > 0.5, (names[j], lag1)
    np.testing.assert_allclose(cont.mean(axis=0), 0.0, atol=1e-12)  # standardised: round-off
    np.testing.assert_allclose(cont.std(axis=0), 1.0, rtol=1e-12)


def test_synthetic_annotations_chromosomes_and_empty() -> None:
    v = pd.concat([_fake_variants(500, 1_000_000).assign(CHR=c) for c in (1, 2)])
    values, names = synthetic_annotations(
        v, n_binary=1, n_continuous=0, rng=np.random.default_rng(0)
    )
    assert values.shape == (1000, 1) and names == ["binary1"]
    values, names = synthetic_annotations(
        v, n_binary=0, n_continuous=0, rng=np.random.default_rng(0)
    )
    assert values.shape == (1000, 0) and names == []


def _r2_of_linear_fit(y: np.ndarray, design: np.ndarray) -> float:
    D = np.column_stack([np.ones(len(y)), design])
    coef, *_ = np.linalg.lstsq(D, y, rcond=None)
    resid = y - D @ coef
    return 1.0 - resid.var() / y.var()


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_true_prior_sums_to_h2_and_nonlinearity(kind: str) -> None:
    variants = _fake_variants()
    rng = np.random.default_rng(2)
    values, _ = synthetic_annotations(variants, n_binary=6, n_continuous=4, rng=rng)
    maf = rng.uniform(0.01, 0.5, len(variants))
    s = true_prior(values, maf, kind=kind, h2=0.3, rng=np.random.default_rng(3))
    assert s.shape == (len(variants),) and (s > 0).all()
    assert s.sum() == pytest.approx(0.3, rel=1e-12)  # exact up to summation round-off
    design = np.column_stack([values, np.log(2 * maf * (1 - maf))])
    r2 = _r2_of_linear_fit(np.log(s), design)
    if kind == "linear":
        assert r2 == pytest.approx(1.0, abs=1e-10)  # exactly linear in the regressors
    else:
        assert r2 < 0.8, r2
    assert np.log(s).std() > 0.5  # the prior is informative either way


def test_true_prior_without_annotations_and_errors() -> None:
    maf = np.linspace(0.01, 0.5, 100)
    s = true_prior(np.empty((100, 0)), maf, kind="nonlinear", h2=0.1, rng=np.random.default_rng(0))
    assert s.sum() == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(InputError, match="unknown prior"):
        true_prior(np.empty((100, 0)), maf, kind="mlp", h2=0.1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="disagree"):
        true_prior(np.zeros((99, 1)), maf, kind="linear", h2=0.1, rng=np.random.default_rng(0))


# ------------------------------------------------------------------------------------------
# Genotypes
# ------------------------------------------------------------------------------------------


def test_ooa_demography_sizes() -> None:
    # Gutenkunst et al. (2009): CEU grows from 1,000 at 21.2 kya at 0.4%/generation, so its
    # present size is 1000 exp(0.004 * 848) = 29,725.3; ancestral size 7,300 before 220 kya.
    dbg = ooa_ceu_demography().debug()
    sizes = dbg.population_size_trajectory(np.array([0.0, 9000.0]))
    names = [p.name for p in ooa_ceu_demography().populations]
    assert sizes[0, names.index("CEU")] == pytest.approx(1000 * np.exp(0.004 * 848), rel=1e-9)
    assert sizes[1, names.index("YRI")] == pytest.approx(7300)


def test_msprime_genotypes_maf_positions_ld_decay() -> None:
    config = SimConfig(length_mb=2.0, n_ref=100, n_insample=50, seed=7)
    ref, ins = simulate_genotypes(config, progress=False)
    assert ins is not None
    v = ref.variants
    assert list(v.columns) == ["CHR", "SNP", "BP", "A1", "A2", "CM", "AF1"]
    assert ref.n_samples == 100 and ins.n_samples == 50 and ref.n_variants > 500
    bp = v["BP"].to_numpy()
    assert bp.dtype == np.int64 and (np.diff(bp) > 0).all() and bp.min() >= 1 and bp.max() <= 2e6
    assert (v["SNP"] == "sim1_" + v["BP"].astype(str)).all()
    assert (np.diff(v["CM"].to_numpy()) >= 0).all()
    pairs = set(zip(v["A1"], v["A2"], strict=True))
    assert pairs <= {
        ("A", "C"),
        ("A", "G"),
        ("C", "A"),
        ("C", "T"),
        ("G", "A"),
        ("G", "T"),
        ("T", "C"),
        ("T", "G"),
    }  # never strand-ambiguous
    for panel in (ref, ins):
        dos = panel.dosages()
        assert set(np.unique(dos)) <= {0.0, 1.0, 2.0}
        af = dos.mean(axis=0) / 2
        np.testing.assert_allclose(af, panel.variants["AF1"], rtol=0, atol=1e-12)
        assert (np.minimum(af, 1 - af) >= config.min_maf).all()
    # Same ancestry: allele frequencies of the two cohorts agree closely.
    assert np.corrcoef(ref.variants["AF1"], ins.variants["AF1"])[0, 1] > 0.8
    # LD decays with distance.
    X, _ = standardize(ref.dosages())
    r2 = (X.T @ X / X.shape[0]) ** 2
    dist = np.abs(bp[:, None] - bp[None, :])
    upper = np.triu(np.ones_like(r2, dtype=bool), k=1)
    near = r2[upper & (dist < 10_000)].mean()
    far = r2[upper & (dist > 500_000)].mean()
    assert near > 2 * far, (near, far)


def test_constant_demography_and_thinning() -> None:
    ref, ins = simulate_genotypes(
        SimConfig(length_mb=0.5, n_ref=40, demography="constant", max_snps=100, chroms=2, seed=1),
        progress=False,
    )
    assert ins is None
    counts = ref.variants.groupby("CHR").size()
    assert list(counts.index) == [1, 2] and (counts == 100).all()
    for _, g in ref.variants.groupby("CHR"):
        assert (np.diff(g["BP"].to_numpy()) > 0).all()


def test_hapmap3_spectrum_thins_each_maf_bin_to_its_share() -> None:
    # The coalescent keeps many rare variants (30% below MAF 0.05); reference panels of HapMap3
    # variants have 9%. maf_spectrum="hapmap3" must give the panel HAPMAP3_MAF's histogram.
    from deepwas.simulate.genotypes import HAPMAP3_MAF, MAF_EDGES, _thin_to_spectrum

    rng = np.random.default_rng(0)
    maf = rng.beta(0.4, 1.5, size=50_000) / 2  # skewed to rare, as the coalescent's
    maf = maf[maf >= 0.01]
    idx = np.arange(maf.size) * 3
    kept = _thin_to_spectrum(idx, maf, 5_000, rng)
    assert kept.size == pytest.approx(5_000, abs=8) and (np.diff(kept) > 0).all()
    hist = np.histogram(maf[kept // 3], MAF_EDGES)[0]
    share = HAPMAP3_MAF[1:] / HAPMAP3_MAF[1:].sum()  # no candidate below min_maf 0.01
    np.testing.assert_allclose(hist[1:] / kept.size, share, atol=1e-3)
    assert hist[0] == 0
    # without max_snps: the largest set every bin can fill, the commonest bin the limit
    kept = _thin_to_spectrum(idx, maf, None, rng)
    hist = np.histogram(maf[kept // 3], MAF_EDGES)[0]
    assert hist[-1] == (maf >= 0.4).sum()
    np.testing.assert_allclose(hist[1:] / kept.size, share, atol=1e-3)

    ref, _ = simulate_genotypes(
        SimConfig(length_mb=2, n_ref=200, max_snps=300, maf_spectrum="hapmap3", seed=3),
        progress=False,
    )
    af = ref.dosages().mean(0) / 2
    below = (np.minimum(af, 1 - af) < 0.05).mean()
    assert ref.n_variants <= 300 and below < 0.15, below


def test_maf_spectrum_needs_msprime_genotypes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="a given panel keeps its own spectrum"):
        SimConfig(panel=str(tmp_path / "panel"), maf_spectrum="hapmap3")


def _dense_reference_genotypes(config: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """The obvious slow path for one chromosome: decode every site of the same tree sequence,
    filter MAF in each cohort on the full matrix, thin, then draw the alleles as the simulator
    does. Returns BP (m,) and A1 counts (m, n_ref + n_insample)."""
    from deepwas.simulate.genotypes import _ancestry, _maf_ok

    rng = config.streams()["genotypes"]
    ts, _ = _ancestry(config, 1, rng)
    haps = ts.genotype_matrix()  # every site: fine at this size
    column = np.searchsorted(ts.samples(), ts.individuals_nodes)
    dosage = (haps[:, column[:, 0]] + haps[:, column[:, 1]]).astype(np.int8)
    keep = _maf_ok(dosage[:, : config.n_ref], config.min_maf)
    keep &= _maf_ok(dosage[:, config.n_ref :], config.min_maf)
    idx = np.flatnonzero(keep)
    assert config.max_snps is not None and idx.size > config.max_snps  # thinning happens
    idx = np.sort(rng.choice(idx, size=config.max_snps, replace=False))
    m = idx.size
    rng.integers(0, 8, size=m)  # the allele pairs, not compared here
    a1_is_derived = rng.random(m) < 0.5
    codes = np.where(a1_is_derived[:, None], dosage[idx], 2 - dosage[idx])
    return ts.tables.sites.position[idx].astype(np.int64) + 1, codes


@pytest.mark.parametrize("ref_population", ["CEU", "YRI"])
def test_thinning_before_extraction_equals_thinning_after(
    ref_population: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator counts alleles on the trees, thins, and decodes only the chosen sites; the
    # result must be the dense path's exactly (same sites, same genotypes, same random draws).
    import tskit

    config = SimConfig(
        length_mb=0.5, n_ref=40, n_insample=30, max_snps=60, seed=5, ref_population=ref_population
    )
    decoded: list[int] = []
    original = tskit.TreeSequence.genotype_matrix

    def spy(self: tskit.TreeSequence, *args: object, **kwargs: object) -> np.ndarray:
        decoded.append(self.num_sites)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(tskit.TreeSequence, "genotype_matrix", spy)
    ref, ins = simulate_genotypes(config, progress=False)
    assert decoded == [60]  # memory bounded by the kept variants, not by all sites
    monkeypatch.setattr(tskit.TreeSequence, "genotype_matrix", original)
    bp, codes = _dense_reference_genotypes(config)
    assert ins is not None and ref.n_variants == 60
    np.testing.assert_array_equal(ref.variants["BP"], bp)
    np.testing.assert_array_equal(ref.dosages(), codes[:, :40].T)
    np.testing.assert_array_equal(ins.dosages(), codes[:, 40:].T)


def _mean_af_difference(config: SimConfig) -> float:
    ref, ins = simulate_genotypes(config, progress=False)
    assert ins is not None
    return float(np.abs(ref.variants["AF1"] - ins.variants["AF1"]).mean())


def test_reference_panel_from_another_population() -> None:
    # CEU and YRI split about 5,600 generations ago (Fst about 0.15): a YRI panel's allele
    # frequencies differ from the CEU cohort's far more than a second CEU sample's do, which
    # differ by sampling noise only (about sqrt(p q / 100) ~ 0.03 for 50 diploids).
    base = dict(length_mb=1.0, n_ref=50, n_insample=50, min_maf=0.05, seed=6)
    same = _mean_af_difference(SimConfig(**base))
    for pop in ("YRI", "CHB"):
        other = _mean_af_difference(SimConfig(**base, ref_population=pop))
        assert other > 2.5 * same, (pop, other, same)  # measured: 0.19 (YRI), 0.17 (CHB), 0.05


# ------------------------------------------------------------------------------------------
# Genetic maps
# ------------------------------------------------------------------------------------------


def _write_map(path: Path, rows: list[tuple[int, str, float]]) -> Path:
    path.write_text("pos chr cM\n" + "".join(f"{p} {c} {cm}\n" for p, c, cm in rows))
    return path


def test_read_genetic_map_truncates_extends_and_selects(tmp_path: Path) -> None:
    # 1 cM per Mb, then a hotspot of 5 cM in the next 0.1 Mb, then 1 cM/Mb again.
    gmap = _write_map(
        tmp_path / "m.txt",
        [(100_000, "1", 0.0), (1_100_000, "1", 1.0), (1_200_000, "1", 6.0), (2_200_000, "1", 7.0)],
    )
    rm = read_genetic_map(gmap, chrom=5, length_bp=1.5e6)  # one-chromosome map serves any chrom
    assert rm.sequence_length == 1.5e6
    # Hand derivation: origin 100,000; 1 cM to 1.0 Mb, 5 cM to 1.1 Mb, 0.4 cM to 1.5 Mb.
    assert rm.get_cumulative_mass(1.5e6) * 100 == pytest.approx(6.4, rel=1e-12)
    assert rm.get_rate(1.05e6) == pytest.approx(5e-8 / 0.1, rel=1e-12)
    # Longer than the map: its mean rate (7 cM / 2.1 Mb) continues past 2.1 Mb.
    rm = read_genetic_map(gmap, chrom=1, length_bp=3.1e6)
    assert rm.get_cumulative_mass(3.1e6) * 100 == pytest.approx(7.0 + 7.0 / 2.1, rel=1e-12)
    two = _write_map(
        tmp_path / "two.txt", [(0, "1", 0.0), (10, "1", 1.0), (0, "chr2", 0), (10, "chr2", 9)]
    )
    assert read_genetic_map(two, chrom=2, length_bp=10).get_cumulative_mass(10) == pytest.approx(
        0.09
    )
    with pytest.raises(InputError, match="0 row"):
        read_genetic_map(two, chrom=3, length_bp=10)


def test_read_genetic_map_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="genetic map not found"):
        read_genetic_map(tmp_path / "none.txt", chrom=1, length_bp=10)
    bad = tmp_path / "cols.txt"
    bad.write_text("position chrom cM\n1 1 0\n2 1 1\n")
    with pytest.raises(InputError, match="lacks column"):
        read_genetic_map(bad, chrom=1, length_bp=10)
    unsorted = _write_map(tmp_path / "u.txt", [(10, "1", 0.0), (5, "1", 1.0)])
    with pytest.raises(InputError, match=r"u.txt:3.*must increase"):
        read_genetic_map(unsorted, chrom=1, length_bp=10)
    nan = tmp_path / "nan.txt"
    nan.write_text("pos chr cM\n1 1 0\n2 1 NA\n")
    with pytest.raises(InputError, match="non-finite"):
        read_genetic_map(nan, chrom=1, length_bp=10)
    text = tmp_path / "text.txt"
    text.write_text("pos chr cM\n1 1 0\n2 1 x\n")
    with pytest.raises(InputError, match="non-numeric"):
        read_genetic_map(text, chrom=1, length_bp=10)


def test_simulation_with_genetic_map(tmp_path: Path) -> None:
    gmap = _write_map(
        tmp_path / "m.txt",
        [(0, "1", 0.0), (500_000, "1", 0.5), (600_000, "1", 4.5), (1_000_000, "1", 4.9)],
    )
    ref, _ = simulate_genotypes(
        SimConfig(length_mb=1.0, n_ref=50, genetic_map=str(gmap), seed=4), progress=False
    )
    bp, cm = ref.variants["BP"].to_numpy(), ref.variants["CM"].to_numpy()
    expected = np.interp(bp - 1, [0, 5e5, 6e5, 1e6], [0, 0.5, 4.5, 4.9])
    np.testing.assert_allclose(cm, expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# SimConfig
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_ref", 1),
        ("n_ref", 10.0),
        ("n_insample", 1),
        ("n_gwas", 0),
        ("n_gwas", float("inf")),
        ("h2", 0.0),
        ("h2", 1.5),
        ("length_mb", 0),
        ("chroms", 23),
        ("demography", "ooa"),
        ("ref_population", "ASW"),
        ("ref_population", "yri"),
        ("recombination_rate", 0.0),
        ("mutation_rate", -1e-8),
        ("min_maf", 0.5),
        ("max_snps", 0),
        ("maf_spectrum", "ukb"),
        ("n_binary", -1),
        ("n_continuous", 1.5),
        ("prior", "mlp"),
        ("sigma", 0.0),
        ("seed", -1),
        ("seed", True),
        ("genetic_map", 3),
    ],
)
def test_config_validation(field: str, value: object) -> None:
    """SimConfig's constraint tables: the error names the simulate flag (the field itself for
    the options without a flag) and what is allowed, in the tables' standard form."""
    if field in _SIM_LIBRARY_CONSTRAINTS:
        where = f"column '{field}'"
    else:
        where = "option " + _FLAGS.get(field, "--" + field.replace("_", "-"))
    with pytest.raises(
        InputError, match=rf"^{where}: invalid value .* for SimConfig\.{field} \(give "
    ):
        SimConfig(**{field: value})


def test_config_tables_cover_every_field_and_name_real_flags() -> None:
    from deepwas.cli import build_parser

    fields = {f.name for f in dataclasses.fields(SimConfig)}
    assert set(_SIM_CONSTRAINTS) | set(_SIM_LIBRARY_CONSTRAINTS) == fields
    assert not set(_SIM_CONSTRAINTS) & set(_SIM_LIBRARY_CONSTRAINTS)
    verbs = build_parser()._subparsers._group_actions[0].choices  # argparse keeps them here
    flags = verbs["simulate"]._option_string_actions
    for name in _SIM_CONSTRAINTS:
        assert _FLAGS.get(name, "--" + name.replace("_", "-")) in flags, name
    for name in _SIM_LIBRARY_CONSTRAINTS:
        assert "--" + name.replace("_", "-") not in flags, name


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(ref_population="YRI"), "needs n_insample"),
        (dict(ref_population="CHB", n_insample=10, demography="constant"), "needs demography"),
        (dict(ref_population="YRI", n_insample=10, panel="panel"), "not a given panel"),
    ],
)
def test_config_ref_population_needs_its_context(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=f"option --ref-population: .*{message}"):
        SimConfig(**options)


def test_cli_bad_ref_population_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deepwas.cli import main

    argv = ["simulate", "--out", str(tmp_path / "o"), "--ref-population", "ASW", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (
        "deepwas: error: option --ref-population: invalid value 'ASW' for "
        "SimConfig.ref_population (give one of CEU, YRI or CHB)"
    )
    assert not (tmp_path / "o").exists()


def test_config_json_round_trip() -> None:
    config = SimConfig(n_insample=50, max_snps=1000, prior="linear")
    assert SimConfig(**json.loads(json.dumps(asdict(config)))) == config


# ------------------------------------------------------------------------------------------
# run_simulation
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sim") / "out"
    summary = run_simulation(SimConfig(**SMALL), out, argv=["deepwas", "simulate"], progress=False)
    return out, summary


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"SNP": str, "A1": str, "A2": str})


def test_run_simulation_files_and_columns(small_run: tuple[Path, dict]) -> None:
    out, summary = small_run
    names = {p.name for p in out.iterdir()}
    assert names == {
        "sumstats.tsv.gz",
        "annotations.tsv.gz",
        "truth.tsv.gz",
        "simulation.json",
        *(f"{c}.{e}" for c in ("reference", "insample") for e in ("bed", "bim", "fam")),
    }
    ss = _read(out / "sumstats.tsv.gz")
    assert list(ss.columns) == ["CHR", "SNP", "BP", "A1", "A2", "Z", "N", "AF1", "BETA", "SE", "P"]
    truth = _read(out / "truth.tsv.gz")
    assert list(truth.columns) == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "BETA"]
    ann = _read(out / "annotations.tsv.gz")
    assert list(ann.columns[:5]) == ["CHR", "SNP", "BP", "A1", "A2"] and ann.columns[-1] == "MAF"
    assert ann.shape[1] == 5 + 6 + 4 + 1
    for t in (truth, ann):
        pd.testing.assert_frame_equal(t.iloc[:, :5], ss.iloc[:, :5])
    # Round-trip of repr floats is exact, so the sum is h2 up to summation round-off.
    assert truth["SNPVAR"].sum() == pytest.approx(0.3, rel=1e-12)
    assert (truth["SNPVAR"] > 0).all()
    N = ss["N"].to_numpy()
    assert (N == 100_000).all()
    np.testing.assert_allclose(ss["BETA"], ss["Z"] / np.sqrt(N), rtol=1e-15)
    np.testing.assert_allclose(ss["SE"], 1 / np.sqrt(N), rtol=1e-15)
    from scipy.stats import norm

    np.testing.assert_allclose(ss["P"], 2 * norm.sf(np.abs(ss["Z"])), rtol=1e-12)
    # Panels: reference and in-sample cohorts, same variants, disjoint samples.
    ref = read_genotypes(out / "reference")
    ins = read_genotypes(out / "insample")
    assert ref.n_samples == 100 and ins.n_samples == 100
    assert ref.n_variants == ins.n_variants == len(ss)
    assert (ref.variants["SNP"] == ss["SNP"]).all() and (ref.variants["A1"] == ss["A1"]).all()
    # AF1 in the sumstats is the in-sample (GWAS) cohort's; MAF in the annotations the reference's.
    np.testing.assert_allclose(ss["AF1"], ins.dosages().mean(axis=0) / 2, atol=1e-12)
    af_ref = ref.dosages().mean(axis=0) / 2
    np.testing.assert_allclose(ann["MAF"], np.minimum(af_ref, 1 - af_ref), atol=1e-12)
    record = json.loads((out / "simulation.json").read_text())
    assert record["config"] == asdict(SimConfig(**SMALL))
    assert record["provenance"]["seed"] == 3
    assert record["provenance"]["command"] == ["deepwas", "simulate"]
    assert record["summary"] == summary
    assert summary["n_snps"] == len(ss) and summary["ld_source"] == "insample"
    assert summary["h2"] == pytest.approx(0.3, rel=1e-12)
    assert summary["mean_chi2"] == pytest.approx(float((ss["Z"] ** 2).mean()), rel=1e-12)
    assert summary["mean_chi2"] > 1.5  # the simulated signal is there


def test_run_simulation_is_deterministic(tmp_path: Path, small_run: tuple[Path, dict]) -> None:
    out, summary = small_run
    again = run_simulation(SimConfig(**SMALL), tmp_path / "again", progress=False)
    for name in (
        "sumstats.tsv.gz",
        "annotations.tsv.gz",
        "truth.tsv.gz",
        "reference.bed",
        "reference.bim",
        "reference.fam",
        "insample.bed",
        "insample.bim",
        "insample.fam",
    ):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in summary.items() if k != "seconds"
    }
    other = run_simulation(SimConfig(**{**SMALL, "seed": 4}), tmp_path / "other", progress=False)
    assert other["n_snps"] != summary["n_snps"] or other["mean_chi2"] != summary["mean_chi2"]


def test_run_simulation_reuses_given_genotypes(
    tmp_path: Path, small_run: tuple[Path, dict]
) -> None:
    """Traits drawn on given genotypes are those drawn on the same genotypes simulated anew
    (the genotype stream is separate), and write_panels=False writes no genotypes."""
    out, summary = small_run
    genotypes = simulate_genotypes(SimConfig(**SMALL), progress=False)
    again = run_simulation(
        SimConfig(**SMALL), tmp_path / "g", progress=False, genotypes=genotypes, write_panels=False
    )
    assert {p.name for p in (tmp_path / "g").iterdir()} == {
        "sumstats.tsv.gz",
        "annotations.tsv.gz",
        "truth.tsv.gz",
        "simulation.json",
    }
    for name in ("sumstats.tsv.gz", "annotations.tsv.gz", "truth.tsv.gz"):
        assert (tmp_path / "g" / name).read_bytes() == (out / name).read_bytes(), name
    assert again["mean_chi2"] == summary["mean_chi2"]
    # another seed on the same genotypes: same variants, another trait
    other = run_simulation(
        SimConfig(**{**SMALL, "seed": 4}),
        tmp_path / "o",
        progress=False,
        genotypes=genotypes,
        write_panels=False,
    )
    assert other["n_snps"] == summary["n_snps"] and other["mean_chi2"] != summary["mean_chi2"]


def test_banded_ld_formed_once_gives_the_same_z() -> None:
    """BandedLD (sparse R_band formed once) draws the z of band_bp, up to rounding, for arrays
    and for a panel of two chromosomes, and refuses other genotypes."""
    from deepwas.simulate import BandedLD

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 40))
    X = (X - X.mean(0)) / X.std(0)
    pos = np.sort(rng.choice(10_000, 40, replace=False)).astype(float)
    s = rng.uniform(0.001, 0.01, 40)
    dense = (X.T @ X / 60) * (np.abs(pos[:, None] - pos[None, :]) < 1_500)
    banded = BandedLD.from_genotypes(X, 1_500, positions=pos)
    np.testing.assert_allclose(banded.blocks[0][1].toarray(), dense, atol=1e-14)
    for draws in (None, 3):
        a = simulate_sumstats(X, s, n_gwas=5e3, rng=1, positions=pos, band_bp=1_500, n_draws=draws)
        b = simulate_sumstats(X, s, n_gwas=5e3, rng=1, banded_ld=banded, n_draws=draws)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    genotypes = simulate_genotypes(SimConfig(**{**SMALL, "chroms": 2}), progress=False)
    ref = genotypes[0]
    s = np.full(ref.n_variants, 1e-3)
    banded = BandedLD.from_genotypes(ref, 1e6)
    assert len(banded.blocks) == 2
    a = simulate_sumstats(ref, s, n_gwas=1e4, rng=2, band_bp=1e6)
    b = simulate_sumstats(ref, s, n_gwas=1e4, rng=2, banded_ld=banded)
    np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-11)
    with pytest.raises(ValueError, match="other genotypes"):
        simulate_sumstats(
            ref.subset(np.arange(1, ref.n_variants)), s[1:], n_gwas=1e4, banded_ld=banded
        )


def test_simulate_sumstats_returns_the_effects_behind_z() -> None:
    """return_effects gives the same z and the beta it was drawn from: with a negligible noise
    term, z = sqrt(N) R_band beta exactly."""
    from deepwas.simulate import BandedLD

    rng = np.random.default_rng(5)
    X = rng.standard_normal((80, 30))
    X = (X - X.mean(0)) / X.std(0)
    pos = np.arange(30) * 100.0
    s = rng.uniform(0.001, 0.01, 30)
    kw = dict(n_gwas=1e4, rng=3, positions=pos, band_bp=450.0)
    z, beta = simulate_sumstats(X, s, return_effects=True, **kw)
    np.testing.assert_array_equal(z, simulate_sumstats(X, s, **kw))
    z0, beta0 = simulate_sumstats(X, s, sigma=1e-30, return_effects=True, **kw)
    np.testing.assert_array_equal(beta0, beta)
    banded = BandedLD.from_genotypes(X, 450.0, positions=pos)
    np.testing.assert_allclose(z0, np.sqrt(1e4) * banded.times(beta), rtol=1e-10, atol=1e-12)


def test_run_simulation_bad_annotations_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = SimConfig(**{**SMALL, "annotations": str(tmp_path / "missing.tsv")})
    with pytest.raises(InputError, match="annotations file not found"):
        run_simulation(config, out, progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_run_simulation_failure_while_writing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deepwas.simulate.run as sim

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sim, "write_plink", boom)
    with pytest.raises(OSError, match="disk full"):
        run_simulation(SimConfig(length_mb=0.5, n_ref=30), tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []  # neither OUT nor its temporary folder


def test_run_simulation_given_annotations(tmp_path: Path, small_run: tuple[Path, dict]) -> None:
    out, _ = small_run
    ann = _read(out / "annotations.tsv.gz")
    given = ann.iloc[::2][["SNP", "binary6", "continuous1"]].rename(
        columns={"binary6": "coding", "continuous1": "conservation"}
    )
    path = tmp_path / "given.tsv"
    given.to_csv(path, sep="\t", index=False)
    summary = run_simulation(
        SimConfig(**{**SMALL, "annotations": str(path)}), tmp_path / "o", progress=False
    )
    got = _read(tmp_path / "o" / "annotations.tsv.gz")
    assert list(got.columns) == ["CHR", "SNP", "BP", "A1", "A2", "coding", "conservation", "MAF"]
    assert list(got["SNP"]) == list(given["SNP"])  # only annotated variants are simulated
    np.testing.assert_array_equal(got["coding"], given["coding"])
    assert summary["n_snps"] == len(given)
    truth = _read(tmp_path / "o" / "truth.tsv.gz")
    assert truth["SNPVAR"].sum() == pytest.approx(0.3, rel=1e-12)


def test_run_simulation_given_annotations_errors(tmp_path: Path) -> None:
    cfg = dict(length_mb=0.3, n_ref=30, seed=1)
    cases = {
        "nomatch.tsv": ("SNP\tx\nrs1\t1\n", r"none of the [0-9,]+ variants has an annotation"),
        "nocols.tsv": ("SNP\tCHR\nrs1\t1\n", "no annotation columns"),
        "text.tsv": ("SNP\tx\nrs1\tyes\n", "non-numeric annotation value 'yes'"),
    }
    for name, (text, message) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(InputError, match=message):
            run_simulation(SimConfig(**cfg, annotations=str(p)), tmp_path / "o", progress=False)
    ref, _ = simulate_genotypes(SimConfig(**cfg), progress=False)
    p = tmp_path / "nan.tsv"
    pd.DataFrame({"SNP": ref.variants["SNP"], "x": np.nan}).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputError, match=r"nan.tsv:2, column 'x': missing"):
        run_simulation(SimConfig(**cfg, annotations=str(p)), tmp_path / "o", progress=False)
    # Matching by CHR and BP when the file has no usable SNP ids.
    p = tmp_path / "bypos.tsv.gz"
    with gzip.open(p, "wt") as fh:
        pd.DataFrame({"CHR": "chr1", "BP": ref.variants["BP"], "x": 1.0}).to_csv(
            fh, sep="\t", index=False
        )
    summary = run_simulation(SimConfig(**cfg, annotations=str(p)), tmp_path / "o", progress=False)
    assert summary["n_snps"] == ref.n_variants
    assert not (tmp_path / "o").joinpath("insample.bed").exists()


def test_run_simulation_given_panel_split(tmp_path: Path, small_run: tuple[Path, dict]) -> None:
    out, _ = small_run
    panel = str(out / "reference")
    summary = run_simulation(
        SimConfig(panel=panel, n_insample=30, max_snps=400, seed=2),
        tmp_path / "p",
        progress=False,
    )
    assert summary["n_ref"] == 70 and summary["n_insample"] == 30
    assert summary["n_snps"] == 400 and summary["genotypes"].endswith("(reference part)")
    ref = read_genotypes(tmp_path / "p" / "reference")
    ins = read_genotypes(tmp_path / "p" / "insample")
    original = read_genotypes(panel)
    assert set(ref.samples["IID"]).isdisjoint(ins.samples["IID"])
    assert set(ref.samples["IID"]) | set(ins.samples["IID"]) == set(original.samples["IID"])
    # Genotypes are copied, not re-simulated.
    pos = pd.Index(original.variants["SNP"]).get_indexer(ref.variants["SNP"])
    rows = pd.Index(original.samples["IID"]).get_indexer(ref.samples["IID"])
    np.testing.assert_array_equal(ref.dosages(), original.dosages(pos)[rows])
    with pytest.raises(InputError, match="panel file not found"):
        run_simulation(SimConfig(panel=str(tmp_path / "nope")), tmp_path / "q", progress=False)
    with pytest.raises(InputError, match="in-sample individuals"):
        run_simulation(SimConfig(panel=panel, n_insample=99), tmp_path / "q", progress=False)
    assert not (tmp_path / "q").exists()
