"""Functional fine-mapping: SuSiE-RSS on an LD store's windows with prior inclusion weights.

This module owns the loci, the prior weights, the per-locus LD-mismatch check and the output
tables of ``deepwas finemap`` (docs/finemap.md); the model is :mod:`deepwas.susie`'s and the
mismatch statistics :mod:`deepwas.kriging`'s.

* Loci: by default every LD-store window with a measured scored variant at P < ``p_threshold``;
  its scored (measured) variants are fine-mapped with the store's LD among them. The flanks are
  not fine-mapped: every variant belongs to exactly one locus, as the windows' scored sets
  partition the variants. With ``regions``, each region's measured variants, with the LD of the
  window whose context holds them all.
* Prior inclusion weights proportional to SNPVAR (PolyFun), normalised per locus; uniform
  without a prior.
* LD mismatch per locus: ``lambda`` (:func:`deepwas.kriging.estimate_s_rss`, susieR's
  ``estimate_s_rss``) regularises R -> (1 - lambda) R + lambda I (``lam="auto"``, the default);
  the kriging test flags variants whose z is inconsistent with the others under the panel's LD
  (allele-flip signature or outlier) and variants with PIP >= 0.5 but |z| < 1.96 (a PIP the data
  do not support marginally: the signature of LD mismatch). ``mismatch="warn"`` (default) keeps
  the fit and flags it; ``"drop"`` removes the kriging-flagged variants and fits again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from deepwas.errors import InputError
from deepwas.io.priors import read_prior_snpvar
from deepwas.io.variants import chrom_code, chrom_label
from deepwas.kriging import estimate_s_rss, kriging_test
from deepwas.susie import SusieConfig, credible_sets, fit_susie_rss

__all__ = [
    "FinemapConfig",
    "FinemapResult",
    "finemap",
    "finemap_z",
    "read_regions",
    "write_finemap",
    "VARIANT_COLUMNS",
    "CS_COLUMNS",
]

#: per-variant output columns (PolyFun finemapper's first ten, then ours)
VARIANT_COLUMNS = [
    "CHR",
    "SNP",
    "BP",
    "A1",
    "A2",
    "Z",
    "PIP",
    "BETA_MEAN",
    "BETA_SD",
    "CREDIBLE_SET",
    "LOCUS",
    "PRIOR_WEIGHT",
    "KRIGING_RESID",
    "LD_FLAG",
]
#: credible-set table columns
CS_COLUMNS = [
    "LOCUS",
    "CS",
    "SIZE",
    "COVERAGE",
    "PURITY",
    "MEAN_ABS_R",
    "LEAD_SNP",
    "LEAD_BP",
    "LEAD_PIP",
    "LEAD_Z",
    "FLAGGED",
    "SNPS",
]
MISMATCH_ACTIONS = ("warn", "drop")
_LOW_Z = 1.959963984540054  # |z| of P = 0.05 (two-sided)
_HIGH_PIP = 0.5
_MAX_LAMBDA = 0.99


@dataclass(frozen=True)
class FinemapConfig:
    """Settings of :func:`finemap`.

    Attributes
    ----------
    L:
        Single effects per locus.
    coverage, min_purity:
        Credible-set level and purity filter (minimum |r| among a set's variants).
    p_threshold:
        A window is a locus when one of its measured scored variants has P below this.
    lam:
        ``"auto"`` (per-locus ``estimate_s_rss``) or a number in [0, 1): R -> (1 - lam) R + lam I.
    mismatch:
        ``"warn"`` or ``"drop"`` (drop kriging-flagged variants and fit the locus again).
    max_iter, tol, estimate_residual_variance:
        Of :class:`deepwas.susie.SusieConfig`.
    """

    L: int = 10  # noqa: N815
    coverage: float = 0.95
    min_purity: float = 0.5
    p_threshold: float = 5e-8
    lam: float | str = "auto"
    mismatch: str = "warn"
    max_iter: int = 100
    tol: float = 1e-3
    estimate_residual_variance: bool = False

    def susie(self) -> SusieConfig:
        return SusieConfig(
            L=self.L,
            max_iter=self.max_iter,
            tol=self.tol,
            estimate_residual_variance=self.estimate_residual_variance,
        )


@dataclass
class FinemapResult:
    """What :func:`finemap` found.

    Attributes
    ----------
    variants: DataFrame
        One row per fine-mapped variant, :data:`VARIANT_COLUMNS`.
    credible_sets: DataFrame
        One row per credible set, :data:`CS_COLUMNS`.
    loci: list of dict
        Per locus: name, n_variants, lambda, converged, n_iter, n_cs, top PIP, flags, notes.
    report: list of str
        Human-readable lines (input QC, loci, mismatch explanations).
    warnings: list of str
        The mismatch explanations alone.
    n_gwas: float
    """

    variants: pd.DataFrame
    credible_sets: pd.DataFrame
    loci: list[dict] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_gwas: float = float("nan")


# ------------------------------------------------------------------------------ one locus
def finemap_z(
    z: np.ndarray,
    R: np.ndarray,  # noqa: N803
    n: float,
    *,
    weights: np.ndarray | None = None,
    config: FinemapConfig | None = None,
) -> dict:
    """Fine-map one locus from its z-scores and LD, with the mismatch check.

    Parameters
    ----------
    z: (m,)
        z-scores aligned with ``R``.
    R: (m, m)
        LD correlations (unit diagonal).
    n:
        GWAS sample size.
    weights: (m,) or None
        Prior inclusion weights (any positive scale; None: uniform).
    config:
        :class:`FinemapConfig`.

    Returns
    -------
    dict
        ``pip``, ``beta_mean``, ``beta_sd``, ``kriging_resid`` (m,), ``flags`` (m,) str,
        ``cs`` (list of :class:`deepwas.susie.CredibleSet`), ``cs_of`` (m,) int (1-based id of the
        first credible set holding each variant, 0 if none), ``lambda``, ``s``, ``converged``,
        ``n_iter``, ``dropped`` (m,) bool. Dropped variants have NaN PIP and effects.
    """
    cfg = config or FinemapConfig()
    z = np.asarray(z, np.float64)
    R = np.asarray(R, np.float64)
    m = z.size
    keep = np.ones(m, bool)
    s = estimate_s_rss(z, R, n)
    krig = kriging_test(z, R, s)
    flip = krig["FLIP"].to_numpy()
    outlier = krig["OUTLIER"].to_numpy()
    if cfg.mismatch == "drop" and (flip | outlier).any() and (~(flip | outlier)).sum() >= 1:
        keep = ~(flip | outlier)
    idx = np.flatnonzero(keep)
    zk, Rk = z[idx], R[np.ix_(idx, idx)]
    s_fit = s if keep.all() else estimate_s_rss(zk, Rk, n)
    lam = min(s_fit, _MAX_LAMBDA) if cfg.lam == "auto" else float(cfg.lam)
    fit = fit_susie_rss(
        zk,
        Rk,
        n,
        prior_weights=None if weights is None else weights[idx],
        lam=lam,
        config=cfg.susie(),
    )
    sets = credible_sets(fit, Rk, coverage=cfg.coverage, min_purity=cfg.min_purity)
    pip = np.full(m, np.nan)
    beta_mean = np.full(m, np.nan)
    beta_sd = np.full(m, np.nan)
    pip[idx], beta_mean[idx], beta_sd[idx] = fit.pip, fit.beta_mean, fit.beta_sd
    cs_of = np.zeros(m, np.int64)
    for k, cs in enumerate(sets, start=1):
        members = idx[cs.variants]
        cs_of[members] = np.where(cs_of[members] == 0, k, cs_of[members])
    flags = []
    for i in range(m):
        f = []
        if flip[i]:
            f.append("allele_flip")
        if outlier[i]:
            f.append("ld_outlier")
        if not keep[i]:
            f.append("dropped")
        if keep[i] and pip[i] >= _HIGH_PIP and abs(z[i]) < _LOW_Z:
            f.append("high_pip_low_z")
        flags.append(",".join(f))
    # map the sets onto the locus's positions
    sets = [
        type(cs)(
            effect=cs.effect,
            variants=idx[cs.variants],
            coverage=cs.coverage,
            purity=cs.purity,
            mean_abs_r=cs.mean_abs_r,
            median_abs_r=cs.median_abs_r,
        )
        for cs in sets
    ]
    return dict(
        pip=pip,
        beta_mean=beta_mean,
        beta_sd=beta_sd,
        kriging_resid=krig["RESID"].to_numpy(),
        flags=np.array(flags, dtype=object),
        cs=sets,
        cs_of=cs_of,
        s=float(s),
        lam=float(lam),
        converged=fit.converged,
        n_iter=fit.n_iter,
        dropped=~keep,
    )


# ------------------------------------------------------------------------------ inputs
_REGION_TEXT = re.compile(r"^\s*(?:chr)?([0-9A-Za-z]+)\s*:\s*([0-9]+)\s*-\s*([0-9]+)\s*$")
_REGION_FIX = "give a BED file (chrom, start, end; 0-based) or a list like chr22:17000000-18500000"


def read_regions(spec: str) -> list[tuple[int, int, int, str]]:
    """Regions from a BED file or a comma-separated list of ``chr:start-end``.

    Parameters
    ----------
    spec:
        A path to a BED file (tab or space separated chrom, start, end; 0-based half-open, so a
        variant at 1-based position BP is inside when start < BP <= end), or text such as
        ``chr22:17000000-18500000,22:30000000-31000000`` (1-based, inclusive).

    Returns
    -------
    list of (chrom code, first BP, last BP, name)
        Inclusive 1-based positions; name as written (``chr22:17000000-18500000``).

    Raises
    ------
    InputError
        Naming the file and row, or the option ``--regions``, for a malformed region.
    """
    path = Path(spec)
    out: list[tuple[int, int, int, str]] = []
    if path.is_file():
        from deepwas._files import open_text

        try:
            with open_text(path) as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read regions ({exc})", file=path, fix=_REGION_FIX) from None
        for row, line in enumerate(lines, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            parts = line.split()
            code = chrom_code(parts[0]) if parts else 0
            try:
                start, end = int(parts[1]), int(parts[2])
            except (IndexError, ValueError):
                start = end = -1
            if code == 0 or start < 0 or end <= start:
                raise InputError(
                    f"not a BED region: {line.strip()[:60]!r}", file=path, row=row, fix=_REGION_FIX
                )
            out.append((code, start + 1, end, f"chr{chrom_label(code)}:{start + 1}-{end}"))
    else:
        for part in spec.split(","):
            if not part.strip():
                continue
            match = _REGION_TEXT.match(part)
            code = chrom_code(match.group(1)) if match else 0
            if match:
                start, end = int(match.group(2)), int(match.group(3))
            if not match or code == 0 or end < start:
                raise InputError(
                    f"unknown region format {part.strip()!r} (and no such file)",
                    column="--regions",
                    fix=_REGION_FIX,
                )
            out.append((code, start, end, f"chr{chrom_label(code)}:{start}-{end}"))
    if not out:
        raise InputError("no region given", column="--regions", fix=_REGION_FIX)
    return out


def _locus_name(chrom: int, start: int, stop: int) -> str:
    return f"chr{chrom_label(chrom)}:{start}-{stop}"


def _loci_from_windows(store, z: np.ndarray, p_threshold: float) -> list[dict]:
    p = 2.0 * stats.norm.sf(np.abs(z))
    loci = []
    for w in store:
        sc = np.arange(w.scored.start, w.scored.stop)
        measured = sc[np.isfinite(z[sc])]
        if measured.size and np.nanmin(p[measured]) < p_threshold:
            loci.append(
                dict(
                    name=_locus_name(w.chrom, w.start, w.stop),
                    window=w.index,
                    variants=measured,
                )
            )
    return loci


def _loci_from_regions(store, z: np.ndarray, regions) -> list[dict]:
    var = store.variants
    chrom, bp = var["CHR"].to_numpy(), var["BP"].to_numpy()
    loci = []
    for code, first, last, name in regions:
        inside = np.flatnonzero((chrom == code) & (bp >= first) & (bp <= last) & np.isfinite(z))
        if inside.size == 0:
            raise InputError(
                f"region {name} has no variant with a z-score in the LD store",
                column="--regions",
                fix="check the chromosome and build of the regions",
            )
        best = None
        for w in store:
            if w.context.start <= inside[0] and inside[-1] < w.context.stop:
                overlap = min(inside[-1] + 1, w.scored.stop) - max(inside[0], w.scored.start)
                if best is None or overlap > best[0]:
                    best = (overlap, w.index)
        if best is None:
            raise InputError(
                f"region {name} is not inside one LD window's context",
                column="--regions",
                fix="split the region, or build the store with wider flanks (deepwas ld "
                "--flank-kb)",
            )
        loci.append(dict(name=name, window=best[1], variants=inside))
    return loci


# ------------------------------------------------------------------------------ driver
def finemap(
    sumstats,
    ld,
    *,
    prior=None,
    n_gwas: float | None = None,
    regions: str | None = None,
    config: FinemapConfig | None = None,
    keep_ambiguous: bool = False,
    min_info: float | None = 0.9,
    min_maf: float | None = 0.01,
    progress: bool = True,
) -> FinemapResult:
    """Fine-map summary statistics on an LD store with SuSiE-RSS and prior inclusion weights.

    Parameters
    ----------
    sumstats:
        Summary-statistics file (any format :func:`deepwas.read_sumstats` reads).
    ld:
        LD store folder, or an open :class:`deepwas.LDStore`.
    prior:
        A SNPVAR table (``FIT/priors.tsv.gz``) or None for uniform weights.
    n_gwas:
        GWAS sample size for files without N (default: the median of N).
    regions:
        A BED file or ``chr:start-end[,...]`` (:func:`read_regions`); default: every window with
        a variant at P < ``config.p_threshold``.
    config:
        :class:`FinemapConfig`.
    keep_ambiguous, min_info, min_maf:
        Sumstats QC, as in ``deepwas fit``.
    progress:
        Show a progress bar over loci.

    Returns
    -------
    FinemapResult
        Empty tables (with their columns) when there is no locus.
    """
    from deepwas.harmonize import harmonize
    from deepwas.io.sumstats import read_sumstats
    from deepwas.ld.store import LDStore

    cfg = config or FinemapConfig()
    if cfg.mismatch not in MISMATCH_ACTIONS:
        raise InputError(f"unknown mismatch action {cfg.mismatch!r}", column="--mismatch")
    store = ld if isinstance(ld, LDStore) else LDStore.open(ld)
    region_list = read_regions(regions) if regions is not None else None
    df, qc = read_sumstats(
        sumstats, n_gwas=n_gwas, keep_ambiguous=keep_ambiguous, min_info=min_info, min_maf=min_maf
    )
    matched, hrep = harmonize(df, store.variants, file=str(sumstats))
    z = np.full(store.n_variants, np.nan)
    z[matched["ref_index"].to_numpy(np.int64)] = matched["Z"].to_numpy(np.float64)
    n = float(n_gwas) if n_gwas is not None else float(np.median(matched["N"]))
    snpvar = None if prior is None else read_prior_snpvar(prior, store.variants, fill_missing="nan")
    if region_list is None:
        loci = _loci_from_windows(store, z, cfg.p_threshold)
    else:
        loci = _loci_from_regions(store, z, region_list)
    report = [*qc.lines(), *hrep.lines()]
    if snpvar is not None:
        for locus in loci:
            missing = locus["variants"][np.isnan(snpvar[locus["variants"]])]
            if missing.size:
                raise InputError(
                    f"the prior has no SNPVAR for {missing.size} variants of locus "
                    f"{locus['name']} (first {store.variants['SNP'].iloc[missing[0]]})",
                    file=prior,
                    fix="use a prior fitted or predicted on this LD store's variants",
                )
    report.append(
        f"loci: {len(loci)} "
        + (
            f"LD windows with a variant at P < {cfg.p_threshold:g}"
            if region_list is None
            else "regions"
        )
        + f"; N = {n:,.0f}; prior weights: {'SNPVAR of ' + str(prior) if prior else 'uniform'}"
    )
    var_rows, cs_rows, locus_info, warnings_ = [], [], [], []
    for locus in tqdm(loci, desc="fine-mapping loci", disable=not progress):
        w = store.window(locus["window"])
        pos = locus["variants"] - w.context.start
        R = np.asarray(w.R, np.float64)[np.ix_(pos, pos)]
        zl = z[locus["variants"]]
        weights = None if snpvar is None else snpvar[locus["variants"]]
        if weights is not None and weights.sum() <= 0:
            raise InputError(
                f"the prior's SNPVAR is 0 for every variant of locus {locus['name']}",
                file=prior,
                fix="use a prior with positive SNPVAR",
            )
        res = finemap_z(zl, R, n, weights=weights, config=cfg)
        info, lines, table, cs_table = _locus_tables(store, locus, zl, weights, res)
        locus_info.append(info)
        warnings_ += lines
        var_rows.append(table)
        cs_rows.append(cs_table)
    variants = (
        pd.concat(var_rows, ignore_index=True)
        if var_rows
        else pd.DataFrame({c: pd.Series(dtype=object) for c in VARIANT_COLUMNS})
    )
    cs = (
        pd.concat(cs_rows, ignore_index=True)
        if cs_rows and sum(len(t) for t in cs_rows)
        else pd.DataFrame({c: pd.Series(dtype=object) for c in CS_COLUMNS})
    )
    if not loci:
        report.append(
            "no locus to fine-map: no variant with P < "
            f"{cfg.p_threshold:g} in any LD window (outputs are empty)"
            if region_list is None
            else "no region to fine-map"
        )
    else:
        report.append(
            f"credible sets: {len(cs)} ({cfg.coverage:g} coverage, purity >= "
            f"{cfg.min_purity:g}); variants with PIP >= 0.9: "
            f"{int((variants['PIP'] >= 0.9).sum())}"
        )
    return FinemapResult(
        variants=variants,
        credible_sets=cs,
        loci=locus_info,
        report=report + warnings_,
        warnings=warnings_,
        n_gwas=n,
    )


def _locus_tables(store, locus, z, weights, res):
    """The per-variant and per-set rows of one locus, its summary and its mismatch notes."""
    var = store.variants.iloc[locus["variants"]]
    m = len(var)
    w = np.full(m, 1.0 / m) if weights is None else weights / weights.sum()
    table = pd.DataFrame(
        {
            "CHR": var["CHR"].to_numpy(),
            "SNP": var["SNP"].to_numpy(),
            "BP": var["BP"].to_numpy(),
            "A1": var["A1"].to_numpy(),
            "A2": var["A2"].to_numpy(),
            "Z": z,
            "PIP": res["pip"],
            "BETA_MEAN": res["beta_mean"],
            "BETA_SD": res["beta_sd"],
            "CREDIBLE_SET": res["cs_of"],
            "LOCUS": locus["name"],
            "PRIOR_WEIGHT": w,
            "KRIGING_RESID": res["kriging_resid"],
            "LD_FLAG": res["flags"],
        }
    )
    flags = res["flags"]
    n_flip = sum("allele_flip" in f for f in flags)
    n_out = sum("ld_outlier" in f for f in flags)
    odd = [i for i, f in enumerate(flags) if "high_pip_low_z" in f]
    cs_rows = []
    for k, cs in enumerate(res["cs"], start=1):
        members = cs.variants
        lead = members[int(np.nanargmax(res["pip"][members]))]
        cs_rows.append(
            {
                "LOCUS": locus["name"],
                "CS": k,
                "SIZE": len(members),
                "COVERAGE": cs.coverage,
                "PURITY": cs.purity,
                "MEAN_ABS_R": cs.mean_abs_r,
                "LEAD_SNP": var["SNP"].iloc[lead],
                "LEAD_BP": int(var["BP"].iloc[lead]),
                "LEAD_PIP": float(res["pip"][lead]),
                "LEAD_Z": float(z[lead]),
                "FLAGGED": bool(any(flags[i] for i in members)),
                "SNPS": ",".join(var["SNP"].iloc[members]),
            }
        )
    lines = []
    if n_flip or n_out or odd:
        parts = []
        if n_flip or n_out:
            parts.append(
                f"{n_flip + n_out - sum('allele_flip' in f and 'ld_outlier' in f for f in flags)}"
                f" variants inconsistent with the panel's LD ({n_flip} allele-flip signatures, "
                f"{n_out} kriging outliers; s = {res['s']:.3g}, lambda used {res['lam']:.3g})"
            )
            if res["dropped"].any():
                parts.append(f"{int(res['dropped'].sum())} dropped and the locus re-fitted")
        for i in np.flatnonzero(res["pip"] >= _HIGH_PIP):
            if "allele_flip" in flags[i] or "ld_outlier" in flags[i]:
                parts.append(
                    f"PIP {res['pip'][i]:.2f} on {var['SNP'].iloc[i]} (z = {z[i]:.2f}), which "
                    "the kriging test flags: do not trust it (check its alleles, or use "
                    "--mismatch drop)"
                )
        for i in odd:
            parts.append(
                f"PIP {res['pip'][i]:.2f} on {var['SNP'].iloc[i]} with z = {z[i]:.2f} flagged "
                "(a PIP the marginal association does not support: suspect LD mismatch)"
            )
        lines.append(f"locus {locus['name']}: " + "; ".join(parts))
    top = int(np.nanargmax(res["pip"])) if np.isfinite(res["pip"]).any() else None
    info = {
        "locus": locus["name"],
        "window": int(locus["window"]),
        "n_variants": m,
        "lambda": res["lam"],
        "s_estimate": res["s"],
        "converged": bool(res["converged"]),
        "n_iter": int(res["n_iter"]),
        "n_cs": len(cs_rows),
        "top_snp": None if top is None else str(var["SNP"].iloc[top]),
        "top_pip": None if top is None else float(res["pip"][top]),
        "top_z": None if top is None else float(z[top]),
        "n_allele_flip": int(n_flip),
        "n_ld_outlier": int(n_out),
        "n_dropped": int(res["dropped"].sum()),
        "n_high_pip_low_z": len(odd),
        "notes": lines,
    }
    cs_table = pd.DataFrame(cs_rows, columns=CS_COLUMNS)
    return info, lines, table, cs_table


# ------------------------------------------------------------------------------ outputs
def write_finemap(out: str, result: FinemapResult, *, summary: dict | None = None) -> list[Path]:
    """Write ``OUT.finemap.tsv.gz``, ``OUT.cs.tsv`` and ``OUT.finemap.json`` (each atomically).

    Parameters
    ----------
    out:
        Output prefix.
    result:
        From :func:`finemap`.
    summary:
        Extra JSON fields (provenance, settings).

    Returns
    -------
    list of Path
        The three files written.
    """
    import json

    from deepwas._files import atomic_file

    paths = [Path(f"{out}.finemap.tsv.gz"), Path(f"{out}.cs.tsv"), Path(f"{out}.finemap.json")]
    record = {
        "n_loci": len(result.loci),
        "n_variants": len(result.variants),
        "n_credible_sets": len(result.credible_sets),
        "n_gwas": result.n_gwas,
        "loci": result.loci,
        "warnings": result.warnings,
        "report": result.report,
        **(summary or {}),
    }
    with atomic_file(paths[0]) as tmp:
        result.variants[VARIANT_COLUMNS].to_csv(
            tmp, sep="\t", index=False, compression="gzip", float_format="%.6g", na_rep="NA"
        )
        with atomic_file(paths[1]) as tmp_cs:
            result.credible_sets[CS_COLUMNS].to_csv(
                tmp_cs, sep="\t", index=False, float_format="%.6g"
            )
            with atomic_file(paths[2]) as tmp_js:
                tmp_js.write_text(json.dumps(record, indent=2, default=_json_default))
    return paths


def _json_default(obj):
    if isinstance(obj, np.integer | np.floating | np.bool_):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
