"""The exact DeepWAS likelihood (DESIGN 2.1) and the LD-score-regression objective (DESIGN 2.3).

For one window with projected LD G (|C|, r), projected z-scores y (r,) and prior variances on the
z scale F = N s (|C|,):

    Sigma = sigma I_r + G^T diag(F) G                                   (r, r)
    NLL   = 1/2 [ log det Sigma + y^T Sigma^-1 y + r log 2 pi + sum log lam ]

The value and its gradient come from one Cholesky factorisation per window:

    dNLL/dF_c   = 1/2 [ ||L^-1 g_c||^2 - (g_c . Sigma^-1 y)^2 ]         g_c = row c of G
    dNLL/dsigma = 1/2 [ tr Sigma^-1 - ||Sigma^-1 y||^2 ]

written as a custom autograd function so that the backward pass costs one triangular solve
L^-1 G^T diag(sqrt F) (in place for large windows) instead of the several products autograd
would spend through Sigma, and tr Sigma^-1 comes from the identity
sigma tr(Sigma^-1) = r - sum_c F_c g_c^T Sigma^-1 g_c. Flops per window: about |C| r^2 forward
(only the lower block triangle of G^T diag(F) G is formed) + r^3/3 (Cholesky), |C| r^2 backward.
G is kept transposed, (r, |C|): the layout in which both products run fastest on the CPU
(measured with benchmarks/likelihood.py).

Windows are evaluated in *batches*: tensors padded to a common context length and rank. Padded
context rows have F = 0 (and G = 0); padded rank dimensions have G = 0, y = 0 and a unit diagonal,
so they add nothing to the value or the gradients.

The kernel computes in the precision of G: float64 for every value (likelihoods are compared
across models to a few units on totals of 10^4-10^6, and float32 gives them to ~1e-7 relative),
float32 optionally for training steps (gradients to ~1e-6, benchmarks/precision.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deepwas.errors import InputError, NumericalError
from deepwas.linalg.eigen import eigen_precompute, project_z

__all__ = ["exact_nll", "diagonal_nll", "window_nll", "ldsc_loss", "window_ldsc"]

_LOG_2PI = math.log(2.0 * math.pi)


def _cholesky(S: torch.Tensor) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        bad = int(torch.nonzero(info.reshape(-1))[0])
        raise NumericalError(
            f"the likelihood covariance of window {bad} of the batch is not positive definite",
            fix="check that sigma > 0 and that the prior variances are finite",
        )
    return L


_GRAM_BLOCK = 128
_IN_PLACE_MIN = 300_000  # r |C| from which the backward solve runs in place (see backward)


def _lower_gram(Ht: torch.Tensor) -> torch.Tensor:
    """The lower triangle of Ht Ht^T for Ht (B, r, C), the strict upper triangle left zero.

    Computed block by block (blocks of 128 rows) so that only the lower blocks are multiplied:
    about half the flops of the full product for large r, as a symmetric rank-k update would.
    The Cholesky factorisation reads only the lower triangle.
    """
    B, r, _ = Ht.shape
    if r <= 2 * _GRAM_BLOCK:
        return Ht @ Ht.transpose(-1, -2)
    S = torch.zeros(B, r, r, dtype=Ht.dtype, device=Ht.device)
    edges = list(range(0, r, _GRAM_BLOCK)) + [r]
    for i in range(len(edges) - 1):
        i0, i1 = edges[i], edges[i + 1]
        # rows i0:i1, columns 0:i1 in one product (the diagonal block is computed in full)
        S[:, i0:i1, :i1] = Ht[:, i0:i1] @ Ht[:, :i1].transpose(-1, -2)
    return S


class _ExactNLL(torch.autograd.Function):
    """0.5 (log det Sigma + y^T Sigma^-1 y) per window; constants are added by the caller.

    Differentiable in log F and sigma. With H = G^T diag(sqrt F) and N = L^-1 H (column c is
    sqrt(F_c) L^-1 g_c):

        dNLL/dlog F_c = F_c dNLL/dF_c = 1/2 [ ||n_c||^2 - (a . n_c)^2 ]        a = L^-1 y
        sigma tr Sigma^-1 = r - sum_c ||n_c||^2

    so the backward pass needs H only (kept from the forward pass) and, for large windows, solves
    for N in H's own memory: no division by F, no second (B, r, C) array.
    """

    @staticmethod
    def forward(ctx, Gt, y, log_F, sigma, valid, context_mask):  # noqa: D401 - torch API
        # Gt: (B, r, C); y: (B, r); log_F: (B, C); sigma: (B,); valid: (B, r) float 1/0;
        # context_mask: (B, C) bool or None
        sqrt_F = torch.exp(0.5 * log_F)
        if context_mask is not None:
            zero = torch.zeros((), dtype=Gt.dtype, device=Gt.device)
            sqrt_F = torch.where(context_mask, sqrt_F, zero)
        H = Gt * sqrt_F.unsqueeze(-2)
        S = _lower_gram(H)
        diag = valid * sigma.unsqueeze(-1) + (1.0 - valid)
        S.diagonal(dim1=-2, dim2=-1).add_(diag)
        L = _cholesky(S)
        a = torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False).squeeze(-1)
        logdet = 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        nll = 0.5 * (logdet + (a * a).sum(-1))
        ctx.save_for_backward(Gt, sqrt_F, L, a, valid, sigma)
        # an intermediate, kept as an attribute: the first backward pass overwrites it
        ctx.H = H
        return nll

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        Gt, sqrt_F, L, a, valid, sigma = ctx.saved_tensors
        H, ctx.H = ctx.H, None
        if H is None:  # a second backward pass through a retained graph
            H = Gt * sqrt_F.unsqueeze(-2)
        need_F, need_sigma = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            raise RuntimeError("the exact NLL is differentiable in F and sigma only, not in G or y")
        # N = L^-1 H: one triangular solve with |C| right-hand sides (|C| r^2 flops; faster than
        # forming L^-1 and multiplying). In place for large windows: measured 20-30% faster than
        # into new memory from r |C| ~ 3e5 up, but 1.2-5x slower below (MKL, 2 threads)
        if H.shape[-1] * H.shape[-2] >= _IN_PLACE_MIN:
            N = torch.linalg.solve_triangular(L, H, upper=False, out=H)  # (B, r, C)
        else:
            N = torch.linalg.solve_triangular(L, H, upper=False)
        quad = torch.linalg.vector_norm(N, dim=-2).square()  # (B, C): F_c g_c^T Sigma^-1 g_c
        g_logF = g_s = None
        if need_F:
            Na = (a.unsqueeze(-2) @ N).squeeze(-2)  # (B, C): sqrt(F_c) g_c^T Sigma^-1 y
            g_logF = 0.5 * (quad - Na * Na) * grad_out.unsqueeze(-1)
        if need_sigma:
            alpha = torch.linalg.solve_triangular(
                L.transpose(-1, -2), a.unsqueeze(-1), upper=True
            ).squeeze(-1)  # Sigma^-1 y
            # tr Sigma^-1 without inverting: Sigma^-1 Sigma = I gives
            # sigma tr(Sigma^-1) + sum_c F_c g_c^T Sigma^-1 g_c = r (over the real dimensions)
            tr = (valid.sum(-1) - quad.sum(-1)) / sigma
            g_s = 0.5 * (tr - (alpha * alpha * valid).sum(-1)) * grad_out
        return None, None, g_logF, g_s, None, None


def _batch_sigma(sigma: torch.Tensor | float, Gt: torch.Tensor) -> torch.Tensor:
    """sigma as a (B,) tensor in Gt's dtype and device (a differentiable cast of a tensor)."""
    if isinstance(sigma, torch.Tensor):
        sigma_t = sigma.to(dtype=Gt.dtype, device=Gt.device)
    else:
        sigma_t = torch.tensor(float(sigma), dtype=Gt.dtype, device=Gt.device)
    return sigma_t.expand(Gt.shape[0]) if sigma_t.ndim == 0 else sigma_t


