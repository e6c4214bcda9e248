"""Does a prior that sees the genomic neighbourhood (``--model ssm``) beat per-variant priors when
the truth depends on the neighbourhood? (issue 12)

For each seed: ``deepwas simulate`` with ``--prior neighbourhood`` (default; the true log SNPVAR
has the density of a binary mark within +-20 kb and the distance to the nearest variant of another
mark, besides a weak per-variant part, deepwas.simulate.annotations.true_prior) on a quick
population-LD simulation (``--n-ref`` 300 panel, ``--n-insample`` 5,000 GWAS cohort, N =
300,000, h2 = 0.01), an LD store of fixed ``--window-kb`` windows with 1 Mb flanks, then
``deepwas.workflow.run_fit`` for each of ``--models`` (linear, mlp, ssm by default) with
``--test-blocks 0.25`` (the seed draws the held-out and validation windows and the
initialisation) and the truth. ``--prior nonlinear`` gives the per-variant truth, on which the
SSM should be no worse than the MLP.

Output (stdout, JSON lines): one per fit (seed, model, held-out gain per 1,000 held-out
variants, Spearman and Pearson of the learned vs true log SNPVAR, seconds, parameters), then one
per model with the mean and sample SD across seeds, then one per paired contrast (ssm minus mlp,
ssm minus linear, mlp minus linear: mean difference and paired t over seeds). Progress on stderr.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/ssm_prior.py --seeds 1 2 3 --out DIR

``--models`` may add ``linear_mlp`` (the MLP trained from the fitted linear prior: the strongest
per-variant network), ``linear_ssm`` (the stack trained from the fitted linear prior; its contrasts
with mlp, linear and ssm are printed too), ``kernel_linear`` (the linear prior of the features and
of their kernel means), ``neighbourhood_linear`` (the linear prior of the features, their kernel
means and the proximity of binary marks at fixed decay lengths), ``oracle`` (the linear prior of
one annotation, the true log SNPVAR: the ceiling any prior can reach on these z-scores) and
``oracle_own`` (the same with the truth's least-squares projection on each variant's own
annotations: the ceiling of per-variant priors; oracle minus oracle_own is the neighbourhood's
share), ``nb_features`` (the linear prior with the truth's two neighbourhood terms as extra
annotations).
``--extrapolate-kb K...`` scores each fitted ssm prior with windows of K kb
(``deepwas.ssm.evaluation_window``: the length-extrapolation curve, one JSON line per seed and
window, then the mean per window).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import (  # noqa: E402 - benchmarks/ is on sys.path when run as a script
    FIT_FIELDS,
    build_ld,
    emit,
    fit_fields,
    log,
    mean_sd,
    paired_t,
)

_TRUTH = ("truth_spearman", "truth_pearson")

#: model name -> (family, width, depth)
MODELS = {
    "linear": ("linear", 64, 4),
    "mlp": ("mlp", 64, 4),
    "linear_mlp": ("linear_mlp", 64, 4),
    "ssm": ("ssm", 32, 2),
    "linear_ssm": ("linear_ssm", 32, 2),
    "kernel_linear": ("kernel_linear", 64, 4),
    "neighbourhood_linear": ("neighbourhood_linear", 64, 4),
    "constant": ("constant", 64, 4),
    # the ceiling: the linear prior of one annotation, the true log SNPVAR (oracle_annotations)
    "oracle": ("linear", 64, 4),
    # the per-variant ceiling: the truth projected on the variant's own annotations
    "oracle_own": ("linear", 64, 4),
    # the linear prior with the truth's two neighbourhood terms as extra annotations
    "nb_features": ("linear", 64, 4),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--models", nargs="+", default=["linear", "mlp", "ssm"], choices=list(MODELS))
    p.add_argument("--prior", default="neighbourhood", choices=["neighbourhood", "nonlinear"])
    p.add_argument("--length-mb", type=float, default=10.0)
    p.add_argument("--window-kb", type=float, default=1000.0, help="LD windows of the store")
    p.add_argument("--n-ref", type=int, default=300)
    p.add_argument("--n-insample", type=int, default=5000)
    p.add_argument("--n-gwas", type=float, default=300_000)
    p.add_argument("--h2", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--ssm-window-kb", type=float, default=100.0)
    p.add_argument("--ssm-width", type=int, default=None, help="override the ssm width (32)")
    p.add_argument("--ssm-depth", type=int, default=None, help="override the ssm depth (2)")
    p.add_argument(
        "--ssm-weight-decay",
        type=float,
        default=None,
        help="override AdamW's weight decay for ssm, linear_ssm and kernel_linear (the fit "
        "default, 1e-4)",
    )
    p.add_argument(
        "--tag",
        default="",
        help="suffix of the neighbourhood fits' folders (fit{seed}_ssm{tag}; also linear_ssm and "
        "kernel_linear), to compare settings or versions on the same simulations; the other "
        "fits keep their names",
    )
    p.add_argument(
        "--extrapolate-kb",
        type=float,
        nargs="+",
        default=None,
        help="after each ssm fit, score it with these windows (deepwas.ssm.evaluation_window: "
        "the learned decay lengths, a wider reach): the length-extrapolation curve",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="read the metrics.json of fits already in --out instead of refitting them",
    )
    return p.parse_args(argv)


def oracle_annotations(sim: Path, own: bool = False) -> Path:
    """An annotation file whose one annotation is the true log SNPVAR (and MAF, for the prior's
    log_2pq): the linear prior fitted on it is as good as any learned prior can be on these
    z-scores, up to the fit's own noise (the ceiling of the held-out gain).

    ``own=True``: instead, the least-squares projection of the true log SNPVAR on the variant's
    own annotations and log 2pq (the best linear per-variant predictor of the truth, fitted with
    the truth itself): the ceiling of priors that see each variant alone, so that ``oracle`` minus
    ``oracle_own`` is what only a prior that sees the neighbourhood can gain."""
    import numpy as np
    import pandas as pd

    out = sim / ("annotations_oracle_own.tsv.gz" if own else "annotations_oracle.tsv.gz")
    if not out.exists():
        annot = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
        truth = pd.read_csv(sim / "truth.tsv.gz", sep="\t").set_index("SNP")["SNPVAR"]
        log_s = np.log(truth.reindex(annot["SNP"]).to_numpy())
        keep = [c for c in ("CHR", "SNP", "BP", "A1", "A2") if c in annot]
        if own:
            maf = np.clip(annot["MAF"].to_numpy(np.float64), 1e-6, 0.5)
            own_cols = [c for c in annot.columns if c not in (*keep, "MAF")]
            X = np.column_stack(
                [np.ones(len(annot)), annot[own_cols].to_numpy(np.float64)]
                + [np.log(2 * maf * (1 - maf))]
            )
            coef, *_ = np.linalg.lstsq(X, log_s, rcond=None)
            log_s = X @ coef
        annot[keep].assign(true_log_snpvar=log_s, MAF=annot["MAF"]).to_csv(
            out, sep="\t", index=False
        )
    return out


def neighbourhood_annotations(sim: Path) -> Path:
    """The simulation's annotations plus the two neighbourhood terms of the ``neighbourhood``
    truth (``deepwas.simulate.annotations.neighbourhood_terms`` of the mark, binary3): its
    density within +-20 kb and its flank term (1 - M) exp(-d / 20 kb). The linear prior on them
    (``nb_features``) has the truth's features and must learn only their weights: what a
    neighbourhood prior that found the right kernels could reach."""
    import numpy as np
    import pandas as pd

    from deepwas.simulate.annotations import neighbourhood_terms

    out = sim / "annotations_nb_features.tsv.gz"
    if not out.exists():
        annot = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
        density, flank = neighbourhood_terms(
            annot["binary3"].to_numpy(), annot[["CHR", "BP"]].to_numpy(np.float64)
        )
        annot.assign(density20=density, flank20=flank).to_csv(out, sep="\t", index=False)
    return out


def extrapolation_curve(fit_dir: Path, seed: int, kbs) -> list[dict]:
    """Held-out gain of the saved ssm prior of ``fit_dir`` scored with each window of ``kbs``
    (kb), on the fit's own split: the prior as :func:`deepwas.evaluate` scored it (before the
    small-panel calibration of its scale), with its hard window widened and its learned decay
    lengths kept (:func:`deepwas.ssm.evaluation_window`). The fit's inputs, split and
    calibration come from the folder, as ``deepwas enrich`` reads them (``fit_settings``)."""
    import math

    import torch

    from deepwas.data import prepare_fit
    from deepwas.fit_folder import fit_settings
    from deepwas.io.annotations import read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait
    from deepwas.metrics import evaluate
    from deepwas.prior_files import load_prior
    from deepwas.ssm import evaluation_window

    fs = fit_settings(fit_dir)
    st = LDStore.open(fs.ld)
    trait = load_trait(fs.sumstats, st, ld_model=fs.ld_model, progress=False)
    data = prepare_fit(
        trait,
        read_annotations(fs.annot[0] if len(fs.annot) == 1 else fs.annot, bim=fs.bim),
        st,
        test_chrom=fs.test_chrom,
        test_blocks=fs.test_blocks,
        val_fraction=fs.val_fraction,
        split_seed=fs.split_seed,
    )
    prior = load_prior(fit_dir / "model")
    if fs.h2_scale:  # undo the calibration: score the prior evaluate() scored
        with torch.no_grad():
            prior.bias.sub_(math.log(fs.h2_scale))
    saved = json.loads((fit_dir / "metrics.json").read_text())
    rows = []
    for kb in kbs:
        with evaluation_window(prior, kb):
            m = evaluate(data, prior)
        rows.append(
            {
                "record": "extrapolation",
                "seed": seed,
                "trained_kb": prior.config.window_kb,
                "window_kb": kb,
                "heldout_gain_per_1000": m.heldout_gain_per_1000,
                "fit_heldout_gain_per_1000": saved.get("heldout_gain_per_1000"),
                "h2": m.h2,
                "sigma": m.sigma,
            }
        )
        emit(rows[-1])
        log(f"seed {seed} ssm at +-{kb:g} kb: gain/1000 {m.heldout_gain_per_1000:.3f}")
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from deepwas.cli import main as deepwas_main
    from deepwas.fit import TrainConfig
    from deepwas.workflow import run_fit

    torch.set_num_threads(args.threads)
    for name in ("ssm", "linear_ssm"):
        if args.ssm_width:
            MODELS[name] = (name, args.ssm_width, MODELS[name][2])
        if args.ssm_depth:
            MODELS[name] = (name, MODELS[name][1], args.ssm_depth)
    with contextlib.ExitStack() as stack:
        tmp = None if args.out else stack.enter_context(tempfile.TemporaryDirectory())
        root = Path(args.out or tmp)
        rows, curves = [], []
        for seed in args.seeds:
            sim, store = root / f"sim{seed}", root / f"ld{seed}"
            t0 = time.perf_counter()
            if not (sim / "truth.tsv.gz").exists():
                argv_sim = ["simulate", "--n-ref", str(args.n_ref)]
                argv_sim += ["--n-insample", str(args.n_insample), "--n-gwas", str(args.n_gwas)]
                argv_sim += ["--h2", str(args.h2), "--length-mb", str(args.length_mb)]
                argv_sim += ["--prior", args.prior, "--seed", str(seed), "--out", str(sim)]
                with contextlib.redirect_stdout(sys.stderr):
                    if deepwas_main([*argv_sim, "--quiet"]) != 0:
                        sys.exit(f"ssm_prior: deepwas {' '.join(argv_sim)} failed")
            if not (store / "manifest.json").exists():
                build_ld(sim / "reference", None, 1000.0, store, window_kb=args.window_kb)
            log(f"seed {seed}: simulation and LD store in {time.perf_counter() - t0:.0f} s")
            for name in args.models:
                family, width, depth = MODELS[name]
                is_ssm = name in ("ssm", "linear_ssm", "kernel_linear", "neighbourhood_linear")
                fit_dir = root / f"fit{seed}_{name}{args.tag if is_ssm else ''}"
                if args.reuse and (fit_dir / "metrics.json").exists():
                    saved = json.loads((fit_dir / "metrics.json").read_text())
                    row = {"record": "fit", "seed": seed, "model": name, "prior": args.prior}
                    row |= {"width": width, "depth": depth, "reused": True}
                    row |= {k: saved.get(k) for k in (*FIT_FIELDS, *_TRUTH, "seconds")}
                    rows.append(row)
                    emit(row)
                    continue
                cfg = TrainConfig(
                    model=family,
                    width=width,
                    depth=depth,
                    epochs=args.epochs,
                    seed=seed,
                    ssm_window_kb=args.ssm_window_kb,
                )
                if is_ssm and args.ssm_weight_decay is not None:
                    cfg = dataclasses.replace(cfg, weight_decay=args.ssm_weight_decay)
                m = run_fit(
                    enrich_se="no",  # its own enrichment or none (not the fit's report)
                    sumstats=str(sim / "sumstats.tsv.gz"),
                    ld=str(store),
                    annot=str(
                        oracle_annotations(sim, own=name == "oracle_own")
                        if name.startswith("oracle")
                        else neighbourhood_annotations(sim)
                        if name == "nb_features"
                        else sim / "annotations.tsv.gz"
                    ),
                    out=str(fit_dir),
                    config=cfg,
                    test_blocks=0.25,
                    truth=str(sim / "truth.tsv.gz"),
                    progress=False,
                    say=lambda *lines: None,
                )
                row = {
                    "record": "fit",
                    "seed": seed,
                    "model": name,
                    "prior": args.prior,
                    "width": width,
                    "depth": depth,
                    **fit_fields(m),
                    "truth_spearman": m.truth_spearman,
                    "truth_pearson": m.truth_pearson,
                    "seconds": m.seconds,
                }
                rows.append(row)
                emit(row)
                log(
                    f"seed {seed} {name}: gain/1000 {m.heldout_gain_per_1000:.3f}, "
                    f"Spearman {m.truth_spearman:.3f}, {m.seconds:.0f} s"
                )
            if args.extrapolate_kb and "ssm" in args.models:
                curves += extrapolation_curve(
                    root / f"fit{seed}_ssm{args.tag}", seed, args.extrapolate_kb
                )
        for kb in args.extrapolate_kb or []:
            mean, sd, n = mean_sd(
                c["heldout_gain_per_1000"] for c in curves if c["window_kb"] == kb
            )
            emit(
                {"record": "extrapolation_summary", "window_kb": kb, "mean": mean, "sd": sd, "n": n}
            )
        by = {(r["seed"], r["model"]): r for r in rows}
        for name in args.models:
            for key in ("heldout_gain_per_1000", "truth_spearman", "seconds"):
                mean, sd, n = mean_sd(r[key] for r in rows if r["model"] == name)
                emit(
                    {"record": "summary", "model": name, "metric": key, "mean": mean, "sd": sd}
                    | {"n": n, "prior": args.prior}
                )
        contrasts = [("ssm", "mlp"), ("ssm", "linear"), ("mlp", "linear")]
        contrasts += [("linear_ssm", "mlp"), ("linear_ssm", "linear"), ("linear_ssm", "ssm")]
        contrasts += [("kernel_linear", "mlp"), ("kernel_linear", "linear")]
        contrasts += [("kernel_linear", "linear_mlp"), ("linear_mlp", "mlp")]
        nbl = "neighbourhood_linear"
        contrasts += [(nbl, "mlp"), (nbl, "linear_mlp"), (nbl, "linear"), (nbl, "kernel_linear")]
        contrasts += [(nbl, "nb_features"), (nbl, "oracle"), (nbl, "oracle_own")]
        contrasts += [("kernel_linear", "ssm"), ("oracle", "linear"), ("oracle", "mlp")]
        contrasts += [("oracle", "oracle_own"), ("oracle_own", "linear"), ("oracle_own", "mlp")]
        contrasts += [("ssm", "oracle_own"), ("kernel_linear", "oracle_own")]
        contrasts += [("nb_features", "linear"), ("nb_features", "kernel_linear")]
        for a, b in contrasts:
            if a not in args.models or b not in args.models:
                continue
            for key in ("heldout_gain_per_1000", "truth_spearman"):
                d = [by[s, a][key] - by[s, b][key] for s in args.seeds]
                mean, sd, n = mean_sd(d)
                emit(
                    {"record": "contrast", "contrast": f"{a}-{b}", "metric": key, "mean": mean}
                    | {"sd": sd, "paired_t": paired_t(d), "n": n, "prior": args.prior}
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
