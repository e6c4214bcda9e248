"""PRS weights (posterior mean effects per window) and scoring, against dense float64 references,
and the ``prs`` / ``score`` verbs end to end."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas.cli import main
from deepwas.errors import InputError
from deepwas.io.genotypes import write_plink
from deepwas.io.priors import read_prior_snpvar
from deepwas.linalg.eigen import eigen_precompute, project_z
from deepwas.prs import posterior_mean_window
from deepwas.score import score_genotypes


def _ld(n: int, m: int, seed: int) -> np.ndarray:
    """Sample LD of n people over m variants with local correlation (an AR-like haplotype)."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, m))
    for j in range(1, m):
        latent[:, j] = 0.7 * latent[:, j - 1] + np.sqrt(1 - 0.49) * latent[:, j]
    X = (latent - latent.mean(0)) / latent.std(0)
    return X.T @ X / n


def _dense_posterior(R, scored, s, z_W, n_gwas, sigma, *, pinv=False):
    """S X^T (X S X^T + sigma R_WW)^-1 z_W with X = sqrt(N) R_WC: Gaussian conditioning of
    beta_C on z_W, formed densely (pseudo-inverse when R_WW is singular: z_W lies in its range)."""
    X = np.sqrt(n_gwas) * R[scored]
    S = np.diag(s)
    K = X @ S @ X.T + sigma * R[np.ix_(scored, scored)]
    Kinv = np.linalg.pinv(K, rcond=1e-10, hermitian=True) if pinv else np.linalg.inv(K)
    return S @ X.T @ Kinv @ z_W


@pytest.mark.parametrize("sigma", [1.0, 1.7])
def test_posterior_mean_equals_dense_conditioning(sigma):
    m, n_gwas = 40, 20_000.0
    R = _ld(400, m, seed=1)
    scored = np.zeros(m, dtype=bool)
    scored[12:28] = True
    rng = np.random.default_rng(2)
    s = rng.gamma(0.5, 1e-4, size=m)
    z = rng.standard_normal(m) * 3
    eig = eigen_precompute(R, scored, eig_rtol=1e-12)
    assert eig.rank == scored.sum()  # full rank: the projection loses nothing
    y = project_z(eig, z[scored])
    got = posterior_mean_window(eig.G, y, s, n_gwas, sigma)
    want = _dense_posterior(R, scored, s, z[scored], n_gwas, sigma)
    # both float64; the dense inverse of a condition-~1e3 matrix bounds agreement near 1e-12
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_posterior_mean_rank_deficient_panel():
    """A panel with fewer samples than scored variants: z_W in the range of R_WW (as the model
    has it) and the pseudo-inverse conditioning agree with the projected form."""
    m, n_gwas, sigma = 50, 50_000.0, 1.2
    R = _ld(20, m, seed=3)
    scored = np.zeros(m, dtype=bool)
    scored[10:40] = True
    rng = np.random.default_rng(4)
    s = rng.gamma(0.5, 1e-4, size=m)
    # a draw from the model: z_W = sqrt(N) R_WC beta + e, e ~ N(0, sigma R_WW)
    lam, V = np.linalg.eigh(R[np.ix_(scored, scored)])
    e = V @ (np.sqrt(np.clip(lam, 0, None) * sigma) * rng.standard_normal(lam.size))
    z_W = np.sqrt(n_gwas) * R[scored] @ (np.sqrt(s) * rng.standard_normal(m)) + e
    eig = eigen_precompute(R, scored, eig_rtol=1e-10)
    assert eig.rank < scored.sum()
    got = posterior_mean_window(eig.G, project_z(eig, z_W), s, n_gwas, sigma)
    want = _dense_posterior(R, scored, s, z_W, n_gwas, sigma, pinv=True)
    # the pseudo-inverse drops eigenvalues below 1e-10 relative: agreement to ~1e-8 relative
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8 * np.abs(want).max())


