"""Genome-scale throughput of the exact likelihood: one epoch (value + gradient over every window
once, with a linear prior) on a HapMap3-sized problem.

The problem: 1.1 million variants placed at HapMap3-like density in the EUR LD blocks
(Berisa & Pickrell, ../shared/data/ld_blocks/Berisa.EUR.hg19.bed), 1 Mb flanks, LD of a
500-sample panel (rank <= 499 per window) from simulated genotypes (a Gaussian AR(1) process
along each chromosome whose correlation decays with distance, 500 samples). The eigen
precomputation of each window (DESIGN 2.1) is done once and G^T is written, window after window,
to one float64 memory-mapped file: the epoch streams it from there, holding one batch of windows
in memory at a time.

``--quick-build`` fills G^T with noise of the same shapes instead (a minute instead of an hour:
the bytes read and the kernels' flops depend on the shapes only, so the timings hold).

Prints one JSON line per ``--modes`` entry (how the epoch reads G^T: serial, prefetch on a
thread, or direct = prefetch with O_DIRECT; with the file in the page cache or evicted first):
mode, n_snps, n_windows, epoch_seconds, kernel_seconds (inside the likelihood kernels),
io_seconds, peak_rss_gb, gflops_achieved (whole epoch), gflops_kernel (inside the kernels),
gflops_peak (matrix multiply in the kernels' precision, measured in the same run), device, ...

    python benchmarks/genome_scale.py [--n-snps 1100000] [--work /tmp/deepwas_genome]
        [--device cpu|cuda] [--dtype float64|float32] [--quick-build]
        [--modes prefetch-warm,prefetch-cold,direct-cold,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

# NumPy's OpenBLAS stays single-threaded (as in the CLI): with two BLAS thread pools on two cores
# an eigendecomposition of a 650 x 650 matrix took 4.4 s instead of 0.14 s (measured)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from deepwas.ld.windows import make_windows, read_blocks  # noqa: E402
from deepwas.linalg.eigen import eigen_precompute  # noqa: E402
from deepwas.linalg.likelihood import exact_nll  # noqa: E402
from deepwas.linalg.spill import read_float64  # noqa: E402
from deepwas.parallel import prefetch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = ROOT.parent / "shared" / "data" / "ld_blocks" / "Berisa.EUR.hg19.bed"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def place_variants(blocks: pd.DataFrame, n_snps: int, rng) -> pd.DataFrame:
    """n_snps positions, uniformly at random within the blocks (density proportional to length)."""
    length = (blocks["stop"] - blocks["start"]).to_numpy(np.float64)
    counts = rng.multinomial(n_snps, length / length.sum())
    chrom, bp = [], []
    for (c, s, e), k in zip(blocks[["CHR", "start", "stop"]].to_numpy(), counts, strict=True):
        pos = np.unique(rng.integers(s, e, size=k))
        chrom.append(np.full(pos.size, c))
        bp.append(pos)
    v = pd.DataFrame({"CHR": np.concatenate(chrom), "BP": np.concatenate(bp)})
    return v.sort_values(["CHR", "BP"], kind="stable").reset_index(drop=True)


def chromosome_genotypes(bp: np.ndarray, n_samples: int, rng) -> np.ndarray:
    """Standardised genotypes, (m, n_samples) float32 (variant-major), with LD decaying over
    ~30 kb: an AR(1) process along the chromosome."""
    m = bp.size
    rho = np.exp(-np.diff(bp, prepend=bp[0]) / 30_000.0).astype(np.float32)
    innov = np.sqrt(1.0 - rho**2).astype(np.float32)
    X = rng.standard_normal((m, n_samples), dtype=np.float32)
    for j in range(1, m):  # rows are contiguous: one fused update per variant
        X[j] *= innov[j]
        X[j] += rho[j] * X[j - 1]
    X -= X.mean(1, keepdims=True)
    X /= X.std(1, keepdims=True)
    return X


def build(
    work: Path,
    n_snps: int,
    n_samples: int,
    seed: int,
    chroms: list[int] | None = None,
    quick: bool = False,
) -> tuple[pd.DataFrame, Path]:
    """Windows and the streamed G^T file (cached in ``work`` across runs)."""
    meta = work / "windows.parquet"
    gfile = work / "Gt.f64"
    if meta.exists() and gfile.exists():
        return pd.read_parquet(meta), gfile
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    blocks = read_blocks(BLOCKS)
    if chroms:
        blocks = blocks[blocks["CHR"].isin(chroms)].reset_index(drop=True)
    variants = place_variants(blocks, n_snps, rng)
    windows = make_windows(variants, blocks=blocks, flank_kb=1000.0)
    if quick:
        return quick_build(windows, meta, gfile, n_samples, rng)
    ranks, offsets = [], []
    off = 0
    t0 = time.perf_counter()
    with open(gfile, "wb") as fh:
        for c in sorted(windows["CHR"].unique()):
            idx = np.flatnonzero(variants["CHR"].to_numpy() == c)
            X = chromosome_genotypes(variants["BP"].to_numpy()[idx], n_samples, rng)
            first = idx[0]
            for w in windows[windows["CHR"] == c].itertuples():
                Xc = X[w.context_first - first : w.context_stop - first].astype(np.float64)
                R = Xc @ Xc.T / n_samples
                scored = np.zeros(R.shape[0], bool)
                scored[w.scored_first - w.context_first : w.scored_stop - w.context_first] = True
                eig = eigen_precompute(R, scored, eig_rtol=1e-6)
                Gt = np.ascontiguousarray(eig.G.T)
                fh.write(Gt.tobytes())
                ranks.append(eig.rank)
                offsets.append(off)
                off += Gt.size
            log(f"  chr{c}: {len(ranks)} windows, {time.perf_counter() - t0:.0f} s")
            del X
    return _indexed(windows, ranks, offsets, meta), gfile


def _indexed(windows: pd.DataFrame, ranks, offsets, meta: Path) -> pd.DataFrame:
    """The windows with each one's rank and offset (in values) in the G^T file, saved to
    ``meta`` so that later runs reuse the file."""
    windows = windows.assign(rank=ranks, offset=offsets)
    windows.to_parquet(meta)
    return windows


def quick_build(
    windows: pd.DataFrame, meta: Path, gfile: Path, n_samples: int, rng
) -> tuple[pd.DataFrame, Path]:
    """The G^T file of :func:`build` without the eigendecompositions (about an hour on 2 cores
    at 1.1 million variants): each window's G^T is Gaussian noise scaled like the real one
    (G^T G has trace ~ context) of the rank a panel of ``n_samples`` gives, min(n_samples - 1,
    context), the median rank of the full build. The kernels' cost and the bytes read depend on
    (context, rank) only, so epoch times, reading and flop rates are those of the full build;
    the likelihood's value is not that of a real panel. For timing only (``--quick-build``)."""
    ranks, offsets = [], []
    off = 0
    t0 = time.perf_counter()
    with open(gfile, "wb") as fh:
        for w in windows.itertuples():
            c = int(w.n_context)
            r = min(n_samples - 1, c)
            Gt = rng.standard_normal((r, c), dtype=np.float32).astype(np.float64)
            Gt *= 1.0 / math.sqrt(r)
            fh.write(Gt.tobytes())
            ranks.append(r)
            offsets.append(off)
            off += Gt.size
        log(f"  quick build: {len(ranks)} windows, {time.perf_counter() - t0:.0f} s")
    return _indexed(windows, ranks, offsets, meta), gfile


