"""Tests of deepwas.io.genotypes: PLINK and VCF readers, the PLINK writer, standardisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas.errors import InputError
from deepwas.io.genotypes import (
    GenotypePanel,
    read_genotypes,
    read_plink,
    read_vcf,
    standardize,
    write_plink,
)


def _random_panel(
    rng: np.random.Generator, n: int = 12, m: int = 9
) -> tuple[np.ndarray, pd.DataFrame]:
    dos = rng.integers(0, 3, size=(n, m)).astype(np.float64)
    dos[rng.random((n, m)) < 0.1] = np.nan
    variants = pd.DataFrame(
        {
            "CHR": [1, 1, 1, 2, 2, 22, 22, 23, 23][:m],
            "SNP": [f"rs{i}" for i in range(m)],
            "BP": np.arange(1, m + 1) * 1000,
            "A1": list("ACGTACGTA")[:m],
            "A2": list("GTACGTACG")[:m],
            "CM": np.linspace(0.0, 1.0, m),
        }
    )
    return dos, variants


def _assert_same_dosages(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.nan_to_num(a, nan=-9), np.nan_to_num(b, nan=-9))


def test_write_read_plink_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    dos, variants = _random_panel(rng)
    samples = pd.DataFrame(
        {"FID": [f"f{i}" for i in range(12)], "IID": [f"i{i}" for i in range(12)]}
    )
    write_plink(tmp_path / "panel", dos, variants, samples)
    for prefix in (tmp_path / "panel", tmp_path / "panel.bed", str(tmp_path / "panel")):
        panel = read_plink(prefix)
        assert isinstance(panel, GenotypePanel)
        assert panel.kind == "plink"
        assert (panel.n_samples, panel.n_variants) == (12, 9)
        _assert_same_dosages(panel.dosages(), dos)
    assert list(panel.variants.columns) == ["CHR", "SNP", "BP", "A1", "A2", "CM", "AF1"]
    for col in ("CHR", "SNP", "BP", "A1", "A2"):
        assert panel.variants[col].tolist() == variants[col].tolist(), col
    np.testing.assert_allclose(panel.variants["CM"], variants["CM"], rtol=1e-6)  # .bim text, 1e-6
    assert panel.variants["AF1"].isna().all()
    assert panel.samples["FID"].tolist() == samples["FID"].tolist()
    assert panel.samples["IID"].tolist() == samples["IID"].tolist()
    # selections: integer positions (in the order given), masks, slices, float32
    _assert_same_dosages(panel.dosages(np.array([5, 0, 3])), dos[:, [5, 0, 3]])
    mask = np.zeros(9, dtype=bool)
    mask[[1, 7]] = True
    _assert_same_dosages(panel.dosages(mask), dos[:, mask])
    _assert_same_dosages(panel.dosages(slice(2, 6)), dos[:, 2:6])
    assert panel.dosages(dtype=np.float32).dtype == np.float32
    assert read_genotypes(tmp_path / "panel.bed").n_variants == 9
    assert not list(tmp_path.glob(".*"))  # no temporary files left beside the output


def test_write_plink_default_samples_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    dos, variants = _random_panel(rng)
    write_plink(tmp_path / "d", dos, variants)
    assert read_plink(tmp_path / "d").samples["IID"].tolist()[:2] == ["sample1", "sample2"]
    bad = dos.copy()
    bad[0, 0] = 0.5
    with pytest.raises(InputError, match="0, 1, 2 or NaN"):
        write_plink(tmp_path / "e", bad, variants)
    with pytest.raises(InputError, match="variants for"):
        write_plink(tmp_path / "e", dos[:, :3], variants)
    assert not (tmp_path / "e.bed").exists()


def test_read_plink_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nothere\.bed.*PLINK file not found"):
        read_plink(tmp_path / "nothere")


VCF_HEADER = """##fileformat=VCFv4.2
##contig=<ID=22>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\ts4
"""


def test_read_vcf_hand_written(tmp_path):
    body = [
        "chr22\t100\trs1\tA\tG\t.\t.\t.\tGT\t0|1\t1|1\t0/0\t./.",  # phased, unphased, missing
        "chr22\t150\trs2\tC\tT,G\t.\t.\t.\tGT\t0|1\t1|2\t0/0\t0/0",  # multi-allelic: skipped
        "chr22\t200\trs3\tCA\tC\t.\t.\t.\tGT\t0|1\t1|1\t0/0\t0/0",  # indel: skipped
        "chr22\t300\t.\tc\tt\t.\t.\t.\tGT\t1/0\t0|0\t1/1\t0/.",  # no ID; half-missing call
    ]
    f = tmp_path / "tiny.vcf"
    f.write_text(VCF_HEADER + "\n".join(body) + "\n")
    with pytest.warns(
        UserWarning, match=r"skipped 2 of 4 records \(1 multi-allelic, 1 not a biallelic SNV\)"
    ):
        panel = read_vcf(f)
    assert panel.kind == "vcf"
    assert panel.samples["IID"].tolist() == ["s1", "s2", "s3", "s4"]
    assert panel.samples["FID"].tolist() == ["s1", "s2", "s3", "s4"]
    v = panel.variants
    assert v["SNP"].tolist() == ["rs1", "22:300:C:T"]
    assert v["CHR"].tolist() == [22, 22]
    assert v["BP"].tolist() == [100, 300]
    assert v["A1"].tolist() == ["G", "T"]  # ALT is counted
    assert v["A2"].tolist() == ["A", "C"]
    expected = np.array([[1, 1], [2, 0], [0, 2], [np.nan, np.nan]])  # hand-counted ALT copies
    _assert_same_dosages(panel.dosages(), expected)
    _assert_same_dosages(panel.dosages(np.array([1])), expected[:, [1]])


def test_read_vcf_errors(tmp_path):
    with pytest.raises(InputError, match="VCF file not found"):
        read_vcf(tmp_path / "none.vcf")
    f = tmp_path / "indels.vcf"
    f.write_text(VCF_HEADER + "22\t200\trs3\tCA\tC\t.\t.\t.\tGT\t0|1\t1|1\t0/0\t0/0\n")
    with (
        pytest.warns(UserWarning, match="skipped 1"),
        pytest.raises(InputError, match="no biallelic SNV"),
    ):
        read_vcf(f)


def test_vcf_and_plink_agree(tmp_path):
    rng = np.random.default_rng(2)
    n, m = 15, 30
    dos = rng.integers(0, 3, size=(n, m)).astype(np.float64)
    dos[rng.random((n, m)) < 0.05] = np.nan
    ref = rng.choice(list("ACGT"), size=m)
    alt = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[r] for r in ref])
    variants = pd.DataFrame(
        {
            "CHR": 22,
            "SNP": [f"rs{j}" for j in range(m)],
            "BP": 1000 + 10 * np.arange(m),
            "A1": alt,
            "A2": ref,
        }
    )
    names = [f"id{i}" for i in range(n)]
    write_plink(tmp_path / "p", dos, variants, pd.DataFrame({"FID": names, "IID": names}))

    def gt(d: float, phased: bool) -> str:
        if np.isnan(d):
            return ".|." if phased else "./."
        a, b = {0: (0, 0), 1: (1, 0), 2: (1, 1)}[int(d)]
        return f"{a}|{b}" if phased else f"{a}/{b}"

    lines = [VCF_HEADER.replace("\ts1\ts2\ts3\ts4", "".join(f"\t{s}" for s in names))]
    for j in range(m):
        calls = "\t".join(gt(dos[i, j], phased=(i + j) % 2 == 0) for i in range(n))
        lines.append(f"22\t{1000 + 10 * j}\trs{j}\t{ref[j]}\t{alt[j]}\t.\t.\t.\tGT\t{calls}\n")
    (tmp_path / "p.vcf").write_text("".join(lines))
    from_vcf = read_genotypes(tmp_path / "p.vcf")
    from_plink = read_genotypes(tmp_path / "p")
    assert from_vcf.kind == "vcf" and from_plink.kind == "plink"
    _assert_same_dosages(from_vcf.dosages(), from_plink.dosages())
    _assert_same_dosages(from_vcf.dosages(), dos)
    for col in ("CHR", "SNP", "BP", "A1", "A2"):
        assert from_vcf.variants[col].tolist() == from_plink.variants[col].tolist(), col
    assert from_vcf.samples["IID"].tolist() == from_plink.samples["IID"].tolist()


def test_standardize():
    rng = np.random.default_rng(3)
    dos = rng.integers(0, 3, size=(50, 20)).astype(np.float64)
    dos[rng.random(dos.shape) < 0.1] = np.nan
    dos[:3, 0] = [0, 1, 2]  # every column polymorphic
    X, af1 = standardize(dos)
    assert X.shape == dos.shape and X.dtype == np.float64
    # exact up to round-off: float64 sums of 50 terms, 1e-12
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((X**2).mean(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(af1, np.nanmean(dos, axis=0) / 2, rtol=1e-12)
    # missing calls are imputed by the observed mean, i.e. 0 after centring
    assert np.all(X[np.isnan(dos)] == 0.0)
    # reference: impute, centre, divide by the population sd
    imputed = np.where(np.isnan(dos), np.nanmean(dos, axis=0), dos)
    ref = (imputed - imputed.mean(axis=0)) / imputed.std(axis=0)
    np.testing.assert_allclose(X, ref, atol=1e-12)
    assert not np.isnan(dos).all()  # input untouched


def test_standardize_refuses_monomorphic():
    dos = np.array([[0, 1, 2, np.nan], [1, 1, 0, np.nan], [2, 1, 1, np.nan]], dtype=float)
    with pytest.raises(ValueError, match=r"2 monomorphic .*columns 1, 3"):
        standardize(dos)


def test_from_dosages_in_memory_panel():
    rng = np.random.default_rng(4)
    dos, variants = _random_panel(rng)
    panel = GenotypePanel.from_dosages(dos, variants.assign(A1=variants["A1"].str.lower()))
    assert panel.kind == "memory" and (panel.n_samples, panel.n_variants) == (12, 9)
    _assert_same_dosages(panel.dosages(), dos)
    _assert_same_dosages(panel.dosages(np.array([8, 2])), dos[:, [8, 2]])
    assert panel.variants["A1"].tolist() == variants["A1"].tolist()  # upper-cased
    assert panel.variants["CHR"].tolist() == variants["CHR"].tolist()
    with pytest.raises(InputError, match="variants lack columns"):
        GenotypePanel.from_dosages(dos, variants.drop(columns="A2"))
    with pytest.raises(InputError, match="samples for 12 dosage rows"):
        GenotypePanel.from_dosages(dos, variants, pd.DataFrame({"FID": ["a"], "IID": ["a"]}))


def test_read_plink_bad_chromosome(tmp_path):
    rng = np.random.default_rng(5)
    dos, variants = _random_panel(rng)
    write_plink(tmp_path / "c", dos, variants)
    bim = tmp_path / "c.bim"
    lines = bim.read_text().splitlines()
    lines[3] = "chrUn" + lines[3][lines[3].index("\t") :]
    bim.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        InputError, match=r"c\.bim:4, column 'CHR': unrecognised chromosome 'chrUn'"
    ):
        read_plink(tmp_path / "c")


def _write_split(tmp_path, dos, variants, samples=None, *, name="split") -> None:
    """Write the panel as one PLINK fileset per chromosome: name.1, name.2, name.22, name.X."""
    chrom = variants["CHR"].to_numpy()
    for c in np.unique(chrom):
        on = chrom == c
        label = {23: "X"}.get(int(c), str(c))
        write_plink(tmp_path / f"{name}.{label}", dos[:, on], variants[on], samples)


def test_read_plink_split_by_chromosome(tmp_path):
    rng = np.random.default_rng(5)
    dos, variants = _random_panel(rng)  # chromosomes 1, 1, 1, 2, 2, 22, 22, X, X
    write_plink(tmp_path / "whole", dos, variants)
    _write_split(tmp_path, dos, variants)
    whole = read_plink(tmp_path / "whole")
    for prefix in (tmp_path / "split.@", f"{tmp_path}/split.@.bed"):
        split = read_plink(prefix)
        assert split.kind == "plink" and split.source == str(tmp_path / "split.@")
        pd.testing.assert_frame_equal(split.variants, whole.variants)
        pd.testing.assert_frame_equal(split.samples, whole.samples)
        _assert_same_dosages(split.dosages(), dos)
        # a selection across files, in any order
        idx = np.array([8, 0, 5, 3, 4, 1])
        _assert_same_dosages(split.dosages(idx, dtype=np.float32), dos[:, idx])
        _assert_same_dosages(split.dosages(np.array([], dtype=int)), dos[:, :0])
    assert sorted(split.files) == sorted(
        f"split.{c}.{e}" for c in ("1", "2", "22", "X") for e in ("bed", "bim", "fam")
    )
    assert split.files["split.X.bim"] == tmp_path / "split.X.bim"
    assert sorted(whole.files) == ["bed", "bim", "fam"]
    # chroms: only those filesets are read; read_genotypes passes it on
    part = read_genotypes(tmp_path / "split.@", chroms=[2, 23])
    assert part.variants["CHR"].tolist() == [2, 2, 23, 23]
    _assert_same_dosages(part.dosages(), dos[:, [3, 4, 7, 8]])
    assert len(part.files) == 6
    # without '@' chroms is ignored (the LD builder filters variants itself)
    assert read_plink(tmp_path / "whole", chroms=[2]).n_variants == 9


def test_read_plink_split_errors(tmp_path):
    rng = np.random.default_rng(6)
    dos, variants = _random_panel(rng)
    with pytest.raises(InputError, match=r"split\.1\.bed.*no PLINK fileset matches .*split\.@"):
        read_plink(tmp_path / "split.@")
    _write_split(tmp_path, dos, variants)
    with pytest.raises(InputError, match=r"no PLINK fileset matches .* for chromosome\(s\) \[5\]"):
        read_plink(tmp_path / "split.@", chroms=[5])
    # chromosome 2's samples in another order
    on2 = variants["CHR"].to_numpy() == 2
    names = [f"sample{i + 1}" for i in range(12)][::-1]
    write_plink(
        tmp_path / "split.2",
        dos[::-1][:, on2],
        variants[on2],
        pd.DataFrame({"FID": names, "IID": names}),
    )
    with pytest.raises(
        InputError, match=r"split\.2\.fam.*its samples differ from those of .*split\.1\.fam"
    ):
        read_plink(tmp_path / "split.@")
    assert read_plink(tmp_path / "split.@", chroms=[1, 22]).n_variants == 5
    # chromosome X under two names
    on_x = variants["CHR"].to_numpy() == 23
    write_plink(tmp_path / "split.23", dos[:, on_x], variants[on_x])
    with pytest.raises(InputError, match=r"chromosome X has two filesets: .*split\.X\.bed and"):
        read_plink(tmp_path / "split.@", chroms=[23])


def test_read_plink_split_reads_labels_by_the_one_rule(tmp_path):
    """'@' matches any label io.variants.chrom_code recognises (chr prefix, case, leading zero);
    files whose '@' part is no chromosome are ignored; every '@' stands for the same label."""
    rng = np.random.default_rng(7)
    dos, variants = _random_panel(rng)  # chromosomes 1, 1, 1, 2, 2, 22, 22, X, X
    chrom = variants["CHR"].to_numpy()
    for c, label in [(1, "chr01"), (2, "2"), (22, "chr22"), (23, "x")]:
        on = chrom == c
        write_plink(tmp_path / f"ref.{label}.d{label}", dos[:, on], variants[on])
    write_plink(tmp_path / "ref.all.dall", dos, variants)  # not a chromosome: ignored
    write_plink(tmp_path / "ref.3.d4", dos, variants)  # the two '@' differ: ignored
    split = read_plink(tmp_path / "ref.@.d@")
    pd.testing.assert_frame_equal(split.variants, read_plink(tmp_path / "ref.all.dall").variants)
    _assert_same_dosages(split.dosages(), dos)
    assert read_plink(tmp_path / "ref.@.d@", chroms=[23]).variants["CHR"].tolist() == [23, 23]
    write_plink(tmp_path / "ref.X.dX", dos[:, chrom == 23], variants[chrom == 23])
    with pytest.raises(InputError, match=r"chromosome X has two filesets: .*ref\.X\.dX\.bed and"):
        read_plink(tmp_path / "ref.@.d@")


def test_read_vcf_compressed_twice(tmp_path):
    """Debian gzips the files under /usr/share/doc again, so the shapeit4-example package ships
    reference.bcf.gz, a BCF inside gzip, which htslib cannot open: say so and how to fix it."""
    import gzip

    f = tmp_path / "ok.vcf"
    f.write_text(VCF_HEADER + "22\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\t./.\n")
    once = gzip.compress(f.read_bytes())
    (tmp_path / "ok.vcf.gz").write_bytes(once)
    assert read_vcf(tmp_path / "ok.vcf.gz").n_variants == 1
    (tmp_path / "twice.bcf.gz").write_bytes(gzip.compress(once))
    with pytest.raises(
        InputError,
        match=r"twice\.bcf\.gz: cannot open VCF: the file is gzip-compressed twice .*"
        r"gunzip -c twice\.bcf\.gz > twice\.bcf",
    ):
        read_vcf(tmp_path / "twice.bcf.gz")
