"""``deepwas demo``: the main job end to end on an embedded default.

Simulate a realistic problem with msprime (Out-of-Africa CEU genotypes, HapMap3-like density, a
GWAS of N = 300,000 whose z-scores carry the LD of a 5,000-person population sample, a separate
500-sample reference panel, synthetic spatially clustered annotations and a non-linear true
prior); build the LD store from the panel; fit constant, linear and
MLP priors with the exact likelihood and with the LDSC objective on 75% of the LD blocks; score
every model with the exact likelihood on the held-out 25%; print the table of held-out
log-likelihood gain over the constant prior and correlation with the true prior, and where the
reports are. Then what the linear prior delivers (:mod:`deepwas.demo_deliverables`): enrichment
with standard errors, the top credible sets, and PRS accuracy against the constant prior.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from deepwas._files import atomic_file

#: The prior families the demo fits, each with every objective: the established ones (the
#: neighbourhood prior ``ssm`` does not yet beat the MLP, BENCHMARKS.md, and costs the most)
DEMO_MODELS = ("constant", "linear", "mlp", "linear_mlp")

__all__ = ["run_demo"]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:6.3f}"


def run_demo(out: str | Path, *, seed: int = 1, quick: bool = False, progress: bool = True) -> dict:
    """Run the demo into ``out``, print the summary table and return it as a dict.

    ``quick`` shrinks the problem (one 6 Mb chromosome, 200 samples, few epochs) for tests.
    """
    from deepwas.fit import OBJECTIVES, TrainConfig
    from deepwas.io.genotypes import read_plink
    from deepwas.ld.build import build_store
    from deepwas.provenance import provenance
    from deepwas.simulate import SimConfig, run_simulation
    from deepwas.workflow import run_fit

    out = Path(out)
    t0 = time.perf_counter()
    # HapMap3-like density (about 400 variants per Mb) and a heritability typical of regions of
    # this size for a highly polygenic trait, so that mean chi2 is a few units as in real GWAS.
    if quick:
        sim_cfg = SimConfig(
            n_ref=200, n_gwas=100_000, h2=0.03, length_mb=6.0, max_snps=2400, seed=seed
        )
        epochs = 15
    else:
        # the GWAS's LD is a population sample's, the LD store a separate 500-sample panel's:
        # default settings must be calibrated there (docs/mismatch.md)
        sim_cfg = SimConfig(
            n_ref=500,
            n_insample=5000,
            n_gwas=300_000,
            h2=0.01,
            length_mb=25.0,
            chroms=2,
            max_snps=10_000,
            seed=seed,
        )
        epochs = 60
    cohort = f" + {sim_cfg.n_insample} in-sample" if sim_cfg.n_insample else ""
    print(
        f"[1/4] simulating {sim_cfg.chroms} x {sim_cfg.length_mb:g} Mb: {sim_cfg.n_ref} reference"
        f"{cohort} diploids (msprime, Out-of-Africa CEU), N = {sim_cfg.n_gwas:,.0f}, "
        f"h2 = {sim_cfg.h2}, {sim_cfg.prior} true prior",
        flush=True,
    )
    sim_dir = out / "simulation"
    sim = run_simulation(sim_cfg, sim_dir, argv=["deepwas", "demo"], progress=progress)
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
    print(f"      {store.n_windows} windows", flush=True)
    from deepwas.exact import fit_constant
    from deepwas.ld.trait import constant_prior_model, load_trait

    # the best constant prior's h2 as `deepwas loglik` reports it (the diagonal model with a
    # small panel: docs/mismatch.md)
    trait = load_trait(
        sim_dir / "sumstats.tsv.gz", store, ld_model=constant_prior_model(store), progress=False
    )
    const = fit_constant(trait)
    constant = {
        "h2": const.h2,
        "sigma": const.sigma,
        "h2_true": sim["h2"],
        "ld_model": trait.ld_model,
    }
    print(
        f"      best constant prior ({trait.ld_model} model): h2 = {const.h2:.4f} "
        f"(true {sim['h2']:.4f}, {100 * (const.h2 / sim['h2'] - 1):+.0f}%), "
        f"sigma = {const.sigma:.3f}",
        flush=True,
    )

    print(
        f"[3/4] fitting {len(DEMO_MODELS) * len(OBJECTIVES)} priors (25% of LD blocks held out)",
        flush=True,
    )
    rows = []
    for model in DEMO_MODELS:  # with every objective
        for objective in OBJECTIVES:
            cfg = TrainConfig(
                model=model, objective=objective, width=64, depth=4, epochs=epochs, seed=seed
            )
            fit_dir = out / f"fit_{model}_{objective}"
            m = run_fit(
                enrich_se="no",  # its own enrichment or none (not the fit's report)
                sumstats=str(sim_dir / "sumstats.tsv.gz"),
                ld=str(out / "ld"),
                annot=str(sim_dir / "annotations.tsv.gz"),
                out=str(fit_dir),
                config=cfg,
                test_blocks=0.25,
                truth=str(sim_dir / "truth.tsv.gz"),
                argv=["deepwas", "demo"],
                progress=False,
                say=lambda *lines: None,
            )
            rows.append(
                {
                    "model": model,
                    "objective": objective,
                    "n_params": m.n_params,
                    "heldout_gain": m.heldout_gain,
                    "heldout_gain_per_1000": m.heldout_gain_per_1000,
                    "truth_pearson": m.truth_pearson,
                    "truth_spearman": m.truth_spearman,
                    "h2": m.h2,
                    "h2_true": m.h2_true,
                    "sigma": m.sigma,
                    "seconds": m.seconds,
                    "report": str(fit_dir / "report.html"),
                }
            )
            print(
                f"      {model:<11}{objective:<11} held-out gain {m.heldout_gain:9.2f}  "
                f"truth r {_fmt(m.truth_pearson)}  ({m.seconds:.0f} s)",
                flush=True,
            )

    print("[4/4] what the likelihood-trained linear prior delivers", flush=True)
    from deepwas.demo_deliverables import deliverables

    delivered = deliverables(out, sim_dir, store, quick=quick, progress=progress)
    summary = {
        "rows": rows,
        "deliverables": delivered,
        "n_variants": store.n_variants,
        "n_windows": store.n_windows,
        "constant_fit": constant,
        "seconds": time.perf_counter() - t0,
        "provenance": provenance(
            seed=seed,
            argv=["deepwas", "demo"],
            simulation=json.loads((sim_dir / "simulation.json").read_text())["config"],
        ),
    }
    with atomic_file(out / "demo.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    print(
        f"\n{'model':<12}{'objective':<12}{'params':>7}{'held-out gain':>15}"
        f"{'per 1k SNPs':>13}{'truth r':>9}{'rho':>7}{'h2':>8}{'sigma':>7}"
    )
    for r in rows:
        print(
            f"{r['model']:<12}{r['objective']:<12}{r['n_params']:>7}{r['heldout_gain']:>15.2f}"
            f"{r['heldout_gain_per_1000']:>13.3f}{_fmt(r['truth_pearson']):>9}"
            f"{_fmt(r['truth_spearman']):>7}{r['h2']:>8.4f}{r['sigma']:>7.3f}"
        )
    print(
        f"\nheld-out gain: exact log-likelihood of the held-out LD blocks minus that of the best "
        f"constant prior (nats); truth r/rho: Pearson/Spearman of learned and true log SNPVAR; "
        f"true h2 {rows[0]['h2_true']:.4f}"
    )
    best = max(rows, key=lambda r: r["heldout_gain"])
    print(
        f"report: {best['report']}   (all results: {out / 'demo.json'}, {summary['seconds']:.0f} s)"
    )
    return summary
