"""Fine-mapping: SuSiE-RSS against pysusie and closed forms, credible sets, the mismatch check,
and ``deepwas finemap`` end to end on a small LD store built here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deepwas.cli import main
from deepwas.finemapping import CS_COLUMNS, VARIANT_COLUMNS, FinemapConfig, finemap_z, read_regions
from deepwas.kriging import adjust_z, estimate_s_rss
from deepwas.susie import SusieConfig, SusieResult, credible_sets, fit_susie_rss


# ------------------------------------------------------------------------------ helpers
def panel_ld(m: int, n_ref: int, rng: np.random.Generator, rho: float = 0.9) -> np.ndarray:
    """Correlation of a simulated panel with AR(1) LD (full rank when n_ref > m)."""
    idx = np.arange(m)
    chol = np.linalg.cholesky(rho ** np.abs(idx[:, None] - idx[None, :]))
    X = rng.standard_normal((n_ref, m)) @ chol.T
    X = (X - X.mean(0)) / X.std(0)
    return X.T @ X / n_ref


def simulate_z(R, n, effects: dict[int, float], rng) -> np.ndarray:
    """z ~ N(sqrt(n) R b, R): the sampling distribution of z given standardised effects b."""
    b = np.zeros(R.shape[0])
    for j, v in effects.items():
        b[j] = v
    w, U = np.linalg.eigh(R)
    noise = U @ (np.sqrt(np.clip(w, 0, None)) * rng.standard_normal(R.shape[0]))
    return math.sqrt(n) * R @ b + noise


# ------------------------------------------------------------------------------ parity
PARITY_CASES = [
    # (seed, m, n, effects, weighted, lam, L, estimate_residual_variance)
    (1, 150, 20_000, {20: 0.05, 90: -0.04}, False, 0.0, 10, False),
    (1, 150, 20_000, {20: 0.05, 90: -0.04}, True, 0.0, 10, False),
    (2, 120, 50_000, {10: 0.03, 60: 0.02, 61: -0.02}, True, 0.1, 5, False),
    (3, 100, 10_000, {}, False, 0.0, 10, False),
    (4, 80, 100_000, {40: 0.02}, True, 0.05, 3, True),
]


@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_with_pysusie(case):
    pysusie = pytest.importorskip("pysusie", reason="pysusie (dev dependency) is not installed")
    seed, m, n, effects, weighted, lam, L, erv = case
    rng = np.random.default_rng(seed)
    R = panel_ld(m, 4 * m, rng)
    z = simulate_z(R, n, effects, rng)
    pw = rng.uniform(0.1, 3.0, m) if weighted else None
    ours = fit_susie_rss(
        z,
        R,
        n,
        prior_weights=pw,
        lam=lam,
        config=SusieConfig(L=L, estimate_residual_variance=erv),
    )
    ref = pysusie.susie_rss(
        z=z,
        R=(1 - lam) * R + lam * np.eye(m),  # the same lambda form, applied outside
        n=n,
        L=L,
        prior_weights=pw,
        estimate_residual_variance=erv,
        check_prior=False,
    )
    # pysusie adds sqrt(machine eps) to the prior weights inside log(); with uniform weights that
    # is a common shift, with varied ones it moves the PIPs by ~1e-6: 1e-4 is the bar
    np.testing.assert_allclose(ours.pip, ref["pip"], atol=1e-4)
    np.testing.assert_allclose(ours.V, ref["V"], rtol=1e-3, atol=1e-8)
    assert ours.n_iter == ref["niter"]
    ref_sets = ref["sets"]["cs"] or []
    ours_sets = credible_sets(ours, (1 - lam) * R + lam * np.eye(m))
    assert sorted(tuple(sorted(c.variants)) for c in ours_sets) == sorted(
        tuple(c) for c in ref_sets
    )


def test_single_effect_matches_the_closed_form():
    """L = 1 with a fixed prior variance is one single-effect regression: alpha is the
    posterior of Wakefield's Bayes factors, computed here from scratch."""
    rng = np.random.default_rng(5)
    m, n, V = 60, 30_000, 0.01
    R = panel_ld(m, 300, rng)
    z = simulate_z(R, n, {30: 0.04}, rng)
    pw = rng.uniform(0.5, 2.0, m)
    fit = fit_susie_rss(
        z,
        R,
        n,
        prior_weights=pw,
        config=SusieConfig(L=1, prior_variance=V, estimate_prior_variance=False),
    )
    zt = adjust_z(z, n)
    # betahat = z / sqrt(n - 1) with sampling variance 1 / (n - 1): ABF = N(bhat; 0, V + s2) /
    # N(bhat; 0, s2)
    s2 = 1.0 / (n - 1)
    bhat = zt / math.sqrt(n - 1)
    log_bf = stats.norm.logpdf(bhat, 0, np.sqrt(V + s2)) - stats.norm.logpdf(bhat, 0, np.sqrt(s2))
    post = pw * np.exp(log_bf - log_bf.max())
    post /= post.sum()
    np.testing.assert_allclose(fit.alpha[0], post, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(fit.pip, post, rtol=1e-10, atol=1e-300)
    mu = (1 / (1 / V + 1 / s2)) * bhat / s2
    np.testing.assert_allclose(fit.beta_mean, post * mu, rtol=1e-10, atol=1e-300)


# ------------------------------------------------------------------------------ behaviour
def test_one_strong_causal_variant_gets_pip_one_and_a_cs_of_one():
    rng = np.random.default_rng(6)
    m, n = 100, 100_000
    R = panel_ld(m, 1000, rng, rho=0.7)
    z = simulate_z(R, n, {50: 0.05}, rng)  # z about 16 at the causal variant
    fit = fit_susie_rss(z, R, n)
    assert fit.pip[50] > 0.99
    assert np.delete(fit.pip, 50).max() < 0.05
    sets = credible_sets(fit, R)
    assert len(sets) == 1
    assert list(sets[0].variants) == [50]
    assert sets[0].purity == 1.0


def perfect_pair(rng):
    m, n = 40, 50_000
    R = panel_ld(m, 400, rng, rho=0.5)
    # variants 10 and 11 identical: copy row/column 10 onto 11
    R[11, :] = R[10, :]
    R[:, 11] = R[:, 10]
    z = simulate_z(R, n, {10: 0.04}, rng)
    z[11] = z[10]
    return z, R, n


def test_perfectly_correlated_variants_split_the_pip():
    z, R, n = perfect_pair(np.random.default_rng(7))
    fit = fit_susie_rss(z, R, n, lam=1e-6)
    assert fit.pip[10] == pytest.approx(fit.pip[11], abs=1e-6)
    assert fit.pip[10] + fit.pip[11] == pytest.approx(1.0, abs=0.01)
    (cs,) = credible_sets(fit, R)
    assert sorted(cs.variants) == [10, 11]


def test_prior_weights_move_the_pip_towards_the_up_weighted_variant():
    z, R, n = perfect_pair(np.random.default_rng(7))
    w = np.ones(z.size)
    w[11] = 3.0
    fit = fit_susie_rss(z, R, n, prior_weights=w, lam=1e-6)
    # identical data: the posterior split is the prior's, 1 : 3
    assert fit.pip[11] / fit.pip[10] == pytest.approx(3.0, rel=1e-3)


def test_credible_set_coverage_purity_and_dedup():
    alpha = np.array(
        [
            [0.60, 0.25, 0.10, 0.05, 0.00],  # 0.9 coverage: {0, 1, 2}, sum 0.95
            [0.60, 0.25, 0.10, 0.05, 0.00],  # the same set again: dropped
            [0.00, 0.00, 0.02, 0.03, 0.95],  # {4}
            [0.20, 0.20, 0.20, 0.20, 0.20],  # inactive (V = 0): no set
        ]
    )
    res = SusieResult(
        alpha=alpha,
        mu=np.zeros_like(alpha),
        mu2=np.zeros_like(alpha),
        V=np.array([0.1, 0.1, 0.1, 0.0]),
        sigma2=1.0,
    )
    R = np.eye(5)
    R[0, 1] = R[1, 0] = 0.9
    R[0, 2] = R[2, 0] = -0.8
    R[1, 2] = R[2, 1] = 0.4
    sets = credible_sets(res, R, coverage=0.9, min_purity=0.3)
    assert [sorted(s.variants) for s in sets] == [[0, 1, 2], [4]]
    assert sets[0].coverage == pytest.approx(0.95)
    assert sets[0].purity == pytest.approx(0.4)
    assert sets[0].mean_abs_r == pytest.approx((0.9 + 0.8 + 0.4) / 3)
    assert [sorted(s.variants) for s in credible_sets(res, R, coverage=0.9)] == [[4]]
    # 0.5 coverage: the single top variant of effect 0 suffices
    assert [list(s.variants) for s in credible_sets(res, R, coverage=0.5)] == [[0], [4]]
    # PIP ignores the inactive effect
    np.testing.assert_allclose(res.pip, 1 - (1 - alpha[0]) ** 2 * (1 - alpha[2]))


def test_mismatch_check_flags_a_flipped_allele_and_drop_refits_without_it():
    rng = np.random.default_rng(8)
    m, n = 120, 50_000
    R = panel_ld(m, 2000, rng, rho=0.97)
    z = simulate_z(R, n, {60: 0.03}, rng)
    flipped = 63
    assert abs(z[flipped]) > 3
    clean = finemap_z(z, R, n)
    z[flipped] *= -1
    warn = finemap_z(z, R, n)
    assert "allele_flip" in warn["flags"][flipped]
    assert not warn["dropped"].any()
    assert warn["lam"] == warn["s"] > 0.1  # the flip makes z inconsistent with R
    drop = finemap_z(z, R, n, config=FinemapConfig(mismatch="drop"))
    assert drop["dropped"][flipped] and np.isnan(drop["pip"][flipped])
    assert "dropped" in drop["flags"][flipped]
    # without the flipped variant the locus is fitted as if the data were clean
    assert drop["lam"] < 0.01
    keep = np.arange(z.size) != flipped
    assert np.abs(drop["pip"][keep] - clean["pip"][keep]).max() < 0.02
    assert [sorted(c.variants) for c in drop["cs"]] == [sorted(c.variants) for c in clean["cs"]]


def test_a_strong_causal_variant_is_not_an_ld_outlier_but_a_z_its_neighbours_deny_is():
    from deepwas.kriging import kriging_test

    rng = np.random.default_rng(11)
    m, n = 150, 300_000
    R = panel_ld(m, 5000, rng, rho=0.9)
    z = simulate_z(R, n, {40: 0.02, 110: -0.025}, rng)  # z about 11 and -14
    assert abs(z[40]) > 8 and abs(z[110]) > 10
    test = kriging_test(z, R, estimate_s_rss(z, R, n))
    # the causal variant departs from what its neighbours predict (its effect is the departure)
    assert test["P_RESID"].iloc[40] < 0.05 / m
    # ... but a causal effect explains it better than an error in its z does: not an outlier
    assert test["LOGLR_ERROR"].iloc[40] < 0 and not test["OUTLIER"].any()
    res = finemap_z(z, R, n)
    assert not any(res["flags"]), [f for f in res["flags"] if f]
    assert res["pip"][40] > 0.95 and res["pip"][110] > 0.95
    # a z its LD neighbours deny (an error in one variant's summary statistics) is flagged
    bad = z.copy()
    bad[75] += 7.0
    test = kriging_test(bad, R, estimate_s_rss(bad, R, n))
    assert test["OUTLIER"].iloc[75] and test["LOGLR_ERROR"].iloc[75] > 20
    assert "ld_outlier" in finemap_z(bad, R, n)["flags"][75]
    # the statistic: RESID^2 - z^2 = 2 x the profile log likelihood ratio, by brute force
    Q = np.linalg.inv(R)
    i = 75

    def profile(mu_dir):
        t = (mu_dir @ Q @ bad) / (mu_dir @ Q @ mu_dir)
        r = bad - t * mu_dir
        return r @ Q @ r

    e = np.zeros(m)
    e[i] = 1.0
    direct = 0.5 * (profile(R @ e) - profile(e))
    test0 = kriging_test(bad, R, 0.0)
    assert test0["LOGLR_ERROR"].iloc[i] == pytest.approx(direct, rel=1e-8)


def test_high_pip_on_a_low_z_is_flagged():
    # two variants in strong LD with opposite effects: a masked signal looks exactly like the
    # mismatch signature (PIP high on a small marginal z); the flag must fire
    rng = np.random.default_rng(9)
    m, n = 30, 200_000
    R = panel_ld(m, 3000, rng, rho=0.3)
    R[5, 6] = R[6, 5] = 0.9
    w, U = np.linalg.eigh(R)
    R = U @ np.diag(np.clip(w, 1e-3, None)) @ U.T
    d = np.sqrt(np.diag(R))
    R = R / np.outer(d, d)
    b = np.zeros(m)
    b[5], b[6] = 0.1, -0.09
    z = math.sqrt(n) * R @ b
    assert abs(z[6]) < 0.1 and abs(z[5]) > 5
    res = finemap_z(z, R, n, config=FinemapConfig(lam=0.0))
    assert res["pip"][6] > 0.5
    assert "high_pip_low_z" in res["flags"][6]


# ------------------------------------------------------------------------------ regions
def test_read_regions(tmp_path):
    assert read_regions("chr22:100-200, 22:1000-2000") == [
        (22, 100, 200, "chr22:100-200"),
        (22, 1000, 2000, "chr22:1000-2000"),
    ]
    bed = tmp_path / "r.bed"
    bed.write_text("# comment\nchr22\t99\t200\tname\n")
    assert read_regions(str(bed)) == [(22, 100, 200, "chr22:100-200")]
    bad = tmp_path / "bad.bed"
    bad.write_text("chr22\t300\t200\n")
    with pytest.raises(Exception, match=r"bad.bed:1.*not a BED region"):
        read_regions(str(bad))


# ------------------------------------------------------------------------------ end to end
M_STORE, N_GWAS = 240, 80_000
CAUSAL = {60: 0.04, 170: -0.035}  # store indices; window 0 holds 0-119, window 1 120-239


@pytest.fixture(scope="module")
def fm_inputs(tmp_path_factory) -> dict:
    """A 2-window LD store built from a simulated panel, sumstats with two strong causal
    variants computed with that LD (in-sample), and a prior table up-weighting them."""
    from deepwas.ld.store import write_store
    from deepwas.ld.windows import make_windows

    root = tmp_path_factory.mktemp("finemap")
    rng = np.random.default_rng(11)
    R = panel_ld(M_STORE, 1500, rng, rho=0.85)
    variants = pd.DataFrame(
        {
            "CHR": 22,
            "SNP": [f"rs{1000 + i}" for i in range(M_STORE)],
            "BP": 16_000_000 + 10_000 * np.arange(M_STORE),
            "A1": "A",
            "A2": "G",
        }
    )
    windows = make_windows(variants, window_kb=1200, flank_kb=300)
    mats = [
        R[w.context_first : w.context_stop, w.context_first : w.context_stop]
        for w in windows.itertuples()
    ]
    write_store(
        root / "ld",
        variants,
        windows,
        mats,
        source={"kind": "test"},
        window_params={},
        ld_params={},
        progress=False,
    )
    z = simulate_z(R, N_GWAS, CAUSAL, rng)
    ss = variants.assign(Z=z, N=N_GWAS)
    ss.to_csv(root / "ss.tsv", sep="\t", index=False)
    snpvar = np.full(M_STORE, 1e-6)
    snpvar[list(CAUSAL)] = 1e-4
    variants.assign(SNPVAR=snpvar).to_csv(root / "priors.tsv.gz", sep="\t", index=False)
    return {"root": root, "z": z, "windows": windows}


def run_cli(fm, *extra, out="fm"):
    root = fm["root"]
    argv = ["finemap", "--sumstats", str(root / "ss.tsv"), "--ld", str(root / "ld")]
    return main([*argv, *extra, "--out", str(root / out), "--quiet"])


def test_cli_end_to_end_with_a_prior(fm_inputs, capsys):
    root = fm_inputs["root"]
    assert len(fm_inputs["windows"]) == 2
    assert run_cli(fm_inputs, "--prior", str(root / "priors.tsv.gz"), out="prior") == 0
    table = pd.read_csv(root / "prior.finemap.tsv.gz", sep="\t")
    assert list(table.columns) == VARIANT_COLUMNS
    assert len(table) == M_STORE  # both windows are loci, every scored variant once
    assert table["SNP"].is_unique
    for j in CAUSAL:
        row = table.loc[table["SNP"] == f"rs{1000 + j}"].iloc[0]
        assert row["PIP"] > 0.9 and row["CREDIBLE_SET"] >= 1
        assert np.sign(row["BETA_MEAN"]) == np.sign(CAUSAL[j])
    np.testing.assert_allclose(table["Z"], fm_inputs["z"], rtol=1e-5)
    # prior weights are SNPVAR normalised per locus
    for _, grp in table.groupby("LOCUS"):
        assert grp["PRIOR_WEIGHT"].sum() == pytest.approx(1.0, abs=1e-5)
    cs = pd.read_csv(root / "prior.cs.tsv", sep="\t")
    assert list(cs.columns) == CS_COLUMNS
    assert set(cs["LEAD_SNP"]) >= {f"rs{1000 + j}" for j in CAUSAL}
    assert (cs["PURITY"] >= 0.5).all() and (cs["COVERAGE"] >= 0.95).all()
    summary = json.loads((root / "prior.finemap.json").read_text())
    assert summary["n_loci"] == 2 and summary["settings"]["prior_weights"] == "SNPVAR"
    assert summary["provenance"]["inputs"]["prior"]["sha256"]
    assert "credible sets" in capsys.readouterr().out


def test_cli_uniform_prior_and_regions(fm_inputs):
    root = fm_inputs["root"]
    assert run_cli(fm_inputs, "--regions", "chr22:16500000-17200000", out="reg") == 0
    table = pd.read_csv(root / "reg.finemap.tsv.gz", sep="\t")
    assert table["BP"].between(16_500_000, 17_200_000).all()
    assert table["LOCUS"].unique().tolist() == ["chr22:16500000-17200000"]
    assert table["PRIOR_WEIGHT"].nunique() == 1  # uniform
    assert table.loc[table["SNP"] == "rs1060", "PIP"].iloc[0] > 0.9


def test_no_significant_locus_writes_empty_well_formed_outputs(fm_inputs, capsys):
    root = fm_inputs["root"]
    assert run_cli(fm_inputs, "--p-threshold", "1e-300", out="none") == 0
    assert "no locus to fine-map" in capsys.readouterr().out
    table = pd.read_csv(root / "none.finemap.tsv.gz", sep="\t")
    assert list(table.columns) == VARIANT_COLUMNS and len(table) == 0
    cs = pd.read_csv(root / "none.cs.tsv", sep="\t")
    assert list(cs.columns) == CS_COLUMNS and len(cs) == 0
    assert json.loads((root / "none.finemap.json").read_text())["n_loci"] == 0


def bad_prior(root: Path, name: str, frame: pd.DataFrame) -> str:
    path = root / name
    frame.to_csv(path, sep="\t", index=False)
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("region", "option --regions: unknown region format 'chr22:abc'"),
        ("region_outside", "not inside one LD window's context"),
        ("prior_other_variants", "no variant of the prior is in the LD store"),
        ("prior_negative", "bad_neg.tsv:3, column 'SNPVAR': SNPVAR must be a finite number"),
        ("prior_alleles", "have other alleles than the LD store"),
        ("prior_partial", "the prior has no SNPVAR for 20 variants of locus chr22:16000000"),
        ("prior_columns", "the prior needs columns SNP and SNPVAR"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(fm_inputs, capsys, case, message):
    root = fm_inputs["root"]
    variants = pd.read_csv(root / "ss.tsv", sep="\t")[["CHR", "SNP", "BP", "A1", "A2"]]
    snpvar = variants.assign(SNPVAR=1e-5)
    extra = {
        "region": ["--regions", "chr22:abc"],
        "region_outside": ["--regions", "chr22:16000000-18400000"],
        "prior_other_variants": [
            "--prior",
            bad_prior(root, "bad_other.tsv", snpvar.assign(SNP=snpvar["SNP"] + "x")),
        ],
        "prior_negative": [
            "--prior",
            bad_prior(root, "bad_neg.tsv", snpvar.assign(SNPVAR=[1e-5, -1.0] + [1e-5] * 238)),
        ],
        "prior_alleles": [
            "--prior",
            bad_prior(root, "bad_al.tsv", snpvar.assign(A2="C")),
        ],
        "prior_partial": ["--prior", bad_prior(root, "bad_part.tsv", snpvar.iloc[20:])],
        "prior_columns": [
            "--prior",
            bad_prior(root, "bad_col.tsv", snpvar.rename(columns={"SNPVAR": "H2"})),
        ],
    }[case]
    out = f"bad_{case}"
    assert run_cli(fm_inputs, *extra, out=out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepwas: error:")
    assert message in err[0]
    assert not list(root.glob(f"{out}.*"))  # nothing written


def test_public_api_names_the_function_not_the_module():
    import deepwas
    import deepwas.finemapping  # importing the module must not shadow deepwas.finemap

    assert deepwas.finemap is deepwas.finemapping.finemap
