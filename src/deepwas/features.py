"""The features every prior family reads: the allele-frequency feature ``log_2pq`` and the
standardisation of the features over the training variants (its mean and scale are kept in the
prior's configuration, :class:`deepwas.priors.PriorConfig`). Split from :mod:`deepwas.priors`,
which re-exports both.
"""

from __future__ import annotations

import numpy as np

from deepwas.errors import InputError

__all__ = ["fit_standardization", "log_2pq"]

_AF_MIN = 1e-4


def fit_standardization(
    features: np.ndarray, names: list[str] | tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of each feature over the training variants.

    Parameters
    ----------
    features: (n, k)
        Raw feature matrix of the training variants.
    names: (k,)
        Feature names, used in error messages.

    Returns
    -------
    mean: (k,) float64
    scale: (k,) float64
        Population standard deviation (``ddof=0``), all > 0.

    Raises
    ------
    InputError
        If the shapes disagree, or a column has non-finite values or no variance (a feature
        with the same value for every variant cannot be learned from: drop it).

    Notes
    -----
    A column counts as constant when its standard deviation is at most ``1e-12`` times
    ``max(1, |mean|)``, so that float round-off on a constant column is not mistaken for
    variance.
    """
    x = np.asarray(features, dtype=np.float64)
    names = list(names)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise InputError(
            f"features have shape {x.shape} but {len(names)} names were given",
            column="features",
            fix="pass an (n_variants, n_features) matrix with one name per column",
        )
    if x.shape[0] == 0:
        raise InputError("no variants to standardise on", column="features", fix="pass variants")
    finite = np.isfinite(x)
    for j in np.flatnonzero(~finite.all(axis=0)):
        bad = int((~finite[:, j]).sum())
        raise InputError(
            f"annotation has {bad} missing or non-finite values",
            column=names[j],
            fix="fill them (e.g. with 0 for a binary annotation) or drop the annotation",
        )
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    for j in np.flatnonzero(scale <= 1e-12 * np.maximum(1.0, np.abs(mean))):
        raise InputError(
            f"annotation has the same value ({mean[j]:.6g}) for every training variant; an "
            "annotation with no variance cannot be learned from",
            column=names[j],
            fix="drop this annotation",
        )
    return mean, scale


def log_2pq(af: np.ndarray) -> np.ndarray:
    """The allele-frequency feature ``log(2 p (1 - p))``.

    Parameters
    ----------
    af: (n,)
        Frequency of either allele, in [0, 1]; the result is symmetric in ``p`` and ``1 - p``.

    Returns
    -------
    (n,) float64
        ``log(2 p (1 - p))`` with the minor-allele frequency ``p`` clipped to ``[1e-4, 0.5]``
        (so monomorphic variants give a finite value, ``log(2e-4 * 0.9999)``, about -8.5).
        A NaN frequency gives NaN: the caller decides whether to drop, impute or fail.

    Raises
    ------
    InputError
        If a frequency is finite-or-infinite but outside [0, 1].

    Notes
    -----
    Used as the feature ``"log_2pq"``, its linear weight reproduces the alpha model of Schoech
    et al. (2019), ``s proportional to (2p(1-p))^(1+alpha)``.
    """
    p = np.asarray(af, dtype=np.float64)
    outside = ~np.isnan(p) & ((p < 0) | (p > 1))
    if outside.any():
        i = int(np.flatnonzero(outside.ravel())[0])
        raise InputError(
            f"{int(outside.sum())} allele frequencies outside [0, 1] (first at index {i}: "
            f"{p.ravel()[i]!r})",
            column="af",
            fix="pass allele frequencies, not percentages or counts",
        )
    maf = np.clip(np.minimum(p, 1.0 - p), _AF_MIN, 0.5)
    return np.log(2.0 * maf * (1.0 - maf))
