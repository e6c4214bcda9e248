"""The self-contained HTML report of ``deepwas fit``.

This module owns ``report.html``: a summary table of the metrics, the provenance, and four figures
(training curves, held-out gain per window, annotation enrichment, learned vs true SNPVAR). Every
figure is rendered to PNG in memory and embedded as a base64 ``data:`` URI, so the report is one
file that opens offline: no external stylesheet, script, font or image. All text taken from the
inputs is HTML-escaped, and a ``$`` in a plot label is escaped so that matplotlib does not read it
as maths.

Decisions
---------
- Matplotlib is used through :class:`matplotlib.figure.Figure` only, never ``pyplot``: no GUI
  backend, no global figure registry, nothing left open. PNGs carry no ``Software`` metadata.
- Inputs are checked before anything is written: a table with rows but without a required column
  raises :class:`~deepwas.errors.InputError` naming the argument and the column. A table with no
  rows (whatever its columns) renders a one-line note instead of a figure.
- Missing or non-finite metrics are shown as ``n/a``; the report never fails over a metric.
- Non-finite values in a plotted column are dropped from that figure (the tables keep them).
- The file is built in memory and written with :func:`deepwas._files.atomic_file`, so an error
  leaves the previous report (or nothing), never a partial one.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepwas._files import atomic_file
from deepwas.errors import InputError

__all__ = ["write_report", "write_page", "enrichment_results_section"]

_HEXBIN_ABOVE = 5_000  # points; above this the truth scatter becomes a hexbin
_DPI = 100
_POS = "#2b6cb0"
_NEG = "#c53030"

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;
max-width:960px;padding:0 1em;color:#1a202c;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #cbd5e0;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #cbd5e0;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#edf2f7}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
p.note{color:#4a5568;font-style:italic}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:.8em;overflow-x:auto;font-size:.85em}
details{margin:.6em 0}summary{cursor:pointer;color:#2c5282}
"""


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _label(text: Any, *, max_chars: int = 48) -> str:
    """A plot label: shortened, with ``$`` escaped so mathtext leaves it alone."""
    text = str(text)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "\u2026"
    return text.replace("$", r"\$")


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, non-numeric, NaN, inf)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _fmt(value: Any, spec: str) -> str:
    x = _finite(value)
    return "n/a" if x is None else format(x, spec)


def _check_columns(df: pd.DataFrame, required: Sequence[str], argument: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"expected a pandas DataFrame, got {type(df).__name__}",
            column=argument,
            fix="pass a DataFrame (it may have no rows)",
        )
    if len(df) == 0:
        return
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
            column=argument,
            fix=f"give {argument} the columns {', '.join(required)}",
        )


def _numeric(df: pd.DataFrame, col: str, argument: str) -> np.ndarray:
    """Column ``col`` as float64 (NaN allowed); non-numbers raise InputError."""
    try:
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"column '{col}' is not numeric ({exc})", column=argument, fix="pass numbers or NaN"
        ) from None


def _png(fig: Any) -> str:
    """Render a matplotlib Figure to PNG and return an ``<img>`` tag with a data: URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="figure">'


def _figure(width: float, height: float) -> Any:
    # Figure() needs no backend: savefig picks the Agg canvas for PNG output.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _table(header: Sequence[str], rows: Iterable[Sequence[tuple[str, bool]]]) -> str:
    """An HTML table; each cell is (already formatted text, right-aligned number?)."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_esc(t)}</td>' if num else f"<td>{_esc(t)}</td>" for t, num in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chrom_order(chrom: pd.Series) -> np.ndarray:
    """Sort key for chromosome labels: 1..22 numerically (``chr`` prefix ignored), then others."""
    text = chrom.astype(str).str.replace(r"^chr", "", regex=True, case=False)
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    named = {"X": 23.0, "Y": 24.0, "XY": 25.0, "M": 26.0, "MT": 26.0}
    fallback = text.str.upper().map(named).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(num), np.where(np.isnan(fallback), 1e9, fallback), num)


# --------------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------------


