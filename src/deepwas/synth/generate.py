"""Sampling synthetic panels and imputing genotypes with a trained genotype diffusion model.

This module owns the reverse process :func:`reverse_events` (undo every token's events in
blocks), :func:`sample_genotypes` (synthetic individuals), :func:`impute_genotypes` (inpainting:
observed genotypes clamped, missing ones generated; posterior mean dosages with an INFO-like
confidence) and the writers of their outputs.

The reverse process starts from ``t = 1``: each token has ``S ~ Poisson(r Lambda(1))`` events
and a state drawn from ``rho^T K^S`` (the model's prior; the mask for masking). Each of
``n_steps`` steps undoes ``k`` events of every token at once, drawing ``x^{S-k}`` from
``q(x^{S-k} | x^S, x0_hat)`` with ``x0_hat`` the denoiser's prediction given the whole current
sequence and its schedule. Tokens undone in the same step are drawn independently given the
rest, so the order matters for LD: ``random`` undoes ``k ~ Binomial(S, 1 / steps_left)`` (each
remaining event at a uniformly chosen remaining step, SCUD's shuffled event order; the default)
or ``spread`` (each token revealed at one step, tokens revealed together ``n_steps`` ranks apart
along the SNPs: :func:`spread_steps`; docs/decisions.md, "The order of reveals").
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deepwas._files import atomic_file
from deepwas.errors import InputError
from deepwas.synth.model import SynthModel
from deepwas.synth.processes import sample_categorical

__all__ = [
    "reverse_events",
    "sample_genotypes",
    "impute_genotypes",
    "align_target",
    "ImputeResult",
    "write_synthetic",
    "write_imputed",
]

#: orders of reveals of :func:`reverse_events`
ORDERS = ("random", "spread")
_TOKENS_PER_BATCH = 1 << 19  # batch size of sampling: batch * n_snps tokens at a time


def _start_state(
    model: SynthModel, shape: tuple[int, int], generator: torch.Generator, *, at_least_one: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, S) at t = 1; ``at_least_one`` redraws schedules of zero events."""
    proc, tab = model.process, model.tables()
    t = torch.ones(shape[0], dtype=torch.float64)
    S = proc.sample_schedule(t, shape[1:], generator)
    while at_least_one and bool((S == 0).any()):
        S = torch.where(S == 0, proc.sample_schedule(t, shape[1:], generator), S)
    pi = tab["pi"].expand(*shape, -1)
    law = proc.propagate(model.process.prior(tab["af"]).expand(*shape, -1), S, pi)
    return sample_categorical(law, generator), S


def spread_steps(moving: torch.Tensor, n_steps: int, generator: torch.Generator) -> torch.Tensor:
    """The step at which each token is revealed in the ``spread`` order.

    The tokens to reveal (``moving``) of each sequence are ranked along the SNPs; rank ``c``
    finishes at step ``perm[c mod n_steps]`` with ``perm`` a random permutation of the steps
    drawn per sequence. Tokens revealed together are therefore ``n_steps`` ranks apart, where
    linkage disequilibrium between them is weak, and which ranks go first is random.

    moving: (batch, n) bool -> (batch, n) long, -1 where not moving.
    """
    rank = torch.cumsum(moving.long(), 1) - 1
    perm = torch.argsort(torch.rand(moving.shape[0], n_steps, generator=generator), 1)
    step = torch.gather(perm, 1, rank.clamp_min(0) % n_steps)
    return torch.where(moving, step, -1)


