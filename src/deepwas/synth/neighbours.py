"""Nearest neighbours between individuals: distances, their distributions, adversarial accuracy
(AATS), privacy loss and copies of training individuals.

Decisions
---------
- The distance between two individuals is the mean absolute dosage difference over the sites
  observed in both (0 for identical genotypes, 2 for opposite homozygotes everywhere), computed
  with matrix products of one-hot indicators so that 1,000 x 1,000 individuals over thousands of
  SNPs take seconds. Every metric here uses it.
- AATS (Yale et al. 2020) needs two sets of one size: the larger is subsampled to the smaller
  (``n_draws`` seeded draws, averaged). A tie (nearest other-set and same-set neighbours at the
  same distance) counts one half, so that two draws of one law with duplicated genotypes still
  score 0.5.
- Privacy loss = AATS(synthetic vs held-out) - AATS(synthetic vs training), each AATS at the size
  of its real set (the synthetic set subsampled to it), so that copies are not hidden by
  subsampling the training set.
- Exact copies are synthetic individuals at distance 0 from a training individual; the distance to
  the closest record (DCR) ratio compares synthetic -> training with held-out -> training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepwas.errors import InputError
from deepwas.synth._dosages import as_dosages, pair_dosages, subsample

__all__ = [
    "dosage_distances",
    "pairwise_distance_summary",
    "aats",
    "privacy_loss",
    "exact_copy_rate",
]


def dosage_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute dosage difference between every individual of ``a`` and of ``b``.

    Parameters
    ----------
    a, b: (n_a, p), (n_b, p) dosages

    Returns
    -------
    (n_a, n_b) float64
        sum_s |a_is - b_js| / (number of sites observed in both); NaN when none is.

    Notes
    -----
    For dosages in {0, 1, 2}, |x - y| = (x - y)^2 - 2 ([x=0][y=2] + [x=2][y=0]), so the sums are
    five matrix products of observed-masked indicators (exact in float32 up to 2^24 per entry).
    """
    a, b = as_dosages(a, name="a"), as_dosages(b, name="b")
    oa, ob = (~np.isnan(a)).astype(np.float32), (~np.isnan(b)).astype(np.float32)
    xa, xb = np.nan_to_num(a).astype(np.float32), np.nan_to_num(b).astype(np.float32)
    sq = (xa * xa) @ ob.T + oa @ (xb * xb).T - 2.0 * (xa @ xb.T)
    hom = (xa == 0) & (oa > 0), (xa == 2), (xb == 0) & (ob > 0), (xb == 2)
    opposite = hom[0].astype(np.float32) @ hom[3].T.astype(np.float32) + hom[1].astype(
        np.float32
    ) @ hom[2].T.astype(np.float32)
    l1 = sq.astype(np.float64) - 2.0 * opposite
    count = (oa @ ob.T).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.maximum(l1, 0.0) / count, np.nan)


def pairwise_distance_summary(
    real: np.ndarray, synthetic: np.ndarray, *, max_individuals: int = 500, seed: int = 0
) -> dict[str, Any]:
    """Distributions of distances real-real, synthetic-synthetic and real-synthetic.

    Parameters
    ----------
    real, synthetic: (n_real, p), (n_syn, p) dosages
    max_individuals:
        Each panel is subsampled (seeded) to at most this many individuals.

    Returns
    -------
    dict
        ``dist_mean_real_real``, ``dist_mean_syn_syn``, ``dist_mean_real_syn``; 1-D Wasserstein
        distances ``dist_w1_rr_ss`` (real-real vs synthetic-synthetic) and ``dist_w1_rr_rs``;
        and the distance samples ``real_real``, ``syn_syn``, ``real_syn`` (1-d arrays, for plots).
    """
    from scipy.stats import wasserstein_distance

    real, synthetic = pair_dosages(real, synthetic)
    rng = np.random.default_rng(seed)
    r, s = subsample(real, max_individuals, rng), subsample(synthetic, max_individuals, rng)
    drr, dss, drs = dosage_distances(r, r), dosage_distances(s, s), dosage_distances(r, s)
    rr = drr[np.triu_indices(len(r), k=1)]
    ss = dss[np.triu_indices(len(s), k=1)]
    rs = drs.ravel()
    rr, ss, rs = rr[np.isfinite(rr)], ss[np.isfinite(ss)], rs[np.isfinite(rs)]

    def w1(u: np.ndarray, v: np.ndarray) -> float:
        return float(wasserstein_distance(u, v)) if u.size and v.size else float("nan")

    def mean(u: np.ndarray) -> float:
        return float(u.mean()) if u.size else float("nan")

    return {
        "dist_mean_real_real": mean(rr),
        "dist_mean_syn_syn": mean(ss),
        "dist_mean_real_syn": mean(rs),
        "dist_w1_rr_ss": w1(rr, ss),
        "dist_w1_rr_rs": w1(rr, rs),
        "real_real": rr,
        "syn_syn": ss,
        "real_syn": rs,
    }


def _nn_other(d: np.ndarray) -> np.ndarray:
    """Distance of each row to its nearest *other* member of the same set (square ``d``)."""
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    return np.nanmin(np.where(np.isnan(d), np.inf, d), axis=1)


