"""Training annotation-dependent priors (constant, linear, MLP) with AdamW on mini-batches of
windows under the exact likelihood (DESIGN 2.1) or the LDSC objective (DESIGN 2.3), with
validation windows for early stopping, checkpoints and exact resume.

Every model starts at the best constant prior of the training windows
(:func:`deepwas.exact.fit_constant`); a trained prior is scored by :func:`deepwas.metrics.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from deepwas._distributed import _allreduce_, _collective_value_and_grad, _share, _world
from deepwas._validation import Boolean, Check, Interval, Options, validate
from deepwas.errors import InputError, NumericalError
from deepwas.exact import fit_constant
from deepwas.linalg.batch import PackedBatches, batch_cost, iterate_batches
from deepwas.linalg.iterative import Preconditioner, choose_engine, iterative_nll
from deepwas.linalg.likelihood import diagonal_nll, exact_nll, ldsc_loss
from deepwas.priors import MODELS, PRIOR_FAMILIES

__all__ = [
    "OBJECTIVES",
    "TrainConfig",
    "TrainResult",
    "train_prior",
    "objective_gradient",
]


def _device_available(device: object) -> bool:
    return device == "cpu" or (
        isinstance(device, str) and device.startswith("cuda") and torch.cuda.is_available()
    )


#: The training objectives, by name: what ``TrainConfig.objective`` and ``deepwas fit
#: --objective`` accept, and what the demo and the benchmarks iterate over.
OBJECTIVES: Mapping[str, str] = MappingProxyType(
    {
        "likelihood": "exact marginal likelihood of the scored z-scores under LD (DESIGN 2.1)",
        "ldsc": "LD-score-regression loss on the same windows (DESIGN 2.3)",
    }
)

#: families trained in two stages, the linear prior first (:func:`_train_linear_then_network`)
TWO_STAGE = ("linear_mlp", "linear_ssm", "kernel_linear")
_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
# TrainConfig's constraint table (deepwas._validation); the CLI flag is --NAME, except sigma
_TRAIN_CONSTRAINTS = {
    "model": Options(MODELS),
    "objective": Options(tuple(OBJECTIVES)),
    "width": _POSITIVE_INT,
    "depth": _POSITIVE_INT,
    "lr": Interval(Real, 0, None, closed="neither"),
    "weight_decay": Interval(Real, 0, None, closed="left"),
    "epochs": _POSITIVE_INT,
    "batch_windows": _POSITIVE_INT,
    "patience": _POSITIVE_INT,
    "learn_sigma": Boolean(),
    "sigma": [Interval(Real, 0, None, closed="neither"), None],
    "seed": Interval(Integral, 0, None, closed="left"),  # numpy's default_rng needs >= 0
    "device": Check(_device_available, "cpu, or cuda[:N] on a machine with a GPU"),
    "engine": Options(("auto", "exact", "iterative")),
    "precision": Options(("float64", "float32")),
    "ssm_window_kb": Interval(Real, 0, None, closed="neither"),
    "fasta": Check(lambda v: v is None or isinstance(v, str), "a path to a reference FASTA"),
}


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train_prior` (the same names as the CLI flags of ``deepwas fit``).

    Attributes
    ----------
    model: a registered prior family (:data:`deepwas.priors.PRIOR_FAMILIES`: "constant",
        "linear", "mlp")
    objective: a registered objective (:data:`OBJECTIVES`): "likelihood" (exact, DESIGN 2.1) |
        "ldsc" (DESIGN 2.3)
    width, depth: the MLP's hidden width and number of residual blocks
    lr, weight_decay: AdamW settings
    epochs: maximum number of passes over the training windows
    batch_windows: windows per optimiser step
    patience: epochs without a better validation objective before stopping
    learn_sigma: learn the intercept sigma (else it stays at ``sigma``)
    sigma: initial (or fixed) sigma; None starts from the best constant prior's
    seed: seeds the initialisation and the order of windows
    device: "cpu" or a CUDA device ("cuda", "cuda:1"): the same code runs on either
    engine: "exact", "iterative" (DESIGN 2.2: PCG + Hutchinson gradient for the training steps)
        or "auto" (the cheaper by :func:`deepwas.linalg.iterative.choose_engine`, per window).
        Values (validation, evaluation) always come from the exact engine.
    precision: "float64" or "float32": the precision of the exact engine's *training steps*
        (gradients; measured to 1e-6 relative by benchmarks/precision.py). Validation and
        evaluation values are always float64; a window whose covariance is not positive definite
        in float32 is redone in float64 (counted in ``TrainResult.float64_retries``).
    ssm_window_kb: the receptive field of the ``ssm`` prior, kb each side (its ``window_kb``)
    fasta: a reference FASTA (or 2bit) of the store's genome build: the prior gets a DNA branch
        (:mod:`deepwas.sequence`, the encoder of ``ENCODER_DEFAULTS``); None (default): none
    """

    model: str = "linear"
    objective: str = "likelihood"
    width: int = 64
    depth: int = 4
    lr: float = 0.01
    weight_decay: float = 1e-4
    epochs: int = 60
    batch_windows: int = 4
    patience: int = 8
    learn_sigma: bool = True
    sigma: float | None = None
    seed: int = 1
    device: str = "cpu"
    engine: str = "auto"
    precision: str = "float64"
    ssm_window_kb: float = 100.0
    fasta: str | None = None

    def __post_init__(self) -> None:
        validate(
            self.__dict__,
            _TRAIN_CONSTRAINTS,
            where="TrainConfig",
            flags={"sigma": "--fixed-sigma", "learn_sigma": "--fixed-sigma"},
        )
        if self.fasta is not None and self.model == "constant":
            raise InputError(
                "the constant prior reads no inputs, so no DNA either",
                column="--fasta",
                fix="use --model linear, mlp, linear_mlp, ssm, linear_ssm or kernel_linear",
            )


