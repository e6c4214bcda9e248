"""The feature networks of the ``mlp`` and ``linear_mlp`` prior families, and the input and
output layers every deep family shares (``ssm`` too): build / reset / forward functions that
:mod:`deepwas.priors` registers (its ``Prior`` docstring gives the maths and the
initialisation)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import skip_init

__all__ = [
    "ACTIVATIONS",
    "build_io",
    "reset_io",
    "mlp_build",
    "mlp_reset",
    "mlp_forward",
    "linear_mlp_build",
    "linear_mlp_reset",
    "linear_mlp_forward",
    "plus_linear",
]

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
_DTYPE = torch.float64


class _ResidualBlock(nn.Module):
    """``h -> W2 act(W1 LayerNorm(h))`` (width -> width -> width); the caller adds the skip."""

    def __init__(self, width: int, activation: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, dtype=_DTYPE)
        self.fc1 = skip_init(nn.Linear, width, width, dtype=_DTYPE)
        self.act = ACTIVATIONS[activation]()
        self.fc2 = skip_init(nn.Linear, width, width, dtype=_DTYPE)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(h))))


def build_io(prior, blocks: nn.ModuleList, block_scale: float) -> None:
    """The layers around a deep family's residual ``blocks``: ``input`` (k -> width),
    ``out_norm``, ``out_act`` and the output weights ``weight`` (width)."""
    c, w = prior.config, prior.config.width
    prior.input = skip_init(nn.Linear, c.n_inputs, w, dtype=_DTYPE)
    prior.blocks = blocks
    prior.out_norm = nn.LayerNorm(w, dtype=_DTYPE)
    prior.out_act = ACTIVATIONS[c.activation]()
    prior.weight = nn.Parameter(torch.empty(w, dtype=_DTYPE))
    prior.block_scale = block_scale


def reset_io(prior, normal_) -> None:
    """``W_in ~ N(0, 1/k)`` (``k`` the inputs), input bias 0, output LayerNorm at identity,
    ``w = 0`` (so that the prior starts at its bias)."""
    prior.weight.zero_()
    normal_(prior.input.weight, 1.0 / prior.config.n_inputs)
    prior.input.bias.zero_()
    prior.out_norm.reset_parameters()


def mlp_build(prior) -> None:
    c = prior.config
    blocks = nn.ModuleList(_ResidualBlock(c.width, c.activation) for _ in range(c.depth))
    build_io(prior, blocks, 1.0 / math.sqrt(c.depth))


def mlp_reset(prior, normal_) -> None:
    reset_io(prior, normal_)
    w = prior.config.width
    for block in prior.blocks:
        block.norm.reset_parameters()
        normal_(block.fc1.weight, 2.0 / w)
        block.fc1.bias.zero_()
        normal_(block.fc2.weight, 1.0 / w)
        block.fc2.bias.zero_()


def mlp_forward(prior, x_std: torch.Tensor) -> torch.Tensor:
    return prior.out_act(prior.out_norm(prior._hidden(x_std))) @ prior.weight


def plus_linear(build, reset, forward):
    """The build / reset / forward of a family plus a linear term of the variant's own
    standardised features, ``v . x_std`` (``prior.linear``, 0 at the start): ``linear_mlp`` and
    ``linear_ssm``, whose training starts ``v`` at the fitted linear prior's weights. The
    linear term reads the k features only, not a DNA branch's outputs after them."""

    def build_(prior) -> None:
        build(prior)
        prior.linear = nn.Parameter(torch.empty(prior.config.n_features, dtype=_DTYPE))

    def reset_(prior, normal_) -> None:
        reset(prior, normal_)
        prior.linear.zero_()

    def forward_(prior, x_std: torch.Tensor, *positions) -> torch.Tensor:
        k = prior.config.n_features
        return x_std[:, :k] @ prior.linear + forward(prior, x_std, *positions)

    return build_, reset_, forward_


linear_mlp_build, linear_mlp_reset, linear_mlp_forward = plus_linear(
    mlp_build, mlp_reset, mlp_forward
)
