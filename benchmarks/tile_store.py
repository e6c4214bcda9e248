"""A genome-sized LD store from a real one, for timing the verbs end to end at 1.1 million variants.

Building a real 1.1-million-variant store here would take some 23 GB of disk and most of an hour;
this script instead repeats a real store (e.g. 1000 Genomes EUR chr22, 15,878 variants, 24 Berisa
windows) ``--copies`` times: copy k sits on chromosome 1 + (k mod 22) at a base-pair offset of
100 Mb x (k div 22), its variant IDs get the suffix ``_k``, and its window folders are symbolic
links to the source store's (no disk). The summary statistics are repeated the same way, so every
copy is measured as the source was (for UK Biobank height chr22 on that store: 979 store variants
unmeasured, every window re-projected). What this does not reproduce: the page cache (all copies
share the source's files, so reads are warm after the first copy) and genome-wide variation in
window size.

    python benchmarks/tile_store.py --ld st22b --sumstats ukb_height_chr22.fastGWA.gz \\
        --copies 69 --out tiled
    # then: deepwas prs --sumstats tiled/sumstats.tsv.gz --ld tiled/ld --out w.tsv.gz
    # (with --annot A.tsv.gz also tiled/annotations.tsv.gz, for deepwas fit)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from _common import log
from deepwas.io.sumstats import read_sumstats

OFFSET_BP = 100_000_000


def _copy_coords(k: int) -> tuple[int, int]:
    """(chromosome, base-pair offset) of copy k."""
    return 1 + k % 22, OFFSET_BP * (k // 22)


def tile_store(src: Path, out: Path, copies: int) -> None:
    variants = pd.read_parquet(src / "variants.parquet")
    windows = pd.read_parquet(src / "windows.parquet")
    manifest = json.loads((src / "manifest.json").read_text())
    m, w = len(variants), len(windows)
    vs, ws = [], []
    (out / "windows").mkdir(parents=True)
    # the store keeps variants sorted by (CHR, BP): copy k takes slot j in that order
    for j, k in enumerate(sorted(range(copies), key=_copy_coords)):
        chrom, off = _copy_coords(k)
        v = variants.copy()
        v["CHR"], v["BP"] = chrom, v["BP"] + off
        v["SNP"] = v["SNP"].astype(str) + f"_{k}"
        vs.append(v)
        x = windows.copy()
        x["window"] += j * w
        x["CHR"], x["start"], x["stop"] = chrom, x["start"] + off, x["stop"] + off
        for col in ("scored_first", "scored_stop", "context_first", "context_stop"):
            x[col] += j * m
        ws.append(x)
        for i in range(w):
            target = (src / "windows" / f"{i:05d}").resolve()
            os.symlink(target, out / "windows" / f"{j * w + i:05d}")
    allv = pd.concat(vs, ignore_index=True)
    allw = pd.concat(ws, ignore_index=True)
    allv.to_parquet(out / "variants.parquet", index=False)
    allw.to_parquet(out / "windows.parquet", index=False)
    manifest.update(n_variants=m * copies, n_windows=w * copies)
    manifest["source"] = {**manifest.get("source", {}), "tiled_from": str(src), "copies": copies}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def tile_table(df: pd.DataFrame, out: Path, copies: int) -> None:
    """A table with SNP, CHR and BP columns repeated as the store's copies are."""
    parts = []
    for k in range(copies):
        chrom, off = _copy_coords(k)
        d = df.copy()
        d["CHR"], d["BP"] = chrom, d["BP"] + off
        d["SNP"] = d["SNP"].astype(str) + f"_{k}"
        parts.append(d)
    pd.concat(parts, ignore_index=True).to_csv(out, sep="\t", index=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ld", required=True)
    p.add_argument("--sumstats", required=True)
    p.add_argument("--annot", default=None, help="a CHR SNP BP ... annotation table to tile too")
    p.add_argument("--copies", type=int, default=69)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists")
    tile_store(Path(args.ld), out / "ld", args.copies)
    df, _ = read_sumstats(args.sumstats)
    tile_table(df[["SNP", "CHR", "BP", "A1", "A2", "Z", "N"]], out / "sumstats.tsv.gz", args.copies)
    if args.annot:
        annot = pd.read_csv(args.annot, sep="\t", dtype={"SNP": str})
        tile_table(annot, out / "annotations.tsv.gz", args.copies)
    log(f"wrote {out}/ld, {out}/sumstats.tsv.gz ({args.copies} copies)")


if __name__ == "__main__":
    main()
