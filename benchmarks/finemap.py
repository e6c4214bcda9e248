"""Calibration and power of ``deepwas finemap`` (SuSiE-RSS) on simulations with population LD.

``deepwas simulate`` draws an infinitesimal architecture (every variant causal, beta ~ N(0,
SNPVAR)), for which fine-mapping calibration is meaningless. This benchmark therefore takes the
simulation's genotypes (the GWAS cohort, ``insample``, and the reference panel) and its true
functional prior (``truth.tsv.gz``: SNPVAR from the annotations) and draws *sparse* causal
effects itself: per LD block of ``--block-kb``, ``1 + Poisson(--extra-causal)`` causal variants
chosen with probability proportional to SNPVAR (so the true prior is informative), effects
beta ~ N(0, (--z-sd)^2 / N) on the standardised scale, and z ~ N(sqrt(N) R_pop b, R_pop) with
R_pop the cohort's LD. Every block with a variant at P < 5e-8 is fine-mapped with
:func:`deepwas.finemapping.finemap_z` (lambda auto, the mismatch check on, ``--L`` effects) under
six settings: LD from the cohort (in-sample) or the reference panel, and uniform prior weights,
the true prior's SNPVAR, or a *learned* prior's: ``deepwas fit`` (defaults: linear prior, exact
likelihood, the panel's LD store with ``--window-kb 1500``) on the simulation's own polygenic
summary statistics (``sumstats.tsv.gz``: the same annotations and true prior, every variant
causal), as PolyFun learns its prior genome-wide and applies it to each locus. One JSON line per
setting (stdout):

- ``frac_causal_pip90``: among variants with PIP >= 0.9, the fraction causal (target >= 0.85);
- ``power_pip50``: causal variants (of all blocks) with PIP > 0.5, as a fraction of all causal;
- ``cs_coverage``: fraction of 95% credible sets that hold a causal variant; ``cs_size`` mean size.

Usage: ``python benchmarks/finemap.py [--sim DIR] [--reps 10]`` (without ``--sim`` it runs
``deepwas simulate`` first, into a temporary folder).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log  # noqa: E402

SIM_ARGS = [
    "--n-ref", "300", "--n-insample", "5000", "--n-gwas", "300000", "--h2", "0.01",
    "--length-mb", "10", "--max-snps", "3000", "--quiet", "--threads", "1",
]  # fmt: skip


def standardised(prefix: Path) -> tuple[np.ndarray, pd.DataFrame]:
    from bed_reader import open_bed

    with open_bed(f"{prefix}.bed") as bed:
        G = bed.read(dtype="float64")
    bim = pd.read_csv(f"{prefix}.bim", sep=r"\s+", header=None, usecols=[0, 1, 3])
    bim.columns = ["CHR", "SNP", "BP"]
    G -= np.nanmean(G, axis=0)
    G[np.isnan(G)] = 0.0
    sd = G.std(axis=0)
    sd[sd == 0] = 1.0
    return G / sd, bim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sim", type=Path, default=None, help="a deepwas simulate folder (simulated when new)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10, help="replicate draws of the causal effects")
    ap.add_argument("--block-kb", type=float, default=1000.0)
    ap.add_argument("--extra-causal", type=float, default=0.5)
    ap.add_argument("--z-sd", type=float, default=6.0, help="sd of sqrt(N) beta")
    ap.add_argument("--L", type=int, default=10)
    ap.add_argument(
        "--chroms",
        type=int,
        default=1,
        help="simulated chromosomes (--length-mb each; --h2 scales with the genome, --max-snps "
        "with each chromosome's length): "
        "a prior learnt from more of the genome than the loci",
    )
    ap.add_argument("--length-mb", type=float, default=10.0)
    args = ap.parse_args()
    scale = args.chroms * args.length_mb / 10.0
    sim_args = [*SIM_ARGS]
    for flag, value in (
        ("--h2", f"{0.01 * scale:g}"),
        ("--length-mb", f"{args.length_mb:g}"),
        ("--max-snps", str(int(round(3000 * args.length_mb / 10.0)))),  # per chromosome
    ):
        sim_args[sim_args.index(flag) + 1] = value
    sim_args += ["--chroms", str(args.chroms)] if args.chroms > 1 else []

    from deepwas.cli import main as cli
    from deepwas.finemapping import FinemapConfig, finemap_z

    tmp = None
    sim = args.sim
    if sim is None:
        tmp = tempfile.TemporaryDirectory()
        sim = Path(tmp.name) / "sim"
    if not (sim / "insample.bed").is_file():  # simulate (into --sim when it is new)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON lines only
            assert cli(["simulate", *sim_args, "--seed", str(args.seed), "--out", str(sim)]) == 0
        log(f"simulated in {time.perf_counter() - t0:.0f} s")
    n_gwas = 300_000.0
    X_pop, bim = standardised(sim / "insample")
    X_ref, bim_ref = standardised(sim / "reference")
    assert (bim["SNP"].to_numpy() == bim_ref["SNP"].to_numpy()).all()
    truth = pd.read_csv(sim / "truth.tsv.gz", sep="\t").set_index("SNP")["SNPVAR"]
    snpvar = truth.reindex(bim["SNP"]).to_numpy(np.float64)
    bp, chrom = bim["BP"].to_numpy(), bim["CHR"].to_numpy()
    block_id = ((bp - bp.min()) // (args.block_kb * 1000)).astype(np.int64)
    block_id += chrom.astype(np.int64) * 1_000_000  # blocks never span chromosomes
    blocks = [np.flatnonzero(block_id == b) for b in np.unique(block_id)]
    blocks = [b for b in blocks if b.size >= 20]
    R_pop = [X_pop[:, b].T @ X_pop[:, b] / X_pop.shape[0] for b in blocks]
    R_ref = [X_ref[:, b].T @ X_ref[:, b] / X_ref.shape[0] for b in blocks]
    chol = []
    for R in R_pop:
        w, U = np.linalg.eigh(R)
        chol.append(U * np.sqrt(np.clip(w, 0, None)))
    log(
        f"{len(bim)} variants in {len(blocks)} blocks of {args.block_kb:g} kb; cohort "
        f"{X_pop.shape[0]}, panel {X_ref.shape[0]}; SNPVAR spread (max/median) "
        f"{np.nanmax(snpvar) / np.nanmedian(snpvar):.1f}"
    )
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        store = sim / "bench_ld"
        if not (store / "manifest.json").is_file():
            assert cli(["ld", "--bfile", str(sim / "reference"), "--window-kb", "1500",
                        "--out", str(store), "--quiet", "--threads", "1"]) == 0  # fmt: skip
        fit = sim / "bench_fit"
        assert cli(["fit", "--sumstats", str(sim / "sumstats.tsv.gz"), "--ld", str(store),
                    "--annot", str(sim / "annotations.tsv.gz"),
                    "--out", str(fit), "--quiet", "--threads", "1"]) == 0  # fmt: skip
    learned_tab = pd.read_csv(fit / "priors.tsv.gz", sep="\t").set_index("SNP")["SNPVAR"]
    learned = learned_tab.reindex(bim["SNP"]).to_numpy(np.float64, copy=True)
    learned[~np.isfinite(learned)] = np.nanmedian(learned)
    ok = np.isfinite(snpvar)
    truth_r = float(np.corrcoef(np.log(learned[ok]), np.log(snpvar[ok]))[0, 1])
    log(f"learned prior (linear, deepwas fit defaults) in {time.perf_counter() - t0:.0f} s: "
        f"r(log SNPVAR, truth) = {truth_r:.3f}")  # fmt: skip
    weights_of = {"uniform": None, "true": snpvar, "learned": learned}
    rng = np.random.default_rng(args.seed)
    settings = [(ld, prior) for ld in ("insample", "reference") for prior in weights_of]
    rows = {s: [] for s in settings}
    cs_stats = {s: [] for s in settings}
    seconds = dict.fromkeys(settings, 0.0)
    n_causal_total = 0
    for _rep in range(args.reps):
        for k, idx in enumerate(blocks):
            m = idx.size
            p = snpvar[idx] / snpvar[idx].sum()
            n_c = min(1 + rng.poisson(args.extra_causal), m)
            causal = rng.choice(m, size=n_c, replace=False, p=p)
            b = np.zeros(m)
            b[causal] = rng.normal(0.0, args.z_sd, n_c) / math.sqrt(n_gwas)
            z = math.sqrt(n_gwas) * R_pop[k] @ b + chol[k] @ rng.standard_normal(m)
            is_causal = np.zeros(m, bool)
            is_causal[causal] = True
            n_causal_total += n_c
            significant = np.max(np.abs(z)) > 5.45  # P < 5e-8
            for s in settings:
                ld, prior = s
                if not significant:
                    rows[s].append((np.zeros(m), is_causal))
                    continue
                R = R_pop[k] if ld == "insample" else R_ref[k]
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = finemap_z(
                        z,
                        R,
                        n_gwas,
                        weights=None if weights_of[prior] is None else weights_of[prior][idx],
                        config=FinemapConfig(L=args.L),
                    )
                seconds[s] += time.perf_counter() - t0
                rows[s].append((np.nan_to_num(res["pip"]), is_causal))
                for cs in res["cs"]:
                    cs_stats[s].append((bool(is_causal[cs.variants].any()), cs.variants.size))
    for s in settings:
        pip = np.concatenate([r[0] for r in rows[s]])
        causal = np.concatenate([r[1] for r in rows[s]])
        hi = pip >= 0.9
        cs = cs_stats[s]
        emit(
            {
                "benchmark": "finemap_calibration",
                "ld": s[0],
                "prior": s[1],
                "reps": args.reps,
                "n_blocks": len(blocks),
                "n_variants": int(pip.size),
                "n_causal": int(causal.sum()),
                "n_pip90": int(hi.sum()),
                "frac_causal_pip90": float(causal[hi].mean()) if hi.any() else None,
                "power_pip50": float((pip[causal] > 0.5).mean()),
                "n_cs": len(cs),
                "cs_coverage": float(np.mean([c for c, _ in cs])) if cs else None,
                "cs_size": float(np.mean([n for _, n in cs])) if cs else None,
                "seconds_finemap": seconds[s],
                "seed": args.seed,
                "sim_args": sim_args if args.sim is None else str(args.sim),
                "z_sd": args.z_sd,
                "extra_causal": args.extra_causal,
                "L": args.L,
                "learned_truth_r": truth_r,
            }
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
