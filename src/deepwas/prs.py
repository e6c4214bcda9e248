"""Polygenic-score weights: posterior mean effects under a prior, exact per LD window.

Within a window with context C and scored set W, deepwas models the projected z-scores
(DESIGN 2.1, :mod:`deepwas.linalg.likelihood`) as

    y = diag(lam)^-1/2 U^T z_W = sqrt(N) G^T beta_C + e,   e ~ N(0, sigma I_r),
    beta_C ~ N(0, diag(s_C))

(G = R_CW U diag(lam)^-1/2), so E[beta_C | y] is linear in y:

    E[beta_C | y] = sqrt(N) diag(s_C) G Sigma^-1 y,    Sigma = sigma I_r + G^T diag(N s_C) G

(docs/decisions.md derives it and shows it equals the dense conditioning formula
S X^T (X S X^T + sigma R_WW)^-1 z_W with X = sqrt(N) R_WC). The cost is the likelihood's: one
r x r Cholesky factor and one solve per window, on the store's eigen precomputation. Under the
diagonal model of a small reference panel (docs/mismatch.md: y'_k independent with variance
sigma + sum_c F_c g'_ck^2, G' = G diag(sqrt(t / rho))) Sigma is diagonal and the posterior mean
has a closed form per direction: sqrt(N) s_c sum_k g'_ck y'_k / (sigma + v_k). The "scaled"
model (the default with a small panel, the most accurate in benchmarks/prs.py) is the full
formula on the diagonal model's y' and G'.

Each store variant takes its weight from the window in which it is scored; the weights of the
window's scored variants that the GWAS did not measure are their posterior means too (the best
predictor of their effect given the measured ones' z-scores), unless ``measured_only``.
Standardised effects are turned into effects per copy of A1 with the allele frequency
(beta / sqrt(2 p (1 - p))).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from deepwas.errors import InputError, NumericalError
from deepwas.io.priors import read_prior_snpvar

__all__ = [
    "PRS_LD_MODELS",
    "PrsResult",
    "posterior_mean_window",
    "prs_weights",
    "write_weights",
    "resolve_prs_ld_model",
    "PRS_LD_MODEL_CHOICES",
    "run_prs",
]

#: the models of the projected z-scores under which prs computes posterior means
PRS_LD_MODELS = {
    "full": "full model on every eigen-direction of the panel's LD (DESIGN 2.1)",
    "scaled": "full model on every eigen-direction with the panel's cross-validated noise and "
    "signal scales per direction (small reference panel; docs/decisions.md)",
    "calibrated": "full model on each window's leading eigen-directions (90% of its LD variance, "
    "or --var-explained)",
    "diagonal": "diagonal model with the panel's cross-validated direction scales "
    "(docs/mismatch.md): a closed form per eigen-direction",
}
#: ld_model values a user can give to prs
PRS_LD_MODEL_CHOICES = ("auto", *PRS_LD_MODELS)
#: the columns of a weights file (effect per copy of A1, phenotype standard deviations)
WEIGHT_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2", "BETA"]


def resolve_prs_ld_model(store, ld_model: str = "auto") -> str:
    """The model in which ``deepwas prs`` computes posterior means.

    "auto" is "scaled" when the store has the panel's direction scales (a panel of a few
    hundred to a few thousand samples), else "full": the most accurate in benchmarks/prs.py
    (docs/decisions.md). "scaled", "diagonal" and "calibrated" need the scales as
    :func:`deepwas.ld.trait.resolve_ld_model` says.
    """
    from deepwas.ld.trait import resolve_ld_model

    if ld_model not in PRS_LD_MODEL_CHOICES:
        raise InputError(
            f"unknown LD model {ld_model!r}",
            column="--ld-model",
            fix=f"use one of {', '.join(PRS_LD_MODEL_CHOICES)}",
        )
    if ld_model == "auto":
        return "scaled" if store.has_scales else "full"
    if ld_model == "scaled":
        resolve_ld_model(store, "diagonal")  # the same scales: the same error without them
        return "scaled"
    return resolve_ld_model(store, ld_model)


@dataclass
class PrsResult:
    """Posterior mean effects of a trait's variants.

    Attributes
    ----------
    weights: pandas.DataFrame
        ``CHR SNP BP A1 A2 BETA`` (effect per copy of A1 in phenotype SD) plus ``BETA_STD`` (the
        standardised effect), ``AF1`` (the frequency used) and ``MEASURED`` (whether the GWAS
        measured the variant); one row per weighted store variant, in store order.
    beta_std: (n_store_variants,) float64
        Standardised posterior mean of every store variant (0 where no window gave it one).
    ld_model: str
    sigma: float
    n_gwas: float
    report: list[str]
    """

    weights: pd.DataFrame
    beta_std: np.ndarray
    ld_model: str
    sigma: float
    n_gwas: float
    report: list[str] = field(default_factory=list)


def posterior_mean_window(
    G: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    snpvar: np.ndarray | torch.Tensor,
    n_gwas: float,
    sigma: float,
    *,
    scale: np.ndarray | None = None,
    diagonal: bool | None = None,
) -> np.ndarray:
    """E[beta_C | y] for one window, on the standardised scale.

    Parameters
    ----------
    G: (n_context, rank) float64
        Projected LD R_CW U diag(lam)^-1/2.
    y: (rank,) float64
        Projected z-scores (divided by sqrt(rho) in the diagonal model).
    snpvar: (n_context,) float64
        Prior variance s of each context variant's standardised effect (>= 0).
    n_gwas:
        GWAS sample size N.
    sigma:
        Noise scale (> 0).
    scale: (rank,) float64, optional
        Per-direction scales of G's columns (a small panel's sqrt(t / rho), docs/mismatch.md):
        G' = G diag(scale); None for G' = G.
    diagonal:
        False: the full model, Sigma = sigma I + G'^T diag(N s) G'. True: the diagonal model,
        Sigma = diag(sigma + sum_c N s_c g'_ck^2). Default: diagonal when ``scale`` is given
        (as a :class:`deepwas.ld.trait.TraitWindow` of the diagonal model has it).

    Returns
    -------
    beta: (n_context,) float64
        sqrt(N) s * (G Sigma^-1 y) (with G' for G in the diagonal model).
    """
    # copies: G may be a read-only memory map of the store
    G = torch.tensor(np.asarray(G, dtype=np.float64))
    y = torch.tensor(np.asarray(y, dtype=np.float64))
    s = torch.tensor(np.asarray(snpvar, dtype=np.float64))
    if scale is not None:
        G = G * torch.as_tensor(np.asarray(scale, dtype=np.float64))
    F = n_gwas * s
    if diagonal is None:
        diagonal = scale is not None
    if diagonal:
        v = sigma + (G * G).T @ F  # (r,)
        alpha = y / v
    else:
        H = G * F.sqrt().unsqueeze(-1)  # (C, r)
        S = H.T @ H
        S.diagonal().add_(sigma)
        L, info = torch.linalg.cholesky_ex(S)
        if int(info) != 0:
            raise NumericalError(
                "the posterior covariance of a window is not positive definite",
                fix="check that sigma > 0 and that the prior variances are finite",
            )
        alpha = torch.cholesky_solve(y.unsqueeze(-1), L).squeeze(-1)
    return (math.sqrt(n_gwas) * s * (G @ alpha)).numpy()


def _allele_frequency(store, af_sumstats: np.ndarray | None, freq: str) -> np.ndarray:
    """Frequency of the store's A1 per store variant: the panel's, or the sumstats' where asked
    (``freq="sumstats"``) or where the panel has none; NaN where neither has one."""
    af_panel = store.variants["AF1"].to_numpy(np.float64)
    if af_sumstats is None:
        if freq == "sumstats":
            raise InputError(
                "the summary statistics have no allele-frequency column",
                column="--freq",
                fix="use --freq panel, or give sumstats with FRQ/EAF/AF1",
            )
        return af_panel
    if freq == "sumstats":
        return np.where(np.isfinite(af_sumstats), af_sumstats, af_panel)
    return np.where(np.isfinite(af_panel), af_panel, af_sumstats)


def prs_weights(
    trait,
    store,
    snpvar: np.ndarray,
    *,
    sigma: float,
    af_sumstats: np.ndarray | None = None,
    freq: str = "panel",
    measured_only: bool = False,
    kernel: str | None = None,
    progress: bool = True,
) -> PrsResult:
    """Posterior mean effects of every variant scored in a window of ``trait``.

    Parameters
    ----------
    trait: deepwas.ld.trait.TraitData
        The trait projected on ``store`` (:func:`deepwas.load_trait` or
        :func:`deepwas.ld.trait.prepare_trait`) in the model wanted: its windows' ``scale`` says
        full (None) or diagonal. For ``ld_model="calibrated"`` the full model on the leading
        directions (``trait.windows``) is used.
    store: deepwas.LDStore
    snpvar: (n_store_variants,) float64
        Prior variance of each store variant's standardised effect (per-SNP heritability).
    sigma:
        The noise scale of the model (> 0).
    af_sumstats: (n_store_variants,) float64, optional
        The sumstats' frequency of the store's A1 (NaN where unknown).
    freq:
        "panel" (default; the sumstats' where the panel has none) or "sumstats".
    measured_only:
        Weight only variants with a z-score (default: every scored variant of a used window).
    kernel:
        None: the trait's own model (full, or diagonal where its windows have scales).
        "full" on a trait of the diagonal model: the "scaled" model, the full kernel with the
        windows' direction scales (G' = G diag(scale), no copy of the store's G is kept).
    progress:
        Show a progress bar.

    Returns
    -------
    PrsResult

    Notes
    -----
    beta per copy of A1 = beta_std / sqrt(2 p (1 - p)), p the frequency of A1: genotypes
    standardised with that frequency have x = (g - 2p) / sqrt(2p(1-p)), so x beta_std =
    g beta_per_allele - const. Variants without a frequency, or with p in {0, 1}, get no row.
    """
    s = np.asarray(snpvar, dtype=np.float64)
    M = store.n_variants
    if s.shape != (M,):
        raise InputError(f"snpvar has shape {s.shape}, expected ({M},)", column="snpvar")
    if not np.isfinite(s).all() or (s < 0).any():
        raise InputError("snpvar has negative or non-finite values", column="snpvar")
    if not (np.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma must be > 0, got {sigma}", column="--sigma")
    if freq not in ("panel", "sumstats"):
        raise InputError(f"unknown frequency source {freq!r}", column="--freq")
    if kernel not in (None, "full"):
        raise InputError(f"unknown kernel {kernel!r}", fix="use None or 'full'")
    ld_model = trait.ld_model
    if kernel == "full" and trait.ld_model == "diagonal":
        ld_model = "scaled"
    beta = np.zeros(M)
    weighted = np.zeros(M, dtype=bool)
    N = trait.n_gwas
    for tw in tqdm(trait.windows, desc="posterior means", disable=not progress):
        sw = store.window(tw.index)
        diag = None if kernel is None else False
        b = posterior_mean_window(
            tw.G, tw.y, s[tw.context], N, sigma, scale=tw.scale, diagonal=diag
        )
        own = np.arange(sw.scored.start, sw.scored.stop)
        beta[own] = b[own - sw.context.start]
        weighted[own] = True
    measured = np.isfinite(trait.z)
    if measured_only:
        weighted &= measured
    af = _allele_frequency(store, af_sumstats, freq)
    het = 2.0 * af * (1.0 - af)
    ok = weighted & np.isfinite(het) & (het > 0)
    n_nofreq = int((weighted & ~ok).sum())
    idx = np.flatnonzero(ok)
    v = store.variants
    weights = pd.DataFrame(
        {
            "CHR": v["CHR"].to_numpy()[idx],
            "SNP": v["SNP"].to_numpy()[idx],
            "BP": v["BP"].to_numpy()[idx],
            "A1": v["A1"].to_numpy()[idx],
            "A2": v["A2"].to_numpy()[idx],
            "BETA": beta[idx] / np.sqrt(het[idx]),
            "BETA_STD": beta[idx],
            "AF1": af[idx],
            "MEASURED": measured[idx],
        }
    )
    n_meas = int(measured[idx].sum())
    report = [
        f"posterior means: {len(trait.windows)} windows, N = {N:,.0f}, sigma = {sigma:.4f}, "
        f"h2 of the prior = {float(s.sum()):.4f}",
        f"weights: {len(idx):,} variants ({n_meas:,} with a z-score, {len(idx) - n_meas:,} "
        "predicted through LD)"
        + (f"; {n_nofreq:,} without an allele frequency dropped" if n_nofreq else ""),
    ]
    return PrsResult(
        weights=weights,
        beta_std=beta,
        ld_model=ld_model,
        sigma=float(sigma),
        n_gwas=float(N),
        report=report,
    )


def write_weights(result: PrsResult, path, *, provenance: dict | None = None) -> Path:
    """Write ``CHR SNP BP A1 A2 BETA`` as a gzipped TSV at ``path`` (atomically) and a JSON
    sidecar ``path + '.json'`` with the settings and provenance; returns the sidecar's path."""
    import gzip
    import json

    from deepwas._files import atomic_file

    path = Path(path)
    side = path.with_name(path.name + ".json")
    with atomic_file(path) as tmp:
        # mtime=0: the same weights give the same bytes
        with gzip.GzipFile(tmp, "wb", mtime=0) as gz:
            gz.write(
                result.weights[WEIGHT_COLUMNS]
                .to_csv(sep="\t", index=False, float_format="%.6e")
                .encode()
            )
    meta = {
        "columns": WEIGHT_COLUMNS,
        "beta": "posterior mean effect per copy of A1, in phenotype standard deviations",
        "n_variants": int(len(result.weights)),
        "n_measured": int(result.weights["MEASURED"].sum()),
        "ld_model": result.ld_model,
        "sigma": result.sigma,
        "n_gwas": result.n_gwas,
        "report": result.report,
        "provenance": provenance or {},
    }
    with atomic_file(side) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return side


def run_prs(
    sumstats,
    store,
    *,
    prior=None,
    n_gwas: float | None = None,
    keep_ambiguous: bool = False,
    min_info: float | None = 0.9,
    min_maf: float | None = 0.01,
    ld_model: str = "auto",
    var_explained: float | None = None,
    sigma: float | None = None,
    freq: str = "panel",
    measured_only: bool = False,
    fill_missing_prior: str = "error",
    progress: bool = True,
) -> PrsResult:
    """PRS weights from a summary-statistics file, an LD store and a prior (files in).

    The sumstats are read, QC'd and harmonised as ``deepwas loglik`` does
    (:func:`deepwas.load_trait`) and projected in the model ``ld_model``
    (:func:`resolve_prs_ld_model`).

    Parameters
    ----------
    sumstats:
        Summary-statistics file.
    store: deepwas.LDStore
    prior:
        A SNPVAR file (a fit's ``priors.tsv.gz``, :func:`read_prior_snpvar`), an array of
        SNPVAR per store variant, or None for the best constant prior
        (:func:`deepwas.fit_constant`, fitted in the model ``deepwas loglik`` reports: the
        diagonal model when the store has direction scales): the posterior mean under it is
        LDpred-inf.
    n_gwas, keep_ambiguous, min_info, min_maf, var_explained:
        As for :func:`deepwas.load_trait`.
    ld_model:
        "auto", "full", "scaled", "calibrated" or "diagonal" (:data:`PRS_LD_MODELS`,
        :func:`resolve_prs_ld_model`).
    sigma:
        The noise scale; None (default) fits it by maximum likelihood for the prior
        (:func:`deepwas.exact.refit_sigma`) in the posterior's model, or for "scaled" and
        "calibrated" in the diagonal model on every direction (where a calibrated fit gets its
        sigma).
    freq, measured_only:
        As for :func:`prs_weights`.
    fill_missing_prior:
        "error" or "median" (:func:`read_prior_snpvar`).
    progress:
        Show progress bars.

    Returns
    -------
    PrsResult
    """
    from deepwas.exact import fit_constant, refit_sigma
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats
    from deepwas.ld.trait import constant_prior_model, prepare_trait

    model = resolve_prs_ld_model(store, ld_model)
    df, qc = read_sumstats(
        sumstats, n_gwas=n_gwas, keep_ambiguous=keep_ambiguous, min_info=min_info, min_maf=min_maf
    )
    matched, hrep = harmonize(df, store.variants, file=str(sumstats))
    s_file = None  # a prior file is read before the projection: a wrong path fails at once
    if prior is not None and not isinstance(prior, np.ndarray):
        s_file = read_prior_snpvar(prior, store.variants, fill_missing=fill_missing_prior)
    # "scaled" is the full kernel on the diagonal model's projection (y / sqrt(rho), G and the
    # direction scales)
    base_model = "diagonal" if model == "scaled" else model
    trait = prepare_trait(
        store, matched, var_explained=var_explained, ld_model=base_model, progress=progress
    )
    report = [*qc.lines(), *hrep.lines(), *trait.report[:-1]]
    report.append(f"model: {PRS_LD_MODELS[model]}")
    af_ss = None
    if "AF1" in matched.columns:
        af_ss = np.full(store.n_variants, np.nan)
        af_ss[matched["ref_index"].to_numpy(np.int64)] = matched["AF1"].to_numpy(np.float64)
    # sigma is fitted where the prior's scale is: for "calibrated", as stage 2 of a calibrated
    # fit, in the diagonal model on every direction (trait.calibration; the ML sigma of the
    # leading directions alone can collapse towards 0), for "scaled" in the diagonal model
    # too (the same y; docs/decisions.md)
    sigma_trait = trait.calibration if model == "calibrated" else trait
    sigma_model = "diagonal" if model in ("calibrated", "scaled") else model
    if prior is None:
        cmodel = constant_prior_model(store, base_model)
        ctrait = trait
        if cmodel != base_model:
            ctrait = (
                trait.calibration
                if trait.calibration is not None
                else prepare_trait(store, matched, ld_model=cmodel, progress=False)
            )
        const = fit_constant(ctrait)
        s = np.full(store.n_variants, const.snpvar)
        report.append(
            f"prior: the best constant prior ({cmodel} model): h2 = {const.h2:.4f}, "
            f"sigma = {const.sigma:.4f} (LDpred-inf)"
        )
        if sigma is None and cmodel == sigma_model:
            sigma = const.sigma
            report.append(f"sigma: {sigma:.4f} (the constant prior's, {cmodel} model)")
    elif isinstance(prior, np.ndarray):
        s = np.asarray(prior, dtype=np.float64)
        report.append(f"prior: given, h2 = {float(s.sum()):.4f}")
    else:
        s = s_file
        report.append(f"prior: {prior}, h2 = {float(s.sum()):.4f}")
    if sigma is None:
        log_s = torch.from_numpy(np.log(np.maximum(s, 1e-300)))
        sigma = refit_sigma(sigma_trait, log_s)
        report.append(
            f"sigma: {sigma:.4f} (maximum likelihood for this prior, {sigma_model} model)"
        )
    result = prs_weights(
        trait,
        store,
        s,
        sigma=float(sigma),
        af_sumstats=af_ss,
        freq=freq,
        measured_only=measured_only,
        kernel="full" if model == "scaled" else None,
        progress=progress,
    )
    result.report = [*report, *result.report]
    return result
