"""Provenance carried by every output: package version, command line, input hashes, seed, time."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["provenance", "file_sha256"]


def file_sha256(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed. A folder hashes the sorted names and contents of its files."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(chunk_bytes):
                h.update(chunk)
    return h.hexdigest()


def _input_record(path: str | os.PathLike[str], hash_inputs: bool) -> dict[str, str]:
    return {
        "path": str(Path(path).resolve()),
        **({"sha256": file_sha256(path)} if hash_inputs and Path(path).exists() else {}),
    }


def provenance(
    *,
    inputs: Mapping[str, str | os.PathLike[str] | Sequence[str | os.PathLike[str]]] | None = None,
    seed: int | None = None,
    argv: list[str] | None = None,
    hash_inputs: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A JSON-able record of how an output was made.

    Parameters
    ----------
    inputs:
        Role -> path of each input file, or a list of paths for a role with several files (every
        ``--annot`` file); each file is recorded with its absolute path and SHA-256.
    seed:
        The random seed, if the output depends on one.
    argv:
        The command line; defaults to ``sys.argv``.
    hash_inputs:
        Whether to hash the inputs (folders are hashed file by file).
    extra:
        Further key/value pairs to record.
    """
    from deepwas import __version__

    record: dict[str, Any] = {
        "deepwas_version": __version__,
        "command": list(sys.argv if argv is None else argv),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if seed is not None:
        record["seed"] = int(seed)
    if inputs:
        record["inputs"] = {
            role: (
                [_input_record(q, hash_inputs) for q in p]
                if isinstance(p, list | tuple)
                else _input_record(p, hash_inputs)
            )
            for role, p in inputs.items()
        }
    record.update(extra)
    return record
