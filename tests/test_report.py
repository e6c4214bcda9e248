"""Tests of the self-contained HTML report (deepwas.report)."""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas import report
from deepwas.errors import InputError
from deepwas.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _metrics() -> dict:
    return {
        "heldout_loglik": -1234.5678,
        "heldout_loglik_constant": -1250.0,
        "heldout_n_snps": 4000,
        # as deepwas.metrics.FitMetrics.to_dict writes them
        "heldout_gain": -1234.5678 + 1250.0,
        "heldout_gain_per_1000": 1000 * (-1234.5678 + 1250.0) / 4000,
        "train_loglik": -5678.9,
        "h2": 0.2345,
        "sigma": 1.0123,
        "objective": "likelihood",
        "model": "mlp",
        "n_params": 12345,
        "seconds": 42.25,
        "truth_pearson": 0.8123,
        "truth_spearman": 0.7654,
        "h2_true": 0.25,
        "provenance": {"version": "0.1.0", "argv": ["deepwas", "fit", "--out", "<o&d>"]},
    }


def _history(n: int = 6) -> pd.DataFrame:
    epoch = np.arange(n)
    val = 2.0 - 0.05 * epoch
    val[0] = np.nan  # no validation before the first epoch
    return pd.DataFrame(
        {
            "epoch": epoch,
            "train_objective": 2.0 - 0.1 * epoch,
            "val_objective": val,
            "val_loglik": -1300.0 + 10.0 * epoch,
        }
    )


def _window_gains() -> pd.DataFrame:
    # Deliberately out of genomic order; chr10 must sort after chr2.
    return pd.DataFrame(
        {
            "window": ["w3", "w1", "w2", "w4"],
            "CHR": [10, 2, 2, "X"],
            "start": [5_000_000, 3_000_000, 1_000_000, 100],
            "stop": [6_000_000, 4_000_000, 2_000_000, 900_000],
            "n_scored": [1000, 1200, 800, 1000],
            "gain": [3.5, -1.25, 10.0, 3.1822],
        }
    )


def _enrichment() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "annotation": ["Coding_UCSC", "<script>", "Conserved$LindbladToh", "zero"],
            "mean_snpvar_in": [4e-6, 1e-6, 2e-6, 0.0],
            "mean_snpvar_out": [1e-6, 1e-6, 1e-6, 1e-6],
            "enrichment": [4.0, 0.5, 2.0, 0.0],
            "kind": ["binary", "binary", "continuous", "binary"],
        }
    )


