"""Fitting priors: the best constant prior by exact maximum likelihood, and the training of
annotation-dependent priors (constant, linear, MLP) with AdamW on mini-batches of windows under
the exact likelihood (DESIGN 2.1) or the LDSC objective (DESIGN 2.3), with validation windows for
early stopping, checkpoints and exact resume.

The best constant prior is what every learned prior is compared against (DESIGN 2.4), and on its
own it is an exact-likelihood estimate of the SNP heritability and of the intercept sigma.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepwas._validation import Boolean, Check, Interval, Options, validate
from deepwas.errors import InputError, NumericalError
from deepwas.linalg.batch import PackedBatches, batched_nll, group_by_size, pack_windows
from deepwas.linalg.iterative import Preconditioner, choose_engine, iterative_nll
from deepwas.linalg.likelihood import diagonal_nll, exact_nll, ldsc_loss
from deepwas.priors import MODELS

__all__ = [
    "ConstantFit",
    "fit_constant",
    "total_nll",
    "OBJECTIVES",
    "TrainConfig",
    "TrainResult",
    "train_prior",
    "FitMetrics",
    "evaluate",
    "window_nlls",
    "refit_sigma",
    "objective_gradient",
]


def _world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group, or (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _allreduce_(tensors) -> None:
    """Sum tensors in place over the process group (nothing without one), in one collective call
    on a flat float64 buffer."""
    import torch.distributed as dist

    if _world()[1] > 1:
        tensors = list(tensors)
        flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
        dist.all_reduce(flat)
        k = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[k : k + n].reshape(t.shape))
            k += n


@dataclass
class ConstantFit:
    """The maximum-likelihood constant prior.

    Attributes
    ----------
    snpvar: float
        Per-SNP heritability s (the same for every store variant).
    h2: float
        s times the number of store variants.
    sigma: float
    nll: float
        Total NLL over the windows at the optimum (natural log units).
    n_iter: int
    """

    snpvar: float
    h2: float
    sigma: float
    nll: float
    n_iter: int

    def loglik_per_snp(self, n_scored: int) -> float:
        return -self.nll / n_scored


def total_nll(
    trait, log_s: torch.Tensor, sigma: torch.Tensor | float, *, batches=None
) -> torch.Tensor:
    """Sum of the exact window NLLs of a trait for per-variant log SNPVAR ``log_s``.

    Parameters
    ----------
    trait: deepwas.ld.trait.TraitData
    log_s: (n_variants,) float64
        log per-SNP heritability of every store variant, differentiable.
    sigma:
        The intercept, differentiable.
    batches: list of PackedBatch, optional
        Pre-packed batches (pack once when evaluating repeatedly).

    Notes
    -----
    Within a torch.distributed process group, process k sums batches k, k + W, ... only (its
    share); :func:`_collective_value_and_grad` adds the shares up.
    """
    if batches is None:
        batches = PackedBatches(trait.windows, group_by_size(trait.windows))
    rank, world = _world()
    log_F = log_s + math.log(trait.n_gwas)
    total = torch.zeros((), dtype=torch.float64, device=log_s.device)
    for k in range(rank, len(batches), world):
        total = total + batched_nll(batches[k], log_F, sigma).sum()
    return total


def _collective_value_and_grad(value: torch.Tensor, params) -> torch.Tensor:
    """Back-propagate this process's share of a sum and add the shares (value and gradients of
    ``params``) over the process group; returns the detached total."""
    if value.requires_grad:
        value.backward()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    out = value.detach().reshape(1).clone()
    _allreduce_([out, *(p.grad for p in params)])
    return out[0]


class _Spectra:
    """Per-window spectra that make the exact NLL of a one-parameter family of priors O(r).

    For the windows of this process's share, with K = G^T diag(w) G = V diag(d) V^T (real rank
    dimensions only; in the diagonal model of a small panel d = diag(K) and V = I) and u = V^T y,
    the exact NLL of the prior F = c w is

        NLL(c, sigma) = 1/2 sum_k [ log(sigma + c d_k) + u_k^2 / (sigma + c d_k) ] + const

    (Sigma = sigma I + c K shares K's eigenvectors). One eigendecomposition of an r x r matrix per
    window, and then every evaluation costs O(sum of ranks): the constant-prior fit (w = 1,
    c = N s) and the re-fit of sigma under a fixed prior (w = F, c = 1) take one pass over the LD
    instead of one per L-BFGS evaluation (15-20 at genome scale).
    """

    def __init__(self, weights: torch.Tensor | None, batches) -> None:
        rank, world = _world()
        d, u2, const = [], [], 0.0
        for k in range(rank, len(batches), world):
            b = batches[k]
            H = b.Gt
            if weights is not None:
                H = H * weights[b.context_index].sqrt().unsqueeze(-2)  # padded rows of Gt are 0
            if b.diagonal:  # Sigma is diagonal already: d = diag(K), u = y
                real = b.valid
                d.append((H * H).sum(-1)[real])
                u2.append(b.y[real] ** 2)
                const += float(b.const.sum())
                continue
            K = H @ H.transpose(-1, -2)
            # padded rank dimensions get eigenvalue -1: their eigenvectors stay apart from the
            # real ones (y is 0 there), and they are dropped below
            K.diagonal(dim1=-2, dim2=-1)[~b.valid] = -1.0
            lam, V = torch.linalg.eigh(K)
            u = (V.transpose(-1, -2) @ b.y.unsqueeze(-1)).squeeze(-1)
            real = lam > -0.5
            d.append(lam[real].clamp_min(0.0))
            u2.append(u[real] ** 2)
            const += float(b.const.sum())
        self.d = torch.cat(d) if d else torch.zeros(0, dtype=torch.float64)
        self.u2 = torch.cat(u2) if u2 else torch.zeros(0, dtype=torch.float64)
        self.const = const

    def nll(self, c: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """This process's share of the NLL at scale ``c`` and intercept ``sigma``."""
        v = sigma + c * self.d
        return 0.5 * (torch.log(v) + self.u2 / v).sum() + self.const


def _lbfgs(params, objective, max_iter: int) -> torch.optim.LBFGS:
    """Minimise ``objective()`` (this process's share of a sum) over ``params`` with L-BFGS and a
    strong Wolfe line search, collectively within a process group."""
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        return _collective_value_and_grad(objective(), params)

    opt.step(closure)
    return opt


def fit_constant(trait, *, h2_init: float = 0.1, max_iter: int = 100) -> ConstantFit:
    """Maximise the exact likelihood over a constant per-SNP heritability and sigma.

    Parametrised as log s and log sigma (both unconstrained), optimised with L-BFGS and a strong
    Wolfe line search on the windows' spectra (:class:`_Spectra`: one pass over the LD, then
    every evaluation is O(sum of ranks)). Within a torch.distributed process group every process
    takes its share of the windows and all take the same steps on the summed value and gradient.
    """
    M = trait.n_variants
    batches = PackedBatches(trait.windows, group_by_size(trait.windows), cache_bytes=0)
    spectra = _Spectra(None, batches)
    log_N = math.log(trait.n_gwas)
    log_s = torch.tensor(math.log(h2_init / M), dtype=torch.float64, requires_grad=True)
    log_sigma = torch.zeros((), dtype=torch.float64, requires_grad=True)

    def objective():
        return spectra.nll(torch.exp(log_s + log_N), torch.exp(log_sigma))

    opt = _lbfgs([log_s, log_sigma], objective, max_iter)
    with torch.no_grad():
        nll = objective().reshape(1)
    _allreduce_([nll])
    nll = float(nll[0])
    if not np.isfinite(nll):
        raise NumericalError("the constant-prior fit diverged (non-finite likelihood)")
    s = math.exp(log_s.item())
    return ConstantFit(
        snpvar=s,
        h2=s * M,
        sigma=math.exp(log_sigma.item()),
        nll=nll,
        n_iter=int(opt.state[opt._params[0]]["n_iter"]),
    )


# ------------------------------------------------------------------------------------ training
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

    def __post_init__(self) -> None:
        validate(
            self.__dict__,
            _TRAIN_CONSTRAINTS,
            where="TrainConfig",
            flags={"sigma": "--fixed-sigma", "learn_sigma": "--fixed-sigma"},
        )


@dataclass
class TrainResult:
    """What :func:`train_prior` returns.

    Attributes
    ----------
    prior: deepwas.priors.Prior
        The trained prior at its best epoch (on ``config.device``).
    sigma: float
        The trained intercept at the best epoch (the training objective's; :func:`evaluate`
        re-fits sigma by exact maximum likelihood).
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
    """

    prior: torch.nn.Module
    sigma: float
    history: list[dict]
    best_epoch: int
    stopped: str
    float64_retries: int = 0
    config: TrainConfig | None = None


def _objective_value(model, log_sigma, data, positions, batches, ldsc, cfg, n_gwas) -> torch.Tensor:
    """This process's share of the training objective over the windows at ``positions``.

    likelihood: sum of window NLLs / number of scored variants; ldsc: mean LDSC loss. With a
    torch.distributed process group of W processes, process k evaluates positions k, k + W, ...
    and divides by the count over *all* positions, so that the sum over processes (of the value
    and of its gradient) is the objective of the whole mini-batch: data parallelism over windows.
    """
    rank, world = _world()
    feats = data["features"]
    device = feats.device
    sigma = torch.exp(log_sigma)
    if cfg.objective == "likelihood":
        n = sum(int(data["n_scored"][i]) for i in positions)
    else:
        n = sum(int(ldsc[i].R2.shape[1]) for i in positions)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for i in list(positions)[rank::world]:
        b = batches[i].to(device)
        idx = b.context_index[0]
        log_F = model(feats[idx]).unsqueeze(0) + math.log(n_gwas)
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
    data = {
        "features": torch.from_numpy(np.ascontiguousarray(fit_data.features)),
        "n_scored": [w.n_scored for w in fit_data.trait.windows],
    }
    batches = PackedBatches(fit_data.trait.windows)
    ldsc = None
    if cfg.objective == "ldsc":
        from deepwas.data import ldsc_windows

        ldsc = [_LdscTensors(lw) for lw in ldsc_windows(store, fit_data.trait)]
    params = [*model.parameters(), log_sigma]
    for p in params:
        p.grad = None
    value = _objective_value(
        model, log_sigma, data, positions, batches, ldsc, cfg, fit_data.trait.n_gwas
    )
    total = _collective_value_and_grad(value, params)
    return float(total), [p.grad for p in params]


def train_prior(
    fit_data,
    cfg: TrainConfig,
    *,
    store=None,
    checkpoint: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a prior on ``fit_data.train`` windows, early-stopping on ``fit_data.val``.

    Parameters
    ----------
    fit_data: deepwas.data.FitData
        The trait, features and split (:func:`deepwas.prepare_fit`).
    cfg: TrainConfig
    store: the LD store, for the LDSC objective's squared LD (default ``fit_data.store``)
    checkpoint: file written after every epoch (atomically); with ``resume`` training continues
        from it and ends exactly where an uninterrupted run would.
    progress: show a progress bar.

    Returns
    -------
    TrainResult
        Score it with :func:`evaluate`.

    Notes
    -----
    Every model starts at the best constant prior of the training windows (its output bias, and
    sigma), so training only has to learn departures from it. The order of windows in epoch e is a
    permutation drawn from ``numpy.random.default_rng([seed, e])``, so a resumed run replays it.
    """
    from tqdm.auto import tqdm

    from deepwas._files import atomic_file
    from deepwas.data import ldsc_windows
    from deepwas.errors import NumericalError
    from deepwas.priors import PriorConfig, build_prior, fit_standardization

    trait = fit_data.trait
    store = getattr(fit_data, "store", None) if store is None else store
    train_trait = fit_data.subset(fit_data.train)
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
    )
    model = build_prior(pcfg, seed=cfg.seed).to(cfg.device)
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
    }
    ldsc = None
    if cfg.objective == "ldsc":
        if store is None:
            raise ValueError("the LDSC objective needs the LD store")
        ldsc = [_LdscTensors(lw, cfg.device) for lw in ldsc_windows(store, trait)]

    def objective(positions):
        return _objective_value(model, log_sigma, data, positions, batches, ldsc, cfg, trait.n_gwas)

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

    stopped = "max epochs"
    bar = tqdm(
        range(start_epoch, cfg.epochs),
        desc=f"training {cfg.model}/{cfg.objective}",
        disable=not progress,
        initial=start_epoch,
        total=cfg.epochs,
    )
    for epoch in bar:
        order = np.random.default_rng([cfg.seed, epoch]).permutation(fit_data.train)
        for k in range(0, len(order), cfg.batch_windows):
            opt.zero_grad()
            try:
                loss = objective(order[k : k + cfg.batch_windows].tolist())
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
            train_obj = float(sums[1])
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


# ---------------------------------------------------------------------------------- evaluation
def window_nlls(trait, log_s: torch.Tensor, sigma: float) -> np.ndarray:
    """Exact NLL of every window of ``trait`` (natural log units), shape (n_windows,).

    Within a torch.distributed process group each process evaluates its share of the windows and
    every process returns all of them.
    """
    rank, world = _world()
    out = torch.zeros(len(trait.windows), dtype=torch.float64, device=log_s.device)
    log_F = log_s + math.log(trait.n_gwas)
    with torch.no_grad():
        for i in range(rank, len(trait.windows), world):
            b = pack_windows(trait.windows, [i]).to(log_s.device)
            out[i] = batched_nll(b, log_F, sigma)[0]
    _allreduce_([out])
    return out.cpu().numpy()


def refit_sigma(trait, log_s: torch.Tensor) -> float:
    """The exact-likelihood ML sigma for a fixed prior (one parameter, L-BFGS on the windows'
    spectra under that prior; collective within a torch.distributed process group, like
    :func:`fit_constant`)."""
    batches = PackedBatches(trait.windows, group_by_size(trait.windows), cache_bytes=0)
    F = torch.exp(log_s.detach() + math.log(trait.n_gwas))
    spectra = _Spectra(F, batches)
    one = torch.ones((), dtype=torch.float64)
    log_sigma = torch.zeros((), dtype=torch.float64, requires_grad=True)
    _lbfgs([log_sigma], lambda: spectra.nll(one, torch.exp(log_sigma)), 50)
    return math.exp(log_sigma.item())


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
    best_epoch, stopped, engine, precision, float64_retries:
        From training (:class:`TrainResult`, :class:`TrainConfig`); None for a bare prior.
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
    heldout_windows: pd.DataFrame | None = field(default=None, repr=False, compare=False)
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
        skip = {"heldout_windows", "truth_pairs"}
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
        The prior to score; a :class:`TrainResult` also fills the training fields of the metrics
        (``objective``, ``sigma_trained``, ``best_epoch``, ...). It is moved to the CPU.
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
    model.to("cpu")
    with torch.no_grad():
        log_s = model(torch.from_numpy(np.ascontiguousarray(data.features)))
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
    metrics.seconds = time.perf_counter() - t0
    return metrics
