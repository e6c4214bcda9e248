"""Empirical-Bayes shrinkage of a block of a prior's weights.

A family with ``PriorFamily.shrinkage`` (``neighbourhood_linear``: its channel weights ``u``)
gives that block a Gaussian prior ``u ~ N(0, I / alpha)``; training then minimises the
penalised objective ``NLL + alpha/2 |u|^2`` (:func:`penalty`), and ``alpha``, the precision, is
set by maximising the Laplace approximation of the evidence (MacKay 1992; docs/decisions.md,
"Shrinking neighbourhood_linear's channels"):

1. fit without the penalty: ``theta_hat = (u_hat, o_hat)`` (``o``: the other parameters and log
   sigma);
2. ``H``, the Hessian of the summed NLL of the training windows at ``theta_hat`` (central
   differences of the exact gradient, :func:`hessian`), and ``S = H_uu - H_uo H_oo^-1 H_ou``,
   the curvature of the NLL in ``u`` with the other parameters re-optimised;
3. in the eigenbasis of ``S`` (eigenvalues ``l_i``, ``v = Q^T u_hat``) the quadratic model of the
   NLL gives the log evidence up to a constant,
   ``E(alpha) = sum_i [-v_i^2 l_i alpha / (2 (l_i + alpha)) - log(1 + l_i / alpha) / 2]``:
   each ``v_i`` is a draw of ``N(0, 1/alpha + 1/l_i)``, the prior's spread plus the fit's noise
   (:func:`evidence_precision`);
4. refit with ``alpha`` that maximises it.

``alpha`` large (the evidence prefers ``u = 0``) gives back the linear prior; the effective number
of channels ``gamma = sum_i l_i / (l_i + alpha)`` says how many directions the data support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

__all__ = ["Shrinkage", "evidence_precision", "fit_precision", "hessian", "penalty"]

#: The largest precision: beyond it the shrunk weights are 0 to within 1e-8 of a unit.
MAX_PRECISION = 1e12
_GRID = np.logspace(-6, 12, 361)
#: The most windows whose Hessian :func:`fit_precision` computes (a seeded sample beyond).
MAX_WINDOWS = 256


@dataclass(frozen=True)
class Shrinkage:
    """The result of :func:`evidence_precision`.

    Attributes
    ----------
    precision: alpha, the precision of the weights' Gaussian prior
    effective: gamma, the number of directions the data support (``sum l_i / (l_i + alpha)``)
    directions: the directions with positive curvature (weights the data inform at all)
    log_evidence_gain: ``E(alpha) - E(MAX_PRECISION)``: nats of evidence for the weights over
        setting them to 0
    """

    precision: float
    effective: float
    directions: int
    log_evidence_gain: float

    def as_dict(self) -> dict:
        return {
            "precision": self.precision,
            "effective_channels": self.effective,
            "informed_channels": self.directions,
            "log_evidence_gain": self.log_evidence_gain,
        }


def penalty(prior) -> torch.Tensor | None:
    """``alpha / 2 |u|^2`` (nats) of a prior whose family shrinks a block ``u``, or None."""
    name = prior.family.shrinkage
    if name is None:
        return None
    alpha = prior.shrinkage_precision
    return 0.5 * alpha * getattr(prior, name).square().sum()


def hessian(
    grad_fn, theta: torch.Tensor, *, step: float = 1e-4, progress: bool = False
) -> np.ndarray:
    """The symmetrised central-difference Hessian of a function whose gradient is ``grad_fn``
    (a float64 (p,) tensor -> (p,) tensor), at ``theta``: ``2 p`` gradients. The exact
    likelihood's gradient is accurate to ~1e-12 relative, so a step of 1e-4 gives the Hessian
    to ~1e-8 relative (its backward pass is not twice differentiable)."""
    from tqdm.auto import tqdm

    p = theta.numel()
    H = np.empty((p, p))
    for j in tqdm(range(p), desc="empirical Bayes: Hessian", disable=not progress):
        e = torch.zeros_like(theta)
        e[j] = step
        H[:, j] = ((grad_fn(theta + e) - grad_fn(theta - e)) / (2 * step)).cpu().numpy()
    return (H + H.T) / 2


def evidence_precision(H: np.ndarray, theta: np.ndarray, block: np.ndarray) -> Shrinkage:
    """The precision ``alpha`` of the weights ``theta[block]`` that maximises the Laplace
    evidence (module docstring), from the Hessian ``H`` of the summed NLL at the unpenalised fit
    ``theta`` (all parameters; the others are profiled out)."""
    block = np.asarray(block)
    other = np.setdiff1d(np.arange(len(theta)), block)
    Huu, Huo, Hoo = H[np.ix_(block, block)], H[np.ix_(block, other)], H[np.ix_(other, other)]
    S = Huu - Huo @ np.linalg.lstsq(Hoo, Huo.T, rcond=None)[0] if len(other) else Huu
    lam, Q = np.linalg.eigh((S + S.T) / 2)
    v = Q.T @ theta[block]
    keep = lam > 1e-9 * max(float(lam.max()), 1e-300)  # flat or noisy directions: no data
    lam, v = lam[keep], v[keep]

    def log_ev(a: float) -> float:
        return float(np.sum(-0.5 * v**2 * lam * a / (lam + a) - 0.5 * np.log1p(lam / a)))

    if not len(lam):
        return Shrinkage(MAX_PRECISION, 0.0, 0, 0.0)
    values = np.array([log_ev(a) for a in _GRID])
    i = int(values.argmax())
    lo, hi = math.log(_GRID[max(i - 1, 0)]), math.log(_GRID[min(i + 1, len(_GRID) - 1)])
    for _ in range(60):  # golden-section refinement in log alpha
        m1, m2 = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
        if log_ev(math.exp(m1)) < log_ev(math.exp(m2)):
            lo = m1
        else:
            hi = m2
    alpha = MAX_PRECISION if i == len(_GRID) - 1 else min(math.exp((lo + hi) / 2), MAX_PRECISION)
    return Shrinkage(
        precision=alpha,
        effective=float(np.sum(lam / (lam + alpha))),
        directions=int(len(lam)),
        log_evidence_gain=log_ev(alpha) - log_ev(MAX_PRECISION),
    )


def fit_precision(
    model,
    log_sigma: torch.Tensor,
    fit_data,
    positions,
    cfg,
    *,
    max_windows: int = MAX_WINDOWS,
    progress: bool = False,
) -> Shrinkage:
    """Steps 2-3 of the module docstring for a trained ``model`` (its family's shrunk block) and
    ``log_sigma`` on the windows at ``positions`` (exact engine, float64: the difference
    quotients need exact gradients).

    With more than ``max_windows`` windows the Hessian is that of a seeded random sample of
    ``max_windows`` of them, scaled by the ratio of scored variants (the NLL is a sum over
    windows, so this is an unbiased estimate of the whole sum's Hessian): at genome scale the
    ``2 p + 2`` gradient passes over every window would cost more than the training."""
    from deepwas.fit import gradient_function

    cfg = replace(cfg, engine="exact", precision="float64")
    positions = sorted(positions)
    n_total = sum(int(fit_data.trait.windows[i].n_scored) for i in positions)
    if len(positions) > max_windows:
        rng = np.random.default_rng(0)
        positions = sorted(int(i) for i in rng.choice(positions, max_windows, replace=False))
    params = [*model.parameters(), log_sigma]
    sizes = [p.numel() for p in params]
    theta0 = torch.cat([p.detach().reshape(-1).cpu() for p in params]).to(torch.float64)
    gradient = gradient_function(model, log_sigma, fit_data, positions, cfg)

    def set_params(theta: torch.Tensor) -> None:
        with torch.no_grad():
            at = 0
            for p, s in zip(params, sizes, strict=True):
                p.copy_(theta[at : at + s].reshape(p.shape))
                at += s

    def grad_fn(theta: torch.Tensor) -> torch.Tensor:
        set_params(theta)
        _, grads = gradient()
        # the objective is per scored variant of the windows evaluated: x n_total is the summed
        # NLL of all of them (of the sample, scaled up, when sampled)
        return torch.cat([g.reshape(-1).cpu() for g in grads]) * n_total

    try:
        H = hessian(grad_fn, theta0, progress=progress)
    finally:
        set_params(theta0)
    names = [name for name, _ in model.named_parameters()]
    at = int(np.sum(sizes[: names.index(model.family.shrinkage)]))
    block = np.arange(at, at + sizes[names.index(model.family.shrinkage)])
    return evidence_precision(H, theta0.numpy(), block)
