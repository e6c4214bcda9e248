"""Declarative parameter validation: one constraint table per configuration, checked in one place.

A table maps each parameter name to a constraint or a list of constraints, the value being valid
when it satisfies any of them (``None`` in the list allows ``None``), in the manner of
scikit-learn's ``_parameter_constraints``::

    _CONSTRAINTS = {"lr": Interval(Real, 0, None, closed="neither"), "model": Options(MODELS)}
    validate({"lr": cfg.lr, "model": cfg.model}, _CONSTRAINTS, where="TrainConfig")

:func:`validate` raises :class:`deepwas.errors.InputError` whose ``column`` is the parameter's CLI
flag (``weight_decay`` -> ``--weight-decay``) and whose fix states what is allowed, e.g.
``option --weight-decay: invalid value -1.0 for TrainConfig.weight_decay (give a number >= 0)``.

The tables of configurations that live here, rather than beside their config, are those whose
owners take plain keyword arguments: the LD store build (:data:`STORE_BUILD_CONSTRAINTS`) and the
reading of one trait's summary statistics (:data:`TRAIT_CONSTRAINTS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any

from deepwas.errors import InputError

__all__ = [
    "Interval",
    "Options",
    "Boolean",
    "Check",
    "validate",
    "STORE_BUILD_CONSTRAINTS",
    "TRAIT_CONSTRAINTS",
]


class Interval:
    """A number of type ``kind`` (``Integral`` or ``Real``) between ``left`` and ``right``.

    ``None`` for a bound means unbounded on that side; ``closed`` is ``"both"``, ``"left"``,
    ``"right"`` or ``"neither"``. Booleans are never numbers here, and a ``Real`` must be finite.
    """

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "both",
    ) -> None:
        if kind not in (Integral, Real):
            raise TypeError(f"kind must be Integral or Real, got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither, got {closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if not math.isfinite(value):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        what = "an integer" if self.kind is Integral else "a number"
        left_closed = self.closed in ("both", "left")
        right_closed = self.closed in ("both", "right")
        if self.left is not None and self.right is not None:
            lo, hi = "[" if left_closed else "(", "]" if right_closed else ")"
            return f"{what} in {lo}{self.left:g}, {self.right:g}{hi}"
        if self.left is not None:
            return f"{what} {'>=' if left_closed else '>'} {self.left:g}"
        if self.right is not None:
            return f"{what} {'<=' if right_closed else '<'} {self.right:g}"
        return f"a finite {what.split()[-1]}"


class Options:
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, options: tuple) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            return value in self.options
        except TypeError:  # an unhashable value compared with strings
            return False

    def __str__(self) -> str:
        names = [str(o) for o in self.options]
        if len(names) == 1:
            return names[0]
        return "one of " + ", ".join(names[:-1]) + " or " + names[-1]


class Boolean:
    """True or False (not 0 or 1)."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"


class Check:
    """Any other rule: a predicate and the words that describe what it allows."""

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        self.predicate, self.description = predicate, description

    def is_satisfied_by(self, value: Any) -> bool:
        return bool(self.predicate(value))

    def __str__(self) -> str:
        return self.description


def _describe(constraints: list) -> str:
    # None (a flag not given) is never what a user got wrong, so it is not described
    return " or ".join(str(c) for c in constraints if c is not None) or "None"


def validate(
    params: Mapping[str, Any],
    table: Mapping[str, Any],
    *,
    where: str | None,
    flags: Mapping[str, str] | None = None,
    as_flags: bool = True,
) -> None:
    """Check every parameter of ``params`` that ``table`` constrains.

    Parameters
    ----------
    params:
        Name -> value. Names the table does not know are ignored (so that a caller can pass
        ``vars(args)``); names of the table missing from ``params`` are not checked.
    table:
        Name -> constraint, or a list of constraints of which one must hold (``None`` allows
        ``None``).
    where:
        The configuration the values belong to (``"TrainConfig"``), named in the message beside
        the parameter so that a library caller finds the field; None for plain CLI flags.
    flags:
        Name -> CLI flag where the flag is not ``--`` + the name with ``-`` for ``_``
        (``{"sigma": "--fixed-sigma"}``).
    as_flags:
        False to name the parameter as it is (a key of a JSON file) rather than as a flag.

    Raises
    ------
    InputError
        For the first invalid value, in the order of ``table``: ``column`` is the CLI flag, the
        fix says what is allowed.
    """
    for name, constraint in table.items():
        if name not in params:
            continue
        value = params[name]
        constraints = constraint if isinstance(constraint, list) else [constraint]
        ok = any(value is None if c is None else c.is_satisfied_by(value) for c in constraints)
        if ok:
            continue
        if not as_flags:
            column = name
        elif flags and name in flags:
            column = flags[name]
        else:
            column = "--" + name.replace("_", "-")
        field = f" for {where}.{name}" if where else ""
        raise InputError(
            f"invalid value {value!r}{field}", column=column, fix=f"give {_describe(constraints)}"
        )


# ------------------------------------------------------------------------------------ tables
# Building an LD store (``deepwas ld``; deepwas.ld.build.build_store and
# deepwas.ld.ukbb.import_ukbb_ld check it at their entry too, for library callers).
STORE_BUILD_CONSTRAINTS: dict[str, Any] = {
    "eig_rtol": Interval(Real, 0, 1, closed="neither"),
    "var_explained": [Interval(Real, 0, 1, closed="right"), None],
    "shrinkage": Interval(Real, 0, 1, closed="left"),
    "min_maf": Interval(Real, 0, 0.5, closed="left"),
    "flank_kb": Interval(Real, 0, None, closed="left"),
    "window_kb": [Interval(Real, 0, None, closed="neither"), None],
}

# Reading and QC of one trait's summary statistics against a store (deepwas.ld.trait.load_trait).
TRAIT_CONSTRAINTS: dict[str, Any] = {
    "n_gwas": [Interval(Real, 0, None, closed="neither"), None],
    "min_info": [Interval(Real, 0, 1, closed="both"), None],
    "min_maf": [Interval(Real, 0, 0.5, closed="left"), None],
    "var_explained": [Interval(Real, 0, 1, closed="right"), None],
}
