"""The exact likelihood of a trait under a fixed prior, over all its windows (DESIGN 2.1): the total
and the per-window NLL, and the two one-parameter maximum-likelihood fits that training and
evaluation need, both on the windows' spectra (one pass over the LD): the best constant prior
(:func:`fit_constant`) and the ML intercept sigma of a fixed prior (:func:`refit_sigma`).

The best constant prior is what every learned prior is compared against (DESIGN 2.4), and on its
own it is an exact-likelihood estimate of the SNP heritability and of the intercept sigma. Within
a torch.distributed process group every function here is collective (each process takes its
share of the windows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from deepwas._distributed import _allreduce_, _collective_value_and_grad, _share
from deepwas.errors import NumericalError
from deepwas.linalg.batch import (
    PackedBatches,
    batch_cost,
    batched_nll,
    group_by_size,
    iterate_batches,
    pack_windows,
    window_cost,
)

__all__ = [
    "ConstantFit",
    "fit_constant",
    "total_nll",
    "window_nlls",
    "refit_sigma",
    "fit_scale",
]


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
    Within a torch.distributed process group, each process sums its share of the batches
    (balanced by cost, ``deepwas._distributed._share``);
    :func:`deepwas._distributed._collective_value_and_grad` adds the shares up.
    """
    if batches is None:
        batches = PackedBatches(trait.windows, group_by_size(trait.windows))
    mine = _share(range(len(batches)), lambda k: batch_cost(batches, k))
    log_F = log_s + math.log(trait.n_gwas)
    total = torch.zeros((), dtype=torch.float64, device=log_s.device)
    for _, b in iterate_batches(batches, mine):
        total = total + batched_nll(b, log_F, sigma).sum()
    return total


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
        d, u2, const = [], [], 0.0
        mine = _share(range(len(batches)), lambda k: batch_cost(batches, k))
        for _, b in iterate_batches(batches, mine):
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

    @classmethod
    def combine(cls, parts: list[_Spectra]) -> _Spectra:
        """The spectra of the union of the parts' windows."""
        out = cls.__new__(cls)
        out.d = torch.cat([p.d for p in parts])
        out.u2 = torch.cat([p.u2 for p in parts])
        out.const = float(sum(p.const for p in parts))
        return out

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


def fit_constant(
    trait, *, h2_init: float = 0.1, max_iter: int = 100, spectra: _Spectra | None = None
) -> ConstantFit:
    """Maximise the exact likelihood over a constant per-SNP heritability and sigma.

    Parametrised as log s and log sigma (both unconstrained), optimised with L-BFGS and a strong
    Wolfe line search on the windows' spectra (:class:`_Spectra`: one pass over the LD, then
    every evaluation is O(sum of ranks)). Within a torch.distributed process group every process
    takes its share of the windows and all take the same steps on the summed value and gradient.
    ``spectra`` (private): the windows' flat-prior spectra when already computed
    (:func:`deepwas.jackknife.constant_h2_jackknife` combines per-window ones).
    """
    M = trait.n_variants
    if spectra is None:
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


def window_nlls(trait, log_s: torch.Tensor, sigma: float) -> np.ndarray:
    """Exact NLL of every window of ``trait`` (natural log units), shape (n_windows,).

    Within a torch.distributed process group each process evaluates its share of the windows and
    every process returns all of them.
    """
    out = torch.zeros(len(trait.windows), dtype=torch.float64, device=log_s.device)
    log_F = log_s + math.log(trait.n_gwas)
    mine = _share(range(len(trait.windows)), lambda i: window_cost(trait.windows[i]))
    with torch.no_grad():
        for i in mine:
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


def fit_scale(
    trait, log_s: torch.Tensor, *, max_iter: int = 100, init_scale: float = 1.0
) -> tuple[float, float, float]:
    """Maximise the likelihood of ``trait`` over a common factor of a fixed prior's variances and
    sigma: F = scale * N exp(log_s). Returns (scale, sigma, nll).

    The search starts from ``init_scale`` (in log scale): a prior whose h2 collapsed to nearly 0
    gives the likelihood no gradient in the scale at 1, so callers start from the ratio of a
    reference h2 to the prior's (:func:`deepwas.calibrate_prior` uses the constant prior's).

    This calibrates the total heritability of a prior whose *shape* was learned elsewhere: with a
    small reference panel deepwas learns the shape on the panel's reliable eigen-directions with
    the full model and fits its scale and sigma with the diagonal model over every direction
    (``ld_model="calibrated"``, docs/mismatch.md). One pass over the LD (the windows' spectra
    under that prior), collective within a torch.distributed process group.
    """
    batches = PackedBatches(trait.windows, group_by_size(trait.windows), cache_bytes=0)
    F = torch.exp(log_s.detach() + math.log(trait.n_gwas))
    spectra = _Spectra(F, batches)
    if not (math.isfinite(init_scale) and init_scale > 0):
        raise ValueError(f"init_scale must be positive and finite, got {init_scale}")
    log_c = torch.tensor(math.log(init_scale), dtype=torch.float64, requires_grad=True)
    log_sigma = torch.zeros((), dtype=torch.float64, requires_grad=True)

    def objective():
        return spectra.nll(torch.exp(log_c), torch.exp(log_sigma))

    _lbfgs([log_c, log_sigma], objective, max_iter)
    with torch.no_grad():
        nll = objective().reshape(1)
    _allreduce_([nll])
    if not np.isfinite(float(nll[0])):
        raise NumericalError(
            "the calibration of the prior's scale diverged (non-finite likelihood)"
        )
    return math.exp(log_c.item()), math.exp(log_sigma.item()), float(nll[0])
