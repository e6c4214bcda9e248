"""VIPRS weights on the inputs of benchmarks/prs.py (run in a venv with ``viprs`` and ``magenpy``,
the ``bench`` dependency group; it does not import deepwas).

LD from the same reference panel that deepwas's LD store uses (magenpy's windowed estimator,
``--kb-window`` each side), summary statistics converted to magenpy's format, VIPRS's default
spike-and-slab model fitted by variational EM. Writes ``SNP A1 A2 BETA_STD`` with VIPRS's
posterior mean effects, which live on the standardised scale (VIPRS fits the standardised
marginal effects, magenpy's ``std_beta`` = z / sqrt(N)). One JSON line with the timings.

  vvenv/bin/python benchmarks/prs_viprs.py --bfile SIM/reference --sumstats SIM/sumstats.tsv.gz
      --out viprs.tsv --workdir TMP
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bfile", required=True)
    p.add_argument(
        "--sumstats", required=True, help="CHR SNP BP A1 A2 Z N [AF1] (deepwas simulate)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--kb-window", type=float, default=1000.0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import magenpy as mgp
    import viprs as vp

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    ss = pd.read_csv(args.sumstats, sep=r"\s+")
    n = ss["N"].astype(float)
    # magenpy's own format; BETA and SE of standardised genotypes, from z and N
    mss = pd.DataFrame(
        {
            "CHR": ss["CHR"],
            "SNP": ss["SNP"],
            "POS": ss["BP"],
            "A1": ss["A1"],
            "A2": ss["A2"],
            "N": n.astype(int),
            "BETA": ss["Z"] / np.sqrt(n),
            "SE": 1.0 / np.sqrt(n),
            "Z": ss["Z"],
        }
    )
    if "AF1" in ss:
        mss["MAF"] = np.minimum(ss["AF1"], 1 - ss["AF1"])
    f = work / "sumstats.magenpy.tsv"
    mss.to_csv(f, sep="\t", index=False)

    # magenpy refuses a .fam whose phenotype column is 0 (deepwas simulate writes 0 = missing,
    # PLINK's convention): link the .bed/.bim and write the .fam with -9
    bfile = work / "panel"
    for ext in (".bed", ".bim"):
        link = bfile.with_suffix(ext)
        link.unlink(missing_ok=True)
        link.symlink_to(Path(args.bfile + ext).resolve())
    fam = pd.read_csv(args.bfile + ".fam", sep=r"\s+", header=None, dtype=str)
    fam[5] = "-9"
    fam.to_csv(bfile.with_suffix(".fam"), sep=" ", header=False, index=False)

    t0 = time.perf_counter()
    gdl = mgp.GWADataLoader(
        bed_files=str(bfile),
        sumstats_files=str(f),
        sumstats_format="magenpy",
        backend="bed-reader",
        threads=args.threads,
    )
    gdl.compute_ld("windowed", output_dir=str(work / "ld"), kb_window_size=args.kb_window)
    gdl.harmonize_data()
    t_ld = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = vp.VIPRS(gdl, threads=args.threads)
    model.fit()
    t_fit = time.perf_counter() - t0
    tab = model.to_table()
    out = tab[["SNP", "A1", "A2"]].assign(BETA_STD=tab["BETA"].to_numpy())
    out.to_csv(args.out, sep="\t", index=False)
    rec = dict(bench="prs_viprs", seconds_ld=t_ld, seconds_fit=t_fit, n=len(out))
    print(json.dumps(rec), flush=True)
    print(f"VIPRS: LD {t_ld:.1f} s, fit {t_fit:.1f} s, {len(out)} weights", file=sys.stderr)


if __name__ == "__main__":
    main()
