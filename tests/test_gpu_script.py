"""benchmarks/gpu.sh, the prepared GPU benchmark of issue 13, run with its CPU flag."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
BLOCKS = ROOT.parent / "shared" / "data" / "ld_blocks" / "Berisa.EUR.hg19.bed"


@pytest.mark.skipif(not BLOCKS.exists(), reason="needs ../shared/data/ld_blocks")
def test_gpu_script_runs_on_cpu(tmp_path):
    run = subprocess.run(
        ["bash", str(SCRIPT), "cpu", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "gpu.jsonl").read_text().splitlines()]
    assert records[0]["benchmark"] == "gpu.sh" and records[0]["device"] == "cpu"
    epochs = [r for r in records if "epoch_seconds" in r]
    assert sorted((r["dtype"], r["mode"]) for r in epochs) == [
        ("float32", "direct-cold"),
        ("float32", "prefetch-warm"),
        ("float64", "direct-cold"),
        ("float64", "prefetch-warm"),
    ]
    for r in epochs:
        assert r["device"].startswith("cpu") and r["n_windows"] > 0
        assert 0 < r["kernel_seconds"] <= r["epoch_seconds"]
    for dtype in ("float32", "float64"):  # reading with or without the page cache: same values
        nll = {r["nll"] for r in epochs if r["dtype"] == dtype}
        assert len(nll) == 1 and math.isfinite(nll.pop())
    phases = [(r["phase"], r.get("model")) for r in records if r.get("benchmark") == "whole_fit"]
    assert phases == [("simulate", None), ("store", None), ("fit", "linear"), ("fit", "mlp")]
    for r in records:
        if r.get("phase") == "fit":
            assert math.isfinite(r["h2"]) and r["h2"] >= 0 and r["seconds"] > 0
    assert (tmp_path / "gpu.log").stat().st_size > 0


def test_gpu_script_refuses_an_unknown_device(tmp_path):
    run = subprocess.run(
        ["bash", str(SCRIPT), "tpu", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "gpu.sh: error: device 'tpu' is neither cuda[:N] nor cpu"
    ]