def _aats_once(t: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    dts = dosage_distances(t, s)
    dts = np.where(np.isnan(dts), np.inf, dts)
    d_tt, d_ss = _nn_other(dosage_distances(t, t)), _nn_other(dosage_distances(s, s))
    d_ts, d_st = dts.min(axis=1), dts.min(axis=0)
    aa_t = float(np.mean((d_ts > d_tt) + 0.5 * (d_ts == d_tt)))
    aa_s = float(np.mean((d_st > d_ss) + 0.5 * (d_st == d_ss)))
    return aa_t, aa_s


def aats(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    n_draws: int = 5,
    seed: int = 0,
    size: int | None = None,
) -> dict[str, float]:
    """Nearest-neighbour adversarial accuracy (Yale et al. 2020); 0.5 is ideal.

    Parameters
    ----------
    real, synthetic: (n_real, p), (n_syn, p) dosages
    n_draws:
        Number of seeded subsamples averaged (one when both sets already have ``size`` rows).
    size:
        Individuals per set; default the smaller set's size.

    Returns
    -------
    dict
        ``aats`` = (aa_real + aa_synthetic) / 2, ``aa_real`` (fraction of real individuals whose
        nearest synthetic one is farther than their nearest other real one), ``aa_synthetic``
        (the same from the synthetic side), ``aats_size``.

    Notes
    -----
    About 0.5 when the two sets are draws from one law, about 1 when they are far apart (each
    individual's nearest neighbour is in its own set), about 0 when the synthetic set copies the
    real one (each real individual's nearest synthetic one is at distance 0).
    """
    real, synthetic = pair_dosages(real, synthetic)
    m = min(real.shape[0], synthetic.shape[0]) if size is None else int(size)
    if m < 2 or m > min(real.shape[0], synthetic.shape[0]):
        raise InputError(
            f"AATS needs at least 2 individuals per set, got size {m}",
            column="size",
            fix="give larger panels",
        )
    draws = 1 if real.shape[0] == synthetic.shape[0] == m else max(1, n_draws)
    rng = np.random.default_rng(seed)
    res = np.array(
        [_aats_once(subsample(real, m, rng), subsample(synthetic, m, rng)) for _ in range(draws)]
    )
    aa_t, aa_s = res.mean(axis=0)
    return {
        "aats": float((aa_t + aa_s) / 2),
        "aa_real": float(aa_t),
        "aa_synthetic": float(aa_s),
        "aats_size": int(m),
    }


def privacy_loss(
    heldout: np.ndarray,
    train: np.ndarray,
    synthetic: np.ndarray,
    *,
    n_draws: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Privacy loss = AATS(synthetic vs held-out) - AATS(synthetic vs training); ideal 0.

    Each AATS subsamples only the larger of its two sets (:func:`aats`): the held-out set is
    compared with as many synthetic individuals as it has, the training set with as many as *it*
    has. Subsampling the training set too would hide copies (a synthetic copy is detected only when
    its original is in the subsample). For two sets drawn from one law AATS is about 0.5 at any
    size (up to O(1/size)), so the loss is about 0 for a model that does not memorise; a synthetic
    panel that is its training set has AATS(train) = 0 and a loss of about 0.5.

    Returns
    -------
    dict
        ``aats_test``, ``aats_train``, ``privacy_loss``.
    """
    heldout, synthetic = pair_dosages(heldout, synthetic)
    train = as_dosages(train, name="train")
    if train.shape[1] != synthetic.shape[1]:
        raise InputError(
            f"has {train.shape[1]} variants, the synthetic panel {synthetic.shape[1]}",
            column="train",
            fix="give every panel the same variants",
        )
    test = aats(heldout, synthetic, n_draws=n_draws, seed=seed)["aats"]
    tr = aats(train, synthetic, n_draws=n_draws, seed=seed)["aats"]
    return {"aats_test": test, "aats_train": tr, "privacy_loss": test - tr}


def exact_copy_rate(
    train: np.ndarray, synthetic: np.ndarray, *, heldout: np.ndarray | None = None
) -> dict[str, float]:
    """How many synthetic individuals are copies of training individuals, and how close they are.

    Parameters
    ----------
    train, synthetic: (n_train, p), (n_syn, p) dosages
    heldout: (n_heldout, p) dosages, optional
        Real individuals not used in training, for the distance-to-closest-record ratio.

    Returns
    -------
    dict
        ``exact_copy_rate`` (fraction of synthetic individuals at distance 0 from some training
        individual), ``dcr_synthetic_median`` (median distance of a synthetic individual to its
        closest training individual) and, with ``heldout``, ``dcr_heldout_median`` and
        ``dcr_ratio`` = the first median over the second (about 1 when the synthetic panel is no
        closer to the training set than new people; 0 for copies).
    """
    train, synthetic = pair_dosages(train, synthetic)
    d = dosage_distances(synthetic, train)
    dcr = np.nanmin(np.where(np.isnan(d), np.inf, d), axis=1)
    out = {
        "exact_copy_rate": float(np.mean(dcr == 0.0)),
        "dcr_synthetic_median": float(np.median(dcr)),
    }
    if heldout is not None:
        dh = dosage_distances(as_dosages(heldout, name="heldout"), train)
        dh = np.nanmin(np.where(np.isnan(dh), np.inf, dh), axis=1)
        med = float(np.median(dh))
        out["dcr_heldout_median"] = med
        out["dcr_ratio"] = out["dcr_synthetic_median"] / med if med > 0 else float("nan")
    return out


# --------------------------------------------------------------------------------------------------
