"""``deepwas fit`` end to end: read and harmonise, split, train, evaluate with the exact
likelihood, and write ``priors.tsv.gz``, ``metrics.json``, ``model/``, ``history.tsv`` and
``report.html`` (DESIGN 4).

Evaluation (DESIGN 2.4). Whatever objective a model was trained with, it is scored with the exact
likelihood on the held-out windows. Its sigma for that is re-fitted by exact maximum likelihood on
the *training* windows with the prior held fixed (a model trained with the LDSC objective has
an LDSC sigma that the likelihood need not like; the held-out data are never used). The baseline
is the best constant prior of the training windows, scored the same way.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deepwas._files import atomic_dir

__all__ = ["run_fit"]


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
    :func:`deepwas.fit.window_nlls`, ...); every process reads the same inputs (the LD store
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
    another's gloo threads still use, which aborts that process (seen in 1 of ~4 runs)."""
    import torch.distributed as dist

    if created and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_fit(
    *,
    sumstats: str,
    ld: str,
    annot: str | list[str],
    out: str,
    config,
    test_chrom: list[int] | None = None,
    test_blocks: float | None = None,
    truth: str | None = None,
    n: float | None = None,
    bim: str | None = None,
    var_explained: float | None = None,
    val_fraction: float = 0.15,
    split_seed: int | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    progress: bool = True,
    say=print,
) -> dict:
    """Fit a prior and write the outputs of ``deepwas fit`` to ``out`` (atomically).

    ``val_fraction`` of the training windows are held out for early stopping; ``split_seed``
    (default: the training seed) draws the held-out and validation windows, so that the split and
    the initialisation can be varied separately.

    Returns the metrics dict (also written to ``out/metrics.json``).
    """
    from scipy import stats

    from deepwas.data import FitData, build_features, log_2pq, split_windows, truth_table
    from deepwas.fit import fit_constant, refit_sigma, train_prior, window_nlls
    from deepwas.io.annotations import read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait
    from deepwas.priors import save_prior
    from deepwas.provenance import provenance
    from deepwas.report import write_report

    t0 = time.perf_counter()
    out = Path(out)
    rank, created_group = _init_distributed()
    if rank != 0:  # only the first process reports and writes
        progress, say = False, (lambda *lines: None)
    store = LDStore.open(ld)
    trait = load_trait(sumstats, store, n=n, var_explained=var_explained, progress=progress)
    annot_set = read_annotations(annot, bim=bim)
    features, names, annot_report = build_features(store, annot_set, file=str(annot))
    train, val, test = split_windows(
        trait,
        test_chrom=test_chrom,
        test_blocks=test_blocks,
        val_fraction=val_fraction,
        seed=config.seed if split_seed is None else split_seed,
    )
    data = FitData(
        trait=trait, features=features, feature_names=names, train=train, val=val, test=test
    )
    say(
        *trait.report,
        *annot_report,
        f"windows: {len(train)} training, {len(val)} validation, {len(test)} held out",
    )
    truth_s = truth_table(truth, store.variants) if truth else None

    ckpt_dir = out.parent / f".{out.name}.checkpoint"
    ckpt_kept = ckpt_dir.exists()  # an earlier interrupted run's, for --resume
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train_prior(
            data,
            config,
            store=store,
            checkpoint=str(ckpt_dir / "checkpoint.pt"),
            resume=resume,
            progress=progress,
        )
    except Exception:  # not KeyboardInterrupt: an interrupted run keeps it for --resume
        if not ckpt_kept:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        raise
    feats = torch.from_numpy(features)
    result.prior.to("cpu")  # evaluation, predictions and the saved model are on the CPU
    with torch.no_grad():
        log_s = result.prior(feats)
    # evaluation: every process takes its share of the windows (collective calls, in the same
    # order on every process); only the first process writes
    train_trait, test_trait = data.subset(train + val), data.subset(test)
    sigma_eval = refit_sigma(train_trait, log_s)
    # the constant baseline, fitted on the same training windows
    const = fit_constant(train_trait)
    log_s_const = torch.full_like(log_s, math.log(const.snpvar))
    train_nll = window_nlls(train_trait, log_s, sigma_eval)
    if test:
        nll_model = window_nlls(test_trait, log_s, sigma_eval)
        nll_const = window_nlls(test_trait, log_s_const, const.sigma)
    _leave_distributed(created_group)  # the last collective call is behind us
    if rank != 0:
        return {}
    metrics: dict = {
        "model": config.model,
        "objective": config.objective,
        "n_params": int(sum(p.numel() for p in result.prior.parameters())),
        "sigma": sigma_eval,
        "sigma_trained": result.sigma,
        "h2": float(torch.exp(log_s).sum()),
        "h2_constant": const.h2,
        "train_loglik": -float(train_nll.sum()),
        "train_n_snps": train_trait.n_scored,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "engine": config.engine,
        "precision": config.precision,
        "float64_retries": result.float64_retries,
        "n_windows": {"train": len(train), "val": len(val), "test": len(test)},
    }
    gains = pd.DataFrame(columns=["window", "CHR", "start", "stop", "n_scored", "gain"])
    if test:
        n_test = test_trait.n_scored
        metrics.update(
            {
                "heldout_loglik": -float(nll_model.sum()),
                "heldout_loglik_constant": -float(nll_const.sum()),
                "heldout_n_snps": n_test,
                "heldout_gain_per_snp": float((nll_const - nll_model).sum() / n_test),
            }
        )
        gains = pd.DataFrame(
            {
                "window": [w.index for w in test_trait.windows],
                "CHR": [w.chrom for w in test_trait.windows],
                "start": [w.start for w in test_trait.windows],
                "stop": [w.stop for w in test_trait.windows],
                "n_scored": [w.n_scored for w in test_trait.windows],
                "gain": nll_const - nll_model,
            }
        )
    else:
        metrics.update(
            {"heldout_loglik": None, "heldout_loglik_constant": None, "heldout_n_snps": 0}
        )
    snpvar = torch.exp(log_s).numpy()
    truth_df = None
    if truth_s is not None:
        ok = np.isfinite(truth_s) & (truth_s > 0)
        lt, ll = np.log(truth_s[ok]), log_s.numpy()[ok]
        # a constant prior has no correlation with anything: reported as None
        varies = ok.sum() > 2 and np.ptp(ll) > 0 and np.ptp(lt) > 0
        metrics.update(
            {
                "truth_pearson": float(stats.pearsonr(lt, ll)[0]) if varies else None,
                "truth_spearman": float(stats.spearmanr(lt, ll)[0]) if varies else None,
                "h2_true": float(truth_s[ok].sum()),
                "h2_rel_error": float(snpvar[ok].sum() / truth_s[ok].sum() - 1.0),
            }
        )
        truth_df = pd.DataFrame({"log_snpvar_true": lt, "log_snpvar_learned": ll})
    warnings_ = []
    if sigma_eval < 1e-3:
        warnings_.append(
            f"sigma fell to {sigma_eval:.2g}: the learned prior alone explains more variance than "
            "the z-scores have (often a model trained with the LDSC objective overestimating h2); "
            "its likelihood is at the boundary sigma -> 0"
        )
    metrics["warnings"] = warnings_
    metrics["seconds"] = time.perf_counter() - t0
    metrics["provenance"] = provenance(
        inputs={
            "sumstats": sumstats,
            "ld": Path(ld) / "manifest.json",
            "annot": annot,
            **({"truth": truth} if truth else {}),
        },
        seed=config.seed,
        argv=argv,
        config=dict(config.__dict__),
    )

    # predictions for every annotated variant (also those absent from the sumstats or the store)
    by_snp = store.variants.set_index("SNP")
    with torch.no_grad():
        extra = []
        if "log_2pq" in names:
            a_af = (
                by_snp["AF1"].reindex(annot_set.variants["SNP"].astype(str)).to_numpy()
                if "SNP" in annot_set.variants
                else np.full(annot_set.n_variants, np.nan)
            )
            f = log_2pq(a_af)
            f[~np.isfinite(f)] = float(np.nanmean(features[:, -1]))
            extra = [f[:, None]]
        a_feats = np.column_stack([annot_set.values, *extra])
        a_snpvar = torch.exp(result.prior(torch.from_numpy(a_feats))).numpy()
    pri = annot_set.variants.copy()
    for col in ("A1", "A2"):
        if col not in pri:
            pri[col] = pri["SNP"].map(by_snp[col]).fillna("NA") if "SNP" in pri else "NA"
    pri = pri[["CHR", "SNP", "BP", "A1", "A2"]].assign(SNPVAR=a_snpvar)
    store_only = ~store.variants["SNP"].isin(pri["SNP"])
    if store_only.any():
        pri = pd.concat(
            [
                pri,
                store.variants.loc[store_only, ["CHR", "SNP", "BP", "A1", "A2"]].assign(
                    SNPVAR=snpvar[store_only.to_numpy()]
                ),
            ],
            ignore_index=True,
        )
    pri = pri.sort_values(["CHR", "BP"], kind="stable")

    history = pd.DataFrame(result.history)
    with atomic_dir(out) as tmp:
        pri.to_csv(tmp / "priors.tsv.gz", sep="\t", index=False, float_format="%.6g")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        history.to_csv(tmp / "history.tsv", sep="\t", index=False)
        save_prior(result.prior, tmp / "model")
        write_report(
            tmp / "report.html",
            metrics=metrics,
            history=history,
            window_gains=gains,
            enrichment=_enrichment(features, names, snpvar),
            truth=truth_df,
        )
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics
