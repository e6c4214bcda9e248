"""Scoring a prior (DESIGN 2.4): :func:`evaluate` re-fits sigma by exact maximum likelihood on the
training windows, fits the best constant prior of the same windows as the baseline, and scores
both on the held-out windows; :class:`FitMetrics` holds the result (``metrics.json``) and defines
the held-out gain.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepwas._distributed import _world
from deepwas.exact import fit_constant, fit_scale, refit_sigma, window_nlls
from deepwas.fit import TrainResult

__all__ = ["FitMetrics", "evaluate", "calibrate_prior"]


@dataclass
class FitMetrics:
    """How good a prior is, scored with the exact likelihood (DESIGN 2.4): what :func:`evaluate`
    returns and ``metrics.json`` holds (:meth:`to_dict`).

    Log-likelihoods are natural-log units (nats) of the exact window likelihoods (DESIGN 2.1),
    summed over windows. "Training" windows are the training and validation windows of the split
    (everything not held out).

    Attributes
    ----------
    model: str
        The prior family (:data:`deepwas.priors.PRIOR_FAMILIES`).
    objective: str or None
        The objective it was trained with (None when a bare prior was evaluated).
    n_params: int
        Trainable scalars of the prior.
    sigma: float
        The intercept the prior is scored with: exact ML on the training windows, prior fixed.
    sigma_trained: float or None
        The intercept at the end of training (the training objective's).
    h2: float
        Sum of the prior's SNPVAR over the store variants.
    h2_constant, sigma_constant: float
        The best constant prior of the training windows (the baseline).
    train_loglik: float
        Exact log-likelihood of the training windows (prior, ``sigma``).
    train_n_snps: int
        Scored variants of the training windows.
    best_epoch, stopped, engine, precision, float64_retries, shrinkage:
        From training (:class:`deepwas.fit.TrainResult`, :class:`deepwas.fit.TrainConfig`);
        None for a bare prior (``shrinkage``: also for a family that shrinks nothing).
    n_windows: dict
        ``{"train": ..., "val": ..., "test": ...}``.
    heldout_loglik, heldout_loglik_constant: float or None
        Exact log-likelihood of the held-out windows under the prior (with ``sigma``) and under
        the best constant prior of the training windows (with ``sigma_constant``); None without
        held-out windows.
    heldout_n_snps: int
        Scored variants of the held-out windows (0 without).
    truth_pearson, truth_spearman: float or None
        Pearson / Spearman correlation of learned and true log SNPVAR over the store variants
        with a finite positive truth (None for a prior that does not vary); only with a truth.
    h2_true, h2_rel_error: float or None
        True h2 over those variants, and learned h2 over them / true h2 - 1; only with a truth.
    warnings: list of str
    seconds: float
        Wall time: of the whole fit (:func:`deepwas.workflow.run_fit`), or of the evaluation.
    provenance: dict or None
    ld_model: str
        The model of the projected z-scores (:data:`deepwas.ld.trait.LD_MODELS`).
    h2_scale, h2_uncalibrated, sigma_diagonal, h2_constant_diagonal: float or None
        With ``ld_model="calibrated"`` (:func:`calibrate_prior`): the factor applied to the
        learned prior variances, ``h2`` before it, the diagonal model's sigma for the calibrated
        prior and the diagonal model's best constant prior h2, all on the training windows.
        Version, command line, input hashes, seed (set by ``run_fit``).
    heldout_windows: pandas.DataFrame or None
        (n_heldout_windows, 7): ``window``, ``CHR``, ``start``, ``stop``, ``n_scored``,
        ``loglik``, ``loglik_constant``; not written to ``metrics.json`` (the report draws it).
    truth_pairs: pandas.DataFrame or None
        (n, 2): ``log_snpvar_true``, ``log_snpvar_learned``; not written to ``metrics.json``.

    Notes
    -----
    The held-out gain is defined here and only here (:attr:`heldout_gain`):
    ``heldout_loglik - heldout_loglik_constant``, the log-likelihood ratio of the held-out
    z-scores, learned prior over best constant prior, in nats; per held-out variant it is
    divided by ``heldout_n_snps``. Per window likewise (:attr:`window_gains`).
    """

    model: str
    objective: str | None
    n_params: int
    sigma: float
    sigma_trained: float | None
    h2: float
    h2_constant: float
    sigma_constant: float
    train_loglik: float
    train_n_snps: int
    best_epoch: int | None
    stopped: str | None
    engine: str | None
    precision: str | None
    float64_retries: int | None
    n_windows: dict[str, int]
    heldout_loglik: float | None
    heldout_loglik_constant: float | None
    heldout_n_snps: int
    truth_pearson: float | None = None
    truth_spearman: float | None = None
    h2_true: float | None = None
    h2_rel_error: float | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    provenance: dict[str, Any] | None = None
    ld_model: str = "full"
    h2_scale: float | None = None
    h2_uncalibrated: float | None = None
    sigma_diagonal: float | None = None
    h2_constant_diagonal: float | None = None
    mismatch_excess_low: float | None = None
    mismatch_excess_high: float | None = None
    shrinkage: dict | None = None
    heldout_windows: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    mismatch_windows: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    truth_pairs: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def heldout_gain(self) -> float | None:
        """Held-out log-likelihood minus that of the best constant prior (nats); None without
        held-out windows."""
        if self.heldout_loglik is None or self.heldout_loglik_constant is None:
            return None
        return self.heldout_loglik - self.heldout_loglik_constant

    @property
    def heldout_gain_per_snp(self) -> float | None:
        """:attr:`heldout_gain` per held-out scored variant (nats)."""
        gain = self.heldout_gain
        return None if gain is None or not self.heldout_n_snps else gain / self.heldout_n_snps

    @property
    def heldout_gain_per_1000(self) -> float | None:
        """:attr:`heldout_gain` per 1,000 held-out scored variants (nats), as tables print it."""
        per_snp = self.heldout_gain_per_snp
        return None if per_snp is None else 1e3 * per_snp

    @property
    def window_gains(self) -> pd.DataFrame:
        """(n_heldout_windows, 6): ``window``, ``CHR``, ``start``, ``stop``, ``n_scored``,
        ``gain`` (the held-out gain of each window, nats); no rows without held-out windows."""
        cols = ["window", "CHR", "start", "stop", "n_scored"]
        if self.heldout_windows is None:
            return pd.DataFrame(columns=[*cols, "gain"])
        w = self.heldout_windows
        return w[cols].assign(gain=w["loglik"] - w["loglik_constant"])

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` record: every field but the two tables, plus ``heldout_gain``,
        ``heldout_gain_per_snp`` and ``heldout_gain_per_1000``; the truth keys only when a
        truth was given."""
        skip = {"heldout_windows", "truth_pairs", "mismatch_windows"}
        truth_keys = ("truth_pearson", "truth_spearman", "h2_true", "h2_rel_error")
        if self.h2_true is None:
            skip.update(truth_keys)
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        gains = {
            "heldout_gain": self.heldout_gain,
            "heldout_gain_per_snp": self.heldout_gain_per_snp,
            "heldout_gain_per_1000": self.heldout_gain_per_1000,
        }
        # the gains after the held-out values they come from, as in earlier metrics.json files
        keys = list(out)
        at = keys.index("heldout_n_snps") + 1
        ordered = {k: out[k] for k in keys[:at]} | gains | {k: out[k] for k in keys[at:]}
        return _json_ready(ordered)


def _json_ready(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with numpy scalars turned into Python numbers (for ``json.dumps``)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in d.items()}


def evaluate(data, prior, *, truth: np.ndarray | None = None) -> FitMetrics:
    """Score a prior with the exact likelihood on the held-out windows of a split (DESIGN 2.4).

    Parameters
    ----------
    data: deepwas.data.FitData
        The trait, the features of every store variant and the split (:func:`deepwas.prepare_fit`).
    prior: deepwas.priors.Prior or TrainResult
        The prior to score; a :class:`deepwas.fit.TrainResult` also fills the training fields of
        the metrics (``objective``, ``sigma_trained``, ``best_epoch``, ...). It is moved to the
        CPU.
    truth: (n_store_variants,) float64, optional
        True SNPVAR of every store variant (NaN where unknown; :func:`deepwas.data.truth_table`),
        for simulations: adds the correlations with the learned prior.

    Returns
    -------
    FitMetrics

    Notes
    -----
    Whatever objective the prior was trained with, its sigma is re-fitted by exact maximum
    likelihood on the training and validation windows with the prior fixed (an LDSC-trained
    sigma need not suit the likelihood), and the baseline is the best constant prior (and its
    sigma) of the same windows; the held-out windows are used for scoring only. Within a
    torch.distributed process group the calls are collective and every process gets the metrics.
    """
    from scipy import stats

    from deepwas.priors import Prior

    t0 = time.perf_counter()
    result = prior if isinstance(prior, TrainResult) else None
    model = result.prior if result is not None else prior
    if not isinstance(model, Prior):
        raise TypeError(f"prior must be a Prior or a TrainResult, got {type(prior).__name__}")
    log_s = model.predict(data.features, data.positions)
    # collective calls: the same order on every process
    train_trait, test_trait = data.subset(data.train + data.val), data.subset(data.test)
    sigma = refit_sigma(train_trait, log_s)
    const = fit_constant(train_trait)
    log_s_const = torch.full_like(log_s, math.log(const.snpvar))
    train_nll = window_nlls(train_trait, log_s, sigma)
    heldout = None
    if data.test:
        nll_model = window_nlls(test_trait, log_s, sigma)
        nll_const = window_nlls(test_trait, log_s_const, const.sigma)
        ws = test_trait.windows
        heldout = pd.DataFrame(
            {
                "window": [w.index for w in ws],
                "CHR": [w.chrom for w in ws],
                "start": [w.start for w in ws],
                "stop": [w.stop for w in ws],
                "n_scored": [w.n_scored for w in ws],
                "loglik": -nll_model,
                "loglik_constant": -nll_const,
            }
        )
    cfg = result.config if result is not None else None
    metrics = FitMetrics(
        model=model.config.model,
        objective=cfg.objective if cfg is not None else None,
        n_params=int(sum(p.numel() for p in model.parameters())),
        sigma=sigma,
        sigma_trained=result.sigma if result is not None else None,
        h2=float(torch.exp(log_s).sum()),
        h2_constant=const.h2,
        sigma_constant=const.sigma,
        train_loglik=-float(train_nll.sum()),
        train_n_snps=train_trait.n_scored,
        best_epoch=result.best_epoch if result is not None else None,
        stopped=result.stopped if result is not None else None,
        engine=cfg.engine if cfg is not None else None,
        precision=cfg.precision if cfg is not None else None,
        float64_retries=result.float64_retries if result is not None else None,
        shrinkage=getattr(result, "shrinkage", None),
        n_windows={"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        heldout_loglik=-float(nll_model.sum()) if data.test else None,
        heldout_loglik_constant=-float(nll_const.sum()) if data.test else None,
        heldout_n_snps=test_trait.n_scored if data.test else 0,
        heldout_windows=heldout,
    )
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        ll_all = log_s.numpy()
        if truth.shape != ll_all.shape:
            from deepwas.errors import InputError

            raise InputError(
                f"truth has shape {truth.shape}, expected one value per store variant "
                f"{ll_all.shape}",
                column="truth",
                fix="pass deepwas.data.truth_table(path, store.variants)",
            )
        ok = np.isfinite(truth) & (truth > 0)
        lt, ll = np.log(truth[ok]), ll_all[ok]
        # a constant prior has no correlation with anything: reported as None
        varies = ok.sum() > 2 and np.ptp(ll) > 0 and np.ptp(lt) > 0
        metrics.truth_pearson = float(stats.pearsonr(lt, ll)[0]) if varies else None
        metrics.truth_spearman = float(stats.spearmanr(lt, ll)[0]) if varies else None
        metrics.h2_true = float(truth[ok].sum())
        metrics.h2_rel_error = float(np.exp(ll).sum() / truth[ok].sum() - 1.0)
        metrics.truth_pairs = pd.DataFrame({"log_snpvar_true": lt, "log_snpvar_learned": ll})
    if sigma < 1e-3:
        metrics.warnings.append(
            f"sigma fell to {sigma:.2g}: the learned prior alone explains more variance than "
            "the z-scores have (often a model trained with the LDSC objective overestimating h2); "
            "its likelihood is at the boundary sigma -> 0"
        )
    metrics.ld_model = data.trait.ld_model
    if data.trait.ld_model == "full":
        # the signature of a reference panel that is not the GWAS's LD (docs/mismatch.md)
        metrics.warnings += _mismatch_warnings(
            metrics, train_trait, const.snpvar, const.sigma, "full"
        )
    metrics.seconds = time.perf_counter() - t0
    return metrics


def _mismatch_warnings(
    metrics: FitMetrics, trait, snpvar: float, sigma: float, ld_model: str
) -> list[str]:
    """The LD-mismatch diagnostics of the constant prior on the training windows
    (:func:`deepwas.diagnostics.window_diagnostics`): kept on ``metrics`` (the table for the
    report, its medians for metrics.json) and returned as warnings."""
    from deepwas.diagnostics import mismatch_warnings, window_diagnostics

    if _world()[0] != 0:  # only the first process reports (the diagnostics are not collective)
        return []
    table = window_diagnostics(trait, snpvar, sigma)
    metrics.mismatch_windows = table
    if len(table):
        metrics.mismatch_excess_low = float(np.nanmedian(table["excess_low"]))
        metrics.mismatch_excess_high = float(np.nanmedian(table["excess_high"]))
    return mismatch_warnings(table, ld_model=ld_model)


def calibrate_prior(data, prior, metrics: FitMetrics | None = None) -> tuple[float, float]:
    """Calibrate the total heritability of a prior learned under ``ld_model="calibrated"``.

    With a small reference panel the prior's *shape* is learned with the full model on the
    panel's leading eigen-directions, which under-estimates h2 (docs/mismatch.md); its *scale* and
    sigma are then fitted by the diagonal model on every direction of the training windows
    (:func:`deepwas.exact.fit_scale`), and the prior's output bias is shifted by log(scale), so
    that it, its predictions and the saved model are calibrated.

    Parameters
    ----------
    data: deepwas.data.FitData
        The fit's data (features of every store variant; training and validation windows); its
        trait projected with ``ld_model="calibrated"``, whose ``calibration`` is the diagonal
        view on every direction.
    prior: deepwas.priors.Prior
        The learned prior (changed in place).
    metrics: FitMetrics, optional
        Updated in place: ``h2`` (and ``h2_rel_error``) rescaled, ``h2_scale``,
        ``h2_uncalibrated``, ``sigma_diagonal``, ``h2_constant_diagonal``.

    Returns
    -------
    (scale, sigma_diagonal)
    """
    from deepwas.ld.trait import TraitData

    diagonal_trait = data.trait.calibration
    if diagonal_trait is None:
        raise ValueError("calibrate_prior needs a trait projected with ld_model='calibrated'")
    keep = {data.trait.windows[i].index for i in (*data.train, *data.val)}
    windows = [w for w in diagonal_trait.windows if w.index in keep]
    train = TraitData(
        windows=windows,
        z=diagonal_trait.z,
        n_gwas=diagonal_trait.n_gwas,
        n_variants=diagonal_trait.n_variants,
        ld_model=diagonal_trait.ld_model,
    )
    log_s = prior.predict(data.features, data.positions)
    const = fit_constant(train)
    # start the scale where the prior's h2 matches the constant prior's: a shape whose h2
    # collapsed in stage 1 (the full model on the leading directions can give h2 ~ 0) would
    # otherwise leave the scale at 1, with no gradient
    prior_h2 = float(torch.exp(log_s.detach()).sum())
    ratio = const.h2 / prior_h2 if prior_h2 > 0 else 1.0
    init = ratio if math.isfinite(ratio) and ratio > 0 else 1.0
    scale, sigma_d, _ = fit_scale(train, log_s, init_scale=init)
    with torch.no_grad():
        prior.bias.add_(math.log(scale))
    if metrics is not None:
        metrics.h2_uncalibrated = metrics.h2
        metrics.h2 = metrics.h2 * scale
        if metrics.h2_rel_error is not None:
            metrics.h2_rel_error = (1.0 + metrics.h2_rel_error) * scale - 1.0
        metrics.h2_scale = scale
        metrics.sigma_diagonal = sigma_d
        metrics.h2_constant_diagonal = const.h2
        metrics.warnings += _mismatch_warnings(
            metrics, train, const.snpvar, const.sigma, "diagonal"
        )
        if not 0.01 < scale < 100:
            metrics.warnings.append(
                f"the prior's scale moved by a factor {scale:.3g} in calibration: the full model "
                f"on the panel's leading LD directions gave h2 = {metrics.h2_uncalibrated:.3g} "
                f"against {const.h2:.3g} for the diagonal model, so the prior's shape was learned "
                "from a likelihood that barely sees the signal and may be uninformative; "
                "compare its held-out gain with the constant prior's (docs/mismatch.md)"
            )
        metrics.ld_model = "calibrated"
    return scale, sigma_d