def exact_nll(
    Gt: torch.Tensor,
    y: torch.Tensor,
    log_F: torch.Tensor,
    sigma: torch.Tensor | float,
    *,
    valid: torch.Tensor | None = None,
    context_mask: torch.Tensor | None = None,
    const: torch.Tensor | None = None,
) -> torch.Tensor:
    """Exact NLL of a batch of windows in eigen-projected form.

    Parameters
    ----------
    Gt: (B, r, C) float64 or float32
        Projected LD, transposed (G^T, rank by context: the layout in which both products of
        the kernel run fastest) and zero-padded. Its dtype is the precision of the computation
        (y, log_F and sigma are cast to it); float32 is for training steps only, see
        docs/decisions.md.
    y: (B, r)
        Projected z-scores, zero-padded.
    log_F: (B, C)
        log of the prior variance on the z scale, F = N s, per context variant. Differentiable.
    sigma: scalar or (B,) float64
        The intercept (1 in theory). Differentiable; must be > 0.
    valid: (B, r) bool, optional
        Which rank dimensions are real (default: all).
    context_mask: (B, C) bool, optional
        Which context rows are real (default: all). Padded rows get F = 0.
    const: (B,) float64, optional
        Per-window constant 1/2 (r log 2 pi + sum log lam) added to the result.

    Returns
    -------
    nll: (B,) float64
        The negative log-likelihood of each window's z_W (DESIGN 2.1), computed in Gt's
        precision and returned in float64 so that sums over windows accumulate in float64.
    """
    B, r, C = Gt.shape
    if valid is None:
        valid_f = torch.ones(B, r, dtype=Gt.dtype, device=Gt.device)
    else:
        valid_f = valid.to(Gt.dtype)
    sigma_t = _batch_sigma(sigma, Gt)
    # the kernel runs in G's precision; casts are differentiable, so gradients reach log_F and
    # sigma in their own dtype
    nll = _ExactNLL.apply(
        Gt, y.to(Gt.dtype), log_F.to(Gt.dtype), sigma_t, valid_f, context_mask
    ).to(torch.float64)
    if const is not None:
        nll = nll + const
    return nll


