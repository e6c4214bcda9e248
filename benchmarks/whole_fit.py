"""A complete ``deepwas`` job on a device, timed by phase: simulate, build the LD store, fit
priors (constant + calibration inside each fit), on ``--device`` (cpu or cuda).

Needs no msprime, bed-reader or cyvcf2 (a GPU machine may lack them): genotypes come from a
thresholded Gaussian AR(1) process along each chromosome (haplotype allele j is 1 when the
latent value is below the quantile of its allele frequency; LD decays over ~30 kb like
``genome_scale.py``'s), for a reference panel of ``--n-ref`` people and a separate population
sample of ``--n-pop`` whose LD generates z (population LD, DESIGN 2). Variants are placed in
the Berisa EUR blocks of chromosomes ``--chroms`` at HapMap3-like density unless ``--n-snps``
says otherwise. Annotations, the true prior and z come from ``deepwas.run_simulation``; the
store from ``deepwas.build_store``; each fit from ``deepwas.run_fit`` (the CLI's defaults).

One JSON line per phase (``phase``: simulate, store, fit) with ``seconds``, and per fit
``model``, ``h2``, ``h2_true``, ``epochs``, ``gain_per_1000``, ``peak_rss_gb`` (of this
process so far), ``device``.

    python benchmarks/whole_fit.py [--device cuda] [--chroms 1,2] [--n-snps 0] [--models linear,mlp]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy import special  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deepwas  # noqa: E402
from _common import emit, log  # noqa: E402
from deepwas.io.genotypes import GenotypePanel  # noqa: E402
from deepwas.ld.windows import read_blocks  # noqa: E402
from genome_scale import BLOCKS, place_variants  # noqa: E402

HAPMAP3_PER_MB = 1_100_000 / 2_800.0  # about 390 variants per Mb


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def haplotype_dosages(bp: np.ndarray, af: np.ndarray, n: int, rng) -> np.ndarray:
    """(n, m) dosages 0/1/2: two haplotypes per person, each a thresholded AR(1) latent path."""
    m = bp.size
    rho = np.exp(-np.diff(bp, prepend=bp[0]) / 30_000.0).astype(np.float32)
    innov = np.sqrt(1.0 - rho**2).astype(np.float32)
    cut = special.ndtri(af).astype(np.float32)
    latent = rng.standard_normal((m, 2 * n), dtype=np.float32)
    dos = np.empty((m, n), np.int8)
    for j in range(m):
        if j:
            latent[j] *= innov[j]
            latent[j] += rho[j] * latent[j - 1]
        h = latent[j] < cut[j]
        dos[j] = h[:n].astype(np.int8) + h[n:]
    return dos.T


def panels(variants: pd.DataFrame, n_ref: int, n_pop: int, seed: int):
    rng = np.random.default_rng(seed)
    m = len(variants)
    af = rng.uniform(0.05, 0.5, m)
    ref, pop = [], []
    for c in pd.unique(variants["CHR"]):
        rows = np.flatnonzero(variants["CHR"].to_numpy() == c)
        d = haplotype_dosages(variants["BP"].to_numpy()[rows], af[rows], n_ref + n_pop, rng)
        ref.append(d[:n_ref])
        pop.append(d[n_ref:])
    table = variants.assign(
        SNP=[f"v{c}_{b}" for c, b in zip(variants["CHR"], variants["BP"], strict=True)],
        A1="A",
        A2="G",
    )[["CHR", "SNP", "BP", "A1", "A2"]]
    out = []
    for d in (np.concatenate(ref, 1), np.concatenate(pop, 1)):
        t = table.assign(CM=np.nan, AF1=d.mean(0) / 2.0)
        out.append(GenotypePanel.from_dosages(d, t))
    return out[0], out[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chroms", default="21,22", help="comma-separated chromosomes (Berisa blocks)")
    ap.add_argument("--n-snps", type=int, default=0, help="0: HapMap3-like density")
    ap.add_argument("--n-ref", type=int, default=500)
    ap.add_argument("--n-pop", type=int, default=3000)
    ap.add_argument("--n-gwas", type=float, default=300_000)
    ap.add_argument("--h2", type=float, default=None, help="default: 0.3 per 2,800 Mb")
    ap.add_argument("--models", default="linear,mlp")
    ap.add_argument("--epochs", type=int, default=None, help="default: the CLI's")
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    ap.add_argument("--work", default="/tmp/deepwas_whole_fit")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    chroms = [int(c) for c in args.chroms.split(",")]
    blocks = read_blocks(BLOCKS)
    blocks = blocks[blocks["CHR"].isin(chroms)].reset_index(drop=True)
    length_mb = float((blocks["stop"] - blocks["start"]).sum()) / 1e6
    n_snps = args.n_snps or int(HAPMAP3_PER_MB * length_mb)
    h2 = args.h2 if args.h2 is not None else 0.3 * length_mb / 2_800.0
    base = {
        "benchmark": "whole_fit",
        "device": args.device,
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "chroms": args.chroms,
        "n_ref": args.n_ref,
        "n_pop": args.n_pop,
    }
    if args.device.startswith("cuda"):
        base["gpu"] = torch.cuda.get_device_name(torch.device(args.device))

    t0 = time.perf_counter()
    variants = place_variants(blocks, n_snps, np.random.default_rng(args.seed))
    ref, pop = panels(variants, args.n_ref, args.n_pop, args.seed)
    config = deepwas.SimConfig(
        n_ref=args.n_ref,
        n_insample=args.n_pop,
        n_gwas=args.n_gwas,
        h2=h2,
        chroms=len(chroms),
        seed=args.seed,
    )
    sim = work / "sim"
    summary = deepwas.run_simulation(
        config, sim, genotypes=(ref, pop), write_panels=False, progress=False, argv=[]
    )
    emit(
        {
            **base,
            "phase": "simulate",
            "seconds": time.perf_counter() - t0,
            "n_snps": summary["n_snps"],
            "mean_chi2": summary["mean_chi2"],
        }
    )
    t0 = time.perf_counter()
    store = deepwas.build_store(ref, work / "ld", blocks=blocks, progress=False)
    emit(
        {
            **base,
            "phase": "store",
            "seconds": time.perf_counter() - t0,
            "n_windows": len(store.windows),
            "peak_rss_gb": peak_rss_gb(),
        }
    )
    for model in args.models.split(","):
        t0 = time.perf_counter()
        config = deepwas.TrainConfig(
            model=model,
            device=args.device,
            **({"epochs": args.epochs} if args.epochs else {}),
        )
        metrics = deepwas.run_fit(
            sumstats=str(sim / "sumstats.tsv.gz"),
            ld=str(work / "ld"),
            annot=str(sim / "annotations.tsv.gz"),
            out=str(work / f"fit_{model}"),
            config=config,
            test_blocks=0.2,
            truth=str(sim / "truth.tsv.gz"),
            enrich_se="no",
            progress=False,
            say=lambda *lines: log(*lines, sep="\n"),
            argv=[],
        )
        emit(
            {
                **base,
                "phase": "fit",
                "model": model,
                "seconds": time.perf_counter() - t0,
                "fit_seconds": metrics.seconds,
                "h2": metrics.h2,
                "h2_true": summary["h2"],
                "best_epoch": metrics.best_epoch,
                "truth_pearson": metrics.truth_pearson,
                "gain_per_1000": metrics.heldout_gain_per_1000,
                "peak_rss_gb": peak_rss_gb(),
            }
        )


if __name__ == "__main__":
    main()
