"""Import the UK Biobank LD matrices of Weissbrod et al. (2020, PolyFun; the "Alkes" LD) into a
deepwas LD store (docs/ld_store.md).

The matrices come as pairs in one folder, one pair per region ``chrN_START_END``:

- ``chrN_START_END.npz``: a :mod:`scipy.sparse` matrix saved with :func:`scipy.sparse.save_npz`
  holding the *upper triangle* of the correlation matrix with 0.5 on the diagonal, so that
  ``R = A + A^T``;
- ``chrN_START_END.gz``: a whitespace-separated table with the header
  ``rsid chromosome position allele1 allele2``, one row per matrix row.

Regions are 3 Mb long (``[START, END)``, 1-based, ``END = START + 3,000,000``) and start every
1 Mb, so neighbouring regions overlap by 2 Mb. This module owns :func:`import_ukbb_ld`.

Decisions
---------
Alleles
    ``allele1`` becomes ``A1`` (the counted allele of the store) and ``allele2`` ``A2``, as
    PolyFun's fine-mapping code does when it loads these files (it renames ``allele1`` to ``A1``
    and flips z-scores whose A1 is the LD file's ``allele2``). A correlation is unchanged when
    *both* variants are recoded, so the sign of R only requires that the LD was computed
    counting the same allele (first or second) at every variant, which LDstore does; which of
    the two it counted does not matter. The remaining uncertainty, undocumented by the
    distributors, is whether any file mixes conventions; nothing in the files can tell.
Windows
    Each region gives at most one window. Its *context* is the region's variants. Its *scored*
    set is the variants whose position is nearer the region's centre ``(START + END) / 2`` than
    the centre of the next region on either side: for the regular 1 Mb grid that is the middle
    1 Mb ``[START + 1e6, START + 2e6)``, with the first region of a chromosome also scoring
    everything before its middle and the last everything after. A position exactly on a
    boundary goes to the later region. The scored sets therefore partition the variants (a
    variant in several files is scored once), and a gap in the grid (a missing region) is split
    between its neighbours. A region that scores no variant gives no window.
Store variants
    The union of the regions' variants, identified by ``(CHR, BP, SNP, A1, A2)`` (so the two
    alleles of a multi-allelic site stay distinct), sorted by CHR, BP (then SNP, A1, A2). A
    duplicate row within one file is read once (the first). ``AF1`` and ``CM`` are unknown
    (NaN): the files carry neither.
Contiguity
    The store needs each window's context to be a contiguous range of store indices with LD for
    all of them. A variant that lies between the first and last variant of a region (in store
    order) but is absent from that region's file has no LD there, so it is **dropped from the
    store**, as is a variant absent from the file of the region that scores it. Both counts are
    recorded in the manifest's ``source`` (``n_dropped_gap``, ``n_dropped_unscored``) and are
    zero for the distributed files, whose overlapping regions list the same variants.
LD
    ``R`` is restricted to the kept variants, stored as float32 (as every store), and optionally
    shrunk towards the identity, ``(1 - s) R + s I``. A matrix stored in full (lower triangle
    present) or as an upper triangle with a unit diagonal is accepted too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deepwas._validation import STORE_BUILD_CONSTRAINTS, validate
from deepwas.errors import InputError, NumericalError
from deepwas.io.variants import chrom_code, chrom_codes, chrom_label
from deepwas.ld.windows import WINDOW_COLUMNS

if TYPE_CHECKING:  # the store lives a layer up (ld); imported when writing, not with deepwas.io
    from deepwas.ld.store import LDStore

__all__ = ["import_ukbb_ld", "UKBB_SNP_COLUMNS"]

#: Header of the ``.gz`` variant lists and the store columns they become.
UKBB_SNP_COLUMNS = {
    "rsid": "SNP",
    "chromosome": "CHR",
    "position": "BP",
    "allele1": "A1",
    "allele2": "A2",
}
_REGION_RE = re.compile(r"^chr([0-9]{1,2}|X|Y|XY|MT)_([0-9]+)_([0-9]+)\.npz$", re.IGNORECASE)
_KEY = ["CHR", "BP", "SNP", "A1", "A2"]
_DIAG_ATOL = 1e-3  # the files store correlations at reduced precision


@dataclass(frozen=True)
class _Region:
    chrom: int
    start: int
    end: int
    npz: Path
    snps: Path

    @property
    def name(self) -> str:
        return self.npz.name.removesuffix(".npz")


def _find_regions(ld_dir: Path, chroms: list[int] | None) -> list[_Region]:
    if not ld_dir.is_dir():
        raise InputError(
            "UK Biobank LD folder not found",
            file=ld_dir,
            fix="give the folder of chr*_*_*.npz files",
        )
    regions = []
    for f in ld_dir.iterdir():
        m = _REGION_RE.match(f.name)
        if m is None:
            continue
        chrom = chrom_code(m.group(1))
        if chrom == 0:
            raise InputError(
                f"unrecognised chromosome {m.group(1)!r} in the file name",
                file=f,
                fix="name regions chrN_START_END.npz with N in 1-22, X, Y, XY or MT",
            )
        start, end = int(m.group(2)), int(m.group(3))
        if end <= start:
            raise InputError(
                "region END is not after its START", file=f, fix="rename as chrN_START_END.npz"
            )
        snps = f.with_suffix(".gz")
        if not snps.is_file():
            raise InputError(
                f"the variant list {snps.name} of this LD matrix is missing",
                file=f,
                fix="download the .gz beside each .npz",
            )
        regions.append(_Region(chrom, start, end, f, snps))
    if not regions:
        raise InputError(
            "no UK Biobank LD matrices (chrN_START_END.npz) in this folder",
            file=ld_dir,
            fix="give the folder holding the .npz and .gz files",
        )
    if chroms is not None:
        wanted = {int(c) for c in chroms}
        regions = [r for r in regions if r.chrom in wanted]
        if not regions:
            raise InputError(
                f"no LD region on chromosome(s) {sorted(wanted)}",
                file=ld_dir,
                fix="check --chrom against the files in the folder",
            )
    return sorted(regions, key=lambda r: (r.chrom, r.start, r.end))


def _npz_shape(path: Path) -> tuple[int, int]:
    try:
        with np.load(path, allow_pickle=False) as z:
            shape = tuple(int(x) for x in z["shape"])
    except Exception as exc:  # zipfile/KeyError/ValueError on a file that is not save_npz output
        raise InputError(
            f"not a scipy.sparse .npz matrix: {' '.join(str(exc).split())}",
            file=path,
            fix="give files written by scipy.sparse.save_npz",
        ) from exc
    if len(shape) != 2 or shape[0] != shape[1]:
        raise InputError(f"LD matrix has shape {shape}; it must be square", file=path)
    return shape  # type: ignore[return-value]


def _read_snps(region: _Region) -> pd.DataFrame:
    path = region.snps
    try:
        df = pd.read_csv(path, sep=r"\s+", dtype=str, compression="infer")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise InputError(
            f"cannot read the variant list: {' '.join(str(exc).split())}",
            file=path,
            fix="give the .gz variant list of the UK Biobank LD (rsid chromosome position "
            "allele1 allele2)",
        ) from exc
    missing = [c for c in UKBB_SNP_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"variant list lacks columns {missing}",
            file=path,
            column=missing[0],
            fix="the header must be: rsid chromosome position allele1 allele2",
        )
    df = df[list(UKBB_SNP_COLUMNS)].rename(columns=UKBB_SNP_COLUMNS)
    other = np.flatnonzero(chrom_codes(df["CHR"]) != region.chrom)  # 0: missing, unrecognised
    if other.size:
        i = int(other[0])
        raise InputError(
            f"chromosome {df['CHR'].iloc[i]!r} in the variant list of a "
            f"chr{chrom_label(region.chrom)} region",
            file=path,
            row=i + 2,
            column="chromosome",
            fix="keep each .gz beside the .npz of the same region",
        )
    bp = pd.to_numeric(df["BP"], errors="coerce")
    bad = bp.isna() | (bp < 0) | (bp != bp.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"invalid position {df['BP'].iloc[i]!r}", file=path, row=i + 2, column="position"
        )
    return pd.DataFrame(
        {
            "CHR": np.full(len(df), region.chrom, dtype=np.int64),
            "BP": bp.to_numpy(dtype=np.int64),
            "SNP": df["SNP"].to_numpy(dtype=object),
            "A1": df["A1"].str.upper().to_numpy(dtype=object),
            "A2": df["A2"].str.upper().to_numpy(dtype=object),
        }
    )


def _load_R(region: _Region, rows: np.ndarray, *, shrinkage: float) -> np.ndarray:
    """The region's correlations among ``rows`` (file row numbers, in store order), float32.

    Returns
    -------
    R: (len(rows), len(rows)) float32, unit diagonal.
    """
    from scipy import sparse

    try:
        A = sparse.load_npz(region.npz)
    except Exception as exc:  # not a sparse npz
        raise InputError(
            f"cannot read the LD matrix: {' '.join(str(exc).split())}",
            file=region.npz,
            fix="give files written by scipy.sparse.save_npz",
        ) from exc
    if not np.issubdtype(A.dtype, np.floating):
        raise InputError(
            f"LD matrix holds {A.dtype} values, not correlations",
            file=region.npz,
            fix="give the UK Biobank LD files as distributed",
        )
    if not np.isfinite(A.data).all():
        raise NumericalError(
            "LD matrix has non-finite entries",
            file=region.npz,
            fix="re-download the file; UK Biobank LD files hold finite correlations",
        )
    diag = A.diagonal().astype(np.float64)
    upper = sparse.tril(A, k=-1).nnz == 0
    expected = (0.5, 1.0) if upper else (1.0,)
    dev = np.min([np.abs(diag - e) for e in expected], axis=0)
    if dev.size and dev.max() > _DIAG_ATOL:
        i = int(np.argmax(dev))
        raise NumericalError(
            f"diagonal entry {i} is {diag[i]:.4g}; "
            + (
                "an upper-triangle LD matrix has 0.5 (or 1) on its diagonal"
                if upper
                else "a full LD matrix has 1 on its diagonal"
            ),
            file=region.npz,
            fix="give the UK Biobank LD files as distributed",
        )
    # Dense float32 from here: n^2 * 4 bytes, the least a window's LD can take in memory.
    R = A.toarray().astype(np.float32, copy=False)
    del A
    if upper:
        R += R.T  # numpy buffers the overlapping transpose; the diagonal is reset below
    if rows.size != R.shape[0] or not np.array_equal(rows, np.arange(rows.size)):
        R = R[np.ix_(rows, rows)]
    if shrinkage:
        R *= np.float32(1.0 - shrinkage)
    np.fill_diagonal(R, 1.0)
    return R


@dataclass
class _Plan:
    variants: pd.DataFrame  # CHR SNP BP A1 A2 AF1 CM, store order
    windows: pd.DataFrame  # WINDOW_COLUMNS
    regions: list[_Region]  # one per window
    rows: list[np.ndarray]  # per window: file rows of its context, in store order
    counts: dict[str, int]


def _read_chromosome(regions: list[_Region]) -> tuple[pd.DataFrame, int]:
    """All rows of the regions' variant lists with ``region`` and file ``row``; duplicates within
    a file removed (their count is returned)."""
    tables = []
    for r_i, region in enumerate(regions):
        snps = _read_snps(region)
        n = _npz_shape(region.npz)[0]
        if len(snps) != n:
            raise InputError(
                f"the LD matrix has {n:,} rows but its variant list {region.snps.name} has "
                f"{len(snps):,}",
                file=region.npz,
                fix="keep each .npz with the .gz of the same region",
            )
        snps["region"] = r_i
        snps["row"] = np.arange(len(snps))
        tables.append(snps)
    rows_all = pd.concat(tables, ignore_index=True)
    dup_in_file = rows_all.duplicated(["region", *_KEY]).to_numpy()
    return rows_all[~dup_in_file].reset_index(drop=True), int(dup_in_file.sum())


def _plan_chromosome(regions: list[_Region]) -> _Plan:
    """Plan the windows of the regions of one chromosome (sorted by START); indices are local."""
    rows_all, n_dup = _read_chromosome(regions)
    # Candidate store: unique variants sorted by BP, SNP, A1, A2 (one chromosome).
    cand = rows_all[_KEY].drop_duplicates().sort_values(_KEY, kind="stable")
    cand = cand.reset_index(drop=True)
    rows_all = rows_all.merge(cand.assign(cand=np.arange(len(cand))), on=_KEY, how="left")
    n_cand = len(cand)
    region_ids = rows_all["region"].to_numpy()
    cand_ids = rows_all["cand"].to_numpy()
    file_row = rows_all["row"].to_numpy()
    order = np.argsort(region_ids, kind="stable")
    bounds = np.searchsorted(region_ids[order], np.arange(len(regions) + 1))
    by_region = [order[bounds[r] : bounds[r + 1]] for r in range(len(regions))]

    # A variant inside a region's span (in candidate order) but absent from its file: drop.
    drop = np.zeros(n_cand, dtype=bool)
    for idx in by_region:
        c = cand_ids[idx]
        if c.size == 0:
            continue
        lo, hi = int(c.min()), int(c.max())
        present = np.zeros(hi - lo + 1, dtype=bool)
        present[c - lo] = True
        drop[lo + np.flatnonzero(~present)] = True
    n_dropped_gap = int(drop.sum())

    # Scored assignment: boundaries b halfway between consecutive regions' centres, compared as
    # 4 b = START_a + END_a + START_b + END_b to stay in integers (p goes right iff 4 p >= 4 b).
    bounds4 = np.array(
        [a.start + a.end + b.start + b.end for a, b in zip(regions[:-1], regions[1:], strict=True)],
        dtype=np.int64,
    )
    owner = np.searchsorted(bounds4, 4 * cand["BP"].to_numpy(dtype=np.int64), side="right")
    in_owner = np.zeros(n_cand, dtype=bool)
    in_owner[cand_ids[region_ids == owner[cand_ids]]] = True
    unscored = ~in_owner & ~drop
    drop |= unscored

    store_index = np.cumsum(~drop) - 1  # candidate -> local store index (valid where kept)
    variants = cand[~drop].reset_index(drop=True)
    owner = owner[~drop]
    bp = variants["BP"].to_numpy()
    windows, plan_regions, plan_rows = [], [], []
    for r_i, region in enumerate(regions):
        scored = np.flatnonzero(owner == r_i)
        if scored.size == 0:
            continue
        idx = by_region[r_i]
        keep = ~drop[cand_ids[idx]]
        s_idx = store_index[cand_ids[idx][keep]]
        rows = file_row[idx][keep]
        o = np.argsort(s_idx, kind="stable")
        s_idx, rows = s_idx[o], rows[o]
        cf, cs = int(s_idx[0]), int(s_idx[-1]) + 1
        sf, ss = int(scored[0]), int(scored[-1]) + 1
        # These hold by construction; a failure here is a bug, not bad input.
        assert cs - cf == s_idx.size and cf <= sf and ss <= cs and ss - sf == scored.size
        if r_i == 0:
            start = min(region.start, int(bp[sf]))
        else:
            start = -(-int(bounds4[r_i - 1]) // 4)  # ceil(b): the first position scored here
        if r_i == len(regions) - 1:
            stop = max(region.end, int(bp[ss - 1]) + 1)
        else:
            stop = -(-int(bounds4[r_i]) // 4)
        windows.append(
            {
                "window": len(windows),
                "CHR": region.chrom,
                "start": start,
                "stop": stop,
                "scored_first": sf,
                "scored_stop": ss,
                "context_first": cf,
                "context_stop": cs,
                "n_scored": ss - sf,
                "n_context": cs - cf,
            }
        )
        plan_regions.append(region)
        plan_rows.append(rows)
    counts = {
        "n_regions": len(regions),
        "n_windows": len(windows),
        "n_duplicate_rows": n_dup,
        "n_variants_input": int(n_cand),
        "n_dropped_gap": n_dropped_gap,
        "n_dropped_unscored": int(unscored.sum()),
        "n_variants_kept": int(len(variants)),
    }
    variants = variants[["CHR", "SNP", "BP", "A1", "A2"]].assign(AF1=np.nan, CM=np.nan)
    return _Plan(
        variants, pd.DataFrame(windows, columns=WINDOW_COLUMNS), plan_regions, plan_rows, counts
    )


def _plan(regions: list[_Region]) -> _Plan:
    """Union the variant lists, drop what cannot form contiguous contexts, assign scored sets.

    Chromosomes are planned one at a time (regions never span two), which bounds memory by the
    largest chromosome's variant lists.
    """
    parts = []
    for c in sorted({r.chrom for r in regions}):
        parts.append(_plan_chromosome([r for r in regions if r.chrom == c]))
    offset, windows = 0, []
    for part in parts:
        w = part.windows.copy()
        for col in ("scored_first", "scored_stop", "context_first", "context_stop"):
            w[col] += offset
        windows.append(w)
        offset += len(part.variants)
    plan = _Plan(
        variants=pd.concat([p.variants for p in parts], ignore_index=True),
        windows=pd.concat(windows, ignore_index=True),
        regions=[r for p in parts for r in p.regions],
        rows=[rows for p in parts for rows in p.rows],
        counts={k: sum(p.counts[k] for p in parts) for k in parts[0].counts},
    )
    plan.windows["window"] = np.arange(len(plan.windows))
    if plan.variants.empty:
        raise InputError(
            "no variant is left after aligning the regions' variant lists",
            file=regions[0].npz.parent,
            fix="check that the .gz files belong to their .npz files",
        )
    return plan


def import_ukbb_ld(
    ld_dir: str | Path,
    out: str | Path,
    *,
    chroms: list[int] | None = None,
    shrinkage: float = 0.0,
    eig_rtol: float = 1e-6,
    var_explained: float | None = None,
    provenance: dict | None = None,
    progress: bool = True,
) -> LDStore:
    """Convert a folder of UK Biobank LD matrices into a deepwas LD store.

    Parameters
    ----------
    ld_dir:
        Folder with the ``chrN_START_END.npz`` / ``chrN_START_END.gz`` pairs.
    out:
        The store folder to write (atomically: nothing is left behind on error).
    chroms:
        Import only these chromosomes (PLINK codes); all regions found by default.
    shrinkage:
        s in [0, 1): the stored LD is ``(1 - s) R + s I``.
    eig_rtol, var_explained:
        Eigen truncation of each window (:func:`deepwas.linalg.eigen.eigen_precompute`).
    provenance:
        Recorded in the manifest; by default the package version, command line and the folder
        path (its files are not hashed: the full UK Biobank LD is hundreds of GB).
    progress:
        Show a progress bar (on a terminal).

    Returns
    -------
    LDStore
        One window per region that scores at least one variant (module docstring); its
        ``manifest["source"]`` holds the counts of regions, variants and dropped variants.

    Raises
    ------
    InputError
        The folder is missing or holds no ``chrN_START_END.npz``; a ``.gz`` is missing,
        unreadable, lacks a column or has a chromosome other than its region's; a matrix is not
        square or its row count differs from its variant list (naming the ``.npz``); or
        ``shrinkage``, ``eig_rtol`` or ``var_explained`` is outside its range
        (:data:`deepwas._validation.STORE_BUILD_CONSTRAINTS`, as ``deepwas ld`` checks them).
    NumericalError
        A matrix with a non-finite entry or an unexpected diagonal (naming the ``.npz``), or one
        that is not positive semi-definite (from :func:`deepwas.ld.store.write_store`).

    Notes
    -----
    Memory: one region at a time, as its sparse matrix and then its dense float32 LD (1.6 GB
    for 20,000 variants); :func:`~deepwas.ld.store.write_store` validates it in float64 and
    eigendecomposes the scored block in float64.
    """
    from deepwas.ld.store import write_store
    from deepwas.provenance import provenance as _provenance

    params = {"shrinkage": shrinkage, "eig_rtol": eig_rtol, "var_explained": var_explained}
    validate(params, STORE_BUILD_CONSTRAINTS, where="import_ukbb_ld")
    ld_dir = Path(ld_dir)
    regions = _find_regions(ld_dir, chroms)
    plan = _plan(regions)
    source = {
        "kind": "ukbb-npz",
        "path": str(ld_dir.resolve()),
        "n_ref": None,  # not in the files; Weissbrod et al. used 337k British-ancestry samples
        "panel": "UK Biobank (Weissbrod et al. 2020, PolyFun)",
        "allele_convention": "A1 = allele1, A2 = allele2 of the .gz variant lists",
        "chroms": sorted({r.chrom for r in regions}),
        **plan.counts,
    }
    window_params = {
        "blocks": None,
        "window_kb": 1000,
        "flank_kb": 1000,
        "scheme": "ukbb-regions: each 3 Mb region scores its middle 1 Mb (ends of a chromosome "
        "included); its context is the whole region",
    }
    ld_params = {"shrinkage": shrinkage, "min_maf": None}
    if provenance is None:
        provenance = _provenance(inputs={"ukbb_ld": ld_dir}, hash_inputs=False)

    def matrices() -> Iterator[np.ndarray]:
        for region, rows in zip(plan.regions, plan.rows, strict=True):
            yield _load_R(region, rows, shrinkage=shrinkage)

    return write_store(
        out,
        plan.variants,
        plan.windows,
        matrices(),
        source=source,
        window_params=window_params,
        ld_params=ld_params,
        eig_rtol=eig_rtol,
        var_explained=var_explained,
        provenance=provenance,
        progress=progress,
    )
