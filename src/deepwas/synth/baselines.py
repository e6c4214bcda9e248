"""Reference generators and an imputer that any synthetic-panel model must beat (issue 11).

Each generator returns a dosage matrix ``(n_samples, n_variants)`` int8 of A1 counts 0/1/2 over
the real panel's variants, so that :mod:`deepwas.synth.evaluate` scores it like a model's panel:

- :func:`independent_panel`: each SNP drawn on its own from its allele frequency under
  Hardy-Weinberg (right marginals, no LD: the floor of every LD metric).
- :func:`msprime_panel`: a coalescent panel "fitted to nothing" (the Out-of-Africa CEU model of
  :func:`deepwas.simulate.genotypes.ooa_ceu_demography`, uniform recombination), its sites
  matched to the real SNPs by allele frequency within bins of consecutive real SNPs.
- :func:`pca_ddpm_panel`: Gene Diffusion's design: per-block PCA features of the dosages, a
  Gaussian DDPM with an MLP denoiser on the features, inverse PCA and rounding back to 0/1/2.
- :func:`knn_impute`: the nearest-haplotype imputer: the k reference individuals closest to the
  target on its observed sites in a window around each missing site, averaged.

Decisions
---------
- msprime site matching: the real SNPs are cut into bins of ``bin_snps`` consecutive SNPs; the
  simulated sites falling in a bin's stretch of chromosome (bins meet halfway between their
  outer SNPs) are its candidates; each real SNP, from the most common to the rarest, takes the
  unused candidate of nearest minor-allele frequency, searching stretches widened by 1, 2, 4, ...
  bin widths until one is within 0.02 of its MAF (simulated sites are mostly rare, and a bin of
  dense common array SNPs often lacks common sites), and its genotypes are flipped when the real
  A1 is the major allele but the derived allele the minor one (or the reverse). Within a bin (and
  its widened stretch) the simulated order is given up for frequency (a bin of 20 array SNPs
  spans ~50 kb); beyond it the simulated positions are kept, so LD decays with distance as the
  coalescent makes it decay. Simulated variants are not array
  SNPs (most are rare): matching by frequency is what makes the marginals comparable.
- PCA-DDPM: features are each block's PC scores scaled to unit variance (training panel; missing
  calls mean-imputed), concatenated over blocks and modelled jointly by one DDPM (Ho et al. 2020:
  linear beta schedule 1e-4..0.02, epsilon prediction, ancestral sampling with variance beta_t),
  so that blocks stay dependent. Decoding rounds the inverse PCA to the nearest allowed dosage.
- kNN imputation: the distance is the mean absolute dosage difference over the sites observed in
  both individuals within ``window_snps`` SNPs either side; reference individuals missing the
  site are not neighbours; with no usable neighbour the site gets 2 x its reference frequency.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.synth._dosages import as_dosages

__all__ = ["independent_panel", "msprime_panel", "pca_ddpm_panel", "knn_impute"]


def _check_n(n_samples: int) -> int:
    if int(n_samples) < 1:
        raise InputError(f"n_samples must be at least 1, got {n_samples}", column="n_samples")
    return int(n_samples)


def _frequencies(af: np.ndarray) -> np.ndarray:
    af = np.asarray(af, dtype=np.float64)
    if af.ndim != 1 or np.any(np.isfinite(af) & ((af < 0) | (af > 1))):
        raise InputError("allele frequencies must be a 1-d array in [0, 1]", column="af")
    return np.where(np.isfinite(af), af, 0.0)


def independent_panel(af: np.ndarray, *, n_samples: int, seed: int = 0) -> np.ndarray:
    """Independent SNPs at Hardy-Weinberg equilibrium.

    Parameters
    ----------
    af: (p,) A1 frequencies (NaN is taken as 0)
    n_samples:
        Individuals to draw.

    Returns
    -------
    (n_samples, p) int8
        Dosage ~ Binomial(2, af), independently per SNP and individual.
    """
    af = _frequencies(af)
    rng = np.random.default_rng(seed)
    return rng.binomial(2, af, size=(_check_n(n_samples), af.size)).astype(np.int8)


# --------------------------------------------------------------------------------------------------
# msprime
# --------------------------------------------------------------------------------------------------


def _simulate_region(
    length_bp: float, n_samples: int, *, mutation_rate: float, recombination_rate: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Derived-allele dosages (sites, n_samples) int8 and 0-based positions of a CEU region."""
    import msprime

    from deepwas.simulate.genotypes import ooa_ceu_demography

    rng = np.random.default_rng(seed)
    seed_anc, seed_mut = (int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    ts = msprime.sim_ancestry(
        samples={"CEU": n_samples},
        ploidy=2,
        demography=ooa_ceu_demography(),
        sequence_length=length_bp,
        recombination_rate=recombination_rate,
        random_seed=seed_anc,
    )
    ts = msprime.sim_mutations(
        ts, rate=mutation_rate, model=msprime.BinaryMutationModel(), random_seed=seed_mut
    )
    n_mut = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    ts = ts.delete_sites(np.flatnonzero(n_mut != 1))
    haps = ts.genotype_matrix()  # (sites, 2 n) int8, 1 = derived
    column = np.searchsorted(ts.samples(), ts.individuals_nodes)  # (n, 2)
    dosage = (haps[:, column[:, 0]] + haps[:, column[:, 1]]).astype(np.int8)
    return dosage, ts.tables.sites.position.copy()


def _match_sites(
    bp: np.ndarray,
    maf_real: np.ndarray,
    pos_sim: np.ndarray,
    maf_sim: np.ndarray,
    bin_snps: int,
    tol: float = 0.02,
) -> np.ndarray:
    """For each real SNP, the index of its simulated site (module docstring); -1 if none left.

    ``pos_sim`` is sorted. A SNP searches its bin's stretch, then stretches widened by 1, 2, 4, ...
    bin widths on each side, and takes the nearest-MAF free site of the first stretch holding one
    within ``tol`` of its MAF (of the whole chromosome if none does).
    """
    p = bp.size
    chosen = np.full(p, -1, dtype=np.int64)
    free = np.ones(pos_sim.size, dtype=bool)
    for start in range(0, p, bin_snps):
        stop = min(start + bin_snps, p)
        lo = bp[0] - 0.5 if start == 0 else (bp[start - 1] + bp[start]) / 2.0
        hi = bp[-1] + 0.5 if stop == p else (bp[stop - 1] + bp[stop]) / 2.0
        width = max(hi - lo, 1.0)
        for j in start + np.argsort(-maf_real[start:stop], kind="stable"):
            best, radius = -1, 0.0
            while True:
                a = np.searchsorted(pos_sim, lo - radius * width, side="left")
                b = np.searchsorted(pos_sim, hi + radius * width, side="left")
                pool = a + np.flatnonzero(free[a:b])
                if pool.size:
                    cand = pool[np.argmin(np.abs(maf_sim[pool] - maf_real[j]))]
                    if best < 0 or abs(maf_sim[cand] - maf_real[j]) < abs(
                        maf_sim[best] - maf_real[j]
                    ):
                        best = cand
                    if abs(maf_sim[best] - maf_real[j]) <= tol:
                        break
                if a == 0 and b == pos_sim.size:
                    break
                radius = 1.0 if radius == 0 else 2.0 * radius
            if best >= 0:
                chosen[j] = best
                free[best] = False
    return chosen


def msprime_panel(
    variants: pd.DataFrame,
    af: np.ndarray,
    *,
    n_samples: int,
    seed: int = 0,
    mutation_rate: float = 1.25e-8,
    recombination_rate: float = 1e-8,
    bin_snps: int = 20,
) -> np.ndarray:
    """A coalescent panel of CEU individuals, its sites matched to the real panel's SNPs.

    Parameters
    ----------
    variants: pandas.DataFrame, (p, >=3)
        ``CHR SNP BP`` of the real panel, sorted by position within each chromosome.
    af: (p,) A1 frequencies of the real (training) panel
        Targets of the frequency matching; NaN is taken as 0.
    n_samples:
        Diploid individuals to simulate (e.g. the real panel's size).
    mutation_rate, recombination_rate:
        Per base pair per generation (uniform: fitted to nothing).
    bin_snps:
        Real SNPs per matching bin.

    Returns
    -------
    (n_samples, p) int8
        A1 counts; a real SNP left without a simulated site (fewer segregating sites than real
        SNPs on a chromosome) is monomorphic at its frequency's nearest homozygote.

    Notes
    -----
    One msprime run per chromosome over the real SNPs' span (Out-of-Africa, CEU sample, binary
    mutations, sites hit twice dropped), then :func:`_match_sites` (module docstring).
    """
    n = _check_n(n_samples)
    af = _frequencies(af)
    if len(variants) != af.size:
        raise InputError(f"{len(variants)} variants for {af.size} frequencies", column="af")
    if bin_snps < 1:
        raise InputError(f"bin_snps must be at least 1, got {bin_snps}", column="bin_snps")
    chrom = variants["CHR"].to_numpy()
    bp_all = variants["BP"].to_numpy(dtype=np.float64)
    out = np.empty((n, af.size), dtype=np.int8)
    rng = np.random.default_rng(seed)
    for c in pd.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        bp = bp_all[idx]
        if np.any(np.diff(bp) < 0):
            raise InputError(f"chromosome {c}: positions are not sorted", column="variants")
        origin = bp.min() - 1.0
        dosage, pos = _simulate_region(
            float(bp.max() - origin + 1.0),
            n,
            mutation_rate=mutation_rate,
            recombination_rate=recombination_rate,
            seed=int(rng.integers(1, 2**31 - 1)),
        )
        q = dosage.mean(axis=1) / 2.0  # derived-allele frequency per simulated site
        f = af[idx]
        pick = _match_sites(bp - origin, np.minimum(f, 1 - f), pos, np.minimum(q, 1 - q), bin_snps)
        for col, j in zip(idx, pick, strict=True):
            if j < 0:
                out[:, col] = 2 if af[col] > 0.5 else 0
                continue
            g = dosage[j]
            out[:, col] = 2 - g if (af[col] > 0.5) != (q[j] > 0.5) else g
    return out


# --------------------------------------------------------------------------------------------------
# PCA + DDPM (Gene Diffusion's design)
# --------------------------------------------------------------------------------------------------


def _block_pca(x: np.ndarray, block_snps: int, n_components: int) -> tuple[np.ndarray, list]:
    """Unit-variance PC scores per block, concatenated, and each block's decoder."""
    feats, decoders = [], []
    n = x.shape[0]
    for start in range(0, x.shape[1], block_snps):
        xb = x[:, start : start + block_snps]
        mean = xb.mean(axis=0)
        u, s, vt = np.linalg.svd(xb - mean, full_matrices=False)
        k = max(1, min(n_components, int((s > 1e-8 * max(s[0], 1e-300)).sum())))
        scale = s[:k] / math.sqrt(n)
        scale[scale <= 0] = 1.0
        feats.append(u[:, :k] * math.sqrt(n))  # = (xb - mean) V_k / scale
        decoders.append((start, mean, vt[:k], scale))
    return np.concatenate(feats, axis=1), decoders


class _Denoiser:
    """An MLP epsilon-predictor eps(x_t, t) with a sinusoidal embedding of t (built lazily)."""

    @staticmethod
    def build(dim: int, hidden: int, n_steps: int) -> Any:
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                half = 32
                freqs = torch.exp(-math.log(1000.0) * torch.arange(half) / half)
                self.register_buffer("freqs", freqs * 1000.0 / n_steps)
                self.net = nn.Sequential(
                    nn.Linear(dim + 2 * half, hidden),
                    nn.SiLU(),
                    nn.Linear(hidden, hidden),
                    nn.SiLU(),
                    nn.Linear(hidden, hidden),
                    nn.SiLU(),
                    nn.Linear(hidden, dim),
                )

            def forward(self, x: Any, t: Any) -> Any:
                a = t[:, None].to(x.dtype) * self.freqs[None, :]
                return self.net(torch.cat([x, torch.sin(a), torch.cos(a)], dim=1))

        return Net()


def pca_ddpm_panel(
    train: np.ndarray,
    *,
    n_samples: int,
    seed: int = 0,
    block_snps: int = 500,
    n_components: int = 32,
    n_steps: int = 200,
    hidden: int = 256,
    train_steps: int = 3000,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> np.ndarray:
    """Gene Diffusion's design: a Gaussian DDPM on per-block PCA features of the dosages.

    Parameters
    ----------
    train: (n_train, p) dosages
        The training panel (missing calls mean-imputed for the PCA).
    n_samples:
        Synthetic individuals to draw.
    block_snps, n_components:
        SNPs per block and PCs kept per block (at most the block's rank).
    n_steps:
        Diffusion steps T.
    hidden, train_steps, batch_size, lr:
        Width of the MLP denoiser (3 hidden layers), Adam steps, batch size and learning rate.

    Returns
    -------
    (n_samples, p) int8
        round(clip(inverse PCA of the sampled features, 0, 2)).

    Notes
    -----
    With beta_t linear from 1e-4 to 0.02 and abar_t = prod_{s<=t} (1 - beta_s), training
    minimises E || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2 over uniform t;
    sampling runs x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta) / sqrt(1 - beta_t) +
    sqrt(beta_t) z from x_T ~ N(0, I).
    """
    import torch

    n = _check_n(n_samples)
    x = as_dosages(train, name="train")
    if x.shape[0] < 2:
        raise InputError("needs at least 2 training individuals", column="train")
    obs = ~np.isnan(x)
    mean = np.where(obs, x, 0.0).sum(axis=0) / np.maximum(obs.sum(axis=0), 1)
    x = np.where(obs, x, mean)
    feats, decoders = _block_pca(x, block_snps, n_components)

    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))  # the network's initial weights
    data = torch.as_tensor(feats, dtype=torch.float32)
    betas = torch.linspace(1e-4, 0.02, n_steps, dtype=torch.float64)
    abar = torch.cumprod(1.0 - betas, dim=0).float()
    model = _Denoiser.build(data.shape[1], hidden, n_steps)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, train_steps))
    bsz = min(batch_size, data.shape[0])
    for _ in range(train_steps):
        rows = torch.randint(0, data.shape[0], (bsz,), generator=gen)
        t = torch.randint(0, n_steps, (bsz,), generator=gen)
        eps = torch.randn(bsz, data.shape[1], generator=gen)
        a = abar[t][:, None]
        loss = ((model(a.sqrt() * data[rows] + (1 - a).sqrt() * eps, t) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    model.eval()
    with torch.no_grad():
        z = torch.randn(n, data.shape[1], generator=gen)
        for step in reversed(range(n_steps)):
            t = torch.full((n,), step, dtype=torch.long)
            beta = float(betas[step])
            eps = model(z, t)
            z = (z - beta / math.sqrt(1.0 - float(abar[step])) * eps) / math.sqrt(1.0 - beta)
            if step > 0:
                z = z + math.sqrt(beta) * torch.randn(z.shape, generator=gen)
    feats_syn = z.double().numpy()

    out = np.empty((n, x.shape[1]), dtype=np.int8)
    col = 0
    for start, bmean, vt, scale in decoders:
        k = vt.shape[0]
        block = feats_syn[:, col : col + k] * scale @ vt + bmean
        out[:, start : start + vt.shape[1]] = np.clip(np.rint(block), 0, 2).astype(np.int8)
        col += k
    return out


# --------------------------------------------------------------------------------------------------
# kNN imputation
# --------------------------------------------------------------------------------------------------


def knn_impute(
    reference: np.ndarray, target: np.ndarray, *, k: int = 10, window_snps: int = 50
) -> np.ndarray:
    """Fill the missing genotypes of ``target`` from its nearest reference individuals.

    Parameters
    ----------
    reference: (n_ref, p) dosages
        A panel of other individuals (e.g. the training panel), missing calls allowed.
    target: (n_target, p) dosages
        Individuals to impute: every missing call (NaN or -1) is filled.
    k:
        Neighbours averaged per missing site.
    window_snps:
        SNPs on each side of the missing site whose observed genotypes define the distance.

    Returns
    -------
    (n_target, p) float64
        Observed calls unchanged; a missing call becomes the mean dosage of its ``k`` nearest
        reference individuals (module docstring), a value in [0, 2].
    """
    ref = as_dosages(reference, name="reference")
    tgt = as_dosages(target, name="target")
    if ref.shape[1] != tgt.shape[1]:
        raise InputError(
            f"has {tgt.shape[1]} variants, the reference {ref.shape[1]}",
            column="target",
            fix="give both panels the same variants",
        )
    if k < 1 or window_snps < 0:
        raise InputError(f"k must be >= 1 and window_snps >= 0, got {k}, {window_snps}", column="k")
    p = ref.shape[1]
    ref_obs = ~np.isnan(ref)
    ref0 = np.where(ref_obs, ref, 0.0)
    count = ref_obs.sum(axis=0)
    fallback = np.where(count > 0, ref0.sum(axis=0) / np.maximum(count, 1), 0.0)
    out = tgt.copy()
    for i in range(tgt.shape[0]):
        x = tgt[i]
        miss = np.flatnonzero(np.isnan(x))
        if miss.size == 0:
            continue
        both = ref_obs & ~np.isnan(x)[None, :]
        diff = np.where(both, np.abs(ref0 - np.nan_to_num(x)), 0.0)
        cd = np.concatenate([np.zeros((ref.shape[0], 1)), np.cumsum(diff, axis=1)], axis=1)
        cn = np.concatenate([np.zeros((ref.shape[0], 1)), np.cumsum(both, axis=1)], axis=1)
        lo, hi = np.maximum(miss - window_snps, 0), np.minimum(miss + window_snps + 1, p)
        sites = cn[:, hi] - cn[:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = (cd[:, hi] - cd[:, lo]) / sites  # (n_ref, n_miss)
        dist[(sites == 0) | ~ref_obs[:, miss]] = np.inf
        kk = min(k, ref.shape[0])
        near = np.argpartition(dist, kk - 1, axis=0)[:kk]  # (kk, n_miss)
        ok = np.isfinite(np.take_along_axis(dist, near, axis=0))
        vals = ref0[near, miss[None, :]]
        used = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.where(ok, vals, 0.0).sum(axis=0) / used
        out[i, miss] = np.where(used > 0, est, 2.0 * fallback[miss])
    return out
