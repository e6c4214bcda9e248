"""Tests of deepwas.ld.ukbb: importing UK Biobank ("Alkes") LD matrices into an LD store."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from deepwas.errors import InputError, NumericalError
from deepwas.ld.store import LDStore
from deepwas.ld.ukbb import import_ukbb_ld

CHROM = 7
# 60 variants on one chromosome over 5 Mb; a few sit exactly on region and middle boundaries.
EDGE_BP = [1, 1_000_000, 1_000_001, 2_000_000, 2_000_001, 3_000_000, 3_000_001, 4_999_999]
REGION_STARTS = [1, 1_000_001, 2_000_001]  # chr7_1_3000001, chr7_1000001_4000001, ...


def _truth(n: int = 60, n_samples: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Variants and their true correlation matrix, from smoothed random genotypes."""
    rng = np.random.default_rng(seed)
    rest = rng.choice(np.arange(2, 5_000_000), n - len(EDGE_BP), replace=False)
    bp = np.sort(np.concatenate([EDGE_BP, rest]))
    # LD decaying with index distance: a moving average of independent latent columns
    latent = rng.normal(size=(n_samples, n + 4))
    X = sum(latent[:, k : k + n] for k in range(5)) + 0.5 * rng.normal(size=(n_samples, n))
    R = np.corrcoef(X, rowvar=False)
    alleles = rng.choice(list("ACGT"), size=(n, 2))
    variants = pd.DataFrame(
        {
            "SNP": [f"rs{i + 100}" for i in range(n)],
            "CHR": CHROM,
            "BP": bp,
            "A1": alleles[:, 0],
            "A2": np.where(alleles[:, 1] == alleles[:, 0], "T", alleles[:, 1]),
        }
    )
    return variants, R


def _write_region(
    folder: Path,
    variants: pd.DataFrame,
    R: np.ndarray,
    start: int,
    *,
    rows: np.ndarray | None = None,
    chrom_text: str | None = None,
    chrom: int = CHROM,
) -> str:
    """Write chrN_START_END.npz (upper triangle, 0.5 diagonal) + .gz as the UK Biobank files."""
    end = start + 3_000_000
    if rows is None:
        rows = np.flatnonzero((variants["BP"] >= start) & (variants["BP"] < end))
    name = f"chr{chrom}_{start}_{end}"
    sub = R[np.ix_(rows, rows)]
    upper = np.triu(sub, k=1) + 0.5 * np.eye(len(rows))
    sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(upper))
    v = variants.iloc[rows]
    table = pd.DataFrame(
        {
            "rsid": v["SNP"],
            "chromosome": chrom_text or f"{chrom:02d}",  # the distributed files zero-pad
            "position": v["BP"],
            "allele1": v["A1"],
            "allele2": v["A2"],
        }
    )
    with gzip.open(folder / f"{name}.gz", "wt") as fh:
        table.to_csv(fh, sep="\t", index=False)
    return name


@pytest.fixture
def ukbb(tmp_path) -> tuple[Path, pd.DataFrame, np.ndarray]:
    variants, R = _truth()
    folder = tmp_path / "ukbb"
    folder.mkdir()
    for start in REGION_STARTS:
        rows = np.flatnonzero((variants["BP"] >= start) & (variants["BP"] < start + 3_000_000))
        if start == 1_000_001:  # file rows need not be in position order
            rows = np.random.default_rng(1).permutation(rows)
        _write_region(folder, variants, R, start, rows=rows)
    return folder, variants, R


def _check_store(store: LDStore, variants: pd.DataFrame, R: np.ndarray, shrinkage: float = 0.0):
    key = variants["SNP"].to_numpy()
    pos = pd.Index(key).get_indexer(store.variants["SNP"].to_numpy())
    assert (pos >= 0).all()
    scored = np.zeros(store.n_variants, dtype=int)
    for w in store:
        truth = R[np.ix_(pos[w.context], pos[w.context])] * (1 - shrinkage)
        np.fill_diagonal(truth, 1.0)
        # float32 storage: |error| <= 2^-24 * |R| < 1e-7
        np.testing.assert_allclose(w.R, truth, atol=1e-7, rtol=0)
        scored[w.scored] += 1
    np.testing.assert_array_equal(scored, 1)  # the scored sets partition the variants
    return pos


