"""How evenly torchrun's processes share a training epoch's windows: cost-balanced shares
(``deepwas._distributed._share``, greedy longest-processing-time) against dealing the windows out
in turn (k, k + W, ...), from the kernels' cost model on a real trait; then, with ``--run``, the
wall time of ``deepwas fit`` alone and under ``torchrun --nproc-per-node 2``.

A training step waits for its slowest process, so an epoch's critical path is the sum over
steps of the largest share's cost. Printed per world size: the critical path of each rule
relative to perfect balance (the sum over steps of total / W), and the speed-up over one process
each implies. One JSON line per world size (and per timed run).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/torchrun_balance.py --ld LD \\
        --sumstats S --annot A [--run --out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from _common import emit, log  # noqa: E402
from deepwas import LDStore, TrainConfig, load_trait, prepare_fit, read_annotations  # noqa: E402
from deepwas._distributed import _share  # noqa: E402
from deepwas.linalg.batch import window_cost  # noqa: E402


def critical_path(costs, steps, world: int, rule: str) -> float:
    total = 0.0
    for step in steps:
        if rule == "dealt":
            shares = [step[r::world] for r in range(world)]
        else:
            shares = [_share(step, costs.__getitem__, world, r) for r in range(world)]
        total += max(sum(costs[k] for k in s) for s in shares)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ld", required=True)
    ap.add_argument("--sumstats", required=True)
    ap.add_argument("--annot", required=True)
    ap.add_argument("--worlds", default="2,4")
    ap.add_argument("--epochs", type=int, default=5, help="random epoch orders averaged")
    ap.add_argument("--run", action="store_true", help="also time deepwas fit, 1 vs 2 processes")
    ap.add_argument("--out", default="/tmp/torchrun_balance")
    args = ap.parse_args()
    store = LDStore.open(args.ld)
    trait = load_trait(args.sumstats, store, progress=False)
    data = prepare_fit(trait, read_annotations(args.annot), store, test_blocks=0.25)
    costs = np.array([window_cost(w) for w in trait.windows])
    cfg = TrainConfig()
    for world in (int(w) for w in args.worlds.split(",")):
        paths = {"dealt": 0.0, "balanced": 0.0, "perfect": 0.0}
        for epoch in range(args.epochs):
            order = np.random.default_rng([cfg.seed, epoch]).permutation(data.train).tolist()
            steps = [
                order[k : k + cfg.batch_windows] for k in range(0, len(order), cfg.batch_windows)
            ]
            paths["dealt"] += critical_path(costs, steps, world, "dealt")
            paths["balanced"] += critical_path(costs, steps, world, "balanced")
            paths["perfect"] += sum(max(costs[s].sum() / world, costs[s].max()) for s in steps)
        one = sum(costs[data.train]) * args.epochs
        emit(
            {
                "benchmark": "torchrun_balance",
                "world": world,
                "n_windows": len(costs),
                "batch_windows": cfg.batch_windows,
                "dealt_over_perfect": paths["dealt"] / paths["perfect"],
                "balanced_over_perfect": paths["balanced"] / paths["perfect"],
                "speedup_dealt": one / paths["dealt"],
                "speedup_balanced": one / paths["balanced"],
                "speedup_perfect": one / paths["perfect"],
            }
        )
    if not args.run:
        return
    fit = ["--sumstats", args.sumstats, "--ld", args.ld, "--annot", args.annot]
    exe = [sys.executable, "-m", "deepwas.cli", "fit", *fit, "--test-blocks", "0.25"]
    runs = {
        "1 process x 2 threads": [*exe, "--threads", "2"],
        "2 processes x 1 thread": [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "-m",
            "deepwas.cli",
            "fit",
            *fit,
            "--test-blocks",
            "0.25",
            "--threads",
            "1",
        ],
    }
    for i, (name, cmd) in enumerate(runs.items()):
        out = Path(args.out) / f"fit{i}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        metrics = json.loads((out / "metrics.json").read_text())
        log(f"{name}: {wall:.1f} s")
        emit(
            {
                "benchmark": "torchrun_balance",
                "run": name,
                "wall_seconds": wall,
                "fit_seconds": metrics["seconds"],
                "heldout_loglik": metrics["heldout_loglik"],
                "best_epoch": metrics["best_epoch"],
            }
        )


if __name__ == "__main__":
    main()
