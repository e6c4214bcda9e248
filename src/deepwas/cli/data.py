"""Verbs that make and inspect inputs: ``simulate``, ``ld``, ``info``."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepwas._validation import STORE_BUILD_CONSTRAINTS
from deepwas.cli._args import (
    CHI2_1_MEDIAN,
    add_bim,
    add_common,
    add_min_maf,
    add_n_gwas,
    add_output,
    add_var_explained,
    chrom_list,
    constrain,
    say,
)
from deepwas.errors import InputError


# ---------------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    from deepwas.simulate import SimConfig, run_simulation

    cfg = SimConfig(
        n_ref=args.n_ref,
        n_insample=args.n_insample,
        n_gwas=args.n_gwas,
        h2=args.h2,
        length_mb=args.length_mb,
        chroms=args.chroms,
        demography=args.demography,
        ref_population=args.ref_population,
        genetic_map=args.genetic_map,
        panel=args.bfile or args.vcf,
        min_maf=args.min_maf,
        max_snps=args.max_snps,
        maf_spectrum=args.maf_spectrum,
        annotations=args.annot,
        n_binary=args.n_binary,
        n_continuous=args.n_continuous,
        prior=args.prior,
        sigma=args.sigma,
        seed=args.seed,
    )
    summary = run_simulation(cfg, args.out, argv=["deepwas", *args.argv], progress=not args.quiet)
    say(
        f"simulated {summary['n_snps']:,} variants, N = {summary['n_gwas']:,.0f}, "
        f"h2 = {summary['h2']:.3g}, mean chi2 = {summary['mean_chi2']:.3f}",
        f"wrote {args.out}/sumstats.tsv.gz, annotations.tsv.gz, truth.tsv.gz, "
        "reference.bed/bim/fam",
    )
    return 0


# ---------------------------------------------------------------------------------------- ld
def _cmd_ld(args: argparse.Namespace) -> int:
    from deepwas.provenance import provenance

    chroms = chrom_list(args.chrom, flag="--chrom") if args.chrom else None
    argv = ["deepwas", *args.argv]
    if args.ukbb_npz:
        from deepwas.ld.ukbb import import_ukbb_ld

        store = import_ukbb_ld(
            args.ukbb_npz,
            args.out,
            chroms=chroms,
            shrinkage=args.shrinkage,
            eig_rtol=args.eig_rtol,
            var_explained=args.var_explained,
            provenance=provenance(inputs={"ukbb_npz": args.ukbb_npz}, argv=argv, hash_inputs=False),
            progress=not args.quiet,
        )
    else:
        from deepwas.io.genotypes import read_plink, read_vcf
        from deepwas.ld.build import build_store
        from deepwas.ld.windows import read_blocks

        if bool(args.bfile) == bool(args.vcf):
            raise InputError("give exactly one of --bfile, --vcf or --ukbb-npz", column="--bfile")
        if (args.blocks is None) == (args.window_kb is None):
            raise InputError(
                "give exactly one of --blocks BED or --window-kb K",
                column="--blocks",
                fix="e.g. --blocks Berisa.EUR.hg19.bed (LD blocks) or --window-kb 1500",
            )
        panel = read_plink(args.bfile, chroms=chroms) if args.bfile else read_vcf(args.vcf)
        blocks = read_blocks(args.blocks) if args.blocks else None
        inputs: dict[str, str | Path] = dict(panel.files)
        if args.blocks:
            inputs["blocks"] = args.blocks
        store = build_store(
            panel,
            args.out,
            blocks=blocks,
            window_kb=args.window_kb,
            flank_kb=args.flank_kb,
            min_maf=args.min_maf,
            shrinkage=args.shrinkage,
            eig_rtol=args.eig_rtol,
            var_explained=args.var_explained,
            chroms=chroms,
            provenance=provenance(inputs=inputs, argv=argv),
            progress=not args.quiet,
        )
    say(*store.summary(), f"wrote LD store {args.out}")
    return 0


# -------------------------------------------------------------------------------------- info
def _looks_like_sumstats(path: Path) -> bool:
    from deepwas._files import is_parquet, open_text
    from deepwas.io.sumstats import detect_format

    name = path.name.lower()
    if ".annot" in name:
        return False
    try:
        if is_parquet(path):
            import pyarrow.parquet as pq

            header = pq.read_schema(path).names
        else:
            with open_text(path) as fh:
                first = fh.readline()
            sep = "\t" if "\t" in first else ("," if "," in first else None)
            header = first.strip().split(sep)
    except (OSError, ValueError, InputError):  # the annotation reader then says what is wrong
        return False
    upper = {h.strip().upper() for h in header}
    effect = {
        "Z",
        "BETA",
        "OR",
        "P",
        "PVAL",
        "P_VALUE",
        "B",
        "ZSCORE",
        "Z_STAT",
        "ODDS_RATIO",
        "LOG_ODDS",
        "T_STAT",
        "P_BOLT_LMM",
        "P_BOLT_LMM_INF",
    }
    if upper & effect:
        return True
    return detect_format(header) not in ("generic",)


def _cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise InputError("no such file or folder", file=path)
    if path.is_dir():
        from deepwas.ld.store import LDStore

        say(*LDStore.open(path).summary())
        return 0
    if _looks_like_sumstats(path):
        import numpy as np

        from deepwas.io.sumstats import read_sumstats

        df, qc = read_sumstats(
            path, n_gwas=args.n_gwas, keep_ambiguous=True, min_info=None, min_maf=None
        )
        say(f"summary statistics: {path}", *qc.lines())
        z = df["Z"].to_numpy()
        chi2 = z * z
        chroms = sorted(set(df["CHR"])) if "CHR" in df else []
        med = float(np.median(chi2))
        n_col = df["N"]
        say(
            f"variants: {len(df):,}; chromosomes: {', '.join(map(str, chroms)) or 'not given'}",
            f"N: median {n_col.median():,.0f} (min {n_col.min():,.0f}, max {n_col.max():,.0f})",
            f"chi2: mean {chi2.mean():.4f}, median {med:.4f}, max {chi2.max():.2f}; "
            f"lambda_GC {med / CHI2_1_MEDIAN:.4f}",
        )
        return 0
    from deepwas.io.annotations import read_annotations, summarize_annotations

    annot = read_annotations(path, bim=args.bim)
    say(*summarize_annotations(annot))
    return 0


# ------------------------------------------------------------------------------------ parser
def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the ``deepwas`` parser."""
    s = sub.add_parser(
        "simulate",
        help="simulate a GWAS with known truth",
        description="Simulate genotypes, annotations, a true prior and GWAS "
        "summary statistics (DESIGN 2), writing sumstats/annotations/truth. "
        "UKB-height-like (z with population LD, mean chi2 3.1): --n-insample 20000 "
        "--n-gwas 300000 --h2 0.004 --length-mb 20 --max-snps 8600 (see SimConfig).",
    )
    add_output(s, kind="dir", what="output folder")
    s.add_argument("--n-ref", type=int, default=500, help="reference-panel diploids (msprime)")
    s.add_argument(
        "--n-insample",
        type=int,
        default=None,
        help="separate in-sample cohort whose LD generates z (panel mismatch)",
    )
    s.add_argument("--n-gwas", type=float, default=100_000, help="GWAS sample size to simulate")
    s.add_argument("--h2", type=float, default=0.3, help="total SNP heritability")
    s.add_argument("--length-mb", type=float, default=10.0, help="Mb simulated per chromosome")
    s.add_argument("--chroms", type=int, default=1, help="number of chromosomes")
    s.add_argument("--demography", choices=["ooa_ceu", "constant"], default="ooa_ceu")
    s.add_argument(
        "--ref-population",
        default="CEU",
        help="Out-of-Africa population of the reference panel: CEU (as the GWAS), YRI or CHB",
    )
    s.add_argument("--genetic-map", default=None, help="genetic map 'pos chr cM' (shapeit4)")
    s.add_argument("--bfile", default=None, help="use this PLINK panel instead of msprime")
    s.add_argument("--vcf", default=None, help="use this VCF panel instead of msprime")
    add_min_maf(s, STORE_BUILD_CONSTRAINTS)
    s.add_argument("--max-snps", type=int, default=None, help="thin to this many per chromosome")
    s.add_argument(
        "--maf-spectrum",
        choices=["uniform", "hapmap3"],
        default="uniform",
        help="MAF spectrum of the kept variants: the coalescent's (uniform thinning) or that of "
        "HapMap3 variants in 1000 Genomes EUR (9%% below 0.05), as in real reference panels",
    )
    s.add_argument("--annot", default=None, help="given annotations instead of synthetic ones")
    s.add_argument("--n-binary", type=int, default=6, help="synthetic binary annotations")
    s.add_argument("--n-continuous", type=int, default=4, help="synthetic continuous annotations")
    s.add_argument("--prior", choices=["linear", "nonlinear", "neighbourhood"], default="nonlinear")
    s.add_argument("--sigma", type=float, default=1.0, help="intercept of the sampling model")
    s.add_argument("--seed", type=int, default=1)
    add_common(s)
    s.set_defaults(func=_cmd_simulate)

    ld = sub.add_parser(
        "ld",
        help="build an LD store from a reference panel",
        description="Compute each window's LD and its eigen precomputation and "
        "save them in an LD store (docs/ld_store.md), reused across traits.",
    )
    ld.add_argument(
        "--bfile",
        default=None,
        help="PLINK .bed/.bim/.fam prefix; '@' stands for the chromosome "
        "(ref.@ reads ref.1 ... ref.22, ref.X, one fileset per chromosome)",
    )
    ld.add_argument("--vcf", default=None, help="VCF/BCF file")
    ld.add_argument("--ukbb-npz", default=None, help="folder of UK Biobank chrN_S_E.npz/.gz LD")
    ld.add_argument("--blocks", default=None, help="BED of LD blocks (e.g. Berisa.EUR.hg19.bed)")
    ld.add_argument("--window-kb", type=float, default=None, help="fixed windows of this size")
    ld.add_argument("--flank-kb", type=float, default=1000.0, help="context flank each side")
    add_min_maf(ld, STORE_BUILD_CONSTRAINTS)
    ld.add_argument("--shrinkage", type=float, default=0.0, help="R <- (1-s) R + s I")
    ld.add_argument("--eig-rtol", type=float, default=1e-6, help="relative eigenvalue cutoff")
    add_var_explained(ld, STORE_BUILD_CONSTRAINTS)
    ld.add_argument("--chrom", default=None, help="chromosomes, e.g. 22 or 1-22 or 1,2,X")
    add_output(ld, kind="dir", what="LD store folder")
    add_common(ld)
    # build_store and import_ukbb_ld check the same table; main() checks it before the panel is read
    constrain(ld, STORE_BUILD_CONSTRAINTS)
    ld.set_defaults(func=_cmd_ld)

    i = sub.add_parser("info", help="summarise a sumstats, LD store or annotation file")
    i.add_argument("file", help="summary statistics, annotation file, or LD store folder")
    add_n_gwas(i)
    add_bim(i)
    add_common(i)
    i.set_defaults(func=_cmd_info)
