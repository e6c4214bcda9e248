"""Simulated GWAS data with a known truth: genotypes, annotations, a true prior and z-scores.

This package owns ``deepwas simulate``, one module per job: :mod:`~deepwas.simulate.config`
(:class:`SimConfig`), :mod:`~deepwas.simulate.genotypes` (msprime, demography, genetic map, given
panels), :mod:`~deepwas.simulate.annotations` (synthetic or given annotations, the true prior),
:mod:`~deepwas.simulate.sumstats` (z draws) and :mod:`~deepwas.simulate.run` (the whole run and
its files). It draws reference-panel genotypes with msprime (or takes a given panel), spatially
clustered synthetic annotations, a true per-SNP heritability ``s = SNPVAR`` that is a linear or
a clearly non-linear function of the annotations and allele frequency, and z-scores drawn from
the exact model of DESIGN 2,

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
- Large population samples: the in-sample cohort is the GWAS population sample (``n_insample``
  of 20,000 or more for realistic population LD; the name stays, no ``n_pop`` alias, so one
  option has one name). Allele counts per cohort are read off the trees (tracked samples), the
  MAF filter and the thinning to ``max_snps`` choose the sites, and only those are decoded, so
  memory is O(kept variants x samples), never O(all sites x samples) (20 Mb x 20,500 diploids
  has 175,000 sites: 27 GiB decoded). The choice equals the full-matrix one exactly: the seeded
  output is the same as before this change.
- Ancestry mismatch: ``ref_population`` YRI or CHB samples the reference panel from that
  Out-of-Africa population in the same msprime run as the CEU in-sample cohort.
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

from deepwas.simulate.annotations import synthetic_annotations, true_prior
from deepwas.simulate.config import SimConfig
from deepwas.simulate.genotypes import ooa_ceu_demography, read_genetic_map, simulate_genotypes
from deepwas.simulate.run import run_simulation
from deepwas.simulate.sumstats import BandedLD, simulate_sumstats

__all__ = [
    "SimConfig",
    "ooa_ceu_demography",
    "read_genetic_map",
    "simulate_genotypes",
    "synthetic_annotations",
    "true_prior",
    "simulate_sumstats",
    "BandedLD",
    "run_simulation",
]