def _summary(metrics: dict[str, Any]) -> str:
    ll = _finite(metrics.get("heldout_loglik"))
    ll0 = _finite(metrics.get("heldout_loglik_constant"))
    n_held = _finite(metrics.get("heldout_n_snps"))
    # computed once, by deepwas.metrics.FitMetrics (metrics.json carries them)
    gain = _finite(metrics.get("heldout_gain"))
    per_1k = _finite(metrics.get("heldout_gain_per_1000"))

    rows: list[tuple[str, str]] = [
        ("model", str(metrics.get("model", "n/a"))),
        ("objective", str(metrics.get("objective", "n/a"))),
        ("held-out log-likelihood (nats)", _fmt(ll, ".3f")),
        ("held-out log-likelihood, constant prior (nats)", _fmt(ll0, ".3f")),
        ("gain over constant prior (nats, total)", _fmt(gain, "+.3f")),
        ("gain over constant prior (nats per 1,000 held-out variants)", _fmt(per_1k, "+.4f")),
        ("held-out variants", _fmt(n_held, ",.0f")),
        ("training log-likelihood (nats)", _fmt(metrics.get("train_loglik"), ".3f")),
        ("h2", _fmt(metrics.get("h2"), ".4g")),
    ]
    if metrics.get("h2_scale") is not None:  # the calibrated small-panel model
        rows += [
            (
                "h2 before calibration (leading LD directions)",
                _fmt(metrics["h2_uncalibrated"], ".4g"),
            ),
            ("calibration factor of the prior variances", _fmt(metrics["h2_scale"], ".4g")),
            ("sigma of the calibrating (diagonal) model", _fmt(metrics["sigma_diagonal"], ".4g")),
        ]
    if "h2_true" in metrics:
        rows.append(("h2 (true)", _fmt(metrics.get("h2_true"), ".4g")))
    rows += [
        ("model of the panel's LD (--ld-model)", str(metrics.get("ld_model", "full"))),
        ("sigma", _fmt(metrics.get("sigma"), ".4g")),
        ("parameters", _fmt(metrics.get("n_params"), ",.0f")),
        ("seconds", _fmt(metrics.get("seconds"), ".1f")),
    ]
    if "truth_pearson" in metrics:
        rows.append(
            ("Pearson r, learned vs true log SNPVAR", _fmt(metrics["truth_pearson"], ".3f"))
        )
    if "truth_spearman" in metrics:
        rows.append(
            ("Spearman rho, learned vs true log SNPVAR", _fmt(metrics["truth_spearman"], ".3f"))
        )
    body = "".join(
        f'<tr><th scope="row">{_esc(k)}</th><td class="num">{_esc(v)}</td></tr>' for k, v in rows
    )
    out = [f"<table><tbody>{body}</tbody></table>"]

    prov = metrics.get("provenance")
    if prov is not None:
        text = json.dumps(prov, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        out.append(f"<details><summary>Provenance</summary><pre>{_esc(text)}</pre></details>")
    return "\n".join(out)


def _history_section(history: pd.DataFrame) -> str:
    if len(history) == 0:
        return _note("No training history was recorded.")
    epoch = _numeric(history, "epoch", "history")
    series = {
        "training": _numeric(history, "train_objective", "history"),
        "validation": _numeric(history, "val_objective", "history"),
    }
    val_ll = _numeric(history, "val_loglik", "history") if "val_loglik" in history else None
    has_ll = val_ll is not None and np.isfinite(val_ll).any()
    if not any(np.isfinite(y).any() for y in series.values()) and not has_ll:
        return _note("The training history holds no finite objective values.")

    fig = _figure(10.0 if has_ll else 7.5, 3.8)
    axes = fig.subplots(1, 2) if has_ll else [fig.subplots()]
    ax = axes[0]
    for (name, y), style in zip(series.items(), ("-o", "-s"), strict=True):
        ok = np.isfinite(y) & np.isfinite(epoch)
        if ok.any():
            ax.plot(epoch[ok], y[ok], style, ms=3, lw=1.2, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective (lower is better)")
    ax.set_title("Training objective")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    if has_ll:
        ok = np.isfinite(val_ll) & np.isfinite(epoch)
        axes[1].plot(epoch[ok], val_ll[ok], "-o", ms=3, lw=1.2, color="#2f855a")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("log-likelihood (nats)")
        axes[1].set_title("Validation log-likelihood")
    return _png(fig)


def _gains_section(window_gains: pd.DataFrame) -> str:
    if len(window_gains) == 0:
        return _note("No held-out windows: the per-window gain cannot be shown.")
    df = window_gains.copy()
    df["_gain"] = _numeric(df, "gain", "window_gains")
    df["_start"] = _numeric(df, "start", "window_gains")
    df["_chr"] = _chrom_order(df["CHR"])
    df = df.sort_values(["_chr", "_start"], kind="stable").reset_index(drop=True)
    n_scored = _numeric(df, "n_scored", "window_gains")
    gain = df["_gain"].to_numpy()
    ok = np.isfinite(gain)
    total = float(gain[ok].sum())
    n_total = float(np.nansum(n_scored[ok]))

    fig = _figure(9.0, 3.8)
    ax = fig.subplots()
    x = np.arange(len(df))
    ax.bar(
        x[ok],
        gain[ok],
        width=0.85 if len(df) < 200 else 1.0,
        color=np.where(gain[ok] >= 0, _POS, _NEG),
    )
    ax.axhline(0.0, color="black", lw=0.8)
    # Mark chromosome boundaries and label each chromosome at the centre of its windows.
    chrom = df["CHR"].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], len(df)]
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="#a0aec0", lw=0.6, ls=":")
    if len(starts) <= 30:
        ax.set_xticks((starts + ends - 1) / 2.0, [_label(chrom[s], max_chars=8) for s in starts])
        ax.set_xlabel("chromosome (windows in genomic order)")
    else:
        ax.set_xlabel("windows in genomic order")
    ax.set_xlim(-0.6, len(df) - 0.4)
    ax.set_ylabel("gain over constant prior (nats)")
    ax.set_title(
        f"Held-out gain per window: total {total:+.3f} nats over {n_total:,.0f} variants "
        f"({int(ok.sum())} windows, {int((gain[ok] > 0).sum())} positive)"
    )
    out = [
        _png(fig),
        f"<p>Total held-out gain over the constant prior: <b>{total:+.3f} nats</b> over "
        f"{n_total:,.0f} scored variants in {int(ok.sum())} windows.</p>",
    ]
    if not ok.all():
        out.append(_note(f"{int((~ok).sum())} window(s) with a non-finite gain are not drawn."))

    rows = [
        (
            (str(r["window"]), False),
            (str(r["CHR"]), False),
            (_fmt(r["start"], ",.0f"), True),
            (_fmt(r["stop"], ",.0f"), True),
            (_fmt(r["n_scored"], ",.0f"), True),
            (_fmt(r["_gain"], "+.3f"), True),
        )
        for _, r in df.iterrows()
    ]
    table = _table(["window", "CHR", "start", "stop", "scored variants", "gain (nats)"], rows)
    out.append(f"<details><summary>Per-window table ({len(df)} windows)</summary>{table}</details>")
    return "\n".join(out)


