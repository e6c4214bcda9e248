"""What one trait needs from an LD store: its windows, projected once (DESIGN 2.1).

An LD store is built once per reference panel; a trait's z-scores and the set of store variants it
measured change per trait. :func:`prepare_trait` combines the two, once per (store, sumstats) pair:

* the context of a window is every store variant of the window's context, measured or not (an
  unmeasured variant still carries heritability that reaches the measured ones through LD; its prior
  variance comes from its annotations like any other's);
* the scored set is the window's scored variants that the trait measured; when that is all of
  them the store's eigen precomputation is used as is, otherwise it is redone for the measured
  subset;
* y = diag(lam)^(-1/2) U^T z_W, and the constant 1/2 (r log 2 pi + sum log lam).

Windows in which the trait measured no scored variant are skipped and counted.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.linalg.eigen import EigenWindow, eigen_precompute, n_leading, project_z
from deepwas.linalg.spill import DEFAULT_SPILL_BYTES, Spill
from deepwas.parallel import map_windows

__all__ = [
    "TraitWindow",
    "TraitData",
    "prepare_trait",
    "load_trait",
    "LD_MODELS",
    "resolve_ld_model",
    "constant_prior_model",
]

#: The models of the projected z-scores (docs/mismatch.md), by name
LD_MODELS = {
    "full": "full model, Sigma = sigma I + G^T diag(F) G in the panel's eigenbasis (DESIGN 2.1)",
    "diagonal": "diagonal model in the panel's eigenbasis with cross-validated noise and signal "
    "scales (small reference panel, docs/mismatch.md)",
    "calibrated": "full model on the panel's leading eigen-directions (90% of the LD variance) "
    "for the prior's shape, its scale and sigma by the diagonal model on every direction "
    "(small reference panel, docs/mismatch.md)",
}
#: the fraction of each window's LD variance the calibrated model's full part keeps, unless the
#: user gives --var-explained (docs/decisions.md, "Small reference panels")
CALIBRATED_VAR_EXPLAINED = 0.9
#: ld_model values a user can give
LD_MODEL_CHOICES = ("auto", *LD_MODELS)


def resolve_ld_model(store, ld_model: str = "auto") -> str:
    """The model of the projected z-scores for ``store``: "auto" is "calibrated" when the store
    holds the panel's cross-validated direction scales (stores built from genotypes), else "full"
    (stores without them: imported UK Biobank LD, stores of format version 1)."""
    if ld_model not in LD_MODEL_CHOICES:
        raise InputError(
            f"unknown LD model {ld_model!r}",
            column="--ld-model",
            fix=f"use one of {', '.join(LD_MODEL_CHOICES)}",
        )
    has = bool(store.has_scales)
    if ld_model == "auto":
        return "calibrated" if has else "full"
    if ld_model in ("diagonal", "calibrated") and not has:
        raise InputError(
            "this LD store has no cross-validated direction scales, which the diagonal model needs",
            file=store.path,
            fix="rebuild it from the panel's genotypes with this version of deepwas ld, or use "
            "--ld-model full",
        )
    return ld_model


_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class TraitWindow:
    """One window of one trait, ready for the likelihood kernels.

    Attributes
    ----------
    index: int
        Window number in the LD store.
    chrom, start, stop: int
        Chromosome and bp range of the window's block.
    context: (n_context,) int64
        Store indices of the context variants.
    scored: (n_scored,) int64
        Store indices of the measured scored variants.
    scored_in_context: (n_scored,) int64
        Their positions within ``context``.
    G: (n_context, rank) float64
    y: (rank,) float64
        Projected z-scores (divided by sqrt(rho) in the diagonal model).
    const: float
        1/2 (rank log 2 pi + sum log lam) (+ 1/2 sum log rho in the diagonal model).
    scale: (rank,) float64 or None
        None: the full model (DESIGN 2.1). Else the diagonal model of a small reference panel
        (docs/mismatch.md) with per-direction scale sqrt(t / rho) of G's columns.
    """

    index: int
    chrom: int
    start: int
    stop: int
    context: np.ndarray
    scored: np.ndarray
    scored_in_context: np.ndarray
    G: np.ndarray
    y: np.ndarray
    const: float
    scale: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_context(self) -> int:
        return int(self.context.shape[0])

    @property
    def n_scored(self) -> int:
        return int(self.scored.shape[0])


@dataclass
class TraitData:
    """A trait's windows and z-scores on an LD store.

    Attributes
    ----------
    windows: list[TraitWindow]
    z: (n_store_variants,) float64
        z-scores oriented to the store's A1; NaN where the trait did not measure the variant.
    n_gwas: float
        The GWAS sample size N used for F = N s (median of the per-variant N).
    n_variants: int
        Number of store variants (the M of h2 = sum of s over M variants).
    report: list[str]
        Human-readable lines on what was used and skipped.
    ld_model: str
        "full", "diagonal" or "calibrated" (:data:`LD_MODELS`).
    calibration: TraitData or None
        With "calibrated": the same trait in the diagonal model on every direction (made in the
        same projection pass), for :func:`deepwas.calibrate_prior`.
    """

    windows: list[TraitWindow]
    z: np.ndarray
    n_gwas: float
    n_variants: int
    report: list[str] = field(default_factory=list)
    ld_model: str = "full"
    calibration: TraitData | None = None

    @property
    def n_scored(self) -> int:
        return int(sum(w.n_scored for w in self.windows))


def constant_prior_model(store, ld_model: str = "auto") -> str:
    """The model in which the best constant prior's h2 is reported (``deepwas loglik``): the
    diagonal model where :func:`resolve_ld_model` gives "calibrated" (it is the model that
    calibrates a prior's scale), else the resolved model."""
    model = resolve_ld_model(store, ld_model)
    return "diagonal" if model == "calibrated" else model


def prepare_trait(
    store,
    harmonized: pd.DataFrame,
    *,
    n_gwas: float | None = None,
    eig_rtol: float | None = None,
    var_explained: float | None = None,
    ld_model: str = "auto",
    progress: bool = True,
    threads: int | None = None,
    spill_bytes: int | None = DEFAULT_SPILL_BYTES,
) -> TraitData:
    """Project a harmonised trait onto an LD store's windows.

    Parameters
    ----------
    store: deepwas.ld.store.LDStore
    harmonized: DataFrame
        From :func:`deepwas.harmonize.harmonize` against ``store.variants``: columns ``ref_index``
        (store index), ``Z`` (oriented to the store's A1) and ``N``.
    n_gwas:
        Override the GWAS sample size (default: the median of ``N``).
    eig_rtol:
        Relative eigenvalue cutoff (default: the store's). Giving it recomputes every window.
    var_explained:
        Keep, per window, the leading eigen-directions of R_WW that explain this fraction of its
        variance (default: the store's setting). With the store's spectra this is a truncation of
        the stored arrays, no recomputation. With a reference panel of a few hundred samples the
        low-variance directions mostly carry reference-panel noise and LD mismatch with the GWAS
        sample, which the exact likelihood then amplifies by 1/sqrt(lam); see docs/decisions.md.
    ld_model:
        The model of the projected z-scores (:data:`LD_MODELS`): "full" (DESIGN 2.1), "diagonal"
        or "calibrated" (small reference panels, docs/mismatch.md: need the store's direction
        scales) or "auto" (calibrated when the store has them, else full). A "calibrated" trait
        is projected as "full" on the leading directions (``var_explained`` default 0.9) and
        carries its diagonal view on every direction in ``calibration``.
    threads:
        Windows projected at once (default: torch's thread count, as set by ``--threads``). The
        eigendecompositions of partly measured scored sets run in NumPy, which releases the GIL,
        so two threads halve this stage on two cores.
    spill_bytes:
        The projected LD of re-projected windows is kept in memory up to this many bytes in
        total and written to temporary files beyond (:mod:`deepwas.linalg.spill`; read back on
        use, values unchanged); None keeps all of it in memory. Windows whose scored set is
        fully measured stay memory-mapped views of the store either way.

    Returns
    -------
    TraitData
    """
    M = store.n_variants
    if len(harmonized) == 0:
        raise InputError("no variant of the summary statistics is in the LD store")
    ref = harmonized["ref_index"].to_numpy(np.int64)
    if ref.min() < 0 or ref.max() >= M:
        raise InputError(
            "harmonised summary statistics index variants outside the LD store",
            fix="harmonise against this store's variants (deepwas does so in fit)",
        )
    z = np.full(M, np.nan)
    z[ref] = harmonized["Z"].to_numpy(np.float64)
    if n_gwas is None:
        n_gwas = float(np.median(harmonized["N"].to_numpy(np.float64)))
    if var_explained is not None and not 0.0 < var_explained <= 1.0:
        raise InputError(
            f"var_explained must be in (0, 1], got {var_explained}", column="--var-explained"
        )
    model = resolve_ld_model(store, ld_model)
    eigen_cfg = store.manifest.get("eigen", {})
    rtol = eig_rtol if eig_rtol is not None else eigen_cfg.get("eig_rtol", 1e-8)
    vexp = var_explained if var_explained is not None else eigen_cfg.get("var_explained")
    if model == "calibrated" and vexp is None:
        vexp = var_explained = CALIBRATED_VAR_EXPLAINED

    def one(w):
        """(window, its calibration view or None, recomputed?) of one store window, or None."""
        sc_all = np.arange(w.scored.start, w.scored.stop, dtype=np.int64)
        measured = np.isfinite(z[sc_all])
        if not measured.any():
            return None
        sc = sc_all[measured]
        sic = sc - w.context.start
        recomputed = not (measured.all() and eig_rtol is None)
        if not recomputed:
            # views of the memory-mapped store files: nothing is read until packed
            full = EigenWindow(
                lam=np.asarray(w.eigvals, np.float64),
                U=np.asarray(w.eigvecs),
                G=np.asarray(w.G),
            )
            truncate = var_explained
        else:
            full = eigen_precompute(
                np.asarray(w.R, np.float64),
                sic,
                eig_rtol=rtol,
                window=f"window {w.index} (chr{w.chrom}:{w.start}-{w.stop})",
            )
            truncate = vexp
        k = n_leading(full.lam, truncate) if truncate is not None else full.rank
        eig = EigenWindow(lam=full.lam[:k], U=full.U[:, :k], G=full.G[:, :k])
        # what the windows keep: the store's views, or a re-projected G in memory or on disk
        G_all = spill.keep(full.G, f"w{w.index}") if recomputed else full.G
        G_lead = G_all[:, :k]
        window = dict(
            index=w.index,
            chrom=w.chrom,
            start=w.start,
            stop=w.stop,
            context=np.arange(w.context.start, w.context.stop, dtype=np.int64),
            scored=sc,
            scored_in_context=sic,
        )
        if model == "diagonal":
            tw = _diagonal_window(window, eig, full.rank, w.scales, z[sc], G_lead)
        else:
            y = project_z(eig, z[sc])
            const = 0.5 * (eig.rank * _LOG_2PI + eig.logdet_lam)
            tw = TraitWindow(**window, G=G_lead, y=y, const=const)
        # the calibrated model's diagonal view on every direction, from the same pass
        cal = (
            _diagonal_window(window, full, full.rank, w.scales, z[sc], G_all)
            if model == "calibrated"
            else None
        )
        return tw, cal, recomputed

    spill = Spill(spill_bytes)
    windows: list[TraitWindow] = []
    calibration: list[TraitWindow] = []
    n_empty = n_recomputed = 0
    results = map_windows(one, store, threads=threads, desc="projecting windows", progress=progress)
    for res in results:
        if res is None:
            n_empty += 1
            continue
        tw, cal, recomputed = res
        windows.append(tw)
        if cal is not None:
            calibration.append(cal)
        n_recomputed += recomputed
    if not windows:
        raise InputError(
            "the summary statistics measure no scored variant of any LD-store window",
            fix="check that the sumstats and the LD store are on the same chromosomes and build",
        )
    n_used = sum(tw.n_scored for tw in windows)
    report = [
        f"windows: {len(windows)} used, {n_empty} without measured scored variants skipped, "
        f"{n_recomputed} re-projected for partly measured scored sets",
        f"scored variants with z-scores: {n_used:,} of {M:,} store variants; N = {n_gwas:,.0f}",
        f"likelihood: {LD_MODELS[model]}",
    ]
    if spill.n_spilled:
        report.append(
            f"projected LD: {spill.kept_bytes / 2**30:.1f} GiB in memory, "
            f"{spill.spilled_bytes / 2**30:.1f} GiB of {spill.n_spilled} windows in temporary "
            f"files under {tempfile.gettempdir()} (read back on use; set TMPDIR to move them)"
        )
    return TraitData(
        windows=windows,
        z=z,
        n_gwas=float(n_gwas),
        n_variants=M,
        report=report,
        ld_model=model,
        calibration=None
        if model != "calibrated"
        else TraitData(
            windows=calibration, z=z, n_gwas=float(n_gwas), n_variants=M, ld_model="diagonal"
        ),
    )


def _diagonal_window(
    window: dict, eig: EigenWindow, r_full: int, scales, z_scored, G=None
) -> TraitWindow:
    """A window of the diagonal model (docs/mismatch.md): the panel's cross-validated scales of
    the directions of ``eig`` (the first of ``r_full``): noise sigma rho_k, signal
    t_k sum_c F_c g_ck^2, whitened by rho. ``G``: what the window keeps of ``eig.G`` (default
    ``eig.G`` itself; a :class:`deepwas.linalg.spill.SpilledArray` of it)."""
    rho, t = scales.at(r_full, eig.rank)
    y = project_z(eig, z_scored) / np.sqrt(rho)
    const = 0.5 * (eig.rank * _LOG_2PI + eig.logdet_lam + float(np.log(rho).sum()))
    G = eig.G if G is None else G
    return TraitWindow(**window, G=G, y=y, const=const, scale=np.sqrt(t / rho))


def load_trait(
    sumstats_path,
    store,
    *,
    n_gwas: float | None = None,
    keep_ambiguous: bool = False,
    min_info: float | None = 0.9,
    min_maf: float | None = 0.01,
    match_by: str = "auto",
    var_explained: float | None = None,
    ld_model: str = "auto",
    progress: bool = True,
) -> TraitData:
    """Read, QC and harmonise a summary-statistics file against ``store`` and project it.

    ``n_gwas`` is the GWAS sample size for files without an N column; ``var_explained`` and
    ``ld_model`` ("auto", "full" or "diagonal", :func:`resolve_ld_model`) are those of
    :func:`prepare_trait`. The QC and harmonisation reports are prepended to the returned
    ``report`` lines.
    """
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats

    df, qc = read_sumstats(
        sumstats_path,
        n_gwas=n_gwas,
        keep_ambiguous=keep_ambiguous,
        min_info=min_info,
        min_maf=min_maf,
    )
    matched, hrep = harmonize(df, store.variants, match_by=match_by, file=str(sumstats_path))
    trait = prepare_trait(
        store, matched, var_explained=var_explained, ld_model=ld_model, progress=progress
    )
    trait.report = [*qc.lines(), *hrep.lines(), *trait.report]
    return trait