def _masked_schedule(proc, masked: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Event counts for the masked tokens of a masking process (gamma 0) as training shows them
    at the time whose masked fraction each sequence has now: ``t = fraction / (1 - eps)``,
    ``S ~ Poisson(r Lambda(t))`` given ``S >= 1``; 0 elsewhere. Given the mask, a token's count
    carries nothing about its allele, only about ``t``. (The tokens revealed at a step are then
    given ``S = 1``: SCUD's estimator trains a masked token's prediction only there.)"""
    frac = masked.to(torch.float64).mean(1)
    t = (frac / (1.0 - proc.schedule.eps)).clamp(1e-6, 1.0)
    shape = tuple(masked.shape[1:])
    S = proc.sample_schedule(t, shape, generator)
    while bool(((S == 0) & masked).any()):
        S = torch.where(S == 0, proc.sample_schedule(t, shape, generator), S)
    return torch.where(masked, S, 0)


def reverse_events(
    model: SynthModel,
    x: torch.Tensor,
    S: torch.Tensor,
    *,
    n_steps: int,
    generator: torch.Generator,
    order: str = "random",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo all events of ``(x, S)`` in ``n_steps`` blocks.

    Parameters
    ----------
    x: (batch, n_snps) long
        Tokens (observed tokens have ``S = 0`` and are never changed).
    S: (batch, n_snps) long
        Events left per token.
    n_steps:
        Denoiser calls.
    order:
        ``random``: each remaining event is undone at a uniformly chosen remaining step (SCUD's
        shuffled event order), so tokens revealed in one step fall anywhere, neighbours included.
        ``spread``: all of a token's events are undone at one step, chosen by
        :func:`spread_steps` so that the tokens revealed together are far apart along the SNPs.
        For masking (gamma 0) the masked tokens' event counts are redrawn before every step as
        training shows them at the current masked fraction (:func:`_masked_schedule`), so the
        denoiser sees the schedule it was trained on. For the other processes the tokens still
        waiting keep all their events, a pattern of schedules their training never shows.
        Measured (BENCHMARKS 15): no better than ``random`` at 128 steps and worse at 32, whose
        reveals come late (a masked token is revealed with its last event), when the context
        is rich; ``random`` is the default.

    Returns
    -------
    x: (batch, n_snps) long
        Clean alleles.
    probs: (batch, n_snps, n_alleles) float64
        The law each token's clean allele was drawn from at its last step (one-hot where
        ``S`` was 0 on entry).
    """
    proc, tab = model.process, model.tables()
    B = proc.n_alleles
    pi = tab["pi"].expand(*x.shape, -1)
    probs = torch.nn.functional.one_hot(x.clamp_max(B - 1), B).to(torch.float64)
    S = S.clone()
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    finish = spread_steps(S > 0, n_steps, generator) if order == "spread" else None
    refresh = finish is not None and proc.pure_masking
    with torch.no_grad():
        for step in range(n_steps):
            if not bool((S > 0).any()):
                break
            if refresh:
                S = _masked_schedule(proc, S > 0, generator)
            if finish is not None:
                now = finish == step
                if refresh:  # revealed from its last event, the case SCUD's loss trains
                    S = torch.where(now, 1, S)
                k = torch.where(now, S, 0)
            else:
                k = torch.binomial(
                    S.to(torch.float64),
                    torch.full(S.shape, 1.0 / (n_steps - step), dtype=torch.float64),
                    generator=generator,
                ).long()
            moving = k > 0
            if not bool(moving.any()):
                continue
            x0_hat = torch.softmax(model.logits(x, S).to(torch.float64), -1)
            p0 = torch.nn.functional.pad(x0_hat, (0, proc.n_states - B))
            log_q = proc.log_posterior(
                p0, x, torch.where(moving, S, 1), pi, torch.where(moving, k, 1)
            )
            q = torch.exp(log_q)
            new = sample_categorical(q, generator)
            finished = moving & (k == S)
            probs = torch.where(
                finished[..., None], q[..., :B] / q[..., :B].sum(-1, keepdim=True), probs
            )
            x = torch.where(moving, new, x)
            S = S - k
    return x.clamp_max(B - 1), probs


def sample_genotypes(
    model: SynthModel,
    n: int,
    *,
    n_steps: int = 128,
    seed: int = 0,
    batch_size: int | None = None,
    order: str = "random",
    say=None,
) -> np.ndarray:
    """``n`` synthetic individuals over all the model's SNPs (one sequence each), revealed in
    ``order`` (:func:`reverse_events`).

    Returns
    -------
    (n, n_snps) int8
        Dosages (copies of A1).
    """
    gen = torch.Generator().manual_seed(seed)
    batch = batch_size or max(1, _TOKENS_PER_BATCH // max(model.n_snps, 1))
    out = np.empty((n, model.n_snps), dtype=np.int8)
    model.denoiser.eval()
    for b in range(0, n, batch):
        size = min(batch, n - b)
        x, S = _start_state(model, (size, model.n_snps), gen, at_least_one=False)
        x, _ = reverse_events(model, x, S, n_steps=n_steps, generator=gen, order=order)
        out[b : b + size] = x.numpy().astype(np.int8)
        if say is not None:
            say(f"sampled {b + size}/{n} individuals")
    return out


@dataclass(frozen=True)
class ImputeResult:
    """Imputed genotypes.

    Attributes
    ----------
    dosage: (n_samples, n_snps) float64
        Posterior mean dosage (the observed value where observed).
    probs: (n_samples, n_snps, 3) float64
        Genotype probabilities (mean over draws of the law each missing genotype was drawn from).
    info: (n_snps,) float64
        ``1 - mean(Var(dosage)) / (2 p (1 - p))`` over the imputed genotypes of each SNP (``p``
        the training panel's frequency), in [0, 1]; 1 where nothing was imputed.
    n_imputed: (n_snps,) int64
        Missing genotypes filled per SNP.
    """

    dosage: np.ndarray
    probs: np.ndarray
    info: np.ndarray
    n_imputed: np.ndarray


def impute_genotypes(
    model: SynthModel,
    dosages: np.ndarray,
    *,
    n_draws: int = 4,
    n_steps: int = 32,
    seed: int = 0,
    order: str = "random",
) -> ImputeResult:
    """Fill the missing genotypes of ``dosages`` by inpainting with the model.

    Parameters
    ----------
    dosages: (n_samples, n_snps)
        Copies of A1 at the model's SNPs (:func:`align_target`), NaN where missing.
    n_draws:
        Independent reverse runs whose genotype laws are averaged.
    n_steps:
        Denoiser calls per run.
    order:
        Order of reveals (:func:`reverse_events`).
    """
    dosages = np.asarray(dosages, dtype=np.float64)
    if dosages.ndim != 2 or dosages.shape[1] != model.n_snps:
        raise InputError(f"dosages of shape {dosages.shape} for a model of {model.n_snps} SNPs")
    missing = np.isnan(dosages)
    gen = torch.Generator().manual_seed(seed)
    n = dosages.shape[0]
    batch = max(1, _TOKENS_PER_BATCH // max(model.n_snps, 1))
    probs = np.zeros((n, model.n_snps, 3))
    model.denoiser.eval()
    for b in range(0, n, batch):
        sl = slice(b, min(n, b + batch))
        obs = torch.as_tensor(np.nan_to_num(dosages[sl]).astype(np.int64))
        miss = torch.as_tensor(missing[sl])
        acc = torch.zeros(*obs.shape, 3, dtype=torch.float64)
        for _ in range(n_draws):
            x, S = _start_state(model, tuple(obs.shape), gen, at_least_one=True)
            x = torch.where(miss, x, obs)
            S = torch.where(miss, S, 0)
            _, p = reverse_events(model, x, S, n_steps=n_steps, generator=gen, order=order)
            acc += p
        probs[sl] = (acc / n_draws).numpy()
    g = np.arange(3.0)
    mean = probs @ g
    var = probs @ (g**2) - mean**2
    dosage = np.where(missing, mean, dosages)
    af = model.variants["AF1"].to_numpy(np.float64)
    n_imp = missing.sum(0)
    mean_var = np.where(n_imp > 0, np.where(missing, var, 0).sum(0) / np.maximum(n_imp, 1), 0.0)
    info = np.clip(1 - mean_var / (2 * af * (1 - af)), 0.0, 1.0)
    return ImputeResult(dosage=dosage, probs=probs, info=info, n_imputed=n_imp.astype(np.int64))


def align_target(model: SynthModel, panel) -> tuple[np.ndarray, int, int]:
    """The target panel's dosages at the model's SNPs, matched by SNP id and alleles.

    Returns
    -------
    dosages: (n_samples, n_snps) float64
        Copies of the model's A1; NaN where the target lacks the SNP or the call.
    n_matched: int
        Model SNPs found in the target (alleles swapped are flipped).
    n_dropped: int
        Target SNPs not in the model, or with other alleles (ignored).

    Raises
    ------
    InputError
        When no SNP of the target matches the model.
    """
    mv = model.variants
    tv = panel.variants.reset_index(drop=True)
    where = {s: i for i, s in enumerate(tv["SNP"].astype(str))}
    cols, flip, rows = [], [], []
    for j, (snp, a1, a2) in enumerate(zip(mv["SNP"].astype(str), mv["A1"], mv["A2"], strict=True)):
        i = where.get(snp)
        if i is None:
            continue
        t1, t2 = tv.at[i, "A1"], tv.at[i, "A2"]
        if (t1, t2) == (a1, a2) or (t1, t2) == (a2, a1):
            rows.append(j)
            cols.append(i)
            flip.append((t1, t2) == (a2, a1))
    if not rows:
        raise InputError(
            "no SNP of the target panel matches the model's SNPs (by SNP id and alleles)",
            file=panel.source,
            fix="give genotypes of the variants the model was trained on",
        )
    d = panel.dosages(np.asarray(cols))
    flip = np.asarray(flip)
    d[:, flip] = 2.0 - d[:, flip]
    out = np.full((panel.n_samples, model.n_snps), np.nan)
    out[:, rows] = d
    return out, len(rows), panel.n_variants - len(rows)


def write_synthetic(
    prefix: str | Path, dosages: np.ndarray, variants: pd.DataFrame, *, vcf: bool = False
) -> list[Path]:
    """Write ``prefix.bed/.bim/.fam`` (samples ``syn1..synN``) and, with ``vcf``, an unphased
    ``prefix.vcf.gz`` (REF = A2, ALT = A1). Returns the paths written."""
    from deepwas.io.genotypes import write_plink
    from deepwas.io.variants import chrom_label, normalize_chrom

    prefix = Path(prefix)
    n = dosages.shape[0]
    names = [f"syn{i + 1}" for i in range(n)]
    samples = pd.DataFrame({"FID": names, "IID": names})
    write_plink(prefix, dosages.astype(np.float64), variants, samples)
    paths = [prefix.with_name(prefix.name + s) for s in (".bed", ".bim", ".fam")]
    if vcf:
        path = prefix.with_name(prefix.name + ".vcf.gz")
        calls = np.array(["0/0", "0/1", "1/1"])
        chroms = [chrom_label(c) for c in normalize_chrom(variants["CHR"])]
        with atomic_file(path) as tmp, gzip.open(tmp, "wt") as fh:
            fh.write("##fileformat=VCFv4.2\n##source=deepwas synth sample\n")
            fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
            fh.write(
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names) + "\n"
            )
            for j in range(dosages.shape[1]):
                v = variants.iloc[j]
                gt = "\t".join(calls[dosages[:, j].astype(np.int64)])
                fh.write(
                    f"{chroms[j]}\t{v['BP']}\t{v['SNP']}\t{v['A2']}\t{v['A1']}\t.\tPASS\t.\tGT\t{gt}\n"
                )
        paths.append(path)
    return paths


def write_imputed(
    prefix: str | Path, result: ImputeResult, variants: pd.DataFrame, samples: pd.DataFrame
) -> list[Path]:
    """Write ``prefix.dosage.tsv.gz`` (CHR SNP BP A1 A2, then one column of A1 dosages per
    sample IID) and ``prefix.info.tsv`` (CHR SNP BP A1 A2 AF1 INFO N_IMPUTED)."""
    prefix = Path(prefix)
    base = variants[["CHR", "SNP", "BP", "A1", "A2"]].reset_index(drop=True)
    dos = pd.DataFrame(result.dosage.T, columns=samples["IID"].astype(str).tolist())
    dose_path = prefix.with_name(prefix.name + ".dosage.tsv.gz")
    info_path = prefix.with_name(prefix.name + ".info.tsv")
    with atomic_file(dose_path) as tmp:
        pd.concat([base, dos], axis=1).to_csv(
            tmp, sep="\t", index=False, float_format="%.4f", compression="gzip"
        )
    info = base.assign(AF1=result.dosage.mean(0) / 2, INFO=result.info, N_IMPUTED=result.n_imputed)
    with atomic_file(info_path) as tmp:
        info.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return [dose_path, info_path]