@dataclass
class TrainResult:
    """What :func:`train_prior` returns.

    Attributes
    ----------
    prior: deepwas.priors.Prior
        The trained prior at its best epoch (on ``config.device``).
    sigma: float
        The trained intercept at the best epoch (the training objective's;
        :func:`deepwas.metrics.evaluate` re-fits sigma by exact maximum likelihood).
    history: list of dict, (n_epochs,)
        Per epoch: ``epoch``, ``train_objective``, ``val_objective`` (NaN without validation
        windows), ``sigma``.
    best_epoch: int
        1-based epoch whose parameters were kept (best validation objective).
    stopped: str
        ``"max epochs"`` or ``"early stopping after E epochs"``.
    float64_retries: int
        float32 training steps redone in float64 (``precision="float32"``).
    config: TrainConfig or None
        The settings it was trained with.
    shrinkage: dict or None
        For a family that shrinks a block of weights: the empirical-Bayes precision and the
        effective number of weights (:meth:`deepwas.evidence.Shrinkage.as_dict`).
    """

    prior: torch.nn.Module
    sigma: float
    history: list[dict]
    best_epoch: int
    stopped: str
    float64_retries: int = 0
    config: TrainConfig | None = None
    shrinkage: dict | None = None


def _objective_value(model, log_sigma, data, positions, batches, ldsc, cfg, n_gwas) -> torch.Tensor:
    """This process's share of the training objective over the windows at ``positions``.

    likelihood: sum of window NLLs / number of scored variants; ldsc: mean LDSC loss. With a
    torch.distributed process group of W processes, each evaluates its share of the positions
    (balanced by the kernels' cost model: ``deepwas._distributed._share``) and divides by the
    count over *all* positions, so that the sum over processes (of the value and of its
    gradient) is the objective of the whole mini-batch: data parallelism over windows.
    """
    rank, world = _world()
    feats, pos = data["features"], data.get("positions")
    device = feats.device
    sigma = torch.exp(log_sigma)
    if cfg.objective == "likelihood":
        n = sum(int(data["n_scored"][i]) for i in positions)
    else:
        n = sum(int(ldsc[i].R2.shape[1]) for i in positions)
    total = torch.zeros((), dtype=torch.float64, device=device)
    mine = _share(positions, lambda k: batch_cost(batches, k), world, rank)
    for i, b in iterate_batches(batches, mine):
        b = b.to(device)
        idx = b.context_index[0]
        log_F = model(feats[idx], None if pos is None else pos[idx]).unsqueeze(0)
        log_F = log_F + math.log(n_gwas)
        if cfg.objective == "likelihood" and b.diagonal:
            # the small-panel model: 2 |C| r flops, no solve (docs/mismatch.md)
            nll = diagonal_nll(b.Gt, b.y, log_F, sigma, valid=b.valid, const=b.const)
            total = total + nll.sum()
        elif cfg.objective == "likelihood":
            engine = choose_engine(b.Gt.shape[2], b.Gt.shape[1], engine=cfg.engine)
            if engine == "iterative" and torch.is_grad_enabled():
                # a training step needs the gradient only: PCG + Hutchinson, no log-det value
                pre = data.setdefault("preconditioners", {})
                if i not in pre:
                    pre[i] = Preconditioner(b.Gt)
                nll, _ = iterative_nll(
                    b.Gt, b.y, log_F, sigma, preconditioner=pre[i], with_value=False
                )
                total = total + nll.sum()
            else:
                low = cfg.precision == "float32" and torch.is_grad_enabled()
                total = total + _exact_step(b, log_F, sigma, low, data).sum()
        else:
            lw = ldsc[i]
            total = total + lw.R2.shape[1] * ldsc_loss(lw.R2, lw.r_diag, lw.chi2, log_F, sigma)
    return total / max(n, 1)


