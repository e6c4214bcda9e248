"""Dosage matrices as the synthetic-panel code takes them: validation, pairing and small statistics
shared by :mod:`deepwas.synth.evaluate`, :mod:`deepwas.synth.neighbours` and
:mod:`deepwas.synth.baselines` (private: the public names are re-exported by ``evaluate``)."""

from __future__ import annotations

import math

import numpy as np

from deepwas.errors import InputError

__all__ = ["as_dosages", "pair_dosages", "corr", "subsample"]


def as_dosages(x: np.ndarray, *, name: str = "dosages") -> np.ndarray:
    """Dosages as float64 with NaN for a missing call.

    Parameters
    ----------
    x: (n, p)
        A1 counts 0, 1, 2; missing as NaN (float) or any negative value (integers, e.g. int8 -1).
    name:
        The argument's name, for the error message.

    Returns
    -------
    (n, p) float64
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise InputError(
            f"must be a 2-d (individuals, variants) matrix, got shape {x.shape}", column=name
        )
    out = x.astype(np.float64)
    if x.dtype.kind in "iu":
        out[x < 0] = np.nan
    finite = out[~np.isnan(out)]
    if finite.size and not np.isin(finite, (0.0, 1.0, 2.0)).all():
        raise InputError(
            "dosages must be 0, 1, 2 or missing", column=name, fix="round or hard-call them first"
        )
    return out


def pair_dosages(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, synthetic = as_dosages(real, name="real"), as_dosages(synthetic, name="synthetic")
    if real.shape[1] != synthetic.shape[1]:
        raise InputError(
            f"has {synthetic.shape[1]} variants, the real panel {real.shape[1]}",
            column="synthetic",
            fix="give both panels the same variants",
        )
    return real, synthetic


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the finite pairs; NaN with fewer than 3 or without variance."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0.0 else float("nan")


def subsample(x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` rows of ``x`` drawn without replacement (in their order); all when it has no more."""
    if x.shape[0] <= m:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=m, replace=False))]
