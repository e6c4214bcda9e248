"""The outputs of ``deepwas synth evaluate``: ``metrics.json`` and a self-contained ``report.html``.

The page reuses the figure and page helpers of :mod:`deepwas.report` (PNG figures inlined as
base64, no ``pyplot``, inputs HTML-escaped, written atomically). Figures: allele frequencies, LD
decay, LD scores, the real panel's first two PCs and the distance distributions. Each file is
written with :func:`deepwas._files.atomic_file`; non-finite numbers become JSON ``null``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from deepwas._files import atomic_file
from deepwas.report import _esc, _figure, _fmt, _note, _png, _table, write_page

__all__ = ["write_outputs", "SUMMARY_ROWS"]

_REAL, _SYN = "#2b6cb0", "#c05621"

# (metric, label, target) rows of the summary table, in the order
SUMMARY_ROWS = [
    ("af_r", "allele-frequency r", ">= 0.99"),
    ("af_mae", "allele-frequency mean abs error", "small"),
    ("af_r_train", "allele-frequency r vs the training panel", ">= 0.99"),
    ("ld_r2_corr", "LD r^2 correlation (windows)", ">= 0.95"),
    ("ld_r2_corr_train", "LD r^2 correlation vs the training panel", ">= 0.95"),
    ("ldscore_rel_error_median", "LD-score relative error (median)", "small"),
    ("ldscore_r", "LD-score r", "near 1"),
    ("pca_energy_distance", "PCA energy distance (top PCs, real SDs)", "near 0"),
    ("dist_w1_rr_ss", "W1 distance real-real vs syn-syn distances", "near 0"),
    ("aats", "nearest-neighbour adversarial accuracy (AATS)", "0.5 +- 0.1"),
    ("aa_real", "AATS, real side (real's nearest is real)", "0.5"),
    ("aa_synthetic", "AATS, synthetic side (synthetic's nearest is synthetic)", "0.5"),
    ("privacy_loss", "privacy loss (AATS test - train)", "<= 0.05"),
    ("exact_copy_rate", "exact copies of training individuals", "0"),
    ("dcr_ratio", "distance-to-closest-record ratio (syn / held-out)", "near 1"),
]


def _clean(x: Any) -> Any:
    """JSON-able: arrays to lists, non-finite floats to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _summary(metrics: dict[str, Any]) -> str:
    rows = [
        [(label, False), (_fmt(metrics.get(key), ".4g"), True), (target, False)]
        for key, label, target in SUMMARY_ROWS
        if key in metrics
    ]
    sizes = (
        f"{metrics.get('n_real')} held-out real and {metrics.get('n_synthetic')} synthetic "
        f"individuals, {metrics.get('n_variants')} variants."
    )
    return f"<p>{_esc(sizes)}</p>" + _table(["metric", "value", "target"], rows)


def _af_figure(af: tuple[np.ndarray, np.ndarray]) -> str:
    fr, fs = af
    ok = np.isfinite(fr) & np.isfinite(fs)
    fig = _figure(4.5, 4.2)
    ax = fig.add_subplot()
    ax.scatter(fr[ok], fs[ok], s=3, alpha=0.4, color=_SYN, rasterized=True)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set(xlabel="A1 frequency, real", ylabel="A1 frequency, synthetic", xlim=(0, 1), ylim=(0, 1))
    return _png(fig)


def _decay_figure(decay: Any) -> str:
    if not len(decay) or not np.isfinite(decay["r2_real"].to_numpy(dtype=float)).any():
        return _note("No SNP pairs within the LD windows.")
    mid = (decay["lo_bp"].to_numpy() + decay["hi_bp"].to_numpy()) / 2e3
    fig = _figure(6, 3.6)
    ax = fig.add_subplot()
    ax.plot(mid, decay["r2_real"], "o-", color=_REAL, label="real (held out)")
    ax.plot(mid, decay["r2_synthetic"], "s--", color=_SYN, label="synthetic")
    ax.set_xscale("log")
    ax.set(xlabel="distance (kb, bin centre)", ylabel="mean r^2 (bias-adjusted)")
    ax.legend()
    table = _table(
        ["bin (bp)", "pairs", "r^2 real", "r^2 synthetic"],
        [
            [
                (f"[{r.lo_bp:,}, {r.hi_bp:,})", False),
                (f"{r.n_pairs:,}", True),
                (_fmt(r.r2_real, ".4f"), True),
                (_fmt(r.r2_synthetic, ".4f"), True),
            ]
            for r in decay.itertuples()
        ],
    )
    return _png(fig) + table