def test_import_reproduces_true_ld(ukbb, tmp_path):
    folder, variants, R = ukbb
    store = import_ukbb_ld(folder, tmp_path / "store", progress=False)
    reopened = LDStore.open(tmp_path / "store")
    assert reopened.n_variants == 60 and reopened.n_windows == 3
    # store order is by position; every variant kept, alleles as allele1 -> A1
    pd.testing.assert_frame_equal(
        reopened.variants[["CHR", "SNP", "BP", "A1", "A2"]],
        variants[["CHR", "SNP", "BP", "A1", "A2"]].astype({"CHR": np.int64}),
        check_dtype=False,
    )
    assert reopened.variants["AF1"].isna().all() and reopened.variants["CM"].isna().all()
    _check_store(reopened, variants, R)
    bp = reopened.variants["BP"].to_numpy()
    w = reopened.windows
    # region k scores [START + 1e6, START + 2e6), the first from the start, the last to the end
    first, middle, last = (bp[s:e] for s, e in zip(w.scored_first, w.scored_stop, strict=True))
    assert first.min() == 1 and first.max() == 2_000_000
    assert middle.min() == 2_000_001 and middle.max() == 3_000_000
    assert last.min() == 3_000_001 and last.max() == 4_999_999
    assert w[["start", "stop"]].to_numpy().tolist() == [
        [1, 2_000_001],
        [2_000_001, 3_000_001],
        [3_000_001, 5_000_001],
    ]
    # contexts are whole regions: [START, START + 3 Mb)
    for (cf, cs), start in zip(
        w[["context_first", "context_stop"]].to_numpy(), REGION_STARTS, strict=True
    ):
        inside = np.flatnonzero((bp >= start) & (bp < start + 3_000_000))
        assert (cf, cs) == (inside[0], inside[-1] + 1)
    src = store.manifest["source"]
    assert src["kind"] == "ukbb-npz" and src["n_regions"] == 3
    assert src["n_dropped_gap"] == 0 and src["n_dropped_unscored"] == 0
    assert src["n_variants_kept"] == 60
    assert store.manifest["ld"]["shrinkage"] == 0.0


def test_shrinkage_and_chrom_filter(ukbb, tmp_path):
    folder, variants, R = ukbb
    store = import_ukbb_ld(folder, tmp_path / "s", chroms=[CHROM], shrinkage=0.2, progress=False)
    _check_store(store, variants, R, shrinkage=0.2)
    with pytest.raises(InputError, match=r"no LD region on chromosome\(s\) \[1\]"):
        import_ukbb_ld(folder, tmp_path / "s2", chroms=[1], progress=False)
    with pytest.raises(InputError, match=r"option --shrinkage: invalid value 1\.5 .*\[0, 1\)"):
        import_ukbb_ld(folder, tmp_path / "s3", shrinkage=1.5, progress=False)


def test_variant_missing_from_one_region_is_dropped(tmp_path):
    variants, R = _truth(seed=3)
    folder = tmp_path / "ukbb"
    folder.mkdir()
    bp = variants["BP"].to_numpy()
    # a variant at 2.5 Mb lies inside all three regions; leave it out of the first one's file
    hole = int(np.flatnonzero(bp > 2_500_000)[0])
    for start in REGION_STARTS:
        rows = np.flatnonzero((bp >= start) & (bp < start + 3_000_000))
        if start == 1:
            rows = rows[rows != hole]
        _write_region(folder, variants, R, start, rows=rows)
    store = import_ukbb_ld(folder, tmp_path / "store", progress=False)
    assert store.n_variants == 59
    assert variants["SNP"].iloc[hole] not in set(store.variants["SNP"])
    assert store.manifest["source"]["n_dropped_gap"] == 1
    _check_store(store, variants, R)


def test_gap_in_region_grid_is_split(tmp_path):
    # Regions at 1 and 3,000,001 only: the boundary lies halfway between centres (1.5 and
    # 4.5 Mb), at 3,000,001; each variant is scored by the region holding it.
    variants, R = _truth(seed=4)
    folder = tmp_path / "ukbb"
    folder.mkdir()
    bp = variants["BP"].to_numpy()
    for start in (1, 3_000_001):
        _write_region(folder, variants, R, start)
    store = import_ukbb_ld(folder, tmp_path / "store", progress=False)
    assert store.n_windows == 2 and store.n_variants == 60
    w0 = store.window(0)
    assert store.variants["BP"].iloc[w0.scored].max() == bp[bp < 3_000_001].max()
    _check_store(store, variants, R)


