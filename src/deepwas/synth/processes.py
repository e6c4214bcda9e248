"""Forward noising processes of the genotype diffusion model, and their losses.

This module owns the continuous-time Markov chains that corrupt genotype tokens, the closed forms
of their uniformised transition matrices, and the two training losses: the schedule-conditioned
ELBO of SCUD (Amin, Gruver & Wilson 2025) and the masking-diffusion (MDLM) loss.

Tokens are a SNP's dosage (0/1/2, ``n_alleles = 3``) or a haplotype's allele (0/1,
``n_alleles = 2``); the masking process adds one absorbing state (index ``n_alleles``).

Every process here is a *rank-one mix toward a law* ``pi_j`` (per SNP ``j``): its generator is
``L_j = 1 pi_j^T - I`` (at rate 1 the token is redrawn from ``pi_j``), and uniformising it with
rate ``r = 1 / a`` gives the event matrix

    K_j = I + L_j / r = (1 - a) I + a 1 pi_j^T,      K_j^S = c_S I + (1 - c_S) 1 pi_j^T,
    c_S = (1 - a)^S,

so ``K^S`` is exact for every ``S`` (no matrix powers; ``0^0 = 1``). The processes differ only in
``pi_j``: ``masking`` (``pi = e_mask``), ``uniform`` (uniform over the alleles) and ``mutation``
(toward the SNP's panel allele frequency ``p_j``: ``(1 - p, p)`` for haplotypes, Hardy-Weinberg
``((1-p)^2, 2p(1-p), p^2)`` for dosages). ``a = 1 - gamma``: ``gamma = 0`` is full schedule
conditioning (every event redraws the token), ``gamma -> 1`` makes events frequent and small and
tends to classical discrete diffusion (the SCUD paper's gamma knob). The derivation of the losses
is in docs/decisions.md ("Synthetic panels (issue 11)").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from deepwas.errors import InputError
from deepwas.synth import PROCESSES

__all__ = [
    "PROCESSES",
    "LogLinearSchedule",
    "ForwardProcess",
    "hwe_law",
    "scud_loss",
    "mdlm_loss",
    "prior_kl",
]

_TINY = 1e-30  # floor inside logarithms of probabilities that may be exactly zero


@dataclass(frozen=True)
class LogLinearSchedule:
    """The integrated rate ``Lambda(t) = -log(1 - (1 - eps) t)`` of the generator, t in [0, 1].

    With ``gamma = 0`` the chance that a token has had no event by time ``t`` is
    ``exp(-Lambda(t)) = 1 - (1 - eps) t`` (MDLM's log-linear schedule); at ``t = 1`` it is ``eps``.
    """

    eps: float = 1e-4

    def integrated(self, t: torch.Tensor) -> torch.Tensor:
        """``Lambda(t) = int_0^t beta``; t: (...,) -> (...,)."""
        return -torch.log1p(-(1.0 - self.eps) * t)

    def rate(self, t: torch.Tensor) -> torch.Tensor:
        """``beta(t) = dLambda/dt = (1 - eps) / (1 - (1 - eps) t)``; t: (...,) -> (...,)."""
        return (1.0 - self.eps) / (1.0 - (1.0 - self.eps) * t)


def hwe_law(af: torch.Tensor, n_alleles: int) -> torch.Tensor:
    """The per-SNP law of a token given the frequency ``af`` of the counted allele.

    Parameters
    ----------
    af: (n_snps,)
        Frequency of the counted allele (A1), in (0, 1).
    n_alleles:
        2 (haplotype allele: ``(1 - p, p)``) or 3 (dosage: Hardy-Weinberg
        ``((1 - p)^2, 2 p (1 - p), p^2)``).

    Returns
    -------
    (n_snps, n_alleles)
    """
    p = af
    if n_alleles == 2:
        return torch.stack([1 - p, p], dim=-1)
    return torch.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], dim=-1)


@dataclass(frozen=True)
class ForwardProcess:
    """One forward process: ``kind`` (:data:`PROCESSES`), token alphabet and gamma knob.

    Parameters
    ----------
    kind:
        ``"masking"``, ``"uniform"`` or ``"mutation"``.
    n_alleles:
        Number of data states ``B``: 3 (dosages) or 2 (haplotype alleles).
    gamma:
        In [0, 1): ``a = 1 - gamma`` is the chance that an event redraws the token (0: full
        schedule conditioning).
    schedule:
        The integrated generator rate ``Lambda(t)``.
    """

    kind: str = "masking"
    n_alleles: int = 3
    gamma: float = 0.0
    schedule: LogLinearSchedule = LogLinearSchedule()

    def __post_init__(self) -> None:
        if self.kind not in PROCESSES:
            raise InputError(
                f"unknown forward process {self.kind!r}",
                column="--process",
                fix="use " + ", ".join(PROCESSES),
            )
        if self.n_alleles not in (2, 3):
            raise InputError(f"n_alleles must be 2 or 3, got {self.n_alleles}")
        if not 0.0 <= self.gamma < 1.0:
            raise InputError(
                f"gamma must be in [0, 1), got {self.gamma}",
                column="--gamma",
                fix="give 0 <= gamma < 1",
            )

    # ---- the chain ----------------------------------------------------------------------------

    @property
    def n_states(self) -> int:
        """Token alphabet size: the alleles, plus the mask state for ``masking``."""
        return self.n_alleles + (self.kind == "masking")

    @property
    def mask_state(self) -> int | None:
        return self.n_alleles if self.kind == "masking" else None

    @property
    def pure_masking(self) -> bool:
        """Masking with gamma 0: every event masks, so a token is masked iff it has events (the
        case of MDLM's loss and of the schedule refresh of the spread sampler)."""
        return self.kind == "masking" and self.gamma == 0.0

    @property
    def mix(self) -> float:
        """``a = 1 - gamma``: each event redraws the token from ``pi`` with this chance."""
        return 1.0 - self.gamma

    @property
    def uniformisation_rate(self) -> float:
        """``r = 1 / a``: events per unit of the generator's integrated rate."""
        return 1.0 / self.mix

    def target(self, af: torch.Tensor) -> torch.Tensor:
        """``pi_j``, where every event moves a token; af: (n_snps,) -> (n_snps, n_states)."""
        n = af.shape[0]
        out = af.new_zeros(n, self.n_states)
        if self.kind == "masking":
            out[:, self.n_alleles] = 1.0
        elif self.kind == "uniform":
            out[:] = 1.0 / self.n_alleles
        else:
            out[:] = hwe_law(af, self.n_alleles)
        return out

    def prior(self, af: torch.Tensor) -> torch.Tensor:
        """The generative model's law of a token before its events, ``rho_j``; the model draws a
        token with ``S`` events at t = 1 from ``rho_j^T K^S`` (``pi_j`` itself for uniform and
        mutation; for masking, Hardy-Weinberg at ``S = 0`` and the mask otherwise).

        af: (n_snps,) -> (n_snps, n_states)
        """
        if self.kind != "masking":
            return self.target(af)
        out = af.new_zeros(af.shape[0], self.n_states)
        out[:, : self.n_alleles] = hwe_law(af, self.n_alleles)
        return out

    def generator(self, af: torch.Tensor) -> torch.Tensor:
        """``L_j = 1 pi_j^T - I``: (n_snps, n_states, n_states)."""
        pi = self.target(af)
        eye = torch.eye(self.n_states, dtype=af.dtype)
        return pi[:, None, :].expand(-1, self.n_states, -1) - eye

    def kernel(self, af: torch.Tensor) -> torch.Tensor:
        """``K_j = I + L_j / r``: (n_snps, n_states, n_states), rows sum to 1."""
        eye = torch.eye(self.n_states, dtype=af.dtype)
        return eye + self.generator(af) / self.uniformisation_rate

    def power_matrix(self, S: torch.Tensor, af: torch.Tensor) -> torch.Tensor:
        """``K_j^S`` in closed form; S: (n_snps,) integer -> (n_snps, n_states, n_states)."""
        c = self._stay(S).to(af.dtype)[:, None, None]
        pi = self.target(af)[:, None, :]
        eye = torch.eye(self.n_states, dtype=af.dtype)
        return c * eye + (1 - c) * pi

    def _stay(self, S: torch.Tensor) -> torch.Tensor:
        """``c_S = (1 - a)^S`` with ``0^0 = 1``."""
        if self.gamma == 0.0:
            return (S == 0).to(torch.float64)
        return torch.pow(torch.tensor(1.0 - self.mix, dtype=torch.float64), S.to(torch.float64))

    def propagate(self, p: torch.Tensor, S: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
        """``p^T K^S`` row by row.

        Parameters
        ----------
        p: (..., n_states)
            Laws (rows summing to 1).
        S: (...,) integer
            Number of events.
        pi: (..., n_states)
            The target law of each token's SNP (:meth:`target`, broadcast).
        """
        c = self._stay(S).to(p.dtype)[..., None]
        return c * p + (1 - c) * pi

    def step_likelihood(
        self, x_next: torch.Tensor, k: torch.Tensor, pi: torch.Tensor
    ) -> torch.Tensor:
        """``(K^k)[:, x_next]``: the chance of reaching ``x_next`` in ``k`` events from each state.

        x_next: (...,) long; k: (...,) integer; pi: (..., n_states) -> (..., n_states)
        """
        c = self._stay(k).to(pi.dtype)[..., None]
        onehot = torch.nn.functional.one_hot(x_next, self.n_states).to(pi.dtype)
        return c * onehot + (1 - c) * torch.gather(pi, -1, x_next[..., None])

    def log_posterior(
        self, p0: torch.Tensor, x_s: torch.Tensor, S: torch.Tensor, pi: torch.Tensor, k=1
    ) -> torch.Tensor:
        """``log q(x^{S-k} = . | x^S = x_s, x^0 ~ p0)``, the law ``k`` events back.

        ``q(i) propto (K^k)[i, x_s] (p0^T K^{S-k})[i]``. Meaningful where ``S >= k``.

        Parameters
        ----------
        p0: (..., n_states)
            Law of the clean token (one-hot for the truth, the denoiser's prediction otherwise).
        x_s: (...,) long
            The token after ``S`` events.
        S: (...,) integer
        pi: (..., n_states)
        k: int or (...,) integer
            Events to undo, ``<= S``.

        Returns
        -------
        (..., n_states)
            Normalised log-probabilities (``-inf`` where impossible).
        """
        k = torch.as_tensor(k, device=S.device).expand_as(S)
        back = self.propagate(p0, (S - k).clamp_min(0), pi)
        joint = self.step_likelihood(x_s, k, pi) * back
        total = joint.sum(-1, keepdim=True)
        # clamped, not -inf: log's gradient at an exact zero would be 0 * inf = NaN
        return torch.log(joint.clamp_min(_TINY)) - torch.log(total.clamp_min(_TINY))

    # ---- forward sampling ----------------------------------------------------------------------

    def expected_events(self, t: torch.Tensor) -> torch.Tensor:
        """``r Lambda(t)``, the Poisson mean of a token's number of events by time ``t``."""
        return self.uniformisation_rate * self.schedule.integrated(t)

    def sample_schedule(
        self, t: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Events per token, ``S ~ Poisson(r Lambda(t))``; t: (batch,) -> (batch, *shape) long."""
        mean = self.expected_events(t.to(torch.float64)).reshape(-1, *([1] * len(shape)))
        return torch.poisson(mean.expand(-1, *shape).contiguous(), generator=generator).long()

    def noise(
        self,
        x0: torch.Tensor,
        S: torch.Tensor,
        pi: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A draw of ``x^S ~ e_{x0}^T K^S``; x0, S: (...,) long; pi: (..., n_states)."""
        onehot = torch.nn.functional.one_hot(x0, self.n_states).to(pi.dtype)
        return sample_categorical(self.propagate(onehot, S, pi), generator)


def sample_categorical(
    probs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One draw per row by the inverse CDF; probs: (..., n) -> (...,) long."""
    u = torch.rand(probs.shape[:-1], generator=generator, dtype=probs.dtype)
    cdf = torch.cumsum(probs, -1)
    cdf = cdf / cdf[..., -1:]
    return (cdf < u[..., None]).sum(-1).clamp_max(probs.shape[-1] - 1)


def _kl_rows(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """``sum_i q_i (log q_i - log p_i)`` with ``0 log 0 = 0``; (..., n) -> (...,)."""
    q = torch.exp(log_q)
    return (q * (log_q - log_p)).sum(-1)


def _data_probs(logits: torch.Tensor, n_states: int) -> torch.Tensor:
    """Softmax over the alleles, zero on the mask state; (..., B) -> (..., n_states)."""
    probs = torch.softmax(logits.to(torch.float64), -1)
    pad = n_states - probs.shape[-1]
    return torch.nn.functional.pad(probs, (0, pad)) if pad else probs


def scud_loss(
    process: ForwardProcess,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    S: torch.Tensor,
    t: torch.Tensor,
    logits: torch.Tensor,
    pi: torch.Tensor,
) -> torch.Tensor:
    """Per-token schedule-conditioned ELBO term (nats), before the mean over t.

    ``S lambda(t) / Lambda(t) * KL(q(x^{S-1} | x^S, x^0) || q(x^{S-1} | x^S, x0_hat))`` where
    ``x0_hat = softmax(logits)``; its mean over ``t ~ U(0, 1)`` and the forward draws, plus
    :func:`prior_kl`, bounds the negative log-likelihood (docs/decisions.md).

    Parameters
    ----------
    process:
        The forward process.
    x0: (batch, n) long
        Clean tokens (alleles).
    x_t: (batch, n) long
        Tokens after ``S`` events.
    S: (batch, n) long
        Events per token.
    t: (batch,)
        Time of each sequence, in (0, 1).
    logits: (batch, n, n_alleles)
        The denoiser's prediction of ``x0``.
    pi: (n, n_states) or (batch, n, n_states)
        Target law of each token's SNP (:meth:`ForwardProcess.target`).

    Returns
    -------
    (batch, n) float64
        Zero where ``S = 0``.
    """
    pi = pi.expand(*x0.shape, -1).to(torch.float64)
    onehot = torch.nn.functional.one_hot(x0, process.n_states).to(torch.float64)
    has = S > 0
    Sk = torch.where(has, S, torch.ones_like(S))  # a harmless value where S = 0
    log_true = process.log_posterior(onehot, x_t, Sk, pi)
    log_pred = process.log_posterior(_data_probs(logits, process.n_states), x_t, Sk, pi)
    kl = _kl_rows(log_true, log_pred)
    t64 = t.to(torch.float64)[:, None]
    # r cancels: events come at r lambda(t), and r Lambda(t) is their Poisson mean
    weight = S.to(torch.float64) * process.schedule.rate(t64) / process.schedule.integrated(t64)
    return torch.where(has, weight * kl, 0.0)


def mdlm_loss(
    process: ForwardProcess,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    logits: torch.Tensor,
) -> torch.Tensor:
    """Per-token masking-diffusion (MDLM) loss (nats), before the mean over t.

    ``-alpha'(t) / (1 - alpha(t)) * 1[x_t = mask] * -log x0_hat[x0]`` with
    ``alpha(t) = exp(-Lambda(t))`` the chance of being unmasked (Sahoo et al. 2024; Shi et al.
    2024). Only for the masking process with ``gamma = 0``.

    x0, x_t: (batch, n) long; t: (batch,); logits: (batch, n, n_alleles) -> (batch, n) float64
    """
    if not process.pure_masking:
        raise ValueError("the MDLM loss is defined for the masking process with gamma = 0")
    t64 = t.to(torch.float64)[:, None]
    lam = process.schedule.integrated(t64)
    weight = process.schedule.rate(t64) * torch.exp(-lam) / -torch.expm1(-lam)
    nll = -torch.log_softmax(logits.to(torch.float64), -1).gather(-1, x0[..., None])[..., 0]
    return torch.where(x_t == process.mask_state, weight * nll, 0.0)


def prior_kl(process: ForwardProcess, af: torch.Tensor, *, tail: float = 1e-12) -> torch.Tensor:
    """The ELBO's prior term per SNP and clean allele:
    ``E_{S ~ Poisson(r Lambda(1))} KL(e_x^T K^S || rho^T K^S)`` (nats).

    af: (n_snps,) -> (n_snps, n_alleles) float64; the Poisson sum is cut where its remaining
    mass is below ``tail``.
    """
    mean = float(process.expected_events(torch.tensor(1.0, dtype=torch.float64)))
    s_max = int(mean + 12 * math.sqrt(mean) + 30)
    S = torch.arange(s_max + 1)
    pmf = (
        torch.distributions.Poisson(torch.tensor(mean, dtype=torch.float64))
        .log_prob(S.double())
        .exp()
    )
    keep = torch.cumsum(pmf.flip(0), 0).flip(0) > tail
    S, pmf = S[keep], pmf[keep]
    af = af.to(torch.float64)
    pi, rho = process.target(af), process.prior(af)  # (n, n_states)
    out = af.new_zeros(af.shape[0], process.n_alleles)
    for x in range(process.n_alleles):
        e = torch.zeros(process.n_states, dtype=torch.float64)
        e[x] = 1.0
        q = process.propagate(
            e.expand(af.shape[0], len(S), -1), S.expand(af.shape[0], -1), pi[:, None]
        )
        p = process.propagate(
            rho[:, None].expand(-1, len(S), -1), S.expand(af.shape[0], -1), pi[:, None]
        )
        kl = _kl_rows(torch.log(q.clamp_min(_TINY)), torch.log(p.clamp_min(_TINY)))
        out[:, x] = (kl * pmf).sum(-1)
    return out
