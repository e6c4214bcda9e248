"""``deepwas demo``: the main job end to end on an embedded default.

Simulate a GWAS with msprime genotypes (Out-of-Africa CEU), synthetic annotations and a
non-linear true prior; build the LD store; read, harmonise and project the summary statistics;
evaluate the exact likelihood under the true prior and fit the best constant prior (h2 and sigma)
by maximum likelihood. The learned annotation-dependent priors are the training issue's
(`deepwas fit`); until then the demo shows what the exact likelihood sees: how much better the
true functional prior explains the data than the best constant prior.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deepwas._files import atomic_file

__all__ = ["run_demo"]

VAR_EXPLAINED = 0.9


def run_demo(out: str | Path, *, seed: int = 1, quick: bool = False, progress: bool = True) -> dict:
    """Run the demo into ``out`` and print a summary; returns the summary dict.

    ``quick`` shrinks the problem (3 Mb, 200 samples) for tests.
    """
    from deepwas.fit import fit_constant, total_nll
    from deepwas.io.genotypes import read_plink
    from deepwas.ld.store import build_store
    from deepwas.ld.trait import load_trait
    from deepwas.provenance import provenance
    from deepwas.simulate import SimConfig, run_simulation

    out = Path(out)
    t0 = time.perf_counter()
    # HapMap3-like density (about 400 variants per Mb) and a heritability typical of a region of
    # this size for a highly polygenic trait, so that mean chi2 is a few units as in real GWAS.
    if quick:
        cfg = SimConfig(n_ref=200, n_gwas=100_000, h2=0.02, length_mb=4.0, max_snps=1600, seed=seed)
    else:
        cfg = SimConfig(
            n_ref=500,
            n_insample=1000,
            n_gwas=100_000,
            h2=0.05,
            length_mb=25.0,
            max_snps=10_000,
            seed=seed,
        )
    cohort = f" + {cfg.n_insample} in-sample" if cfg.n_insample else ""
    print(
        f"[1/4] simulating: {cfg.length_mb:g} Mb, {cfg.n_ref} reference{cohort} diploids "
        f"(msprime, Out-of-Africa CEU), N = {cfg.n_gwas:,.0f}, h2 = {cfg.h2}",
        flush=True,
    )
    sim_dir = out / "simulation"
    sim = run_simulation(cfg, sim_dir, argv=["deepwas", "demo"], progress=progress)
    print(f"      {sim['n_snps']:,} variants, mean chi2 {sim['mean_chi2']:.3f}", flush=True)

    print("[2/4] building the LD store (1.5 Mb windows, 1 Mb flanks)", flush=True)
    panel = read_plink(sim_dir / "reference")
    store = build_store(
        panel,
        out / "ld",
        window_kb=1500.0,
        flank_kb=1000.0,
        min_maf=0.01,
        provenance=provenance(
            inputs={"genotypes": sim_dir / "reference.bed"}, argv=["deepwas", "demo"]
        ),
        progress=progress,
    )
    print("      " + "\n      ".join(store.summary()), flush=True)

    print("[3/4] reading, harmonising and projecting the summary statistics", flush=True)
    # Keep the eigen-directions explaining 90% of each window's LD variance: with a reference panel
    # of a few hundred samples the rest is mostly panel noise and LD mismatch (docs/decisions.md).
    trait = load_trait(
        sim_dir / "sumstats.tsv.gz", store, var_explained=VAR_EXPLAINED, progress=progress
    )
    print("      " + "\n      ".join(trait.report), flush=True)

    print("[4/4] exact likelihood: true prior against the best constant prior", flush=True)
    truth = pd.read_csv(sim_dir / "truth.tsv.gz", sep="\t")
    s_true = pd.Series(truth["SNPVAR"].to_numpy(), index=truth["SNP"]).reindex(
        store.variants["SNP"]
    )
    s_true = s_true.fillna(s_true.min()).to_numpy()
    const = fit_constant(trait)
    with torch.no_grad():
        nll_true = float(total_nll(trait, torch.from_numpy(np.log(s_true)), 1.0))
    n_sc = trait.n_scored
    summary = {
        "n_variants": store.n_variants,
        "n_windows": len(trait.windows),
        "n_scored": n_sc,
        "var_explained": VAR_EXPLAINED,
        "h2_true": float(s_true.sum()),
        "h2_constant_fit": const.h2,
        "sigma_constant_fit": const.sigma,
        "loglik_constant": -const.nll,
        "loglik_true_prior": -nll_true,
        "loglik_gain_true_over_constant_per_snp": (const.nll - nll_true) / n_sc,
        "seconds": time.perf_counter() - t0,
        "provenance": provenance(seed=seed, argv=["deepwas", "demo"]),
    }
    with atomic_file(out / "demo.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    rows = [
        ("best constant prior", -const.nll, const.h2, const.sigma),
        ("true functional prior", -nll_true, s_true.sum(), 1.0),
    ]
    print(f"\n{'prior':<24}{'log-likelihood':>16}{'h2':>9}{'sigma':>8}")
    for name, ll, h2, sig in rows:
        print(f"{name:<24}{ll:>16.2f}{h2:>9.3f}{sig:>8.3f}")
    print(
        f"\nlog-likelihood gain of the true prior over the constant one: "
        f"{const.nll - nll_true:.2f} in total, {1e3 * (const.nll - nll_true) / n_sc:.3f} per "
        f"1,000 scored variants ({n_sc:,} scored, {len(trait.windows)} windows)"
    )
    print(f"results: {out / 'demo.json'}  ({summary['seconds']:.0f} s)")
    if not math.isfinite(summary["loglik_constant"]):
        raise RuntimeError("non-finite likelihood")
    return summary