def _exact_step(b, log_F, sigma, low_precision: bool, data: dict) -> torch.Tensor:
    """Exact NLL of one packed batch, in float32 when ``low_precision`` (a training step), in
    float64 otherwise or when the float32 covariance is not positive definite."""
    if low_precision:
        try:
            return exact_nll(
                b.Gt.to(torch.float32), b.y, log_F, sigma, valid=b.valid, const=b.const
            )
        except NumericalError:
            data["float64_retries"] = data.get("float64_retries", 0) + 1
    return exact_nll(b.Gt, b.y, log_F, sigma, valid=b.valid, const=b.const)


def objective_gradient(model, log_sigma, fit_data, positions, cfg, *, store=None):
    """The training objective over ``positions`` and its gradient in the model's parameters and
    log sigma, summed over the torch.distributed process group when there is one.

    Returns (value, [gradients]) with the gradients in the order of ``model.parameters()`` then
    log sigma. A single process and W processes give the same numbers (up to the order of
    floating-point sums).
    """
    return gradient_function(model, log_sigma, fit_data, positions, cfg, store=store)()


def gradient_function(model, log_sigma, fit_data, positions, cfg, *, store=None):
    """:func:`objective_gradient` as a function of no arguments, for the parameters' values at
    each call: the windows are packed once for many calls (:func:`deepwas.evidence.hessian`)."""
    data = {
        "features": torch.from_numpy(np.ascontiguousarray(fit_data.features)),
        "n_scored": [w.n_scored for w in fit_data.trait.windows],
        "positions": _positions(fit_data, "cpu"),
    }
    batches = PackedBatches(fit_data.trait.windows)
    ldsc = None
    if cfg.objective == "ldsc":
        from deepwas.data import ldsc_windows

        ldsc = [_LdscTensors(lw) for lw in ldsc_windows(store, fit_data.trait)]
    params = [*model.parameters(), log_sigma]

    def value_and_gradient():
        for p in params:
            p.grad = None
        value = _objective_value(
            model, log_sigma, data, positions, batches, ldsc, cfg, fit_data.trait.n_gwas
        )
        total = _collective_value_and_grad(value, params)
        return float(total), [p.grad for p in params]

    return value_and_gradient


