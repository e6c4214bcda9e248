"""Building an LD store from a reference panel (genotypes to windows of LD).

This module owns :func:`build_store`: the variant filters (chromosomes, allele frequency,
duplicates), the windows, and the per-window LD computed from standardised genotypes, handed to
:func:`deepwas.ld.store.write_store` (the format). The UK Biobank builder is
:mod:`deepwas.ld.ukbb`.

Memory: :func:`build_store` holds one chromosome's standardised genotypes
(n_samples x n_variants_on_chrom float64) and one window's matrices at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from deepwas._validation import STORE_BUILD_CONSTRAINTS, validate
from deepwas.errors import InputError
from deepwas.io.genotypes import GenotypePanel, standardize
from deepwas.ld.compute import window_ld
from deepwas.ld.mismatch import (
    DEFAULT_FOLDS,
    MIN_FOLD_SAMPLES,
    DirectionScales,
    cv_direction_scales,
    store_scale_options,
)
from deepwas.ld.store import LDStore, write_store
from deepwas.ld.windows import make_windows

__all__ = ["build_store"]


def _dedupe(variants: pd.DataFrame) -> tuple[np.ndarray, int, int]:
    """Keep the first of duplicate IDs and of duplicate (CHR, BP, allele pair) variants."""
    dup_id = variants["SNP"].duplicated(keep="first").to_numpy()
    a1 = variants["A1"].astype(str).to_numpy()
    a2 = variants["A2"].astype(str).to_numpy()
    lo = np.where(a1 <= a2, a1, a2)
    hi = np.where(a1 <= a2, a2, a1)
    key = pd.DataFrame(
        {"CHR": variants["CHR"].to_numpy(), "BP": variants["BP"].to_numpy(), "lo": lo, "hi": hi}
    )
    dup_pos = key.duplicated(keep="first").to_numpy() & ~dup_id
    keep = ~(dup_id | dup_pos)
    return keep, int(dup_id.sum()), int(dup_pos.sum())


@dataclass(frozen=True)
class _PanelStats:
    """What one pass over the panel's genotypes tells the builder.

    Attributes
    ----------
    af1: (n_selected,) float64
        Frequency of A1 among observed calls (NaN when no call is observed).
    zero_variance: (n_selected,) bool
        Every observed call is the same (monomorphic, or heterozygous in every sample), or no
        call is observed: such a variant cannot be standardised and carries no LD.
    n_duplicate_samples: int
        Samples whose calls (missing ones included) equal an earlier sample's over the selected
        variants, among samples with at least one call.
    n_samples_no_calls: int
        Samples with no observed call among the selected variants.
    """

    af1: np.ndarray
    zero_variance: np.ndarray
    n_duplicate_samples: int
    n_samples_no_calls: int


def _panel_stats(
    panel: GenotypePanel, index: np.ndarray, *, chunk: int = 4096, progress: bool = True
) -> _PanelStats:
    """Per-variant frequency and variance, per-sample call counts and row hashes, in one pass
    over the variants at ``index`` (chunks of ``chunk`` variants)."""
    m, n = index.size, panel.n_samples
    af = np.empty(m, dtype=np.float64)
    zero = np.empty(m, dtype=bool)
    calls = np.zeros(n, dtype=np.int64)
    # A random linear hash mod 2^64 of each sample's codes (0, 1, 2, 3 = missing): equal rows
    # give equal hashes exactly (integer arithmetic), distinct rows collide with probability
    # about 2^-62. Fixed seed: the count is reproducible.
    row_hash = np.zeros(n, dtype=np.uint64)
    rng = np.random.default_rng(20260)
    starts = range(0, m, chunk)
    for s in tqdm(starts, desc="variant QC", unit="chunk", disable=None if progress else True):
        D = panel.dosages(index[s : s + chunk], dtype=np.float32)  # (n, k)
        observed = ~np.isnan(D)
        n_obs = observed.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            af[s : s + chunk] = np.nansum(D, axis=0, dtype=np.float64) / (2.0 * n_obs)
        lo = np.where(observed, D, np.inf).min(axis=0, initial=np.inf)
        hi = np.where(observed, D, -np.inf).max(axis=0, initial=-np.inf)
        zero[s : s + chunk] = ~(hi > lo)
        calls += observed.sum(axis=1)
        codes = np.where(observed, D, 3.0).astype(np.uint64)
        w = rng.integers(0, 2**64, size=D.shape[1], dtype=np.uint64, endpoint=False)
        row_hash += codes @ w
    has_calls = calls > 0
    dup = pd.Series(row_hash[has_calls]).duplicated(keep="first").to_numpy()
    return _PanelStats(
        af1=af,
        zero_variance=zero,
        n_duplicate_samples=int(dup.sum()),
        n_samples_no_calls=int((~has_calls).sum()),
    )


def _warn_samples(panel: GenotypePanel, stats: _PanelStats) -> None:
    """One warning for duplicated samples and samples without calls (kept: see decisions.md)."""
    parts = []
    if stats.n_duplicate_samples:
        parts.append(
            f"{stats.n_duplicate_samples} sample(s) have the same genotypes as an earlier sample"
        )
    if stats.n_samples_no_calls:
        parts.append(f"{stats.n_samples_no_calls} sample(s) have no observed call")
    if parts:
        warnings.warn(
            f"{panel.source}: {'; '.join(parts)}; they are kept as given (a duplicated sample "
            "counts twice in the LD, a sample without calls adds nothing): remove them "
            "(e.g. plink --remove) for LD from distinct individuals",
            UserWarning,
            stacklevel=3,
        )


def build_store(
    panel: GenotypePanel,
    out: str | Path,
    *,
    blocks: pd.DataFrame | None = None,
    window_kb: float | None = None,
    flank_kb: float = 1000.0,
    min_maf: float = 0.01,
    shrinkage: float = 0.0,
    eig_rtol: float = 1e-6,
    var_explained: float | None = None,
    chroms: list[int] | None = None,
    provenance: dict | None = None,
    progress: bool = True,
) -> LDStore:
    """Build an LD store from a reference panel.

    Parameters
    ----------
    panel:
        The reference genotypes (:func:`deepwas.io.genotypes.read_genotypes`).
    out:
        The store folder to write.
    blocks, window_kb, flank_kb:
        How to cut windows (:func:`deepwas.ld.windows.make_windows`); exactly one of ``blocks``
        and ``window_kb``.
    min_maf:
        Keep variants with minor allele frequency >= ``min_maf`` (and always > 0).
    shrinkage:
        LD shrinkage towards the identity (:func:`deepwas.ld.compute.window_ld`).
    eig_rtol, var_explained:
        Eigen truncation (:func:`deepwas.linalg.eigen.eigen_precompute`).
    chroms:
        Restrict to these chromosomes (PLINK codes); all by default.
    provenance:
        Recorded in the manifest; by default the package version, command line and the hashes of
        the panel's files (and of the block file, when ``blocks`` came from :func:`read_blocks`).
    progress:
        Show progress bars (on a terminal).

    Returns
    -------
    LDStore

    Raises
    ------
    InputError
        If no variant passes the filters, or the windows cannot be made.
    NumericalError
        From :func:`write_store`.

    Notes
    -----
    Steps: drop variants outside ``chroms``; in one pass over the genotypes (chunks of variants)
    compute allele frequencies and drop the zero-variance variants (every observed call equal,
    which includes a heterozygote in every sample with MAF 0.5, or no call observed), then
    those with MAF < ``min_maf``; drop duplicate IDs and then duplicate (CHR, BP, {A1, A2})
    variants, keeping the first; sort by CHR, BP; make windows; then per chromosome load the
    kept dosages (float64), standardise them (mean imputation of missing calls) and yield each
    window's :func:`window_ld`. The counts of each step are recorded in ``manifest["source"]``.
    ``variants.AF1`` is the panel frequency of A1.

    Samples are kept as given. The same pass counts samples whose genotypes equal an earlier
    sample's and samples without an observed call (``n_duplicate_samples``,
    ``n_samples_no_calls``) and warns when there are any (docs/decisions.md).

    Warns
    -----
    UserWarning
        Once, when the panel has duplicated samples or samples without calls.
    """
    from deepwas.provenance import provenance as _provenance

    params = {"window_kb": window_kb, "flank_kb": flank_kb, "min_maf": min_maf}
    params |= {"shrinkage": shrinkage, "eig_rtol": eig_rtol, "var_explained": var_explained}
    validate(params, STORE_BUILD_CONSTRAINTS, where="build_store")
    if panel.n_samples < 2:
        raise InputError(
            f"the panel has {panel.n_samples} samples; LD needs at least 2", file=panel.source
        )
    table = panel.variants.reset_index(drop=True)
    n_input = len(table)
    idx = np.arange(n_input)
    if chroms is not None:
        wanted = np.isin(table["CHR"].to_numpy(), np.asarray(list(chroms), dtype=np.int64))
        idx = idx[wanted]
    n_chrom = int(idx.size)
    stats = _panel_stats(panel, idx, progress=progress)
    if idx.size:  # with no variant selected the "no variant passes" error below says why
        _warn_samples(panel, stats)
    zero = stats.zero_variance
    af = stats.af1
    maf = np.minimum(af, 1.0 - af)
    pass_maf = ~zero & (maf >= min_maf) & (maf > 0)
    n_dropped_zero_variance = int(zero.sum())
    n_dropped_maf = int((~zero & ~pass_maf).sum())
    idx, af = idx[pass_maf], af[pass_maf]
    sub = table.iloc[idx].reset_index(drop=True)
    keep, n_dup_id, n_dup_pos = _dedupe(sub)
    idx, af, sub = idx[keep], af[keep], sub[keep].reset_index(drop=True)
    if idx.size == 0:
        raise InputError(
            f"no variant of the panel passes the filters (min_maf={min_maf}, chroms={chroms})",
            file=panel.source,
            fix="lower --min-maf or check --chrom",
        )
    order = np.lexsort((sub["BP"].to_numpy(), sub["CHR"].to_numpy()))
    idx, af, sub = idx[order], af[order], sub.iloc[order].reset_index(drop=True)
    sub["AF1"] = af
    windows = make_windows(sub, blocks=blocks, window_kb=window_kb, flank_kb=flank_kb)

    source = {
        "kind": panel.kind,
        "path": panel.source,
        "n_ref": panel.n_samples,
        "n_variants_input": n_input,
        "n_variants_other_chroms": n_input - n_chrom,
        "n_dropped_zero_variance": n_dropped_zero_variance,
        "n_dropped_maf": n_dropped_maf,
        "n_dropped_duplicate_id": n_dup_id,
        "n_dropped_duplicate_position": n_dup_pos,
        "n_variants_kept": int(idx.size),
        "chroms": sorted(int(c) for c in np.unique(sub["CHR"])),
        "n_duplicate_samples": stats.n_duplicate_samples,
        "n_samples_no_calls": stats.n_samples_no_calls,
    }
    beds = [str(f.with_suffix("")) for role, f in panel.files.items() if role.endswith("bed")]
    if len(beds) > 1:  # one fileset per chromosome (prefix.@)
        source["files"] = beds
    blocks_path = None if blocks is None else blocks.attrs.get("path", "<in memory>")
    window_params = {
        "blocks": blocks_path,
        "window_kb": window_kb,
        "flank_kb": flank_kb,
    }
    ld_params = {"shrinkage": shrinkage, "min_maf": min_maf}
    if provenance is None:
        inputs: dict[str, str | Path] = dict(panel.files)
        if blocks_path is not None and blocks_path != "<in memory>":
            inputs["blocks"] = blocks_path
        provenance = _provenance(inputs=inputs)

    store_chrom = sub["CHR"].to_numpy()
    win_chrom = windows["CHR"].to_numpy()

    # folds of at least MIN_FOLD_SAMPLES samples for the cross-validated direction scales
    with_scales = panel.n_samples >= DEFAULT_FOLDS * MIN_FOLD_SAMPLES
    scale_options = store_scale_options(panel.n_samples)

    def matrices() -> Iterator[tuple[np.ndarray, DirectionScales | None]]:
        for c in np.unique(win_chrom):
            on_c = np.flatnonzero(store_chrom == c)
            lo = int(on_c[0])
            X, _ = standardize(panel.dosages(idx[on_c], dtype=np.float64))
            for w in windows.itertuples(index=False):
                if w.CHR != c:
                    continue
                Xc = X[:, w.context_first - lo : w.context_stop - lo]
                c0 = w.context_first
                scored = np.arange(w.scored_first - c0, w.scored_stop - c0)
                # the panel's cross-validated direction scales (small-panel model of the
                # likelihood, docs/mismatch.md); seeded by the window so builds are reproducible
                scales = (
                    cv_direction_scales(
                        Xc, scored, eig_rtol=eig_rtol, seed=int(w.window), **scale_options
                    )
                    if with_scales
                    else None
                )
                yield window_ld(Xc, shrinkage=shrinkage), scales
            del X

    return write_store(
        out,
        sub,
        windows,
        matrices(),
        source=source,
        window_params=window_params,
        ld_params=ld_params,
        eig_rtol=eig_rtol,
        var_explained=var_explained,
        provenance=provenance,
        progress=progress,
    )
