"""One training epoch at genome scale for several prior families on the same trait: the
likelihood part is the same windows for every family, so the difference between a family's
epoch and the linear prior's is the cost of the prior's own network (issue 12: the share of the
ssm encoder).

Needs a store and sumstats (e.g. the tiled 1.1 M-variant store of ``benchmarks/tile_store.py
--annot``). Prints one JSON line for the set-up (reading, projection, split) and one per family
(seconds of ``train_prior`` with ``epochs=1``: the constant fit, one pass over the training
windows and one validation pass; peak RSS).

    OPENBLAS_NUM_THREADS=1 python benchmarks/prior_epoch.py --ld tiled/ld \
        --sumstats tiled/sumstats.tsv.gz --annot tiled/annotations.tsv.gz --threads 1
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

from _common import emit  # noqa: E402

#: family -> (width, depth): the sizes the benchmarks use
FAMILIES = {
    "linear": (64, 4),
    "kernel_linear": (64, 4),
    "mlp": (64, 4),
    "ssm": (32, 2),
    "neighbourhood_linear": (64, 4),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ld", required=True)
    p.add_argument("--sumstats", required=True)
    p.add_argument("--annot", required=True)
    p.add_argument("--models", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--full-evidence",
        action="store_true",
        help="run the whole empirical-Bayes step of neighbourhood_linear (2 p + 2 gradient "
        "passes) instead of timing one pass and projecting",
    )
    args = p.parse_args(argv)
    import torch

    from deepwas.data import prepare_fit
    from deepwas.fit import TrainConfig, train_prior
    from deepwas.io.annotations import read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait
    from deepwas.priors import PRIOR_FAMILIES

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    store = LDStore.open(args.ld)
    trait = load_trait(args.sumstats, store, progress=False)
    data = prepare_fit(trait, read_annotations(args.annot), store, test_blocks=0.15)
    emit(
        {
            "record": "setup",
            "seconds": time.perf_counter() - t0,
            "n_variants": len(store.variants),
            "train_windows": len(data.train),
            "val_windows": len(data.val),
        }
    )
    for model in args.models:
        width, depth = FAMILIES[model]
        cfg = TrainConfig(model=model, width=width, depth=depth, epochs=1, patience=1)
        # a family that shrinks a block trains twice around its evidence step: time one
        # training epoch (precision 0, no evidence) and the evidence step apart
        extra = {"shrinkage_precision": 0.0} if PRIOR_FAMILIES[model].shrinkage else {}
        t0 = time.perf_counter()
        res = train_prior(data, cfg, progress=False, **extra)
        seconds = time.perf_counter() - t0
        row = {"record": "epoch", "model": model, "width": width, "depth": depth}
        row |= {"seconds": seconds, "threads": args.threads}
        if extra:
            # the first epoch also computes the channels of every window (kept for later
            # epochs, within neighbourhood.CACHE_BYTES): a run of 3 epochs gives the steady cost
            t0 = time.perf_counter()
            train_prior(data, replace(cfg, epochs=3, patience=3), progress=False, **extra)
            row["steady_epoch_seconds"] = (time.perf_counter() - t0 - seconds) / 2
        row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        emit(row)
        if extra:
            emit(evidence_cost(res, data, cfg, full=args.full_evidence))
    return 0


def evidence_cost(res, data, cfg, *, full: bool) -> dict:
    """The empirical-Bayes step of a family that shrinks a block (deepwas.evidence): one gradient
    pass over the windows it trains on, timed, and the ``2 p + 2`` passes of the Hessian over
    at most ``MAX_WINDOWS`` of them projected from it; with ``full``, the whole step run and
    timed."""
    import math

    import torch

    from deepwas.evidence import MAX_WINDOWS, fit_precision
    from deepwas.fit import _trains_on, gradient_function, stops_early

    prior = res.prior.to("cpu")
    log_sigma = torch.tensor(math.log(res.sigma), dtype=torch.float64, requires_grad=True)
    windows = _trains_on(data, stops_early(cfg.model))  # what it trains on
    exact = replace(cfg, engine="exact", precision="float64")
    gradient = gradient_function(prior, log_sigma, data, windows, exact)
    t0 = time.perf_counter()
    gradient()
    one = time.perf_counter() - t0
    n = 2 * sum(q.numel() for q in prior.parameters()) + 2
    row = {"record": "evidence", "model": cfg.model, "gradient_seconds": one}
    share = min(1.0, MAX_WINDOWS / len(windows))  # fit_precision samples beyond MAX_WINDOWS
    row |= {"gradients": n, "windows_sampled": min(len(windows), MAX_WINDOWS)}
    row["projected_seconds"] = n * one * share
    if full:
        t0 = time.perf_counter()
        row |= fit_precision(prior, log_sigma, data, windows, cfg).as_dict()
        row["seconds"] = time.perf_counter() - t0
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return row


if __name__ == "__main__":
    raise SystemExit(main())