def train_prior(
    fit_data,
    cfg: TrainConfig,
    *,
    store=None,
    checkpoint: str | None = None,
    resume: bool = False,
    progress: bool = True,
    init=None,
    init_sigma: float | None = None,
    start_is_candidate: bool = False,
    schedule: list[int] | None = None,
    shrinkage_precision: float | None = None,
) -> TrainResult:
    """Train a prior on ``fit_data.train`` windows, early-stopping on ``fit_data.val``; a constant
    or linear prior (:func:`stops_early` False) trains on both for every epoch.

    Parameters
    ----------
    fit_data: deepwas.data.FitData
        The trait, features and split (:func:`deepwas.prepare_fit`).
    cfg: TrainConfig
    store: the LD store, for the LDSC objective's squared LD (default ``fit_data.store``)
    checkpoint: file written after every epoch (atomically); with ``resume`` training continues
        from it and ends exactly where an uninterrupted run would.
    progress: show a progress bar.
    init: deepwas.priors.Prior, optional
        Warm start: training starts from a copy of this prior (its family, feature
        standardisation and weights; ``cfg.model``, ``width`` and ``depth`` are ignored) instead of
        the best constant prior. ``init`` itself is not changed. Used by the jackknife of
        :func:`deepwas.enrich.enrichment` (refits with a block of windows left out).
    init_sigma: the starting intercept with ``init`` (default ``cfg.sigma``, else the best constant
        prior's)
    start_is_candidate: the starting point competes with the epochs for the best validation
        objective (epoch 0), so that training keeps it when no epoch improves on it
    schedule: the windows whose seeded permutation forms each epoch's mini-batches (default
        ``fit_data.train``). Windows of the schedule that are not training windows are left out
        of their mini-batch (a mini-batch left empty is skipped), so that training on
        ``fit_data.train`` minus some windows with ``schedule`` = all of them takes the same steps
        on the same remaining windows: the jackknife's delete-one reruns
        (:func:`deepwas.enrich.jackknife_refits`, ``"scratch"``) then differ from the fit by the
        deleted data, not by a reshuffled optimisation.
    shrinkage_precision: for a family that shrinks a block of weights (``PriorFamily.shrinkage``)
        trained from scratch, the precision of their Gaussian prior; None (default): set by
        empirical Bayes (:func:`_train_shrunk`), or 0 with a DNA branch. With ``init``, the
        precision is init's.

    Returns
    -------
    TrainResult
        Score it with :func:`deepwas.metrics.evaluate`.

    Notes
    -----
    Every model starts at the best constant prior of the training windows (its output bias, and
    sigma), so training only has to learn departures from it. The order of windows in epoch e is a
    permutation drawn from ``numpy.random.default_rng([seed, e])``, so a resumed run replays it.

    ``linear_mlp`` and ``linear_ssm`` train in two stages (:func:`_train_linear_then_network`): the
    linear prior (this function with ``model="linear"``), then the whole network from it, its
    MLP (or SSM) output starting at zero, with the linear prior as epoch 0 of the second stage:
    on the validation windows the result is never worse than the linear prior.
    """
    if init is None and cfg.model in TWO_STAGE:
        return _train_linear_then_network(
            fit_data, cfg, store=store, checkpoint=checkpoint, resume=resume, progress=progress
        )
    shrinks = PRIOR_FAMILIES[cfg.model if init is None else init.config.model].shrinkage
    # with a DNA branch the prior is a network (early stopping); its channels are not shrunk
    if init is None and shrinks and shrinkage_precision is None and cfg.fasta is None:
        return _train_shrunk(
            fit_data, cfg, store=store, checkpoint=checkpoint, resume=resume, progress=progress
        )
    if init is None:
        stops = stops_early(cfg.model, dna=cfg.fasta is not None)
    else:
        stops = stops_early(init.config.model, dna=init.config.sequence is not None)
    if fit_data.val and not stops:
        # a prior of a few parameters trains on the validation windows too, without early stopping
        fit_data = replace(fit_data, train=_trains_on(fit_data, stops), val=[])
        if schedule is not None:
            schedule = sorted({*schedule, *fit_data.train})
    from tqdm.auto import tqdm

    from deepwas._files import atomic_file
    from deepwas.data import ldsc_windows
    from deepwas.errors import NumericalError
    from deepwas.evidence import penalty
    from deepwas.features import fit_standardization
    from deepwas.priors import PriorConfig, build_prior

    trait = fit_data.trait
    store = getattr(fit_data, "store", None) if store is None else store
    train_trait = fit_data.subset(fit_data.train)
    if init is not None:
        model = build_prior(init.config, seed=cfg.seed)
        model.load_state_dict(init.state_dict())
        model = model.to(cfg.device)
        sigma0 = init_sigma if init_sigma is not None else cfg.sigma
        if sigma0 is None:
            sigma0 = fit_constant(train_trait).sigma
    else:
        const = fit_constant(train_trait)
        mean, scale = fit_standardization(fit_data.features, fit_data.feature_names)
        pcfg = PriorConfig(
            model=cfg.model,
            feature_names=tuple(fit_data.feature_names),
            feature_mean=tuple(float(x) for x in mean),
            feature_scale=tuple(float(x) for x in scale),
            width=cfg.width,
            depth=cfg.depth,
            init_log_snpvar=math.log(const.snpvar),
            window_kb=cfg.ssm_window_kb,
            sequence=_sequence_spec(cfg),
        )
        model = build_prior(pcfg, seed=cfg.seed)
        if model.family.calibrate is not None:
            model.family.calibrate(model, fit_data.features, fit_data.positions)
        if shrinks:
            model.shrinkage_precision.fill_(shrinkage_precision or 0.0)
        model = model.to(cfg.device)
        sigma0 = const.sigma if cfg.sigma is None else cfg.sigma
    log_sigma = torch.tensor(
        math.log(sigma0), dtype=torch.float64, device=cfg.device, requires_grad=cfg.learn_sigma
    )
    params = list(model.parameters()) + ([log_sigma] if cfg.learn_sigma else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    batches = PackedBatches(trait.windows)  # one window per batch, streamed beyond 2 GiB
    data = {
        "features": torch.from_numpy(np.ascontiguousarray(fit_data.features)).to(cfg.device),
        "n_scored": [w.n_scored for w in trait.windows],
        "positions": _positions(fit_data, cfg.device),
    }
    ldsc = None
    if cfg.objective == "ldsc":
        if store is None:
            raise ValueError("the LDSC objective needs the LD store")
        ldsc = [_LdscTensors(lw, cfg.device) for lw in ldsc_windows(store, trait)]

    def objective(positions):
        return _objective_value(model, log_sigma, data, positions, batches, ldsc, cfg, trait.n_gwas)

    # a shrunk block's Gaussian prior, in the objective's units (per scored training variant),
    # added once to the sum over processes
    n_train = sum(int(trait.windows[i].n_scored) for i in fit_data.train)
    shrink = shrinks and cfg.objective == "likelihood"

    def penalty_term() -> torch.Tensor | float:
        return penalty(model) / max(n_train, 1) if shrink and _world()[0] == 0 else 0.0

    history: list[dict] = []
    start_epoch, best_val, best_epoch, bad = 0, math.inf, 0, 0
    best_state = None
    if resume and checkpoint and Path(checkpoint).exists():
        ck = _load_checkpoint(checkpoint)
        try:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            with torch.no_grad():
                log_sigma.copy_(ck["log_sigma"])
            start_epoch, best_val, best_epoch, bad = (
                ck["epoch"],
                ck["best_val"],
                ck["best_epoch"],
                ck["bad"],
            )
            best_state, history = ck["best_state"], ck["history"]
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            # another model, optimiser or version of deepwas wrote it
            raise _checkpoint_error(
                checkpoint, f"does not fit this model and settings ({type(exc).__name__})"
            ) from None

    if start_is_candidate and not (resume and checkpoint and Path(checkpoint).exists()):
        with torch.no_grad():
            start = objective(fit_data.val if fit_data.val else fit_data.train)
            sums = torch.stack([start])
            _allreduce_([sums])
        best_val = float(sums[0])
        best_state = {
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "log_sigma": log_sigma.detach().clone(),
        }
    stopped = "max epochs"
    bar = tqdm(
        range(start_epoch, cfg.epochs),
        desc=f"training {cfg.model}/{cfg.objective}",
        disable=not progress,
        initial=start_epoch,
        total=cfg.epochs,
    )
    training = set(fit_data.train)
    for epoch in bar:
        order = np.random.default_rng([cfg.seed, epoch]).permutation(
            fit_data.train if schedule is None else schedule
        )
        for k in range(0, len(order), cfg.batch_windows):
            batch = [int(w) for w in order[k : k + cfg.batch_windows] if w in training]
            if not batch:
                continue
            opt.zero_grad()
            try:
                loss = objective(batch) + penalty_term()
            except NumericalError as exc:  # e.g. a non-finite prior variance broke the Cholesky
                raise NumericalError(
                    f"training diverged at epoch {epoch + 1}: {exc.message}",
                    fix="lower --lr or use a smaller model",
                ) from None
            # data parallelism: each process holds its share (possibly none of a short last
            # mini-batch); the sums are the mini-batch's
            loss_sum = _collective_value_and_grad(loss, params)
            if not torch.isfinite(loss_sum):
                raise NumericalError(
                    f"training diverged at epoch {epoch + 1} "
                    f"(non-finite {cfg.objective} objective)",
                    fix="lower --lr or use a smaller model",
                )
            opt.step()
        # the epoch's objectives over all training and validation windows at the end of the epoch
        # (the mean of the step losses would mix parameters and window orders)
        with torch.no_grad():
            sums = torch.stack(
                [
                    objective(fit_data.val)
                    if fit_data.val
                    else torch.zeros((), dtype=torch.float64),
                    objective(fit_data.train),
                ]
            )
            _allreduce_([sums])
            val = float(sums[0]) if fit_data.val else math.nan
            train_obj = float(sums[1]) + (float(penalty(model)) / max(n_train, 1) if shrink else 0)
        history.append(
            {
                "epoch": epoch + 1,
                "train_objective": train_obj,
                "val_objective": val,
                "sigma": float(torch.exp(log_sigma.detach())),
            }
        )
        bar.set_postfix(train=f"{train_obj:.4f}", val=f"{val:.4f}")
        score = val if fit_data.val else train_obj
        if score < best_val - 1e-9:
            best_val, best_epoch, bad = score, epoch + 1, 0
            best_state = {
                "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "log_sigma": log_sigma.detach().clone(),
            }
        else:
            bad += 1
        if checkpoint and _world()[0] == 0:
            with atomic_file(checkpoint) as tmp:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "log_sigma": log_sigma.detach(),
                        "epoch": epoch + 1,
                        "best_val": best_val,
                        "best_epoch": best_epoch,
                        "bad": bad,
                        "best_state": best_state,
                        "history": history,
                    },
                    tmp,
                )
        if bad >= cfg.patience:
            stopped = f"early stopping after {epoch + 1} epochs"
            break
    if best_state is not None:
        model.load_state_dict(best_state["model"])
        with torch.no_grad():
            log_sigma.copy_(best_state["log_sigma"])
    return TrainResult(
        prior=model,
        sigma=float(torch.exp(log_sigma.detach())),
        history=history,
        best_epoch=best_epoch,
        stopped=stopped,
        float64_retries=int(data.get("float64_retries", 0)),
        config=cfg,
    )


