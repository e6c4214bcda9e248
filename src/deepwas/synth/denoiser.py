"""The denoiser of the genotype diffusion model: a bidirectional gated linear recurrence (a state
space model) along the SNP axis, in pure PyTorch.

This module owns :class:`Denoiser` and its scan :func:`gated_scan`. The network reads, per
token, the noisy token, its number of events ``S`` (the schedule it is conditioned on) and the
SNP's features (panel allele frequency, log base-pair gaps to the neighbouring SNPs, and an
optional learned per-SNP embedding), and returns logits of the clean allele.

Each block is an RG-LRU-style recurrence (De et al. 2024, "Griffin"/Hawk) run forward and
backward along the SNPs (as Caduceus runs Mamba both ways): with ``r_i = sigmoid(W_r h_i)``,

    log a_i = -c r_i softplus(lambda),
    s_i = a_i s_{i-1} + sqrt(1 - a_i^2) (sigmoid(W_x h_i) * v_i)

followed by a gated output projection and a small MLP. Both residual branches of every block are
scaled by ``1 / sqrt(2 depth)`` (the depth scaling of Cohen et al. 2021), so the variance of the
residual stream at initialisation does not grow with depth. The ``sqrt(1 - a^2)`` input scaling
bounds the state's variance for any sequence length, and the decay ``a_i`` depends only on the
local token, so the network applies unchanged to longer chunks than it was trained on.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Denoiser", "gated_scan", "SCAN_CHUNK"]

#: tokens per chunk of the chunked scan
SCAN_CHUNK = 16
_MIN_LOG_A = -4.0  # per-step floor of log a: within a chunk exp(-cumulative) <= e^64 (float32)
_C = 8.0  # RG-LRU's constant c
_MAX_S_EMBED = 15  # schedules above this share an embedding (log1p(S) is also an input)


def gated_scan(log_a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The diagonal linear recurrence ``s_i = a_i s_{i-1} + b_i`` (``s_0 = b_0``) along dim 1.

    Parameters
    ----------
    log_a: (batch, n, c)
        Log decays, in ``[-4, 0]``.
    b: (batch, n, c)
        Inputs.

    Returns
    -------
    (batch, n, c)

    Notes
    -----
    Chunks of :data:`SCAN_CHUNK` tokens: inside a chunk
    ``s_i = exp(A_i) (carry + sum_{j <= i} exp(-A_j) b_j)`` with ``A`` the cumulative log decay
    from the chunk's start (bounded by ``64`` in magnitude, so float32 holds ``exp(-A)``). The
    states at the chunk ends obey the same recurrence, one step per chunk, whose decays (a
    chunk's total, down to ``-64``) are too strong for that trick. When a gradient will be taken
    :func:`_scan_any` runs it without a Python loop over the chunks (a training step of the
    width-32, depth-4 denoiser on 16 x 2,000 tokens: 3.0 s -> 2.1 s on one core, the loop's
    autograd graph being the cost; with ``synth train``'s default 512-SNP chunks, 14.8 ->
    14.0 s per epoch on chr22:16-21.5 Mb); without one (sampling) the loop is the faster (0.6 s
    against 0.7 s for the forward pass). Both equal the sequential recurrence (tested). Cost
    O(n c), memory O(n c).
    """
    batch, n, c = b.shape
    m = -(-n // SCAN_CHUNK)
    pad = m * SCAN_CHUNK - n
    if pad:
        log_a = torch.nn.functional.pad(log_a, (0, 0, 0, pad))
        b = torch.nn.functional.pad(b, (0, 0, 0, pad))
    la = log_a.reshape(batch, m, SCAN_CHUNK, c)
    bc = b.reshape(batch, m, SCAN_CHUNK, c)
    cum = torch.cumsum(la, 2)
    local = torch.exp(cum) * torch.cumsum(torch.exp(-cum) * bc, 2)
    if m == 1:
        out = local
    elif torch.is_grad_enabled() and (log_a.requires_grad or b.requires_grad):
        out = local + torch.exp(cum) * _carries(cum[:, :, -1], local[:, :, -1])
    else:  # a loop over the chunks: faster than _carries without a backward pass (measured)
        decay_in = torch.exp(cum)  # (batch, m, chunk, c): decay from the chunk's start
        total = decay_in[:, :, -1]  # (batch, m, c)
        carries = [b.new_zeros(batch, c)]
        for k in range(m - 1):
            carries.append(total[:, k] * carries[-1] + local[:, k, -1])
        out = local + decay_in * torch.stack(carries, 1)[:, :, None]
    return out.reshape(batch, m * SCAN_CHUNK, c)[:, :n]


def _carries(total: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """The state entering each chunk, (batch, m, 1, c), from each chunk's total log decay and
    its local state at its end (batch, m, c): the chunk ends e_k = exp(total_k) e_{k-1} + last_k
    are a recurrence of their own; chunk k enters with e_{k-1} (chunk 0 with 0)."""
    ends = _scan_any(total, last)
    return torch.cat([ends.new_zeros(ends.shape[0], 1, ends.shape[2]), ends[:, :-1]], 1)[:, :, None]


def _scan_any(log_a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`gated_scan`'s recurrence for log decays of any size (<= 0): inside a chunk
    ``s_i = sum_{j <= i} exp(A_i - A_j) b_j``, every exponent <= 0 (a chunk x chunk product,
    so SCAN_CHUNK times the flops, on sequences SCAN_CHUNK times shorter than the tokens'); the
    chunk ends by recursion."""
    batch, n, c = b.shape
    m = -(-n // SCAN_CHUNK)
    pad = m * SCAN_CHUNK - n
    if pad:  # no decay and no input after the end: the states before it are unchanged
        log_a = torch.nn.functional.pad(log_a, (0, 0, 0, pad))
        b = torch.nn.functional.pad(b, (0, 0, 0, pad))
    cum = torch.cumsum(log_a.reshape(batch, m, SCAN_CHUNK, c), 2)
    lower = torch.ones(SCAN_CHUNK, SCAN_CHUNK, dtype=torch.bool, device=b.device).tril()
    diff = (cum[:, :, :, None] - cum[:, :, None]).masked_fill(~lower[:, :, None], -math.inf)
    local = (torch.exp(diff) * b.reshape(batch, m, 1, SCAN_CHUNK, c)).sum(3)
    out = local if m == 1 else local + torch.exp(cum) * _carries(cum[:, :, -1], local[:, :, -1])
    return out.reshape(batch, m * SCAN_CHUNK, c)[:, :n]


class _RMSNorm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.scale


class _Recurrence(nn.Module):
    """One direction's RG-LRU: gates from the normalised input, a learned decay per channel."""

    def __init__(self, width: int, generator: torch.Generator) -> None:
        super().__init__()
        self.gates = nn.Linear(width, 2 * width)  # recurrence gate r and input gate
        # a^c spread over [0.9, 0.999] at r = 1/2 (Griffin's initialisation of the decay)
        lo, hi = 0.9, 0.999
        u = torch.rand(width, generator=generator)
        a = lo + (hi - lo) * u
        # softplus(lam) = -log(a) / (c/2)  =>  lam = log(expm1(-log(a) * 2 / c))
        self.lam = nn.Parameter(torch.log(torch.expm1(-torch.log(a) * 2 / _C)))

    def forward(self, h: torch.Tensor, v: torch.Tensor, *, reverse: bool) -> torch.Tensor:
        if reverse:
            h, v = h.flip(1), v.flip(1)
        r, i = torch.sigmoid(self.gates(h)).chunk(2, -1)
        log_a = (-_C * r * torch.nn.functional.softplus(self.lam)).clamp_min(_MIN_LOG_A)
        norm = torch.sqrt(-torch.expm1(2 * log_a).clamp_max(-1e-12))  # sqrt(1 - a^2)
        s = gated_scan(log_a, norm * i * v)
        return s.flip(1) if reverse else s


class _Block(nn.Module):
    def __init__(self, width: int, branch_scale: float, generator: torch.Generator) -> None:
        super().__init__()
        self.norm1 = _RMSNorm(width)
        self.inp = nn.Linear(width, 2 * width)  # value v and output gate g
        self.fwd = _Recurrence(width, generator)
        self.bwd = _Recurrence(width, generator)
        self.out = nn.Linear(2 * width, width)
        self.norm2 = _RMSNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )
        self.branch_scale = branch_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        v, g = self.inp(h).chunk(2, -1)
        mixed = torch.cat([self.fwd(h, v, reverse=False), self.bwd(h, v, reverse=True)], -1)
        gate = torch.nn.functional.gelu(torch.cat([g, g], -1))
        x = x + self.branch_scale * self.out(mixed * gate)
        return x + self.branch_scale * self.mlp(self.norm2(x))


class Denoiser(nn.Module):
    """Predicts the clean allele of every token from the noisy sequence and its schedule.

    Parameters
    ----------
    n_states:
        Token alphabet (alleles, + 1 for the mask state).
    n_alleles:
        Output classes.
    width, depth:
        Channels and number of bidirectional blocks.
    n_snps:
        Size of the learned per-SNP embedding (0: none); its rows are indexed by the SNP's index
        in the training panel.
    snp_tokens:
        Also learn, per SNP, an embedding of each token state and a read-out (both zero at
        initialisation): which allele of a SNP travels with which of its neighbours is specific
        to the pair, and a shared token embedding has to build it in the blocks.
    seed:
        Seed of the initialisation.
    """

    def __init__(
        self,
        *,
        n_states: int,
        n_alleles: int,
        width: int = 64,
        depth: int = 4,
        n_snps: int = 0,
        snp_tokens: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # nn.Linear's own initialisation
        try:
            self.token = nn.Embedding(n_states, width)
            self.events = nn.Embedding(_MAX_S_EMBED + 1, width)
            self.features = nn.Linear(7, width)  # see _snp_features
            self.snp = nn.Embedding(n_snps, width) if n_snps else None
            if self.snp is not None:
                nn.init.zeros_(self.snp.weight)
            # per-SNP tables: each SNP's own embedding of each token state, and its own read-out
            per_snp = snp_tokens and n_snps > 0
            self.snp_token = nn.Parameter(torch.zeros(n_snps, n_states, width)) if per_snp else None
            self.snp_head = nn.Parameter(torch.zeros(n_snps, width, n_alleles)) if per_snp else None
            scale = 1.0 / math.sqrt(2 * depth)
            self.blocks = nn.ModuleList(_Block(width, scale, gen) for _ in range(depth))
            self.norm = _RMSNorm(width)
            self.head = nn.Linear(width, n_alleles)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        finally:
            torch.random.set_rng_state(torch_state)
        self.n_alleles = n_alleles

    @staticmethod
    def snp_features(af: torch.Tensor, bp: torch.Tensor) -> torch.Tensor:
        """Per-SNP inputs: allele frequency transforms and log gaps to the neighbours.

        af: (n,) float; bp: (n,) float (base pairs) -> (n, 7) float32
        """
        p = af.to(torch.float32).clamp(1e-4, 1 - 1e-4)
        gap = torch.diff(bp.to(torch.float64)).clamp_min(0).to(torch.float32)
        lg = torch.log1p(gap / 1000.0)
        before = torch.cat([lg.new_full((1,), 5.0), lg])
        after = torch.cat([lg, lg.new_full((1,), 5.0)])
        return torch.stack(
            [
                p,
                torch.sqrt(p * (1 - p)),
                torch.log(p / (1 - p)) / 4,
                before / 4,
                after / 4,
                (p - 0.5) ** 2,
                torch.ones_like(p),
            ],
            -1,
        )

    def forward(
        self,
        x: torch.Tensor,
        S: torch.Tensor,
        features: torch.Tensor,
        log_prior: torch.Tensor,
        snp_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of the clean allele.

        Parameters
        ----------
        x: (batch, n) long
            Noisy tokens.
        S: (batch, n) long
            Events per token.
        features: (n, 7) or (batch, n, 7)
            :meth:`snp_features` of the chunk's SNPs.
        log_prior: (n, n_alleles) or (batch, n, n_alleles)
            Log Hardy-Weinberg law of each SNP: the logits at initialisation.
        snp_index: (n,) or (batch, n) long, optional
            Index of each SNP in the training panel (for the per-SNP embedding).

        Returns
        -------
        (batch, n, n_alleles) float32
        """
        s = S.clamp_max(_MAX_S_EMBED)
        h = self.token(x) + self.events(s) + self.features(features)
        if snp_index is not None:
            if self.snp is not None:
                h = h + self.snp(snp_index)
            if self.snp_token is not None:
                h = h + self.snp_token[snp_index.expand_as(x), x]
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        logits = self.head(h) + log_prior.to(h.dtype)
        if snp_index is not None and self.snp_head is not None:
            w = self.snp_head[snp_index]  # (n, width, B) or (batch, n, width, B)
            logits = logits + torch.einsum("...nw,...nwb->...nb", h, w)
        return logits
