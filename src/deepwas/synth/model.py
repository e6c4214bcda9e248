"""Training the genotype diffusion model on a panel, its model folder, and held-out bits per SNP.

This module owns :class:`SynthConfig` (with its constraint table), the reading of a training
panel (:func:`load_panel`), the trained bundle :class:`SynthModel` (denoiser, forward process and
the training panel's variants and allele frequencies), :func:`train_synth` (Adam on random chunks
of consecutive SNPs, a checkpoint per epoch and resume) and :func:`heldout_bits` (the ELBO in bits
per SNP). Sampling and imputation live in :mod:`deepwas.synth.generate`.

The model folder holds ``config.json`` (the config, token kind, variants hash, format version),
``variants.tsv.gz`` (CHR SNP BP A1 A2 CM AF1 of the training panel; AF1 from the training
individuals), ``train_samples.tsv`` and ``heldout_samples.tsv`` (FID IID: the held-out
individuals were never seen in training), ``training_log.tsv``, ``weights.safetensors`` (written
last: its presence marks a finished model), ``checkpoint.pt`` (model, optimiser and log after the
last finished epoch, for resume) and ``provenance.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deepwas._files import atomic_file
from deepwas._validation import validate
from deepwas.errors import InputError
from deepwas.synth import SYNTH_CONSTRAINTS
from deepwas.synth.denoiser import Denoiser
from deepwas.synth.processes import (
    ForwardProcess,
    hwe_law,
    mdlm_loss,
    prior_kl,
    scud_loss,
)

__all__ = [
    "SynthConfig",
    "SynthModel",
    "TrainSummary",
    "load_panel",
    "panel_tokens",
    "parse_region",
    "train_synth",
    "heldout_bits",
    "load_model",
    "split_individuals",
    "convergence_note",
]

FORMAT_VERSION = 1
_LN2 = math.log(2.0)


@dataclass(frozen=True)
class SynthConfig:
    """Settings of a genotype diffusion model and its training.

    Parameters
    ----------
    process:
        Forward process (:data:`deepwas.synth.processes.PROCESSES`).
    gamma:
        SCUD's knob in [0, 1): 0 conditions on the full schedule.
    chunk:
        Consecutive SNPs per training sequence.
    width, depth:
        Channels and bidirectional blocks of the denoiser.
    batch_size:
        Sequences per Adam step.
    lr:
        Adam's learning rate.
    epochs:
        Passes over the training individuals (each covers every SNP once on average).
    heldout_fraction:
        Fraction of individuals kept out of training (their ids go to the model folder).
    snp_embedding:
        Learn one embedding per SNP of the training panel.
    snp_tokens:
        Learn, per SNP, an embedding of each token state and a read-out (with ``snp_embedding``;
        models saved before this setting existed load with it off).
    estimator:
        Estimator of the ELBO's diffusion term: ``scud`` (the schedule-conditioned loss: the
        KL at every token's last event), ``mdlm`` (masking with gamma 0 only: the cross-entropy
        of every masked token, weighted ``1/t``; the same ELBO, tested equal in expectation, but
        it trains the prediction of every masked token instead of those with one event, so
        about twice the tokens per step) or ``auto`` (``mdlm`` where defined, else ``scud``).
        Models saved before this setting existed were trained with ``scud``.
    seed:
        Seed of the split, the initialisation and every random draw of training.
    eval_draws:
        Draws of ``t`` per held-out sequence for the bits-per-SNP estimate.
    """

    process: str = "masking"
    gamma: float = 0.0
    chunk: int = 512
    width: int = 32
    depth: int = 4
    batch_size: int = 16
    lr: float = 2e-3
    epochs: int = 40
    heldout_fraction: float = 0.2
    snp_embedding: bool = True
    snp_tokens: bool = True
    estimator: str = "auto"
    seed: int = 0
    eval_draws: int = 4

    def __post_init__(self) -> None:
        validate(asdict(self), SYNTH_CONSTRAINTS, where="SynthConfig")
        if self.estimator == "mdlm" and (self.process != "masking" or self.gamma != 0.0):
            raise InputError(
                f"the mdlm estimator needs the masking process with gamma 0, not {self.process} "
                f"with gamma {self.gamma}",
                column="--estimator",
                fix="use --estimator scud or auto",
            )

    def training_part(self) -> dict:
        """The settings that must match for a checkpoint to be resumed (all but ``epochs``)."""
        out = asdict(self)
        out.pop("epochs")
        return out


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


def parse_region(text: str) -> tuple[int, int, int]:
    """``CHR:START-END`` (base pairs, inclusive; ``chr`` prefix allowed) -> (code, start, end)."""
    from deepwas.io.variants import chrom_code

    chrom, _, span = text.partition(":")
    start, _, end = span.partition("-")
    try:
        lo, hi = int(start.replace(",", "")), int(end.replace(",", ""))
    except ValueError:
        lo = hi = -1
    code = chrom_code(chrom.strip())
    if code == 0 or lo < 0 or hi < lo:
        raise InputError(
            f"cannot read the region {text!r}",
            column="--region",
            fix="give CHR:START-END in base pairs, e.g. 22:16000000-17000000",
        )
    return code, lo, hi


def load_panel(path: str | Path, *, kind: str, region: str | None = None):
    """Read a training or target panel: a PLINK prefix (``kind="bfile"``) or a VCF (``"vcf"``),
    restricted to ``region`` (``CHR:START-END``).

    Returns
    -------
    deepwas.io.genotypes.GenotypePanel

    Raises
    ------
    InputError
        An unreadable panel, a bad region, or no variant in the region.
    """
    from deepwas.io.genotypes import read_plink, read_vcf

    panel = read_plink(path) if kind == "bfile" else read_vcf(path)
    if region is None:
        return panel
    code, lo, hi = parse_region(region)
    v = panel.variants
    keep = np.flatnonzero((v["CHR"].to_numpy() == code) & v["BP"].between(lo, hi).to_numpy())
    if keep.size == 0:
        raise InputError(
            f"no variant of the panel lies in {region}",
            file=path,
            column="--region",
            fix="check the region's chromosome and positions against the panel",
        )
    return panel.subset(keep)


def panel_tokens(panel) -> np.ndarray:
    """Dosage tokens of a panel, (n_samples, n_variants) int8: 0/1/2 copies of A1, -1 missing."""
    d = panel.dosages(dtype=np.float32)
    return np.where(np.isnan(d), -1, d).astype(np.int8)


def _allele_frequency(tokens: np.ndarray) -> np.ndarray:
    """A1 frequency per SNP, smoothed so that no allele has probability 0:
    ``(count + 1/2) / (2 n_called + 1)``; tokens: (n, m) int8 -> (m,) float64."""
    called = tokens >= 0
    count = np.where(called, tokens, 0).sum(0, dtype=np.float64)
    return (count + 0.5) / (2.0 * called.sum(0) + 1.0)


def _variants_hash(variants: pd.DataFrame) -> str:
    cols = variants[["CHR", "SNP", "BP", "A1", "A2"]].astype(str)
    text = "\n".join("\t".join(row) for row in cols.itertuples(index=False, name=None))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The trained bundle
# --------------------------------------------------------------------------------------------


@dataclass
class SynthModel:
    """A denoiser with its forward process and the training panel's variants.

    Attributes
    ----------
    config: SynthConfig
    process: ForwardProcess
    denoiser: Denoiser
    variants: pandas.DataFrame, (n_snps, 7)
        ``CHR SNP BP A1 A2 CM AF1`` of the training panel, AF1 from the training individuals.
    """

    config: SynthConfig
    process: ForwardProcess
    denoiser: Denoiser
    variants: pd.DataFrame
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, config: SynthConfig, variants: pd.DataFrame) -> SynthModel:
        process = ForwardProcess(config.process, 3, config.gamma)
        net = Denoiser(
            n_states=process.n_states,
            n_alleles=process.n_alleles,
            width=config.width,
            depth=config.depth,
            n_snps=len(variants) if config.snp_embedding else 0,
            snp_tokens=config.snp_tokens,
            seed=config.seed,
        )
        return cls(config, process, net, variants.reset_index(drop=True))

    @property
    def n_snps(self) -> int:
        return len(self.variants)

    @property
    def estimator(self) -> str:
        """The ELBO estimator training uses (``config.estimator`` with ``auto`` resolved)."""
        if self.config.estimator != "auto":
            return self.config.estimator
        return "mdlm" if self.process.pure_masking else "scud"

    def tables(self) -> dict[str, torch.Tensor]:
        """Per-SNP tensors: ``af`` (m,), ``features`` (m, 7), ``log_prior`` (m, B),
        ``pi`` (m, n_states) and ``prior_kl`` (m, B)."""
        if not self._cache:
            af = torch.tensor(self.variants["AF1"].to_numpy(np.float64))
            bp = torch.tensor(self.variants["BP"].to_numpy(np.float64))
            self._cache.update(
                af=af,
                features=Denoiser.snp_features(af, bp),
                log_prior=torch.log(hwe_law(af, self.process.n_alleles)).to(torch.float32),
                pi=self.process.target(af),
                prior_kl=prior_kl(self.process, af),
            )
        return self._cache

    def logits(self, x: torch.Tensor, S: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Denoiser logits for sequences covering SNPs ``start .. start + n - 1``.

        x, S: (batch, n) long -> (batch, n, n_alleles)
        """
        tab = self.tables()
        sl = slice(start, start + x.shape[1])
        index = torch.arange(sl.start, sl.stop)
        return self.denoiser(x, S, tab["features"][sl], tab["log_prior"][sl], index)


