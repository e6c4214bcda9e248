"""What a ``deepwas fit`` folder records that a refit needs: its inputs, split, trait options
and training settings (:func:`fit_settings`), read back from ``metrics.json``'s provenance by
``deepwas enrich`` and by benchmarks that re-evaluate a fit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepwas.errors import InputError

__all__ = ["FitSettings", "fit_settings"]


@dataclass
class FitSettings:
    """What a fit folder records that a refit needs (:func:`fit_settings`).

    Attributes
    ----------
    sumstats, ld: str
        The fit's summary statistics and LD store folder.
    annot: list[str]
        The fit's annotation file(s) (the prior's features).
    bim: str or None
    n_gwas, var_explained: float or None
    ld_model: str
        The trait's model as loaded (``metrics.json``'s ``ld_model``).
    test_chrom: list[int] or None
    test_blocks: float or None
    val_fraction: float
    split_seed: int
    config: deepwas.TrainConfig
    sigma: float
        The fit's intercept (``metrics.json``'s ``sigma``), the refits' starting value.
    h2_scale: float or None
        The small-panel calibration factor applied to the saved prior (undone for the refits).
    notes: list[str]
    """

    sumstats: str
    ld: str
    annot: list[str]
    bim: str | None
    n_gwas: float | None
    var_explained: float | None
    ld_model: str
    test_chrom: list[int] | None
    test_blocks: float | None
    val_fraction: float
    split_seed: int
    config: Any
    sigma: float | None
    h2_scale: float | None
    notes: list[str] = field(default_factory=list)


def _paths(record: Any) -> list[str]:
    if isinstance(record, list):
        return [r["path"] for r in record]
    return [record["path"]]


def fit_settings(fit: str | Path) -> FitSettings:
    """Read what a refit needs from a fit folder's ``metrics.json`` (its provenance).

    Parameters
    ----------
    fit:
        A folder written by ``deepwas fit`` (:func:`deepwas.run_fit`).

    Returns
    -------
    FitSettings

    Raises
    ------
    InputError
        When ``metrics.json`` is missing or unreadable or lacks the inputs of the fit.

    Notes
    -----
    Fits written by this version record ``provenance.fit_settings``; for older fit folders the
    split and the trait's options are re-read from the recorded ``deepwas fit`` command line.
    """
    from deepwas.fit import TrainConfig

    path = Path(fit) / "metrics.json"
    fix = "pass the folder written by 'deepwas fit' (or give --sumstats and --ld)"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("the fit folder has no metrics.json", file=path, fix=fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read metrics.json ({exc})", file=path, fix=fix) from None
    prov = metrics.get("provenance") or {}
    inputs = prov.get("inputs") or {}
    try:
        sumstats = _paths(inputs["sumstats"])[0]
        ld = str(Path(_paths(inputs["ld"])[0]).parent)
        annot = _paths(inputs["annot"])
    except (KeyError, TypeError, IndexError):
        raise InputError(
            "metrics.json does not record the fit's inputs (provenance.inputs)", file=path, fix=fix
        ) from None
    known = {f for f in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**{k: v for k, v in (prov.get("config") or {}).items() if k in known})
    fs = prov.get("fit_settings")
    notes: list[str] = []
    if fs is None:
        fs = _settings_from_command(prov.get("command") or [], config.seed)
        notes.append("split and trait options re-read from the fit's command line")
    return FitSettings(
        sumstats=sumstats,
        ld=ld,
        annot=fs.get("annot") or annot,
        bim=fs.get("bim"),
        n_gwas=fs.get("n_gwas"),
        var_explained=fs.get("var_explained"),
        ld_model=metrics.get("ld_model") or fs.get("ld_model") or "auto",
        test_chrom=fs.get("test_chrom"),
        test_blocks=fs.get("test_blocks"),
        val_fraction=fs.get("val_fraction", 0.15),
        split_seed=fs.get("split_seed", config.seed),
        config=config,
        sigma=metrics.get("sigma"),
        h2_scale=metrics.get("h2_scale"),
        notes=notes,
    )


def _settings_from_command(command: list[str], seed: int) -> dict[str, Any]:
    """The split and trait options of a recorded ``deepwas fit`` command line (older fits)."""
    from deepwas.cli import build_parser
    from deepwas.cli._args import chrom_list

    try:
        at = command.index("fit")
        args = build_parser().parse_args(command[at:])
    except (ValueError, SystemExit):  # not a deepwas fit command line (a Python API fit)
        return {"split_seed": seed}
    return {
        "bim": args.bim,
        "n_gwas": args.n_gwas,
        "var_explained": args.var_explained,
        "ld_model": args.ld_model,
        "test_chrom": chrom_list(args.test_chrom, flag="--test-chrom") if args.test_chrom else None,
        "test_blocks": args.test_blocks,
        "val_fraction": args.val_fraction,
        "split_seed": args.seed if args.split_seed is None else args.split_seed,
    }
