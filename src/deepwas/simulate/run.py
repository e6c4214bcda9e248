"""The whole simulation: :func:`run_simulation` draws every part (genotypes, annotations, the true
prior, z-scores) and writes one folder atomically, with byte-reproducible gzip members.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from deepwas._files import atomic_dir
from deepwas.errors import InputError
from deepwas.io.genotypes import GenotypePanel, write_plink
from deepwas.provenance import provenance
from deepwas.simulate.annotations import given_annotations, synthetic_annotations, true_prior
from deepwas.simulate.config import SimConfig
from deepwas.simulate.genotypes import simulate_genotypes
from deepwas.simulate.sumstats import BandedLD, simulate_sumstats

__all__ = ["run_simulation"]

_BASE_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2"]
_MEDIAN_CHI2_1 = 0.454936423119572  # median of a chi-square with 1 degree of freedom


def _write_tsv_gz(frame: pd.DataFrame, path: Path) -> None:
    """Tab-separated, gzipped, byte-reproducible (no time stamp or name in the gzip header)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
            frame.to_csv(text, sep="\t", index=False, lineterminator="\n")


def _check_inputs(config: SimConfig) -> dict[str, str]:
    inputs = {}
    for role in ("genetic_map", "annotations"):
        p = getattr(config, role)
        if p is not None:
            if not Path(p).is_file():
                raise InputError(
                    f"{role.replace('_', ' ')} file not found",
                    file=p,
                    column=role,
                    fix="check the path",
                )
            inputs[role] = p
    if config.panel is not None:
        name = config.panel.lower()
        if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")):
            files = {"panel": config.panel}
        else:
            prefix = config.panel[:-4] if name.endswith(".bed") else config.panel
            files = {f"panel{s}": prefix + s for s in (".bed", ".bim", ".fam")}
        for p in files.values():
            if not Path(p).is_file():
                raise InputError(
                    "panel file not found",
                    file=p,
                    column="panel",
                    fix="give an existing PLINK prefix or VCF",
                )
        inputs.update(files)
    return inputs