def diagonal_nll(
    Gt: torch.Tensor,
    y: torch.Tensor,
    log_F: torch.Tensor,
    sigma: torch.Tensor | float,
    *,
    valid: torch.Tensor | None = None,
    context_mask: torch.Tensor | None = None,
    const: torch.Tensor | None = None,
) -> torch.Tensor:
    """NLL of a batch of windows under the diagonal model of the projected z-scores.

    The coordinates of y are independent with variances sigma + sum_c F_c Gt[k, c]^2:

        NLL = 1/2 sum_k [ log(sigma + v_k) + y_k^2 / (sigma + v_k) + log 2 pi ],
        v = (Gt * Gt) F

    the model used with a small reference panel (docs/mismatch.md), where ``Gt`` and ``y`` have
    been scaled per direction by the panel's cross-validated scales
    (:func:`deepwas.ld.trait.prepare_trait`). It is the diagonal of :func:`exact_nll`'s
    covariance; its cost is 2 |C| r per window and autograd gives its gradient.

    Parameters are those of :func:`exact_nll` (the constant 1/2 r log 2 pi is in ``const``).

    Returns
    -------
    nll: (B,) float64
    """
    B, r, C = Gt.shape
    F = torch.exp(log_F.to(Gt.dtype))
    if context_mask is not None:
        F = torch.where(context_mask, F, torch.zeros((), dtype=Gt.dtype, device=Gt.device))
    sigma = _batch_sigma(sigma, Gt)
    v = sigma.unsqueeze(-1) + ((Gt * Gt) @ F.unsqueeze(-1)).squeeze(-1)  # (B, r)
    terms = torch.log(v) + y.to(Gt.dtype).square() / v
    if valid is not None:
        terms = torch.where(valid, terms, torch.zeros((), dtype=Gt.dtype, device=Gt.device))
    nll = 0.5 * terms.sum(-1).to(torch.float64)
    if const is not None:
        nll = nll + const
    return nll


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not numeric: {exc}", column=name) from None


