"""Diagnostics of LD mismatch between the reference panel and the GWAS (issue 9, docs/mismatch.md).

Under the fitted constant prior each window's projected z-scores y have a model covariance Sigma
(diagonal in the small-panel model; sigma I + c G^T G in the full model). If the model fits,

    T = y^T Sigma^-1 y ~ chi2(r)        and   y_k^2 / Sigma_kk has mean 1 in every direction k.

A window whose T is far in the tail, or whose low-variance directions (the panel's least reliable:
the lower half of its eigenvalues) carry much more than their share, shows LD the model does not
explain: a panel of another ancestry, a panel too small for the window, or allele/strand errors in
the summary statistics. :func:`window_diagnostics` reports, per window, r, T, its p-value and the
mean of y_k^2 / Sigma_kk in the upper and lower halves of the spectrum; :func:`mismatch_warnings`
turns the table into the warning a user reads, :func:`outlier_lines` names the worst windows.
A constant prior does not fit windows with strong loci either, so a small p alone is not a
mismatch; the excess of the low-variance half over the high-variance half is.

Per variant, :func:`variant_diagnostics` runs the kriging test of SuSiE-RSS (a DENTIST-style
check, :func:`deepwas.kriging.kriging_test`) on each window's scored z-scores: every z_i against
its conditional given its LD neighbours under (1 - s) R + s I, with s fitted per window
(:func:`deepwas.kriging.estimate_s_rss`). Variants whose z is opposite in sign to what their
neighbours predict (``FLIP``: allele or strand errors) or far from it (``OUTLIER``, Bonferroni
over the variants tested: mismatched LD, a strong locus the panel's LD does not explain, or a bad
variant) are listed by :func:`variant_lines`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "window_diagnostics",
    "mismatch_warnings",
    "panel_warnings",
    "outlier_lines",
    "variant_diagnostics",
    "variant_lines",
    "flagged_variants",
    "DIAGNOSTIC_COLUMNS",
]

DIAGNOSTIC_COLUMNS = [
    "window",
    "CHR",
    "start",
    "stop",
    "n_scored",
    "rank",
    "chi2",
    "p",
    "excess_high",
    "excess_low",
]


def window_diagnostics(trait, snpvar: float, sigma: float) -> pd.DataFrame:
    """Per-window goodness of fit of the constant prior (module docstring).

    Parameters
    ----------
    trait: deepwas.ld.trait.TraitData
    snpvar, sigma:
        The constant prior's per-SNP heritability and intercept (:func:`deepwas.fit_constant`).

    Returns
    -------
    DataFrame with :data:`DIAGNOSTIC_COLUMNS`: ``chi2`` = y^T Sigma^-1 y on ``rank`` degrees of
    freedom and ``p`` its upper tail probability; ``excess_high`` / ``excess_low`` = mean of
    y_k^2 / Sigma_kk over the upper / lower half of the panel's eigen-directions (1 when the model
    fits).
    """
    from scipy import stats

    c = snpvar * trait.n_gwas
    rows = []
    for w in trait.windows:
        G = np.asarray(w.G, dtype=np.float64)
        y = np.asarray(w.y, dtype=np.float64)
        r = y.size
        if w.scale is not None:
            v = sigma + c * np.square(G * w.scale).sum(axis=0)
            chi2 = float(np.sum(y * y / v))
        else:
            K = G.T @ G
            v = sigma + c * np.diag(K)
            d, V = np.linalg.eigh(K)
            u = V.T @ y
            chi2 = float(np.sum(u * u / (sigma + c * np.maximum(d, 0.0))))
        m = y * y / v
        half = max(r // 2, 1)
        rows.append(
            {
                "window": w.index,
                "CHR": w.chrom,
                "start": w.start,
                "stop": w.stop,
                "n_scored": w.n_scored,
                "rank": r,
                "chi2": chi2,
                "p": float(stats.chi2.sf(chi2, r)),
                "excess_high": float(m[:half].mean()),
                "excess_low": float(m[half:].mean()) if r > 1 else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=DIAGNOSTIC_COLUMNS)


def mismatch_warnings(table: pd.DataFrame, *, ld_model: str) -> list[str]:
    """Warnings for a user from a :func:`window_diagnostics` table: the panel's low-variance
    directions carrying more than twice the share of the high-variance ones (median over windows)
    is the signature of LD mismatch (measured on UK Biobank height chr22 with the 378-sample
    1000 Genomes panel: 8.2x under the full model, 0.92x under the diagonal model)."""
    if table.empty:
        return []
    ratio = float(np.nanmedian(table["excess_low"]) / np.nanmedian(table["excess_high"]))
    if not ratio > 2.0:
        return []
    hint = (
        "the reference panel looks too small or of another ancestry for this GWAS"
        if ld_model == "diagonal"
        else "the reference panel's LD is not the GWAS's: with a panel of a few hundred samples "
        "use --ld-model diagonal (LD stores built from genotypes by this deepwas support it)"
    )
    return [
        f"the low-variance half of the panel's LD directions carries {ratio:.1f}x the share of "
        f"z-score variance of the high-variance half, relative to the {ld_model} model: {hint}"
    ]


#: panels with fewer samples get a warning under the small-panel model: on simulations a
#: 100-sample panel gives sigma 1.8 instead of 1 and h2 within +-22% only (BENCHMARKS.md 9)
SMALL_PANEL = 200


def panel_warnings(n_ref: int | None, *, ld_model: str, mismatch: dict | None = None) -> list[str]:
    """Warnings on a store's panel under the small-panel model (``ld_model`` other than
    ``"full"``): ``n_ref`` samples (from its manifest) too few for the model to be calibrated,
    and direction scales (the manifest's ``mismatch`` record) that a rebuild would improve."""
    from deepwas.ld.mismatch import outdated_scales

    if ld_model == "full":
        return []
    note = outdated_scales(mismatch, n_ref)
    out = [note] if note else []
    if n_ref is None or n_ref >= SMALL_PANEL:
        return out
    return out + [
        f"the reference panel has {n_ref} samples: below {SMALL_PANEL} the small-panel model is "
        "less reliable (with 100 samples on simulations, BENCHMARKS.md section 9: sigma 1.8 "
        "instead of 1, h2 -7% +- 22 across simulations); use a larger panel of the GWAS's "
        "ancestry where there is one"
    ]


def outlier_lines(table: pd.DataFrame, *, alpha: float = 0.001, n_show: int = 3) -> list[str]:
    """One line on the windows that fit the constant prior worst (p < ``alpha`` / windows):
    windows with strong loci, or allele/strand errors or LD mismatch there."""
    n = len(table)
    bad = table[table["p"] < alpha / max(n, 1)].sort_values("p")
    if bad.empty:
        return []
    where = ", ".join(
        f"chr{r.CHR}:{r.start}-{r.stop} (chi2 {r.chi2:.0f} on {r.rank} directions)"
        for r in bad.head(n_show).itertuples(index=False)
    )
    return [
        f"{len(bad)} of {n} LD windows fit the constant prior poorly (p < {alpha:g}/{n}): {where}; "
        "expected where strong loci are, else check alleles and strand there"
    ]


def variant_diagnostics(trait, store, *, alpha: float = 0.05) -> pd.DataFrame:
    """The kriging (DENTIST-style) test of every measured scored variant against its window's LD.

    Parameters
    ----------
    trait: deepwas.ld.trait.TraitData
        Its ``z`` (oriented to the store's A1) and windows (measured scored variants).
    store: deepwas.ld.store.LDStore
        The panel's LD (``LDWindow.R``).
    alpha:
        Family-wise level: ``OUTLIER`` is ``P_RESID < alpha / m`` over the m variants tested.

    Returns
    -------
    DataFrame, one row per tested variant in window order: ``CHR SNP BP A1 A2 WINDOW LAMBDA``
    (the window's fitted s) and the columns of :func:`deepwas.kriging.kriging_test` (``Z
    COND_MEAN COND_SD RESID P_RESID LOGLR_FLIP FLIP LOGLR_ERROR OUTLIER``).
    """
    from deepwas.kriging import estimate_s_rss, kriging_test

    variants = store.variants
    parts = []
    n_tested = sum(w.n_scored for w in trait.windows if w.n_scored >= 2)
    for w in trait.windows:
        if w.n_scored < 2:  # nothing to condition on
            continue
        sic = w.scored_in_context
        R = np.asarray(store.window(w.index).R, dtype=np.float64)[np.ix_(sic, sic)]
        z = trait.z[w.scored]
        s = estimate_s_rss(z, R, n=trait.n_gwas)
        test = kriging_test(z, R, s, outlier_p=alpha / max(n_tested, 1))
        head = variants.iloc[w.scored][["CHR", "SNP", "BP", "A1", "A2"]].reset_index(drop=True)
        parts.append(pd.concat([head.assign(WINDOW=w.index, LAMBDA=s), test], axis=1))
    if not parts:
        return pd.DataFrame(columns=["CHR", "SNP", "BP", "A1", "A2", "WINDOW", "LAMBDA"])
    return pd.concat(parts, ignore_index=True)


def flagged_variants(table: pd.DataFrame) -> pd.DataFrame:
    """The variants :func:`variant_diagnostics` flags, one ``FLAG`` column (``allele_flip`` or
    ``ld_outlier``) instead of the two booleans, strongest evidence first."""
    if table.empty or "FLIP" not in table:
        return pd.DataFrame(columns=[*table.columns, "FLAG"])
    hit = table[table["FLIP"] | table["OUTLIER"]]
    flag = np.where(hit["FLIP"], "allele_flip", "ld_outlier")
    return (
        hit.drop(columns=["FLIP", "OUTLIER"])
        .assign(FLAG=flag)
        .sort_values(["FLAG", "P_RESID"])
        .reset_index(drop=True)
    )


def variant_lines(table: pd.DataFrame, *, n_show: int = 5) -> list[str]:
    """Lines on the variants :func:`variant_diagnostics` flags: the allele-flip signature first
    (the likeliest input errors), then the strongest outliers."""
    if table.empty or "FLIP" not in table:
        return []
    lines = []
    flips = table[table["FLIP"]].sort_values("LOGLR_FLIP", ascending=False)
    if len(flips):
        shown = ", ".join(
            f"{r.SNP} (z {r.Z:+.2f}, its LD neighbours predict {r.COND_MEAN:+.2f})"
            for r in flips.head(n_show).itertuples(index=False)
        )
        lines.append(
            f"{len(flips)} of {len(table)} variants have the allele-flip signature (z opposite "
            f"in sign to what their LD neighbours predict): {shown}; check their alleles and "
            "strand against the panel"
        )
    out = table[table["OUTLIER"] & ~table["FLIP"]].sort_values("P_RESID")
    if len(out):
        shown = ", ".join(
            f"{r.SNP} (z {r.Z:+.2f}, predicted {r.COND_MEAN:+.2f} +- {r.COND_SD:.2f})"
            for r in out.head(n_show).itertuples(index=False)
        )
        lines.append(
            f"{len(out)} of {len(table)} variants are far from what their LD neighbours predict "
            f"(kriging test, Bonferroni; an error in their z explains it better than a causal "
            f"effect there): {shown}; expected at strong loci when the panel's LD is not the "
            "GWAS's, else check these variants"
        )
    return lines
