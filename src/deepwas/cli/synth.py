"""The verb ``synth``: synthetic reference panels and imputation (issue 11).

Subcommands ``train`` (a genotype diffusion model on a panel), ``sample`` (a synthetic PLINK
fileset with the training panel's variants), ``impute`` (missing genotypes of new individuals)
and ``evaluate`` (the evaluation suite of :mod:`deepwas.synth.evaluate`). Each only parses flags
and calls the library (:mod:`deepwas.synth`).
"""

from __future__ import annotations

import argparse
import json
from numbers import Integral
from pathlib import Path

from deepwas._validation import Interval
from deepwas.cli._args import add_common, add_output, constrain, say
from deepwas.synth import PROCESSES, SYNTH_CONSTRAINTS

GENERATE_CONSTRAINTS = {
    "n": Interval(Integral, 1, None, closed="left"),
    "steps": Interval(Integral, 1, None, closed="left"),
    "draws": Interval(Integral, 1, None, closed="left"),
    "seed": Interval(Integral, 0, None, closed="left"),
}


def _order_flag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--order",
        choices=("random", "spread"),
        default="random",
        help="order of reveals: random (SCUD's shuffled events) or spread (tokens revealed "
        "together are --steps SNPs apart; measured no better)",
    )


def _panel_flags(sp: argparse.ArgumentParser, what: str) -> None:
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--bfile", help=f"{what}: PLINK fileset prefix (.bed/.bim/.fam)")
    src.add_argument("--vcf", help=f"{what}: VCF/BCF file (unphased dosages are used)")


def _panel_args(args: argparse.Namespace) -> tuple[str, str]:
    return ("bfile", args.bfile) if args.bfile else ("vcf", args.vcf)


def _inputs(panel) -> dict:
    return {role: str(path) for role, path in panel.files.items()}


# ------------------------------------------------------------------------------------- train
def _cmd_train(args: argparse.Namespace) -> int:
    from deepwas.provenance import provenance
    from deepwas.synth.model import (
        SynthConfig,
        convergence_note,
        load_panel,
        split_individuals,
        train_synth,
    )

    config = SynthConfig(
        process=args.process,
        gamma=args.gamma,
        chunk=args.chunk,
        width=args.width,
        depth=args.depth,
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        heldout_fraction=args.heldout_fraction,
        snp_embedding=not args.no_snp_embedding,
        snp_tokens=not args.no_snp_tokens,
        estimator=args.estimator,
        seed=args.seed,
    )
    kind, path = _panel_args(args)
    panel = load_panel(path, kind=kind, region=args.region)
    n_held = len(split_individuals(panel.n_samples, config.heldout_fraction, config.seed)[1])
    say(
        f"training on {panel.n_samples - n_held} of {panel.n_samples} samples ({n_held} held out "
        f"and listed in heldout_samples.tsv) x {panel.n_variants} variants ({config.process})"
    )
    record = provenance(inputs=_inputs(panel), seed=config.seed, argv=["deepwas", *args.argv])
    summary = train_synth(
        panel,
        args.out,
        config,
        resume=not args.no_resume,
        progress=not args.quiet,
        provenance=record,
        say=say,
    )
    say(
        f"held-out {summary.heldout_bits_per_snp:.4f} bits/SNP after {summary.epochs} epochs "
        f"({summary.seconds_per_epoch:.1f} s/epoch); wrote {args.out}"
    )
    note = convergence_note(summary.log)
    if note:
        say(f"warning: {note}")
    return 0


# ------------------------------------------------------------------------------------ sample
def _cmd_sample(args: argparse.Namespace) -> int:
    from deepwas._files import atomic_file
    from deepwas.provenance import provenance
    from deepwas.synth.generate import sample_genotypes, write_synthetic
    from deepwas.synth.model import load_model

    model = load_model(args.model)
    dosages = sample_genotypes(
        model,
        args.n,
        n_steps=args.steps,
        seed=args.seed,
        order=args.order,
        say=None if args.quiet else say,
    )
    paths = write_synthetic(args.out, dosages, model.variants, vcf=args.write_vcf)
    side = Path(str(args.out) + ".json")
    record = provenance(
        inputs={"model": Path(args.model) / "weights.safetensors"},
        seed=args.seed,
        argv=["deepwas", *args.argv],
        n=args.n,
        steps=args.steps,
        order=args.order,
    )
    with atomic_file(side) as tmp:
        tmp.write_text(json.dumps({"provenance": record}, indent=2) + "\n")
    say(f"wrote {', '.join(str(p) for p in paths)} and {side}")
    return 0


