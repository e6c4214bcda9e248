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

from _common import emit  # noqa: E402

#: family -> (width, depth): the sizes the benchmarks use
FAMILIES = {"linear": (64, 4), "kernel_linear": (64, 4), "mlp": (64, 4), "ssm": (32, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ld", required=True)
    p.add_argument("--sumstats", required=True)
    p.add_argument("--annot", required=True)
    p.add_argument("--models", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    from deepwas.data import prepare_fit
    from deepwas.fit import TrainConfig, train_prior
    from deepwas.io.annotations import read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait

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
        t0 = time.perf_counter()
        train_prior(data, cfg, progress=False)
        emit(
            {
                "record": "epoch",
                "model": model,
                "width": width,
                "depth": depth,
                "seconds": time.perf_counter() - t0,
                "threads": args.threads,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