def _enrichment_section(enrichment: pd.DataFrame) -> str:
    if len(enrichment) == 0:
        return _note("No annotations: enrichment cannot be shown.")
    df = enrichment.copy()
    df["_enr"] = _numeric(df, "enrichment", "enrichment")
    df["_in"] = _numeric(df, "mean_snpvar_in", "enrichment")
    df["_out"] = _numeric(df, "mean_snpvar_out", "enrichment")
    df["_log2"] = np.log2(df["_enr"].where(df["_enr"] > 0))  # NaN where undefined
    df = df.sort_values("_log2", kind="stable", na_position="first").reset_index(drop=True)
    ok = np.isfinite(df["_log2"].to_numpy())

    out = []
    if ok.any():
        plot = df[ok]
        fig = _figure(8.0, min(40.0, max(2.4, 1.2 + 0.24 * len(plot))))
        ax = fig.subplots()
        y = np.arange(len(plot))
        v = plot["_log2"].to_numpy()
        ax.barh(y, v, color=np.where(v >= 0, _POS, _NEG), height=0.75)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(y, [_label(a) for a in plot["annotation"]], fontsize=8)
        ax.set_ylim(-0.6, len(plot) - 0.4)
        ax.set_xlabel("log2 enrichment of mean learned SNPVAR")
        ax.set_title("Annotation enrichment (in annotation / overall mean)")
        out.append(_png(fig))
    else:
        out.append(_note("No annotation has a positive, finite enrichment to plot."))
    if not ok.all() and ok.any():
        out.append(
            _note(f"{int((~ok).sum())} annotation(s) with enrichment <= 0 or n/a not drawn.")
        )

    has_kind = "kind" in df.columns
    rows = []
    for _, r in df.iloc[::-1].iterrows():  # table: most enriched first
        row = [(str(r["annotation"]), False)]
        if has_kind:
            row.append((str(r["kind"]), False))
        row += [
            (_fmt(r["_in"], ".4g"), True),
            (_fmt(r["_out"], ".4g"), True),
            (_fmt(r["_enr"], ".3f"), True),
            (_fmt(r["_log2"], "+.3f"), True),
        ]
        rows.append(row)
    header = ["annotation"] + (["kind"] if has_kind else [])
    header += ["mean SNPVAR in", "mean SNPVAR out", "enrichment", "log2 enrichment"]
    out.append(_table(header, rows))
    out.append(
        _note(
            "In = variants with the annotation (binary: value > 0; continuous: top quintile); "
            "enrichment = mean SNPVAR in / overall mean SNPVAR."
        )
    )
    return "\n".join(out)


