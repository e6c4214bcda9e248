"""The synthetic-panel evaluation suite and its baselines (issue 11): every metric against a dense
reference written here or a hand-derived value, run_evaluate's files and errors, and the baselines'
shapes and values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepwas.errors import InputError
from deepwas.io.genotypes import write_plink
from deepwas.synth.baselines import (
    independent_panel,
    knn_impute,
    msprime_panel,
    pca_ddpm_panel,
)
from deepwas.synth.evaluate import (
    aats,
    af_metrics,
    allele_frequencies,
    as_dosages,
    dosage_distances,
    evaluate_panels,
    exact_copy_rate,
    imputation_r2_by_af,
    ld_decay,
    ld_pairs,
    ld_r2_correlation,
    ld_score_error,
    ld_scores,
    pairwise_distance_summary,
    pca_projection,
    privacy_loss,
    run_evaluate,
)


def block_panel(
    n: int, *, p: int = 120, block: int = 30, founders: int = 4, seed: int = 0, flip: float = 0.01
) -> np.ndarray:
    """Dosages with strong LD inside blocks and none between: each haplotype copies one of a few
    founder haplotypes per block (founders fixed by ``p``, ``block``, ``founders``; individuals
    by ``seed``), with rare flips."""
    found = np.random.default_rng(12345).integers(0, 2, size=(p // block, founders, block))
    rng = np.random.default_rng(seed)
    haps = np.empty((2 * n, p), dtype=np.int8)
    for b in range(p // block):
        pick = rng.integers(0, founders, size=2 * n)
        haps[:, b * block : (b + 1) * block] = found[b, pick]
    haps ^= (rng.random(haps.shape) < flip).astype(np.int8)
    return (haps[0::2] + haps[1::2]).astype(np.float64)


def variants_for(p: int, *, step: int = 1000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "CHR": 22,
            "SNP": [f"rs{i + 1}" for i in range(p)],
            "BP": np.arange(1, p + 1) * step,
            "A1": "A",
            "A2": "G",
        }
    )


def hwe(af: np.ndarray, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).binomial(2, af, size=(n, af.size)).astype(np.float64)


# ------------------------------------------------------------------------------------------------
# inputs and allele frequencies
# ------------------------------------------------------------------------------------------------


def test_missing_calls_and_bad_values():
    x = np.array([[0, 2], [-1, 1], [2, -1]], dtype=np.int8)
    # A1 frequency over observed calls: (0 + 2) / 4 and (2 + 1) / 4
    np.testing.assert_allclose(allele_frequencies(x), [0.5, 0.75], rtol=0, atol=1e-15)
    assert np.isnan(as_dosages(x)[1, 0])
    with pytest.raises(InputError, match="dosages must be 0, 1, 2 or missing"):
        as_dosages(np.array([[0.0, 3.0]]))
    with pytest.raises(InputError, match="2-d"):
        as_dosages(np.zeros(3))
    with pytest.raises(InputError, match="has 3 variants, the real panel 2"):
        af_metrics(np.zeros((2, 2)), np.zeros((2, 3)))


def test_af_metrics_identical_and_hand_case():
    x = block_panel(50)
    m = af_metrics(x, x)
    assert m["af_r"] == pytest.approx(1.0, abs=1e-12) and m["af_mae"] == 0.0
    real = np.array([[0, 0, 2], [2, 1, 2]], dtype=float)  # AF 0.5, 0.25, 1.0
    syn = np.array([[1, 0, 2], [1, 0, 2]], dtype=float)  # AF 0.5, 0.0, 1.0
    m = af_metrics(real, syn)
    assert m["af_mae"] == pytest.approx(0.25 / 3, abs=1e-15)
    assert m["af_max_abs"] == pytest.approx(0.25, abs=1e-15)
    # r of (0.5, 0.25, 1) with (0.5, 0, 1), by hand: centred (-0.0833, -0.3333, 0.4167) and
    # (0, -0.5, 0.5); r = 0.375 / sqrt(0.2917 * 0.5)
    assert m["af_r"] == pytest.approx(0.375 / np.sqrt((0.875 / 3) * 0.5), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# LD
# ------------------------------------------------------------------------------------------------


def test_ld_pairs_match_dense_correlations():
    x = block_panel(60, p=90)
    x[3, 5] = np.nan
    pos = variants_for(90, step=7000)["BP"].to_numpy()
    pairs = ld_pairs(x, pos, block_snps=40, max_snps=10, max_bp=50_000)
    # dense reference: Pearson r of mean-imputed columns, every pair allowed by the windows
    xi = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    with np.errstate(invalid="ignore", divide="ignore"):  # monomorphic columns give NaN
        r = np.corrcoef(xi.T)
    want = [
        (i, j)
        for i in range(90)
        for j in range(i + 1, 90)
        if i // 40 == j // 40 and j - i <= 10 and pos[j] - pos[i] <= 50_000
    ]
    assert [tuple(t) for t in pairs[["i", "j"]].to_numpy()] == want
    got = pairs["r"].to_numpy()
    ref = np.array([r[i, j] for i, j in want])
    ok = np.isfinite(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=0, atol=1e-12)  # float64 roundoff
    assert np.all(np.isnan(got[~ok]))  # monomorphic SNPs give no r


def test_ld_r2_correlation_known_ld():
    v = variants_for(120)
    pos = v["BP"].to_numpy()
    real = block_panel(300, seed=1)
    assert ld_r2_correlation(real, real, pos)["ld_r2_corr"] == pytest.approx(1.0, abs=1e-12)
    same = ld_r2_correlation(real, block_panel(300, seed=2), pos)
    # independent SNPs at the same frequencies: no LD left
    indep = ld_r2_correlation(real, hwe(allele_frequencies(real), 300, seed=3), pos)
    assert same["ld_r2_corr"] > 0.95 > 0.3 > indep["ld_r2_corr"]
    # unlinked pairs have r^2 about 1/n = 0.003; the block panel mixes linked and unlinked pairs
    assert indep["ld_r2_mean_synthetic"] < 0.01 < 0.04 < same["ld_r2_mean_synthetic"]


def test_ld_scores_match_brute_force():
    x = block_panel(40, p=60)
    pos = np.sort(np.random.default_rng(0).choice(200_000, size=60, replace=False))
    got = ld_scores(x, pos, window_bp=30_000, chunk_snps=7)
    with np.errstate(invalid="ignore", divide="ignore"):  # monomorphic columns give NaN
        r = np.corrcoef(x.T)
    n = x.shape[0]
    r2 = r**2 - (1 - r**2) / (n - 2)
    poly = x.std(axis=0) > 0
    for j in range(60):
        near = (np.abs(pos - pos[j]) <= 30_000) & poly
        if poly[j]:
            assert got[j] == pytest.approx(r2[j, near].sum(), abs=1e-10)
        else:
            assert np.isnan(got[j])
    raw = ld_scores(x, pos, window_bp=30_000, adjusted=False)
    assert np.nanmin(raw - got) > 0  # the adjustment removes the 1/n floor
    err = ld_score_error(x, x, pos, window_bp=30_000)
    assert err["ldscore_rel_error_mean"] == 0.0 and err["ldscore_r"] == pytest.approx(1.0)


def test_ld_decay_bins():
    x = block_panel(200, p=120)
    pos = variants_for(120)["BP"].to_numpy()
    d = ld_decay(x, x, pos, bins_bp=(0, 10_000, 40_000, 1_000_000))
    np.testing.assert_array_equal(d["r2_real"], d["r2_synthetic"])
    # blocks of 30 SNPs 1 kb apart: LD inside 30 kb, none beyond
    assert d["r2_real"].iloc[0] > 0.15 and abs(d["r2_real"].iloc[2]) < 0.02
    # pairs per bin by hand: distance 1..9 kb -> sum_{d=1}^{9} (120 - d) = 1035
    assert d["n_pairs"].iloc[0] == sum(120 - k for k in range(1, 10))


# ------------------------------------------------------------------------------------------------
# PCA and distances
# ------------------------------------------------------------------------------------------------


def test_pca_identical_zero_and_shift_detected():
    real = block_panel(80)
    same = pca_projection(real, real, n_components=5)
    assert same["pca_energy_distance"] < 1e-6  # sqrt of a roundoff-level difference
    np.testing.assert_allclose(same["pca_mean_diff"], 0, atol=1e-12)
    np.testing.assert_allclose(same["pca_wasserstein"], 0, atol=1e-12)
    assert sum(same["pca_explained"]) <= 1.0
    other = block_panel(80, seed=5, flip=0.3)  # frequencies and LD pulled toward 0.5
    far = pca_projection(real, other, n_components=5)
    near = pca_projection(real, block_panel(80, seed=6), n_components=5)
    assert far["pca_energy_distance"] > 2 * near["pca_energy_distance"]


def test_dosage_distances_match_brute_force():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, size=(7, 40)).astype(float)
    b = rng.integers(0, 3, size=(5, 40)).astype(float)
    a[rng.random(a.shape) < 0.1] = np.nan
    b[rng.random(b.shape) < 0.1] = np.nan
    got = dosage_distances(a, b)
    want = np.array([[np.nanmean(np.abs(u - w)) for w in b] for u in a])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)  # integer sums, exact in float32
    s = pairwise_distance_summary(a, a, max_individuals=7)
    assert s["dist_w1_rr_ss"] == 0.0 and s["real_real"].size == 21


# ------------------------------------------------------------------------------------------------
# adversarial accuracy, privacy, copies
# ------------------------------------------------------------------------------------------------


def test_aats_hand_cases():
    t = np.array([[0.0], [0.0]])
    s = np.array([[2.0], [2.0]])
    # each real's nearest other real is at 0, its nearest synthetic at 2: both indicators 1
    assert aats(t, s)["aats"] == 1.0
    # a set against itself: every nearest other-set neighbour at 0, the same-set one farther
    x = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 0.0]])
    assert aats(x, x)["aats"] == 0.0
    with pytest.raises(InputError, match="at least 2 individuals"):
        aats(x[:1], x[:1])


def test_aats_same_law_near_half_far_near_one():
    af = np.random.default_rng(0).uniform(0.05, 0.95, 300)
    same = aats(hwe(af, 100, 1), hwe(af, 300, 2), n_draws=3)
    assert abs(same["aats"] - 0.5) < 0.1 and same["aats_size"] == 100
    far = aats(hwe(af, 100, 1), hwe(1 - af, 100, 3))
    assert far["aats"] > 0.95


def test_privacy_loss_and_copies():
    real = block_panel(150, seed=7)
    train, held = real[:100], real[100:]
    copy = privacy_loss(held, train, train)
    assert copy["aats_train"] == 0.0 and copy["privacy_loss"] > 0.3
    fresh = block_panel(100, seed=8)
    ok = privacy_loss(held, train, fresh)
    assert abs(ok["privacy_loss"]) < 0.15
    c = exact_copy_rate(train, train, heldout=held)
    assert c["exact_copy_rate"] == 1.0 and c["dcr_ratio"] == 0.0
    af = np.full(200, 0.4)
    c = exact_copy_rate(hwe(af, 50, 1), hwe(af, 50, 2), heldout=hwe(af, 50, 3))
    assert c["exact_copy_rate"] == 0.0 and 0.8 < c["dcr_ratio"] < 1.25


# ------------------------------------------------------------------------------------------------
# imputation
# ------------------------------------------------------------------------------------------------


def test_imputation_r2_by_af_hand_cases():
    rng = np.random.default_rng(0)
    af = np.array([0.005, 0.03, 0.3, 0.7, 0.45])
    true = rng.binomial(2, np.maximum(af, 0.1), size=(200, 5)).astype(float)
    t = imputation_r2_by_af(true, true.copy(), af)
    assert list(t["bin"])[-1] == "all"
    filled = t[t["n_genotypes"] > 0]
    np.testing.assert_allclose(filled["r2"], 1.0, atol=1e-12)
    np.testing.assert_allclose(filled["mse"], 0.0, atol=0)
    # MAF bins by hand: 0.005 -> [0, 0.01), 0.03 -> [0.01, 0.05), 0.3, 0.7 and 0.45 -> [0.3, 0.5)
    assert list(t["n_snps"]) == [1, 1, 0, 0, 0, 3, 5]
    shifted = imputation_r2_by_af(true, true + 0.5, af)  # r2 blind to a shift, mse sees it
    np.testing.assert_allclose(shifted["mse"].iloc[-1], 0.25, atol=1e-12)
    const = imputation_r2_by_af(true, np.tile(2 * af, (200, 1)), af)
    filled = const["n_genotypes"] > 0  # imputation by af: 0 in every filled bin and overall
    assert (const["r2"][filled] == 0.0).all() and const["r2"][~filled].isna().all()
    mask = np.zeros(true.shape, dtype=bool)
    mask[:10, 2] = True
    assert imputation_r2_by_af(true, true, af, mask=mask)["n_genotypes"].iloc[-1] == 10
    with pytest.raises(InputError, match="shapes disagree"):
        imputation_r2_by_af(true, true[:, :3], af)


def test_knn_impute_beats_allele_frequencies():
    ref = block_panel(300, seed=1)
    tgt = block_panel(60, seed=2)
    mask = np.random.default_rng(3).random(tgt.shape) < 0.2
    masked = np.where(mask, np.nan, tgt)
    imp = knn_impute(ref, masked, k=10, window_snps=10)
    assert not np.isnan(imp).any() and imp.min() >= 0 and imp.max() <= 2
    np.testing.assert_array_equal(imp[~mask], tgt[~mask])  # observed calls kept
    af = allele_frequencies(ref)
    knn = imputation_r2_by_af(tgt, imp, af, mask=mask).iloc[-1]
    by_af = imputation_r2_by_af(tgt, np.tile(2 * af, (60, 1)), af, mask=mask).iloc[-1]
    assert knn["r2"] > 0.8 and knn["mse"] < 0.3 * by_af["mse"]


# ------------------------------------------------------------------------------------------------
# baselines
# ------------------------------------------------------------------------------------------------


def test_independent_panel():
    af = np.array([0.0, 0.5, 1.0, np.nan])
    x = independent_panel(af, n_samples=500, seed=1)
    assert x.shape == (500, 4) and x.dtype == np.int8
    assert (x[:, 0] == 0).all() and (x[:, 2] == 2).all() and (x[:, 3] == 0).all()
    assert abs(x[:, 1].mean() / 2 - 0.5) < 0.05  # 500 draws: SE of the frequency 0.016


def test_msprime_panel_shape_values_and_frequencies():
    v = variants_for(80, step=2500)
    af = np.random.default_rng(0).uniform(0.05, 0.95, 80)
    x = msprime_panel(v, af, n_samples=40, seed=2, bin_snps=10)
    assert x.shape == (40, 80) and x.dtype == np.int8 and set(np.unique(x)) <= {0, 1, 2}
    # matched by frequency: r with the targets well above chance (sampling noise of 80 haplotypes)
    assert np.corrcoef(allele_frequencies(x), af)[0, 1] > 0.9
    np.testing.assert_array_equal(x, msprime_panel(v, af, n_samples=40, seed=2, bin_snps=10))


def test_pca_ddpm_panel_shape_values_and_seed(one_thread):  # conftest.py
    train = block_panel(40, p=90, seed=4)
    kw = {
        "n_samples": 30,
        "block_snps": 40,
        "n_components": 5,
        "n_steps": 20,
        "hidden": 32,
        "train_steps": 30,
        "seed": 3,
    }
    x = pca_ddpm_panel(train, **kw)
    assert x.shape == (30, 90) and x.dtype == np.int8 and set(np.unique(x)) <= {0, 1, 2}
    np.testing.assert_array_equal(x, pca_ddpm_panel(train, **kw))


# ------------------------------------------------------------------------------------------------
# the whole suite, from files
# ------------------------------------------------------------------------------------------------


def _write(prefix, x, v):
    write_plink(prefix, x, v)
    return str(prefix)


def test_run_evaluate_writes_both_files(tmp_path):
    v = variants_for(120)
    real = _write(tmp_path / "real", block_panel(40, seed=1), v)
    train = _write(tmp_path / "train", block_panel(60, seed=2), v)
    # the synthetic panel stores its variants in another order and one SNP with A1/A2 swapped
    syn_x = block_panel(50, seed=3)
    sv = v.copy()
    sv.loc[5, ["A1", "A2"]] = ["G", "A"]
    syn_x[:, 5] = 2 - syn_x[:, 5]
    order = np.random.default_rng(0).permutation(120)
    syn = _write(tmp_path / "syn", syn_x[:, order], sv.iloc[order])
    out = tmp_path / "report"
    record = run_evaluate(real, syn, out, train=train, seed=1, argv=["test"])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["af_r"] == pytest.approx(record["metrics"]["af_r"])
    assert saved["provenance"]["seed"] == 1 and "deepwas_version" in saved["provenance"]
    assert saved["panels"]["synthetic"]["n_samples"] == 50
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 5 and "privacy loss" in html
    # the same panel read back in order and flipped gives the same metrics as the matrices
    direct = evaluate_panels(
        block_panel(40, seed=1), block_panel(50, seed=3), v, train=block_panel(60, seed=2), seed=1
    )["metrics"]
    assert record["metrics"]["af_r"] == pytest.approx(direct["af_r"], abs=1e-12)
    assert record["metrics"]["ld_r2_corr"] == pytest.approx(direct["ld_r2_corr"], abs=1e-12)
    assert record["metrics"]["aats"] == pytest.approx(direct["aats"], abs=1e-12)


def test_run_evaluate_refuses_mismatched_variants(tmp_path):
    v = variants_for(30)
    real = _write(tmp_path / "real", block_panel(10, p=30, block=10), v)
    other = v.copy()
    other.loc[3, "SNP"] = "rs_other"
    syn = _write(tmp_path / "syn", block_panel(10, p=30, block=10), other)
    with pytest.raises(InputError, match=r"syn.*variants do not match.*1 of 30 real SNP ids"):
        run_evaluate(real, syn, tmp_path / "out")
    assert not (tmp_path / "out" / "metrics.json").exists()
    bad = v.copy()
    bad.loc[2, ["A1", "A2"]] = ["C", "T"]
    syn2 = _write(tmp_path / "syn2", block_panel(10, p=30, block=10), bad)
    with pytest.raises(InputError, match="alleles of SNP rs3 differ"):
        run_evaluate(real, syn2, tmp_path / "out")


def test_input_errors_of_the_baselines_and_suite(tmp_path):
    v = variants_for(20)
    with pytest.raises(InputError, match="n_samples must be at least 1"):
        independent_panel(np.full(3, 0.2), n_samples=0)
    with pytest.raises(InputError, match=r"allele frequencies must be a 1-d array in \[0, 1\]"):
        independent_panel(np.array([0.2, 1.5]), n_samples=2)
    with pytest.raises(InputError, match="20 variants for 3 frequencies"):
        msprime_panel(v, np.full(3, 0.2), n_samples=2)
    with pytest.raises(InputError, match="bin_snps must be at least 1"):
        msprime_panel(v, np.full(20, 0.2), n_samples=2, bin_snps=0)
    with pytest.raises(InputError, match="at least 2 training individuals"):
        pca_ddpm_panel(np.zeros((1, 20)), n_samples=2)
    with pytest.raises(InputError, match="k must be >= 1"):
        knn_impute(np.zeros((3, 20)), np.zeros((1, 20)), k=0)
    with pytest.raises(InputError, match="has 19 variants, the reference 20"):
        knn_impute(np.zeros((3, 20)), np.zeros((1, 19)))
    x = block_panel(10, p=20, block=10)
    with pytest.raises(InputError, match="not sorted by chromosome and position"):
        evaluate_panels(x, x, v.iloc[::-1].reset_index(drop=True))
    with pytest.raises(InputError, match="has 19 variants, the real panel 20"):
        evaluate_panels(x, x, v, train=x[:, :19])
    dup = v.copy()
    dup.loc[1, "SNP"] = "rs1"
    real = _write(tmp_path / "real", x, v)
    syn = _write(tmp_path / "syn", x, dup)
    with pytest.raises(InputError, match="duplicate SNP id rs1"):
        run_evaluate(real, syn, tmp_path / "out")
