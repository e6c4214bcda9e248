"""Prior families f_theta: variant features -> log per-SNP heritability (log SNPVAR).

This module owns the networks that map a variant's annotations (and, optionally, its allele
frequency) to ``log s``, the log of its prior variance on the standardised-effect scale (DESIGN
Section 2), together with their configuration and standardisation of features (the on-disk format
of a trained prior is :mod:`deepwas.prior_files`). It knows nothing about LD, likelihoods or
files.

The families are registered in :data:`PRIOR_FAMILIES` (a :class:`PriorFamily` each: name,
description, and how its parameters are built, initialised and applied). The registry is the one
list of families: ``PriorConfig`` and ``TrainConfig`` check ``model`` against it, and
``deepwas fit --model``, the demo and the benchmarks take their choices from it. They share one
output convention, ``log s = b + w . phi(x_std)``:

``constant``
    ``log s = b``: one parameter, the baseline every learned prior is compared against.
``linear``
    ``phi(x_std) = x_std``: the log-link linear prior (the model family of S-LDSC/PolyFun with a
    log link). ``w`` starts at zero.
``mlp``
    ``phi`` is a pre-norm residual MLP (see :class:`Prior`). ``w`` starts at zero, so an
    untrained MLP *is* the constant prior ``init_log_snpvar`` and training moves away from it
    smoothly.
``ssm``
    ``phi`` also sees the genomic neighbourhood: a bidirectional state-space stack over the
    variants sorted by position (:mod:`deepwas.ssm`); it needs the variants' ``positions``.

Decisions
---------
- Features enter raw; each prior standardises them with the mean and population standard
  deviation fitted on the training variants (:func:`fit_standardization`), stored in its config
  and as buffers, so a saved prior applies to new variants without extra state.
- Allele frequency enters as the ordinary feature ``"log_2pq"`` (:func:`log_2pq`). Its learned
  linear weight is the alpha model of Schoech et al. (2019, Nat Commun 10:790),
  ``s proportional to (2p(1-p))^(1+alpha)``: with standardisation,
  ``1 + alpha = w_log_2pq / scale_log_2pq``.
- Missing feature values are the caller's business: a NaN feature gives a NaN ``log s``.
- Initialisation is deterministic from a seed and uses a local :class:`torch.Generator`; the
  global torch RNG is never touched.
- Everything is float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from deepwas._validation import Interval, Options, validate
from deepwas.errors import InputError
from deepwas.features import fit_standardization, log_2pq  # re-exported: part of this API
from deepwas.networks import (
    ACTIVATIONS,
    linear_mlp_build,
    linear_mlp_forward,
    linear_mlp_reset,
    mlp_build,
    mlp_forward,
    mlp_reset,
)

__all__ = [
    "check_features",
    "MODELS",
    "PRIOR_FAMILIES",
    "PriorFamily",
    "ACTIVATIONS",
    "PriorConfig",
    "Prior",
    "build_prior",
    "fit_standardization",
    "log_2pq",
]

_METADATA_KEYS = ("format", "version", "n_params", "provenance")
_DTYPE = torch.float64


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorConfig:
    """Everything needed to rebuild a prior except its weights.

    Parameters
    ----------
    model:
        A registered family: ``"constant"``, ``"linear"``, ``"mlp"``, ``"linear_mlp"``,
        ``"ssm"`` or ``"linear_ssm"``.
    feature_names: (k,)
        Names of the feature columns, in order (annotations, and ``"log_2pq"`` if allele
        frequency is used). May be empty for ``"constant"`` only.
    feature_mean: (k,)
        Mean of each feature over the training variants.
    feature_scale: (k,)
        Population standard deviation of each feature over the training variants (> 0).
    width:
        Hidden width of the MLP (ignored by the other families).
    depth:
        Number of residual blocks of the MLP (ignored by the other families).
    init_log_snpvar:
        The output bias ``b`` at initialisation, natural log of a per-SNP heritability; the
        caller sets it to the best constant prior's ``log s``.
    activation:
        ``"gelu"`` (exact), ``"relu"``, ``"silu"`` or ``"tanh"``.
    window_kb:
        The receptive field of a position-using family (``ssm``): its output for a variant
        depends on the variants within +-``window_kb`` kb only. Not written to ``config.json``
        by the other families (their folders are unchanged), and 100 when absent.
    sequence:
        None, or the DNA branch (:mod:`deepwas.sequence`): a reverse-complement-invariant
        encoder of the ``flank_bp`` bases each side of the variant, read from the reference
        ``fasta``, whose ref-vs-alt difference (``out_dim`` values) joins the standardised
        features as input of any family but ``constant``. Keys ``fasta``, ``flank_bp``,
        ``channels``, ``kernel``, ``layers``, ``out_dim``
        (:func:`deepwas.sequence.sequence_spec` fills and checks them). Not written to
        ``config.json`` when None.

    Raises
    ------
    InputError
        On construction, naming the offending key, when a value is invalid: an unknown model or
        activation, ``width`` or ``depth`` below 1, lengths of the feature tuples that disagree,
        duplicate names, a non-finite mean or a scale that is not finite and positive, or no
        features for a ``linear``/``mlp`` prior. Sequences are normalised to tuples of ``str``
        and ``float``.
    """

    model: str
    feature_names: tuple[str, ...]
    feature_mean: tuple[float, ...]
    feature_scale: tuple[float, ...]
    width: int = 64
    depth: int = 4
    init_log_snpvar: float = -12.0
    activation: str = "gelu"
    window_kb: float = 100.0
    sequence: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        def bad(key: str, message: str, fix: str) -> InputError:
            return InputError(message, column=key, fix=fix)

        # errors name the key of the model's config.json, not a CLI flag
        validate(self.__dict__, _PRIOR_CONSTRAINTS, where="PriorConfig", as_flags=False)
        for key in ("width", "depth"):
            object.__setattr__(self, key, int(getattr(self, key)))
        object.__setattr__(self, "init_log_snpvar", float(self.init_log_snpvar))
        object.__setattr__(self, "window_kb", float(self.window_kb))
        if self.sequence is not None:
            from deepwas.sequence import sequence_spec

            if self.model == "constant":
                raise bad("sequence", "the constant prior reads no inputs", "drop the sequence")
            object.__setattr__(self, "sequence", sequence_spec(self.sequence))

        names = self._as_tuple("feature_names", str)
        mean = self._as_tuple("feature_mean", float)
        scale = self._as_tuple("feature_scale", float)
        if not all(isinstance(n, str) for n in names):
            raise bad("feature_names", "feature names must be strings", "pass a list of names")
        for key, values in (("feature_mean", mean), ("feature_scale", scale)):
            if len(values) != len(names):
                raise bad(
                    key,
                    f"has {len(values)} values but there are {len(names)} feature_names",
                    "give one value per feature (see fit_standardization)",
                )
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise bad("feature_names", f"duplicated names {duplicated}", "make names unique")
        if not all(math.isfinite(m) for m in mean):
            raise bad("feature_mean", "has non-finite values", "refit the standardisation")
        if not all(math.isfinite(s) and s > 0 for s in scale):
            raise bad(
                "feature_scale",
                "must be finite and > 0 for every feature",
                "refit the standardisation and drop features with no variance",
            )
        if self.model != "constant" and not names:
            raise bad(
                "feature_names",
                f"a {self.model} prior needs at least one feature",
                "pass annotations, or use model 'constant'",
            )

    def _as_tuple(self, key: str, kind: type) -> tuple:
        value = getattr(self, key)
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise InputError(
                f"must be a list, got {type(value).__name__}", column=key, fix="pass a list"
            )
        try:
            out = tuple(v if kind is str else float(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"has a value that is not a number ({exc})", column=key, fix="pass numbers"
            ) from None
        object.__setattr__(self, key, out)
        return out

    @property
    def n_features(self) -> int:
        """Number of feature columns k."""
        return len(self.feature_names)

    @property
    def n_inputs(self) -> int:
        """Inputs of the family's network: the k features, then the DNA branch's outputs."""
        return self.n_features + (self.sequence["out_dim"] if self.sequence else 0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists); :meth:`from_json` inverts it exactly."""
        d = asdict(self)
        for key in ("feature_names", "feature_mean", "feature_scale"):
            d[key] = list(d[key])
        if not PRIOR_FAMILIES[self.model].uses_positions:
            del d["window_kb"]  # the folders of the other families stay as they were
        if self.sequence is None:
            del d["sequence"]
        else:
            d["sequence"] = dict(self.sequence)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PriorConfig:
        """Build a config from :meth:`to_json` output (the keys of ``config.json`` that describe
        the file itself, ``format``, ``version``, ``n_params`` and ``provenance``, are ignored).

        Raises
        ------
        InputError
            Naming the key, when a required key is missing, a key is unknown, or a value is
            invalid (see :class:`PriorConfig`).
        """
        if not isinstance(d, Mapping):
            raise InputError(
                f"a prior config must be a JSON object, got {type(d).__name__}",
                fix="pass the dict written by PriorConfig.to_json",
            )
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known and key not in _METADATA_KEYS:
                raise InputError(
                    "unknown key in prior config", column=str(key), fix=f"use only {sorted(known)}"
                )
        required = ("model", "feature_names", "feature_mean", "feature_scale")
        for key in required:
            if key not in d:
                raise InputError("missing key in prior config", column=key, fix="add it")
        return cls(**{k: v for k, v in d.items() if k in known})


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