def window_nll(
    z,
    R,
    scored,
    log_prior_var,
    sigma: float | torch.Tensor = 1.0,
    *,
    eig_rtol: float = 1e-8,
) -> torch.Tensor:
    """The exact Gaussian NLL of ``z[scored]`` under DESIGN Section 2, for one window.

    z_W ~ N(0, R_WC diag(F) R_CW + sigma R_WW) with F = exp(log_prior_var).

    Parameters
    ----------
    z: (n_context,)
        z-scores of the context variants (only the scored ones enter the likelihood).
    R: (n_context, n_context)
        LD among the context variants (symmetric positive semi-definite).
    scored: (n_context,) bool
        Which context variants are scored (the window's W).
    log_prior_var: (n_context,) float64 tensor
        log F, the log prior variance of each context variant on the z scale (F = N s, with s
        the per-SNP heritability and N the GWAS sample size). Differentiable.
    sigma:
        The intercept; a float or a differentiable 0-d tensor, > 0.
    eig_rtol:
        Relative cutoff on the eigenvalues of R_WW (see
        :func:`deepwas.linalg.eigen.eigen_precompute`). For a full-rank R_WW the result is the
        Gaussian NLL of z_W exactly; for a rank-deficient R_WW (a reference panel with fewer
        samples than variants) it is the NLL of the projection of z_W onto the range of R_WW.

    Returns
    -------
    nll: 0-d float64 tensor, with constants (r/2 log 2 pi, 1/2 sum log lam) included.

    Notes
    -----
    The theta-independent eigen precomputation is redone at every call; training code
    precomputes it once per window instead (:mod:`deepwas.ld.trait`).
    """
    z_t = _as_tensor(z, "z").detach().to(torch.float64)
    R_np = _as_tensor(R, "R").detach().to(torch.float64).cpu().numpy()
    lpv = _as_tensor(log_prior_var, "log_prior_var")
    mask = np.asarray(scored.cpu() if isinstance(scored, torch.Tensor) else scored)
    n = z_t.shape[0] if z_t.ndim == 1 else -1
    if z_t.ndim != 1 or R_np.shape != (n, n) or tuple(lpv.shape) != (n,) or mask.shape != (n,):
        raise InputError(
            f"shapes do not agree: z {tuple(z_t.shape)}, R {R_np.shape}, "
            f"log_prior_var {tuple(lpv.shape)}, scored {mask.shape}",
            fix="z, log_prior_var and scored have one entry per context variant; R is square",
        )
    if mask.dtype != bool:
        raise InputError("scored must be a boolean mask over the context variants", column="scored")
    if not mask.any():
        raise InputError("the window has no scored variants", column="scored")
    if not torch.isfinite(z_t).all():
        raise InputError("z has non-finite values", column="z")
    if isinstance(sigma, torch.Tensor):
        sig_ok = bool((sigma.detach() > 0).all())
    else:
        sig_ok = float(sigma) > 0
    if not sig_ok:
        raise InputError(f"sigma must be > 0, got {sigma}", column="sigma")
    eig = eigen_precompute(R_np, mask, eig_rtol=eig_rtol, window="window_nll")
    y = torch.from_numpy(project_z(eig, z_t.cpu().numpy()[mask]))
    G = torch.from_numpy(eig.G)
    const = 0.5 * (eig.rank * _LOG_2PI + eig.logdet_lam)
    sig = (
        sigma
        if isinstance(sigma, torch.Tensor)
        else torch.tensor(float(sigma), dtype=torch.float64)
    )
    nll = exact_nll(
        G.T.unsqueeze(0).to(lpv.device),
        y.unsqueeze(0).to(lpv.device),
        lpv.to(torch.float64).unsqueeze(0),
        sig.to(torch.float64).reshape(1),
    )
    return nll[0] + const


