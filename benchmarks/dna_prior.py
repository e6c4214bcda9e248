"""Does a prior with a DNA branch (``deepwas fit --fasta``) learn a planted motif effect from GWAS
summary statistics? (issue 12, the sequence encoder)

For each seed, on the genotypes and LD store of a ``benchmarks/ssm_prior.py`` simulation (``--sim``
folder with ``insample.*`` and ``annotations.tsv.gz``, ``--ld`` its store):

1. a random reference genome (uniform bases) is written as a FASTA, with each variant's
   reference allele at its position (A1 for half the variants, A2 for the others) and a motif
   (``--motif``, non-palindromic) planted over ``--motif-fraction`` of the variants so that
   their alternative allele breaks it: half on the forward strand, half as its reverse
   complement; variants with another variant within the motif's span are not used;
2. the truth: ``log s = a binary1 + b break`` (``break``: the reference sequence has the motif
   on either strand over the variant and the alternative does not, read back from the written
   genome), scaled to ``--h2``;
3. z-scores from the genotypes of ``--cohort`` (the store's own reference panel by default,
   so that the store's LD is exactly the z-scores' LD; ``insample`` for the simulation's
   separate cohort), ``deepwas.simulate.simulate_sumstats`` with the LD banded at 1 Mb (as
   ``deepwas simulate`` draws them);
4. ``deepwas.workflow.run_fit`` for each of ``--models`` (``linear`` without DNA, and
   ``linear+dna``, ``mlp+dna``: the same with ``--fasta``; ``linear+motif``, an oracle: the
   linear prior given the true motif-break indicator as an annotation, what is learnable from
   these z-scores) with ``--test-blocks 0.25`` and the truth.

Output (stdout, JSON lines): one per fit (held-out gain per 1,000 held-out variants, Spearman with
the true log SNPVAR, the AUC of the learned SNPVAR for motif-breaking variants against the rest,
seconds), then per model the mean and SD over seeds, and paired contrasts with ``linear``.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/dna_prior.py \
        --sim W/ssm20/sim1 --ld W/ssm20/ld1 --seeds 1 2 3 --out W/dna
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from _common import emit, log, mean_sd, paired_t  # noqa: E402

_COMP = str.maketrans("ACGT", "TGCA")
#: name -> (family, reads the DNA, gets the true motif-break indicator as an annotation)
MODELS = {
    "linear": ("linear", False, False),
    "linear+dna": ("linear", True, False),
    "mlp+dna": ("mlp", True, False),
    "linear+motif": ("linear", False, True),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sim", required=True, help="a deepwas simulate folder (its genotypes)")
    p.add_argument(
        "--cohort",
        default="reference",
        choices=["reference", "insample"],
        help="genotypes of the GWAS: the store's own panel (the store's LD is exactly the "
        "z-scores' LD; default) or the simulation's separate in-sample cohort (population LD "
        "against a small panel, the small-panel model of issue 9)",
    )
    p.add_argument("--ld", required=True, help="the LD store of its reference panel")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--motif", default="TTGACCTA")
    p.add_argument("--motif-fraction", type=float, default=0.1)
    p.add_argument("--motif-effect", type=float, default=2.5, help="b, in log SNPVAR")
    p.add_argument("--annot-effect", type=float, default=0.7, help="a, on binary1")
    p.add_argument("--h2", type=float, default=0.01)
    p.add_argument("--n-gwas", type=float, default=300_000)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=8, help="early-stopping patience (fit's 8)")
    p.add_argument("--batch-windows", type=int, default=4, help="windows per step (fit's 4)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--tag", default="", help="suffix of the fit folders")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def rc(s: str) -> str:
    return s.translate(_COMP)[::-1]


def write_genome(variants: pd.DataFrame, motif: str, fraction: float, rng, path: Path):
    """The FASTA of step 1 (one contig per chromosome, named as in ``variants``); returns the
    reference allele of each variant and the indices of the variants with a planted motif."""
    ref = np.where(rng.random(len(variants)) < 0.5, variants["A1"], variants["A2"]).astype(str)
    k = len(motif)
    planted = []
    with open(path, "w") as fh:
        for chrom, rows in variants.groupby("CHR", sort=False).indices.items():
            bp = variants["BP"].to_numpy()[rows]
            seq = rng.choice(list("ACGT"), size=int(bp.max()) + 2 * k + 100)
            seq[bp - 1] = ref[rows]
            gaps = np.diff(bp)
            alone = np.ones(len(rows), bool)
            alone[1:] &= gaps > k
            alone[:-1] &= gaps > k
            for j in np.flatnonzero(alone & (rng.random(len(rows)) < fraction)):
                word = motif if rng.random() < 0.5 else rc(motif)
                offsets = [o for o in range(k) if word[o] == ref[rows[j]]]
                o = int(rng.choice(offsets))
                start = int(bp[j]) - 1 - o
                if start < 0:
                    continue
                seq[start : start + k] = list(word)
                planted.append(int(rows[j]))
            fh.write(f">{chrom}\n")
            text = "".join(seq)
            fh.writelines(text[i : i + 60] + "\n" for i in range(0, len(text), 60))
    return ref, np.array(sorted(planted))


def motif_breaks(fasta: Path, variants: pd.DataFrame, ref: np.ndarray, motif: str) -> np.ndarray:
    """Whether each variant's reference sequence has the motif (either strand) over it and its
    alternative sequence does not: the truth, read back from the genome as written."""
    seqs = {}
    name = None
    for line in open(fasta):
        if line.startswith(">"):
            name = line[1:].strip()
            seqs[name] = []
        else:
            seqs[name].append(line.strip())
    seqs = {c: "".join(v) for c, v in seqs.items()}
    k = len(motif)
    words = (motif, rc(motif))
    alt = np.where(ref == variants["A1"].to_numpy(str), variants["A2"], variants["A1"]).astype(str)
    out = np.zeros(len(variants), bool)
    for i, (c, bp) in enumerate(zip(variants["CHR"].astype(str), variants["BP"], strict=True)):
        s = seqs[c]
        lo = int(bp) - k
        around = s[max(lo, 0) : int(bp) - 1 + k]
        centre = int(bp) - 1 - max(lo, 0)
        alt_around = around[:centre] + alt[i] + around[centre + 1 :]
        has = any(w in around for w in words)
        out[i] = has and not any(w in alt_around for w in words)
    return out


def auc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = int(label.sum()), int((~label).sum())
    return float((r[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from deepwas.fit import TrainConfig
    from deepwas.io.genotypes import read_plink
    from deepwas.simulate.sumstats import simulate_sumstats
    from deepwas.workflow import run_fit

    torch.set_num_threads(1)
    sim, root = Path(args.sim), Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    annot = pd.read_csv(sim / "annotations.tsv.gz", sep="\t")
    cohort = read_plink(sim / args.cohort)
    variants = annot[["CHR", "SNP", "BP", "A1", "A2"]]
    if not (cohort.variants["SNP"].to_numpy() == variants["SNP"].to_numpy()).all():
        sys.exit("dna_prior: the cohort's variants are not the annotation file's")
    rows = []
    for seed in args.seeds:
        rng = np.random.default_rng([seed, 12])
        work = root / f"seed{seed}"
        work.mkdir(exist_ok=True)
        fasta = work / "genome.fa"
        ref, planted = write_genome(variants, args.motif, args.motif_fraction, rng, fasta)
        brk = motif_breaks(fasta, variants, ref, args.motif)
        log(f"seed {seed}: {len(planted):,} motifs planted, {int(brk.sum()):,} variants break one")
        log_s = args.annot_effect * annot["binary1"].to_numpy() + args.motif_effect * brk
        s = np.exp(log_s)
        s *= args.h2 / s.sum()
        sumstats = work / "sumstats.tsv.gz"
        if not sumstats.exists():  # the genome above is redrawn identically from the seed
            z = simulate_sumstats(cohort, s, n_gwas=args.n_gwas, rng=rng, band_bp=1e6)
            variants.assign(Z=z, N=args.n_gwas).to_csv(sumstats, sep="\t", index=False)
        truth = work / "truth.tsv.gz"
        variants.assign(SNPVAR=s).to_csv(truth, sep="\t", index=False)
        annot_file = work / "annotations.tsv.gz"
        annot.drop(columns=["MAF"]).to_csv(annot_file, sep="\t", index=False)
        oracle_file = work / "annotations_motif.tsv.gz"  # the oracle: the truth's indicator
        annot.drop(columns=["MAF"]).assign(motif_break=brk.astype(float)).to_csv(
            oracle_file, sep="\t", index=False
        )
        for name in args.models:
            family, dna, oracle = MODELS[name]
            cfg = TrainConfig(
                model=family,
                epochs=args.epochs,
                patience=args.patience,
                batch_windows=args.batch_windows,
                lr=args.lr,
                seed=seed,
                fasta=str(fasta) if dna else None,
            )
            fit_dir = work / f"fit_{name.replace('+', '_')}{args.tag}"
            m = run_fit(
                enrich_se="no",
                sumstats=str(sumstats),
                ld=args.ld,
                annot=str(oracle_file if oracle else annot_file),
                out=str(fit_dir),
                config=cfg,
                test_blocks=0.25,
                truth=str(truth),
                progress=False,
                say=lambda *lines: None,
            )
            learned = pd.read_csv(fit_dir / "priors.tsv.gz", sep="\t")
            learned = learned.set_index("SNP")["SNPVAR"].reindex(variants["SNP"]).to_numpy()
            ok = np.isfinite(learned)
            row = {
                "record": "fit",
                "seed": seed,
                "model": name,
                "heldout_gain_per_1000": m.heldout_gain_per_1000,
                "truth_spearman": m.truth_spearman,
                "motif_auc": auc(learned[ok], brk[ok]),
                "h2": m.h2,
                "seconds": m.seconds,
                "n_break": int(brk.sum()),
            }
            rows.append(row)
            emit(row)
            log(
                f"seed {seed} {name}: gain/1000 {m.heldout_gain_per_1000:.3f}, Spearman "
                f"{m.truth_spearman:.3f}, motif AUC {row['motif_auc']:.3f}, {m.seconds:.0f} s"
            )
    by = {(r["seed"], r["model"]): r for r in rows}
    for name in args.models:
        for key in ("heldout_gain_per_1000", "truth_spearman", "motif_auc", "seconds"):
            mean, sd, n = mean_sd(r[key] for r in rows if r["model"] == name)
            emit(
                {"record": "summary", "model": name, "metric": key, "mean": mean, "sd": sd, "n": n}
            )
    for name in args.models:
        if name == "linear" or "linear" not in args.models:
            continue
        for key in ("heldout_gain_per_1000", "truth_spearman", "motif_auc"):
            d = [by[s, name][key] - by[s, "linear"][key] for s in args.seeds]
            mean, sd, n = mean_sd(d)
            emit(
                {"record": "contrast", "contrast": f"{name}-linear", "metric": key, "mean": mean}
                | {"sd": sd, "paired_t": paired_t(d), "n": n}
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