def enrichment_results_section(results: pd.DataFrame) -> str:
    """HTML of an S-LDSC ``.results`` table (:func:`deepwas.enrichment`): a forest plot of
    Prop._h2 - Prop._SNPs with 95% intervals (1.96 jackknife SEs) and the table.

    Parameters
    ----------
    results: (K, >= 7)
        ``Category``, ``Prop._SNPs``, ``Prop._h2``, ``Prop._h2_std_error``, ``Enrichment``,
        ``Enrichment_std_error``, ``Enrichment_p`` (SEs may be NaN: no bars then).

    Returns
    -------
    str
        An HTML fragment (figure and table) for ``report.html``.
    """
    from deepwas.enrich import RESULTS_COLUMNS

    cols = RESULTS_COLUMNS[:7]  # without the linear prior's coefficients
    _check_columns(results, cols, "results")
    if len(results) == 0:
        return _note("No annotations: enrichment cannot be shown.")
    snps = _numeric(results, "Prop._SNPs", "results")
    h2 = _numeric(results, "Prop._h2", "results")
    se = _numeric(results, "Prop._h2_std_error", "results")
    diff = h2 - snps
    order = np.argsort(diff, kind="stable")
    fig = _figure(8.0, min(40.0, max(2.4, 1.2 + 0.26 * len(results))))
    ax = fig.subplots()
    y = np.arange(len(order))
    d = diff[order]
    err = np.where(np.isfinite(se[order]), 1.96 * se[order], 0.0)
    ax.errorbar(d, y, xerr=err, fmt="o", color="black", ecolor=_NEG, capsize=2, ms=4)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, [_label(c) for c in results["Category"].to_numpy()[order]], fontsize=8)
    ax.set_xlabel("Prop._h2 - Prop._SNPs (95% interval: 1.96 jackknife SE)")
    ax.set_title("Heritability enrichment under the learned prior")
    rows = []
    for i in order[::-1]:
        r = results.iloc[i]
        rows.append(
            [
                (str(r["Category"]), False),
                (_fmt(r["Prop._SNPs"], ".4f"), True),
                (_fmt(r["Prop._h2"], ".4f"), True),
                (_fmt(r["Prop._h2_std_error"], ".4f"), True),
                (_fmt(r["Enrichment"], ".3f"), True),
                (_fmt(r["Enrichment_std_error"], ".3f"), True),
                (_fmt(r["Enrichment_p"], ".3g"), True),
            ]
        )
    return "\n".join(
        [
            _png(fig),
            _table(["annotation", "Prop. SNPs", "Prop. h2", "SE", "enrichment", "SE", "p"], rows),
            _note(
                "S-LDSC definitions (docs/enrich.md); SEs by the block jackknife over LD "
                "windows with refits (delete-one block, or delete-half for a network prior); "
                "p tests enrichment = 1."
            ),
        ]
    )