def stops_early(model: str, *, dna: bool = False) -> bool:
    """Whether :func:`train_prior` stops a prior of family ``model`` (with a DNA branch when
    ``dna``) early on the validation windows. A network does; a family of a few parameters
    (``PriorFamily.early_stopping`` False: constant, linear, neighbourhood_linear) without a
    DNA branch trains on the training and validation windows together for all its epochs and
    keeps the epoch with the best training objective (docs/decisions.md, "Few-parameter priors
    do not stop early")."""
    return PRIOR_FAMILIES[model].early_stopping or dna


def _trains_on(fit_data, stops: bool) -> list[int]:
    """The windows a prior trains on: the training windows, and the validation windows too for
    a prior that does not stop early (:func:`stops_early`)."""
    if fit_data.val and not stops:
        return sorted({*fit_data.train, *fit_data.val})
    return list(fit_data.train)


def _train_linear_then_network(fit_data, cfg: TrainConfig, **kwargs) -> TrainResult:
    """Train a ``linear_mlp``, ``linear_ssm`` or ``kernel_linear`` prior: the linear prior first
    (``cfg`` with ``model="linear"``, no checkpoint, without early stopping, on the training
    windows alone), then the family from it (its linear term,
    ``linear`` or ``kernel_linear``'s own-feature ``weight``, = the linear weights, the same
    output bias and sigma, the rest's output weights 0: the same prior), with the linear prior
    as the second stage's epoch 0. The history runs on across the stages (a ``stage`` column);
    ``best_epoch`` counts from the first stage's first epoch."""
    from deepwas.priors import build_prior

    checkpoint, resume = kwargs.pop("checkpoint", None), kwargs.pop("resume", False)
    # the linear stage trains on the training windows only (no early stopping): the validation
    # windows stay unseen for the second stage's early stopping, so that the network's departure
    # from the linear prior is judged on data neither stage fitted
    lin = train_prior(replace(fit_data, val=[]), replace(cfg, model="linear", fasta=None), **kwargs)
    lin_prior = lin.prior.to("cpu")
    pcfg = replace(
        lin_prior.config,
        model=cfg.model,
        width=cfg.width,
        depth=cfg.depth,
        window_kb=cfg.ssm_window_kb,
        sequence=_sequence_spec(cfg),
    )
    start = build_prior(pcfg, seed=cfg.seed)
    own = start.linear if hasattr(start, "linear") else start.weight  # kernel_linear: weight
    with torch.no_grad():
        start.bias.copy_(lin_prior.bias)
        own[: lin_prior.weight.numel()].copy_(lin_prior.weight)
    res = train_prior(
        fit_data,
        cfg,
        checkpoint=checkpoint,
        resume=resume,
        init=start,
        init_sigma=lin.sigma,
        start_is_candidate=True,
        **kwargs,
    )
    n1 = len(lin.history)
    history = [{**h, "stage": "linear"} for h in lin.history] + [
        {**h, "epoch": h["epoch"] + n1, "stage": cfg.model} for h in res.history
    ]
    best = lin.best_epoch if res.best_epoch == 0 else n1 + res.best_epoch
    return replace(
        res,
        history=history,
        best_epoch=best,
        stopped=f"linear: {lin.stopped}; {cfg.model}: {res.stopped}",
        float64_retries=lin.float64_retries + res.float64_retries,
    )