def test_diagonal_model_is_the_full_model_when_sigma_is_diagonal():
    """With G^T diag(F) G diagonal (G = Q D, Q orthonormal columns, F constant) the per-direction
    closed form of the diagonal model equals the full model's Cholesky solve with G' for G."""
    rng = np.random.default_rng(5)
    C, r, n_gwas, sigma = 30, 8, 1e4, 1.3
    Q, _ = np.linalg.qr(rng.standard_normal((C, r)))
    G = Q * rng.uniform(0.5, 3.0, size=r)
    scale = rng.uniform(0.3, 2.0, size=r)
    s = np.full(C, 2e-4)
    y = rng.standard_normal(r) * 2
    diag = posterior_mean_window(G, y, s, n_gwas, sigma, scale=scale)
    full = posterior_mean_window(G * scale, y, s, n_gwas, sigma)
    np.testing.assert_allclose(diag, full, rtol=1e-12, atol=1e-14)
    # the "scaled" model: the full kernel with the scales applied to G
    scaled = posterior_mean_window(G, y, s, n_gwas, sigma, scale=scale, diagonal=False)
    np.testing.assert_allclose(scaled, full, rtol=1e-12, atol=1e-14)
    # and with a non-constant prior they differ (the test can fail)
    s2 = rng.gamma(0.5, 4e-4, size=C)
    assert not np.allclose(
        posterior_mean_window(G, y, s2, n_gwas, sigma, scale=scale),
        posterior_mean_window(G * scale, y, s2, n_gwas, sigma),
    )


def test_zero_prior_gives_zero_weights():
    rng = np.random.default_rng(6)
    G = rng.standard_normal((10, 4))
    out = posterior_mean_window(G, rng.standard_normal(4), np.zeros(10), 1e5, 1.0)
    assert np.array_equal(out, np.zeros(10))


# ------------------------------------------------------------------------------- prior files
def _variants():
    return pd.DataFrame(
        {"SNP": ["rs1", "rs2", "rs3"], "A1": ["A", "C", "G"], "A2": ["G", "T", "T"]}
    )