def run_simulation(
    config: SimConfig,
    out: str | Path,
    *,
    argv: list[str] | None = None,
    progress: bool = True,
    genotypes: tuple[GenotypePanel, GenotypePanel | None] | None = None,
    write_panels: bool = True,
    banded_ld: BandedLD | None = None,
) -> dict[str, Any]:
    """Simulate a GWAS with known truth and write it, atomically, to the folder ``out``.

    Parameters
    ----------
    config:
        The simulation options.
    out:
        Output folder; replaced as a whole only when the new one is complete.
    argv:
        Command line recorded in the provenance (default ``sys.argv``).
    progress:
        Show progress bars.
    genotypes:
        ``(reference, insample)`` as :func:`simulate_genotypes` returns them, to draw several
        traits (seeds) on the same genotypes; default: simulated from ``config``. The
        annotations, the true prior and the z-scores are drawn from ``config.seed`` either way.
    banded_ld:
        The banded LD of the cohort whose LD generates z (the in-sample cohort, else the
        panel), formed once with ``BandedLD.from_genotypes(cohort, 1e3 * config.ld_band_kb)``
        for many seeds on the same ``genotypes``: the same z up to rounding, faster.
    write_panels:
        Write the genotypes (``reference.*`` and ``insample.*``); False skips them, e.g. when
        the same genotypes are reused across many seeds.

    Returns
    -------
    summary: dict
        ``n_snps``, ``n_snps_per_chrom``, ``n_ref``, ``n_insample``, ``n_gwas``, ``h2``,
        ``h2_per_chrom``, ``sigma``, ``prior``, ``annotations``, ``annotation_means`` (the
        coverage of a binary annotation), ``ld_source``, ``mean_chi2``, ``lambda_gc``,
        ``max_chi2``, ``genotypes``, ``seconds``.

    Notes
    -----
    Files written:

    - ``sumstats.tsv.gz``: ``CHR SNP BP A1 A2 Z N AF1 BETA SE P``; ``BETA = Z / sqrt(N)`` and
      ``SE = 1 / sqrt(N)`` are on the standardised scale; ``P`` is two-sided; ``AF1`` is the A1
      frequency in the cohort whose LD generated Z (in-sample cohort, else reference panel).
    - ``annotations.tsv.gz``: ``CHR SNP BP A1 A2``, the annotation columns, then ``MAF``
      (reference panel).
    - ``truth.tsv.gz``: ``CHR SNP BP A1 A2 SNPVAR BETA``: SNPVAR sums to ``h2``; BETA is the
      standardised effect of A1 (drawn from N(0, SNPVAR)) that generated Z.
    - ``reference.{bed,bim,fam}`` and, with ``n_insample``, ``insample.{bed,bim,fam}`` (unless
      ``write_panels`` is False).
    - ``simulation.json``: ``config``, ``provenance``, ``summary``.

    Raises
    ------
    InputError
        Missing or malformed inputs; nothing is left at ``out`` in that case.
    """
    t0 = time.perf_counter()
    inputs = _check_inputs(config)
    rngs = config.streams()
    if genotypes is None:
        genotypes = simulate_genotypes(config, progress=progress)
    reference, insample = genotypes

    af_ref = reference.variants["AF1"].to_numpy()
    if config.annotations is not None:
        values, names, kept = given_annotations(config.annotations, reference.variants)
        if kept.size < reference.n_variants:
            reference = reference.subset(kept)
            insample = None if insample is None else insample.subset(kept)
            af_ref = af_ref[kept]
    else:
        values, names = synthetic_annotations(
            reference.variants,
            n_binary=config.n_binary,
            n_continuous=config.n_continuous,
            rng=rngs["annotations"],
        )
    maf = np.minimum(af_ref, 1.0 - af_ref)
    snpvar = true_prior(
        values,
        maf,
        kind=config.prior,
        h2=config.h2,
        rng=rngs["prior"],
        positions=reference.variants[["CHR", "BP"]].to_numpy(np.float64),
    )
    gwas = insample if insample is not None else reference
    z, beta = simulate_sumstats(
        gwas,
        snpvar,
        n_gwas=config.n_gwas,
        sigma=config.sigma,
        rng=rngs["sumstats"],
        band_bp=None if config.ld_band_kb is None else 1e3 * config.ld_band_kb,
        banded_ld=banded_ld,
        return_effects=True,
    )

    variants = reference.variants
    base = variants[_BASE_COLUMNS].reset_index(drop=True)
    n_col = int(config.n_gwas) if float(config.n_gwas).is_integer() else float(config.n_gwas)
    sumstats = base.assign(
        Z=z,
        N=n_col,
        AF1=gwas.variants["AF1"].to_numpy(),
        BETA=z / math.sqrt(config.n_gwas),
        SE=1.0 / math.sqrt(config.n_gwas),
        P=2.0 * special.ndtr(-np.abs(z)),
    )
    annotations = pd.concat(
        [base, pd.DataFrame(values, columns=names), pd.DataFrame({"MAF": maf})], axis=1
    )
    truth = base.assign(SNPVAR=snpvar, BETA=beta)

    chi2 = z**2
    chrom = variants["CHR"].to_numpy()
    summary: dict[str, Any] = {
        "n_snps": int(z.size),
        "n_snps_per_chrom": {str(c): int((chrom == c).sum()) for c in pd.unique(chrom)},
        "n_ref": reference.n_samples,
        "n_insample": 0 if insample is None else insample.n_samples,
        "n_gwas": config.n_gwas,
        "h2": float(snpvar.sum()),
        "h2_per_chrom": {str(c): float(snpvar[chrom == c].sum()) for c in pd.unique(chrom)},
        "sigma": config.sigma,
        "prior": config.prior,
        "annotations": names + ["MAF"],
        "annotation_means": {n: float(v) for n, v in zip(names, values.mean(axis=0), strict=True)},
        "ld_source": "insample" if insample is not None else "reference",
        "mean_chi2": float(chi2.mean()),
        "lambda_gc": float(np.median(chi2) / _MEDIAN_CHI2_1),
        "max_chi2": float(chi2.max()),
        "genotypes": reference.source,
    }
    with atomic_dir(out) as tmp:
        _write_tsv_gz(sumstats, tmp / "sumstats.tsv.gz")
        _write_tsv_gz(annotations, tmp / "annotations.tsv.gz")
        _write_tsv_gz(truth, tmp / "truth.tsv.gz")
        panel_columns = ["CHR", "SNP", "BP", "A1", "A2", "CM"]
        if write_panels:
            write_plink(
                tmp / "reference", reference.dosages(), variants[panel_columns], reference.samples
            )
        if write_panels and insample is not None:
            write_plink(
                tmp / "insample",
                insample.dosages(),
                insample.variants[panel_columns],
                insample.samples,
            )
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        record = {
            "config": asdict(config),
            "provenance": provenance(inputs=inputs or None, seed=config.seed, argv=argv),
            "summary": summary,
        }
        with open(tmp / "simulation.json", "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2)
            fh.write("\n")
    return summary
