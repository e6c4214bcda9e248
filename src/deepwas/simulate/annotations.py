"""Annotations and the true prior of a simulation: spatially clustered synthetic annotations,
given annotations (read and matched by :mod:`deepwas.io.annotations`), and the true per-SNP
heritability ``s = SNPVAR`` as a linear or a clearly non-linear function of them and MAF.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from deepwas.errors import InputError
from deepwas.io.annotations import match_annotations, read_annotations

__all__ = ["ALPHA_MAF", "PRIOR_KINDS", "neighbourhood_terms", "synthetic_annotations", "true_prior"]

#: The kinds of true prior :func:`true_prior` makes (``SimConfig.prior``, ``--prior``).
PRIOR_KINDS = ("linear", "nonlinear", "neighbourhood")

#: The alpha of the frequency-dependent architecture (Schoech et al. 2019, Nat Commun 10:790):
#: per-allele effect variance ~ [2p(1-p)]^alpha, so a standardised effect has variance
#: ~ [2p(1-p)]^(1 + alpha).
ALPHA_MAF = -0.38


def synthetic_annotations(
    variants: pd.DataFrame,
    *,
    n_binary: int = 6,
    n_continuous: int = 4,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str]]:
    """Spatially clustered synthetic annotations, like real functional annotations.

    Parameters
    ----------
    variants: (m, >=2)
        A variant table with ``CHR`` and ``BP``, sorted by position within each chromosome.
    n_binary, n_continuous:
        How many of each kind to make.
    rng:
        Random generator.

    Returns
    -------
    values: (m, n_binary + n_continuous) float64
        Binary columns (0/1) first, then continuous ones (mean 0, variance 1 over the variants).
    names: list of str
        ``binary1..`` then ``continuous1..``.

    Notes
    -----
    Binary annotation j is a two-state continuous-time Markov chain along base-pair position:
    enriched runs of mean length ``L_j`` alternate with background runs of mean length
    ``L_j (1 - p_j) / p_j``, so the expected coverage is ``p_j``. Coverages are log-spaced from
    1% to 30% and run lengths from 5 kb to 50 kb (rare annotations come in shorter runs, like
    coding or conserved elements; common ones in longer runs, like chromatin states).
    Continuous annotation j is standard Gaussian noise on a 1 kb grid averaged over a moving
    window of ``w_j`` (log-spaced 10 kb..100 kb), read at each variant's bin, then standardised.
    Chromosomes are independent. The MAF feature is not made here (it depends on a cohort):
    :func:`run_simulation` appends it as the column ``MAF``.
    """
    chrom = variants["CHR"].to_numpy()
    bp = variants["BP"].to_numpy(dtype=np.int64)
    m = bp.size
    coverage = _spaced(0.01, 0.30, n_binary, 0.1)
    run_bp = _spaced(5e3, 50e3, n_binary, 20e3)
    width_bp = _spaced(10e3, 100e3, n_continuous, 30e3)
    values = np.zeros((m, n_binary + n_continuous))
    for c in pd.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        pos = bp[rows]
        lo, span = int(pos.min()), int(pos.max() - pos.min()) + 1
        for j in range(n_binary):
            values[rows, j] = _markov_runs(pos - lo, span, coverage[j], run_bp[j], rng)
        bins = (pos - lo) // 1000
        for j in range(n_continuous):
            w = max(1, int(round(width_bp[j] / 1000)))
            noise = rng.standard_normal(int(bins.max()) + w)
            cs = np.concatenate([[0.0], np.cumsum(noise)])
            smooth = (cs[w:] - cs[:-w]) / w  # mean of noise[i : i + w]
            values[rows, n_binary + j] = smooth[bins]
    cont = values[:, n_binary:]
    if m > 1 and n_continuous:
        sd = cont.std(axis=0)
        values[:, n_binary:] = (cont - cont.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    names = [f"binary{j + 1}" for j in range(n_binary)]
    names += [f"continuous{j + 1}" for j in range(n_continuous)]
    return values, names


def _spaced(lo: float, hi: float, k: int, single: float) -> np.ndarray:
    return np.geomspace(lo, hi, k) if k > 1 else np.full(k, single)


def _markov_runs(
    x: np.ndarray, span: int, coverage: float, mean_on: float, rng: np.random.Generator
) -> np.ndarray:
    """0/1 state at offsets ``x`` of a stationary two-state chain alternating exponential runs."""
    mean_off = mean_on * (1.0 - coverage) / coverage
    state0 = rng.random() < coverage
    n = max(16, int(3 * span / (mean_on + mean_off)) + 16)
    while True:  # draw alternating run lengths until they cover the span
        first, second = (mean_on, mean_off) if state0 else (mean_off, mean_on)
        lengths = np.empty(2 * n)
        lengths[0::2] = rng.exponential(first, n)
        lengths[1::2] = rng.exponential(second, n)
        ends = np.cumsum(lengths)
        if ends[-1] > span:
            break
        n *= 2
    segment = np.searchsorted(ends, x, side="right")
    on = (segment % 2 == 0) == state0
    return on.astype(np.float64)


def true_prior(
    values: np.ndarray,
    maf: np.ndarray,
    *,
    kind: str = "nonlinear",
    h2: float,
    rng: np.random.Generator,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """The true per-SNP heritability ``s`` (SNPVAR) as a function of annotations and MAF.

    Parameters
    ----------
    values: (m, k)
        Annotations. Columns holding only 0 and 1 are *binary*; the others are *continuous* and
        are standardised here (mean 0, variance 1; constant columns become 0).
    maf: (m,)
        Minor allele frequency, in (0, 0.5].
    kind:
        ``"linear"``, ``"nonlinear"`` or ``"neighbourhood"``.
    h2:
        Total heritability: ``sum(s) == h2`` up to round-off.
    rng:
        Draws the linear weights.
    positions: (m, 2), optional
        ``CHR`` and ``BP`` of the variants; required by ``"neighbourhood"`` only.

    Returns
    -------
    snpvar: (m,) float64
        Positive, summing to ``h2``.

    Notes
    -----
    With binary columns B, standardised continuous columns C and u = MAF, both kinds share the
    frequency term ``(1 + alpha) log(2u(1-u))`` with alpha = -0.38 (Schoech et al. 2019).

    - linear: ``log s = c + B w_B + C w_C + (1 + alpha) log(2u(1-u))`` with log-enrichments
      ``w_B ~ U(0, 2)`` and ``w_C ~ N(0, 0.5^2)``. Exactly linear in (B, C, log(2u(1-u))).
    - nonlinear: a weak linear part (``w_B ~ U(0, 0.5)``, ``w_C ~ N(0, 0.2^2)``) plus
      an interaction ``2.5 B_{-1} B_{-2}`` of the last two binary columns (the most common
      synthetic ones); a threshold ``3 sigmoid(4 (C_1 - 1))``; a bounded product
      ``1.5 tanh(C_2 C_3 / 2)`` (``C_2 C_1`` with two continuous columns); a gate
      ``1.5 B_{k/2} tanh(2 C_{-1})``; and a bump ``2 exp(-(u - 0.05)^2 / (2 * 0.02^2))`` in
      MAF. Terms whose columns do not exist are left out. A least-squares fit of log s on
      (B, C, log(2u(1-u))) explains about 40-60% of its variance with the default synthetic
      annotations (checked < 80% in the tests).
    - neighbourhood: the weak linear part of nonlinear plus two terms of one binary annotation
      ``M`` (the third, else the last) that a variant's own annotations do not determine:
      ``4 D_20(M)``, the fraction of the variants within +-20 kb (on its chromosome, itself
      included) that carry ``M``, and a flank effect ``3 (1 - M) exp(-d(M) / 20 kb)``, ``d`` the
      distance (bp) to the nearest variant that carries ``M`` (the term is 0 on ``M`` itself and
      on chromosomes without ``M``). Needs ``positions``. With the default synthetic
      annotations (``M`` covers about 5% of the variants in runs of about 10 kb), a
      least-squares fit of log s on the variant's own (B, C, log(2u(1-u))) explains about half
      of its variance, against 80-95% for a single-variant density or distance term.
    """
    A = np.asarray(values, dtype=np.float64)
    u = np.asarray(maf, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != u.shape[0] or u.ndim != 1:
        raise ValueError(f"values (m, k) and maf (m,) disagree: {A.shape} vs {u.shape}")
    if not np.isfinite(A).all() or not np.isfinite(u).all():
        raise ValueError("values and maf must be finite")
    if kind not in PRIOR_KINDS:
        raise InputError(
            f"unknown prior {kind!r}", column="prior", fix=f"use one of {', '.join(PRIOR_KINDS)}"
        )
    if kind == "neighbourhood" and (positions is None or np.shape(positions) != (A.shape[0], 2)):
        raise ValueError("the neighbourhood prior needs (m, 2) positions (CHR, BP)")
    if not 0.0 < h2:
        raise InputError(f"h2 must be positive, got {h2}", column="h2")
    binary = np.all((A == 0.0) | (A == 1.0), axis=0)
    B = A[:, binary]
    C = A[:, ~binary]
    if C.shape[1]:
        sd = C.std(axis=0)
        C = (C - C.mean(axis=0)) / np.where(sd > 0, sd, np.inf)
    nb, nc = B.shape[1], C.shape[1]
    u = np.clip(u, 1e-6, 0.5)
    log_s = (1.0 + ALPHA_MAF) * np.log(2.0 * u * (1.0 - u))
    if kind == "linear":
        log_s += B @ rng.uniform(0.0, 2.0, nb) + C @ rng.normal(0.0, 0.5, nc)
    elif kind == "neighbourhood":
        log_s += B @ rng.uniform(0.0, 0.5, nb) + C @ rng.normal(0.0, 0.2, nc)
        if nb >= 1:
            density, flank = neighbourhood_terms(B[:, min(2, nb - 1)], positions)
            log_s += 4.0 * density
            log_s += 3.0 * flank
    else:
        log_s += B @ rng.uniform(0.0, 0.5, nb) + C @ rng.normal(0.0, 0.2, nc)
        if nb >= 2:
            log_s += 2.5 * B[:, -1] * B[:, -2]
        if nc >= 1:
            log_s += 3.0 * special.expit(4.0 * (C[:, 0] - 1.0))
        if nc >= 2:
            log_s += 1.5 * np.tanh(0.5 * C[:, 1] * C[:, 2 if nc > 2 else 0])
        if nb >= 1 and nc >= 2:
            log_s += 1.5 * B[:, nb // 2] * np.tanh(2.0 * C[:, -1])
        log_s += 2.0 * np.exp(-0.5 * ((u - 0.05) / 0.02) ** 2)
    s = np.exp(log_s - log_s.max())
    return s * (h2 / s.sum())


def neighbourhood_terms(mark: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two neighbourhood terms of the ``neighbourhood`` truth for a binary ``mark`` (m,) at
    ``positions`` (m, 2) = (CHR, BP): the fraction of the variants within +-20 kb that carry it
    (itself included), and the flank term ``(1 - M) exp(-d / 20 kb)``, ``d`` the distance to the
    nearest variant that carries it (0 on the mark and where a chromosome has none)."""
    chrom, bp = np.asarray(positions, dtype=np.float64).T
    mark = np.asarray(mark, dtype=np.float64)
    density = _density(mark, chrom, bp, 20e3)
    flank = (1.0 - mark) * np.exp(-_distance_to_mark(mark, chrom, bp) / 20e3)
    return density, flank