# ------------------------------------------------------------------------------------ impute
def _cmd_impute(args: argparse.Namespace) -> int:
    import numpy as np

    from deepwas._files import atomic_file
    from deepwas.provenance import provenance
    from deepwas.synth.generate import align_target, impute_genotypes, write_imputed
    from deepwas.synth.model import load_model, load_panel

    model = load_model(args.model)
    kind, path = _panel_args(args)
    panel = load_panel(path, kind=kind)
    dosages, matched, dropped = align_target(model, panel)
    say(
        f"{matched} of the model's {model.n_snps} SNPs found in the target "
        f"({dropped} target SNPs not in the model ignored); "
        f"{int(np.isnan(dosages).sum())} genotypes to impute"
    )
    result = impute_genotypes(
        model, dosages, n_draws=args.draws, n_steps=args.steps, seed=args.seed, order=args.order
    )
    paths = write_imputed(args.out, result, model.variants, panel.samples)
    side = Path(str(args.out) + ".json")
    inputs = {**_inputs(panel), "model": Path(args.model) / "weights.safetensors"}
    with atomic_file(side) as tmp:
        record = provenance(inputs=inputs, seed=args.seed, argv=["deepwas", *args.argv])
        tmp.write_text(json.dumps({"provenance": record}, indent=2) + "\n")
    say(f"wrote {', '.join(str(p) for p in paths)} and {side}")
    return 0


# ---------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from deepwas.synth.evaluate import run_evaluate

    record = run_evaluate(
        args.real,
        args.synthetic,
        args.out,
        train=args.train,
        model=args.model,
        argv=["deepwas", *args.argv],
    )
    say(*evaluation_summary(record["metrics"]), f"wrote {args.out}/metrics.json and report.html")
    return 0


