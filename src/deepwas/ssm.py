"""The neighbourhood prior family ``ssm``: a bidirectional state-space stack over the variant
sequence, whose per-step decay depends on the base-pair gap between consecutive variants.

This module owns the scan (:func:`decayed_cumsum`, :func:`window_kernel_mean`), the family's
build / reset / forward functions (registered in :mod:`deepwas.priors` as ``"ssm"``, and with a
linear term of the variant's own features as ``"linear_ssm"``) and
:func:`variant_positions`, the ``(CHR, BP)`` array every caller passes as ``positions``.
docs/decisions.md ("The neighbourhood prior ssm") derives the design; in short, with
``w = window_kb / depth`` kb:

- a variant's output depends exactly on the variants of its chromosome within ``+-window_kb``
  (each of the ``depth`` blocks mixes within a hard window of ``+-w``), and on nothing else, so
  it is the same (to float rounding) in a window's context as in a whole-chromosome pass;
- each block mixes channel ``m`` of its neighbours by the two-sided exponential kernel
  ``exp(-|p_i - p_j| / L_m)`` normalised to a weighted mean (``L_m`` learned, in bp);
- the scan is linear in the sequence length: chunks of :data:`CHUNK` variants, each a small dense
  lower-triangular product, and the chunk ends by the same scan recursively.

Everything is float64; positions never need gradients.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import skip_init

from deepwas.errors import InputError

__all__ = [
    "CHUNK",
    "decayed_cumsum",
    "evaluation_window",
    "window_kernel_mean",
    "variant_positions",
]

#: Variants per chunk of the chunked scan (memory n * CHUNK * channels per scan).
CHUNK = 8
_DTYPE = torch.float64
_L_MIN_BP = 500.0  # shortest decay length a channel can learn
_L_MAX_PER_W = 4.0  # longest, as a multiple of the per-block window w
_FAR = 1e18  # bp; exp(-_FAR / L) underflows to 0 for any L this module allows
_CHROM_STRIDE = 1e10  # key = segment * stride + bp: exact in float64 for bp < 1e10


def variant_positions(table: pd.DataFrame, *, file=None) -> np.ndarray:
    """The ``(CHR, BP)`` of each row of a variant table, as the ``positions`` of a prior.

    Parameters
    ----------
    table: (n, >=2)
        A variant table with columns ``CHR`` and ``BP`` (integers; ``chr``-prefixed chromosome
        names and X/Y/MT are mapped to 23/24/25/26 only for ordering).
    file:
        The file to name in error messages.

    Returns
    -------
    (n, 2) float64
        Chromosome code and base-pair position.

    Raises
    ------
    InputError
        A column is missing, or a value is missing or not a non-negative integer.
    """
    out = np.empty((len(table), 2), dtype=np.float64)
    for j, col in enumerate(("CHR", "BP")):
        if col not in table:
            raise InputError(
                f"a neighbourhood prior needs variant positions but the table has no {col}",
                file=file,
                column=col,
                fix="pass annotations (or a store) with CHR and BP columns",
            )
        values = table[col]
        if col == "CHR" and not pd.api.types.is_numeric_dtype(values):
            s = values.astype(str).str.upper().str.removeprefix("CHR")
            values = s.replace({"X": "23", "Y": "24", "XY": "25", "MT": "26", "M": "26"})
        v = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{int(bad.sum())} variants without a valid {col} (first at row {i + 1}: "
                f"{table[col].iloc[i]!r})",
                file=file,
                row=i + 1,
                column=col,
                fix=f"give every variant an integer {col}",
            )
        out[:, j] = v
    return out


# --------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------


def decayed_cumsum(
    x: torch.Tensor, pos: torch.Tensor, seg: torch.Tensor, length: torch.Tensor
) -> torch.Tensor:
    """The linear recurrence ``S_i = a_i S_{i-1} + x_i`` with ``a_i = exp(-(p_i - p_{i-1}) / L)``
    within a segment and ``a_i = 0`` at a segment's first element, by a chunked scan.

    Parameters
    ----------
    x: (n, c) float64
        Inputs.
    pos: (n,) float64
        Positions (bp), non-decreasing within each segment.
    seg: (n,) int64
        Segment (chromosome) of each element; equal segments are contiguous.
    length: (c,) float64
        Decay length ``L`` of each channel (bp, > 0).

    Returns
    -------
    S: (n, c) float64
        ``S_i = sum_{j <= i, seg_j = seg_i} exp(-(p_i - p_j) / L) x_j``.

    Notes
    -----
    Chunks of :data:`CHUNK` elements. Inside a chunk the local sums are
    ``sum_j M_ij exp(-(p_i - p_j)/L) x_j`` (``M`` the lower-triangular same-segment mask),
    computed as ``exp(-a_i) sum_j M_ij exp(a_j) x_j`` with ``a = (p - p_first)/L`` measured from
    the first element of the element's segment in the chunk (2 n c exponentials) when every
    ``a <= 600`` (no overflow), else from the dense (chunk, chunk, c) matrix of decays. The
    states at the chunk ends obey the same recurrence between chunk ends, solved by calling this
    function on them; each element then adds the state entering its chunk, decayed from the
    previous chunk end. Decays come from differences of positions, never from cumulative sums of
    exponents over the whole sequence. Cost O(n CHUNK c).
    """
    n, c = x.shape
    if n == 0:
        return x
    m = -(-n // CHUNK)
    pad = m * CHUNK - n
    if pad:
        # padding: a segment of its own, at the last position, contributes and receives nothing
        x = torch.cat([x, x.new_zeros(pad, c)])
        pos = torch.cat([pos, pos[-1:].expand(pad)])
        seg = torch.cat([seg, seg.new_full((pad,), int(seg.max()) + 1)])
    xc, pc, sc = x.view(m, CHUNK, c), pos.view(m, CHUNK), seg.view(m, CHUNK)
    tri = torch.ones(CHUNK, CHUNK, dtype=torch.bool, device=x.device).tril()
    keep = tri & (sc[:, :, None] == sc[:, None, :])  # (m, i, j)
    # first element of each element's segment within the chunk
    arange = torch.arange(CHUNK, device=x.device).expand(m, CHUNK)
    starts = torch.ones_like(sc, dtype=torch.bool)
    starts[:, 1:] = sc[:, 1:] != sc[:, :-1]
    first = torch.cummax(torch.where(starts, arange, 0), dim=1).values
    offset = pc - torch.gather(pc, 1, first)  # (m, CHUNK), >= 0
    inv_len = 1.0 / length
    if float(offset.max()) * float(inv_len.detach().max()) <= 600.0:
        a = offset[..., None] * inv_len  # (m, CHUNK, c) in [0, 600]
        local = torch.exp(-a) * torch.matmul(keep.to(x.dtype), torch.exp(a) * xc)
    else:
        # (m, i, j): p_i - p_j, and a distance so large that exp(-d/L) == 0 (with a zero, not
        # NaN, derivative in L) where j may not reach i
        diff = torch.where(keep, pc[:, :, None] - pc[:, None, :], _FAR)
        local = torch.einsum("mijc,mjc->mic", torch.exp(diff[..., None] * -inv_len), xc)
    if m > 1:
        ends = local[:, -1]  # (m, c): chunk-local state at each chunk end
        pe, se = pc[:, -1], sc[:, -1]
        full_ends = decayed_cumsum(ends, pe, se, length)
        same = sc[1:] == se[:-1, None]  # (m-1, CHUNK): i continues the previous end's segment
        gap = torch.where(same, pc[1:] - pe[:-1, None], _FAR)
        carry = torch.exp(gap[..., None] * -inv_len) * full_ends[:-1, None, :]
        local = torch.cat([local[:1], local[1:] + carry])
    return local.reshape(m * CHUNK, c)[:n]


def _one_sided_window(
    x: torch.Tensor,
    pos: torch.Tensor,
    chrom: torch.Tensor,
    run: torch.Tensor,
    length: torch.Tensor,
    w: float,
) -> torch.Tensor:
    """``sum_{j <= i, same chromosome, p_i - p_j <= w} exp(-(p_i - p_j)/L) x_j``: the scan over
    ``run`` segments minus everything that reached ``i`` through the last element ``k`` of its
    chromosome with ``p_k < p_i - w`` (when ``k`` is in another run, nothing reached ``i``)."""
    S = decayed_cumsum(x, pos, run, length)
    key = chrom.to(_DTYPE) * _CHROM_STRIDE + pos  # sorted; exact (integers below 2^53)
    k = torch.searchsorted(key, key - w, side="left") - 1
    kk = k.clamp(min=0)
    has = (k >= 0) & (run[kk] == run)
    gap = torch.where(has, pos - pos[kk], _FAR)
    return S - torch.exp(gap[:, None] * (-1.0 / length)) * S[kk]


def window_kernel_mean(
    x: torch.Tensor, pos: torch.Tensor, seg: torch.Tensor, length: torch.Tensor, w: float
) -> torch.Tensor:
    """Two-sided, windowed, normalised exponential kernel of each channel.

    Parameters
    ----------
    x: (n, c) float64
    pos: (n,) float64
        Positions (bp, integers), sorted within each segment.
    seg: (n,) int64
        Segment (chromosome) of each element, non-decreasing, below 10^5.
    length: (c,) float64
        Decay length of each channel (bp).
    w: float
        Half-width of the window (bp): elements with ``|p_i - p_j| > w`` do not interact.

    Returns
    -------
    (n, c) float64
        ``sum_j k_ij x_j / sum_j k_ij`` with ``k_ij = exp(-|p_i - p_j| / L)`` for ``j`` in the
        segment of ``i`` and ``|p_i - p_j| <= w``, else 0 (``k_ii = 1``, so the mass is >= 1).

    Notes
    -----
    The scans run over *runs*: a segment is cut wherever two consecutive elements are more
    than ``w`` apart (no pair of elements across such a gap interacts), which keeps the offsets
    inside a chunk small and the chunked scan on its cheaper path
    (:func:`decayed_cumsum`).
    """
    n, c = x.shape
    if n == 0:
        return x
    cut = torch.ones(n, dtype=torch.bool, device=x.device)
    cut[1:] = (seg[1:] != seg[:-1]) | (pos[1:] - pos[:-1] > w)
    run = torch.cumsum(cut, 0)
    both = torch.cat([x, x.new_ones(n, c)], dim=1)  # values, and the kernel mass
    L2 = torch.cat([length, length])
    fwd = _one_sided_window(both, pos, seg, run, L2, w)

    def rev(t: torch.Tensor) -> torch.Tensor:
        return torch.flip(t, (0,))

    bwd = rev(_one_sided_window(rev(both), -rev(pos), -rev(seg), -rev(run), L2, w))
    total = fwd + bwd - both  # the element itself was counted in both directions
    return total[:, :c] / total[:, c:]


# --------------------------------------------------------------------------------------------
# The family (registered in deepwas.priors)
# --------------------------------------------------------------------------------------------


class _SSMBlock(nn.Module):
    """Hawk's residual block: a temporal-mixing sub-block
    ``h -> h + s W_o (K(W_v LN(h)) * act(W_g LN(h)))`` then a per-variant MLP sub-block
    ``h -> h + s W_2 act(W_1 LN(h))``, with ``s = (2 depth)^(-1/2)``."""

    def __init__(self, width: int, act: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, dtype=_DTYPE)
        self.value = skip_init(nn.Linear, width, width, dtype=_DTYPE)
        self.gate = skip_init(nn.Linear, width, width, dtype=_DTYPE)
        self.act = act
        self.out = skip_init(nn.Linear, width, width, dtype=_DTYPE)
        # log decay length = lo + (hi - lo) sigmoid(theta)
        self.theta = nn.Parameter(torch.empty(width, dtype=_DTYPE))
        self.norm2 = nn.LayerNorm(width, dtype=_DTYPE)
        self.fc1 = skip_init(nn.Linear, width, width, dtype=_DTYPE)
        self.fc2 = skip_init(nn.Linear, width, width, dtype=_DTYPE)

    def lengths(self, w_bp: float) -> torch.Tensor:
        lo, hi = _log_length_range(w_bp)
        return torch.exp(lo + (hi - lo) * torch.sigmoid(self.theta))

    def forward(self, h, pos, seg, w_bp: float, scale: float, reach_bp: float) -> torch.Tensor:
        """``w_bp``: the trained window, which sets the decay lengths; ``reach_bp``: the hard
        window the kernel is cut at (``w_bp`` but under :func:`evaluation_window`)."""
        u = self.norm(h)
        mixed = window_kernel_mean(self.value(u), pos, seg, self.lengths(w_bp), reach_bp)
        h = h + scale * self.out(mixed * self.act(self.gate(u)))
        return h + scale * self.fc2(self.act(self.fc1(self.norm2(h))))


def _log_length_range(w_bp: float) -> tuple[float, float]:
    """log of the shortest and longest decay length of a block with window ``w_bp``: from
    ``max(500 bp, w/50)`` (so that a chunk of 8 variants within one run spans at most 350
    decay lengths, :func:`decayed_cumsum`'s cheap path) to ``4 w`` (a near-box kernel)."""
    return math.log(max(_L_MIN_BP, w_bp / 50.0)), math.log(_L_MAX_PER_W * w_bp)


def block_window_bp(prior) -> float:
    """The hard window of each block, ``1000 window_kb / depth`` bp."""
    return 1000.0 * prior.config.window_kb / prior.config.depth


@contextmanager
def evaluation_window(prior, window_kb: float) -> Iterator[None]:
    """Within the block, ``prior`` (an ``ssm`` prior) sees ``+-window_kb`` instead of its
    configured window, with the decay lengths it learned unchanged: each block's kernel is cut
    at ``window_kb / depth`` instead of ``config.window_kb / depth``. For measuring length
    extrapolation (a prior trained on +-50 kb evaluated on +-500 kb, issue 12); the prior and
    its saved configuration are not changed."""
    if not prior.family.uses_positions:
        raise ValueError(f"evaluation_window needs an ssm prior, got {prior.config.model!r}")
    if not (math.isfinite(window_kb) and window_kb > 0):
        raise ValueError(f"window_kb must be positive and finite, got {window_kb}")
    prior._reach_kb = float(window_kb)
    try:
        yield
    finally:
        del prior._reach_kb


def ssm_build(prior) -> None:
    """Add the ``ssm`` family's modules to ``prior`` (docs/decisions.md, "The neighbourhood
    prior ssm")."""
    from deepwas.networks import ACTIVATIONS, build_io

    c = prior.config
    blocks = nn.ModuleList(_SSMBlock(c.width, ACTIVATIONS[c.activation]()) for _ in range(c.depth))
    build_io(prior, blocks, 1.0 / math.sqrt(2 * c.depth))  # 2 residual sub-blocks per block


def ssm_reset(prior, normal_) -> None:
    """``W_in ~ N(0, 1/k)``; per block ``W_v, W_o, W_2 ~ N(0, 1/width)``, ``W_g, W_1 ~
    N(0, 2/width)``, biases 0, decay lengths log-spaced over [1 kb, w] across channels;
    ``w_out = 0``."""
    from deepwas.networks import reset_io

    reset_io(prior, normal_)
    width = prior.config.width
    w_bp = block_window_bp(prior)
    lo, hi = _log_length_range(w_bp)
    start = torch.linspace(max(lo, math.log(1000.0)), math.log(w_bp), width, dtype=_DTYPE)
    frac = ((start - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
    for block in prior.blocks:
        block.norm.reset_parameters()
        for lin, var in ((block.value, 1.0), (block.gate, 2.0), (block.out, 1.0)):
            normal_(lin.weight, var / width)
            lin.bias.zero_()
        block.theta.copy_(torch.log(frac) - torch.log1p(-frac))
        block.norm2.reset_parameters()
        normal_(block.fc1.weight, 2.0 / width)
        block.fc1.bias.zero_()
        normal_(block.fc2.weight, 1.0 / width)
        block.fc2.bias.zero_()


def _sorted_segments(positions, n: int, device) -> tuple[torch.Tensor, ...]:
    p = positions.detach().cpu().numpy() if isinstance(positions, torch.Tensor) else positions
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] > 2:  # a DNA branch's columns follow CHR and BP
        p = p[:, :2]
    if p.shape != (n, 2) or not np.isfinite(p).all():
        raise InputError(
            f"positions must be a finite (n_variants, 2) array of CHR and BP, got shape "
            f"{p.shape} for {n} variants",
            column="positions",
            fix="pass deepwas.ssm.variant_positions(variants) of the same rows",
        )
    order = np.lexsort((p[:, 1], p[:, 0]))  # by CHR, then BP; stable
    _, seg = np.unique(p[order, 0], return_inverse=True)
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return as_t(order), as_t(p[order, 1]), as_t(seg.astype(np.int64))


def ssm_forward(prior, x_std: torch.Tensor, positions) -> torch.Tensor:
    """(n, k) standardised features and (n, 2) positions -> (n,) departure from the bias."""
    n = x_std.shape[0]
    if n == 0:
        return x_std.new_zeros(0)
    order, pos, seg = _sorted_segments(positions, n, x_std.device)
    w_bp = block_window_bp(prior)
    reach_kb = getattr(prior, "_reach_kb", None)  # evaluation_window
    reach_bp = w_bp if reach_kb is None else 1000.0 * reach_kb / prior.config.depth
    h = prior.input(x_std[order])
    for block in prior.blocks:
        h = block(h, pos, seg, w_bp, prior.block_scale, reach_bp)
    y = prior.out_act(prior.out_norm(h)) @ prior.weight
    return torch.empty_like(y).index_copy(0, order, y)


# --------------------------------------------------------------------------------------------
# The family kernel_linear: the linear prior plus one linear, bidirectional scan layer
# --------------------------------------------------------------------------------------------

#: Decay lengths (kernels) of a ``kernel_linear`` prior.
KERNELS = 4


def kernel_linear_build(prior) -> None:
    """``weight`` (k) on the variant's own features, ``mix`` (KERNELS, k) on their
    neighbourhood means, ``theta`` (KERNELS): the log decay lengths through a sigmoid."""
    k = prior.config.n_inputs
    prior.weight = nn.Parameter(torch.empty(k, dtype=_DTYPE))
    prior.mix = nn.Parameter(torch.empty(KERNELS, k, dtype=_DTYPE))
    prior.theta = nn.Parameter(torch.empty(KERNELS, dtype=_DTYPE))


def kernel_linear_reset(prior, normal_) -> None:
    """Weights 0 (the constant prior), decay lengths log-spaced over [1 kb, window]."""
    prior.weight.zero_()
    prior.mix.zero_()
    w_bp = 1000.0 * prior.config.window_kb
    lo, hi = _log_length_range(w_bp)
    start = torch.linspace(max(lo, math.log(1000.0)), math.log(w_bp), KERNELS, dtype=_DTYPE)
    frac = ((start - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
    prior.theta.copy_(torch.log(frac) - torch.log1p(-frac))


def kernel_linear_lengths(prior) -> torch.Tensor:
    """The decay length of each kernel (bp)."""
    lo, hi = _log_length_range(1000.0 * prior.config.window_kb)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(prior.theta))


def kernel_linear_forward(prior, x_std: torch.Tensor, positions) -> torch.Tensor:
    """``w . x_i + sum_m u_m . K_m(x)_i``: ``K_m`` the two-sided exponential kernel mean of the
    features over the variants within ``+-window_kb`` (:func:`window_kernel_mean`, decay
    length ``L_m``)."""
    n, k = x_std.shape
    if n == 0:
        return x_std.new_zeros(0)
    order, pos, seg = _sorted_segments(positions, n, x_std.device)
    reach_kb = getattr(prior, "_reach_kb", None)  # evaluation_window
    reach_bp = 1000.0 * (prior.config.window_kb if reach_kb is None else reach_kb)
    xs = x_std[order]
    lengths = kernel_linear_lengths(prior).repeat_interleave(k)  # (KERNELS k,)
    means = window_kernel_mean(xs.repeat(1, KERNELS), pos, seg, lengths, reach_bp)
    y = xs @ prior.weight + means @ prior.mix.reshape(-1)
    return torch.empty_like(y).index_copy(0, order, y)
