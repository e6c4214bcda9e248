"""Fitting priors by the exact likelihood. This release fits the best *constant* prior (one
per-SNP heritability for all variants, and sigma); the training of annotation-dependent priors
builds on the same pieces.

The best constant prior is what every learned prior is compared against (DESIGN 2.4), and on its
own it is an exact-likelihood estimate of the SNP heritability and of the intercept sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from deepwas.errors import NumericalError
from deepwas.linalg.batch import batched_nll, group_by_size, pack_windows

__all__ = ["ConstantFit", "fit_constant", "total_nll"]


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
    """
    if batches is None:
        batches = [pack_windows(trait.windows, g) for g in group_by_size(trait.windows)]
    log_F = log_s + math.log(trait.n_gwas)
    return sum(batched_nll(b, log_F, sigma).sum() for b in batches)


def fit_constant(trait, *, h2_init: float = 0.1, max_iter: int = 100) -> ConstantFit:
    """Maximise the exact likelihood over a constant per-SNP heritability and sigma.

    Parametrised as log s and log sigma (both unconstrained), optimised with L-BFGS and a strong
    Wolfe line search; two parameters, so it converges in a few dozen evaluations.
    """
    M = trait.n_variants
    batches = [pack_windows(trait.windows, g) for g in group_by_size(trait.windows)]
    log_s = torch.tensor(math.log(h2_init / M), dtype=torch.float64, requires_grad=True)
    log_sigma = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_s, log_sigma],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )
    ones = torch.ones(M, dtype=torch.float64)

    def closure():
        opt.zero_grad()
        loss = total_nll(trait, log_s * ones, torch.exp(log_sigma), batches=batches)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        nll = float(total_nll(trait, log_s * ones, torch.exp(log_sigma), batches=batches))
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
