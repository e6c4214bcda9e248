"""Every foreseeable user error of the CLI is one line on stderr and exit status 2, with no
traceback and nothing left behind (issue 8, section 2); a bug is one line and exit status 1, with
the traceback on request (``--debug``, ``DEEPWAS_DEBUG=1``)."""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real
from pathlib import Path

import pandas as pd
import pytest
import torch

from deepwas import cli
from deepwas._validation import Boolean, Interval, Options, validate
from deepwas.cli import main
from deepwas.errors import InputError, NumericalError
from deepwas.fit import _TRAIN_CONSTRAINTS, TrainConfig
from deepwas.provenance import file_sha256, provenance


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """2 Mb, 60 reference samples, 200 variants; an LD store of four 500 kb windows."""
    out = tmp_path_factory.mktemp("errors") / "sim"
    argv = ["simulate", "--out", str(out), "--length-mb", "2", "--n-ref", "60"]
    assert main([*argv, "--max-snps", "200", "--seed", "1", "--quiet"]) == 0
    argv = ["ld", "--bfile", str(out / "reference"), "--window-kb", "500", "--out"]
    assert main([*argv, str(out / "ld"), "--quiet"]) == 0
    return out


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _fails_cleanly(argv: list[str], capsys, folder: Path, *, status: int = 2) -> str:
    """Run ``main(argv)``; assert the exit status, one line on stderr, no traceback, and that
    ``folder`` holds what it held before. Returns the line."""
    before = _listing(folder)
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    prefix = "deepwas: error: " if status == 2 else "deepwas: internal error: "
    assert lines[0].startswith(prefix), lines[0]
    assert _listing(folder) == before  # no output, no checkpoint, no temporary file
    return lines[0]


# ---------------------------------------------------------------------- the cases of the issue
def test_threads_below_one(tmp_path, capsys):
    argv = ["loglik", "--sumstats", "s", "--ld", "l", "--threads", "-1"]
    line = _fails_cleanly(argv, capsys, tmp_path)
    assert line == "deepwas: error: option --threads: invalid value -1 (give an integer >= 1)"


def test_negative_weight_decay(tmp_path, capsys):
    argv = ["fit", "--sumstats", "s", "--ld", "l", "--annot", "a", "--out", str(tmp_path / "o")]
    line = _fails_cleanly([*argv, "--weight-decay", "-1"], capsys, tmp_path)
    assert line == (
        "deepwas: error: option --weight-decay: invalid value -1.0 for "
        "TrainConfig.weight_decay (give a number >= 0)"
    )


def test_negative_fixed_sigma(tmp_path, capsys):
    argv = ["fit", "--sumstats", "s", "--ld", "l", "--annot", "a", "--out", str(tmp_path / "o")]
    line = _fails_cleanly([*argv, "--fixed-sigma", "-1"], capsys, tmp_path)
    assert line == (
        "deepwas: error: option --fixed-sigma: invalid value -1.0 for TrainConfig.sigma "
        "(give a number > 0)"
    )


def test_eig_rtol_out_of_range(sim, tmp_path, capsys):
    argv = ["ld", "--bfile", str(sim / "reference"), "--window-kb", "500"]
    line = _fails_cleanly(
        [*argv, "--out", str(tmp_path / "s"), "--eig-rtol", "2"], capsys, tmp_path
    )
    assert line == "deepwas: error: option --eig-rtol: invalid value 2.0 (give a number in (0, 1))"