def ldsc_loss(
    R2: torch.Tensor,
    r_diag: torch.Tensor,
    chi2: torch.Tensor,
    log_F: torch.Tensor,
    sigma: torch.Tensor | float,
    *,
    scored_mask: torch.Tensor | None = None,
    context_mask: torch.Tensor | None = None,
    mean_F: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """The LD-score-regression ("summary-statistic fitting") objective of DESIGN 2.3.

    chi2_hat_j = sum_k R_jk^2 F_k + sigma R_jj,   l_j = sum_k R_jk^2,
    scale_j = l_j mean(F) + R_jj  (= N l_j h2/M + R_jj),
    loss = mean_j ((chi2_hat_j - chi2_j) / scale_j)^2 / l_j.

    Parameters
    ----------
    R2: (B, W, C) float64
        Squared LD between scored (rows) and context (columns) variants, zero-padded.
    r_diag: (B, W)
        R_jj of the scored variants (1 for a correlation matrix; padded entries arbitrary).
    chi2: (B, W)
        z_j^2 of the scored variants.
    log_F: (B, C)
        log prior variance on the z scale of the context variants. Differentiable.
    sigma:
        The intercept. Differentiable.
    scored_mask: (B, W) bool, optional
        Real scored rows (default all).
    context_mask: (B, C) bool, optional
        Real context columns (default all).
    mean_F:
        N h2 / M in the regression weights. Like LDSC's weights it is held fixed (not
        differentiated); by default it is the mean of the current F over real context variants,
        detached.

    Returns
    -------
    loss: 0-d tensor, the mean over all real scored variants of the batch.
    """
    F = torch.exp(log_F)
    if context_mask is not None:
        F = torch.where(context_mask, F, torch.zeros((), dtype=F.dtype, device=F.device))
    if mean_F is None:
        if context_mask is None:
            mean_F = F.detach().mean()
        else:
            mean_F = F.detach().sum() / context_mask.sum().clamp_min(1)
    ld_score = R2.sum(-1)
    chi2_hat = (R2 @ F.unsqueeze(-1)).squeeze(-1) + sigma * r_diag
    scale = ld_score * mean_F + r_diag
    per = ((chi2_hat - chi2) / scale) ** 2 / ld_score.clamp_min(1e-12)
    if scored_mask is None:
        return per.mean()
    return (per * scored_mask).sum() / scored_mask.sum().clamp_min(1)


def window_ldsc(
    z,
    R,
    scored,
    log_prior_var,
    sigma: float | torch.Tensor = 1.0,
    *,
    mean_F: float | None = None,
) -> torch.Tensor:
    """The LDSC objective of DESIGN 2.3 for one window, with the interface of :func:`window_nll`.

    Parameters
    ----------
    z: (n_context,)
    R: (n_context, n_context)
    scored: (n_context,) bool
    log_prior_var: (n_context,) float64 tensor, log F = log(N s). Differentiable.
    sigma: the intercept, float or differentiable 0-d tensor.
    mean_F: N h2 / M of the regression weights (default: mean F of the window, detached).

    Returns
    -------
    loss: 0-d float64 tensor (mean over the scored variants).
    """
    z_t = _as_tensor(z, "z").detach().to(torch.float64)
    R_t = _as_tensor(R, "R").detach().to(torch.float64)
    lpv = _as_tensor(log_prior_var, "log_prior_var")
    mask = torch.as_tensor(np.asarray(scored.cpu() if isinstance(scored, torch.Tensor) else scored))
    n = z_t.shape[0]
    if R_t.shape != (n, n) or tuple(lpv.shape) != (n,) or tuple(mask.shape) != (n,):
        raise InputError(
            f"shapes do not agree: z {tuple(z_t.shape)}, R {tuple(R_t.shape)}, "
            f"log_prior_var {tuple(lpv.shape)}, scored {tuple(mask.shape)}",
            fix="z, log_prior_var and scored have one entry per context variant; R is square",
        )
    if mask.dtype != torch.bool or not bool(mask.any()):
        raise InputError("scored must be a non-empty boolean mask", column="scored")
    R_WC = R_t[mask]
    return ldsc_loss(
        (R_WC * R_WC).unsqueeze(0),
        torch.diagonal(R_t)[mask].unsqueeze(0),
        (z_t[mask] ** 2).unsqueeze(0),
        lpv.to(torch.float64).unsqueeze(0),
        sigma,
        mean_F=mean_F,
    )
