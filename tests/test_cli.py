"""The command line end to end, in-process (``main(argv)``), on a small simulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas.cli import main


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "sim"
    argv = [
        "simulate",
        "--out",
        str(out),
        "--length-mb",
        "3",
        "--n-ref",
        "150",
        "--max-snps",
        "900",
        "--h2",
        "0.02",
        "--n-gwas",
        "50000",
        "--seed",
        "3",
        "--quiet",
    ]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def store(sim) -> Path:
    out = sim.parent / "ld"
    argv = [
        "ld",
        "--bfile",
        str(sim / "reference"),
        "--window-kb",
        "1000",
        "--flank-kb",
        "1000",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    return out


def test_simulate_writes_the_contract_files(sim):
    for name in [
        "sumstats.tsv.gz",
        "annotations.tsv.gz",
        "truth.tsv.gz",
        "reference.bed",
        "reference.bim",
        "reference.fam",
        "simulation.json",
    ]:
        assert (sim / name).exists(), name
    truth = pd.read_csv(sim / "truth.tsv.gz", sep="\t")
    assert list(truth.columns) == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "BETA"]
    assert truth["SNPVAR"].sum() == pytest.approx(0.02, rel=1e-12)
    assert len(truth) == 900


def test_ld_store_and_info(store, sim, capsys):
    assert (store / "manifest.json").exists()
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "deepwas-ld-store version 2" in out and "900" in out
    assert main(["info", str(sim / "sumstats.tsv.gz")]) == 0
    out = capsys.readouterr().out
    assert "summary statistics" in out and "variants: 900" in out
    assert main(["info", str(sim / "annotations.tsv.gz")]) == 0
    out = capsys.readouterr().out
    assert "annotation" in out.lower()


def test_loglik_writes_its_result(store, sim, tmp_path, capsys):
    res = tmp_path / "loglik.json"
    argv = [
        "loglik",
        "--sumstats",
        str(sim / "sumstats.tsv.gz"),
        "--ld",
        str(store),
        "--out",
        str(res),
        "--quiet",
    ]
    assert main(argv) == 0
    got = json.loads(res.read_text())
    assert got["n_scored"] == 900
    assert got["h2"] > 0 and got["sigma"] > 0
    assert got["provenance"]["deepwas_version"]
    assert "exact log-likelihood" in capsys.readouterr().out


def test_loglik_flags_a_flipped_allele(store, sim, tmp_path, capsys):
    """The kriging test names a variant whose alleles were swapped in the sumstats (its z
    negated), and only it has the allele-flip signature there."""
    ss = pd.read_csv(sim / "sumstats.tsv.gz", sep="\t")
    clean = tmp_path / "clean.json"
    argv = ["loglik", "--ld", str(store), "--quiet"]
    assert main([*argv, "--sumstats", str(sim / "sumstats.tsv.gz"), "--out", str(clean)]) == 0
    before = json.loads(clean.read_text())
    assert before["n_variants_tested"] == 900
    i = int(np.argmax(np.abs(ss["Z"].to_numpy())))
    ss.loc[i, ["A1", "A2"]] = ss.loc[i, ["A2", "A1"]].to_numpy()  # a strand/allele error
    bad = tmp_path / "bad.tsv"
    ss.to_csv(bad, sep="\t", index=False)
    res = tmp_path / "bad.json"
    capsys.readouterr()
    assert main([*argv, "--sumstats", str(bad), "--out", str(res)]) == 0
    got = json.loads(res.read_text())
    flips = [v["SNP"] for v in got["flagged_variants"] if v["FLAG"] == "allele_flip"]
    assert ss.loc[i, "SNP"] in flips
    assert ss.loc[i, "SNP"] not in [v["SNP"] for v in before["flagged_variants"]]
    assert got["n_allele_flip"] == len(flips) >= 1
    assert "allele-flip signature" in capsys.readouterr().out


def test_fit_provenance_hashes_every_annot_file(store, sim, tmp_path):
    from deepwas.provenance import file_sha256

    annot = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
    files = [tmp_path / "a1.tsv", tmp_path / "a2.tsv"]  # the variants in two files
    annot.iloc[::2].to_csv(files[0], sep="\t", index=False)
    annot.iloc[1::2].to_csv(files[1], sep="\t", index=False)
    out = tmp_path / "fit"
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store), "--annot"]
    argv += [*map(str, files), "--model", "constant", "--test-blocks", "0.3", "--epochs", "1"]
    assert main([*argv, "--n-gwas", "50000", "--out", str(out), "--quiet"]) == 0
    inputs = json.loads((out / "metrics.json").read_text())["provenance"]["inputs"]
    assert [r["sha256"] for r in inputs["annot"]] == [file_sha256(f) for f in files]
    assert not (tmp_path / ".fit.checkpoint").exists()


def test_demo_quick_fits_every_model_and_objective(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    pairs = {(r["model"], r["objective"]) for r in summary["rows"]}
    from deepwas import OBJECTIVES, PRIOR_FAMILIES
    from deepwas.demo import DEMO_MODELS

    assert set(DEMO_MODELS) <= set(PRIOR_FAMILIES)
    assert pairs == {(m, o) for m in DEMO_MODELS for o in OBJECTIVES}
    for r in summary["rows"]:
        assert np.isfinite(r["heldout_gain"])
        assert Path(r["report"]).exists()
    out = capsys.readouterr().out
    assert "held-out gain" in out and "report:" in out
    # what the linear prior delivers: enrichment with SEs, credible sets, PRS accuracy
    got = summary["deliverables"]
    assert {r["Category"] for r in got["enrichment"]} >= {"binary1", "continuous1"}
    assert all(np.isfinite(r["Prop._h2_std_error"]) for r in got["enrichment"])
    assert set(got["finemap"]) == {"uniform", "learned"}
    r2 = {r["prior"]: r["r2"] for r in got["prs"]}
    assert all(0 < v <= got["prs"][0]["ceiling"] * 1.0001 for v in r2.values())
    assert "enrichment (linear prior" in out and "PRS, constant (LDpred-inf)" in out


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("deepwas: error: ")
    return err[0]


def test_ld_needs_exactly_one_window_definition(sim, tmp_path, capsys):
    argv = ["ld", "--bfile", str(sim / "reference"), "--out", str(tmp_path / "x"), "--quiet"]
    assert main(argv) == 2
    assert "--blocks" in _one_error_line(capsys)
    assert not (tmp_path / "x").exists()


def test_ld_missing_panel(tmp_path, capsys):
    argv = [
        "ld",
        "--bfile",
        str(tmp_path / "nope"),
        "--window-kb",
        "1000",
        "--out",
        str(tmp_path / "x"),
        "--quiet",
    ]
    assert main(argv) == 2
    assert "nope" in _one_error_line(capsys)
    assert not (tmp_path / "x").exists()


def test_loglik_missing_sumstats(store, tmp_path, capsys):
    res = tmp_path / "r.json"
    argv = [
        "loglik",
        "--sumstats",
        str(tmp_path / "missing.tsv"),
        "--ld",
        str(store),
        "--out",
        str(res),
        "--quiet",
    ]
    assert main(argv) == 2
    assert "missing.tsv" in _one_error_line(capsys)
    assert not res.exists()


def test_fit_with_a_missing_annotation_file_fails_before_reading_the_trait(
    sim, store, tmp_path, capsys, monkeypatch
):
    """A wrong --annot path is one error line before the sumstats are matched and projected
    (minutes at genome scale), and nothing is written."""
    import deepwas.ld.trait

    def never(*args, **kwargs):
        raise AssertionError("the trait was loaded before the annotations were checked")

    monkeypatch.setattr(deepwas.ld.trait, "load_trait", never)
    out = tmp_path / "fit"
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store)]
    argv += ["--annot", str(tmp_path / "nope.tsv.gz"), "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert "nope.tsv.gz" in _one_error_line(capsys)
    assert not out.exists()


def test_loglik_store_built_for_other_variants(store, tmp_path, capsys):
    other = tmp_path / "other"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(other),
                "--length-mb",
                "1",
                "--n-ref",
                "50",
                "--max-snps",
                "100",
                "--seed",
                "9",
                "--quiet",
            ]
        )
        == 0
    )
    # a different simulation: different variant IDs and positions
    ss = pd.read_csv(other / "sumstats.tsv.gz", sep="\t")
    ss["SNP"] = "x" + ss["SNP"]
    ss["CHR"] = 2
    ss.to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    res = tmp_path / "r.json"
    argv = [
        "loglik",
        "--sumstats",
        str(tmp_path / "other.tsv"),
        "--ld",
        str(store),
        "--out",
        str(res),
        "--quiet",
    ]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert "other.tsv" in line and "0 of" in line
    assert not res.exists()


def test_info_sniffs_parquet_sumstats_by_name_or_magic(sim, tmp_path, capsys):
    """``deepwas info`` tells parquet from text by deepwas._files.is_parquet, the readers' test:
    a ``.pq`` name or the parquet magic bytes, not only a ``.parquet`` name."""
    frame = pd.read_csv(sim / "sumstats.tsv.gz", sep="\t")
    for name in ("s.pq", "s.bin"):
        frame.to_parquet(tmp_path / name)
        assert main(["info", str(tmp_path / name)]) == 0
        out = capsys.readouterr().out
        assert "summary statistics" in out and "variants: 900" in out


def test_chromosome_flags_read_labels_and_ranges():
    """--chrom / --test-chrom: each label by io.variants.chrom_code, ranges by their ends."""
    from deepwas.cli._args import chrom_list as _chrom_list

    assert _chrom_list("22", flag="--chrom") == [22]
    assert _chrom_list("1-3, X,chr7,", flag="--chrom") == [1, 2, 3, 23, 7]
    assert _chrom_list("chr20-chr22", flag="--test-chrom") == [20, 21, 22]
    assert _chrom_list("01,x,chrM,22-XY", flag="--chrom") == [1, 23, 26, 22, 23, 24, 25]


def test_info_on_missing_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 2
    assert "no such file" in _one_error_line(capsys)


def test_info_on_a_store_of_another_version(store, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(store, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["version"] = 99
    (bad / "manifest.json").write_text(json.dumps(manifest))
    assert main(["info", str(bad)]) == 2
    assert "version" in _one_error_line(capsys)


def test_outputs_are_readable_by_others(sim):
    import stat

    mode = (sim / "truth.tsv.gz").stat().st_mode
    assert mode & stat.S_IROTH or mode & stat.S_IRGRP  # not 0600 (umask permitting)
    assert sim.stat().st_mode & stat.S_IXOTH or sim.stat().st_mode & stat.S_IXGRP
