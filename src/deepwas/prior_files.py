"""The on-disk format of a trained prior: ``model.safetensors`` (its state dict: parameters and
buffers) and ``config.json`` (its :class:`deepwas.priors.PriorConfig`, a format tag and version,
its parameter count and provenance)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load_file, save_file

from deepwas._files import atomic_dir
from deepwas.errors import InputError
from deepwas.priors import Prior, PriorConfig

__all__ = ["FORMAT", "FORMAT_VERSION", "load_prior", "prior_folder", "save_prior"]

FORMAT = "deepwas-prior"
FORMAT_VERSION = 1


def save_prior(prior: Prior, directory: str | os.PathLike[str], *, seed: int | None = None) -> None:
    """Write a prior to ``directory`` atomically (an existing folder is replaced).

    Writes ``model.safetensors`` (the state dict: parameters and standardisation buffers) and
    ``config.json`` (``config.to_json()`` plus ``format``, ``version``, ``n_params`` and a
    ``provenance`` record, with ``seed`` if given).
    """
    from deepwas.provenance import provenance

    state = {k: v.detach().to("cpu").contiguous() for k, v in prior.state_dict().items()}
    meta = {
        **prior.config.to_json(),
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "n_params": prior.n_params,
        "provenance": provenance(seed=seed),
    }
    with atomic_dir(directory) as tmp:
        save_file(
            state, str(tmp / "model.safetensors"), metadata={"format": FORMAT, "version": "1"}
        )
        (tmp / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def prior_folder(directory: str | os.PathLike[str]) -> Path:
    """The folder of a saved prior that ``directory`` names: itself, or the ``model/`` of the
    ``deepwas fit`` folder it is."""
    directory = Path(directory)
    if not (directory / "config.json").exists() and (directory / "model" / "config.json").is_file():
        return directory / "model"
    return directory


def load_prior(directory: str | os.PathLike[str]) -> Prior:
    """Read a prior written by :func:`save_prior` (onto the CPU, in float64): its folder, or the
    folder of ``deepwas fit`` that holds it as ``model/``.

    Raises
    ------
    InputError
        Naming the path, when the folder or one of its files is missing or corrupt, is not a
        deepwas prior, was written by another format version, or its weights do not match its
        config.
    """
    directory = Path(directory)
    fix = "pass the model/ folder written by 'deepwas fit' (or save_prior)"
    if not directory.is_dir():
        raise InputError("prior folder not found", file=directory, fix=fix)
    directory = prior_folder(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise InputError("missing file of a saved prior", file=path, fix=fix)
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read prior config ({exc})", file=config_path, fix=fix) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(
            f"not a deepwas prior (format {got!r}, expected {FORMAT!r})", file=config_path, fix=fix
        )
    if meta.get("version") != FORMAT_VERSION:
        raise InputError(
            f"prior format version {meta.get('version')!r}; this deepwas reads version "
            f"{FORMAT_VERSION}",
            file=config_path,
            fix="use the deepwas version that wrote it, or retrain",
        )
    try:
        config = PriorConfig.from_json(meta)
    except InputError as exc:
        raise InputError(
            f"invalid prior config: {exc.message}", file=config_path, column=exc.column, fix=exc.fix
        ) from None
    try:
        state = load_file(str(weights_path), device="cpu")
    except (OSError, safetensors.SafetensorError) as exc:
        raise InputError(f"cannot read prior weights ({exc})", file=weights_path, fix=fix) from None
    prior = Prior(config)
    if prior.family.shrinkage is not None:  # saved before shrinkage (2026-12-03): unshrunk
        state.setdefault("shrinkage_precision", torch.zeros((), dtype=torch.float64))
    try:
        prior.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InputError(
            f"weights do not match config.json ({detail})", file=weights_path, fix=fix
        ) from None
    if "n_params" in meta and meta["n_params"] != prior.n_params:
        raise InputError(
            f"config.json says n_params={meta['n_params']} but the prior has {prior.n_params}",
            file=config_path,
            fix=fix,
        )
    return prior