#: rows per block of :meth:`Prior.predict`
PREDICT_ROWS = 1 << 16


class Prior(nn.Module):
    """A prior network ``features -> log s``.

    Build one with :func:`build_prior` (fresh) or :func:`load_prior` (saved).

    Parameters
    ----------
    config:
        The family and its settings.
    seed:
        Seed of the local generator used to initialise the weights.

    Attributes
    ----------
    config: PriorConfig
    bias: () parameter
        The output bias ``b``, initialised at ``config.init_log_snpvar``.
    weight: (k,) or (width,) parameter
        The output weights ``w`` of ``linear`` and ``mlp`` (initialised to zero).
    feature_mean, feature_scale: (k,) buffers
        The standardisation, from the config.

    Notes
    -----
    With ``x_std = (x - feature_mean) / feature_scale``:

    - constant: ``log s = b``;
    - linear: ``log s = b + w . x_std``;
    - mlp: ``h_0 = W_in x_std + c_in`` (k -> width); for each of the ``depth`` blocks,
      ``h <- h + depth^(-1/2) W_2 act(W_1 LayerNorm(h) + c_1) + c_2`` (pre-norm);
      ``log s = b + w . act(LayerNorm(h))``;
    - linear_mlp: ``log s = b + v . x_std + w . act(LayerNorm(h))`` (``v``: the ``linear``
      parameter, initialised to zero; :func:`deepwas.train_prior` starts it from a fitted
      linear prior).
    - ssm: as mlp, with blocks that mix each channel over the neighbouring variants
      (:mod:`deepwas.ssm`, docs/decisions.md ("The neighbourhood prior ssm")); needs ``positions``.

    The ``depth^(-1/2)`` factor keeps the variance of the residual stream ``h`` bounded as
    ``depth`` grows (each block adds about ``1/depth`` of a unit), so deep models start as
    well-conditioned as shallow ones. MLP initialisation: ``W_in ~ N(0, 1/k)``,
    ``W_1 ~ N(0, 2/width)`` (He), ``W_2 ~ N(0, 1/width)``, all other biases 0, LayerNorm
    affine at identity, ``w = 0`` and ``b = init_log_snpvar``.
    """

    def __init__(self, config: PriorConfig, *, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(config, PriorConfig):
            raise TypeError(f"config must be a PriorConfig, got {type(config).__name__}")
        self.config = config
        self.register_buffer("feature_mean", torch.tensor(config.feature_mean, dtype=_DTYPE))
        self.register_buffer("feature_scale", torch.tensor(config.feature_scale, dtype=_DTYPE))
        self.family = PRIOR_FAMILIES[config.model]
        self.bias = nn.Parameter(torch.empty((), dtype=_DTYPE))
        self.family.build(self)
        if self.family.shrinkage is not None:
            self.register_buffer("shrinkage_precision", torch.zeros((), dtype=_DTYPE))
        if config.sequence is not None:
            from deepwas.sequence import build_encoder

            self.dna = build_encoder(config.sequence)
        self.reset_parameters(seed=seed)

    @torch.no_grad()
    def reset_parameters(self, *, seed: int = 0) -> None:
        """Re-initialise every parameter deterministically from ``seed`` (see Notes above)."""
        gen = torch.Generator(device="cpu").manual_seed(int(seed))

        def normal_(t: torch.Tensor, var: float) -> None:
            t.copy_(torch.randn(t.shape, generator=gen, dtype=_DTYPE) * math.sqrt(var))

        self.bias.fill_(self.config.init_log_snpvar)
        self.family.reset(self, normal_)
        if self.config.sequence is not None:  # after the family: its draws are unchanged
            self.dna.reset(normal_)

    @property
    def uses_positions(self) -> bool:
        """Whether :meth:`forward` needs ``positions``: for a family that sees the
        neighbourhood (``ssm``), or a prior with a DNA branch (then with the packed bases,
        :func:`deepwas.sequence.prior_positions`)."""
        return self.family.uses_positions or self.config.sequence is not None

    def _check(self, features: torch.Tensor) -> torch.Tensor:
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            shape = tuple(getattr(features, "shape", ()))
            raise InputError(
                f"features must be a 2-D tensor (n_variants, n_features), got shape {shape}",
                column="features",
                fix="pass a torch.Tensor with one row per variant",
            )
        k = self.config.n_features
        if self.family.uses_features and features.shape[1] != k:
            raise InputError(
                f"features have {features.shape[1]} columns but the prior was built for {k} "
                f"({', '.join(self.config.feature_names[:5])}{', ...' if k > 5 else ''})",
                column="features",
                fix="pass the same features, in the same order, as at training",
            )
        return features.to(self.feature_mean)

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        """``(features - feature_mean) / feature_scale``: (n, k) raw -> (n, k) float64."""
        return (self._check(features) - self.feature_mean) / self.feature_scale

    def _hidden(self, x_std: torch.Tensor, *, block_scale: float | None = None) -> torch.Tensor:
        """MLP residual stream before the output norm: (n, k) standardised -> (n, width)."""
        scale = self.block_scale if block_scale is None else block_scale
        h = self.input(x_std)
        for block in self.blocks:
            h = h + scale * block(h)
        return h

    def forward(self, features: torch.Tensor, positions=None) -> torch.Tensor:
        """Log per-SNP heritability of each variant.

        Parameters
        ----------
        features: (n, k)
            Raw (unstandardised) features, columns in ``config.feature_names`` order; cast to
            float64. The constant prior reads only ``n``.
        positions: (n, 2) or (n, 2 + m), optional
            ``CHR`` and ``BP`` of the same rows (:func:`deepwas.ssm.variant_positions`), in any
            order; required by a family that uses positions (``ssm``), ignored by the others.
            A prior with a DNA branch needs the ``m`` columns of packed bases after them
            (:func:`deepwas.sequence.prior_positions` builds the whole array).

        Returns
        -------
        log_s: (n,) float64
            Natural log of SNPVAR; NaN where a used feature is NaN.
        """
        x = self._check(features)
        if not self.family.uses_features:
            return self.bias + self.family.forward(self, x)
        x_std = (x - self.feature_mean) / self.feature_scale
        if self.uses_positions and positions is None:
            raise InputError(
                f"a {self.config.model} prior needs the variants' positions",
                column="positions",
                fix="pass positions=deepwas.sequence.prior_positions(prior, variants)",
            )
        if self.config.sequence is not None:
            from deepwas.sequence import dna_inputs

            x_std, positions = dna_inputs(self, x_std, positions)
        if self.family.uses_positions:
            return self.bias + self.family.forward(self, x_std, positions)
        return self.bias + self.family.forward(self, x_std)

    def predict(self, features: np.ndarray | torch.Tensor, positions=None) -> torch.Tensor:
        """:meth:`forward` on the CPU without gradients, in blocks of :data:`PREDICT_ROWS` rows
        (a genome's hidden layers at once take GBs) unless the family reads positions."""
        x = torch.as_tensor(np.ascontiguousarray(features))
        self.to("cpu")
        with torch.no_grad():
            if self.uses_positions or x.shape[0] <= PREDICT_ROWS:
                return self(x, positions)
            return torch.cat(
                [self(x[i : i + PREDICT_ROWS]) for i in range(0, x.shape[0], PREDICT_ROWS)]
            )

    @property
    def n_params(self) -> int:
        """Number of trainable scalars.

        constant: 1; linear: k + 1; mlp: ``(k + 1) width`` (input) +
        ``depth (2 width^2 + 4 width)`` (two linear layers and a LayerNorm per block) +
        ``2 width`` (output LayerNorm) + ``width + 1`` (output).
        """
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        c = self.config
        return f"model={c.model!r}, n_features={c.n_features}, n_params={self.n_params}"


# --------------------------------------------------------------------------------------------
# The registry of prior families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorFamily:
    """One family of prior networks: its name, what it is, and how a :class:`Prior` of it is built.

    Every family shares the output convention ``log s = b + g(x_std)`` (``b`` the prior's
    ``bias``); a family supplies ``g`` and its parameters. Families are registered once, in
    :data:`PRIOR_FAMILIES`; the configuration checks, the ``--model`` choices of ``deepwas fit``,
    the demo's model grid and the benchmarks read that registry.

    Attributes
    ----------
    name:
        The ``model`` value that selects it (``PriorConfig.model``, ``TrainConfig.model``,
        ``deepwas fit --model``).
    description:
        One line for help texts and docs.
    uses_features:
        False for a family that ignores the features (``constant``): its ``forward`` gets the raw
        (n, k) input, of which it may read only ``n``.
    sized:
        Whether ``width`` and ``depth`` change the family (the benchmarks vary them only then).
    build:
        ``build(prior)`` adds the family's parameters and modules to ``prior`` (after ``bias``;
        their attribute names are the keys of the saved state dict, so they are part of the
        on-disk format).
    reset:
        ``reset(prior, normal_)`` re-initialises them; ``normal_(tensor, var)`` fills a tensor
        from N(0, var) with the prior's seeded generator.
    forward:
        ``forward(prior, x_std)``: (n, k) standardised features -> (n,) departure from ``b``;
        ``forward(prior, x_std, positions)`` when ``uses_positions``.
    uses_positions:
        Whether the family needs the variants' (n, 2) ``CHR``/``BP`` positions
        (``Prior.forward(features, positions)``); ``config.window_kb`` is then part of its config.
    early_stopping:
        Whether training stops early on the validation windows (networks). False for a family of
        a few parameters (``constant``, ``linear``, ``neighbourhood_linear``), which trains on
        the training and validation windows together for all its epochs: with so few
        parameters it does not overfit, and stopping it on a few validation windows costs more
        than it saves
        (docs/decisions.md, "Few-parameter priors do not stop early").
    calibrate:
        ``calibrate(prior, features, positions)``, or None: sets buffers of the family from the
        raw features (n, k) and positions of every store variant before training (e.g. the
        standardisation of inputs the family derives from the features).
    shrinkage:
        The name of a parameter given a Gaussian prior ``N(0, I / alpha)`` whose precision
        ``alpha`` (the prior's buffer ``shrinkage_precision``) :func:`deepwas.train_prior` sets by
        empirical Bayes (:mod:`deepwas.evidence`), or None.
    """

    name: str
    description: str
    uses_features: bool
    sized: bool
    build: Callable[[Prior], None]
    reset: Callable[[Prior, Callable[[torch.Tensor, float], None]], None]
    forward: Callable[..., torch.Tensor]
    uses_positions: bool = False
    early_stopping: bool = True
    calibrate: Callable[..., None] | None = None
    shrinkage: str | None = None


def _nothing(prior: Prior, *args: Any) -> None:
    return None


def _constant_forward(prior: Prior, x: torch.Tensor) -> torch.Tensor:
    return x.new_zeros(x.shape[0])


def _linear_build(prior: Prior) -> None:
    prior.weight = nn.Parameter(torch.empty(prior.config.n_inputs, dtype=_DTYPE))


def _linear_reset(prior: Prior, normal_) -> None:
    prior.weight.zero_()


def _linear_forward(prior: Prior, x_std: torch.Tensor) -> torch.Tensor:
    return x_std @ prior.weight


_FAMILIES: dict[str, PriorFamily] = {}


def _register(family: PriorFamily) -> None:
    if family.name in _FAMILIES:
        raise ValueError(f"prior family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family


# Adding a family: write its build / reset / forward (here or in a module of its own imported
# here) and register it with one line; configs, the CLI, the demo and the benchmarks follow.
_register(
    PriorFamily(
        "constant",
        "log s = b: one parameter, the baseline every learned prior is compared against",
        uses_features=False,
        sized=False,
        build=_nothing,
        reset=_nothing,
        forward=_constant_forward,
        early_stopping=False,
    )
)
_register(
    PriorFamily(
        "linear",
        "log s = b + w . x_std: the log-link linear prior of S-LDSC/PolyFun",
        uses_features=True,
        sized=False,
        build=_linear_build,
        reset=_linear_reset,
        forward=_linear_forward,
        early_stopping=False,
    )
)
_register(
    PriorFamily(
        "mlp",
        "log s = b + w . act(LayerNorm(h)), h a pre-norm residual MLP of the features "
        "(--width, --depth)",
        uses_features=True,
        sized=True,
        build=mlp_build,
        reset=mlp_reset,
        forward=mlp_forward,
    )
)

_register(
    PriorFamily(
        "linear_mlp",
        "log s = b + v . x_std + w . act(LayerNorm(h)): the linear prior plus an MLP of the "
        "features; training fits the linear prior first and starts the MLP from it",
        uses_features=True,
        sized=True,
        build=linear_mlp_build,
        reset=linear_mlp_reset,
        forward=linear_mlp_forward,
    )
)


def _register_ssm() -> None:
    from deepwas.networks import plus_linear
    from deepwas.ssm import (
        kernel_linear_build,
        kernel_linear_forward,
        kernel_linear_reset,
        ssm_build,
        ssm_forward,
        ssm_reset,
    )

    linear_ssm_build, linear_ssm_reset, linear_ssm_forward = plus_linear(
        ssm_build, ssm_reset, ssm_forward
    )

    _register(
        PriorFamily(
            "ssm",
            "a bidirectional state-space stack over the variants within +-window_kb of each "
            "variant, decays per bp gap (--width, --depth, --ssm-window-kb)",
            uses_features=True,
            sized=True,
            build=ssm_build,
            reset=ssm_reset,
            forward=ssm_forward,
            uses_positions=True,
        )
    )
    _register(
        PriorFamily(
            "linear_ssm",
            "log s = b + v . x_std + the ssm stack: the linear prior plus the neighbourhood; "
            "training fits the linear prior first and starts the stack from it",
            uses_features=True,
            sized=True,
            build=linear_ssm_build,
            reset=linear_ssm_reset,
            forward=linear_ssm_forward,
            uses_positions=True,
        )
    )
    _register(
        PriorFamily(
            "kernel_linear",
            "log s = b + w . x_std + sum_m u_m . K_m(x_std): the linear prior of the variant's "
            "features and of their means over the variants within +-window_kb, weighted by "
            "exponential kernels of 4 learned decay lengths (one linear bidirectional scan; "
            "--ssm-window-kb)",
            uses_features=True,
            sized=False,
            build=kernel_linear_build,
            reset=kernel_linear_reset,
            forward=kernel_linear_forward,
            uses_positions=True,
        )
    )

    from deepwas import neighbourhood

    _register(
        PriorFamily(
            "neighbourhood_linear",
            "log s = b + w . x_std + u . z: the linear prior of the variant's features and of "
            "their neighbourhood within +-window_kb (kernel means of every feature and the "
            "proximity exp(-d/L) of the nearest variant carrying each binary annotation, at "
            "decay lengths L of 3, 10, 30, 100 kb); trains like linear, without early stopping "
            "(--ssm-window-kb)",
            uses_features=True,
            sized=False,
            build=neighbourhood.build,
            reset=neighbourhood.reset,
            forward=neighbourhood.forward,
            uses_positions=True,
            early_stopping=False,
            calibrate=neighbourhood.calibrate,
            shrinkage="nb_weight",
        )
    )


_register_ssm()

#: The registered prior families, by name (read-only).
PRIOR_FAMILIES: Mapping[str, PriorFamily] = MappingProxyType(_FAMILIES)
#: Names of the registered prior families, in registration order (the ``model`` choices).
MODELS: tuple[str, ...] = tuple(PRIOR_FAMILIES)

# PriorConfig's constraint table (deepwas._validation); the structure of the feature tuples is
# checked in PriorConfig.__post_init__
_PRIOR_CONSTRAINTS = {
    "model": Options(MODELS),
    "activation": Options(tuple(ACTIVATIONS)),
    "width": Interval(Integral, 1, None, closed="left"),
    "depth": Interval(Integral, 1, None, closed="left"),
    "init_log_snpvar": Interval(Real, None, None),
    "window_kb": Interval(Real, 0, None, closed="neither"),
}


def build_prior(config: PriorConfig, *, seed: int = 0) -> Prior:
    """A freshly initialised prior; the same ``config`` and ``seed`` give identical weights.

    At initialisation every family outputs exactly ``config.init_log_snpvar`` for every input
    (the output weights start at zero). The global torch RNG is not used.
    """
    return Prior(config, seed=seed)


def check_features(prior: Prior, names, *, file=None, fix: str) -> None:
    """Raise one :class:`InputError` when ``names`` (the annotations at hand) lack a feature the
    prior uses (its allele-frequency feature ``log_2pq`` comes from elsewhere)."""
    if not prior.family.uses_features:
        return
    have = set(names)
    missing = [n for n in prior.config.feature_names if n != "log_2pq" and n not in have]
    if missing:
        raise InputError(
            f"the annotations lack {len(missing)} feature(s) of the prior: "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}",
            file=file,
            fix=fix,
        )