def _train_shrunk(fit_data, cfg: TrainConfig, **kwargs) -> TrainResult:
    """Train a family that shrinks a block of weights (``neighbourhood_linear``'s channels) by
    empirical Bayes (:mod:`deepwas.evidence`): without the penalty first (no checkpoint), then
    the precision of the block's Gaussian prior from the Laplace evidence at that fit, then
    afresh with it. The history runs on across the two stages (a ``stage`` column);
    ``best_epoch`` counts from the first stage's first epoch; ``shrinkage`` has the precision."""
    from deepwas.evidence import fit_precision

    checkpoint, resume = kwargs.pop("checkpoint", None), kwargs.pop("resume", False)
    first = train_prior(fit_data, cfg, shrinkage_precision=0.0, **kwargs)
    if cfg.objective != "likelihood":  # the evidence of the likelihood only
        return first
    windows = _trains_on(fit_data, stops_early(cfg.model))  # what the first stage trained on
    prior = first.prior.to("cpu")
    log_sigma = torch.tensor(math.log(first.sigma), dtype=torch.float64, requires_grad=True)
    shrunk = fit_precision(
        prior, log_sigma, fit_data, windows, cfg, progress=kwargs.get("progress", True)
    )
    res = train_prior(
        fit_data,
        cfg,
        checkpoint=checkpoint,
        resume=resume,
        shrinkage_precision=shrunk.precision,
        **kwargs,
    )
    n1 = len(first.history)
    history = [{**h, "stage": "unshrunk"} for h in first.history] + [
        {**h, "epoch": h["epoch"] + n1, "stage": "shrunk"} for h in res.history
    ]
    return replace(
        res,
        history=history,
        best_epoch=n1 + res.best_epoch,
        stopped=f"unshrunk: {first.stopped}; shrunk: {res.stopped}",
        float64_retries=first.float64_retries + res.float64_retries,
        shrinkage=shrunk.as_dict(),
    )


