"""deepwas: functionally informed SNP-heritability priors from GWAS summary statistics, trained
with the exact marginal likelihood under linkage disequilibrium (the DeepWAS method of Amin,
Potapczynski & Wilson, ICML 2025).

The public API is what this module re-exports (``__all__``); everything else is private. Heavy
modules (torch) load on first use, so that ``import deepwas`` and the command line start quickly.

From summary statistics to an exported prior (what ``deepwas fit`` runs, step by step):

- ``LDStore.open(path)`` opens an LD store (``build_store`` builds one from a panel,
  ``import_ukbb_ld`` imports UK Biobank LD); ``load_trait(sumstats, store)`` reads, harmonises
  and projects a trait's z-scores onto it (``prepare_trait`` from an already harmonised table);
- ``read_annotations(path)`` reads annotations;
- ``prepare_fit(trait, annotations, store, ...) -> FitData``: the features of every store
  variant and the split into training, validation and held-out windows;
- ``train_prior(data, TrainConfig(...)) -> TrainResult``; the prior families are the registry
  ``PRIOR_FAMILIES`` (a ``PriorFamily`` each), the objectives ``OBJECTIVES``; a family that sees
  the neighbourhood (``ssm``) takes ``prior(features, variant_positions(variants))``, and any
  prior, ``prior(features, prior_positions(prior, variants))`` (with the DNA around each variant
  for a prior with a DNA branch, ``TrainConfig(fasta=...)``, read through
  ``open_reference(path)``);
- ``evaluate(data, result) -> FitMetrics``: exact held-out and training log-likelihood, sigma
  re-fit, the constant baseline (``fit_constant``) and the held-out gain;
  ``truth_table(path, store.variants)`` gives a simulation's true SNPVAR for its correlations;
  with a small reference panel (``ld_model="calibrated"``, the default for stores built from
  genotypes) ``calibrate_prior(data, prior, metrics)`` fits the prior's scale
  and sigma with the diagonal model (``fit_scale``);
- ``predict_snpvar(prior, annotations, store)``: SNPVAR of any annotated variants (the PolyFun
  prior format, CHR SNP BP A1 A2 SNPVAR);
- ``write_fit(out, ...)`` writes ``priors.tsv.gz``, ``metrics.json``, ``model/`` and the report;
  ``run_fit(...)`` is all of the above, files in and a folder out.

Delivering from a fit: ``enrichment(fit, annot)`` (the S-LDSC ``.results`` table of any prior,
with jackknife SEs from refits to the optimum (``fit_to_optimum``, ``TrainingObjective``,
``OptimumFit``) or reruns of the fit: ``jackknife_refits``, ``enrichment_table``,
``EnrichmentResult``); ``predict_prior(prior, annotations)`` (a saved prior on new variants).
Polygenic scores (docs/prs.md): ``run_prs(sumstats, store, prior=...)`` (files in) or
``prs_weights(trait, store, snpvar, sigma=...)`` give posterior mean effects per variant
(``PrsResult``; ``write_weights`` writes CHR SNP BP A1 A2 BETA), ``read_prior_snpvar`` reads a
prior table onto a store's variants, ``score_genotypes(bfile, weights)`` scores individuals
(``ScoreResult``).

Small reference panels (docs/mismatch.md): ``LD_MODELS``, ``diagonal_nll``,
``cv_direction_scales``, ``constant_h2_jackknife`` (h2 with a block-jackknife standard error),
``window_diagnostics`` (per-window fit of the constant prior, the LD-mismatch signature),
``variant_diagnostics`` (the per-variant kriging test: allele flips and LD outliers).

Per-variant consistency of z-scores with LD (SuSiE-RSS's lambda and kriging test):
``estimate_s_rss``, ``kriging_test``, ``ld_eigen`` / ``LDEigen``.

Functional fine-mapping (``deepwas finemap``, docs/finemap.md): ``finemap`` (sumstats + LD store
+ optional SNPVAR prior -> ``FinemapResult``), ``write_finemap``, ``finemap_z`` (one locus),
``FinemapConfig``; the SuSiE-RSS model ``fit_susie_rss``, ``SusieConfig``, ``SusieResult``,
``credible_sets``.

Building blocks: the exact likelihood ``window_nll`` / ``exact_nll``, the LDSC objective
``ldsc_loss`` / ``window_ldsc``, ``eigen_precompute``; readers ``read_sumstats``, ``harmonize``,
``read_plink``, ``read_vcf``, ``read_genotypes``, ``match_annotations``, ``read_blocks``,
``make_windows``; priors ``PriorConfig``, ``Prior``, ``build_prior``, ``save_prior``,
``load_prior``; simulation ``SimConfig``, ``run_simulation``; errors ``DeepwasError``,
``InputError``, ``NumericalError``, ``StoreError``; and ``__version__``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from deepwas.errors import DeepwasError, InputError, NumericalError, StoreError

_LAZY = {
    "window_nll": "deepwas.linalg.likelihood",
    "diagonal_nll": "deepwas.linalg.likelihood",
    "cv_direction_scales": "deepwas.ld.mismatch",
    "LD_MODELS": "deepwas.ld.trait",
    "fit_scale": "deepwas.exact",
    "calibrate_prior": "deepwas.metrics",
    "constant_h2_jackknife": "deepwas.jackknife",
    "window_diagnostics": "deepwas.diagnostics",
    "variant_diagnostics": "deepwas.diagnostics",
    "estimate_s_rss": "deepwas.kriging",
    "kriging_test": "deepwas.kriging",
    "ld_eigen": "deepwas.kriging",
    "LDEigen": "deepwas.kriging",
    "finemap": "deepwas.finemapping",
    "finemap_z": "deepwas.finemapping",
    "FinemapConfig": "deepwas.finemapping",
    "FinemapResult": "deepwas.finemapping",
    "write_finemap": "deepwas.finemapping",
    "fit_susie_rss": "deepwas.susie",
    "credible_sets": "deepwas.susie",
    "SusieConfig": "deepwas.susie",
    "SusieResult": "deepwas.susie",
    "exact_nll": "deepwas.linalg.likelihood",
    "ldsc_loss": "deepwas.linalg.likelihood",
    "window_ldsc": "deepwas.linalg.likelihood",
    "eigen_precompute": "deepwas.linalg.eigen",
    "read_sumstats": "deepwas.io.sumstats",
    "harmonize": "deepwas.harmonize",
    "read_plink": "deepwas.io.genotypes",
    "read_vcf": "deepwas.io.genotypes",
    "read_genotypes": "deepwas.io.genotypes",
    "read_annotations": "deepwas.io.annotations",
    "match_annotations": "deepwas.io.annotations",
    "read_blocks": "deepwas.ld.windows",
    "make_windows": "deepwas.ld.windows",
    "build_store": "deepwas.ld.build",
    "LDStore": "deepwas.ld.store",
    "import_ukbb_ld": "deepwas.ld.ukbb",
    "prepare_trait": "deepwas.ld.trait",
    "load_trait": "deepwas.ld.trait",
    "FitData": "deepwas.data",
    "prepare_fit": "deepwas.data",
    "predict_snpvar": "deepwas.data",
    "truth_table": "deepwas.data",
    "fit_constant": "deepwas.exact",
    "OBJECTIVES": "deepwas.fit",
    "TrainConfig": "deepwas.fit",
    "TrainResult": "deepwas.fit",
    "train_prior": "deepwas.fit",
    "FitMetrics": "deepwas.metrics",
    "evaluate": "deepwas.metrics",
    "write_fit": "deepwas.workflow",
    "run_fit": "deepwas.workflow",
    "enrichment": "deepwas.enrich",
    "enrichment_table": "deepwas.enrich",
    "jackknife_refits": "deepwas.enrich",
    "EnrichmentResult": "deepwas.enrich",
    "fit_to_optimum": "deepwas.optimum",
    "OptimumFit": "deepwas.optimum",
    "TrainingObjective": "deepwas.optimum",
    "predict_prior": "deepwas.predict",
    "PRIOR_FAMILIES": "deepwas.priors",
    "PriorFamily": "deepwas.priors",
    "PriorConfig": "deepwas.priors",
    "Prior": "deepwas.priors",
    "build_prior": "deepwas.priors",
    "save_prior": "deepwas.prior_files",
    "load_prior": "deepwas.prior_files",
    "variant_positions": "deepwas.ssm",
    "prior_positions": "deepwas.data",
    "open_reference": "deepwas.sequence",
    "SimConfig": "deepwas.simulate",
    "run_simulation": "deepwas.simulate",
    "prs_weights": "deepwas.prs",
    "run_prs": "deepwas.prs",
    "PrsResult": "deepwas.prs",
    "read_prior_snpvar": "deepwas.io.priors",
    "write_weights": "deepwas.prs",
    "score_genotypes": "deepwas.score",
    "ScoreResult": "deepwas.score",
}

__all__ = ["__version__", "DeepwasError", "InputError", "NumericalError", "StoreError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepwas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