def _density(mark: np.ndarray, chrom: np.ndarray, bp: np.ndarray, half: float) -> np.ndarray:
    """Fraction of the variants within +-``half`` bp (same chromosome, itself included) with
    ``mark == 1``."""
    out = np.zeros(mark.size)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        rows = rows[np.argsort(bp[rows], kind="stable")]
        p = bp[rows]
        cs = np.concatenate([[0.0], np.cumsum(mark[rows])])
        lo = np.searchsorted(p, p - half, side="left")
        hi = np.searchsorted(p, p + half, side="right")
        out[rows] = (cs[hi] - cs[lo]) / (hi - lo)
    return out


def _distance_to_mark(mark: np.ndarray, chrom: np.ndarray, bp: np.ndarray) -> np.ndarray:
    """Distance (bp) to the nearest variant of the same chromosome with ``mark == 1``
    (infinite when there is none)."""
    out = np.full(mark.size, np.inf)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        marked = np.sort(bp[rows][mark[rows] == 1.0])
        if marked.size == 0:
            continue
        p = bp[rows]
        i = np.searchsorted(marked, p)
        left = np.abs(p - marked[np.clip(i - 1, 0, marked.size - 1)])
        right = np.abs(marked[np.clip(i, 0, marked.size - 1)] - p)
        out[rows] = np.minimum(left, right)
    return out


def given_annotations(
    path: str, variants: pd.DataFrame
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Annotations of the file ``path`` for the simulated (or panel) variants.

    Parameters
    ----------
    path:
        An annotation file in any format :func:`deepwas.io.annotations.read_annotations` reads.
    variants: (m, >=3)
        The simulated variant table (``CHR SNP BP``).

    Returns
    -------
    values: (m_kept, k) float64
        Annotations of the kept variants.
    names: list of str, (k,)
        Annotation names, in file order.
    kept: (m_kept,) intp
        Positions in ``variants`` of the annotated variants, increasing; the others are dropped.

    Notes
    -----
    The reader's rules apply: identifier and allele-frequency columns (``MAF`` and its aliases)
    are not annotations, every value must be a finite number. Rows are matched with
    :func:`deepwas.io.annotations.match_annotations` (by SNP id, or by CHR and BP when that
    annotates more variants; the first of duplicate rows wins).

    Raises
    ------
    InputError
        Unreadable file, no annotation column, a missing or non-numeric value, or no variant
        annotated.
    """
    annot = read_annotations(path)
    values, found, _ = match_annotations(annot, variants)
    kept = np.flatnonzero(found)
    return values[kept], list(annot.names), kept
