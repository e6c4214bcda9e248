"""The reference panel is not the GWAS sample: cross-validated scales of a window's
eigen-directions (DESIGN 2.1b, docs/mismatch.md).

The likelihood whitens z_W in the eigenbasis of the *panel's* LD, y = lam^-1/2 U^T z_W. Under the
GWAS's own (population) LD R_pop the coordinates of y have

    noise variance   sigma rho_k,   rho_k = u_k^T R_pop,WW u_k / lam_k
    signal variance  sum_c F_c (b_ck)^2,   b_ck = lam_k^-1/2 u_k^T R_pop,Wc

and with a panel of a few hundred people both differ greatly from what the panel says (rho = 1,
b = g, the panel's projected LD): the small sample eigenvalues are too small, so rho_k >> 1 in the
low-variance directions, and the signal there is larger than the panel's g_ck^2 too. Neither can be
measured on the panel's own samples (its eigenvectors are fitted to them), but both can be on
samples the eigenvectors did not see. :func:`cv_direction_scales` splits the panel into folds;
with eigenvectors from the other folds and the held-out fold's LD R_f (n_f samples),

    d_k = u_k^T R_f,WW u_k               unbiased for u_k^T R_pop,WW u_k (up to O(1 / n_f),
                                         removed by :func:`held_out_variance`)
    b_k = u_k^T R_a,WC R_b,CW u_k        unbiased for u_k^T R_pop,WC R_pop,CW u_k

with a and b the two halves of the held-out fold (independent samples: the product of their LD has
no finite-sample bias, whereas u^T R_f,WC R_f,CW u carries about |C| d_k / n_f of it, which is
larger than the signal itself for |C| ~ 1,500 and n_f ~ 40 and would have to be subtracted).
Per direction the ratios rho = d / lam and t = (b / lam) / m, m = the panel model's own flat-prior
signal ||R_CW u||^2 / lam of the training folds, are pooled over folds and mapped monotonically
(isotonic regression) onto the *rank quantile* of the direction, (k + 1/2) / rank: the quantile
transfers from the folds' spectra to the full panel's, and to the spectrum of a partly measured
scored set.
What a window keeps is the two maps on a fixed grid of quantiles (:class:`DirectionScales`),
not genotypes.

LD stores of panels of :data:`TRANSFER_MIN_SAMPLES` samples or more (:func:`store_scale_options`)
estimate the signal from held-out halves centred each on its own mean (:func:`held_out_signal`),
pool the noise ratios on their own scale, and transfer the maps from the training folds' size to
the panel's (:func:`extrapolate_scales`); smaller panels keep the defaults of
:func:`cv_direction_scales` (docs/mismatch.md section 4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "DirectionScales",
    "cv_direction_scales",
    "default_folds",
    "store_scale_options",
    "outdated_scales",
    "extrapolate_scales",
    "held_out_signal",
    "held_out_variance",
    "GRID",
    "DEFAULT_FOLDS",
    "MIN_FOLD_SAMPLES",
    "MIN_HELD_OUT",
    "TRANSFER_MIN_SAMPLES",
]

#: quantiles at which a window's maps are kept (33 points, 0 to 1)
GRID = np.linspace(0.0, 1.0, 33)
DEFAULT_FOLDS = 10
#: fewer folds for small panels, so that each held-out fold keeps this many samples (its halves
#: estimate the signal scale; a 100-sample panel's h2 was -54% with 10 folds and -7% with 5 over
#: 10 simulations, BENCHMARKS.md section 9)
MIN_HELD_OUT = 20
#: stores are built with direction scales only from panels of at least DEFAULT_FOLDS times this
MIN_FOLD_SAMPLES = 4  # so that each half of a held-out fold has 2
#: stores of panels of at least this many samples estimate the signal from independent halves,
#: pool the noise ratios on their own scale and transfer the maps to the panel's size; smaller
#: panels keep the earlier maps. Over 10 simulations with a HapMap3-like allele-frequency spectrum
#: the transfer took h2 from -6% to -2% at 500 samples and from -28% to -6% at 2,000, but from -9%
#: to -21% at 200 (docs/mismatch.md section 4)
TRANSFER_MIN_SAMPLES = 300
_FLOOR = 1e-3  # smallest scale kept (a direction never loses more than this of its variance)


@dataclass(frozen=True)
class DirectionScales:
    """Cross-validated noise and signal scales of a window's eigen-directions, by rank quantile.

    Attributes
    ----------
    log_rho: (len(GRID),) float64
        log of the noise scale rho at the quantiles :data:`GRID`.
    log_t: (len(GRID),) float64
        log of the signal scale t at the same quantiles.
    held_out: str or None
        How the held-out folds were standardised (``test_scale`` of
        :func:`cv_direction_scales`); None when read back from a store, whose manifest keeps it.
    folds: int or None
        The number of folds (likewise).
    signal: str or None
        How the signal was estimated (``signal`` of :func:`cv_direction_scales`; likewise).
    pool: str or None
        How the noise ratios were pooled (``pool``; likewise).
    extrapolated: bool or None
        Whether the maps were transferred to the panel's size (``extrapolate``; likewise).
    """

    log_rho: np.ndarray
    log_t: np.ndarray
    held_out: str | None = None
    folds: int | None = None
    signal: str | None = None
    pool: str | None = None
    extrapolated: bool | None = None

    def method(self) -> dict:
        """How the maps were made, as an LD store's manifest records it (``mismatch``): the
        attributes above that are known."""
        keys = ("held_out", "folds", "signal", "pool", "extrapolated")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def at(self, rank: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rho, t) of the first ``n`` (default: all) directions of a spectrum of ``rank``
        directions in descending eigenvalue order."""
        q = (np.arange(rank if n is None else n) + 0.5) / rank
        return np.exp(np.interp(q, GRID, self.log_rho)), np.exp(np.interp(q, GRID, self.log_t))

    def as_array(self) -> np.ndarray:
        """(2, len(GRID)): the form kept in an LD store (``scales.npy``)."""
        return np.stack([self.log_rho, self.log_t])

    @classmethod
    def from_array(cls, a: np.ndarray) -> DirectionScales:
        a = np.asarray(a, dtype=np.float64)
        return cls(log_rho=a[0].copy(), log_t=a[1].copy())