def _diagnostics_section(table: pd.DataFrame) -> str:
    """The constant prior's fit per training window: the low- vs high-variance-half excess (the
    LD-mismatch signature, docs/mismatch.md) and the worst-fitting windows."""
    low = float(np.nanmedian(table["excess_low"]))
    high = float(np.nanmedian(table["excess_high"]))
    ratio = low / high if high > 0 else float("nan")
    note = _note(
        f"Median over {len(table)} training windows of the mean standardised square of the "
        f"projected z-scores under the best constant prior: {high:.2f} in the upper half of each "
        f"window's LD spectrum, {low:.2f} in the lower half (ratio {ratio:.2f}; 1 when the LD "
        "model fits; above 2 the panel's LD is not the GWAS's: docs/mismatch.md). Windows below, "
        "worst fit first (strong loci also fit a constant prior poorly)."
    )
    worst = table.sort_values("p", kind="stable").head(15)
    rows = (
        [
            (f"chr{r.CHR}:{r.start}-{r.stop}", False),
            (f"{r.rank}", True),
            (f"{r.chi2:.1f}", True),
            (f"{r.p:.2g}", True),
            (f"{r.excess_high:.2f}", True),
            (f"{r.excess_low:.2f}", True),
        ]
        for r in worst.itertuples(index=False)
    )
    header = ["window", "directions", "chi2", "p", "excess (upper half)", "excess (lower half)"]
    return note + _table(header, rows)


def _truth_section(truth: pd.DataFrame) -> str:
    if len(truth) == 0:
        return _note("The truth table is empty.")
    x = _numeric(truth, "log_snpvar_true", "truth")
    y = _numeric(truth, "log_snpvar_learned", "truth")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return _note("Fewer than two variants have finite true and learned SNPVAR.")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")

    fig = _figure(5.6, 5.0)
    ax = fig.subplots()
    if len(x) > _HEXBIN_ABOVE:
        hb = ax.hexbin(x, y, gridsize=60, bins="log", mincnt=1, cmap="viridis")
        fig.colorbar(hb, ax=ax, label="variants (log scale)")
    else:
        ax.scatter(x, y, s=6, alpha=0.5, color=_POS, linewidths=0)
    lo = float(min(x.min(), y.min()))
    hi = float(max(x.max(), y.max()))
    pad = 0.02 * (hi - lo) if hi > lo else 1.0
    ax.plot(
        [lo - pad, hi + pad], [lo - pad, hi + pad], color="black", lw=0.9, ls="--", label="y = x"
    )
    ax.set_xlabel("true log SNPVAR")
    ax.set_ylabel("learned log SNPVAR")
    r_text = "n/a" if not math.isfinite(r) else f"{r:.3f}"
    ax.set_title(f"Learned vs true log SNPVAR\nPearson r = {r_text} ({len(x):,} variants)")
    ax.legend(frameon=False, loc="upper left")
    out = [_png(fig)]
    if not ok.all():
        out.append(_note(f"{int((~ok).sum())} variant(s) with a non-finite value are not drawn."))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------------


