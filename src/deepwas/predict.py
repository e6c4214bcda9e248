"""A saved prior applied to new annotation files: SNPVAR for any annotated variants (other
variants, another build, another trait than the fit's), with or without an LD store.

A prior folder (``FIT/model/``, :func:`deepwas.save_prior`) is a versioned artefact: its
``config.json`` holds the feature names, their standardisation (training mean and scale) and the
provenance of the fit, so applying it needs only the annotations by name. The allele-frequency
feature ``log_2pq`` comes from the LD store (``ld``, by SNP: exactly what ``deepwas fit`` used)
or else from an allele-frequency column of the annotation file (``MAF``, ``FRQ``, ``AF``,
``AF1``, ``EAF``, ``A1FREQ``); a variant without a frequency gets the training mean of
``log_2pq`` (the prior of a variant of average frequency), and is counted in the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["predict_prior", "run_predict"]

_AF_COLUMNS = ("MAF", "FRQ", "AF", "AF1", "EAF", "A1FREQ")


def predict_prior(prior, annotations, *, store=None, fasta=None) -> tuple[pd.DataFrame, list[str]]:
    """SNPVAR of every annotated variant under a saved prior.

    Parameters
    ----------
    prior: deepwas.priors.Prior
        From :func:`deepwas.load_prior`.
    annotations: deepwas.io.annotations.AnnotationSet
        Read with ``keep_maf=True`` when the frequency should come from the file; it must have
        every annotation of the prior (by name, any order, extra columns ignored).
    store: deepwas.LDStore, optional
        Gives ``log_2pq`` by SNP (and the alleles of annotation files without them); with a
        store the values equal those of :func:`deepwas.predict_snpvar` for annotated variants.
    fasta: path, optional
        For a prior with a DNA branch: the reference to read the bases from (default: the one
        named in its config, where it was trained).

    Returns
    -------
    predictions: pandas.DataFrame, (n_variants, 6)
        ``CHR SNP BP A1 A2 SNPVAR`` in the order of the annotation rows (alleles ``NA`` where
        unknown).
    report: list[str]

    Raises
    ------
    InputError
        An annotation of the prior is missing from the file (one line naming the first ones).
    """
    import torch

    from deepwas.features import log_2pq
    from deepwas.priors import check_features

    names = list(prior.config.feature_names)
    check_features(
        prior,
        annotations.names,
        file=annotations.source,
        fix="pass annotation files with every annotation the prior was trained on "
        "(model/config.json lists them under feature_names)",
    )
    n = annotations.n_variants
    report = [f"{n:,} annotated variants"]
    columns = []
    for name in names:
        if name != "log_2pq":
            columns.append(annotations.values[:, annotations.names.index(name)])
            continue
        af = np.full(n, np.nan)
        snps = annotations.variants["SNP"].astype(str) if "SNP" in annotations.variants else None
        if store is not None and "AF1" in store.variants and snps is not None:
            by_snp = store.variants.drop_duplicates("SNP").set_index("SNP")["AF1"]
            af = by_snp.reindex(snps).to_numpy(np.float64)
            source = "the LD store"
        else:
            col = next((c for c in _AF_COLUMNS if c in annotations.names), None)
            if col is not None:
                af = annotations.values[:, annotations.names.index(col)].astype(np.float64)
            source = f"the column {col}" if col else "nowhere (no store, no frequency column)"
        f = log_2pq(af)
        lacking = ~np.isfinite(f)
        if lacking.any():
            f[lacking] = prior.config.feature_mean[names.index("log_2pq")]
            line = (
                f"allele frequency from {source}; {int(lacking.sum()):,} variants without one "
                "get the training mean of log_2pq"
            )
            if lacking.mean() > 0.1:  # the prior's frequency dependence is mostly lost
                line = (
                    f"warning: {line}, so their SNPVAR ignores their frequency (give --ld "
                    "STORE, the store the prior was fitted on, or a MAF column in the "
                    "annotation file)"
                )
            report.append(line)
        else:
            report.append(f"allele frequency from {source}")
        columns.append(f)
    feats = np.column_stack(columns) if columns else np.zeros((n, 0))
    positions = None
    if prior.uses_positions:
        from deepwas.data import prior_positions

        positions = prior_positions(
            prior, annotations.variants, file=annotations.source, fasta=fasta, store=store
        )
        if prior.family.uses_positions:
            report.append(
                f"neighbourhoods from the {n:,} annotated variants "
                f"(+-{prior.config.window_kb:g} kb)"
            )
    snpvar = torch.exp(prior.predict(feats, positions)).numpy()
    out = annotations.variants.copy()
    for col in ("CHR", "SNP", "BP"):
        if col not in out:
            out[col] = pd.NA
    for col in ("A1", "A2"):
        if col not in out:
            if store is not None and "SNP" in out:
                by_snp = store.variants.drop_duplicates("SNP").set_index("SNP")[col]
                out[col] = out["SNP"].astype(str).map(by_snp).fillna("NA")
            else:
                out[col] = "NA"
    return out[["CHR", "SNP", "BP", "A1", "A2"]].assign(SNPVAR=snpvar), report


def _fit_store(model: Path) -> str | None:
    """The LD store the prior of ``model`` (a fit's ``model/`` folder) was fitted on, from the
    fit's ``metrics.json`` (:func:`deepwas.fit_folder.fit_settings`), when it is still there;
    else None."""
    from deepwas.errors import InputError
    from deepwas.fit_folder import fit_settings

    try:
        ld = fit_settings(model.parent).ld
    except InputError:  # not a fit's model/, or a fit that records no store
        return None
    return ld if (Path(ld) / "manifest.json").is_file() else None


def run_predict(
    model: str | Path,
    annot: str | list[str],
    out: str | Path,
    *,
    bim: str | None = None,
    ld: str | None = None,
    fasta: str | None = None,
    argv: list[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """``deepwas predict``: read a prior folder (or the fit folder holding it) and annotation
    files, write ``out`` (a tab-separated ``CHR SNP BP A1 A2 SNPVAR`` table, gzipped when it
    ends in ``.gz``, atomically) and ``out`` + ``.json`` (provenance). Without ``ld`` and
    without a frequency column in the annotations, the allele frequencies come from the store
    the fit used (its ``metrics.json``) when it is still there. Returns the table and the report
    lines."""
    import json

    from deepwas._files import atomic_file
    from deepwas.io.annotations import read_annotations
    from deepwas.prior_files import load_prior, prior_folder
    from deepwas.provenance import provenance

    model = prior_folder(model)
    prior = load_prior(model)
    annotations = read_annotations(annot, bim=bim, keep_maf=True)
    if ld is None and not any(c in annotations.names for c in _AF_COLUMNS):
        ld = _fit_store(model)  # the frequencies the fit used, as `deepwas fit` saw them
    store = None
    if ld is not None:
        from deepwas.ld.store import LDStore

        store = LDStore.open(ld)
    table, report = predict_prior(prior, annotations, store=store, fasta=fasta)
    record = provenance(
        inputs={
            "model": Path(model) / "config.json",
            "annot": annot,
            **({"ld": Path(ld) / "manifest.json"} if ld else {}),
        },
        argv=argv,
        n_variants=len(table),
        report=report,
    )
    out = Path(out)
    with atomic_file(out) as tmp:
        table.to_csv(
            tmp,
            sep="\t",
            index=False,
            float_format="%.6g",
            compression="gzip" if out.name.endswith(".gz") else None,
        )
    with atomic_file(str(out) + ".json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return table, report