def _ldscore_figure(scores: tuple[np.ndarray, np.ndarray]) -> str:
    lr, ls = scores
    ok = np.isfinite(lr) & np.isfinite(ls)
    if not ok.any():
        return _note("No SNP polymorphic in both panels.")
    fig = _figure(4.5, 4.2)
    ax = fig.add_subplot()
    ax.scatter(lr[ok], ls[ok], s=3, alpha=0.4, color=_SYN, rasterized=True)
    top = float(max(lr[ok].max(), ls[ok].max()))
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.set(xlabel="LD score, real", ylabel="LD score, synthetic")
    return _png(fig)


def _pca_figure(scores: tuple[np.ndarray, np.ndarray]) -> str:
    sr, ss = scores
    if sr.shape[1] < 2:
        return _note("Fewer than two principal components.")
    fig = _figure(4.8, 4.2)
    ax = fig.add_subplot()
    ax.scatter(ss[:, 0], ss[:, 1], s=5, alpha=0.35, color=_SYN, label="synthetic")
    ax.scatter(sr[:, 0], sr[:, 1], s=9, alpha=0.8, color=_REAL, label="real (held out)")
    ax.set(xlabel="PC1 of the real panel (SD units)", ylabel="PC2 (SD units)")
    ax.legend()
    return _png(fig)


def _distance_figure(dist: dict[str, np.ndarray]) -> str:
    fig = _figure(6, 3.6)
    ax = fig.add_subplot()
    labels = {"real_real": "real-real", "syn_syn": "synthetic-synthetic", "real_syn": "real-syn"}
    values = [v for v in dist.values() if v.size]
    if not values:
        return _note("No pairs of individuals.")
    bins = np.linspace(min(v.min() for v in values), max(v.max() for v in values), 60)
    for key, label in labels.items():
        if dist[key].size:
            ax.hist(dist[key], bins=bins, density=True, histtype="step", lw=1.5, label=label)
    ax.set(xlabel="mean absolute dosage difference", ylabel="density")
    ax.legend()
    return _png(fig)


def write_outputs(out: Path, record: dict[str, Any], curves: dict[str, Any]) -> None:
    """Write ``out/metrics.json`` (``record``) and ``out/report.html`` (``curves`` as figures).

    Parameters
    ----------
    out:
        The output folder (created if needed).
    record:
        ``metrics``, ``ld_decay``, ``panels`` and ``provenance`` (JSON-able after cleaning).
    curves:
        ``ld_decay`` (DataFrame), ``af`` and ``ldscores`` (pairs of (p,) arrays), ``pca`` (pair of
        score matrices) and ``distances`` (dict of 1-d arrays), as
        :func:`deepwas.synth.evaluate.evaluate_panels` returns them.
    """
    text = json.dumps(_clean(record), indent=2, allow_nan=False)
    with atomic_file(out / "metrics.json") as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    metrics = record["metrics"]
    sections = [
        ("Summary", _summary(metrics)),
        ("Allele frequencies", _af_figure(curves["af"])),
        ("LD decay", _decay_figure(curves["ld_decay"])),
        ("LD scores (1 Mb windows)", _ldscore_figure(curves["ldscores"])),
        ("Projection on the real panel's principal components", _pca_figure(curves["pca"])),
        ("Distances between individuals", _distance_figure(curves["distances"])),
        (
            "Provenance",
            f"<pre>{_esc(json.dumps(_clean(record['provenance']), indent=2))}</pre>",
        ),
    ]
    write_page(out / "report.html", "Synthetic panel evaluation", sections)