# --------------------------------------------------------------------------------------------
# Loss and held-out bits
# --------------------------------------------------------------------------------------------


def _stratified_t(batch: int, generator: torch.Generator) -> torch.Tensor:
    """One t per sequence, stratified over (0, 1) (lower variance than independent draws)."""
    u0 = torch.rand((), generator=generator, dtype=torch.float64)
    t = (u0 + torch.arange(batch, dtype=torch.float64) / batch) % 1.0
    return t.clamp(1e-6, 1 - 1e-6)


def _batch_loss(
    model: SynthModel, x0: torch.Tensor, valid: torch.Tensor, start: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean diffusion term per valid token, sum of the prior term) for x0: (batch, n)."""
    tab = model.tables()
    sl = slice(start, start + x0.shape[1])
    pi = tab["pi"][sl]
    t = _stratified_t(x0.shape[0], generator)
    S = model.process.sample_schedule(t, tuple(x0.shape[1:]), generator)
    x_t = model.process.noise(x0, S, pi.expand(*x0.shape, -1), generator)
    logits = model.logits(x_t, S, start)
    if model.estimator == "mdlm":
        terms = mdlm_loss(model.process, x0, x_t, t, logits)
    else:
        terms = scud_loss(model.process, x0, x_t, S, t, logits, pi)
    terms = torch.where(valid, terms, 0.0)
    prior = torch.gather(tab["prior_kl"][sl].expand(x0.shape[0], -1, -1), -1, x0[..., None])[..., 0]
    return terms.sum() / valid.sum().clamp_min(1), torch.where(valid, prior, 0.0).sum()


def heldout_bits(
    model: SynthModel,
    tokens: np.ndarray,
    *,
    draws: int = 4,
    seed: int = 12345,
    chunk: int | None = None,
) -> float:
    """Negative ELBO of held-out individuals in bits per SNP (per individual), estimated with
    ``draws`` stratified times per sequence, on non-overlapping chunks of ``chunk`` SNPs
    (default the training chunk). Missing genotypes are left out.

    tokens: (n_individuals, n_snps) int8, -1 missing.
    """
    chunk = chunk or min(model.config.chunk, model.n_snps)
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    model.denoiser.eval()
    with torch.no_grad():
        for start in range(0, model.n_snps, chunk):
            block = torch.as_tensor(tokens[:, start : start + chunk].astype(np.int64))
            valid = block >= 0
            x0 = block.clamp_min(0).repeat(draws, 1)
            v = valid.repeat(draws, 1)
            mean_terms, prior = _batch_loss(model, x0, v, start, gen)
            n_valid = int(valid.sum())
            total += float(mean_terms) * int(v.sum()) / draws + float(prior) / draws
            count += n_valid
    return total / max(count, 1) / _LN2


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSummary:
    """What :func:`train_synth` reports.

    Attributes
    ----------
    epochs: int
        Epochs finished (including resumed ones).
    resumed_from: int
        Epochs already done when training started (0: a fresh run).
    heldout_bits_per_snp: float
        Held-out negative ELBO after the last epoch (NaN without held-out individuals).
    seconds_per_epoch: float
        Mean wall time of the epochs run now.
    log: pandas.DataFrame
        One row per epoch: epoch, steps, train_nats_per_token, heldout_bits_per_snp, seconds.
    """

    epochs: int
    resumed_from: int
    heldout_bits_per_snp: float
    seconds_per_epoch: float
    log: pd.DataFrame


def convergence_note(log: pd.DataFrame, *, window: int = 4, rel: float = 0.01) -> str | None:
    """A warning when the held-out bits per SNP were still falling at the end of training: by
    more than ``rel`` (relative) per epoch on average over the last ``window`` epochs; else None.
    """
    bits = log["heldout_bits_per_snp"].to_numpy(np.float64)
    bits = bits[np.isfinite(bits)]
    if len(bits) <= window:
        return None
    first, last = bits[-window - 1], bits[-1]
    drop = (first - last) / first / window
    if drop <= rel:
        return None
    return (
        f"held-out bits per SNP were still falling ({first:.4f} -> {last:.4f} over the last "
        f"{window} epochs, {100 * drop:.1f}% per epoch): the model has not converged; rerun with "
        "a larger --epochs and the same --out to continue from its checkpoint"
    )


def split_individuals(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices of ``n`` individuals, sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    n_held = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_held = min(max(n_held, 1), n - 1)
    return np.sort(perm[n_held:]), np.sort(perm[:n_held])


def _epoch_batches(n_seq: int, n_snps: int, chunk: int, batch: int, rng: np.random.Generator):
    """(individual indices, start) of every batch of an epoch: ceil(n_snps / chunk) random
    chunk starts per individual, grouped by start so a batch shares its SNPs."""
    per = -(-n_snps // chunk)
    starts = rng.integers(0, n_snps - chunk + 1, size=per * n_seq)
    who = np.tile(np.arange(n_seq), per)
    order = rng.permutation(len(who))
    who, starts = who[order], starts[order]
    # one start per batch: the batch's first draw (a batch's sequences share their SNPs)
    for b in range(0, len(who), batch):
        yield who[b : b + batch], int(starts[b])


def _write_json(path: Path, obj) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def _write_table(path: Path, table: pd.DataFrame) -> None:
    with atomic_file(path) as tmp:
        table.to_csv(
            tmp,
            sep="\t",
            index=False,
            float_format="%.6g",
            compression="gzip" if path.suffix == ".gz" else None,
        )


def _start_folder(
    out: Path, config: SynthConfig, variants: pd.DataFrame, samples, train, held
) -> None:
    """Write (or check, when resuming) the folder's description of the run."""
    meta = {
        "format": "deepwas-synth",
        "version": FORMAT_VERSION,
        "tokens": "dosage",
        "n_alleles": 3,
        "n_snps": len(variants),
        "variants_sha256": _variants_hash(variants),
        "config": asdict(config),
    }
    cfg_path = out / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        old_cfg = _saved_config(old.get("config", {}))
        if (
            old_cfg.training_part() != config.training_part()
            or old.get("variants_sha256") != meta["variants_sha256"]
        ):
            raise InputError(
                "holds a model trained with other settings or variants",
                file=out,
                column="--out",
                fix="choose a new --out folder, or rerun with the same settings and panel "
                "to resume",
            )
    out.mkdir(parents=True, exist_ok=True)
    _write_json(cfg_path, meta)
    _write_table(out / "variants.tsv.gz", variants)
    _write_table(out / "train_samples.tsv", samples.iloc[train][["FID", "IID"]])
    _write_table(out / "heldout_samples.tsv", samples.iloc[held][["FID", "IID"]])


