"""Heritability enrichment of annotations under a fitted prior, with block-jackknife standard
errors from warm-started refits: the S-LDSC ``.results`` table for any prior family.

For a prior with per-SNP heritability s_i over the M variants of an annotation set (the LD-store
variants that the set annotates) and an annotation a (binary or continuous), the S-LDSC
definitions (Finucane et al. 2015; Gazal et al. 2017 for continuous annotations):

    Prop._SNPs = sum_i a_i / M
    Prop._h2   = sum_i a_i s_i / sum_i s_i
    Enrichment = Prop._h2 / Prop._SNPs

Both proportions are ratios, so a prior known up to a constant factor (the small-panel
calibration of :func:`deepwas.calibrate_prior`) has the same table.

Standard errors come from the delete-one-block jackknife over LD windows, as in S-LDSC (which uses
200 blocks of SNPs): the training windows of the fit are cut into B contiguous groups; for each
group the prior is refitted without it and every statistic is recomputed from the refitted prior
on the same M variants. A delete-one estimate must be the *estimator* applied to the reduced data:
for linear (and constant) priors the estimator is the optimum of the penalised likelihood, so the
fitted prior is first refitted to that optimum (:func:`deepwas.fit_to_optimum`, full-batch
L-BFGS) and each refit runs from it to the optimum of the kept windows; an MLP's estimate is
its training procedure's, which ``refit="scratch"`` reruns on the kept windows. With delete-one
values t_b,

    SE = sqrt((B - 1) / B * sum_b (t_b - mean t)^2)          (deepwas.jackknife.jackknife_se)

A network's delete-one reruns also differ from the fit by run-to-run noise of its training,
which that formula counts B - 1 times; for them (:func:`resolve_jackknife`) the refits delete
random halves of the blocks instead, in complementary pairs, and

    SE = sqrt(1 / S * sum_s (B - d_s) / d_s * (t_s - mean t)^2)   (deepwas.jackknife.half_sample_se)

over the S refits, d_s the blocks refit s deleted (the delete-d jackknife of Shao & Wu 1989),
which counts the noise once, as the estimate carries it.

Enrichment_std_error = SE(Prop._h2) / Prop._SNPs (Prop._SNPs does not depend on the data), and
Enrichment_p is the two-sided t-test (B - 1 degrees of freedom; delete-half: the number of
halvings) of Prop._h2 - Prop._SNPs = 0,
which is enrichment = 1. S-LDSC tests the equivalent difference of per-SNP heritability inside
and outside the annotation, whose jackknife SE also carries the noise of the total h2;
docs/decisions.md explains the choice.

For a linear prior, ``log s = b + sum_k w_k (x_k - mean_k) / scale_k``, ``Coefficient`` is
``w_k / scale_k``: the change in the natural log of per-SNP heritability per unit of annotation
k, the other features held fixed (``exp(Coefficient)`` is the fold change of a binary
annotation). It is *not* S-LDSC's tau (an additive per-SNP heritability).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.fit_folder import FitSettings, fit_settings
from deepwas.jackknife import jackknife_se

__all__ = [
    "RESULTS_COLUMNS",
    "EnrichmentResult",
    "FitSettings",
    "enrichment",
    "enrichment_table",
    "enrichment_stats",
    "fit_settings",
    "jackknife_refits",
    "resolve_jackknife",
    "resolve_refit",
]

#: The columns of an S-LDSC ``.results`` table, in order (the two ``Coefficient`` columns are
#: NaN for annotations that are not features of a linear prior).
RESULTS_COLUMNS = [
    "Category",
    "Prop._SNPs",
    "Prop._h2",
    "Prop._h2_std_error",
    "Enrichment",
    "Enrichment_std_error",
    "Enrichment_p",
    "Coefficient",
    "Coefficient_std_error",
]
#: How each delete-one estimate is refitted (:func:`jackknife_refits`)
REFIT_METHODS = ("auto", "optimum", "scratch", "adamw")
#: With ``refit="auto"``, a linear or constant fit of at most this many training and validation
#: windows is refitted by rerunning its training ("scratch"), a larger one by L-BFGS to the
#: optimum (docs/decisions.md, "enrich: the default refit")
AUTO_SCRATCH_MAX_WINDOWS = 100
#: S-LDSC's number of jackknife blocks, the default when there are at least that many windows
DEFAULT_BLOCKS = 200
#: How the standard errors come from refits: ``"delete-one"`` block at a time, or
#: ``"delete-half"`` the blocks at a time (random halvings; for networks, whose reruns carry
#: run-to-run noise; docs/decisions.md); ``"auto"`` chooses by the prior's family
JACKKNIFE_SCHEMES = ("auto", "delete-one", "delete-half")
#: Random halvings of the blocks of a delete-half jackknife (two refits each), at most B - 1
DEFAULT_HALF_PARTITIONS = 20


def default_half_partitions(n_blocks: int) -> int:
    """The halvings of a delete-half jackknife over ``n_blocks`` blocks by default:
    min(:data:`DEFAULT_HALF_PARTITIONS`, B - 1), also the p-values' degrees of freedom."""
    return min(DEFAULT_HALF_PARTITIONS, n_blocks - 1)


