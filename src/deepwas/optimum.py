"""A prior refitted to the optimum of the training objective: full-batch L-BFGS.

The fit's optimiser (AdamW on mini-batches of windows, a fixed number of epochs) stops near, not
at, the optimum of the likelihood. That is harmless for prediction but not for a jackknife: the
delete-one-block estimates must be the optima of the reduced data, else their spread measures
the optimiser (a few epochs from the full-data fit move it less than the data would: the
pseudo-values are under-dispersed and the standard errors too small). :func:`fit_to_optimum`
runs a deterministic full-batch L-BFGS (strong Wolfe line search) on every parameter of the
prior and log sigma over the given windows, from a warm start, until the gradient norm is below
``tol``; :func:`deepwas.enrich.enrichment` uses it for the full-data fit and for every delete-one
refit. The objective is the training objective of :func:`deepwas.train_prior` (the exact
likelihood of the trait's LD model per scored variant) without AdamW's weight decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OptimumFit", "TrainingObjective", "fit_to_optimum"]


@dataclass
class OptimumFit:
    """What :func:`fit_to_optimum` returns.

    Attributes
    ----------
    prior: deepwas.priors.Prior
        The refitted prior (a copy; the starting prior is not changed).
    sigma: float
        The refitted intercept.
    objective: float
        The objective at the optimum (NLL per scored variant of the windows, plus the penalty of
        ``prior_sd``).
    grad_norm: float
        Euclidean norm of the objective's gradient in (the prior's parameters, log sigma) at the
        returned point.
    iterations: int
        L-BFGS iterations run.
    converged: bool
        ``grad_norm <= tol``.
    """

    prior: object
    sigma: float
    objective: float
    grad_norm: float
    iterations: int
    converged: bool


class TrainingObjective:
    """The training objective of a trait's windows, packed once for many refits.

    Parameters
    ----------
    data: deepwas.data.FitData
        The trait and the prior's features (``data.features``, raw, in the prior's order).
    """

    def __init__(self, data) -> None:
        import torch

        from deepwas.fit import TrainConfig, _positions
        from deepwas.linalg.batch import PackedBatches

        self.n_gwas = data.trait.n_gwas
        self.batches = PackedBatches(data.trait.windows)
        self.tensors = {
            "features": torch.from_numpy(np.ascontiguousarray(data.features)),
            "n_scored": [w.n_scored for w in data.trait.windows],
            # for priors that see the neighbourhood (neighbourhood_linear refits to its optimum)
            "positions": _positions(data, "cpu"),
        }
        # exact engine, float64: the objective and its gradient without sampling noise
        self.cfg = TrainConfig(engine="exact", precision="float64")

    def __call__(self, model, log_sigma, windows: list[int]):
        """The objective (a 0-d float64 tensor, differentiable) over ``windows``."""
        from deepwas.fit import _objective_value

        return _objective_value(
            model, log_sigma, self.tensors, windows, self.batches, None, self.cfg, self.n_gwas
        )


def fit_to_optimum(
    objective: TrainingObjective,
    prior,
    sigma: float,
    windows: list[int],
    *,
    tol: float = 1e-7,
    max_iter: int = 500,
    learn_sigma: bool = True,
    prior_sd: float | None = 1.0,
) -> OptimumFit:
    """Refit a prior (and log sigma) to the optimum of the training objective over ``windows``.

    Parameters
    ----------
    objective: TrainingObjective
        The trait's objective (:class:`TrainingObjective`), shared by many refits.
    prior: deepwas.priors.Prior
        The warm start (not changed): its family, standardisation and parameters.
    sigma:
        The starting intercept.
    windows:
        Positions in the trait's windows to fit to.
    tol:
        Stop when the gradient norm (over all parameters and log sigma) is at most ``tol``.
    max_iter:
        The most L-BFGS iterations.
    learn_sigma:
        Refit sigma too (else it stays at ``sigma``).
    prior_sd:
        A Gaussian prior N(0, prior_sd^2) on every parameter of the prior except its output
        bias (for a linear prior: the log-enrichments per standard deviation of each feature):
        the objective is (NLL + sum theta^2 / (2 prior_sd^2)) / n with n the windows' scored
        variants, a penalised (MAP) optimum. None: the plain likelihood, whose optimum can lie
        at infinity (a log-enrichment of -inf for an annotation without signal). A block that
        the family shrinks (``neighbourhood_linear``'s channel weights, precision ``alpha`` > 0)
        keeps its own prior N(0, 1/alpha) (:func:`deepwas.evidence.penalty`), as in training.

    Returns
    -------
    OptimumFit

    Notes
    -----
    A deterministic full-batch L-BFGS (history 20, strong Wolfe line search) from the warm
    start: the same inputs give the same refit. The objective is not convex in the parameters
    of an MLP; from a warm start near an optimum it converges to that optimum.
    """
    import torch

    from deepwas.evidence import penalty
    from deepwas.priors import build_prior

    model = build_prior(prior.config)
    model.load_state_dict(prior.state_dict())
    model = model.to("cpu")
    log_sigma = torch.tensor(math.log(sigma), dtype=torch.float64, requires_grad=learn_sigma)
    params = [p for p in model.parameters() if p.requires_grad]
    if learn_sigma:
        params.append(log_sigma)
    windows = list(windows)
    # a block the family shrinks by empirical Bayes keeps its own prior N(0, 1/alpha)
    shrunk = model.family.shrinkage
    if shrunk is not None and float(model.shrinkage_precision) <= 0:
        shrunk = None  # unshrunk (saved before shrinkage): the common prior_sd instead
    skip = {"bias", shrunk}
    penalised = [p for name, p in model.named_parameters() if name not in skip]
    n_scored = sum(int(objective.tensors["n_scored"][i]) for i in windows)

    def value_of():
        value = objective(model, log_sigma, windows)
        if prior_sd is not None and penalised:
            ridge = sum((p**2).sum() for p in penalised)
            value = value + ridge / (2.0 * prior_sd**2 * max(n_scored, 1))
        if shrunk is not None:
            value = value + penalty(model) / max(n_scored, 1)
        return value

    def closure():
        for p in params:
            p.grad = None
        value = value_of()
        value.backward()
        return value

    def grad_norm() -> float:
        closure()
        return float(torch.sqrt(sum((p.grad**2).sum() for p in params)))

    n_params = sum(p.numel() for p in params)
    iterations = 0
    g = grad_norm()
    # LBFGS stops on the max-norm of the gradient or when a line search makes no progress;
    # restart it (fresh curvature history) until the Euclidean norm is below tol
    for _ in range(10):
        if g <= tol or iterations >= max_iter:
            break
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=max_iter - iterations,
            tolerance_grad=tol / math.sqrt(n_params),
            tolerance_change=0.0,
            history_size=20,
            line_search_fn="strong_wolfe",
        )
        opt.step(closure)
        iterations += int(opt.state[opt._params[0]].get("n_iter", 0))
        g_new = grad_norm()
        progressed = g_new < g
        g = g_new
        if not progressed:
            break
    with torch.no_grad():
        value = float(value_of())
    for p in params:
        p.grad = None
    return OptimumFit(
        prior=model,
        sigma=float(torch.exp(log_sigma.detach())),
        objective=value,
        grad_norm=g,
        iterations=iterations,
        converged=g <= tol,
    )