def test_two_chromosomes(tmp_path):
    folder = tmp_path / "ukbb"
    folder.mkdir()
    truths = {}
    for chrom, seed in ((8, 5), (7, 6)):
        variants, R = _truth(seed=seed)
        variants["CHR"] = chrom
        variants["SNP"] = [f"{s}_{chrom}" for s in variants["SNP"]]
        truths[chrom] = (variants, R)
        for start in (1, 2_000_001):
            _write_region(folder, variants, R, start, chrom=chrom)
    store = import_ukbb_ld(folder, tmp_path / "store", progress=False)
    assert store.windows["CHR"].tolist() == [7, 7, 8, 8]
    assert store.variants["CHR"].tolist() == [7] * 60 + [8] * 60
    variants = pd.concat([truths[7][0], truths[8][0]], ignore_index=True)
    R = np.zeros((120, 120))
    R[:60, :60], R[60:, 60:] = truths[7][1], truths[8][1]
    _check_store(store, variants, R)
    only8 = import_ukbb_ld(folder, tmp_path / "only8", chroms=[8], progress=False)
    assert only8.n_variants == 60 and set(only8.variants["CHR"]) == {8}


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match=r"empty: no UK Biobank LD matrices"):
        import_ukbb_ld(tmp_path / "empty", tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="UK Biobank LD folder not found"):
        import_ukbb_ld(tmp_path / "nowhere", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_chromosome_labels_follow_the_one_rule(ukbb, tmp_path):
    """The file name's and the CHR column's chromosome are read by io.variants.chrom_code."""
    folder, variants, R = ukbb
    _write_region(folder, variants, R, 1, chrom_text="chr7")  # as the other files' '07'
    _check_store(import_ukbb_ld(folder, tmp_path / "s", progress=False), variants, R)
    (folder / "chr0_1_3000001.npz").write_bytes(b"")
    with pytest.raises(
        InputError, match=r"chr0_1_3000001\.npz: unrecognised chromosome '0' in the file name"
    ):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)


def test_row_count_mismatch_names_the_file(ukbb, tmp_path):
    folder, variants, R = ukbb
    name = f"chr{CHROM}_1000001_4000001"
    table = pd.read_csv(folder / f"{name}.gz", sep=r"\s+")
    with gzip.open(folder / f"{name}.gz", "wt") as fh:
        table.iloc[:-1].to_csv(fh, sep="\t", index=False)
    with pytest.raises(InputError, match=rf"{name}\.npz: the LD matrix has \d+ rows but its"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_non_finite_entries(ukbb, tmp_path):
    folder, variants, R = ukbb
    name = f"chr{CHROM}_2000001_5000001"
    A = sparse.load_npz(folder / f"{name}.npz").toarray()
    A[0, 3] = np.nan
    sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(A))
    with pytest.raises(NumericalError, match=rf"{name}\.npz: LD matrix has non-finite entries"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_other_bad_inputs(ukbb, tmp_path):
    folder, variants, R = ukbb
    name = f"chr{CHROM}_1_3000001"
    # a missing variant list
    gz = (folder / f"{name}.gz").read_bytes()
    (folder / f"{name}.gz").unlink()
    with pytest.raises(InputError, match=rf"{name}\.npz: the variant list {name}\.gz .* missing"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    # a variant list without the allele columns
    with gzip.open(folder / f"{name}.gz", "wt") as fh:
        fh.write("rsid chromosome position\nrs1 7 5\n")
    with pytest.raises(InputError, match=r"column 'allele1': variant list lacks columns"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    (folder / f"{name}.gz").write_bytes(gz)
    # a variant list of another chromosome
    _write_region(folder, variants, R, 1, chrom_text="8")
    with pytest.raises(InputError, match=rf"{name}\.gz:2, column 'chromosome': chromosome '8'"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    _write_region(folder, variants, R, 1)
    # a diagonal that is neither 0.5 nor 1
    A = sparse.load_npz(folder / f"{name}.npz").toarray()
    np.fill_diagonal(A, 0.3)
    sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(A))
    with pytest.raises(NumericalError, match=r"diagonal entry 0 is 0\.3"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    # a full matrix must have a unit diagonal
    full = A + A.T
    np.fill_diagonal(full, 0.5)
    sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(full))
    with pytest.raises(NumericalError, match=r"diagonal entry 0 is 0\.5; a full LD matrix has 1"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    # integer entries are not correlations
    sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(np.eye(len(A), dtype=np.int64)))
    with pytest.raises(InputError, match=r"LD matrix holds int64 values, not correlations"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    # not a sparse npz at all
    np.savez(folder / f"{name}.npz", x=np.zeros(3))
    with pytest.raises(InputError, match=rf"{name}\.npz: not a scipy\.sparse \.npz matrix"):
        import_ukbb_ld(folder, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_full_symmetric_and_unit_diagonal_files_are_accepted(ukbb, tmp_path):
    folder, variants, R = ukbb
    for k, start in enumerate(REGION_STARTS):
        name = f"chr{CHROM}_{start}_{start + 3_000_000}"
        listed = pd.read_csv(folder / f"{name}.gz", sep=r"\s+")["rsid"]
        rows = pd.Index(variants["SNP"]).get_indexer(listed)  # file order (may be shuffled)
        sub = R[np.ix_(rows, rows)]
        stored = sub if k == 0 else np.triu(sub)  # full matrix, or upper triangle with 1s
        sparse.save_npz(folder / f"{name}.npz", sparse.csr_matrix(stored))
    store = import_ukbb_ld(folder, tmp_path / "store", progress=False)
    _check_store(store, variants, R)
