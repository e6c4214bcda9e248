"""Priors with a DNA branch (``PriorConfig.sequence``, ``deepwas fit --fasta``): the branch's
inputs, its start at the constant prior, save / load / predict, the folder formats of priors
without it, and ``deepwas fit --fasta`` then ``deepwas predict`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import deepwas
from deepwas.cli import main
from deepwas.errors import InputError
from deepwas.prior_files import load_prior, save_prior
from deepwas.priors import PriorConfig, build_prior
from deepwas.sequence import packed_width, sequence_spec

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _genome(path: Path, variants: pd.DataFrame, seed: int) -> None:
    """A random genome whose base at each variant is its A1 (A2 for every third variant)."""
    rng = np.random.default_rng(seed)
    ref = np.where(np.arange(len(variants)) % 3 == 2, variants["A2"], variants["A1"])
    with open(path, "w") as fh:
        for chrom, rows in variants.groupby("CHR").indices.items():
            bp = variants["BP"].to_numpy()[rows]
            seq = rng.choice(list("ACGT"), size=int(bp.max()) + 200)
            seq[bp - 1] = ref[rows]
            text = "".join(seq)
            fh.write(
                f">chr{chrom}\n" + "\n".join(text[i : i + 70] for i in range(0, len(text), 70))
            )
            fh.write("\n")


def _variants(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bp = np.sort(rng.choice(np.arange(100, 20_000), n, replace=False))
    a1 = rng.choice(list("ACGT"), n)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[a] for a in a1])
    return pd.DataFrame(
        {"CHR": 1, "SNP": [f"v{i}" for i in range(n)], "BP": bp, "A1": a1, "A2": a2}
    )


def _config(model: str, fasta: Path, **sizes) -> PriorConfig:
    return PriorConfig(
        model=model,
        feature_names=("a", "b"),
        feature_mean=(0.0, 0.0),
        feature_scale=(1.0, 1.0),
        width=8,
        depth=1,
        init_log_snpvar=-11.0,
        sequence={"fasta": str(fasta), **sizes},
    )


@pytest.mark.parametrize("model", ["linear", "mlp", "linear_mlp", "ssm", "linear_ssm"])
def test_dna_branch_starts_at_the_constant_prior_and_round_trips(tmp_path, model):
    variants = _variants(150, 0)
    _genome(tmp_path / "g.fa", variants, 1)
    prior = build_prior(_config(model, tmp_path / "g.fa"), seed=2)
    x = np.random.default_rng(3).normal(size=(150, 2))
    pos = deepwas.prior_positions(prior, variants)
    assert pos.shape == (150, 2 + packed_width(prior.config.sequence["flank_bp"]))
    # the output weights start at 0: the DNA branch changes nothing before training
    np.testing.assert_array_equal(prior.predict(x, pos).numpy(), np.full(150, -11.0))
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator()))
    y = prior.predict(x, pos).numpy()
    assert np.std(y) > 1e-3
    # the DNA matters: other bases at the same positions change the output
    _genome(tmp_path / "other.fa", variants, 9)
    other = deepwas.prior_positions(prior, variants, fasta=tmp_path / "other.fa")
    assert np.abs(prior.predict(x, other).numpy() - y).max() > 1e-6
    save_prior(prior, tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["sequence"] == {**sequence_spec({"fasta": str(tmp_path / "g.fa")})}
    again = load_prior(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(x, pos).numpy(), y)


def test_dna_branch_inputs_and_errors(tmp_path):
    variants = _variants(40, 5)
    _genome(tmp_path / "g.fa", variants, 6)
    prior = build_prior(_config("mlp", tmp_path / "g.fa", kernel=5, layers=1), seed=0)
    assert prior.config.sequence["flank_bp"] == 4 and prior.config.n_inputs == 2 + 4
    assert prior.input.in_features == prior.config.n_inputs
    x = np.zeros((40, 2))
    with pytest.raises(InputError, match="needs positions of shape"):
        prior.predict(x, deepwas.variant_positions(variants))
    with pytest.raises(InputError, match="needs the variants' positions"):
        prior.predict(x)
    for bad, column in (
        ({"fasta": "g.fa", "kernel": 4}, "sequence.kernel"),
        ({"fasta": "g.fa", "width": 3}, "sequence"),
        ({"kernel": 5}, "sequence"),
    ):
        with pytest.raises(InputError) as err:
            sequence_spec(bad)
        assert err.value.column == column
    with pytest.raises(InputError, match="constant prior reads no inputs"):
        PriorConfig(
            model="constant",
            feature_names=(),
            feature_mean=(),
            feature_scale=(),
            sequence={"fasta": "g.fa"},
        )


def test_priors_without_dna_read_no_positions_and_write_no_sequence(tmp_path):
    cfg = PriorConfig(
        model="mlp",
        feature_names=("a",),
        feature_mean=(0.0,),
        feature_scale=(1.0,),
        width=4,
        depth=1,
    )
    prior = build_prior(cfg)
    assert deepwas.prior_positions(prior, _variants(5, 0)) is None
    save_prior(prior, tmp_path / "m")
    assert "sequence" not in json.loads((tmp_path / "m" / "config.json").read_text())


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dna") / "sim"
    argv = ["simulate", "--out", str(out), "--length-mb", "3", "--n-ref", "200"]
    argv += ["--max-snps", "900", "--h2", "0.05", "--n-gwas", "200000", "--seed", "4", "--quiet"]
    assert main(argv) == 0
    argv = ["ld", "--bfile", str(out / "reference"), "--window-kb", "600"]
    assert main([*argv, "--out", str(out / "ld"), "--quiet"]) == 0
    variants = pd.read_csv(out / "annotations.tsv.gz", sep="\t")[["CHR", "SNP", "BP", "A1", "A2"]]
    _genome(out / "genome.fa", variants, 7)
    return out


def test_fit_with_fasta_end_to_end_and_predict(sim, tmp_path, capsys):
    fit = tmp_path / "fit"
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")]
    argv += ["--annot", str(sim / "annotations.tsv.gz"), "--model", "mlp", "--width", "8"]
    argv += ["--depth", "1", "--epochs", "2", "--test-blocks", "0.25"]
    argv += ["--fasta", str(sim / "genome.fa"), "--out", str(fit)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "DNA: 16 bp each side of" in out and "the reference allele found for" in out
    assert "warning: --fasta with LD from a panel of 200 samples" in out
    cfg = json.loads((fit / "model" / "config.json").read_text())
    assert cfg["sequence"]["fasta"] == str((sim / "genome.fa").resolve())
    priors = pd.read_csv(fit / "priors.tsv.gz", sep="\t")
    assert priors["SNPVAR"].gt(0).all()
    # predict on the same variants gives the fit's priors (to the %.6g of the files), with the
    # FASTA named in the model or given again
    for extra in ([], ["--fasta", str(sim / "genome.fa")]):
        pred_file = tmp_path / "pred.tsv.gz"
        argv = ["predict", "--model", str(fit / "model")]
        argv += ["--annot", str(sim / "annotations.tsv.gz"), "--ld", str(sim / "ld"), *extra]
        assert main([*argv, "--out", str(pred_file), "--quiet"]) == 0
        pred = pd.read_csv(pred_file, sep="\t").set_index("SNP")["SNPVAR"]
        np.testing.assert_allclose(
            pred.reindex(priors["SNP"]).to_numpy(), priors["SNPVAR"].to_numpy(), rtol=2e-6
        )
    # an annotation file without alleles takes them from the store by SNP
    no_alleles = tmp_path / "annot_no_alleles.tsv.gz"
    annot = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
    annot.drop(columns=["A1", "A2"]).to_csv(no_alleles, sep="\t", index=False)
    pred_file = tmp_path / "pred2.tsv.gz"
    argv = ["predict", "--model", str(fit / "model"), "--annot", str(no_alleles)]
    assert main([*argv, "--ld", str(sim / "ld"), "--out", str(pred_file), "--quiet"]) == 0
    pred = pd.read_csv(pred_file, sep="\t").set_index("SNP")["SNPVAR"]
    np.testing.assert_allclose(
        pred.reindex(priors["SNP"]).to_numpy(), priors["SNPVAR"].to_numpy(), rtol=2e-6
    )
    # a missing reference is one line, exit 2
    argv = ["predict", "--model", str(fit / "model"), "--annot", str(sim / "annotations.tsv.gz")]
    argv += ["--fasta", str(tmp_path / "nope.fa"), "--out", str(tmp_path / "p2.tsv")]
    assert main([*argv, "--quiet"]) == 2
    assert not (tmp_path / "p2.tsv").exists()


def test_fit_checks_the_reference_before_the_projection(sim, tmp_path, capsys, monkeypatch):
    import deepwas.ld.trait

    def no_projection(*args, **kwargs):
        raise AssertionError("projected before checking --fasta")

    monkeypatch.setattr(deepwas.ld.trait, "load_trait", no_projection)
    argv = ["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")]
    argv += ["--annot", str(sim / "annotations.tsv.gz"), "--model", "mlp"]
    argv += ["--out", str(tmp_path / "fit")]
    assert main([*argv, "--fasta", str(tmp_path / "missing.fa")]) == 2
    assert "missing.fa" in capsys.readouterr().err
    argv[argv.index("mlp")] = "constant"
    assert main([*argv, "--fasta", str(sim / "genome.fa")]) == 2
    assert "constant prior reads no inputs" in capsys.readouterr().err
    assert not (tmp_path / "fit").exists()