# ------------------------------------------------------------------------------ arithmetic
def enrichment_stats(snpvar: np.ndarray, annot: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-annotation heritability ``sum_i a_ik s_i`` and the total ``sum_i s_i``.

    Parameters
    ----------
    snpvar: (M,) float64
        Per-SNP heritability of the M variants.
    annot: (M, K) float64
        Annotation values of the same variants.

    Returns
    -------
    h2_annot: (K,) float64
    h2_total: float
    """
    s = np.asarray(snpvar, dtype=np.float64)
    return np.asarray(annot, dtype=np.float64).T @ s, float(s.sum())


def coefficients(prior, names: list[str]) -> np.ndarray:
    """A linear prior's ``w_k / scale_k`` for each name (NaN for names that are not features);
    all NaN for other families."""
    out = np.full(len(names), np.nan)
    if prior.config.model != "linear":
        return out
    w = prior.weight.detach().cpu().numpy() / np.asarray(prior.config.feature_scale)
    index = {n: k for k, n in enumerate(prior.config.feature_names)}
    for j, name in enumerate(names):
        if name in index:
            out[j] = w[index[name]]
    return out


def enrichment_table(
    snpvar: np.ndarray,
    annot: np.ndarray,
    names: list[str],
    *,
    delete_snpvar: Iterator[np.ndarray] | np.ndarray | None = None,
    coef: np.ndarray | None = None,
    delete_coef: np.ndarray | None = None,
    se_of=None,
    df: int | None = None,
) -> pd.DataFrame:
    """The S-LDSC ``.results`` table from per-SNP heritabilities (module docstring).

    Parameters
    ----------
    snpvar: (M,) float64
        The prior's per-SNP heritability of the M variants (positive).
    annot: (M, K) float64
        The annotations of the same variants (binary or continuous).
    names: (K,)
        The annotation names (``Category``).
    delete_snpvar: (B, M) float64 or an iterable of B (M,) arrays, optional
        The per-SNP heritability of each delete-one-block refit; without it the standard errors
        and p-values are NaN.
    coef: (K,) float64, optional
        Linear-prior coefficients (:func:`coefficients`); NaN where not applicable.
    delete_coef: (B, K) float64, optional
        The coefficients of each refit.
    se_of: callable, optional
        The standard error of a statistic from its refit values (default
        :func:`deepwas.jackknife.jackknife_se`, the delete-one jackknife; a delete-half
        jackknife passes :func:`deepwas.jackknife.half_sample_se` with its sizes).
    df: int, optional
        Degrees of freedom of the t-test of Enrichment_p (default B - 1).

    Returns
    -------
    pandas.DataFrame, (K, 9)
        :data:`RESULTS_COLUMNS`. Enrichment and its SE are NaN for an annotation whose values
        sum to zero (|sum a| <= 1e-9 sum |a|: a centred continuous annotation); its
        Enrichment_p still tests Prop._h2 = Prop._SNPs.

    Raises
    ------
    InputError
        When the shapes disagree or the total heritability is not positive.
    """
    snpvar = np.asarray(snpvar, dtype=np.float64)
    annot = np.asarray(annot, dtype=np.float64)
    if annot.ndim != 2 or annot.shape[0] != snpvar.shape[0] or len(names) != annot.shape[1]:
        raise InputError(
            f"annotations of shape {annot.shape} do not match {snpvar.shape[0]} variants and "
            f"{len(names)} names",
            column="annot",
        )
    h2_annot, h2 = enrichment_stats(snpvar, annot)
    if not h2 > 0:
        raise InputError(f"the prior's total heritability is {h2:g}, not positive", column="prior")
    M = snpvar.shape[0]
    prop_snps = annot.sum(0) / M
    prop_h2 = h2_annot / h2
    # a centred continuous annotation sums to zero up to round-off: no enrichment
    defined = np.abs(annot.sum(0)) > 1e-9 * np.abs(annot).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        enr = np.where(defined, prop_h2 / prop_snps, np.nan)
    K = len(names)
    se_prop = np.full(K, np.nan)
    p = np.full(K, np.nan)
    coef = np.full(K, np.nan) if coef is None else np.asarray(coef, dtype=np.float64)
    coef_se = np.full(K, np.nan)
    if delete_snpvar is not None:
        from scipy import stats

        se_of = se_of or jackknife_se
        d_prop = np.array([enrichment_stats(s, annot)[0] / s.sum() for s in delete_snpvar])
        df = d_prop.shape[0] - 1 if df is None else df
        se_prop = np.array([se_of(d_prop[:, k]) for k in range(K)])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (prop_h2 - prop_snps) / se_prop
        p = np.where(se_prop > 0, 2.0 * stats.t.sf(np.abs(t), df=df), np.nan)
        if delete_coef is not None:
            dc = np.asarray(delete_coef, dtype=np.float64)
            coef_se = np.array(
                [se_of(dc[:, k]) if np.isfinite(dc[:, k]).all() else np.nan for k in range(K)]
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        enr_se = np.where(defined, se_prop / np.abs(prop_snps), np.nan)
    return pd.DataFrame(
        {
            "Category": list(names),
            "Prop._SNPs": prop_snps,
            "Prop._h2": prop_h2,
            "Prop._h2_std_error": se_prop,
            "Enrichment": enr,
            "Enrichment_std_error": enr_se,
            "Enrichment_p": p,
            "Coefficient": coef,
            "Coefficient_std_error": coef_se,
        },
        columns=RESULTS_COLUMNS,
    )


# ------------------------------------------------------------------------------ refits
def jackknife_refits(
    data,
    prior,
    config,
    *,
    sigma: float | None = None,
    n_blocks: int | None = None,
    method: str = "optimum",
    epochs: int = 5,
    tol: float = 1e-7,
    prior_sd: float | None = 1.0,
    objective=None,
    deleted: list[np.ndarray] | None = None,
    progress: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Delete-one-block (or delete-half) refits of a prior, warm-started from it.

    Parameters
    ----------
    data: deepwas.data.FitData
        The fit's trait, features and split; the jackknife runs over ``data.train + data.val``
        (the windows the prior was fitted to), in store order.
    prior: deepwas.priors.Prior
        The fitted prior, in its training state (for a calibrated fit, the bias before the
        calibration shift): every refit starts from a copy of it. With ``method="optimum"`` it
        should itself be the optimum on all the windows (:func:`deepwas.fit_to_optimum`).
    config: deepwas.TrainConfig
        The fit's settings (optimiser, batch, seed), for ``method="adamw"``: ``epochs``
        replaces its epochs and early stopping is off (the refit keeps its best training
        epoch).
    sigma:
        The starting intercept (default: the best constant prior's of the kept windows).
    n_blocks:
        Number of contiguous groups of windows (default ``min(200, n_windows)``).
    method:
        ``"optimum"``: full-batch L-BFGS to the optimum of the kept windows' objective
        (gradient norm <= ``tol``; :func:`deepwas.fit_to_optimum`); ``"adamw"``: ``epochs``
        epochs of the fit's own optimiser (the first version; under-dispersed, see
        docs/decisions.md); ``"scratch"``: the fit's whole training procedure
        (``config``: its initialisation seed, epochs, optimiser, early stopping on the kept
        validation windows) rerun on the kept windows, for priors such as the MLP whose
        estimate is defined by the procedure rather than by an optimum.
    epochs:
        Epochs of each ``"adamw"`` refit.
    tol:
        Gradient-norm tolerance of each ``"optimum"`` refit.
    prior_sd:
        The Gaussian penalty of the ``"optimum"`` refits (:func:`deepwas.fit_to_optimum`).
    objective: deepwas.optimum.TrainingObjective, optional
        The packed objective of ``data`` (built here when not given).
    deleted: list of arrays of block indices, optional
        The blocks each refit leaves out (default: one refit per block, without it; a
        delete-half jackknife passes :func:`deepwas.jackknife.half_samples`).

    Yields
    ------
    (b, deepwas.priors.Prior)
        The refit's index (its block, or its entry of ``deleted``) and its refitted prior, one
        by one (so that the caller keeps only the statistics it needs).
    """
    from tqdm.auto import tqdm

    from deepwas.fit import fit_constant, stops_early, train_prior
    from deepwas.jackknife import _groups
    from deepwas.optimum import TrainingObjective, fit_to_optimum

    if method not in REFIT_METHODS[1:]:
        raise InputError(
            f"unknown refit method {method!r}",
            fix=f"use one of {', '.join(REFIT_METHODS[1:])} (resolve 'auto' with resolve_refit)",
        )
    windows = sorted([*data.train, *data.val])
    if n_blocks is None:
        n_blocks = min(DEFAULT_BLOCKS, len(windows))
    groups = _groups(len(windows), n_blocks)
    if deleted is not None:
        groups = [np.concatenate([groups[j] for j in sub]) for sub in deleted]
    cfg = replace(config, epochs=int(epochs), patience=int(epochs) + 1, device="cpu")
    if method == "optimum" and objective is None:
        objective = TrainingObjective(data)
    bar = tqdm(groups, desc="jackknife refits", disable=not progress)
    for b, drop in enumerate(bar):
        dropped = {windows[i] for i in drop}
        kept = [w for w in windows if w not in dropped]
        if method == "scratch":
            # the fit's whole procedure on the kept windows: same initialisation seed, epochs,
            # optimiser and early stopping on the kept validation windows
            sub = replace(
                data,
                train=[w for w in data.train if w not in dropped],
                val=[w for w in data.val if w not in dropped],
                test=[],
            )
            # the fit's mini-batches with the deleted windows left out (``schedule``): a rerun
            # that reshuffled the batches would add optimisation noise to every delete-one
            # value, which the jackknife multiplies by about B - 1 (docs/decisions.md); a prior
            # that trains on its validation windows too (stops_early) shuffles them in as well
            early = stops_early(config.model, dna=config.fasta is not None)
            trained = data.train if early else windows
            yield (
                b,
                train_prior(
                    sub, replace(config, device="cpu"), progress=False, schedule=list(trained)
                ).prior,
            )
        elif method == "optimum":
            s0 = sigma if sigma is not None else fit_constant(data.subset(kept)).sigma
            yield b, fit_to_optimum(objective, prior, s0, kept, tol=tol, prior_sd=prior_sd).prior
        else:
            sub = replace(data, train=kept, val=[], test=[])
            result = train_prior(sub, cfg, init=prior, init_sigma=sigma, progress=False)
            yield b, result.prior


# ------------------------------------------------------------------------------ composition
@dataclass
class EnrichmentResult:
    """What :func:`enrichment` returns.

    Attributes
    ----------
    table: pandas.DataFrame, (K, 9)
        The ``.results`` table (:data:`RESULTS_COLUMNS`).
    h2, h2_se: float
        Total heritability of the prior over the M variants (the saved, calibrated prior) and
        its jackknife standard error (NaN without refits). For a calibrated fit the refits are
        not re-calibrated, so ``h2_se`` is the relative spread of the refits times ``h2``.
    n_variants: int
        M, the LD-store variants with enrichment annotations.
    n_blocks: int
        Jackknife blocks (0: no standard errors).
    refit_epochs: int
    refit: str
        The refit method used (``"auto"`` resolved).
    drift: pandas.Series or None
        Per annotation, in units of Prop._h2_std_error: with ``refit="optimum"`` the optimum's
        Prop._h2 minus the saved prior's; with ``"adamw"`` how far a warm-started refit on
        *all* the windows moves it; 0 with ``"scratch"`` (large values: the fit had not
        converged).
    report: list[str]
    jackknife: str
        ``"delete-one"`` or ``"delete-half"`` (``"auto"`` resolved).
    n_refits: int
        Refits run (B delete-one, 2 x partitions delete-half, 0 without SEs).
    """

    table: pd.DataFrame
    h2: float
    h2_se: float
    n_variants: int
    n_blocks: int
    refit_epochs: int
    refit: str = ""
    drift: pd.Series | None = None
    report: list[str] = field(default_factory=list)
    jackknife: str = "delete-one"
    n_refits: int = 0


def resolve_refit(prior, n_windows: int) -> str:
    """The refit method ``refit="auto"`` chooses for a prior fitted on ``n_windows`` windows.

    ``"scratch"`` for an MLP or ``linear_mlp`` (its estimate is its training procedure's; an
    optimum would overfit) and for any prior fitted on at most
    :data:`AUTO_SCRATCH_MAX_WINDOWS` windows (a chromosome: there the optimum of the likelihood
    overfits, e.g. UTR enrichment 14.7 and a per-SD log-enrichment of -2.1 for CTCF on UK
    Biobank height chr22, which the fit's AdamW epochs from zero do not reach, and reruns are
    cheap);
    ``"optimum"`` for a linear, constant or ``neighbourhood_linear`` prior fitted on more windows.
    """
    if _network(prior) or n_windows <= AUTO_SCRATCH_MAX_WINDOWS:
        return "scratch"
    return "optimum"


def resolve_jackknife(prior, refit: str) -> str:
    """The jackknife ``jackknife="auto"`` chooses: ``"delete-half"`` when the refits rerun the
    training of a network (MLP, ``linear_mlp``, SSM families), ``"delete-one"`` otherwise.

    A network's training does not end at a unique optimum: two runs on data that differ by one
    block of 200 differ by more than the block's data explains, and the delete-one jackknife
    multiplies that run-to-run noise by B - 1 (error SD / SE of 0.5-0.7 on simulations,
    BENCHMARKS.md section 12). Deleting half the blocks at a time multiplies it by 1.
    """
    if refit == "scratch" and _network(prior):
        return "delete-half"
    return "delete-one"


def _network(prior) -> bool:
    """Whether ``prior``'s training stops early (a network), not at an optimum (constant, linear,
    neighbourhood_linear: :func:`deepwas.fit.stops_early`)."""
    from deepwas.fit import stops_early

    return stops_early(prior.config.model, dna=prior.config.sequence is not None)


def _log_s(prior, features: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
    return prior.predict(features, positions).numpy()


def enrichment(
    fit: str | Path,
    annot: str | list[str],
    *,
    sumstats: str | None = None,
    ld: str | None = None,
    fit_annot: str | list[str] | None = None,
    bim: str | None = None,
    n_blocks: int | None = None,
    refit: str = "auto",
    refit_epochs: int = 5,
    tol: float = 1e-7,
    prior_sd: float | None = 1.0,
    jackknife: str = "auto",
    half_partitions: int | None = None,
    progress: bool = True,
    say=None,
) -> EnrichmentResult:
    """Heritability enrichment of annotations under a fitted prior, with jackknife SEs.

    Parameters
    ----------
    fit:
        A folder written by ``deepwas fit``: its ``model/`` is the prior, its ``metrics.json``
        names the sumstats, LD store, annotations, split and training settings of the fit.
    annot:
        The annotation file(s) to test (any format of :func:`deepwas.read_annotations`; binary
        or continuous; need not be the prior's features).
    sumstats, ld:
        Override the fit's summary statistics and LD store (e.g. when the files moved).
    fit_annot:
        Override the fit's annotation file(s), from which the prior's features are rebuilt.
    bim:
        ``.bim`` of thin LDSC ``.annot`` files among ``annot``.
    n_blocks:
        Jackknife blocks (contiguous groups of the fit's training and validation windows);
        default ``min(200, number of windows)``; 0 for point estimates only (no refits).
    refit:
        ``"auto"`` (default): ``"scratch"`` for an MLP and for a fit of at most
        :data:`AUTO_SCRATCH_MAX_WINDOWS` training and validation windows (where the optimum of
        the likelihood overfits and the early-stopped prior is the estimate), ``"optimum"``
        otherwise (where K reruns of the training would cost too much and the early-stopped
        prior is close to the optimum). ``"optimum"``: the fitted prior is first refitted to the
        optimum of the likelihood on its training windows (full-batch L-BFGS,
        :func:`deepwas.fit_to_optimum`; the table is that optimum's) and every delete-one refit
        runs to the optimum of the kept windows from it. ``"adamw"``: the table is the saved
        prior's and each refit is ``refit_epochs`` epochs of the fit's optimiser (the first
        version, whose standard errors are too small; docs/decisions.md). ``"scratch"``: the
        table is the saved prior's and each delete-one estimate reruns the fit's training on the
        kept windows (its estimate is its training procedure's, not an optimum's).
    refit_epochs:
        Epochs of each ``"adamw"`` refit.
    tol:
        Gradient-norm tolerance of the ``"optimum"`` refits.
    prior_sd:
        The ``"optimum"`` refits maximise the likelihood plus a Gaussian N(0, prior_sd^2) prior
        on the prior's parameters other than its output bias (for a linear prior, the
        log-enrichment per standard deviation of each feature); None for the plain likelihood,
        whose optimum can be a log-enrichment of -inf with a standard error of 0
        (docs/decisions.md).
    jackknife:
        ``"auto"`` (default, :func:`resolve_jackknife`): ``"delete-half"`` for a network whose
        training is rerun, ``"delete-one"`` otherwise. ``"delete-one"``: B refits, each without
        one block. ``"delete-half"``: 2 x ``half_partitions`` refits, each without a random half
        of the blocks (:func:`deepwas.jackknife.half_samples`), standard errors by
        :func:`deepwas.jackknife.half_sample_se` and p-values on ``half_partitions`` degrees of
        freedom.
    half_partitions:
        Random halvings of a delete-half jackknife (default :func:`default_half_partitions`).
    progress:
        Show a progress bar.
    say:
        Receives report lines.

    Returns
    -------
    EnrichmentResult

    Raises
    ------
    InputError
        A missing or unreadable fit folder or input, annotations that match no store variant,
        fewer than 2 windows or a bad ``n_blocks``.
    """
    from deepwas.data import build_features, prepare_fit, prior_positions
    from deepwas.io.annotations import match_annotations, read_annotations
    from deepwas.ld.store import LDStore
    from deepwas.ld.trait import load_trait
    from deepwas.prior_files import load_prior
    from deepwas.priors import check_features

    say = say or (lambda *lines: None)
    if refit not in REFIT_METHODS:
        raise InputError(
            f"unknown refit method {refit!r}",
            column="--refit",
            fix=f"use one of {', '.join(REFIT_METHODS)}",
        )
    if jackknife not in JACKKNIFE_SCHEMES:
        raise InputError(
            f"unknown jackknife {jackknife!r}",
            column="--jackknife",
            fix=f"use one of {', '.join(JACKKNIFE_SCHEMES)}",
        )
    fit = Path(fit)
    if not fit.is_dir():
        raise InputError("fit folder not found", file=fit, fix="pass the --out of 'deepwas fit'")
    prior = load_prior(fit / "model")
    settings = fit_settings(fit)
    store = LDStore.open(ld or settings.ld)
    test = read_annotations(annot, bim=bim)
    values, found, report = match_annotations(test, store.variants)
    say(*report)
    A = values[found]
    M = int(found.sum())
    prior_annot = read_annotations(
        fit_annot or settings.annot, bim=settings.bim if fit_annot is None else bim
    )
    features, names, _ = build_features(store, prior_annot)
    positions = prior_positions(prior, store.variants)
    check_features(
        prior,
        names,
        file=prior_annot.source,
        fix="pass the annotation files the prior was trained on with --fit-annot",
    )
    if prior.family.uses_features:
        features = features[:, [names.index(n) for n in prior.config.feature_names]]
        names = list(prior.config.feature_names)
    snpvar = np.exp(_log_s(prior, features, positions))[found]
    coef = coefficients(prior, test.names)
    h2_full = float(snpvar.sum())
    if n_blocks == 0:
        table = enrichment_table(snpvar, A, test.names, coef=coef)
        return EnrichmentResult(
            table,
            h2_full,
            math.nan,
            M,
            0,
            refit_epochs,
            refit="none",
            report=report,
            jackknife="none",
        )

    trait = load_trait(
        sumstats or settings.sumstats,
        store,
        n_gwas=settings.n_gwas,
        var_explained=settings.var_explained,
        ld_model=settings.ld_model,
        progress=progress,
    )
    data = prepare_fit(
        trait,
        prior_annot,
        store,
        test_chrom=settings.test_chrom,
        test_blocks=settings.test_blocks,
        val_fraction=settings.val_fraction,
        split_seed=settings.split_seed,
    )
    data.features, data.feature_names = features, names
    if positions is not None:  # with the DNA around each variant for a prior that reads it
        data.positions = positions
    # refits start from the trained state: a calibrated prior's bias was shifted after training
    scale = settings.h2_scale or 1.0
    if settings.h2_scale:
        import torch

        with torch.no_grad():
            prior.bias.sub_(math.log(settings.h2_scale))
    windows = sorted([*data.train, *data.val])
    B = min(DEFAULT_BLOCKS, len(windows)) if n_blocks is None else n_blocks
    sigma = settings.sigma
    objective = None
    moved = None  # the optimum's Prop._h2 minus the saved prior's
    if refit == "auto":
        refit = resolve_refit(prior, len(windows))
    if refit == "optimum":
        from deepwas.optimum import TrainingObjective, fit_to_optimum

        objective = TrainingObjective(data)
        if sigma is None:
            from deepwas.fit import fit_constant

            sigma = fit_constant(data.subset(windows)).sigma
        opt = fit_to_optimum(objective, prior, sigma, windows, tol=tol, prior_sd=prior_sd)
        report = [
            *report,
            f"the prior refitted to the optimum of its {len(windows)} windows: gradient norm "
            f"{opt.grad_norm:.2g} after {opt.iterations} L-BFGS iterations",
        ]
        if not opt.converged:
            report = [
                *report,
                f"warning: the refit of the prior to the optimum stopped at gradient norm "
                f"{opt.grad_norm:.2g} (> {tol:g}) after {opt.iterations} iterations",
            ]
        s_opt = np.exp(_log_s(opt.prior, features, positions))[found]
        moved = (
            enrichment_stats(s_opt, A)[0] / s_opt.sum() - enrichment_stats(snpvar, A)[0] / h2_full
        )
        prior, sigma, snpvar = opt.prior, opt.sigma, s_opt * scale
        coef = coefficients(prior, test.names)
        h2_full = float(snpvar.sum())
        how = "refits to the optimum of the kept windows (L-BFGS)"
    elif refit == "scratch":
        how = "the fit's training rerun on the kept windows"
    else:
        how = f"warm-started refits of {refit_epochs} AdamW epoch(s) each"
    if jackknife == "auto":
        jackknife = resolve_jackknife(prior, refit)
    deleted, se_of, df = None, jackknife_se, B - 1
    scheme = "delete-one"
    if jackknife == "delete-half":
        from functools import partial

        from deepwas.jackknife import half_sample_se, half_samples

        P = default_half_partitions(B) if half_partitions is None else half_partitions
        if isinstance(P, bool) or not isinstance(P, int | np.integer) or P < 1:
            raise InputError(
                f"half_partitions must be a positive integer, got {P!r}",
                column="--half-partitions",
            )
        deleted = half_samples(B, int(P), seed=settings.split_seed)
        sizes = np.array([len(d) for d in deleted])
        se_of = partial(half_sample_se, n_deleted=sizes, n_blocks=B)
        df = min(int(P), B - 1)
        scheme = f"delete-half: {P} random halvings, {2 * P} refits without half the blocks"
    say(
        f"jackknife: {B} blocks of the fit's {len(windows)} training windows, {scheme}, {how}",
        *settings.notes,
    )
    delete_s, delete_coef = [], []
    for _, refitted in jackknife_refits(
        data,
        prior,
        settings.config,
        sigma=sigma,
        n_blocks=B,
        method=refit,
        epochs=refit_epochs,
        tol=tol,
        prior_sd=prior_sd,
        objective=objective,
        deleted=deleted,
        progress=progress,
    ):
        delete_s.append(np.exp(_log_s(refitted, features, positions))[found])
        delete_coef.append(coefficients(refitted, test.names))
    table = enrichment_table(
        snpvar,
        A,
        test.names,
        delete_snpvar=delete_s,
        coef=coef,
        delete_coef=np.array(delete_coef),
        se_of=se_of,
        df=df,
    )
    rel = np.array([s.sum() for s in delete_s])
    h2_se = se_of(rel / rel.mean()) * h2_full
    se = table["Prop._h2_std_error"].to_numpy()
    if refit == "scratch":
        moved = np.zeros(len(test.names))  # the table is the saved prior's
    if moved is None:
        # the refit procedure without deleting anything: a check that the fit had converged
        from deepwas.fit import train_prior

        cfg = replace(settings.config, epochs=int(refit_epochs), patience=int(refit_epochs) + 1)
        full = train_prior(
            replace(data, train=windows, val=[], test=[]),
            replace(cfg, device="cpu"),
            init=prior,
            init_sigma=sigma,
            progress=False,
        ).prior
        s_full = np.exp(_log_s(full, features, positions))[found]
        moved = enrichment_stats(s_full, A)[0] / s_full.sum() - table["Prop._h2"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        drift = pd.Series(moved / se, index=test.names)
    worst = float(np.nanmax(np.abs(drift.to_numpy()))) if np.isfinite(drift).any() else 0.0
    if worst > 0.5:
        what = (
            "the optimum of the likelihood differs from the saved prior"
            if refit == "optimum"
            else "a refit on all windows moves Prop._h2"
        )
        report = [
            *report,
            f"warning: {what} by up to {worst:.2f} standard errors of Prop._h2: the fit had not "
            "converged (refit it with more epochs or patience)"
            + (
                "; the table is the optimum's"
                if refit == "optimum"
                else ", so the estimates carry an optimisation error that the standard errors "
                "do not include"
            ),
        ]
    return EnrichmentResult(
        table,
        h2_full,
        h2_se,
        M,
        B,
        refit_epochs,
        refit=refit,
        drift=drift,
        report=report,
        jackknife=jackknife,
        n_refits=len(delete_s),
    )
