"""The prior family ``neighbourhood_linear``: the linear prior of a variant's own features and of
fixed summaries of its neighbourhood.

For each decay length ``L`` of :data:`LENGTHS_KB` (those not above the prior's ``window_kb``)
the family adds two kinds of input channels, computed from the standardised features and the
variants' positions:

- **density**: every feature's exponential-kernel mean over the variants of its chromosome
  within ``+-window_kb`` (:func:`deepwas.ssm.window_kernel_mean`, kernel ``exp(-|p_i - p_j| /
  L)``, the variant itself included): how much of a mark, or how high a track, surrounds it;
- **proximity**: for every binary feature (two values on at least 95% of the store's variants),
  ``exp(-d_i / L)`` with ``d_i`` the distance in bp to the nearest variant of the chromosome
  that carries its upper value (0 on such a variant; the channel is 0 beyond ``window_kb``):
  how close the nearest marked element is.

``log s = b + w . x_std + u . z``, ``z`` the channels standardised by their mean and standard
deviation over the store's variants, which :func:`calibrate` stores in the prior's buffers
before training (so that a saved prior recomputes exactly the same inputs). With the lengths
fixed, the prior is linear in fixed inputs: like ``linear`` it trains on the training and
validation windows without early stopping (``PriorFamily.early_stopping`` False).
docs/decisions.md ("neighbourhood_linear") has the derivation and the measurements behind it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from deepwas.ssm import _CHROM_STRIDE, _sorted_segments, window_kernel_mean

__all__ = ["LENGTHS_KB", "calibrate", "channels"]

#: Decay lengths (kb) of the density and proximity channels; those above ``window_kb`` are left
#: out.
LENGTHS_KB = (3.0, 10.0, 30.0, 100.0)
_DTYPE = torch.float64
#: Bytes of standardised channels a prior keeps between calls (:func:`_standardized_channels`),
#: and the largest call (rows) whose channels are kept: a training window's context, not a
#: whole genome's predictions.
CACHE_BYTES = 1 << 30
CACHE_ROWS = 1 << 16


def lengths_bp(window_kb: float) -> list[float]:
    """The decay lengths (bp) a prior with ``window_kb`` uses."""
    return [1000.0 * L for L in LENGTHS_KB if L <= window_kb]


def _nearest_distance(marked: torch.Tensor, pos: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """(n, c) distance (bp) from each variant to the nearest variant of its segment with
    ``marked[:, j]``; inf where the segment has none. ``pos``, ``seg`` sorted by (seg, pos)."""
    key = seg.to(_DTYPE) * _CHROM_STRIDE + pos  # sorted; exact below 2^53
    out = torch.full(marked.shape, float("inf"), dtype=_DTYPE, device=pos.device)
    for j in range(marked.shape[1]):
        at = key[marked[:, j]]
        if at.numel() == 0:
            continue
        i = torch.searchsorted(at, key)
        left = key - at[(i - 1).clamp(min=0)]
        right = at[i.clamp(max=at.numel() - 1)] - key
        left = torch.where(i > 0, left, torch.inf)
        right = torch.where(i < at.numel(), right, torch.inf)
        d = torch.minimum(left, right)
        out[:, j] = torch.where(d < 1e9, d, torch.inf)  # another segment is never near
    return out


def channels(prior, x_std: torch.Tensor, pos: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """The unstandardised density and proximity channels, (n, C), of variants sorted by
    (segment, position). ``C = len(lengths) * 2k``: per length, the k densities then the k
    proximities (0 for a feature that is not binary)."""
    n, k = x_std.shape
    w_bp = 1000.0 * prior.config.window_kb
    lengths = lengths_bp(prior.config.window_kb)
    L = torch.tensor(lengths, dtype=_DTYPE, device=x_std.device).repeat_interleave(k)
    density = window_kernel_mean(x_std.repeat(1, len(lengths)), pos, seg, L, w_bp)
    binary = prior.nb_binary.to(torch.bool)
    marked = (x_std > prior.nb_threshold) & binary
    d = _nearest_distance(marked, pos, seg)  # (n, k)
    near = torch.where(d <= w_bp, 1.0, 0.0).to(_DTYPE)
    out = []
    for m, length in enumerate(lengths):
        out.append(density[:, m * k : (m + 1) * k])
        out.append(torch.exp(-torch.nan_to_num(d, posinf=0.0) / length) * near)
    return torch.cat(out, dim=1)


def build(prior) -> None:
    """``weight`` (k) on the own features, ``nb_weight`` (C) on the channels; buffers
    ``nb_binary``/``nb_threshold`` (k: which features are binary, and the standardised value
    between their two levels) and ``nb_mean``/``nb_scale`` (C: the channels' standardisation),
    set by :func:`calibrate`."""
    k = prior.config.n_inputs
    c = 2 * k * len(lengths_bp(prior.config.window_kb))
    prior.weight = nn.Parameter(torch.empty(k, dtype=_DTYPE))
    prior.nb_weight = nn.Parameter(torch.empty(c, dtype=_DTYPE))
    prior.register_buffer("nb_binary", torch.zeros(k, dtype=_DTYPE))
    prior.register_buffer("nb_threshold", torch.zeros(k, dtype=_DTYPE))
    prior.register_buffer("nb_mean", torch.zeros(c, dtype=_DTYPE))
    prior.register_buffer("nb_scale", torch.ones(c, dtype=_DTYPE))


def reset(prior, normal_) -> None:
    """Weights 0: the constant prior."""
    prior.weight.zero_()
    prior.nb_weight.zero_()


@torch.no_grad()
def calibrate(prior, features: np.ndarray | torch.Tensor, positions) -> None:
    """Set the prior's buffers from the raw ``features`` (n, k) and ``positions`` (n, 2) of the
    store's variants: which features are binary (two values on at least 95% of the variants),
    and the mean and standard deviation of every channel (computed one chromosome at a time; a
    channel without variance, e.g. a non-binary feature's proximity, keeps scale 1 and stays
    0)."""
    x = torch.as_tensor(np.asarray(features), dtype=_DTYPE)
    x_std = prior.standardize(x)
    for j in range(x_std.shape[1]):
        col = x_std[:, j]
        lo, hi = col.min(), col.max()
        # binary: two levels, allowing a few other values (variants without annotations get
        # the column mean, deepwas.data.build_features)
        is_binary = bool(lo < hi) and float(((col == lo) | (col == hi)).double().mean()) >= 0.95
        prior.nb_binary[j] = float(is_binary)
        prior.nb_threshold[j] = (lo + hi) / 2 if is_binary else 0.0
    p = np.asarray(positions, dtype=np.float64)[:, :2]
    order, pos, seg = _sorted_segments(p, len(p), x_std.device)
    xs = x_std[order]
    c = prior.nb_mean.numel()
    total = torch.zeros(c, dtype=_DTYPE)
    total2 = torch.zeros(c, dtype=_DTYPE)
    for s in torch.unique(seg):
        rows = seg == s
        z = channels(prior, xs[rows], pos[rows], seg[rows])
        total += z.sum(0)
        total2 += (z * z).sum(0)
    mean = total / len(p)
    var = (total2 / len(p) - mean * mean).clamp(min=0.0)
    sd = var.sqrt()
    prior.nb_mean.copy_(mean)
    prior.nb_scale.copy_(torch.where(sd > 1e-12, sd, torch.ones_like(sd)))


def forward(prior, x_std: torch.Tensor, positions) -> torch.Tensor:
    """``w . x_i + u . z_i``."""
    n, _ = x_std.shape
    if n == 0:
        return x_std.new_zeros(0)
    order, pos, seg = _sorted_segments(positions, n, x_std.device)
    xs = x_std[order]
    z = _standardized_channels(prior, xs, pos, seg)
    y = xs @ prior.weight + z @ prior.nb_weight
    return torch.empty_like(y).index_copy(0, order, y)


def _standardized_channels(prior, xs: torch.Tensor, pos, seg) -> torch.Tensor:
    """The standardised channels of sorted variants, kept between calls with the same inputs.

    The channels are fixed functions of the standardised features, the positions and the
    prior's buffers, so training, which evaluates the same windows every epoch, computes each
    window's channels once (they cost ~10x the rest of the forward pass). The key is a digest of
    every input; a DNA branch's features (which carry gradients) are never kept. At most
    :data:`CACHE_BYTES` are kept, of calls of at most :data:`CACHE_ROWS` variants."""
    compute = lambda: (channels(prior, xs, pos, seg) - prior.nb_mean) / prior.nb_scale  # noqa: E731
    if xs.requires_grad or xs.shape[0] > CACHE_ROWS:
        return compute()
    h = hashlib.blake2b(digest_size=20)
    for t in (xs, pos, seg, prior.nb_binary, prior.nb_threshold, prior.nb_mean, prior.nb_scale):
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    key = (h.digest(), str(xs.device))
    cache = prior.__dict__.setdefault("_nb_cache", {})
    z = cache.get(key)
    if z is None:
        z = compute()
        used = sum(v.numel() * v.element_size() for v in cache.values())
        if used + z.numel() * z.element_size() <= CACHE_BYTES:
            cache[key] = z
    return z
