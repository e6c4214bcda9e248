"""The last step of ``deepwas demo``: what one fitted prior delivers (issue 10), on the demo's
simulation, against the constant prior and against the truth the simulation knows.

- enrichment of every annotation under the likelihood-trained linear prior, with block-jackknife
  standard errors (``deepwas enrich``), beside the true Prop._h2;
- fine-mapping with the learned prior's weights and with uniform weights (``deepwas finemap``);
- PRS weights (``deepwas prs``) of the constant prior (LDpred-inf), the learned prior and the true
  prior, scored by their expected out-of-sample R^2 = (w^T R beta)^2 / (w^T R w) with the
  simulation's true effects beta and the LD R that generated the z-scores (the in-sample cohort's,
  banded as the simulation bands it), as a fraction of the ceiling beta^T R beta.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["deliverables"]


def _true_prop_h2(sim_dir: Path, names: list[str]) -> dict[str, float]:
    """Prop._h2 of each annotation under the true SNPVAR, over all simulated variants."""
    annot = pd.read_csv(sim_dir / "annotations.tsv.gz", sep="\t")
    truth = pd.read_csv(sim_dir / "truth.tsv.gz", sep="\t")
    s = truth["SNPVAR"].to_numpy(np.float64)
    return {n: float(annot[n].to_numpy(np.float64) @ s / s.sum()) for n in names if n in annot}


def _prs_r2(sim_dir: Path, store, fit_dir: Path, *, progress: bool) -> list[dict]:
    from deepwas.io.genotypes import read_plink
    from deepwas.prs import run_prs
    from deepwas.simulate import BandedLD, SimConfig

    config = SimConfig(**pd.read_json(sim_dir / "simulation.json", typ="series")["config"])
    cohort = read_plink(sim_dir / ("insample" if config.n_insample else "reference"))
    band = 1e3 * config.ld_band_kb if config.ld_band_kb is not None else np.inf
    banded = BandedLD.from_genotypes(cohort, band)
    truth = pd.read_csv(sim_dir / "truth.tsv.gz", sep="\t", dtype={"SNP": str})
    beta = truth["BETA"].to_numpy(np.float64)
    rb = banded.times(beta)
    ceiling = float(beta @ rb)
    position = pd.Series(np.arange(len(truth)), index=truth["SNP"])
    rows = []
    priors = {
        "constant (LDpred-inf)": None,
        "learned linear": fit_dir / "priors.tsv.gz",
        "true prior": sim_dir / "truth.tsv.gz",
    }
    for label, prior in priors.items():
        res = run_prs(sim_dir / "sumstats.tsv.gz", store, prior=prior, progress=progress)
        w = np.zeros(len(truth))
        idx = position.reindex(store.variants["SNP"]).to_numpy()
        ok = np.isfinite(idx)
        w[idx[ok].astype(np.int64)] = res.beta_std[ok]
        r2 = float((w @ rb) ** 2 / (w @ banded.times(w))) if np.any(w) else 0.0
        rows.append({"prior": label, "r2": r2, "ceiling": ceiling, "ld_model": res.ld_model})
    return rows


def deliverables(out: Path, sim_dir: Path, store, *, quick: bool, progress: bool) -> dict:
    """Run enrichment, fine-mapping and PRS from the demo's likelihood-trained linear prior,
    print what they found and return it as a dict (``demo.json``'s ``deliverables``)."""
    from deepwas.enrich import enrichment
    from deepwas.finemapping import finemap

    fit_dir = out / "fit_linear_likelihood"
    annot = sim_dir / "annotations.tsv.gz"
    res = enrichment(
        fit_dir,
        str(annot),
        n_blocks=3 if quick else None,
        refit_epochs=1 if quick else 5,
        progress=progress,
    )
    table = res.table
    true = _true_prop_h2(sim_dir, list(table["Category"]))
    print(
        f"      enrichment (linear prior, {res.n_blocks} jackknife blocks): "
        "annotation, Prop._h2 +- SE (true), enrichment +- SE",
        flush=True,
    )
    shown = table.reindex(table["Enrichment"].abs().sort_values(ascending=False).index)
    for r in shown.head(6).to_dict("records"):
        print(
            f"        {r['Category']:<14} {r['Prop._h2']:7.3f} +- {r['Prop._h2_std_error']:.3f} "
            f"({true.get(r['Category'], float('nan')):.3f})   {r['Enrichment']:6.2f} +- "
            f"{r['Enrichment_std_error']:.2f}",
            flush=True,
        )
    fm = {}
    for label, prior in (("uniform", None), ("learned", fit_dir / "priors.tsv.gz")):
        result = finemap(sim_dir / "sumstats.tsv.gz", store, prior=prior, progress=progress)
        cs = result.credible_sets
        fm[label] = {
            "n_loci": len(result.loci),
            "n_credible_sets": len(cs),
            "n_pip_090": int((result.variants["PIP"] >= 0.9).sum()),
            "mean_cs_size": float(cs["SIZE"].mean()) if len(cs) else None,
            "top_sets": cs.sort_values("LEAD_PIP", ascending=False)
            .head(3)[["LOCUS", "SIZE", "LEAD_SNP", "LEAD_PIP", "LEAD_Z"]]
            .to_dict(orient="records"),
        }
        print(
            f"      fine-mapping, {label} prior: {len(result.loci)} loci, {len(cs)} credible "
            f"sets (mean size {fm[label]['mean_cs_size'] or 0:.1f}), "
            f"{fm[label]['n_pip_090']} variants with PIP >= 0.9",
            flush=True,
        )
    for s in fm["learned"]["top_sets"]:
        print(
            f"        {s['LOCUS']}: {s['LEAD_SNP']} (z {s['LEAD_Z']:+.1f}, PIP "
            f"{s['LEAD_PIP']:.2f}), {s['SIZE']} variant(s)",
            flush=True,
        )
    prs = _prs_r2(sim_dir, store, fit_dir, progress=progress)
    for r in prs:
        print(
            f"      PRS, {r['prior']:<22} expected R2 {r['r2']:.4f} "
            f"({100 * r['r2'] / r['ceiling']:.0f}% of the ceiling {r['ceiling']:.4f})",
            flush=True,
        )
    return {
        "enrichment": table.assign(True_Prop_h2=table["Category"].map(true)).to_dict("records"),
        "finemap": fm,
        "prs": prs,
    }