def train_synth(
    panel,
    out: str | Path,
    config: SynthConfig = SynthConfig(),
    *,
    resume: bool = True,
    progress: bool = True,
    provenance: dict | None = None,
    say=print,
) -> TrainSummary:
    """Train a genotype diffusion model on ``panel`` and write the model folder ``out``.

    Parameters
    ----------
    panel: deepwas.io.genotypes.GenotypePanel
        The training panel (all its variants are modelled, in order).
    out:
        The model folder; a checkpoint found there (same settings and variants) is resumed and
        training continues up to ``config.epochs`` epochs.
    config:
        Model and training settings.
    resume:
        Resume from ``out/checkpoint.pt`` when present.
    progress:
        Report one line per epoch through ``say``.
    provenance:
        Written to ``out/provenance.json``.

    Returns
    -------
    TrainSummary

    Notes
    -----
    Every random draw of epoch ``e`` comes from generators seeded by ``(seed, e)``, so a run
    resumed after epoch ``e`` continues exactly as the uninterrupted run would. Missing
    genotypes are noised like the others (from allele 0) but left out of the loss.
    """
    out = Path(out)
    tokens = panel_tokens(panel)
    n, m = tokens.shape
    if n < 2 or m < 2:
        raise InputError(
            f"the panel has {n} samples and {m} variants; at least 2 of each are needed",
            file=panel.source,
        )
    train, held = split_individuals(n, config.heldout_fraction, config.seed)
    variants = panel.variants[["CHR", "SNP", "BP", "A1", "A2", "CM"]].reset_index(drop=True).copy()
    variants["AF1"] = _allele_frequency(tokens[train])
    _start_folder(out, config, variants, panel.samples, train, held)

    model = SynthModel.build(config, variants)
    opt = torch.optim.Adam(model.denoiser.parameters(), lr=config.lr)
    log: list[dict] = []
    done = 0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.denoiser.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        log = [dict(zip(state["log_columns"], row, strict=True)) for row in state["log"]]
        done = int(state["epoch"])
        if progress:
            say(f"resuming after epoch {done} from {ckpt}")

    if done < config.epochs:  # more epochs to come: the folder holds no finished model meanwhile
        (out / "weights.safetensors").unlink(missing_ok=True)
    chunk = min(config.chunk, m)
    train_tokens = tokens[train]
    held_tokens = tokens[held]
    times = []
    for epoch in range(done + 1, config.epochs + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        model.denoiser.train()
        losses, steps = [], 0
        for who, start in _epoch_batches(len(train), m, chunk, config.batch_size, rng):
            block = torch.as_tensor(train_tokens[who, start : start + chunk].astype(np.int64))
            valid = block >= 0
            loss, _ = _batch_loss(model, block.clamp_min(0), valid, start, gen)
            opt.zero_grad(set_to_none=True)
            loss.to(torch.float32).backward()
            torch.nn.utils.clip_grad_norm_(model.denoiser.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
            steps += 1
        held_bits = (
            heldout_bits(model, held_tokens, draws=config.eval_draws, chunk=chunk)
            if len(held)
            else float("nan")
        )
        seconds = time.perf_counter() - t0
        times.append(seconds)
        row = {
            "epoch": epoch,
            "steps": steps,
            "train_nats_per_token": float(np.mean(losses)),
            "heldout_bits_per_snp": held_bits,
            "seconds": seconds,
        }
        log.append(row)
        columns = list(row)
        with atomic_file(ckpt) as tmp:
            torch.save(
                {
                    "epoch": epoch,
                    "model": model.denoiser.state_dict(),
                    "optim": opt.state_dict(),
                    "log_columns": columns,
                    "log": [[r[c] for c in columns] for r in log],
                },
                tmp,
            )
        if progress:
            say(
                f"epoch {epoch}/{config.epochs}: "
                f"train {row['train_nats_per_token']:.4f} nats/token, "
                f"held-out {held_bits:.4f} bits/SNP, {seconds:.1f} s"
            )

    table = pd.DataFrame(
        log, columns=["epoch", "steps", "train_nats_per_token", "heldout_bits_per_snp", "seconds"]
    )
    _write_table(out / "training_log.tsv", table)
    if provenance is not None:
        _write_json(out / "provenance.json", provenance)
    from safetensors.torch import save_file

    with atomic_file(out / "weights.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in model.denoiser.state_dict().items()}, str(tmp))
    last = float(table["heldout_bits_per_snp"].iloc[-1]) if len(table) else float("nan")
    return TrainSummary(
        epochs=config.epochs if log else done,
        resumed_from=done,
        heldout_bits_per_snp=last,
        seconds_per_epoch=float(np.mean(times)) if times else float("nan"),
        log=table,
    )


def _saved_config(saved: dict) -> SynthConfig:
    """The config of a saved model or checkpoint; settings added since it was written take
    the value that reproduces the saved model."""
    return SynthConfig(**{"snp_tokens": False, "estimator": "scud", **saved})


def load_model(folder: str | Path) -> SynthModel:
    """Load a finished model folder written by :func:`train_synth`.

    Raises
    ------
    InputError
        Not a model folder, of another format version, or unfinished (no weights).
    """
    folder = Path(folder)
    cfg_path = folder / "config.json"
    weights = folder / "weights.safetensors"
    try:
        meta = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        raise InputError(
            "is not a deepwas synth model folder (no readable config.json)",
            file=folder,
            column="--model",
            fix="give the --out folder of deepwas synth train",
        ) from None
    if meta.get("format") != "deepwas-synth" or meta.get("version") != FORMAT_VERSION:
        raise InputError(
            f"model format {meta.get('format')!r} version {meta.get('version')!r} is not "
            f"deepwas-synth version {FORMAT_VERSION}",
            file=cfg_path,
            fix="retrain the model with this version of deepwas",
        )
    if not weights.exists():
        raise InputError(
            "has no weights.safetensors: training did not finish",
            file=folder,
            column="--model",
            fix="rerun deepwas synth train with the same --out to resume it",
        )
    variants = pd.read_csv(
        folder / "variants.tsv.gz", sep="\t", dtype={"SNP": str, "A1": str, "A2": str}
    )
    model = SynthModel.build(_saved_config(meta["config"]), variants)
    from safetensors.torch import load_file

    model.denoiser.load_state_dict(load_file(str(weights)))
    model.denoiser.eval()
    return model