def evaluation_summary(m: dict) -> list[str]:
    """The headline figures of an evaluation, one line each (the rest is in metrics.json)."""
    lines = [
        f"{m['n_synthetic']:,} synthetic against {m['n_real']:,} held-out real individuals, "
        f"{m['n_variants']:,} variants",
        f"allele frequencies: r = {m['af_r']:.3f}; LD r^2 correlation: {m['ld_r2_corr']:.3f}"
        f"; LD-score relative error (median): {m['ldscore_rel_error_median']:.3f}",
    ]
    if "af_r_train" in m:
        lines.append(
            f"against the training individuals: allele frequencies r = {m['af_r_train']:.3f}; "
            f"LD r^2 correlation: {m['ld_r2_corr_train']:.3f}"
        )
    if "privacy_loss" in m:
        lines.append(
            f"nearest-neighbour adversarial accuracy {m['aats']:.3f} (ideal 0.5); privacy loss "
            f"{m['privacy_loss']:+.3f} (ideal 0); exact copies {m['exact_copy_rate']:.3f}"
        )
    else:
        lines.append(f"nearest-neighbour adversarial accuracy {m['aats']:.3f} (ideal 0.5)")
    return lines


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth`` verb and its subcommands to the ``deepwas`` parser."""
    p = sub.add_parser(
        "synth",
        help="synthetic reference panels and imputation with a genotype diffusion model",
        description="Train a schedule-conditioned discrete diffusion model of genotypes "
        "(docs/decisions.md, 'Synthetic panels'), sample synthetic panels, impute missing "
        "genotypes and evaluate synthetic panels against held-out real individuals.",
    )
    ss = p.add_subparsers(dest="synth_command", required=True, metavar="COMMAND")

    t = ss.add_parser(
        "train",
        help="train a model on a panel",
        description="Train on a panel's individuals (a held-out fraction kept out and listed in "
        "the model folder) in chunks of consecutive SNPs; one checkpoint per epoch, resumed "
        "when the same --out is given again.",
    )
    _panel_flags(t, "training panel")
    t.add_argument("--region", default=None, help="CHR:START-END (bp) of the panel to model")
    t.add_argument("--process", choices=PROCESSES, default="masking", help="forward process")
    t.add_argument(
        "--gamma",
        type=float,
        default=0.0,
        help="SCUD's knob in [0, 1): 0 conditions on the full jump schedule, near 1 tends to "
        "classical discrete diffusion",
    )
    t.add_argument("--epochs", type=int, default=40, help="passes over the training individuals")
    t.add_argument("--chunk", type=int, default=512, help="consecutive SNPs per training sequence")
    t.add_argument("--width", type=int, default=32, help="channels of the denoiser")
    t.add_argument("--depth", type=int, default=4, help="bidirectional blocks of the denoiser")
    t.add_argument("--batch-size", type=int, default=16, help="sequences per step")
    t.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    t.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="fraction of individuals never seen in training",
    )
    t.add_argument("--no-snp-embedding", action="store_true", help="no learned per-SNP embedding")
    t.add_argument(
        "--estimator",
        default="auto",
        help="estimator of the ELBO: scud, mdlm (masking with gamma 0: every masked token's "
        "cross-entropy) or auto (mdlm where defined, else scud)",
    )
    t.add_argument(
        "--no-snp-tokens",
        action="store_true",
        help="no per-SNP embedding of each token state and per-SNP read-out",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of the split, model and training")
    t.add_argument("--no-resume", action="store_true", help="ignore a checkpoint in --out")
    add_output(t, kind="dir", what="model folder")
    add_common(t)
    constrain(
        t,
        {k: v for k, v in SYNTH_CONSTRAINTS.items() if k not in ("snp_embedding", "snp_tokens")},
    )
    t.set_defaults(func=_cmd_train)

    s = ss.add_parser(
        "sample",
        help="sample a synthetic panel",
        description="Sample synthetic individuals; writes OUT.bed/.bim/.fam with the training "
        "panel's variants (and OUT.vcf.gz with --write-vcf) and OUT.json (provenance).",
    )
    s.add_argument("--model", required=True, help="model folder (deepwas synth train)")
    s.add_argument("--n", type=int, default=1000, help="synthetic individuals")
    s.add_argument("--steps", type=int, default=128, help="denoiser calls per individual")
    _order_flag(s)
    s.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    s.add_argument("--write-vcf", action="store_true", help="also write OUT.vcf.gz (unphased)")
    add_output(s, kind="file", what="output prefix")
    add_common(s)
    constrain(s, {k: GENERATE_CONSTRAINTS[k] for k in ("n", "steps", "seed")})
    s.set_defaults(func=_cmd_sample)

    i = ss.add_parser(
        "impute",
        help="impute missing genotypes of new individuals",
        description="Fill the missing genotypes (and the model's SNPs absent from the target) "
        "by inpainting; writes OUT.dosage.tsv.gz (A1 dosages, one column per sample), "
        "OUT.info.tsv (INFO-like confidence per SNP) and OUT.json.",
    )
    i.add_argument("--model", required=True, help="model folder (deepwas synth train)")
    _panel_flags(i, "target genotypes")
    i.add_argument("--draws", type=int, default=4, help="reverse runs averaged per individual")
    i.add_argument("--steps", type=int, default=32, help="denoiser calls per run")
    _order_flag(i)
    i.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    add_output(i, kind="file", what="output prefix")
    add_common(i)
    constrain(i, {k: GENERATE_CONSTRAINTS[k] for k in ("draws", "steps", "seed")})
    i.set_defaults(func=_cmd_impute)

    e = ss.add_parser(
        "evaluate",
        help="evaluate a synthetic panel against held-out real individuals",
        description="Allele frequencies, LD, PCA, privacy and more: synthetic versus held-out "
        "real genotypes; writes a JSON and HTML report.",
    )
    e.add_argument(
        "--real",
        required=True,
        help="held-out real panel (PLINK prefix or VCF); with --model, the panel the model was "
        "trained on",
    )
    e.add_argument("--synthetic", required=True, help="synthetic panel (PLINK prefix or VCF)")
    e.add_argument("--train", default=None, help="training panel (PLINK prefix), for privacy")
    e.add_argument(
        "--model",
        default=None,
        help="the model folder: take its held-out and training individuals (its "
        "heldout_samples.tsv / train_samples.tsv) and its variants from --real",
    )
    add_output(e, kind="dir", what="report folder")
    add_common(e)
    e.set_defaults(func=_cmd_evaluate)