@pytest.mark.parametrize("verb", ["simulate", "ld", "fit", "loglik", "demo"])
def test_out_under_a_regular_file(verb, sim, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / ("r.json" if verb == "loglik" else "o")
    argv = {
        "simulate": ["simulate"],
        "ld": ["ld", "--bfile", str(sim / "reference"), "--window-kb", "500"],
        "fit": ["fit", "--sumstats", "s", "--ld", str(sim / "ld"), "--annot", "a"],
        "loglik": ["loglik", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")],
        "demo": ["demo", "--quick"],
    }[verb]
    line = _fails_cleanly([*argv, "--out", str(out), "--quiet"], capsys, tmp_path)
    assert line == (
        f"deepwas: error: {out}: cannot be created: {tmp_path / 'file'} is a file, not a folder "
        "(choose an output under a folder)"
    )


def test_loglik_out_is_a_folder(sim, tmp_path, capsys):
    (tmp_path / "d").mkdir()
    argv = ["loglik", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(sim / "ld")]
    line = _fails_cleanly([*argv, "--out", str(tmp_path / "d"), "--quiet"], capsys, tmp_path)
    assert line == f"deepwas: error: {tmp_path / 'd'}: is a folder, not a file (give a file name)"


def test_folder_output_onto_a_regular_file(tmp_path, capsys):
    (tmp_path / "o").write_text("x")
    argv = ["fit", "--sumstats", "s", "--ld", "l", "--annot", "a", "--out", str(tmp_path / "o")]
    line = _fails_cleanly(argv, capsys, tmp_path)
    assert line.endswith(
        "o: exists and is a file, not a folder (give a folder name, or remove the file)"
    )


@pytest.mark.parametrize(
    ("content", "byte"),
    [(b"SNP\tx\nrs1\t\x00\x01\x02\n", "byte 11 is 0x00"), (b"\x89PNG\r\n\x1a\n", "byte 1 is 0x89")],
)
def test_info_on_a_binary_file(content, byte, tmp_path, capsys):
    (tmp_path / "b.dat").write_bytes(content)
    line = _fails_cleanly(["info", str(tmp_path / "b.dat")], capsys, tmp_path)
    assert line == (
        f"deepwas: error: {tmp_path / 'b.dat'}: not a text file ({byte}, not UTF-8 text) "
        "(give a text, gzip-compressed text or parquet file)"
    )


def test_info_on_a_corrupt_gzip_file(tmp_path, capsys):
    (tmp_path / "c.tsv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    line = _fails_cleanly(["info", str(tmp_path / "c.tsv.gz")], capsys, tmp_path)
    assert line.startswith(f"deepwas: error: {tmp_path / 'c.tsv.gz'}: cannot read file: ")


def _fit_argv(sim: Path, out: Path) -> list[str]:
    return [
        "fit",
        "--sumstats",
        str(sim / "sumstats.tsv.gz"),
        "--ld",
        str(sim / "ld"),
        "--annot",
        str(sim / "annotations.tsv.gz"),
        "--model",
        "constant",
        "--test-blocks",
        "0.25",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is corrupt or truncated"),
        (b"not a pickle at all", "is corrupt or truncated"),
        (None, "is not a deepwas checkpoint"),  # a valid torch file holding a list
        ({"model": {}}, "does not fit this model and settings (RuntimeError)"),
    ],
)
def test_resume_from_a_corrupt_checkpoint(content, what, sim, tmp_path, capsys):
    ckpt = tmp_path / ".o.checkpoint" / "checkpoint.pt"
    ckpt.parent.mkdir()
    if isinstance(content, bytes):
        ckpt.write_bytes(content)
    else:
        torch.save([1, 2] if content is None else content, ckpt)
    line = _fails_cleanly([*_fit_argv(sim, tmp_path / "o"), "--resume"], capsys, tmp_path)
    assert line == (
        f"deepwas: error: {ckpt}: training checkpoint {what} "
        "(delete it, or run without --resume to start afresh)"
    )
    assert ckpt.exists()  # the user's file: they decide


def test_a_failed_fit_removes_its_checkpoint(sim, tmp_path, capsys, monkeypatch):
    def diverge(*args, checkpoint, **kwargs):
        Path(checkpoint).write_bytes(b"epoch 1")
        raise NumericalError("training diverged at epoch 2", fix="lower --lr")

    monkeypatch.setattr("deepwas.fit.train_prior", diverge)
    line = _fails_cleanly(_fit_argv(sim, tmp_path / "o"), capsys, tmp_path)
    assert line == "deepwas: error: training diverged at epoch 2 (lower --lr)"


def test_an_interrupted_fit_keeps_its_checkpoint_for_resume(sim, tmp_path, capsys, monkeypatch):
    def interrupted(*args, checkpoint, **kwargs):
        Path(checkpoint).write_bytes(b"epoch 1")
        raise KeyboardInterrupt

    monkeypatch.setattr("deepwas.fit.train_prior", interrupted)
    assert main(_fit_argv(sim, tmp_path / "o")) == 130
    assert capsys.readouterr().err.strip() == "deepwas: interrupted"
    assert _listing(tmp_path) == {".o.checkpoint", ".o.checkpoint/checkpoint.pt"}


# -------------------------------------------------------------- every constraint a user can see
_FIT = ["fit", "--sumstats", "s", "--ld", "l", "--annot", "a"]
_LD = ["ld", "--bfile", "panel", "--window-kb", "500"]
_LOGLIK = ["loglik", "--sumstats", "s", "--ld", "l"]


@pytest.mark.parametrize(
    ("argv", "flag", "allowed"),
    [
        ([*_FIT, "--width", "0"], "--width", "an integer >= 1"),
        ([*_FIT, "--depth", "0"], "--depth", "an integer >= 1"),
        ([*_FIT, "--lr", "0"], "--lr", "a number > 0"),
        ([*_FIT, "--lr", "inf"], "--lr", "a number > 0"),
        ([*_FIT, "--weight-decay", "nan"], "--weight-decay", "a number >= 0"),
        ([*_FIT, "--epochs", "0"], "--epochs", "an integer >= 1"),
        ([*_FIT, "--batch-windows", "0"], "--batch-windows", "an integer >= 1"),
        ([*_FIT, "--patience", "0"], "--patience", "an integer >= 1"),
        ([*_FIT, "--fixed-sigma", "0"], "--fixed-sigma", "a number > 0"),
        ([*_FIT, "--seed", "-1"], "--seed", "an integer >= 0"),
        ([*_FIT, "--device", "tpu"], "--device", "cpu, or cuda[:N] on a machine with a GPU"),
        ([*_FIT, "--threads", "0"], "--threads", "an integer >= 1"),
        ([*_FIT, "--n", "0"], "--n-gwas", "a number > 0"),
        ([*_FIT, "--n-gwas", "-5"], "--n-gwas", "a number > 0"),
        ([*_FIT, "--var-explained", "0"], "--var-explained", "a number in (0, 1]"),
        ([*_FIT, "--test-blocks", "1"], "--test-blocks", "a number in (0, 1)"),
        ([*_FIT, "--val-fraction", "1"], "--val-fraction", "a number in [0, 1)"),
        ([*_FIT, "--split-seed", "-2"], "--split-seed", "an integer >= 0"),
        ([*_LOGLIK, "--min-info", "1.5"], "--min-info", "a number in [0, 1]"),
        ([*_LOGLIK, "--min-maf", "0.5"], "--min-maf", "a number in [0, 0.5)"),
        ([*_LOGLIK, "--var-explained", "1.5"], "--var-explained", "a number in (0, 1]"),
        ([*_LOGLIK, "--n", "-1"], "--n-gwas", "a number > 0"),
        (["info", "f", "--n", "0"], "--n-gwas", "a number > 0"),
        ([*_LD, "--eig-rtol", "0"], "--eig-rtol", "a number in (0, 1)"),
        ([*_LD, "--var-explained", "2"], "--var-explained", "a number in (0, 1]"),
        ([*_LD, "--shrinkage", "1"], "--shrinkage", "a number in [0, 1)"),
        ([*_LD, "--shrinkage", "-0.1"], "--shrinkage", "a number in [0, 1)"),
        ([*_LD, "--min-maf", "-0.01"], "--min-maf", "a number in [0, 0.5)"),
        ([*_LD, "--flank-kb", "-1"], "--flank-kb", "a number >= 0"),
        (["ld", "--bfile", "p", "--window-kb", "0"], "--window-kb", "a number > 0"),
        (["simulate", "--min-maf", "0.6"], "--min-maf", "a number in [0, 0.5)"),
        (["simulate", "--n-ref", "1"], "--n-ref", "an integer >= 2"),
        (["simulate", "--h2", "0"], "--h2", "a number in (0, 1]"),
        (["simulate", "--ref-population", "ASW"], "--ref-population", "one of CEU, YRI or CHB"),
        (["demo", "--threads", "-3"], "--threads", "an integer >= 1"),
    ],
)
def test_every_constraint_is_one_line(argv, flag, allowed, tmp_path, capsys):
    if "--out" not in argv and argv[0] not in ("info", "loglik", "demo"):
        argv = [*argv, "--out", str(tmp_path / "o")]
    line = _fails_cleanly(argv, capsys, tmp_path)
    assert line.startswith(f"deepwas: error: option {flag}: invalid value ")
    assert line.endswith(f"(give {allowed})")


@pytest.mark.parametrize(
    ("argv", "flag", "label"),
    [
        ([*_LD, "--chrom", "1,chrQ"], "--chrom", "chrQ"),
        ([*_LD, "--chrom", "1-23andme"], "--chrom", "23andme"),
        ([*_FIT, "--test-chrom", "20- Z"], "--test-chrom", "Z"),
    ],
)
def test_a_bad_chromosome_flag_is_one_line(argv, flag, label, tmp_path, capsys):
    line = _fails_cleanly([*argv, "--out", str(tmp_path / "o")], capsys, tmp_path)
    assert line == (
        f"deepwas: error: option {flag}: unrecognised chromosome '{label}' "
        "(use 1-22, X, Y, XY or MT, with or without a 'chr' prefix)"
    )


def test_store_builders_check_the_store_build_table(tmp_path):
    """A library caller of build_store / import_ukbb_ld gets the CLI's one-line error (the
    table's message, naming the flag and the function) before any work."""
    import numpy as np

    from deepwas.io.genotypes import GenotypePanel
    from deepwas.ld.build import build_store
    from deepwas.ld.ukbb import import_ukbb_ld

    variants = pd.DataFrame(
        {"CHR": [1, 1], "SNP": ["a", "b"], "BP": [1, 2], "A1": ["A", "C"], "A2": ["G", "T"]}
    )
    panel = GenotypePanel.from_dosages(np.array([[0, 1], [1, 2], [2, 0]]), variants)
    with pytest.raises(InputError) as info:
        build_store(panel, tmp_path / "s", window_kb=10, shrinkage=-0.1, progress=False)
    assert str(info.value) == (
        "option --shrinkage: invalid value -0.1 for build_store.shrinkage (give a number in [0, 1))"
    )
    with pytest.raises(InputError) as info:
        import_ukbb_ld(tmp_path / "no-such-folder", tmp_path / "u", eig_rtol=0.0, progress=False)
    assert str(info.value) == (
        "option --eig-rtol: invalid value 0.0 for import_ukbb_ld.eig_rtol (give a number in (0, 1))"
    )
    assert _listing(tmp_path) == set()


def test_train_config_constrains_every_field():
    assert set(_TRAIN_CONSTRAINTS) == {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(InputError) as info:
        TrainConfig(width=2.5)
    assert info.value.column == "--width"


def test_constraint_kinds():
    table = {
        "k": Interval(Integral, 1, 3, closed="right"),
        "x": [Interval(Real, None, 0, closed="neither"), None],
        "b": Boolean(),
        "o": Options(("a",)),
    }
    validate({"k": 3, "x": None, "b": False, "o": "a", "other": object()}, table, where=None)
    for bad, text in [
        ({"k": 1}, "option --k: invalid value 1 (give an integer in (1, 3])"),
        ({"k": True}, "option --k: invalid value True (give an integer in (1, 3])"),
        ({"x": 0.0}, "option --x: invalid value 0.0 (give a number < 0)"),
        ({"x": -math.inf}, "option --x: invalid value -inf (give a number < 0)"),
        ({"b": 1}, "option --b: invalid value 1 (give true or false)"),
        ({"o": ["a"]}, "option --o: invalid value ['a'] (give a)"),
    ]:
        with pytest.raises(InputError) as info:
            validate(bad, table, where=None)
        assert str(info.value) == text
    with pytest.raises(InputError, match=r"^column 'k': invalid value 0 for C.k "):
        validate({"k": 0}, table, where="C", as_flags=False)


# ------------------------------------------------------------------------------ internal errors
def _broken_info(args):
    raise RuntimeError("boom\nsecond line")


def test_an_internal_error_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEEPWAS_DEBUG", raising=False)
    monkeypatch.setattr(cli.data, "_cmd_info", _broken_info)
    line = _fails_cleanly(["info", "x"], capsys, tmp_path, status=1)
    assert line == (
        "deepwas: internal error: RuntimeError: boom second line (this is a bug in deepwas: "
        "please report it with the command line; rerun with --debug for the traceback)"
    )


def test_running_out_of_memory_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """Flags that ask for more memory than the machine has (e.g. a simulated population of
    millions) are the user's to change, not a bug: numpy's ArrayMemoryError is a MemoryError."""
    import numpy as np

    def huge(args):
        return np.empty((3400, 4_000_822, 1000), dtype=np.int32)

    monkeypatch.delenv("DEEPWAS_DEBUG", raising=False)
    monkeypatch.setattr(cli.data, "_cmd_info", huge)
    line = _fails_cleanly(["info", "x"], capsys, tmp_path, status=2)
    assert line.startswith("deepwas: error: out of memory: Unable to allocate")
    assert "reduce the sizes" in line and "bug" not in line


@pytest.mark.parametrize("how", ["flag before the verb", "flag after the verb", "environment"])
def test_debug_shows_the_traceback(how, capsys, monkeypatch):
    monkeypatch.setattr(cli.data, "_cmd_info", _broken_info)
    monkeypatch.delenv("DEEPWAS_DEBUG", raising=False)
    argv = {
        "flag before the verb": ["--debug", "info", "x"],
        "flag after the verb": ["info", "x", "--debug"],
        "environment": ["info", "x"],
    }[how]
    if how == "environment":
        monkeypatch.setenv("DEEPWAS_DEBUG", "1")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1].startswith("deepwas: internal error: RuntimeError: boom")


def test_debug_off_with_zero(capsys, monkeypatch):
    monkeypatch.setattr(cli.data, "_cmd_info", _broken_info)
    monkeypatch.setenv("DEEPWAS_DEBUG", "0")
    assert main(["info", "x"]) == 1
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------- provenance
def test_provenance_hashes_every_file_of_a_role(tmp_path):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"a{k}.tsv")
        pd.DataFrame({"SNP": ["rs1"], "x": [k]}).to_csv(paths[-1], sep="\t", index=False)
    record = provenance(inputs={"annot": paths, "one": paths[0]}, argv=["deepwas"])
    assert [r["sha256"] for r in record["inputs"]["annot"]] == [file_sha256(p) for p in paths]
    assert record["inputs"]["one"] == {
        "path": str(paths[0].resolve()),
        "sha256": file_sha256(paths[0]),
    }
