"""Simulated GWAS data with a known truth: genotypes, annotations, a true prior and z-scores.

This module owns ``deepwas simulate``. It draws reference-panel genotypes with msprime (or takes
a given panel), spatially clustered synthetic annotations, a true per-SNP heritability
``s = SNPVAR`` that is a linear or a clearly non-linear function of the annotations and allele
frequency, and z-scores drawn from the exact model of DESIGN 2,

    z ~ N(0, N R S R + sigma R),   S = diag(s),   R = X^T X / n,

where X are the standardised genotypes of the cohort whose LD generates the z-scores (the
in-sample cohort when ``n_insample`` is set, else the reference panel itself). The entry point
:func:`run_simulation` writes everything a ``deepwas fit`` run needs, plus the truth, into one
folder atomically.

Decisions
---------
- Genotypes: one ``msprime.sim_ancestry`` run per chromosome (diploid, discrete genome) with
  ``n_ref + n_insample`` individuals, split into the reference panel (the first ``n_ref``) and
  the in-sample cohort (the rest), so both share the same LD up to sampling noise. Mutations use
  the binary (infinite-alleles-like 0/1) model; sites hit by more than one mutation are dropped,
  so every kept site is a clean biallelic SNP. A variant is kept when its minor allele frequency
  is at least ``min_maf`` in *every* cohort (a variant monomorphic in the GWAS cohort has no
  defined correlation).
- Coordinates: ``BP = msprime position + 1`` (1-based integers; the discrete genome makes them
  unique, a defensive de-duplication keeps the first). SNP ids are ``sim{CHR}_{BP}``.
- Alleles: the ancestral/derived pair is drawn uniformly from the 8 strand-*unambiguous* ordered
  pairs of ACGT (no A/T or C/G SNPs), so that harmonisation, which drops ambiguous SNPs, keeps
  every simulated variant. A1 (the counted allele) is the derived allele or the ancestral one
  with probability 1/2 each, so A1 is sometimes the major allele, as in real sumstats.
- Out-of-Africa: the three-population model of Gutenkunst et al. (2009, PLoS Genet 5:e1000695)
  with the parameters of their Table 1 as used by stdpopsim's ``OutOfAfrica_3G09``, written with
  ``msprime.Demography`` directly (stdpopsim is not used: its maps download at run time).
- Genetic map: a text map with columns ``pos chr cM`` (shapeit4 ``*.gmap.gz`` style) becomes an
  ``msprime.RateMap`` whose origin is the map's first position, truncated at ``length_mb``; if the
  map is shorter, its mean rate continues to the end. A map with one chromosome serves every
  simulated chromosome; a map with several gives chromosome k its own rows.
- Given panel (``panel``): the reference panel *is* the given panel; with ``n_insample`` its
  samples are split at random into an in-sample cohort of that size and a reference panel of the
  rest (``n_ref`` is then ignored). ``chroms``, ``length_mb``, ``demography``, the rates and the
  genetic map are ignored. Missing calls are kept (written as missing) and mean-imputed for LD.
- The MAF annotation written beside the others is the reference panel's MAF (as in real studies,
  where only the reference panel's frequencies are at hand); the true prior uses the same MAF.
- Random streams: ``numpy.random.SeedSequence(seed).spawn`` gives one independent stream per
  stage (genotypes, annotations, prior, sumstats, panel split), so changing one stage's options
  does not change the draws of the others.
- gzip members are written with ``mtime=0`` and no file name, so a seed gives identical bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from scipy import special

from deepwas._files import atomic_dir, open_text
from deepwas.errors import InputError
from deepwas.io.genotypes import GenotypePanel, read_genotypes, standardize, write_plink
from deepwas.io.variants import normalize_chrom
from deepwas.provenance import provenance

__all__ = [
    "SimConfig",
    "ooa_ceu_demography",
    "read_genetic_map",
    "simulate_genotypes",
    "synthetic_annotations",
    "true_prior",
    "simulate_sumstats",
    "run_simulation",
]

#: The alpha of the frequency-dependent architecture (Schoech et al. 2019, Nat Commun 10:790):
#: per-allele effect variance ~ [2p(1-p)]^alpha, so a standardised effect has variance
#: ~ [2p(1-p)]^(1 + alpha).
ALPHA_MAF = -0.38

_CONSTANT_NE = 10_000
_UNAMBIGUOUS_PAIRS = np.array(
    [("A", "C"), ("A", "G"), ("C", "A"), ("C", "T"), ("G", "A"), ("G", "T"), ("T", "C"), ("T", "G")]
)
_BASE_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2"]
_NON_ANNOTATION = {"CHR", "SNP", "BP", "A1", "A2", "CM", "AF1", "MAF"}
_MEDIAN_CHI2_1 = 0.454936423119572  # median of a chi-square with 1 degree of freedom
_STREAMS = ("genotypes", "annotations", "prior", "sumstats", "split")


def _fail(param: str, message: str, fix: str | None = None) -> NoReturn:
    raise InputError(message, column=param, fix=fix)


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


@dataclass(frozen=True)
class SimConfig:
    """Every option of a simulation, with defaults; ``dataclasses.asdict`` gives its JSON.

    Attributes
    ----------
    n_ref: int
        Diploid samples of the simulated reference panel.
    n_insample: int or None
        If set, a separate in-sample cohort of this many diploids (same simulated ancestry)
        whose LD generates the z-scores, so that the reference panel's LD differs from the
        GWAS LD by sampling noise as in real studies. None: the reference panel generates them.
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
    annotations: str or None
        Path to given annotations (TSV/CSV, optionally gzipped, or parquet; a ``SNP`` column or
        ``CHR`` + ``BP``, numeric annotation columns); then no synthetic ones are made. Rows are
        matched by SNP id, else by CHR and BP (first row of a duplicate wins); variants without
        annotations are dropped. ``CHR SNP BP A1 A2 CM AF1 MAF`` are not annotations (MAF is
        always the reference panel's).
    n_binary, n_continuous: int
        Numbers of synthetic binary and continuous annotations.
    prior: str
        ``"linear"`` or ``"nonlinear"`` (see :func:`true_prior`).
    sigma: float
        The intercept in ``z ~ N(0, N R S R + sigma R)``.
    ld_band_kb: float or None
        The z-scores' signal term uses the cohort's LD banded at this distance (see
        :func:`simulate_sumstats`); None uses the cohort's full sample LD, spurious long-range
        correlations included. Build LD stores with ``flank_kb >= ld_band_kb``.
    seed: int
        Seed of every random draw.
    """

    n_ref: int = 500
    n_insample: int | None = None
    n_gwas: float = 100_000
    h2: float = 0.3
    length_mb: float = 10.0
    chroms: int = 1
    demography: str = "ooa_ceu"
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.25e-8
    genetic_map: str | None = None
    panel: str | None = None
    min_maf: float = 0.01
    max_snps: int | None = None
    annotations: str | None = None
    n_binary: int = 6
    n_continuous: int = 4
    prior: str = "nonlinear"
    sigma: float = 1.0
    ld_band_kb: float | None = 1000.0
    seed: int = 1

    def __post_init__(self) -> None:
        if not _is_int(self.n_ref) or self.n_ref < 2:
            _fail("n_ref", f"n_ref must be an integer >= 2, got {self.n_ref!r}")
        if self.n_insample is not None and (not _is_int(self.n_insample) or self.n_insample < 2):
            _fail(
                "n_insample", f"n_insample must be None or an integer >= 2, got {self.n_insample!r}"
            )
        if not (_is_real(self.n_gwas) and math.isfinite(self.n_gwas) and self.n_gwas > 0):
            _fail("n_gwas", f"n_gwas must be a positive number, got {self.n_gwas!r}")
        if not (_is_real(self.h2) and 0.0 < self.h2 <= 1.0):
            _fail("h2", f"h2 must be in (0, 1], got {self.h2!r}")
        if not (_is_real(self.length_mb) and 0.0 < self.length_mb <= 300.0):
            _fail("length_mb", f"length_mb must be in (0, 300], got {self.length_mb!r}")
        if not _is_int(self.chroms) or not 1 <= self.chroms <= 22:
            _fail("chroms", f"chroms must be an integer in 1..22, got {self.chroms!r}")
        if self.demography not in ("ooa_ceu", "constant"):
            _fail(
                "demography", f"unknown demography {self.demography!r}", "use ooa_ceu or constant"
            )
        for name in ("recombination_rate", "mutation_rate"):
            v = getattr(self, name)
            if not (_is_real(v) and 0.0 < v < 1e-3):
                _fail(name, f"{name} must be in (0, 1e-3) per bp per generation, got {v!r}")
        if not (_is_real(self.min_maf) and 0.0 <= self.min_maf < 0.5):
            _fail("min_maf", f"min_maf must be in [0, 0.5), got {self.min_maf!r}")
        if self.max_snps is not None and (not _is_int(self.max_snps) or self.max_snps < 1):
            _fail("max_snps", f"max_snps must be None or a positive integer, got {self.max_snps!r}")
        for name in ("n_binary", "n_continuous"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                _fail(name, f"{name} must be a non-negative integer, got {v!r}")
        if self.prior not in ("linear", "nonlinear"):
            _fail("prior", f"unknown prior {self.prior!r}", "use linear or nonlinear")
        if not (_is_real(self.sigma) and math.isfinite(self.sigma) and self.sigma > 0):
            _fail("sigma", f"sigma must be a positive number, got {self.sigma!r}")
        if self.ld_band_kb is not None and not (
            isinstance(self.ld_band_kb, int | float) and self.ld_band_kb > 0
        ):
            _fail("ld_band_kb", f"ld_band_kb must be None or > 0, got {self.ld_band_kb!r}")
        if not _is_int(self.seed) or self.seed < 0:
            _fail("seed", f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("genetic_map", "panel", "annotations"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                _fail(name, f"{name} must be a path string or None, got {v!r}")

    def streams(self) -> dict[str, np.random.Generator]:
        """One independent random generator per stage, all derived from :attr:`seed`."""
        seqs = np.random.SeedSequence(self.seed).spawn(len(_STREAMS))
        return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seqs, strict=True)}


# --------------------------------------------------------------------------------------------
# Genotypes
# --------------------------------------------------------------------------------------------


def ooa_ceu_demography() -> Any:
    """The Out-of-Africa model of Gutenkunst et al. (2009) as an ``msprime.Demography``.

    Returns
    -------
    msprime.Demography
        Populations YRI, CEU, CHB (sampled at time 0) and OOA (the Out-of-Africa bottleneck).

    Notes
    -----
    Parameters (Gutenkunst et al. 2009, Table 1; generation time 25 years): ancestral size
    N_A = 7,300 growing to N_AF = 12,300 at 220 kya; the OOA population (N_B = 2,100) splits from
    Africa at 140 kya and exchanges migrants at m_AF_B = 25e-5; CEU and CHB split from OOA at
    21.2 kya with founding sizes 1,000 and 510 that grow at 0.4% and 0.55% per generation;
    migration YRI-CEU 3e-5, YRI-CHB 1.9e-5, CEU-CHB 9.6e-5 per generation.
    """
    import msprime

    generation_time = 25.0
    n_a, n_b, n_af = 7_300.0, 2_100.0, 12_300.0
    n_eu0, n_as0 = 1_000.0, 510.0
    r_eu, r_as = 0.004, 0.0055
    t_af = 220e3 / generation_time
    t_b = 140e3 / generation_time
    t_eu_as = 21.2e3 / generation_time
    n_eu = n_eu0 / math.exp(-r_eu * t_eu_as)
    n_as = n_as0 / math.exp(-r_as * t_eu_as)

    dem = msprime.Demography()
    # YRI is the trunk (ancestral in the OOA split) yet sampled and migrating from time 0.
    dem.add_population(
        name="YRI",
        description="Yoruba in Ibadan, Nigeria",
        initial_size=n_af,
        initially_active=True,
    )
    dem.add_population(
        name="CEU",
        description="Utah residents of European ancestry",
        initial_size=n_eu,
        growth_rate=r_eu,
    )
    dem.add_population(
        name="CHB", description="Han Chinese in Beijing", initial_size=n_as, growth_rate=r_as
    )
    dem.add_population(
        name="OOA", description="Bottleneck out-of-Africa population", initial_size=n_b
    )
    dem.set_symmetric_migration_rate(["YRI", "CEU"], 3e-5)
    dem.set_symmetric_migration_rate(["YRI", "CHB"], 1.9e-5)
    dem.set_symmetric_migration_rate(["CEU", "CHB"], 9.6e-5)
    # Going back in time: CEU and CHB merge into OOA (their migration rates drop to zero).
    dem.add_population_split(time=t_eu_as, derived=["CEU", "CHB"], ancestral="OOA")
    dem.add_symmetric_migration_rate_change(time=t_eu_as, populations=["YRI", "OOA"], rate=25e-5)
    dem.add_population_split(time=t_b, derived=["OOA"], ancestral="YRI")
    dem.add_population_parameters_change(time=t_af, initial_size=n_a, population="YRI")
    dem.sort_events()
    return dem


def read_genetic_map(path: str | Path, *, chrom: int, length_bp: float) -> Any:
    """Read a ``pos chr cM`` genetic map into an ``msprime.RateMap`` of length ``length_bp``.

    Parameters
    ----------
    path:
        Whitespace-separated text (optionally gzipped) with a header naming the columns ``pos``
        (bp), ``chr`` and ``cM`` (cumulative centiMorgans), as the shapeit4 ``*.gmap.gz`` maps.
    chrom:
        The simulated chromosome. A map holding one chromosome is used for every chromosome;
        a map holding several must hold this one.
    length_bp:
        Length of the simulated sequence.

    Returns
    -------
    msprime.RateMap
        Per-bp-per-generation rates on [0, length_bp); position 0 is the map's first position.
        Beyond the map's last position the map's mean rate is used.

    Raises
    ------
    InputError
        Missing file or columns, fewer than two rows, or positions / cM not increasing.
    """
    import msprime

    path = Path(path)
    if not path.is_file():
        raise InputError("genetic map not found", file=path, fix="check the --genetic-map path")
    try:
        with open_text(path) as fh:
            table = pd.read_csv(fh, sep=r"\s+")
    except Exception as exc:
        raise InputError(f"cannot read genetic map: {exc}", file=path) from exc
    cols = {c.lower(): c for c in table.columns}
    missing = [c for c in ("pos", "chr", "cm") if c not in cols]
    if missing:
        raise InputError(
            f"genetic map lacks column(s) {missing}",
            file=path,
            fix="give a whitespace-separated map with a header 'pos chr cM' (shapeit4 style)",
        )
    codes = normalize_chrom(table[cols["chr"]], file=str(path), column=cols["chr"])
    rows = np.flatnonzero(codes == chrom) if np.unique(codes).size > 1 else np.arange(len(table))
    if rows.size < 2:
        raise InputError(
            f"genetic map has {rows.size} row(s) for chromosome {chrom}",
            file=path,
            fix="give at least two map points for every simulated chromosome",
        )
    try:
        pos = pd.to_numeric(table[cols["pos"]].iloc[rows]).to_numpy(dtype=np.float64)
        cm = pd.to_numeric(table[cols["cm"]].iloc[rows]).to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InputError(f"non-numeric genetic map value: {exc}", file=path) from exc
    bad = np.flatnonzero(~np.isfinite(pos) | ~np.isfinite(cm))
    if bad.size:
        raise InputError("missing or non-finite value", file=path, row=int(rows[bad[0]]) + 2)
    step_bad = np.flatnonzero((np.diff(pos) <= 0) | (np.diff(cm) < 0))
    if step_bad.size:
        raise InputError(
            "positions must increase and cM must not decrease",
            file=path,
            row=int(rows[step_bad[0] + 1]) + 2,
            fix="sort the map by position",
        )
    x = pos - pos[0]
    morgans = (cm - cm[0]) / 100.0
    mean_rate = morgans[-1] / x[-1]
    grid = np.unique(np.concatenate([x[x < length_bp], [float(length_bp)]]))
    mass = np.where(
        grid <= x[-1], np.interp(grid, x, morgans), morgans[-1] + (grid - x[-1]) * mean_rate
    )
    rates = np.maximum(np.diff(mass) / np.diff(grid), 0.0)
    return msprime.RateMap(position=grid, rate=rates)


def _memory_panel(
    codes: np.ndarray, variants: pd.DataFrame, samples: pd.DataFrame, source: str
) -> GenotypePanel:
    """A :class:`GenotypePanel` over in-memory codes (n_variants, n_samples) int8, -1 missing."""
    return GenotypePanel.from_codes(codes, variants, samples, source=source)


def _allele_freq(codes: np.ndarray) -> np.ndarray:
    """Frequency of A1 among observed calls; codes (m, n) int8 with -1 missing -> (m,)."""
    observed = codes >= 0
    total = np.where(observed, codes, 0).sum(axis=1, dtype=np.int64)
    n_obs = observed.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / (2.0 * n_obs)


def _maf_ok(codes: np.ndarray, min_maf: float) -> np.ndarray:
    af = _allele_freq(codes)
    maf = np.minimum(af, 1.0 - af)
    return np.isfinite(maf) & (maf >= min_maf) & (maf > 0)


def _simulate_chromosome(
    config: SimConfig, chrom: int, n_total: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Derived-allele counts (m, n_total) int8, positions (m,) and cM (m,) of one chromosome."""
    import msprime

    length = float(config.length_mb) * 1e6
    if config.genetic_map is not None:
        recomb: Any = read_genetic_map(config.genetic_map, chrom=chrom, length_bp=length)
    else:
        recomb = msprime.RateMap(position=[0.0, length], rate=[config.recombination_rate])
    seed_anc, seed_mut = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    if config.demography == "ooa_ceu":
        ts = msprime.sim_ancestry(
            samples={"CEU": n_total},
            demography=ooa_ceu_demography(),
            ploidy=2,
            recombination_rate=recomb,
            random_seed=seed_anc,
        )
    else:
        ts = msprime.sim_ancestry(
            samples=n_total,
            population_size=_CONSTANT_NE,
            ploidy=2,
            recombination_rate=recomb,
            random_seed=seed_anc,
        )
    ts = msprime.sim_mutations(
        ts, rate=config.mutation_rate, model=msprime.BinaryMutationModel(), random_seed=seed_mut
    )
    n_mut = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    ts = ts.delete_sites(np.flatnonzero(n_mut != 1))
    haps = ts.genotype_matrix()  # (sites, haploid samples) int8, 1 = derived
    column = np.searchsorted(ts.samples(), ts.individuals_nodes)  # (n_total, 2)
    dosage = haps[:, column[:, 0]] + haps[:, column[:, 1]]
    position = ts.tables.sites.position
    cm = recomb.get_cumulative_mass(position) * 100.0
    return dosage.astype(np.int8), position, cm


def simulate_genotypes(
    config: SimConfig, *, progress: bool = True
) -> tuple[GenotypePanel, GenotypePanel | None]:
    """Genotypes of the reference panel and, if ``config.n_insample``, of the in-sample cohort.

    Parameters
    ----------
    config:
        The simulation options; ``config.panel`` switches from msprime to a given panel.
    progress:
        Show a progress bar over chromosomes (stderr).

    Returns
    -------
    reference: GenotypePanel
        In memory, ``kind="memory"``; variants ``CHR SNP BP A1 A2 CM AF1`` sorted by (CHR, BP),
        ``AF1`` the A1 frequency in this cohort; samples ``FID IID``.
    insample: GenotypePanel or None
        The same variants (``AF1`` of this cohort) for the in-sample cohort; None without
        ``n_insample``.

    Raises
    ------
    InputError
        Bad genetic map or panel, or no variant passing ``min_maf``.
    """
    rng = config.streams()["genotypes"]
    if config.panel is not None:
        return _given_panel(config)
    from tqdm.auto import tqdm

    n_in = config.n_insample or 0
    n_total = config.n_ref + n_in
    parts: list[tuple[np.ndarray, pd.DataFrame]] = []
    for chrom in tqdm(
        range(1, config.chroms + 1), desc="simulating", unit="chrom", disable=not progress
    ):
        dosage, position, cm = _simulate_chromosome(config, chrom, n_total, rng)
        keep = _maf_ok(dosage[:, : config.n_ref], config.min_maf)
        if n_in:
            keep &= _maf_ok(dosage[:, config.n_ref :], config.min_maf)
        bp = position.astype(np.int64) + 1
        keep[np.setdiff1d(np.arange(bp.size), np.unique(bp, return_index=True)[1])] = False
        idx = np.flatnonzero(keep)
        if config.max_snps is not None and idx.size > config.max_snps:
            idx = np.sort(rng.choice(idx, size=config.max_snps, replace=False))
        m = idx.size
        pairs = _UNAMBIGUOUS_PAIRS[rng.integers(0, len(_UNAMBIGUOUS_PAIRS), size=m)]
        a1_is_derived = rng.random(m) < 0.5
        codes = np.where(a1_is_derived[:, None], dosage[idx], 2 - dosage[idx]).astype(np.int8)
        a1 = np.where(a1_is_derived, pairs[:, 1], pairs[:, 0])
        a2 = np.where(a1_is_derived, pairs[:, 0], pairs[:, 1])
        variants = pd.DataFrame(
            {
                "CHR": np.full(m, chrom, dtype=np.int64),
                "SNP": [f"sim{chrom}_{b}" for b in bp[idx]],
                "BP": bp[idx],
                "A1": a1.astype(str),
                "A2": a2.astype(str),
                "CM": cm[idx],
            }
        )
        parts.append((codes, variants))
    codes = np.concatenate([c for c, _ in parts], axis=0)
    variants = pd.concat([v for _, v in parts], ignore_index=True)
    if codes.shape[0] == 0:
        raise InputError(
            f"no simulated variant has MAF >= {config.min_maf}",
            column="min_maf",
            fix="lower min_maf or increase length_mb",
        )
    source = f"msprime:{config.demography}"
    names = [f"ref{i + 1}" for i in range(config.n_ref)]
    ref_codes = codes[:, : config.n_ref]
    reference = _memory_panel(
        ref_codes,
        variants.assign(AF1=_allele_freq(ref_codes)),
        pd.DataFrame({"FID": names, "IID": names}),
        source,
    )
    if not n_in:
        return reference, None
    names = [f"ins{i + 1}" for i in range(n_in)]
    in_codes = codes[:, config.n_ref :]
    insample = _memory_panel(
        in_codes,
        variants.assign(AF1=_allele_freq(in_codes)),
        pd.DataFrame({"FID": names, "IID": names}),
        source,
    )
    return reference, insample


def _given_panel(config: SimConfig) -> tuple[GenotypePanel, GenotypePanel | None]:
    """The given panel as reference (split into reference + in-sample with ``n_insample``)."""
    assert config.panel is not None
    panel = read_genotypes(config.panel)
    file = panel.source
    dup = panel.variants["SNP"].duplicated()
    if dup.any():
        first = panel.variants["SNP"][dup].iloc[0]
        raise InputError(
            f"duplicate variant id {first!r} in the panel",
            file=file,
            column="SNP",
            fix="remove duplicate ids first (e.g. plink --rm-dup)",
        )
    dos = panel.dosages(dtype=np.float32)  # (n, m), NaN missing
    codes = np.where(np.isnan(dos), -1, dos).astype(np.int8).T  # (m, n)
    n = panel.n_samples
    if config.n_insample:
        if config.n_insample > n - 2:
            raise InputError(
                f"cannot take {config.n_insample} in-sample individuals from a panel of {n}",
                file=file,
                column="n_insample",
                fix=f"use n_insample <= {n - 2}",
            )
        perm = config.streams()["split"].permutation(n)
        ins_idx = np.sort(perm[: config.n_insample])
        ref_idx = np.sort(perm[config.n_insample :])
    else:
        ins_idx, ref_idx = np.empty(0, dtype=np.intp), np.arange(n)
    keep = _maf_ok(codes[:, ref_idx], config.min_maf)
    if ins_idx.size:
        keep &= _maf_ok(codes[:, ins_idx], config.min_maf)
    variants = panel.variants.loc[keep, ["CHR", "SNP", "BP", "A1", "A2", "CM"]]
    codes = codes[keep]
    order = np.lexsort((variants["BP"].to_numpy(), variants["CHR"].to_numpy()))
    variants, codes = variants.iloc[order].reset_index(drop=True), codes[order]
    if config.max_snps is not None:
        rng = config.streams()["genotypes"]
        chosen = []
        for chrom in pd.unique(variants["CHR"]):
            idx = np.flatnonzero(variants["CHR"].to_numpy() == chrom)
            if idx.size > config.max_snps:
                idx = np.sort(rng.choice(idx, size=config.max_snps, replace=False))
            chosen.append(idx)
        sel = np.concatenate(chosen)
        variants, codes = variants.iloc[sel].reset_index(drop=True), codes[sel]
    if codes.shape[0] == 0:
        raise InputError(
            f"no panel variant has MAF >= {config.min_maf} in every cohort",
            file=file,
            column="min_maf",
            fix="lower min_maf or use another panel",
        )
    source = f"{file} (reference part)" if ins_idx.size else file
    ref_codes = codes[:, ref_idx]
    reference = _memory_panel(
        ref_codes,
        variants.assign(AF1=_allele_freq(ref_codes)),
        panel.samples.iloc[ref_idx],
        source,
    )
    if not ins_idx.size:
        return reference, None
    in_codes = codes[:, ins_idx]
    insample = _memory_panel(
        in_codes,
        variants.assign(AF1=_allele_freq(in_codes)),
        panel.samples.iloc[ins_idx],
        f"{file} (in-sample part)",
    )
    return reference, insample


def _subset(panel: GenotypePanel, idx: np.ndarray) -> GenotypePanel:
    """The in-memory panel restricted to variant rows ``idx`` (sorted)."""
    return panel.subset(idx)


# --------------------------------------------------------------------------------------------
# Annotations and the true prior
# --------------------------------------------------------------------------------------------


def synthetic_annotations(
    variants: pd.DataFrame,
    *,
    n_binary: int = 6,
    n_continuous: int = 4,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str]]:
    """Spatially clustered synthetic annotations, like real functional annotations.

    Parameters
    ----------
    variants: (m, >=2)
        A variant table with ``CHR`` and ``BP``, sorted by position within each chromosome.
    n_binary, n_continuous:
        How many of each kind to make.
    rng:
        Random generator.

    Returns
    -------
    values: (m, n_binary + n_continuous) float64
        Binary columns (0/1) first, then continuous ones (mean 0, variance 1 over the variants).
    names: list of str
        ``binary1..`` then ``continuous1..``.

    Notes
    -----
    Binary annotation j is a two-state continuous-time Markov chain along base-pair position:
    enriched runs of mean length ``L_j`` alternate with background runs of mean length
    ``L_j (1 - p_j) / p_j``, so the expected coverage is ``p_j``. Coverages are log-spaced from
    1% to 30% and run lengths from 5 kb to 50 kb (rare annotations come in shorter runs, like
    coding or conserved elements; common ones in longer runs, like chromatin states).
    Continuous annotation j is standard Gaussian noise on a 1 kb grid averaged over a moving
    window of ``w_j`` (log-spaced 10 kb..100 kb), read at each variant's bin, then standardised.
    Chromosomes are independent. The MAF feature is not made here (it depends on a cohort):
    :func:`run_simulation` appends it as the column ``MAF``.
    """
    chrom = variants["CHR"].to_numpy()
    bp = variants["BP"].to_numpy(dtype=np.int64)
    m = bp.size
    coverage = _spaced(0.01, 0.30, n_binary, 0.1)
    run_bp = _spaced(5e3, 50e3, n_binary, 20e3)
    width_bp = _spaced(10e3, 100e3, n_continuous, 30e3)
    values = np.zeros((m, n_binary + n_continuous))
    for c in pd.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        pos = bp[rows]
        lo, span = int(pos.min()), int(pos.max() - pos.min()) + 1
        for j in range(n_binary):
            values[rows, j] = _markov_runs(pos - lo, span, coverage[j], run_bp[j], rng)
        bins = (pos - lo) // 1000
        for j in range(n_continuous):
            w = max(1, int(round(width_bp[j] / 1000)))
            noise = rng.standard_normal(int(bins.max()) + w)
            cs = np.concatenate([[0.0], np.cumsum(noise)])
            smooth = (cs[w:] - cs[:-w]) / w  # mean of noise[i : i + w]
            values[rows, n_binary + j] = smooth[bins]
    cont = values[:, n_binary:]
    if m > 1 and n_continuous:
        sd = cont.std(axis=0)
        values[:, n_binary:] = (cont - cont.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    names = [f"binary{j + 1}" for j in range(n_binary)]
    names += [f"continuous{j + 1}" for j in range(n_continuous)]
    return values, names


def _spaced(lo: float, hi: float, k: int, single: float) -> np.ndarray:
    return np.geomspace(lo, hi, k) if k > 1 else np.full(k, single)


def _markov_runs(
    x: np.ndarray, span: int, coverage: float, mean_on: float, rng: np.random.Generator
) -> np.ndarray:
    """0/1 state at offsets ``x`` of a stationary two-state chain alternating exponential runs."""
    mean_off = mean_on * (1.0 - coverage) / coverage
    state0 = rng.random() < coverage
    n = max(16, int(3 * span / (mean_on + mean_off)) + 16)
    while True:  # draw alternating run lengths until they cover the span
        first, second = (mean_on, mean_off) if state0 else (mean_off, mean_on)
        lengths = np.empty(2 * n)
        lengths[0::2] = rng.exponential(first, n)
        lengths[1::2] = rng.exponential(second, n)
        ends = np.cumsum(lengths)
        if ends[-1] > span:
            break
        n *= 2
    segment = np.searchsorted(ends, x, side="right")
    on = (segment % 2 == 0) == state0
    return on.astype(np.float64)


def true_prior(
    values: np.ndarray,
    maf: np.ndarray,
    *,
    kind: str = "nonlinear",
    h2: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The true per-SNP heritability ``s`` (SNPVAR) as a function of annotations and MAF.

    Parameters
    ----------
    values: (m, k)
        Annotations. Columns holding only 0 and 1 are *binary*; the others are *continuous* and
        are standardised here (mean 0, variance 1; constant columns become 0).
    maf: (m,)
        Minor allele frequency, in (0, 0.5].
    kind:
        ``"linear"`` or ``"nonlinear"``.
    h2:
        Total heritability: ``sum(s) == h2`` up to round-off.
    rng:
        Draws the linear weights.

    Returns
    -------
    snpvar: (m,) float64
        Positive, summing to ``h2``.

    Notes
    -----
    With binary columns B, standardised continuous columns C and u = MAF, both kinds share the
    frequency term ``(1 + alpha) log(2u(1-u))`` with alpha = -0.38 (Schoech et al. 2019).

    - linear: ``log s = c + B w_B + C w_C + (1 + alpha) log(2u(1-u))`` with log-enrichments
      ``w_B ~ U(0, 2)`` and ``w_C ~ N(0, 0.5^2)``. Exactly linear in (B, C, log(2u(1-u))).
    - nonlinear: a weak linear part (``w_B ~ U(0, 0.5)``, ``w_C ~ N(0, 0.2^2)``) plus
      an interaction ``2.5 B_{-1} B_{-2}`` of the last two binary columns (the most common
      synthetic ones); a threshold ``3 sigmoid(4 (C_1 - 1))``; a bounded product
      ``1.5 tanh(C_2 C_3 / 2)`` (``C_2 C_1`` with two continuous columns); a gate
      ``1.5 B_{k/2} tanh(2 C_{-1})``; and a bump ``2 exp(-(u - 0.05)^2 / (2 * 0.02^2))`` in
      MAF. Terms whose columns do not exist are left out. A least-squares fit of log s on
      (B, C, log(2u(1-u))) explains about 40-60% of its variance with the default synthetic
      annotations (checked < 80% in the tests).
    """
    A = np.asarray(values, dtype=np.float64)
    u = np.asarray(maf, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != u.shape[0] or u.ndim != 1:
        raise ValueError(f"values (m, k) and maf (m,) disagree: {A.shape} vs {u.shape}")
    if not np.isfinite(A).all() or not np.isfinite(u).all():
        raise ValueError("values and maf must be finite")
    if kind not in ("linear", "nonlinear"):
        raise InputError(f"unknown prior {kind!r}", column="prior", fix="use linear or nonlinear")
    if not 0.0 < h2:
        raise InputError(f"h2 must be positive, got {h2}", column="h2")
    binary = np.all((A == 0.0) | (A == 1.0), axis=0)
    B = A[:, binary]
    C = A[:, ~binary]
    if C.shape[1]:
        sd = C.std(axis=0)
        C = (C - C.mean(axis=0)) / np.where(sd > 0, sd, np.inf)
    nb, nc = B.shape[1], C.shape[1]
    u = np.clip(u, 1e-6, 0.5)
    log_s = (1.0 + ALPHA_MAF) * np.log(2.0 * u * (1.0 - u))
    if kind == "linear":
        log_s += B @ rng.uniform(0.0, 2.0, nb) + C @ rng.normal(0.0, 0.5, nc)
    else:
        log_s += B @ rng.uniform(0.0, 0.5, nb) + C @ rng.normal(0.0, 0.2, nc)
        if nb >= 2:
            log_s += 2.5 * B[:, -1] * B[:, -2]
        if nc >= 1:
            log_s += 3.0 * special.expit(4.0 * (C[:, 0] - 1.0))
        if nc >= 2:
            log_s += 1.5 * np.tanh(0.5 * C[:, 1] * C[:, 2 if nc > 2 else 0])
        if nb >= 1 and nc >= 2:
            log_s += 1.5 * B[:, nb // 2] * np.tanh(2.0 * C[:, -1])
        log_s += 2.0 * np.exp(-0.5 * ((u - 0.05) / 0.02) ** 2)
    s = np.exp(log_s - log_s.max())
    return s * (h2 / s.sum())


# --------------------------------------------------------------------------------------------
# Summary statistics
# --------------------------------------------------------------------------------------------


def simulate_sumstats(
    genotypes: np.ndarray | GenotypePanel,
    snpvar: np.ndarray,
    *,
    n_gwas: float,
    sigma: float = 1.0,
    rng: np.random.Generator | int | None = None,
    n_draws: int | None = None,
    positions: np.ndarray | None = None,
    band_bp: float | None = None,
) -> np.ndarray:
    """Draw z-scores from ``z ~ N(0, N R S R + sigma R)`` with ``R = X^T X / n``, exactly.

    Parameters
    ----------
    genotypes: (n, m) array or GenotypePanel
        Either X, used as given (pass standardised genotypes, columns mean 0 and variance 1, for
        R to be the LD correlation), or a panel, standardised chromosome by chromosome with
        :func:`deepwas.io.genotypes.standardize` (LD across chromosomes is zero).
    snpvar: (m,)
        Per-SNP heritability s (the prior variance of standardised effects), non-negative.
    n_gwas:
        GWAS sample size N.
    sigma:
        Intercept: the variance of the noise term is ``sigma R``.
    rng:
        Generator or seed.
    n_draws:
        None for one draw, else the number of independent replicate draws.
    positions: (m,), optional
        Base-pair positions (with a panel they come from it), needed for ``band_bp``.
    band_bp:
        If given, the signal term uses the *banded* LD ``R_band`` (``R_jk`` where
        ``|pos_j - pos_k| < band_bp``, else 0): ``z = sqrt(N) R_band beta + e``,
        ``Cov z = N R_band S R_band + sigma R``. A simulated cohort of n samples has spurious
        LD of order 1/n between every pair of variants; summed over a chromosome it would add
        about ``N h2 / n`` to every chi2, far more than in a real GWAS whose in-sample LD comes
        from N samples. Banding keeps the cohort's local LD and drops the far spurious part.
        Within the band the model of DESIGN 2 holds exactly for windows whose flanks are at
        least ``band_bp``.

    Returns
    -------
    z: (m,) or (n_draws, m) float64

    Notes
    -----
    ``beta ~ N(0, diag(s))``, ``g ~ N(0, I_n)`` and ``z = sqrt(N) X^T (X beta) / n
    + sqrt(sigma / n) X^T g``; then ``E z = 0`` and ``Cov z = N R S R + sigma R`` exactly, and
    R (m x m) is never formed: the cost is O(n m) per draw.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    s = np.asarray(snpvar, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("snpvar must be a 1-d array of finite non-negative values")
    if not (n_gwas > 0 and sigma > 0):
        raise ValueError(f"n_gwas and sigma must be positive, got {n_gwas}, {sigma}")
    d = 1 if n_draws is None else int(n_draws)
    if d < 1:
        raise ValueError(f"n_draws must be None or >= 1, got {n_draws}")
    if isinstance(genotypes, np.ndarray):
        blocks = [(np.arange(s.size), np.asarray(genotypes, dtype=np.float64))]
        if blocks[0][1].ndim != 2 or blocks[0][1].shape[1] != s.size:
            raise ValueError(f"X has shape {genotypes.shape}, expected (n, {s.size})")
    else:
        if genotypes.n_variants != s.size:
            raise ValueError(f"panel has {genotypes.n_variants} variants, snpvar {s.size}")
        chrom = genotypes.variants["CHR"].to_numpy()
        blocks = (
            (idx, standardize(genotypes.dosages(idx))[0])
            for idx in (np.flatnonzero(chrom == c) for c in pd.unique(chrom))
        )
    if band_bp is not None:
        if positions is None and not isinstance(genotypes, np.ndarray):
            positions = genotypes.variants["BP"].to_numpy()
        if positions is None or len(positions) != s.size:
            raise ValueError("band_bp needs one position per variant")
        positions = np.asarray(positions, dtype=np.float64)
    z = np.empty((d, s.size))
    for idx, X in blocks:
        n = X.shape[0]
        beta = np.sqrt(s[idx]) * gen.standard_normal((d, idx.size))  # (d, m_c)
        g = gen.standard_normal((d, n))  # (d, n)
        if band_bp is None:
            signal = (beta @ X.T) @ X / n
        else:
            signal = _banded_ld_times(X, beta, positions[idx], band_bp)
        z[:, idx] = math.sqrt(n_gwas) * signal + math.sqrt(sigma / n) * (g @ X)
    return z[0] if n_draws is None else z


def _banded_ld_times(
    X: np.ndarray, beta: np.ndarray, pos: np.ndarray, band_bp: float, *, chunk: int = 512
) -> np.ndarray:
    """``beta @ R_band`` for R = X^T X / n banded at ``band_bp``, in chunks of variants.

    X: (n, m) standardised, pos: (m,) sorted, beta: (d, m). Returns (d, m).
    """
    n, m = X.shape
    out = np.empty((beta.shape[0], m))
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        k0 = int(np.searchsorted(pos, pos[j0] - band_bp, side="right"))
        k1 = int(np.searchsorted(pos, pos[j1 - 1] + band_bp, side="left"))
        R_jk = X[:, j0:j1].T @ X[:, k0:k1] / n  # (chunk, K)
        R_jk *= np.abs(pos[j0:j1, None] - pos[None, k0:k1]) < band_bp
        out[:, j0:j1] = beta[:, k0:k1] @ R_jk.T
    return out


# --------------------------------------------------------------------------------------------
# The whole simulation
# --------------------------------------------------------------------------------------------


def _read_annotation_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        with open_text(path) as fh:
            header = fh.readline()
            sep = "\t" if "\t" in header else ("," if "," in header else r"\s+")
            fh.seek(0)
            return pd.read_csv(fh, sep=sep, dtype={"SNP": str})
    except Exception as exc:
        raise InputError(f"cannot read annotations: {exc}", file=path) from exc


def _given_annotations(
    path: str, variants: pd.DataFrame
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Annotations of ``path`` matched to ``variants`` by SNP id, else by CHR and BP.

    Returns values (m_kept, k), names, and the positions in ``variants`` of the kept variants.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError("annotation file not found", file=file, fix="check the --annotations path")
    table = _read_annotation_table(file)
    names = [c for c in table.columns if str(c) not in _NON_ANNOTATION]
    if not names:
        raise InputError(
            "no annotation columns", file=file, fix="add numeric columns besides CHR SNP BP A1 A2"
        )
    for c in names:
        col = table[c]
        if col.dtype == bool:
            table[c] = col.astype(np.float64)
        elif not pd.api.types.is_numeric_dtype(col):
            raise InputError(
                "annotation column is not numeric",
                file=file,
                column=str(c),
                fix="keep only numeric annotation columns",
            )
    kept = np.empty(0, dtype=np.intp)
    rows = np.empty(0, dtype=np.intp)
    if "SNP" in table.columns:
        key = table["SNP"].astype(str)
        pos = pd.Series(np.arange(len(table)), index=key)
        pos = pos[~pos.index.duplicated()]
        found = pos.reindex(variants["SNP"].astype(str)).to_numpy()
        kept, rows = np.flatnonzero(~np.isnan(found)), found[~np.isnan(found)].astype(np.intp)
    if kept.size == 0 and {"CHR", "BP"} <= set(table.columns):
        codes = normalize_chrom(table["CHR"], file=str(file))
        key = pd.MultiIndex.from_arrays([codes, table["BP"].to_numpy(dtype=np.int64)])
        pos = pd.Series(np.arange(len(table)), index=key)
        pos = pos[~pos.index.duplicated()]
        want = pd.MultiIndex.from_arrays(
            [variants["CHR"].to_numpy(), variants["BP"].to_numpy(dtype=np.int64)]
        )
        found = pos.reindex(want).to_numpy()
        kept, rows = np.flatnonzero(~np.isnan(found)), found[~np.isnan(found)].astype(np.intp)
    if kept.size == 0:
        raise InputError(
            "no simulated or panel variant is in the annotation file",
            file=file,
            fix="annotate the panel's variants (matched by SNP, else by CHR and BP)",
        )
    values = table[names].to_numpy(dtype=np.float64)[rows]
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        r, c = bad[0]
        raise InputError(
            "missing or non-finite annotation value",
            file=file,
            row=int(rows[r]) + 2,
            column=str(names[c]),
            fix="fill or drop the row",
        )
    return values, [str(c) for c in names], kept


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
    config: SimConfig, out: str | Path, *, argv: list[str] | None = None, progress: bool = True
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
    - ``truth.tsv.gz``: ``CHR SNP BP A1 A2 SNPVAR``, summing to ``h2``.
    - ``reference.{bed,bim,fam}`` and, with ``n_insample``, ``insample.{bed,bim,fam}``.
    - ``simulation.json``: ``config``, ``provenance``, ``summary``.

    Raises
    ------
    InputError
        Missing or malformed inputs; nothing is left at ``out`` in that case.
    """
    t0 = time.perf_counter()
    inputs = _check_inputs(config)
    rngs = config.streams()
    reference, insample = simulate_genotypes(config, progress=progress)

    af_ref = reference.variants["AF1"].to_numpy()
    if config.annotations is not None:
        values, names, kept = _given_annotations(config.annotations, reference.variants)
        if kept.size < reference.n_variants:
            reference = _subset(reference, kept)
            insample = None if insample is None else _subset(insample, kept)
            af_ref = af_ref[kept]
    else:
        values, names = synthetic_annotations(
            reference.variants,
            n_binary=config.n_binary,
            n_continuous=config.n_continuous,
            rng=rngs["annotations"],
        )
    maf = np.minimum(af_ref, 1.0 - af_ref)
    snpvar = true_prior(values, maf, kind=config.prior, h2=config.h2, rng=rngs["prior"])
    gwas = insample if insample is not None else reference
    z = simulate_sumstats(
        gwas,
        snpvar,
        n_gwas=config.n_gwas,
        sigma=config.sigma,
        rng=rngs["sumstats"],
        band_bp=None if config.ld_band_kb is None else 1e3 * config.ld_band_kb,
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
    truth = base.assign(SNPVAR=snpvar)

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
        write_plink(
            tmp / "reference", reference.dosages(), variants[panel_columns], reference.samples
        )
        if insample is not None:
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