def _standardise(X: np.ndarray) -> np.ndarray:
    """Columns to mean 0 and variance 1 (a constant column becomes 0)."""
    X = X - X.mean(axis=0)
    sd = X.std(axis=0)
    return X / np.where(sd > 0, sd, 1.0)


def _isotonic_on_grid(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Non-decreasing least-squares fit of v on q, read at :data:`GRID`."""
    from scipy.optimize import isotonic_regression

    order = np.argsort(q, kind="stable")
    fitted = isotonic_regression(v[order]).x
    return np.interp(GRID, q[order], fitted)


def held_out_variance(Xw: np.ndarray, U: np.ndarray, *, richardson: bool = True) -> np.ndarray:
    """u^T R_pop u per column u of U from held-out samples Xw (n_f, |W|; not standardised) that
    did not choose U.

    Standardised on their own, n_f samples give d = u^T R_f u with a bias of order 1 / n_f
    (variants constant in the sample become 0; rare variants' sample correlations shrink).
    With ``richardson`` that term is removed by Richardson extrapolation in 1 / n_f:
    2 d(n_f) - (d_a + d_b) / 2, d_a and d_b from the sample's two halves, each standardised on
    its own (falls back to d below 4 samples).
    """
    d = _own_variance(Xw, U)
    return _richardson(d, Xw, U) if richardson else d


def _own_variance(Xw: np.ndarray, U: np.ndarray) -> np.ndarray:
    """u^T R u per column u of U, with Xw standardised on its own."""
    return np.square(_standardise(Xw) @ U).mean(axis=0)


def _richardson(d: np.ndarray, Xw: np.ndarray, U: np.ndarray) -> np.ndarray:
    """:func:`held_out_variance`'s correction of ``d`` = :func:`_own_variance` of ``Xw``."""
    h = Xw.shape[0] // 2
    if h < 2:
        return d
    return 2.0 * d - sum(_own_variance(x, U) for x in (Xw[:h], Xw[h:])) / 2.0


def held_out_signal(Z: np.ndarray, scored: np.ndarray, U: np.ndarray) -> np.ndarray:
    """u^T Sigma_WC Sigma_CW u per column u of U from held-out samples Z (n_f, |C|) that did not
    choose U, with W = ``scored`` and Sigma the covariance of Z's columns (Z on the panel's
    scale: correlations when the panel is standardised).

    Z is split into halves a and b, each centred on its own mean: their sample covariances
    S_a and S_b (divisor n - 1) are independent and unbiased for Sigma, for any distribution,
    so u^T S_a,WC S_b,CW u is unbiased for the product. Centring the halves on their common
    mean instead (``signal="fold"``, the stores' maps of small panels) leaves a term
    delta delta^T / 4 in each, with delta the difference of the halves' means, and their
    product adds about |C| u^T Sigma u / n_f^2: larger than the signal of the panel's small
    directions, and growing fast as the folds get smaller (docs/mismatch.md sections 3 and 5).
    """
    h = Z.shape[0] // 2
    if h < 2:
        raise ValueError(f"need at least 4 held-out samples, got {Z.shape[0]}")
    Qa, Qb = (_centred_cross(Z[sl], scored, U) for sl in (slice(None, h), slice(h, None)))
    return (Qa * Qb).sum(axis=0)


def _centred_cross(Z: np.ndarray, scored: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Unbiased sample covariance of Z's columns with the directions U of its scored columns:
    Z centred on its own mean, divisor n - 1."""
    Z = Z - Z.mean(axis=0)
    return Z.T @ (Z[:, scored] @ U) / (Z.shape[0] - 1)


def extrapolate_scales(
    near: DirectionScales, far: DirectionScales, n_near: float, n_far: float
) -> DirectionScales:
    """Maps from training sets of ``n_near`` and ``n_far`` samples (any common unit, the panel's
    size being 1) extrapolated linearly in 1 / n_train, on the log scale, to the panel's size."""
    g = (1.0 - 1.0 / n_near) / (1.0 / n_near - 1.0 / n_far)
    a, b = near.as_array(), far.as_array()
    return replace(
        near,
        log_rho=a[0] + g * (a[0] - b[0]),
        log_t=a[1] + g * (a[1] - b[1]),
        extrapolated=True,
    )


def default_folds(n: int) -> int:
    """Folds for a panel of ``n`` samples: :data:`DEFAULT_FOLDS`, fewer when the held-out folds
    would have fewer than :data:`MIN_HELD_OUT` samples (at least 2)."""
    return max(2, min(DEFAULT_FOLDS, n // MIN_HELD_OUT))


def store_scale_options(n: int) -> dict:
    """The options of :func:`cv_direction_scales` that LD stores are built with, for a panel of
    ``n`` samples (docs/mismatch.md section 4, adopted 2026-12-02): from
    :data:`TRANSFER_MIN_SAMPLES` samples on, the signal from held-out halves centred each on its
    own mean, noise ratios pooled on their own scale, and the maps transferred to the panel's
    size; below, the function's defaults (there the transfer over-corrects, and the earlier
    signal's upward bias partly offsets the maps' downward transfer bias: measured better on
    both simulators)."""
    if n >= TRANSFER_MIN_SAMPLES:
        return {"signal": "halves", "pool": "mean", "extrapolate": True}
    return {"signal": "fold", "pool": "log", "extrapolate": False}


def outdated_scales(mismatch: dict | None, n_ref: int | None) -> str | None:
    """Why rebuilding a store would give it better direction scales, or None: a store of a
    panel whose maps :func:`store_scale_options` now transfers (``n_ref`` samples), whose
    manifest record ``mismatch`` predates the ``pool`` key (recorded since the transfer)."""
    if mismatch is None or not n_ref or "pool" in mismatch:
        return None
    if not store_scale_options(n_ref)["extrapolate"]:
        return None  # a small panel: its maps are made as they were
    return (
        f"the LD store's direction scales were made otherwise than this deepwas makes them for "
        f"a {n_ref}-sample panel (docs/mismatch.md section 4): a rebuild with `deepwas ld` "
        "gives less biased h2"
    )


def cv_direction_scales(
    X: np.ndarray,
    scored: np.ndarray,
    *,
    folds: int | None = None,
    eig_rtol: float = 1e-6,
    seed: int = 0,
    pool: str = "log",
    test_scale: str = "richardson",
    signal: str = "fold",
    train_fraction: float = 1.0,
    extrapolate: bool = False,
) -> DirectionScales:
    """Cross-validated noise and signal scales of the eigen-directions of R_WW (module docstring).

    Parameters
    ----------
    X: (n_samples, n_context)
        The panel's genotypes of the window's context (dosages or standardised; missing values
        already imputed). Each fold is standardised on its own.
    scored: (n_scored,) int
        Positions of the scored variants within the context.
    folds:
        Number of folds (at least 2; each must keep :data:`MIN_FOLD_SAMPLES`). Default:
        :func:`default_folds` of the panel's size.
    eig_rtol:
        Directions with eigenvalue below ``eig_rtol`` times the largest are not used.
    seed:
        Seeds the assignment of samples to folds.
    pool:
        How the noise ratios d / lam are pooled over folds before the isotonic map: ``"log"``
        (the map of log(d / lam)) or ``"mean"`` (the map of d / lam, then its log, like the
        signal ratios). d from n_f held-out samples is a scaled
        chi-square with n_f degrees of freedom, so the mean of its log is low by about 1 / n_f:
        small with 10 folds of a 500-sample panel, large with many small folds.
    test_scale:
        How a held-out fold is standardised: ``"richardson"`` (the stores' default since
        2026-12-02: its own means and standard deviations, with the bias that gives d removed,
        :func:`held_out_variance`) or ``"own"`` (the same without the correction: stores built
        before; it zeroes every variant that is constant in the fold) or
        ``"train"`` (the training folds' means and standard deviations: the held-out samples
        stay out-of-sample) or ``"panel"`` (the whole panel's, as the store's own LD is).
    signal:
        How u^T R_WC R_CW u is estimated from the held-out fold's halves: ``"fold"`` (the
        halves of the fold standardised as a whole, whose common mean adds about
        |C| d / n_f^2, so that the signal scale grows as the folds get smaller) or
        ``"halves"`` (each half centred on its own mean, on the panel's scale,
        :func:`held_out_signal`: unbiased).
    train_fraction:
        Eigen-directions from this fraction of the training folds' samples (a random subset;
        default all). With the held-out folds unchanged, maps at two fractions show how the
        maps move with the training size alone (docs/mismatch.md section 5).
    extrapolate:
        Transfer the maps from the training folds' size n (1 - 1/folds) to the panel's n: the
        log maps from all and from 80% of the training folds (the same held-out folds),
        extrapolated linearly in 1 / n_train (twice the cost).

    LD stores use :func:`store_scale_options`: these defaults below
    :data:`TRANSFER_MIN_SAMPLES` samples (and in every store built before 2026-12-02's change,
    whose manifest has no ``pool``), ``signal="halves", pool="mean", extrapolate=True`` from
    there on.

    Returns
    -------
    DirectionScales

    Notes
    -----
    Cost per window: ``folds`` eigendecompositions of an |W| x |W| matrix from (n - n/folds)
    samples plus O(n |C| r) products, at LD-store build time.
    """
    X = np.asarray(X, dtype=np.float64)
    scored = np.asarray(scored, dtype=np.int64)
    n, n_context = X.shape
    if folds is None:
        folds = default_folds(n)
    if folds < 2 or n // folds < MIN_FOLD_SAMPLES:
        raise ValueError(
            f"need at least 2 folds of {MIN_FOLD_SAMPLES} samples, got {n} samples and "
            f"{folds} folds"
        )
    if signal not in ("halves", "fold"):
        raise ValueError(f"signal must be 'halves' or 'fold', got {signal!r}")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    if extrapolate:
        kw = dict(folds=folds, eig_rtol=eig_rtol, seed=seed, pool=pool)
        kw.update(test_scale=test_scale, signal=signal)
        full = cv_direction_scales(X, scored, train_fraction=train_fraction, **kw)
        part = cv_direction_scales(X, scored, train_fraction=0.8 * train_fraction, **kw)
        n_train = (1.0 - 1.0 / folds) * train_fraction  # as a fraction of the panel
        return extrapolate_scales(full, part, n_train, 0.8 * n_train)
    fold = np.random.default_rng(seed).permutation(n) % folds
    if signal == "halves":  # the held-out halves on the panel's scale (a constant variant: 0)
        panel_sd = X.std(axis=0)
        inv_sd = np.where(panel_sd > 0, 1.0 / np.where(panel_sd > 0, panel_sd, 1.0), 0.0)
    qs, log_rho, t = [], [], []
    subsample = np.random.default_rng([seed, 1])
    for f in range(folds):
        train = np.flatnonzero(fold != f)
        if train_fraction < 1.0:
            size = max(2, round(train_fraction * train.size))
            train = np.sort(subsample.choice(train, size=size, replace=False))
        Xtr = X[train]
        if test_scale in ("own", "richardson"):
            tr, te = _standardise(Xtr), _standardise(X[fold == f])
        else:
            ref = Xtr if test_scale == "train" else X
            mu, sd = ref.mean(axis=0), ref.std(axis=0)
            sd = np.where(sd > 0, sd, 1.0)
            tr = _standardise(Xtr) if test_scale == "panel" else (Xtr - mu) / sd
            te = (X[fold == f] - mu) / sd
        n_tr, n_te = tr.shape[0], te.shape[0]
        tr_w = tr[:, scored]
        lam, U = np.linalg.eigh(tr_w.T @ tr_w / n_tr)
        lam, U = lam[::-1], U[:, ::-1]
        keep = lam > eig_rtol * max(lam[0], 0.0)
        lam, U = lam[keep], U[:, keep]
        r = lam.size
        if r == 0:  # every scored variant constant in these folds
            continue
        # the training folds' own model of the flat-prior signal, whitened: ||R_CW u||^2 / lam
        m = np.square(tr.T @ (tr_w @ U) / n_tr).sum(axis=0) / lam
        P = te[:, scored] @ U  # (n_te, r)
        d = np.square(P).sum(axis=0) / n_te
        if test_scale == "richardson":
            d = _richardson(d, X[fold == f][:, scored], U)
        if signal == "halves":
            b = held_out_signal(X[fold == f] * inv_sd, scored, U)
        else:  # "fold"
            h = n_te // 2
            Qa = te[:h].T @ P[:h] / h
            Qb = te[h:].T @ P[h:] / (n_te - h)
            b = (Qa * Qb).sum(axis=0)
        qs.append((np.arange(r) + 0.5) / r)
        log_rho.append(np.log(np.maximum(d / lam, _FLOOR)) if pool == "log" else d / lam)
        t.append(b / lam / m)
    if not qs:
        zero = np.zeros(GRID.size)
        return DirectionScales(
            log_rho=zero,
            log_t=zero.copy(),
            held_out=test_scale,
            folds=folds,
            signal=signal,
            pool=pool,
            extrapolated=False,
        )
    q_all = np.concatenate(qs)
    lr = _isotonic_on_grid(q_all, np.concatenate(log_rho))
    if pool != "log":
        lr = np.log(np.maximum(lr, _FLOOR))
    tt = _isotonic_on_grid(q_all, np.concatenate(t))
    return DirectionScales(
        log_rho=lr,
        log_t=np.log(np.maximum(tt, _FLOOR)),
        held_out=test_scale,
        folds=folds,
        signal=signal,
        pool=pool,
        extrapolated=False,
    )
