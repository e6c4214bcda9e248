"""The public API: every name in ``deepwas.__all__`` resolves and is documented, the prior-family
registry is the one list of families, and the README's Python blocks run as written."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import deepwas

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", deepwas.__all__)
def test_every_public_name_resolves_and_is_documented(name):
    obj = getattr(deepwas, name)
    assert name in dir(deepwas)
    # the package docstring is the map of the public API: every public name is in it
    assert re.search(rf"\b{re.escape(name)}\b", deepwas.__doc__), name
    if callable(obj):
        # a class's own docstring (not one inherited, nor the signature dataclasses invent)
        doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
        assert doc and doc.strip(), name
        assert not doc.startswith(f"{name}("), name


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from deepwas import *", namespace)
    assert set(deepwas.__all__) <= set(namespace)
    assert len(deepwas.__all__) == len(set(deepwas.__all__))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        deepwas.nonexistent  # noqa: B018


def test_registry_is_read_by_the_configs_and_the_cli():
    from deepwas.cli import build_parser
    from deepwas.errors import InputError

    families = list(deepwas.PRIOR_FAMILIES)
    assert families == [
        "constant",
        "linear",
        "mlp",
        "linear_mlp",
        "ssm",
        "linear_ssm",
        "kernel_linear",
        "neighbourhood_linear",
    ]
    for name, family in deepwas.PRIOR_FAMILIES.items():
        assert family.name == name and family.description
        deepwas.TrainConfig(model=name)  # accepted
    with pytest.raises(
        InputError,
        match="give one of constant, linear, mlp, linear_mlp, ssm, linear_ssm, kernel_linear or "
        "neighbourhood_linear",
    ):
        deepwas.TrainConfig(model="transformer")
    for objective in deepwas.OBJECTIVES:
        deepwas.TrainConfig(objective=objective)
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    model = next(a for a in fit._actions if a.dest == "model")
    assert list(model.choices) == families
    objective = next(a for a in fit._actions if a.dest == "objective")
    assert list(objective.choices) == list(deepwas.OBJECTIVES)


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch):
    blocks = _python_blocks(README.read_text())
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        # each block on its own, as a reader would paste it
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    metrics = json.loads((tmp_path / "api_fit" / "metrics.json").read_text())
    for key in ("heldout_loglik", "heldout_loglik_constant", "heldout_gain", "h2", "sigma"):
        assert metrics[key] is not None, key
    files = sorted(os.listdir(tmp_path / "api_fit"))
    assert files == ["history.tsv", "metrics.json", "model", "priors.tsv.gz", "report.html"]