def matmul_peak(device: str, dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    A = torch.randn(n, n, dtype=dtype, device=device)
    B = torch.randn(n, n, dtype=dtype, device=device)
    A @ B
    best = math.inf
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        A @ B
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def kernel_flops(C: int, r: int) -> float:
    """Flops of exact_nll value + gradient for one window as executed: the block-lower Gram
    (blocks of 128 rows, full product when r <= 256), the Cholesky factorisation (r^3 / 3), the
    triangular solve L^-1 G^T (r^2 C) and the O(C r) rest."""
    if r <= 256:
        gram = 2.0 * C * r * r
    else:
        gram = sum(2.0 * C * (min(r, i0 + 128) - i0) * min(r, i0 + 128) for i0 in range(0, r, 128))
    return gram + r**3 / 3 + r * r * C + 10.0 * C * r


def batch_groups(windows: pd.DataFrame, batch_elems: int) -> list[np.ndarray]:
    """Row positions of ``windows`` per padded batch: similar windows together (sorted by rank,
    then context), as many as fit ``batch_elems`` once padded to the largest."""
    order = np.argsort((windows["rank"] * 100000 + windows["n_context"]).to_numpy(), kind="stable")
    ranks = windows["rank"].to_numpy()[order]
    contexts = windows["n_context"].to_numpy()[order]
    groups, i = [], 0
    while i < len(order):
        j, r_max, c_max = i, 0, 0
        while j < len(order):
            r2, c2 = max(r_max, int(ranks[j])), max(c_max, int(contexts[j]))
            if j > i and (j - i + 1) * r2 * c2 > batch_elems:
                break
            r_max, c_max = r2, c2
            j += 1
        groups.append(order[i:j])
        i = j
    return groups


def read_batches(
    windows: pd.DataFrame, gfile: Path, device: str, dtype, batch_elems: int, direct: bool = False
):
    """Padded batches of similar windows streamed from the G^T file: yields (rows, Gt, context
    index, context mask, valid, seconds spent reading and packing). ``direct``: read with
    O_DIRECT, without the page cache (deepwas.linalg.spill.read_float64, as deepwas fit reads
    spilled LD that the page cache cannot hold)."""
    # windows are read with positioned reads rather than a memory map, so that pages already used
    # leave the process (a mapped 8 GiB file would count in its resident set as it is read)
    # buffered reads share one open file (and its read-ahead state); closed however the
    # generator ends (the read-ahead thread may stop it early)
    with open(gfile, "rb") as fh:
        for group in batch_groups(windows, batch_elems):
            sel = windows.iloc[group]
            ti = time.perf_counter()
            B = len(sel)
            r_max, c_max = int(sel["rank"].max()), int(sel["n_context"].max())
            Gt = np.zeros((B, r_max, c_max))
            ctx = np.zeros((B, c_max), np.int64)
            cmask = np.zeros((B, c_max), bool)
            valid = np.zeros((B, r_max), bool)
            for k, row in enumerate(sel.itertuples()):
                n = row.rank * row.n_context
                if direct:
                    values = read_float64(gfile, n, offset=row.offset, direct=True)
                else:
                    fh.seek(8 * row.offset)
                    values = np.fromfile(fh, dtype=np.float64, count=n)
                Gt[k, : row.rank, : row.n_context] = values.reshape(row.rank, row.n_context)
                ctx[k, : row.n_context] = np.arange(row.context_first, row.context_stop)
                cmask[k, : row.n_context] = True
                valid[k, : row.rank] = True
            out = (
                torch.from_numpy(Gt).to(device=device, dtype=dtype),
                torch.from_numpy(ctx).to(device),
                torch.from_numpy(cmask).to(device),
                torch.from_numpy(valid).to(device),
            )
            if device != "cpu":
                torch.cuda.synchronize()
            yield sel, *out, time.perf_counter() - ti


def drop_page_cache(gfile: Path) -> None:
    """Evict the G^T file from the page cache (as on a user's machine after building the store,
    or for the second of several traits): ``posix_fadvise(DONTNEED)`` on the file, which any user
    may do for a file's clean pages, after writing back anything dirty."""
    fd = os.open(gfile, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def epoch(
    windows: pd.DataFrame,
    gfile: Path,
    n_snps: int,
    device: str,
    batch_elems: int,
    n_annot: int,
    seed: int,
    dtype: torch.dtype,
    ahead: bool = True,
    direct: bool = False,
) -> dict:
    rng = np.random.default_rng(seed + 1)
    feats = torch.from_numpy(rng.standard_normal((n_snps, n_annot))).to(device)
    w = torch.zeros(n_annot, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.tensor(
        math.log(0.5 / n_snps * 1e5), dtype=torch.float64, device=device, requires_grad=True
    )  # log F = log(N s), N = 1e5, h2 = 0.5
    log_sigma = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
    t_io = t_kernel = 0.0
    flops = 0.0
    value = 0.0
    t0 = time.perf_counter()
    stream = read_batches(windows, gfile, device, dtype, batch_elems, direct=direct)
    if ahead:  # the next batch is read on a background thread while the kernels work
        stream = prefetch(stream)
    for sel, Gt_t, ctx_t, cmask_t, valid_t, t_read in stream:
        t_io += t_read
        flops += sum(kernel_flops(row.n_context, row.rank) for row in sel.itertuples())
        y = torch.from_numpy(rng.standard_normal(tuple(valid_t.shape))).to(device) * valid_t
        tk = time.perf_counter()
        log_F = feats[ctx_t] @ w + b
        nll = exact_nll(
            Gt_t, y, log_F, torch.exp(log_sigma), valid=valid_t, context_mask=cmask_t
        ).sum()
        nll.backward()
        if device != "cpu":
            torch.cuda.synchronize()
        t_kernel += time.perf_counter() - tk
        value += float(nll.detach())
    seconds = time.perf_counter() - t0
    return {
        "epoch_seconds": seconds,
        "kernel_seconds": t_kernel,
        "io_seconds": t_io,
        "flops": flops,
        "value": value,
        "grad_norm": float(w.grad.norm()),
    }


def constant_fit(
    windows: pd.DataFrame, gfile: Path, device: str, batch_elems: int, seed: int
) -> dict:
    """The constant-prior fit as deepwas does it (deepwas.exact.fit_constant): one pass computing
    each window's spectrum of G^T G, then L-BFGS over (log s, log sigma) on the spectra. The
    z-scores are drawn under a constant prior (h2 = 0.5, N = 1e5) so that the optimum is
    interior. Returns the pass's and the optimisation's seconds and the number of evaluations,
    each of which would otherwise be a full pass over the LD."""
    rng = np.random.default_rng(seed + 2)
    n_snps = int(windows["context_stop"].max())
    c_true = 0.5 / n_snps * 1e5
    d, u2 = [], []
    t0 = time.perf_counter()
    for _sel, Gt_t, _ctx, _cmask, valid_t, _t in read_batches(
        windows, gfile, device, torch.float64, batch_elems
    ):
        K = Gt_t @ Gt_t.transpose(-1, -2)
        K.diagonal(dim1=-2, dim2=-1)[~valid_t] = -1.0
        lam, V = torch.linalg.eigh(K)
        real = lam > -0.5
        # y ~ N(0, I + c K) in K's eigenbasis: u_k ~ N(0, 1 + c lam_k)
        lam = lam.clamp_min(0.0)
        u = torch.from_numpy(rng.standard_normal(lam.shape)).to(device) * torch.sqrt(
            1 + c_true * lam
        )
        d.append(lam[real])
        u2.append(u[real] ** 2)
    d_all, u2_all = torch.cat(d), torch.cat(u2)
    t_pass = time.perf_counter() - t0
    log_c = torch.tensor(math.log(0.1 / n_snps * 1e5), dtype=torch.float64, device=device)
    log_c.requires_grad_(True)
    log_sigma = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_c, log_sigma],
        max_iter=100,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        v = torch.exp(log_sigma) + torch.exp(log_c) * d_all
        loss = 0.5 * (torch.log(v) + u2_all / v).sum()
        loss.backward()
        return loss

    t1 = time.perf_counter()
    opt.step(closure)
    return {
        "constant_fit_pass_seconds": t_pass,
        "constant_fit_optimise_seconds": time.perf_counter() - t1,
        "constant_fit_evaluations": evaluations,
        "constant_fit_h2_rel_error": math.exp(log_c.item()) / c_true - 1.0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-snps", type=int, default=1_100_000)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--work", default="/tmp/deepwas_genome")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument(
        "--batch-elements",
        type=int,
        default=4_000_000,
        help="G entries per padded batch (memory per batch = 8 bytes x this). Kept at <= 32 MiB "
        "of float64 so that glibc's malloc recycles the kernels' buffers: larger blocks are "
        "mapped afresh for every batch, and the page faults cost ~10%% of the epoch (measured)",
    )
    ap.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the kernels (float32: the training-step option --precision float32); "
        "the matrix-multiply peak is measured in the same precision",
    )
    ap.add_argument("--n-annot", type=int, default=10)
    ap.add_argument(
        "--modes",
        default="prefetch-warm",
        help="comma-separated epochs to time, each {serial,prefetch,direct}-{warm,cold}: prefetch "
        "reads the next batch on a background thread (deepwas.parallel.prefetch, as deepwas fit "
        "does); direct does so with O_DIRECT, without the page cache (as deepwas fit reads "
        "spilled LD that the page cache cannot hold); "
        "cold evicts the G^T file from the page cache first (posix_fadvise). One JSON "
        "line per mode",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--no-constant-fit",
        dest="constant_fit",
        action="store_false",
        help="skip timing the constant-prior fit (a full pass over the LD)",
    )
    ap.add_argument(
        "--peak-n", type=int, default=4096, help="size of the matrices timing the matmul peak"
    )
    ap.add_argument("--chroms", default=None, help="comma-separated chromosomes (default: all 22)")
    ap.add_argument(
        "--quick-build",
        action="store_true",
        help="fill G^T with noise of the panel's ranks instead of eigendecomposing each window "
        "(minutes instead of about an hour; same bytes and flops, so timings hold; the NLL does "
        "not describe a real panel)",
    )
    args = ap.parse_args(argv)
    chroms = [int(c) for c in args.chroms.split(",")] if args.chroms else None
    torch.set_num_threads(args.threads)
    tag = f"_chr{args.chroms.replace(',', '-')}" if args.chroms else ""
    tag += "_quick" if args.quick_build else ""
    work = Path(args.work) / f"n{args.n_snps}_s{args.n_samples}_seed{args.seed}{tag}"
    t0 = time.perf_counter()
    windows, gfile = build(
        work, args.n_snps, args.n_samples, args.seed, chroms, quick=args.quick_build
    )
    build_s = time.perf_counter() - t0
    log(
        f"{len(windows)} windows, G^T file {gfile.stat().st_size / 2**30:.1f} GiB "
        f"(built or loaded in {build_s:.0f} s)"
    )
    dtype = getattr(torch, args.dtype)
    peak = matmul_peak(args.device, dtype, args.peak_n)
    cfit = None
    for mode in args.modes.split(","):
        read_mode, cache = mode.split("-")
        if cache == "cold":
            drop_page_cache(gfile)
        res = epoch(
            windows,
            gfile,
            args.n_snps,
            args.device,
            args.batch_elements,
            args.n_annot,
            args.seed,
            dtype,
            ahead=read_mode in ("prefetch", "direct"),
            direct=read_mode == "direct",
        )
        if cfit is None and args.constant_fit:
            cfit = constant_fit(windows, gfile, args.device, args.batch_elements, args.seed)
        out = {
            "mode": mode,
            "n_snps": args.n_snps,
            "n_windows": len(windows),
            "median_context": float(windows["n_context"].median()),
            "median_rank": float(windows["rank"].median()),
            "epoch_seconds": res["epoch_seconds"],
            "kernel_seconds": res["kernel_seconds"],
            "io_seconds": res["io_seconds"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "gflops_achieved": res["flops"] / res["epoch_seconds"] / 1e9,
            "gflops_kernel": res["flops"] / res["kernel_seconds"] / 1e9,
            "gflops_peak": peak,
            "kernel_fraction_of_peak": res["flops"] / res["kernel_seconds"] / 1e9 / peak,
            "epoch_fraction_of_peak": res["flops"] / res["epoch_seconds"] / 1e9 / peak,
            "device": args.device
            if args.device != "cpu"
            else f"cpu ({platform.machine()}, {args.threads} threads)",
            "dtype": args.dtype,
            "nll": res["value"],
            "build_seconds": build_s,
            **(cfit or {}),
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
