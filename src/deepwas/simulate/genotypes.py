"""Genotypes of a simulation: msprime ancestry under a demography and a genetic map, or a given
panel split into a reference panel and an in-sample cohort.

Decisions (see also the package docstring)
------------------------------------------
- One ``msprime.sim_ancestry`` run per chromosome (diploid, discrete genome) with
  ``n_ref + n_insample`` individuals, split into the reference panel (the first ``n_ref``) and
  the in-sample cohort (the rest). Binary mutation model; sites hit by more than one mutation
  are dropped, so every kept site is a clean biallelic SNP, kept when its MAF is at least
  ``min_maf`` in *every* cohort.
- The reference panel comes from ``ref_population`` (CEU, YRI or CHB of the Out-of-Africa
  model), the in-sample cohort from CEU, in one msprime run.
- Sites are chosen before genotypes are decoded: per-cohort derived-allele counts come from
  the trees (:func:`_derived_counts`), then the MAF filter and the thinning; only the chosen
  sites are decoded. Same choice, same random draws as decoding everything first.
- Alleles: the ancestral/derived pair is one of the 8 strand-*unambiguous* ordered pairs of
  ACGT; A1 is the derived or the ancestral allele with probability 1/2 each.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepwas._files import open_text
from deepwas.errors import InputError
from deepwas.io.genotypes import GenotypePanel, read_genotypes
from deepwas.io.variants import normalize_chrom
from deepwas.simulate.config import SimConfig

__all__ = ["ooa_ceu_demography", "read_genetic_map", "simulate_genotypes"]

_CONSTANT_NE = 10_000
_UNAMBIGUOUS_PAIRS = np.array(
    [("A", "C"), ("A", "G"), ("C", "A"), ("C", "T"), ("G", "A"), ("G", "T"), ("T", "C"), ("T", "G")]
)


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


def _ancestry(config: SimConfig, chrom: int, rng: np.random.Generator) -> tuple[Any, Any]:
    """One chromosome's tree sequence with clean biallelic sites, and its recombination map.

    Individuals are the reference panel (``n_ref``, from ``config.ref_population``) then the
    in-sample cohort (``n_insample``, from CEU); sites hit by more than one mutation are gone.
    """
    import msprime

    length = float(config.length_mb) * 1e6
    if config.genetic_map is not None:
        recomb: Any = read_genetic_map(config.genetic_map, chrom=chrom, length_bp=length)
    else:
        recomb = msprime.RateMap(position=[0.0, length], rate=[config.recombination_rate])
    seed_anc, seed_mut = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    n_in = config.n_insample or 0
    if config.demography == "constant":
        samples: Any = config.n_ref + n_in
        model: dict[str, Any] = {"population_size": _CONSTANT_NE}
    else:
        if config.ref_population == "CEU":
            samples = {"CEU": config.n_ref + n_in}  # one sample set: the original draws
        else:
            samples = [
                msprime.SampleSet(config.n_ref, population=config.ref_population),
                msprime.SampleSet(n_in, population="CEU"),
            ]
        model = {"demography": ooa_ceu_demography()}
    ts = msprime.sim_ancestry(
        samples=samples, ploidy=2, recombination_rate=recomb, random_seed=seed_anc, **model
    )
    ts = msprime.sim_mutations(
        ts, rate=config.mutation_rate, model=msprime.BinaryMutationModel(), random_seed=seed_mut
    )
    n_mut = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    return ts.delete_sites(np.flatnonzero(n_mut != 1)), recomb


def _derived_counts(ts: Any, n_ref: int) -> np.ndarray:
    """Derived-allele counts per site in the reference panel and in the rest, without genotypes.

    ``ts`` has one mutation per site and diploid individuals, the first ``n_ref`` of them the
    reference panel. Returns ``(num_sites, 2)`` int64: column 0 the reference panel, column 1
    the other individuals. Cost: one pass over the trees, O(num_sites) lookups; memory
    O(num_sites), whatever the number of samples.
    """
    ref_nodes = ts.individuals_nodes[:n_ref].ravel()
    site_node = ts.tables.mutations.node  # one mutation per site, in site order
    counts = np.zeros((ts.num_sites, 2), dtype=np.int64)
    for tree in ts.trees(tracked_samples=ref_nodes):
        for site in tree.sites():
            u = site_node[site.id]
            counts[site.id] = tree.num_tracked_samples(u), tree.num_samples(u)
    counts[:, 1] -= counts[:, 0]
    return counts


def _maf_ok_counts(counts: np.ndarray, n_individuals: int, min_maf: float) -> np.ndarray:
    """:func:`_maf_ok` from derived counts (m,) of ``n_individuals`` diploids, no missing calls."""
    with np.errstate(invalid="ignore", divide="ignore"):
        af = counts / (2.0 * n_individuals)
    maf = np.minimum(af, 1.0 - af)
    return np.isfinite(maf) & (maf >= min_maf) & (maf > 0)


# The minor-allele-frequency spectrum of HapMap3 variants in a 1000 Genomes EUR panel: the share
# of the variants in each bin of MAF_EDGES, measured on the 378-sample chr22 panel of DATA.md
# (15,938 variants; 9% below 0.05, median 0.23). ``maf_spectrum="hapmap3"`` thins to it.
MAF_EDGES = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5 + 1e-9])
HAPMAP3_MAF = np.array([0.0038, 0.0200, 0.0686, 0.1264, 0.2163, 0.2006, 0.1875, 0.1768])


def _thin_to_spectrum(
    idx: np.ndarray, maf: np.ndarray, max_snps: int | None, rng: np.random.Generator
) -> np.ndarray:
    """The most of ``idx`` (candidate sites with panel MAFs ``maf``), at most ``max_snps``, whose
    MAF histogram over MAF_EDGES is HAPMAP3_MAF (renormalised over the bins that have
    candidates): each bin keeps its share, drawn uniformly at random; order kept."""
    bins = np.clip(np.searchsorted(MAF_EDGES, maf, side="right") - 1, 0, HAPMAP3_MAF.size - 1)
    have = np.bincount(bins, minlength=HAPMAP3_MAF.size)
    share = np.where(have > 0, HAPMAP3_MAF, 0.0)
    share = share / share.sum()
    total = min(have[share > 0] / share[share > 0])  # the largest sample every bin can fill
    if max_snps is not None:
        total = min(total, max_snps)
    want = np.minimum(np.round(share * total).astype(np.int64), have)
    chosen = [
        rng.choice(idx[bins == b], size=want[b], replace=False)
        for b in range(HAPMAP3_MAF.size)
        if want[b]
    ]
    return np.sort(np.concatenate(chosen)) if chosen else idx[:0]


def _simulate_chromosome(
    config: SimConfig, chrom: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept variants of one chromosome, thinned before any genotype is extracted.

    Returns derived-allele counts ``(m, n_ref + n_insample)`` int8, positions ``(m,)`` (0-based)
    and cM ``(m,)`` of the variants passing ``min_maf`` in every cohort, unique in BP, thinned
    to ``max_snps``. The MAF filter uses per-cohort allele counts read off the trees
    (:func:`_derived_counts`), so the choice is exactly the one a full genotype matrix would
    give, and only the chosen sites are decoded: memory is O(m n), not O(all sites x n).
    """
    ts, recomb = _ancestry(config, chrom, rng)
    n_in = config.n_insample or 0
    counts = _derived_counts(ts, config.n_ref)
    keep = _maf_ok_counts(counts[:, 0], config.n_ref, config.min_maf)
    if n_in:
        keep &= _maf_ok_counts(counts[:, 1], n_in, config.min_maf)
    position = ts.tables.sites.position
    bp = position.astype(np.int64) + 1
    keep[np.setdiff1d(np.arange(bp.size), np.unique(bp, return_index=True)[1])] = False
    idx = np.flatnonzero(keep)
    if config.maf_spectrum == "hapmap3":
        af = counts[idx, 0] / (2.0 * config.n_ref)
        idx = _thin_to_spectrum(idx, np.minimum(af, 1.0 - af), config.max_snps, rng)
    elif config.max_snps is not None and idx.size > config.max_snps:
        idx = np.sort(rng.choice(idx, size=config.max_snps, replace=False))
    chosen = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), idx))
    haps = chosen.genotype_matrix()  # (m, haploid samples) int8, 1 = derived
    column = np.searchsorted(chosen.samples(), chosen.individuals_nodes)  # (n_total, 2)
    dosage = (haps[:, column[:, 0]] + haps[:, column[:, 1]]).astype(np.int8)
    del haps
    cm = recomb.get_cumulative_mass(position[idx]) * 100.0
    return dosage, position[idx], cm


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
    parts: list[tuple[np.ndarray, pd.DataFrame]] = []
    for chrom in tqdm(
        range(1, config.chroms + 1), desc="simulating", unit="chrom", disable=not progress
    ):
        dosage, position, cm = _simulate_chromosome(config, chrom, rng)
        bp = position.astype(np.int64) + 1
        m = bp.size
        pairs = _UNAMBIGUOUS_PAIRS[rng.integers(0, len(_UNAMBIGUOUS_PAIRS), size=m)]
        a1_is_derived = rng.random(m) < 0.5
        codes = np.where(a1_is_derived[:, None], dosage, 2 - dosage).astype(np.int8)
        a1 = np.where(a1_is_derived, pairs[:, 1], pairs[:, 0])
        a2 = np.where(a1_is_derived, pairs[:, 0], pairs[:, 1])
        variants = pd.DataFrame(
            {
                "CHR": np.full(m, chrom, dtype=np.int64),
                "SNP": [f"sim{chrom}_{b}" for b in bp],
                "BP": bp,
                "A1": a1.astype(str),
                "A2": a2.astype(str),
                "CM": cm,
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
