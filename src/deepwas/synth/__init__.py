"""Synthetic reference panels and imputation (issue 11): a schedule-conditioned discrete
diffusion model of genotypes with a bidirectional state-space denoiser.

The package's parts, one job each: :mod:`~deepwas.synth.processes` (forward noising processes,
closed forms of their transition matrices, the SCUD and MDLM losses),
:mod:`~deepwas.synth.denoiser` (the network), :mod:`~deepwas.synth.model` (configuration,
training, checkpoints, the model folder, held-out bits per SNP) and
:mod:`~deepwas.synth.generate` (sampling synthetic panels, imputation by inpainting); and the
evaluation suite: :mod:`~deepwas.synth.evaluate` (the metrics, ``run_evaluate``),
:mod:`~deepwas.synth.neighbours` (distances, AATS, privacy loss, copies),
:mod:`~deepwas.synth.evalreport` (metrics.json and report.html) and
:mod:`~deepwas.synth.baselines` (msprime, PCA-DDPM, independent SNPs, kNN imputation).

This module itself imports no torch: it holds the facts the command line needs before any work
(:data:`PROCESSES`, :data:`SYNTH_CONSTRAINTS`) and loads the public names lazily.
"""

from __future__ import annotations

import importlib
from numbers import Integral, Real
from typing import Any

from deepwas._validation import Boolean, Interval, Options

#: the forward processes, in the order the CLI lists them
PROCESSES = ("masking", "uniform", "mutation")

#: constraints of :class:`deepwas.synth.model.SynthConfig` (keys are its fields and the flags)
SYNTH_CONSTRAINTS = {
    "process": Options(PROCESSES),
    "gamma": Interval(Real, 0, 1, closed="left"),
    "chunk": Interval(Integral, 8, None, closed="left"),
    "width": Interval(Integral, 4, None, closed="left"),
    "depth": Interval(Integral, 1, None, closed="left"),
    "batch_size": Interval(Integral, 1, None, closed="left"),
    "lr": Interval(Real, 0, None, closed="neither"),
    "epochs": Interval(Integral, 1, None, closed="left"),
    "heldout_fraction": Interval(Real, 0, 1, closed="left"),
    "snp_embedding": Boolean(),
    "snp_tokens": Boolean(),
    "estimator": Options(("auto", "scud", "mdlm")),
    "seed": Interval(Integral, 0, None, closed="left"),
    "eval_draws": Interval(Integral, 1, None, closed="left"),
}

_LAZY = {
    "ForwardProcess": "deepwas.synth.processes",
    "scud_loss": "deepwas.synth.processes",
    "mdlm_loss": "deepwas.synth.processes",
    "Denoiser": "deepwas.synth.denoiser",
    "SynthConfig": "deepwas.synth.model",
    "SynthModel": "deepwas.synth.model",
    "train_synth": "deepwas.synth.model",
    "load_model": "deepwas.synth.model",
    "load_panel": "deepwas.synth.model",
    "heldout_bits": "deepwas.synth.model",
    "sample_genotypes": "deepwas.synth.generate",
    "impute_genotypes": "deepwas.synth.generate",
    "align_target": "deepwas.synth.generate",
    "write_synthetic": "deepwas.synth.generate",
    "write_imputed": "deepwas.synth.generate",
    "evaluate_panels": "deepwas.synth.evaluate",
    "run_evaluate": "deepwas.synth.evaluate",
    "imputation_r2_by_af": "deepwas.synth.evaluate",
    "msprime_panel": "deepwas.synth.baselines",
    "pca_ddpm_panel": "deepwas.synth.baselines",
    "independent_panel": "deepwas.synth.baselines",
    "knn_impute": "deepwas.synth.baselines",
}

__all__ = ["PROCESSES", "SYNTH_CONSTRAINTS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepwas.synth' has no attribute {name!r}")
