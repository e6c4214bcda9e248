"""``deepwas fit`` end to end, composed of the public steps: open the store
(:meth:`deepwas.LDStore.open`), load the trait (:func:`deepwas.load_trait`), read annotations
(:func:`deepwas.read_annotations`), prepare features and split (:func:`deepwas.prepare_fit`),
train (:func:`deepwas.train_prior`), evaluate with the exact likelihood
(:func:`deepwas.evaluate`), predict SNPVAR (:func:`deepwas.predict_snpvar`) and write
``priors.tsv.gz``, ``metrics.json``, ``model/``, ``history.tsv`` and ``report.html``
(:func:`write_fit`) (DESIGN 4). :func:`run_fit` is only that composition, with paths in and a
folder out, and the torch.distributed set-up.

Evaluation (DESIGN 2.4). Whatever objective a model was trained with, it is scored with the exact
likelihood on the held-out windows. Its sigma for that is re-fitted by exact maximum likelihood on
the *training* windows with the prior held fixed (a model trained with the LDSC objective has
an LDSC sigma that the likelihood need not like; the held-out data are never used). The baseline
is the best constant prior of the training windows, scored the same way.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from deepwas._files import atomic_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from deepwas.data import FitData
    from deepwas.fit import TrainConfig
    from deepwas.metrics import FitMetrics
    from deepwas.priors import Prior

__all__ = ["run_fit", "write_fit"]


def _enrichment(features: np.ndarray, names: list[str], snpvar: np.ndarray) -> pd.DataFrame:
    rows = []
    overall = float(snpvar.mean())
    for j, name in enumerate(names):
        col = features[:, j]
        binary = bool(np.all(np.isin(col, (0.0, 1.0))))
        inside = col > 0 if binary else col >= np.quantile(col, 0.8)
        if inside.all() or not inside.any():
            continue
        mean_in = float(snpvar[inside].mean())
        rows.append(
            {
                "annotation": name,
                "kind": "binary" if binary else "continuous",
                "fraction": float(inside.mean()),
                "mean_snpvar_in": mean_in,
                "mean_snpvar_out": float(snpvar[~inside].mean()),
                "enrichment": mean_in / overall,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "annotation",
            "kind",
            "fraction",
            "mean_snpvar_in",
            "mean_snpvar_out",
            "enrichment",
        ],
    )


def _init_distributed() -> tuple[int, bool]:
    """Join the torch.distributed process group that ``torchrun`` describes (WORLD_SIZE > 1 in
    the environment; gloo on the CPU, NCCL on GPUs); returns this process's rank (0 alone).

    Training and evaluation are then data-parallel over windows (:func:`deepwas.fit.train_prior`,
    :func:`deepwas.exact.window_nlls`, ...); every process reads the same inputs (the LD store
    memory-mapped: a process pages in only the windows it evaluates), and only rank 0 writes.
    Returns (rank, whether this call created the process group).
    """
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return 0, False
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), created


def _leave_distributed(created: bool) -> None:
    """After the last collective call: wait for every process, then destroy the process group if
    we created it. Without the barrier a process that leaves first can close connections that
    another's gloo threads still use, which aborts that process (seen in 1 of ~4 runs).

    Then collect cyclic garbage while the interpreter is whole: objects that still reference
    the group's gloo internals were otherwise freed during interpreter shutdown, where a
    process aborted ("terminate called without an active exception", SIGABRT) after its work
    was done, in 7 of 100 two-process runs here; with the collection, in none of 200."""
    import gc

    import torch.distributed as dist

    if created and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def write_fit(
    out: str | Path,
    *,
    data: FitData,
    prior: Prior,
    metrics: FitMetrics,
    predictions: pd.DataFrame,
    history: list[dict] | pd.DataFrame | None = None,
    enrichment_results: pd.DataFrame | None = None,
) -> Path:
    """Write the outputs of a fit to the folder ``out``, atomically (an existing folder is
    replaced only once everything is written).

    Parameters
    ----------
    out:
        The output folder.
    data: deepwas.data.FitData
        The fit's data (the report's enrichment by annotation reads its features).
    prior: deepwas.priors.Prior
        The trained prior (saved to ``out/model/``).
    metrics: FitMetrics
        From :func:`deepwas.evaluate`; without provenance, a record of this call is added.
    predictions: (n, 6) DataFrame
        ``CHR SNP BP A1 A2 SNPVAR`` from :func:`deepwas.predict_snpvar`.
    history:
        ``TrainResult.history`` (one row per epoch), if any.
    enrichment_results:
        The S-LDSC ``.results`` table of the fit's own annotations with jackknife SEs
        (:func:`deepwas.enrichment`), if computed: written as ``enrichment.results`` and shown
        with error bars in the report (else the report shows the point estimates).

    Returns
    -------
    Path
        ``out``, holding ``priors.tsv.gz``, ``metrics.json`` (:meth:`FitMetrics.to_dict`),
        ``history.tsv``, ``model/``, ``report.html`` and, if given, ``enrichment.results``.
    """
    from deepwas.prior_files import save_prior
    from deepwas.provenance import provenance
    from deepwas.report import write_report

    out = Path(out)
    if history is None or len(history) == 0:
        history = pd.DataFrame(columns=_HISTORY_COLUMNS)
    else:
        history = pd.DataFrame(history)
    if metrics.provenance is None:
        metrics.provenance = provenance()
    record = metrics.to_dict()
    snpvar = torch.exp(prior.predict(data.features, data.positions)).numpy()
    with atomic_dir(out) as tmp:
        predictions.to_csv(tmp / "priors.tsv.gz", sep="\t", index=False, float_format="%.6g")
        (tmp / "metrics.json").write_text(json.dumps(record, indent=2, default=str))
        history.to_csv(tmp / "history.tsv", sep="\t", index=False)
        save_prior(prior, tmp / "model")
        if enrichment_results is not None:
            enrichment_results.to_csv(
                tmp / "enrichment.results", sep="\t", index=False, float_format="%.6g", na_rep="NA"
            )
        write_report(
            tmp / "report.html",
            metrics=record,
            history=history,
            window_gains=metrics.window_gains,
            enrichment=_enrichment(data.features, data.feature_names, snpvar),
            truth=metrics.truth_pairs,
            diagnostics=metrics.mismatch_windows,
            enrichment_results=enrichment_results,
        )
    return out


#: ``enrich_se="auto"`` computes the fit's enrichment SEs when their estimated cost is below this
AUTO_ENRICH_SECONDS = 300.0
ENRICH_SE = ("auto", "yes", "no")


def _enrich_plan(enrich_se: str, prior: Prior, n_windows: int, train_seconds: float):
    """(run?, reason) for the fit's enrichment SEs: ``auto`` runs them when the refits are
    reruns of the training (:func:`deepwas.enrich.resolve_refit` gives "scratch") and their cost
    is at most :data:`AUTO_ENRICH_SECONDS`: blocks x the training time for a delete-one jackknife,
    the halvings x the training time for a network's delete-half jackknife (2 reruns per halving,
    each on half the windows)."""
    from deepwas.enrich import (
        DEFAULT_BLOCKS,
        default_half_partitions,
        resolve_jackknife,
        resolve_refit,
    )

    if enrich_se == "yes":
        return True, ""
    if enrich_se == "no":
        return False, ""
    blocks = min(DEFAULT_BLOCKS, n_windows)
    refit = resolve_refit(prior, n_windows)
    if resolve_jackknife(prior, refit) == "delete-half":
        fits = default_half_partitions(blocks)
        what = f"{2 * fits} reruns of a {train_seconds:.0f} s training on half the windows"
    else:
        fits = blocks
        what = f"{blocks} reruns of a {train_seconds:.0f} s training"
    cost = fits * train_seconds
    if refit != "scratch":
        why = f"{n_windows} windows: the jackknife refits to the optimum per block"
    elif cost > AUTO_ENRICH_SECONDS:
        why = what
    else:
        return True, ""
    return False, (
        f"enrichment SEs not computed ({why}, about {cost / 60:.0f} min): the report shows point "
        "estimates; run `deepwas enrich --fit OUT --annot ANNOT --out E` (or fit with "
        "--enrich-se yes)"
    )


_HISTORY_COLUMNS = ["epoch", "train_objective", "val_objective", "sigma"]


#: Panels (LD store samples) below this size get a warning with ``--fasta`` (measured: a DNA
#: branch learned a planted motif with LD from 2,000 samples and not from 300)
DNA_MIN_PANEL = 1000


def run_fit(
    *,
    sumstats: str,
    ld: str,
    annot: str | list[str],
    out: str,
    config: TrainConfig,
    test_chrom: list[int] | None = None,
    test_blocks: float | None = None,
    truth: str | None = None,
    n_gwas: float | None = None,
    bim: str | None = None,
    var_explained: float | None = None,
    ld_model: str = "auto",
    val_fraction: float = 0.15,
    split_seed: int | None = None,
    resume: bool = False,
    enrich_se: str = "auto",
    argv: list[str] | None = None,
    progress: bool = True,
    say: Callable[..., None] = print,
) -> FitMetrics | None:
    """Fit a prior from files and write the outputs of ``deepwas fit`` to ``out`` (atomically).

    The composition of the public steps (module docstring); the arguments are those of the
    steps and the CLI flags of ``deepwas fit``. ``val_fraction`` of the training windows are
    held out for early stopping; ``split_seed`` (default: ``config.seed``) draws the held-out
    and validation windows, so that the split and the initialisation can be varied separately.
    ``say`` receives the report lines (what was read, matched, split). Training checkpoints go
    to ``.OUT.checkpoint/`` beside ``out`` (removed at the end); ``resume`` continues from them.
    ``enrich_se`` (:data:`ENRICH_SE`): the enrichment of the fit's own annotations with
    block-jackknife SEs (:func:`deepwas.enrichment`, ``refit="auto"``) in ``enrichment.results``
    and the report: ``"yes"``, ``"no"``, or ``"auto"`` (a linear prior whose jackknife costs
    at most :data:`AUTO_ENRICH_SECONDS`; otherwise a line says how to get them).

    Returns
    -------
    FitMetrics or None
        The metrics (also written to ``out/metrics.json``); None on a process of rank > 0 of a
        ``torchrun`` launch (only rank 0 writes and reports).
    """
    from deepwas.data import predict_snpvar, prepare_fit, truth_table
    from deepwas.diagnostics import panel_warnings
    from deepwas.errors import InputError
    from deepwas.fit import stops_early, train_prior
    from deepwas.io.annotations import read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait
    from deepwas.metrics import calibrate_prior, evaluate
    from deepwas.priors import PRIOR_FAMILIES
    from deepwas.provenance import provenance

    if enrich_se not in ENRICH_SE:
        raise InputError(
            f"unknown value {enrich_se!r}", column="--enrich-se", fix=f"use {'/'.join(ENRICH_SE)}"
        )
    t0 = time.perf_counter()
    out = Path(out)
    rank, created_group = _init_distributed()
    if rank != 0:  # only the first process reports and writes
        progress, say = False, (lambda *lines: None)
    store = LDStore.open(ld)
    # the annotations (and the reference genome) are read first: a wrong path fails in a
    # second, not after the projection
    annotations = read_annotations(annot, bim=bim)
    if config.fasta is not None:
        from deepwas.sequence import open_reference

        open_reference(config.fasta)
    trait = load_trait(
        sumstats,
        store,
        n_gwas=n_gwas,
        var_explained=var_explained,
        ld_model=ld_model,
        progress=progress,
    )
    data = prepare_fit(
        trait,
        annotations,
        store,
        test_chrom=test_chrom,
        test_blocks=test_blocks,
        val_fraction=val_fraction,
        split_seed=config.seed if split_seed is None else split_seed,
        file=str(annot),
        fasta=config.fasta,
    )
    say(*data.report)
    if data.val and not stops_early(config.model, dna=config.fasta is not None):
        say(
            f"the {config.model} prior trains on the validation windows too, for all its "
            "epochs (only networks stop early on them)"
        )
    flank = store.manifest.get("windows", {}).get("flank_kb")
    if PRIOR_FAMILIES[config.model].uses_positions and flank is not None:
        if config.ssm_window_kb > float(flank):
            say(
                f"warning: --ssm-window-kb {config.ssm_window_kb:g} exceeds the LD store's flank "
                f"({float(flank):g} kb): in training, variants near a window's edge see a cut "
                "neighbourhood (prediction sees it whole)"
            )
    if config.fasta is not None and store.n_ref is not None and store.n_ref < DNA_MIN_PANEL:
        say(
            f"warning: --fasta with LD from a panel of {store.n_ref:,} samples: in benchmarks the "
            "DNA branch learned a planted motif only with LD from thousands of samples, not "
            "from a few hundred (BENCHMARKS.md section 13); expect little from it here"
        )
    truth_s = truth_table(truth, store.variants) if truth else None

    ckpt_dir = out.parent / f".{out.name}.checkpoint"
    ckpt_kept = ckpt_dir.exists()  # an earlier interrupted run's, for --resume
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    try:
        t_train = time.perf_counter()
        result = train_prior(
            data,
            config,
            checkpoint=str(ckpt_dir / "checkpoint.pt"),
            resume=resume,
            progress=progress,
        )
        t_train = time.perf_counter() - t_train
        if result.shrinkage is not None:
            sh = result.shrinkage
            say(
                f"{config.model}: channel weights shrunk by empirical Bayes (precision "
                f"{sh['precision']:.3g}: {sh['effective_channels']:.1f} effective of "
                f"{sh['informed_channels']} informed channels)"
            )
        # collective: every process scores its share of the windows
        metrics = evaluate(data, result, truth=truth_s)
        if trait.ld_model == "calibrated":
            # the prior's shape came from the panel's leading directions; its scale and sigma
            # from the diagonal model on every direction (docs/mismatch.md)
            calibrate_prior(data, result.prior, metrics)
        metrics.warnings += panel_warnings(
            store.n_ref, ld_model=trait.ld_model, mismatch=store.manifest.get("mismatch")
        )
    except Exception:  # not KeyboardInterrupt: an interrupted run keeps it for --resume
        if not ckpt_kept:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        raise
    _leave_distributed(created_group)  # the last collective call is behind us
    if rank != 0:
        return None
    # every annotated variant (also those absent from the sumstats or the store) and every
    # store variant
    predictions = predict_snpvar(result.prior, annotations, store, store_features=data.features)
    metrics.seconds = time.perf_counter() - t0
    metrics.provenance = provenance(
        inputs={
            "sumstats": sumstats,
            "ld": Path(ld) / "manifest.json",
            "annot": annot,
            **({"truth": truth} if truth else {}),
        },
        seed=config.seed,
        argv=argv,
        config=dict(config.__dict__),
        # what a refit needs to rebuild this trait and split (deepwas enrich's jackknife)
        fit_settings={
            "annot": [str(a) for a in annot] if isinstance(annot, list | tuple) else [str(annot)],
            "bim": bim,
            "n_gwas": n_gwas,
            "var_explained": var_explained,
            "ld_model": ld_model,
            "test_chrom": test_chrom,
            "test_blocks": test_blocks,
            "val_fraction": val_fraction,
            "split_seed": config.seed if split_seed is None else split_seed,
        },
    )
    fit_outputs = dict(
        data=data,
        prior=result.prior,
        metrics=metrics,
        predictions=predictions,
        history=result.history,
    )
    write_fit(out, **fit_outputs)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    n_fit_windows = len(data.train) + len(data.val)
    run, why = _enrich_plan(enrich_se, result.prior, n_fit_windows, t_train)
    if why:
        say(why)
    if run:
        from deepwas.enrich import enrichment

        res = enrichment(out, annot, bim=bim, progress=progress)
        # the folder again, atomically, with the table and the report's error bars
        write_fit(out, **fit_outputs, enrichment_results=res.table)
        say(
            f"enrichment of {len(res.table)} annotations with SEs from {res.n_blocks} jackknife "
            f"blocks ({res.refit} refits): {out / 'enrichment.results'}"
        )
    return metrics