def _sequence_spec(cfg: TrainConfig) -> dict | None:
    """The prior's DNA branch (``PriorConfig.sequence``) asked for by ``cfg``, or None."""
    if cfg.fasta is None:
        return None
    return {"fasta": str(Path(cfg.fasta).resolve())}


def _positions(fit_data, device) -> torch.Tensor | None:
    """The store variants' (CHR, BP), and the packed bases for a DNA branch, as a tensor: the
    ``positions`` of priors that read them (:func:`deepwas.data.prior_positions`)."""
    pos = getattr(fit_data, "positions", None)
    return None if pos is None else torch.from_numpy(np.asarray(pos, np.float64)).to(device)


def _checkpoint_error(path, what: str) -> InputError:
    return InputError(
        f"training checkpoint {what}",
        file=path,
        fix="delete it, or run without --resume to start afresh",
    )


def _load_checkpoint(path) -> dict:
    """The dict saved by :func:`train_prior`; a corrupt or foreign file is an :class:`InputError`.

    ``weights_only=False``: the checkpoint holds the optimiser state and history, and it is a file
    that deepwas itself wrote beside the output.
    """
    import pickle
    import zipfile

    try:
        ck = torch.load(path, weights_only=False, map_location="cpu")
    except OSError as exc:
        raise _checkpoint_error(path, f"cannot be read ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, ValueError):
        raise _checkpoint_error(path, "is corrupt or truncated") from None
    if not isinstance(ck, dict):
        raise _checkpoint_error(path, "is not a deepwas checkpoint")
    return ck


class _LdscTensors:
    """One window's LDSC arrays as (1, ...) tensors."""

    def __init__(self, lw, device: str = "cpu") -> None:
        self.R2 = torch.from_numpy(lw.R2).unsqueeze(0).to(device)
        self.r_diag = torch.from_numpy(lw.r_diag).unsqueeze(0).to(device)
        self.chi2 = torch.from_numpy(lw.chi2).unsqueeze(0).to(device)