def write_report(
    path: str | os.PathLike[str],
    *,
    metrics: dict[str, Any],
    history: pd.DataFrame,
    window_gains: pd.DataFrame,
    enrichment: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    diagnostics: pd.DataFrame | None = None,
    title: str = "deepwas fit",
    enrichment_results: pd.DataFrame | None = None,
) -> None:
    """Write the self-contained HTML report of a fit.

    Parameters
    ----------
    path:
        The ``.html`` file to write (replaced atomically; parent folders are created).
    metrics:
        The ``metrics.json`` dict (:meth:`deepwas.metrics.FitMetrics.to_dict`): ``heldout_loglik``,
        ``heldout_loglik_constant``, ``heldout_n_snps``, ``heldout_gain``,
        ``heldout_gain_per_1000``, ``train_loglik``, ``h2``, ``sigma``, ``objective``, ``model``,
        ``n_params``, ``seconds``; optionally ``truth_pearson``, ``truth_spearman``, ``h2_true``
        and ``provenance`` (a JSON-able dict). Missing or non-finite values show as ``n/a``.
    history:
        ``(n_epochs, >=3)``: ``epoch``, ``train_objective``, ``val_objective`` (NaN allowed) and
        optionally ``val_loglik`` (nats).
    window_gains:
        ``(n_heldout_windows, 6)``: ``window``, ``CHR``, ``start``, ``stop``, ``n_scored``,
        ``gain`` (held-out log-likelihood of the model minus that of the constant prior, nats).
    enrichment:
        ``(n_annotations, 5)``: ``annotation``, ``mean_snpvar_in``, ``mean_snpvar_out``,
        ``enrichment`` (in / overall mean) and ``kind`` (``"binary"``/``"continuous"``, optional).
    truth:
        ``(n_snps, 2)``: ``log_snpvar_true``, ``log_snpvar_learned``; simulations only.
    diagnostics:
        The LD-mismatch diagnostics of the training windows
        (:func:`deepwas.diagnostics.window_diagnostics`): ``window CHR start stop rank chi2 p
        excess_high excess_low``.
    title:
        Heading and ``<title>`` of the page.
    enrichment_results:
        The S-LDSC ``.results`` table with jackknife SEs (:func:`deepwas.enrichment`); when
        given, the enrichment section shows it with 95% intervals instead of ``enrichment``'s
        point estimates.

    Raises
    ------
    InputError
        A table with rows lacks a required column or has a non-numeric value where a number is
        expected. Nothing is written.

    Notes
    -----
    The held-out gains are shown as given (:attr:`deepwas.metrics.FitMetrics.heldout_gain` defines
    them). log2 enrichment is drawn only for enrichment > 0. A table with no rows gives
    a short note in place of its figure. The truth plot is a scatter up to 5,000 variants and a
    log-count hexbin above.
    """
    if not isinstance(metrics, dict):
        raise InputError(
            f"expected a dict, got {type(metrics).__name__}",
            column="metrics",
            fix="pass metrics.json",
        )
    _check_columns(history, ["epoch", "train_objective", "val_objective"], "history")
    _check_columns(
        window_gains, ["window", "CHR", "start", "stop", "n_scored", "gain"], "window_gains"
    )
    _check_columns(
        enrichment, ["annotation", "mean_snpvar_in", "mean_snpvar_out", "enrichment"], "enrichment"
    )
    if truth is not None:
        _check_columns(truth, ["log_snpvar_true", "log_snpvar_learned"], "truth")

    sections = [
        ("Summary", _summary(metrics)),
        ("Training curves", _history_section(history)),
        ("Held-out gain per window", _gains_section(window_gains)),
        (
            (
                "Heritability enrichment (95% intervals)",
                enrichment_results_section(enrichment_results),
            )
            if enrichment_results is not None
            else ("Annotation enrichment", _enrichment_section(enrichment))
        ),
    ]
    if truth is not None:
        sections.append(("Learned vs true SNPVAR", _truth_section(truth)))
    if diagnostics is not None and len(diagnostics):
        _check_columns(
            diagnostics,
            ["window", "CHR", "start", "stop", "rank", "chi2", "p", "excess_high", "excess_low"],
            "diagnostics",
        )
        sections.append(("LD-mismatch diagnostics", _diagnostics_section(diagnostics)))

    write_page(path, title, sections)


def write_page(
    path: str | os.PathLike[str], title: str, sections: Sequence[tuple[str, str]]
) -> None:
    """A self-contained HTML page of (heading, HTML fragment) sections, written atomically."""
    body = "\n".join(
        f"<section><h2>{_esc(h)}</h2>\n{content}\n</section>" for h, content in sections
    )
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
    with atomic_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