def _truth(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.normal(-12.0, 1.0, n)
    return pd.DataFrame({"log_snpvar_true": t, "log_snpvar_learned": t + rng.normal(0, 0.5, n)})


def _write(path: Path, **overrides) -> str:
    kwargs = dict(
        metrics=_metrics(),
        history=_history(),
        window_gains=_window_gains(),
        enrichment=_enrichment(),
        truth=_truth(),
        title="fit <demo> & co",
    )
    kwargs.update(overrides)
    write_report(path, **kwargs)
    return path.read_text(encoding="utf-8")


def test_full_report_is_self_contained(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.html"
    text = _write(path)
    assert path.exists()

    images = IMG_RE.findall(text)
    assert len(images) == 4
    assert text.count('<img src="data:image/png;base64,') == 4
    for img in images:
        assert base64.b64decode(img)[:8] == PNG_MAGIC

    # Metric values, formatted as the summary table shows them.
    for value in ["mlp", "likelihood", "-1234.568", "-1250.000", "5678.900", "0.2345", "1.012"]:
        assert value in text, value
    assert "12,345" in text and "42.2" in text and "4,000" in text
    gain = -1234.5678 + 1250.0
    assert f"{gain:+.3f}" in text  # total gain
    assert f"{1000 * gain / 4000:+.4f}" in text  # per 1,000 held-out variants
    assert "0.812" in text and "0.765" in text  # truth correlations
    total_gain = 3.5 - 1.25 + 10.0 + 3.1822
    assert f"<b>{total_gain:+.3f} nats</b> over 4,000 scored variants in 4 windows" in text
    assert f"{3.1822:+.3f}" in text  # per-window table

    # Provenance in a collapsible block, escaped.
    assert "<details><summary>Provenance</summary>" in text
    assert "&lt;o&amp;d&gt;" in text and "<o&d>" not in text

    # Every piece of user text escaped: no raw tag, and the title escaped in <title> and <h1>.
    assert "&lt;script&gt;" in text
    assert "<script" not in text.lower()
    assert "<title>fit &lt;demo&gt; &amp; co</title>" in text
    assert "Conserved$LindbladToh" in text  # `$` fine in HTML; escaped only for matplotlib

    # Nothing external: no links, stylesheets or scripts fetched from anywhere.
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and 'src="//' not in text


def test_png_metadata_carries_no_url(tmp_path: Path) -> None:
    text = _write(tmp_path / "r.html")
    for img in IMG_RE.findall(text):
        assert b"http" not in base64.b64decode(img)


def test_enrichment_table_ordered_and_log2(tmp_path: Path) -> None:
    text = _write(tmp_path / "r.html")
    # Most enriched first; log2(4) = +2, log2(0.5) = -1; enrichment 0 has no log2.
    i_coding, i_cons, i_script = (
        text.index("Coding_UCSC"),
        text.index("Conserved$LindbladToh"),
        text.index("&lt;script&gt;"),
    )
    assert i_coding < i_cons < i_script
    assert "+2.000" in text and "-1.000" in text
    assert "1 annotation(s) with enrichment &lt;= 0 or n/a not drawn" in text


def test_without_truth_three_images(tmp_path: Path) -> None:
    text = _write(tmp_path / "r.html", truth=None)
    assert len(IMG_RE.findall(text)) == 3
    assert "Learned vs true" not in text


def test_empty_window_gains_gives_note(tmp_path: Path) -> None:
    text = _write(tmp_path / "r.html", window_gains=pd.DataFrame())
    assert "No held-out windows" in text
    assert len(IMG_RE.findall(text)) == 3


def test_empty_enrichment_and_history_give_notes(tmp_path: Path) -> None:
    empty_cols = pd.DataFrame(columns=["annotation", "mean_snpvar_in", "mean_snpvar_out"])
    text = _write(
        tmp_path / "r.html",
        enrichment=empty_cols,
        history=pd.DataFrame(),
        window_gains=_window_gains().iloc[:0],
        truth=None,
    )
    assert "No annotations" in text
    assert "No training history" in text
    assert "No held-out windows" in text
    assert len(IMG_RE.findall(text)) == 0


def test_missing_and_nonfinite_metrics_show_na(tmp_path: Path) -> None:
    metrics = {"model": "constant", "heldout_loglik": float("nan"), "h2": None}
    text = _write(tmp_path / "r.html", metrics=metrics, truth=None)
    assert "n/a" in text
    assert "Provenance" not in text


def test_calibrated_small_panel_model_is_reported(tmp_path: Path) -> None:
    metrics = {
        **_metrics(),
        "ld_model": "calibrated",
        "h2_scale": 1.8696,
        "h2_uncalibrated": 0.1254,
        "sigma_diagonal": 1.0285,
    }
    text = _write(tmp_path / "r.html", metrics=metrics)
    for shown in ("calibrated", "1.87", "0.1254", "1.028", "calibration factor"):
        assert shown in text, shown
    plain = _write(tmp_path / "p.html", metrics=_metrics())
    assert "calibration factor" not in plain and ">full<" in plain


def test_history_without_val_loglik_and_all_nan_validation(tmp_path: Path) -> None:
    h = _history().drop(columns="val_loglik")
    h["val_objective"] = np.nan
    text = _write(tmp_path / "r.html", history=h, truth=None)
    assert len(IMG_RE.findall(text)) == 3


def test_large_truth_uses_hexbin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    from matplotlib.axes import Axes

    orig_hexbin = Axes.hexbin

    def spy(self, *args, **kwargs):
        calls.append("hexbin")
        return orig_hexbin(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "hexbin", spy)
    truth = _truth(n=6000)
    truth.loc[0, "log_snpvar_learned"] = -math.inf  # SNPVAR of 0 -> dropped with a note
    text = _write(tmp_path / "r.html", truth=truth)
    assert calls == ["hexbin"]
    assert "1 variant(s) with a non-finite value are not drawn" in text
    assert len(IMG_RE.findall(text)) == 4


def test_missing_column_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    with pytest.raises(InputError, match=r"column 'history'.*epoch"):
        _write(path, history=_history().drop(columns="epoch"))
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_non_numeric_value_raises(tmp_path: Path) -> None:
    g = _window_gains()
    g["gain"] = g["gain"].astype(object)
    g.loc[0, "gain"] = "big"
    with pytest.raises(InputError, match="window_gains.*'gain' is not numeric"):
        _write(tmp_path / "r.html", window_gains=g)
    assert not (tmp_path / "r.html").exists()


def test_failure_midway_keeps_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("old report", encoding="utf-8")
    n = {"png": 0}
    orig_png = report._png

    def failing_png(fig):
        n["png"] += 1
        if n["png"] == 3:
            raise RuntimeError("disk on fire")
        return orig_png(fig)

    monkeypatch.setattr(report, "_png", failing_png)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _write(path)
    assert path.read_text(encoding="utf-8") == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_failure_while_writing_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "report.html"

    def half_write(self: Path, data: str, *args, **kwargs) -> int:
        with open(self, "w", encoding="utf-8") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError("no space left on device")

    monkeypatch.setattr(Path, "write_text", half_write)
    with pytest.raises(OSError, match="no space"):
        write_report(
            path,
            metrics=_metrics(),
            history=_history(),
            window_gains=_window_gains(),
            enrichment=_enrichment(),
        )
    assert list(tmp_path.iterdir()) == []


def test_escape_helper_matches_html_escape() -> None:
    s = "<a href=\"x\">'&'</a>"
    assert report._esc(s) == html.escape(s, quote=True)