def test_prior_file_matches_by_snp_and_unordered_alleles(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("CHR SNP BP A1 A2 SNPVAR\n1 rs3 3 T G 3e-5\n1 rs1 1 A G 1e-5\n1 rs2 2 C T 2e-5\n")
    np.testing.assert_array_equal(read_prior_snpvar(p, _variants()), [1e-5, 2e-5, 3e-5])


def test_a_fit_folder_names_its_priors(tmp_path):
    """--prior FIT (the folder deepwas fit wrote) reads FIT/priors.tsv.gz; a folder without one
    is a one-line error."""
    import gzip

    fit = tmp_path / "fit"
    fit.mkdir()
    with gzip.open(fit / "priors.tsv.gz", "wt") as fh:
        fh.write("CHR SNP BP A1 A2 SNPVAR\n1 rs3 3 T G 3e-5\n1 rs1 1 A G 1e-5\n1 rs2 2 C T 2e-5\n")
    np.testing.assert_array_equal(read_prior_snpvar(fit, _variants()), [1e-5, 2e-5, 3e-5])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is a folder without a priors.tsv.gz"):
        read_prior_snpvar(tmp_path / "empty", _variants())


def test_prior_file_missing_variants(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("CHR SNP BP A1 A2 SNPVAR\n1 rs1 1 A G 1e-5\n1 rs3 3 G T 3e-5\n")
    with pytest.raises(InputError, match="1 of 3 LD-store variants have no SNPVAR"):
        read_prior_snpvar(p, _variants())  # rs2 is missing
    filled = read_prior_snpvar(p, _variants(), fill_missing="median")
    np.testing.assert_array_equal(filled, [1e-5, 2e-5, 3e-5])
    left = read_prior_snpvar(p, _variants(), fill_missing="nan")
    assert np.isnan(left[1]) and left[0] == 1e-5
    p.write_text("CHR SNP BP A1 A2 SNPVAR\n1 rs1 1 A G 1e-5\n1 rs2 2 C A 2e-5\n1 rs3 3 G T 3e-5\n")
    with pytest.raises(InputError, match="1 variants of the prior have other alleles"):
        read_prior_snpvar(p, _variants())  # rs2's alleles differ


def test_prior_file_bad_values(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("SNP SNPVAR\nrs1 1e-5\nrs2 -1\n")
    with pytest.raises(InputError, match=r"p.tsv:3, column .SNPVAR.*-1"):
        read_prior_snpvar(p, _variants())
    p.write_text("SNP VAR\nrs1 1e-5\n")
    with pytest.raises(InputError, match="needs columns SNP and SNPVAR"):
        read_prior_snpvar(p, _variants())


# ------------------------------------------------------------------------------------ scoring
def _panel(tmp_path: Path, rng, n=60, m=25):
    codes = rng.integers(0, 3, size=(n, m)).astype(float)
    codes[rng.random((n, m)) < 0.05] = np.nan
    variants = pd.DataFrame(
        {
            "CHR": 1,
            "SNP": [f"rs{j}" for j in range(m)],
            "BP": np.arange(m) * 100 + 1,
            "A1": ["A"] * m,
            "A2": ["G"] * m,
            "CM": 0.0,
        }
    )
    samples = pd.DataFrame({"FID": [f"f{i}" for i in range(n)], "IID": [f"i{i}" for i in range(n)]})
    prefix = tmp_path / "target"
    write_plink(prefix, codes, variants, samples)
    return prefix, codes, variants


def test_score_equals_dense_sum_with_flips_and_mean_imputation(tmp_path):
    rng = np.random.default_rng(7)
    prefix, codes, variants = _panel(tmp_path, rng)
    m = codes.shape[1]
    beta = rng.standard_normal(m)
    w = variants[["SNP", "A1", "A2"]].assign(BETA=beta)
    swap = np.arange(m) % 3 == 1
    w.loc[swap, ["A1", "A2"]] = w.loc[swap, ["A2", "A1"]].to_numpy()  # weights for A2 there
    w.loc[4, "A2"] = "C"  # allele mismatch: unmatched
    w = pd.concat(
        [w, pd.DataFrame({"SNP": ["rs_absent"], "A1": ["A"], "A2": ["G"], "BETA": [9.0]})]
    )
    w = w.sample(frac=1.0, random_state=1).reset_index(drop=True)  # order does not matter
    res = score_genotypes(prefix, w, chunk_variants=7, progress=False)
    # dense: the weight counts its own A1, i.e. 2 - dosage where swapped; missing -> column mean
    g = codes.copy()
    mean = np.nanmean(g, axis=0)
    g = np.where(np.isnan(g), mean, g)
    g_w = np.where(swap, 2.0 - g, g)
    use = np.ones(m, dtype=bool)
    use[4] = False
    want = g_w[:, use] @ beta[use]
    np.testing.assert_allclose(res.scores["SCORE"].to_numpy(), want, rtol=1e-12)
    assert (res.n_matched, res.n_flipped, res.n_unmatched) == (m - 1, int((swap & use).sum()), 2)
    np.testing.assert_array_equal(res.scores["N_VARIANTS"], (~np.isnan(codes[:, use])).sum(axis=1))


@pytest.mark.skipif(
    not (shutil.which("plink1.9") or shutil.which("plink")),
    reason="PLINK 1.9 is not installed (Debian: apt-get install plink1.9)",
)
def test_score_equals_plink_score_sum(tmp_path):
    """The README's claim that the weights are read by `plink --score` unchanged: PLINK 1.9's
    `--score W 2 4 6 header sum` on a weights file of `deepwas prs`'s columns (swapped alleles
    and missing genotypes included) gives deepwas score's SCORE (to PLINK's 6 printed digits)."""
    import subprocess

    rng = np.random.default_rng(11)
    prefix, codes, variants = _panel(tmp_path, rng)
    m = codes.shape[1]
    w = variants[["CHR", "SNP", "BP", "A1", "A2"]].assign(BETA=rng.standard_normal(m))
    swap = np.arange(m) % 3 == 1
    w.loc[swap, ["A1", "A2"]] = w.loc[swap, ["A2", "A1"]].to_numpy()
    path = tmp_path / "w.tsv"
    w.to_csv(path, sep="\t", index=False)
    res = score_genotypes(prefix, w, progress=False)
    exe = shutil.which("plink1.9") or shutil.which("plink")
    cmd = [exe, "--bfile", str(prefix), "--score", str(path), "2", "4", "6", "header", "sum"]
    subprocess.run([*cmd, "--out", str(tmp_path / "p")], check=True, capture_output=True)
    prof = pd.read_csv(tmp_path / "p.profile", sep=r"\s+", dtype={"FID": str, "IID": str})
    got = res.scores.merge(prof, on=["FID", "IID"])
    assert len(got) == len(res.scores) == codes.shape[0]
    np.testing.assert_allclose(got["SCORE"], got["SCORESUM"], rtol=1e-5, atol=1e-5)


def test_score_without_any_match(tmp_path):
    rng = np.random.default_rng(8)
    prefix, _, _ = _panel(tmp_path, rng)
    w = pd.DataFrame({"SNP": ["x"], "A1": ["A"], "A2": ["G"], "BETA": [1.0]})
    with pytest.raises(InputError, match="no variant of the weights table"):
        score_genotypes(prefix, w, progress=False)


# --------------------------------------------------------------------------------- the verbs
@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prs") / "sim"
    argv = ["simulate", "--out", str(out), "--length-mb", "3", "--n-ref", "150"]
    argv += ["--max-snps", "600", "--h2", "0.05", "--n-gwas", "50000", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def store(sim) -> Path:
    out = sim.parent / "ld"
    argv = ["ld", "--bfile", str(sim / "reference"), "--window-kb", "1000"]
    assert main([*argv, "--flank-kb", "1000", "--out", str(out), "--quiet"]) == 0
    return out


def _read_weights(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt") as fh:
        return pd.read_csv(fh, sep="\t")


def test_prs_and_score_end_to_end(sim, store, tmp_path, capsys):
    from deepwas.exact import fit_constant
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait

    out = tmp_path / "w.tsv.gz"
    argv = ["prs", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    assert main([*argv, "--ld-model", "full", "--out", str(out), "--quiet"]) == 0
    w = _read_weights(out)
    assert list(w.columns) == ["CHR", "SNP", "BP", "A1", "A2", "BETA"]
    meta = json.loads((tmp_path / "w.tsv.gz.json").read_text())
    assert meta["provenance"]["command"][:2] == ["deepwas", "prs"]
    assert meta["ld_model"] == "full"
    # dense check of each window: the weight of a variant is its posterior mean in the window
    # where it is scored, under the best constant prior with its sigma
    st = LDStore.open(store)
    trait = load_trait(sim / "sumstats.tsv.gz", st, ld_model="full", progress=False)
    c = fit_constant(trait)
    beta = np.zeros(st.n_variants)
    for tw in trait.windows:
        win = st.window(tw.index)
        R = np.asarray(win.R, np.float64)
        # the dense conditioning of beta_C on U^T z_W, U the store's kept eigenvectors of R_WW
        # (every scored variant is measured here, so the store's spectrum is the trait's)
        U = np.asarray(win.eigvecs, np.float64)
        X = np.sqrt(trait.n_gwas) * U.T @ R[win.scored_in_context]
        S = np.diag(np.full(win.n_context, c.snpvar))
        K = X @ S @ X.T + c.sigma * U.T @ R[win.scored_in_context, win.scored_in_context] @ U
        post = S @ X.T @ np.linalg.solve(K, U.T @ trait.z[tw.scored])
        beta[win.scored] = post[win.scored_in_context]
    af = st.variants["AF1"].to_numpy()
    by_snp = pd.Series(beta / np.sqrt(2 * af * (1 - af)), index=st.variants["SNP"])
    want = by_snp.reindex(w["SNP"]).to_numpy()
    # the file holds 7 significant digits; the store keeps R in float32 and G from R in float64
    np.testing.assert_allclose(w["BETA"], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert len(w) == st.n_variants  # every variant is scored in one window

    # score the in-sample cohort with the weights, against a dense product
    scores = tmp_path / "s.tsv"
    ref = sim / "reference"
    assert main(["score", "--bfile", str(ref), "--weights", str(out), "--out", str(scores)]) == 0
    got = pd.read_csv(scores, sep="\t")
    assert list(got.columns) == ["FID", "IID", "SCORE", "N_VARIANTS"]
    from deepwas.io.genotypes import read_plink

    panel = read_plink(ref)
    g = panel.dosages()
    g = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    b = pd.Series(w["BETA"].to_numpy(), index=w["SNP"]).reindex(panel.variants["SNP"]).fillna(0)
    want = g @ b.to_numpy()
    # the scores file holds 12 significant digits; sums of 600 terms of both signs
    np.testing.assert_allclose(got["SCORE"], want, rtol=1e-10, atol=1e-11 * np.abs(want).max())
    assert "matched" in capsys.readouterr().out


def test_prs_with_a_prior_file_and_the_diagonal_model(sim, store, tmp_path):
    truth = sim / "truth.tsv.gz"
    out = tmp_path / "w.tsv.gz"
    argv = ["prs", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    argv += ["--prior", str(truth), "--ld-model", "diagonal", "--sigma", "1", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    meta = json.loads((tmp_path / "w.tsv.gz.json").read_text())
    assert meta["ld_model"] == "diagonal" and meta["sigma"] == 1.0
    assert np.isfinite(_read_weights(out)["BETA"]).all()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prior", "MISSING"], "MISSING"),
        (["--sigma", "0"], "--sigma"),
        (["--prior", "SIM/annotations.tsv.gz"], "needs columns SNP and SNPVAR"),
    ],
)
def test_prs_bad_inputs(sim, store, tmp_path, capsys, extra, message):
    out = tmp_path / "w.tsv.gz"
    argv = ["prs", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    extra = [e.replace("SIM", str(sim)) for e in extra]
    assert main([*argv, *extra, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepwas: error:") and message in err[0]
    assert not out.exists()


def test_prs_reads_its_prior_file_before_the_projection(sim, store, tmp_path, capsys, monkeypatch):
    """A wrong --prior fails before the windows are projected (minutes at genome scale)."""
    import deepwas.ld.trait

    def never(*args, **kwargs):
        raise AssertionError("the windows were projected before the prior file was read")

    monkeypatch.setattr(deepwas.ld.trait, "prepare_trait", never)
    out = tmp_path / "w.tsv.gz"
    argv = ["prs", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    assert main([*argv, "--prior", str(tmp_path / "nope.tsv"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.tsv" in err[0]
    assert not out.exists()


def test_score_bad_weights(sim, tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("SNP A1 A2 WEIGHT\nrs1 A G 0.1\n")
    out = tmp_path / "s.tsv"
    argv = ["score", "--bfile", str(sim / "reference"), "--weights", str(bad), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no BETA column" in err[0]
    assert not out.exists()


def test_unmeasured_variants_get_their_posterior_mean(sim, store, tmp_path):
    """Sumstats without a third of the variants: the windows are re-projected for the measured
    scored sets, and every scored variant (measured or not) gets its posterior mean given the
    measured z-scores, checked against dense conditioning; --measured-only drops the others."""
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import prepare_trait
    from deepwas.prs import prs_weights

    st = LDStore.open(store)
    df, _ = read_sumstats(sim / "sumstats.tsv.gz")
    keep = np.random.default_rng(9).random(len(df)) < 0.67
    matched, _ = harmonize(df[keep].reset_index(drop=True), st.variants)
    trait = prepare_trait(st, matched, ld_model="full", progress=False)
    s = np.random.default_rng(10).gamma(0.5, 2e-4, size=st.n_variants)
    res = prs_weights(trait, st, s, sigma=1.3, progress=False)
    assert len(res.weights) == st.n_variants and (~res.weights["MEASURED"]).sum() > 100
    rtol = st.manifest["eigen"]["eig_rtol"]
    for tw in trait.windows:
        win = st.window(tw.index)
        R = np.asarray(win.R, np.float64)
        eig = eigen_precompute(R, tw.scored_in_context, eig_rtol=rtol)
        X = np.sqrt(trait.n_gwas) * eig.U.T @ R[tw.scored_in_context]
        S = np.diag(s[win.context])
        K = X @ S @ X.T + 1.3 * np.diag(eig.lam)  # U^T (sigma R_WW) U
        post = S @ X.T @ np.linalg.solve(K, eig.U.T @ trait.z[tw.scored])
        got = res.beta_std[win.scored]
        want = post[win.scored_in_context]
        # both float64 from the same float32 R: agreement to round-off of a condition-~1e6 solve
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9 * np.abs(want).max())
    only = prs_weights(trait, st, s, sigma=1.3, measured_only=True, progress=False)
    assert only.weights["MEASURED"].all() and len(only.weights) == int(keep.sum())


@pytest.mark.parametrize("ld_model", ["auto", "calibrated"])
def test_models_of_a_small_panel(sim, store, tmp_path, ld_model):
    """auto is "scaled" on a store with direction scales; its sigma, and the calibrated
    model's, is the diagonal model's (the constant prior's own when no prior is given)."""
    from deepwas.exact import fit_constant
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait

    out = tmp_path / "w.tsv.gz"
    argv = ["prs", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    assert main([*argv, "--ld-model", ld_model, "--out", str(out), "--quiet"]) == 0
    meta = json.loads((tmp_path / "w.tsv.gz.json").read_text())
    assert meta["ld_model"] == ("scaled" if ld_model == "auto" else ld_model)
    assert meta["n_variants"] == len(_read_weights(out))
    diag = load_trait(sim / "sumstats.tsv.gz", LDStore.open(store), ld_model="diagonal")
    assert meta["sigma"] == pytest.approx(fit_constant(diag).sigma, rel=1e-9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--chunk-variants", "0"],
            "option --chunk-variants: invalid value 0 (give an integer >= 1)",
        ),
        (["--bfile", "NOPE"], "PLINK file not found"),
    ],
)
def test_score_bad_flags(sim, tmp_path, capsys, extra, message):
    out = tmp_path / "s.tsv"
    w = tmp_path / "w.tsv"
    w.write_text("SNP A1 A2 BETA\nrs1 A G 0.1\n")
    argv = ["score", "--bfile", str(sim / "reference"), "--weights", str(w), "--out", str(out)]
    argv = [*argv, *[e.replace("NOPE", str(tmp_path / "nope")) for e in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_python_api_of_docs_prs(sim, store, tmp_path):
    """The Python example of docs/prs.md: run_prs -> write_weights -> score_genotypes."""
    import deepwas

    st = deepwas.LDStore.open(store)
    truth = deepwas.truth_table(sim / "truth.tsv.gz", st.variants)
    res = deepwas.run_prs(sim / "sumstats.tsv.gz", st, prior=truth, progress=False)
    assert res.ld_model == "scaled" and res.sigma > 0
    assert list(res.weights.columns[:6]) == ["CHR", "SNP", "BP", "A1", "A2", "BETA"]
    # per-allele = standardised / sqrt(2 p (1 - p)) with the panel's p
    af = res.weights["AF1"].to_numpy()
    np.testing.assert_allclose(
        res.weights["BETA"], res.weights["BETA_STD"] / np.sqrt(2 * af * (1 - af)), rtol=1e-12
    )
    deepwas.write_weights(res, tmp_path / "W.tsv.gz")
    scores = deepwas.score_genotypes(sim / "reference", tmp_path / "W.tsv.gz", progress=False)
    assert scores.n_matched == len(res.weights) and scores.n_unmatched == 0
    assert np.isfinite(scores.scores["SCORE"]).all()


def test_threaded_projection_equals_one_thread(sim, store, monkeypatch):
    """prepare_trait on two threads (partly measured scored sets are re-projected in NumPy)
    returns exactly what one thread does, window by window and in order, for the calibrated
    model's two views; with BLAS not single-threaded the library default is one thread."""
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import prepare_trait
    from deepwas.parallel import default_threads

    st = LDStore.open(store)
    df, _ = read_sumstats(sim / "sumstats.tsv.gz")
    keep = np.random.default_rng(3).random(len(df)) < 0.8
    matched, _ = harmonize(df[keep].reset_index(drop=True), st.variants)
    one = prepare_trait(st, matched, ld_model="calibrated", progress=False, threads=1)
    two = prepare_trait(st, matched, ld_model="calibrated", progress=False, threads=2)
    assert one.report == two.report and len(one.windows) == len(two.windows) > 1
    for a, b in zip(
        one.windows + one.calibration.windows, two.windows + two.calibration.windows, strict=True
    ):
        assert a.index == b.index
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.G, b.G)
        assert a.const == b.const
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert default_threads() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert default_threads() >= 1


def test_spilled_projection_gives_the_same_results(sim, store):
    """With a spill budget of 0 every re-projected window's G goes to a temporary file and is
    read back on use: the same G, NLLs, constant fit and PRS weights, bit for bit; the files go
    when the trait does."""
    import gc

    import torch

    from deepwas.exact import fit_constant, total_nll
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import prepare_trait
    from deepwas.linalg.spill import SpilledArray
    from deepwas.prs import prs_weights

    st = LDStore.open(store)
    df, _ = read_sumstats(sim / "sumstats.tsv.gz")
    keep = np.random.default_rng(5).random(len(df)) < 0.8
    matched, _ = harmonize(df[keep].reset_index(drop=True), st.variants)
    kw = dict(ld_model="calibrated", progress=False, threads=1)
    mem = prepare_trait(st, matched, spill_bytes=None, **kw)
    disk = prepare_trait(st, matched, spill_bytes=0, **kw)
    assert any("temporary files" in line for line in disk.report)
    views = (mem.windows + mem.calibration.windows, disk.windows + disk.calibration.windows)
    pairs = list(zip(*views, strict=True))
    assert all(isinstance(b.G, SpilledArray) for _, b in pairs)
    assert any(b.G.shape[1] < b.G._rank for _, b in pairs)  # leading directions: a prefix
    for a, b in pairs:
        assert a.G.shape == b.G.shape
        np.testing.assert_array_equal(a.G, np.asarray(b.G))
        np.testing.assert_array_equal(a.G.T, b.G.T)
        np.testing.assert_array_equal(a.G[3:5, 1], b.G[3:5, 1])
    log_s = torch.from_numpy(np.random.default_rng(6).normal(-9.0, 1.0, st.n_variants))
    for a, b in ((mem, disk), (mem.calibration, disk.calibration)):
        assert float(total_nll(a, log_s, 1.2)) == float(total_nll(b, log_s, 1.2))
    assert fit_constant(mem.calibration).h2 == fit_constant(disk.calibration).h2
    s = np.random.default_rng(7).gamma(0.5, 2e-4, size=st.n_variants)
    w_mem = prs_weights(mem.calibration, st, s, sigma=1.1, progress=False).weights
    w_disk = prs_weights(disk.calibration, st, s, sigma=1.1, progress=False).weights
    pd.testing.assert_frame_equal(w_mem, w_disk)
    folder = pairs[0][1].G.path.parent
    assert folder.is_dir()
    del disk, pairs, views, a, b
    gc.collect()
    assert not folder.exists()
