"""The options of a simulation: :class:`SimConfig`, checked once when it is made.

This module owns the simulation's parameters, their checks (a constraint table checked by
:func:`deepwas._validation.validate`, as TrainConfig's: each error names the ``deepwas simulate``
flag, or the field for the few options without one) and the random streams derived from the
seed: one independent generator per stage (genotypes, annotations, prior, sumstats, panel
split), so changing one stage's options does not change the draws of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NoReturn

import numpy as np

from deepwas._validation import Check, Interval, Options, validate
from deepwas.errors import InputError

__all__ = ["SimConfig"]

_STREAMS = ("genotypes", "annotations", "prior", "sumstats", "split")
REF_POPULATIONS = ("CEU", "YRI", "CHB")  # sampled populations of ooa_ceu_demography()


def _fail(param: str, message: str, fix: str | None = None) -> NoReturn:
    raise InputError(message, column=_FLAGS.get(param, "--" + param.replace("_", "-")), fix=fix)


def _is_path(value: Any) -> bool:
    return isinstance(value, str)


_POSITIVE = Interval(Real, 0, None, closed="neither")
_PATH = [Check(_is_path, "a path (a string)"), None]
# SimConfig's constraint table (deepwas._validation), for the options that are flags of
# ``deepwas simulate``: the error's column is the flag, --NAME or the one of _FLAGS.
_SIM_CONSTRAINTS: dict[str, Any] = {
    "n_ref": Interval(Integral, 2, None, closed="left"),
    "n_insample": [Interval(Integral, 2, None, closed="left"), None],
    "n_gwas": _POSITIVE,
    "h2": Interval(Real, 0, 1, closed="right"),
    "length_mb": Interval(Real, 0, 300, closed="right"),
    "chroms": Interval(Integral, 1, 22, closed="both"),
    "demography": Options(("ooa_ceu", "constant")),
    "ref_population": Options(REF_POPULATIONS),
    "genetic_map": _PATH,
    "panel": _PATH,
    "min_maf": Interval(Real, 0, 0.5, closed="left"),
    "max_snps": [Interval(Integral, 1, None, closed="left"), None],
    "maf_spectrum": Options(("uniform", "hapmap3")),
    "annotations": _PATH,
    "n_binary": Interval(Integral, 0, None, closed="left"),
    "n_continuous": Interval(Integral, 0, None, closed="left"),
    "prior": Options(("linear", "nonlinear", "neighbourhood")),
    "sigma": _POSITIVE,
    "seed": Interval(Integral, 0, None, closed="left"),  # numpy's SeedSequence needs >= 0
}
_FLAGS = {"panel": "--bfile", "annotations": "--annot"}  # panel: --bfile or --vcf
# Options of the library only (no flag): the error's column is the field's name.
_SIM_LIBRARY_CONSTRAINTS: dict[str, Any] = {
    "recombination_rate": Interval(Real, 0, 1e-3, closed="neither"),  # per bp per generation
    "mutation_rate": Interval(Real, 0, 1e-3, closed="neither"),
    "ld_band_kb": [_POSITIVE, None],
}


@dataclass(frozen=True)
class SimConfig:
    """Every option of a simulation, with defaults; ``dataclasses.asdict`` gives its JSON.

    Attributes
    ----------
    n_ref: int
        Diploid samples of the simulated reference panel.
    n_insample: int or None
        If set, the GWAS population sample: a separate cohort of this many diploids (CEU under
        ``ooa_ceu``) whose LD, R_pop, generates the z-scores, so that the reference panel's LD
        differs from the GWAS LD by sampling noise (and ancestry, see ``ref_population``) as in
        real studies. Realistic: 20,000 or more, so that R_pop is close to the population LD.
        None: the reference panel generates them. (It keeps its name, no ``n_pop`` alias: one
        name per option in the library, the config and the CLI.)
    n_gwas: float
        GWAS sample size N.
    h2: float
        Total SNP heritability of the simulated variants, ``sum(SNPVAR)``.
    length_mb: float
        Simulated sequence length per chromosome, in megabases.
    chroms: int
        Number of chromosomes (1..22), named 1..chroms.
    demography: str
        ``"ooa_ceu"`` (Gutenkunst et al. 2009 Out-of-Africa, sampling CEU) or ``"constant"``
        (Ne = 10,000).
    ref_population: str
        ``"CEU"`` (the GWAS population), ``"YRI"`` or ``"CHB"``: the Out-of-Africa population
        the reference panel is sampled from, in the same msprime run as the CEU in-sample
        cohort, to model ancestry mismatch between panel and GWAS. Anything but CEU needs
        ``demography="ooa_ceu"``, ``n_insample`` and msprime genotypes (no ``panel``).
    recombination_rate: float
        Per base pair per generation (ignored when ``genetic_map`` is given).
    mutation_rate: float
        Per base pair per generation.
    genetic_map: str or None
        Path to a ``pos chr cM`` text map (see :func:`read_genetic_map`).
    panel: str or None
        Path to a PLINK prefix or VCF used as the reference panel instead of msprime.
    min_maf: float
        Minimum minor allele frequency in every cohort, in [0, 0.5).
    max_snps: int or None
        Thin to at most this many variants per chromosome (uniformly at random, order kept).
    maf_spectrum: str
        ``"uniform"`` keeps the coalescent's minor-allele-frequency spectrum (30% of the kept
        variants below MAF 0.05 with ``min_maf=0.01``); ``"hapmap3"`` thins each MAF bin so that
        the panel's spectrum is that of HapMap3 variants in 1000 Genomes EUR (9% below 0.05,
        median 0.23; :data:`deepwas.simulate.genotypes.HAPMAP3_MAF`), as in the reference
        panels users have. msprime genotypes only.
    annotations: str or None
        Path to given annotations, in any format :func:`deepwas.io.annotations.read_annotations`
        reads (TSV/CSV, optionally gzipped, or parquet; a ``SNP`` column or ``CHR`` + ``BP``,
        numeric annotation columns); then no synthetic ones are made. Rows are matched by
        :func:`deepwas.io.annotations.match_annotations` (by SNP id, or by CHR and BP when that
        annotates more variants; the first row of a duplicate wins); variants without
        annotations are dropped. Identifier columns and allele-frequency columns (``MAF FRQ AF
        AF1 EAF A1FREQ``) are not annotations (MAF is always the reference panel's).
    n_binary, n_continuous: int
        Numbers of synthetic binary and continuous annotations.
    prior: str
        ``"linear"``, ``"nonlinear"`` or ``"neighbourhood"`` (see :func:`true_prior`).
    sigma: float
        The intercept in ``z ~ N(0, N R S R + sigma R)``.
    ld_band_kb: float or None
        The z-scores' signal term uses the cohort's LD banded at this distance (see
        :func:`simulate_sumstats`); None uses the cohort's full sample LD, spurious long-range
        correlations included. Build LD stores with ``flank_kb >= ld_band_kb``.
    seed: int
        Seed of every random draw.

    Notes
    -----
    UKB-height-like data (UK Biobank height on chr22: h2 about 0.005 over 15,000 HapMap3
    variants, mean chi2 4.1) at about half the scale::

        SimConfig(n_insample=20_000, n_gwas=300_000, h2=0.004, length_mb=20, max_snps=8600)

    (``deepwas simulate --n-insample 20000 --n-gwas 300000 --h2 0.004 --length-mb 20
    --max-snps 8600``): 8,600 variants of a 500-sample panel, z-scores with the LD of 20,000
    CEU individuals; measured (seed 1): mean chi2 3.11, lambda_GC 1.95, about 70 s of CPU
    (1.5-3 min wall on a loaded 2-core machine) and 4.0 GB peak memory. Add
    ``ref_population="YRI"`` for a panel of another ancestry (mean chi2 2.86 there).
    """

    n_ref: int = 500
    n_insample: int | None = None
    n_gwas: float = 100_000
    h2: float = 0.3
    length_mb: float = 10.0
    chroms: int = 1
    demography: str = "ooa_ceu"
    ref_population: str = "CEU"
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.25e-8
    genetic_map: str | None = None
    panel: str | None = None
    min_maf: float = 0.01
    max_snps: int | None = None
    maf_spectrum: str = "uniform"
    annotations: str | None = None
    n_binary: int = 6
    n_continuous: int = 4
    prior: str = "nonlinear"
    sigma: float = 1.0
    ld_band_kb: float | None = 1000.0
    seed: int = 1

    def __post_init__(self) -> None:
        validate(self.__dict__, _SIM_CONSTRAINTS, where="SimConfig", flags=_FLAGS)
        validate(self.__dict__, _SIM_LIBRARY_CONSTRAINTS, where="SimConfig", as_flags=False)
        if self.maf_spectrum != "uniform" and self.panel is not None:
            _fail(
                "maf_spectrum",
                f"maf_spectrum {self.maf_spectrum} thins msprime genotypes; a given panel "
                "keeps its own spectrum",
                "drop maf_spectrum (or the panel)",
            )
        if self.ref_population != "CEU":  # rules between options, beyond the tables
            if self.panel is not None:
                _fail(
                    "ref_population",
                    f"ref_population {self.ref_population} needs msprime genotypes, "
                    "not a given panel",
                    "drop ref_population (or the panel)",
                )
            if self.demography != "ooa_ceu":
                _fail(
                    "ref_population",
                    f"ref_population {self.ref_population} needs demography ooa_ceu, "
                    f"got {self.demography!r}",
                    "use demography ooa_ceu",
                )
            if self.n_insample is None:
                _fail(
                    "ref_population",
                    f"ref_population {self.ref_population} needs n_insample: the GWAS "
                    "population sample (CEU) whose LD generates the z-scores",
                    "set n_insample (e.g. 20000)",
                )

    def streams(self) -> dict[str, np.random.Generator]:
        """One independent random generator per stage, all derived from :attr:`seed`."""
        seqs = np.random.SeedSequence(self.seed).spawn(len(_STREAMS))
        return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seqs, strict=True)}
