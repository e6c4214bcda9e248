"""Everything a fit needs, assembled once: the trait's windows on the LD store, the prior's features
for every store variant, the split into training / validation / held-out windows
(:func:`prepare_fit` does all three), and (for the LDSC objective) the squared LD of each window;
and the other direction, a trained prior's SNPVAR for any annotated variants
(:func:`predict_snpvar`).

Features are the annotations matched to the store's variants plus ``log_2pq``, log(2 p (1 - p))
of the panel allele frequency (the allele-frequency term of the alpha model, whose weight a linear
prior learns). Store variants without annotations get each annotation's mean over the annotated
variants (the prior of an average variant) and are counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.features import log_2pq
from deepwas.ld.trait import TraitData
from deepwas.priors import check_features

__all__ = [
    "FitData",
    "LdscWindow",
    "prepare_fit",
    "predict_snpvar",
    "build_features",
    "split_windows",
    "ldsc_windows",
    "truth_table",
    "log_2pq",
]


@dataclass
class LdscWindow:
    """Squared LD of one window for the LDSC objective (DESIGN 2.3).

    R2: (n_scored, n_context) float64; r_diag: (n_scored,); chi2: (n_scored,)
    """

    R2: np.ndarray
    r_diag: np.ndarray
    chi2: np.ndarray


@dataclass
class FitData:
    """A trait ready to fit (:func:`prepare_fit` builds one).

    Attributes
    ----------
    trait: TraitData (all windows)
    features: (n_store_variants, n_features) float64, raw (unstandardised)
    feature_names: list[str], (n_features,)
    train, val, test: list[int]
        Positions in ``trait.windows``: training, validation (early stopping) and held-out
        windows.
    report: list[str]
        What was read and how it was split, one line each.
    store: deepwas.LDStore or None
        The LD store of the trait (the LDSC objective reads its squared LD).
    positions: (n_store_variants, 2) float64 or None
        ``CHR`` and ``BP`` of the store variants, for priors that see the neighbourhood
        (``ssm``); None when unknown.
    """

    trait: TraitData
    features: np.ndarray
    feature_names: list[str]
    train: list[int]
    val: list[int]
    test: list[int]
    report: list[str] = field(default_factory=list)
    store: Any = field(default=None, repr=False)
    positions: np.ndarray | None = field(default=None, repr=False)

    def subset(self, positions: list[int]) -> TraitData:
        """The trait restricted to the windows at ``positions``."""
        return replace(self.trait, windows=[self.trait.windows[i] for i in positions])


def build_features(
    store, annot, *, file: str | None = None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Annotations matched to the store's variants, plus the allele-frequency feature.

    Returns (features (M, k + 1), names, report lines).
    """
    from deepwas.io.annotations import match_annotations

    values, found, report = match_annotations(annot, store.variants, file=file)
    values = np.array(values, dtype=np.float64)
    n_missing = int((~found).sum())
    if n_missing:
        means = np.nanmean(values[found], axis=0)
        values[~found] = means
        report = [
            *report,
            f"{n_missing:,} store variants without annotations get the mean annotation values",
        ]
    af = store.variants["AF1"].to_numpy(np.float64) if "AF1" in store.variants else None
    if af is None or not np.isfinite(af).any():
        return values, list(annot.names), report
    f = log_2pq(af)
    f[~np.isfinite(f)] = np.nanmean(f)
    return np.column_stack([values, f]), [*annot.names, "log_2pq"], report


def split_windows(
    trait: TraitData,
    *,
    test_chrom: list[int] | None = None,
    test_blocks: float | None = None,
    val_fraction: float = 0.15,
    seed: int = 1,
) -> tuple[list[int], list[int], list[int]]:
    """Held-out windows (by chromosome or a random fraction of LD blocks), then a validation
    fraction of the rest for early stopping. Returns (train, val, test) window positions.

    Raises
    ------
    InputError
        When the split leaves nothing to train on or nothing to test.
    """
    n = len(trait.windows)
    chroms = np.array([w.chrom for w in trait.windows])
    rng = np.random.default_rng([seed, 7919])
    if test_chrom and test_blocks is not None:
        raise InputError("give --test-chrom or --test-blocks, not both", column="--test-chrom")
    if test_chrom:
        is_test = np.isin(chroms, test_chrom)
        where = f"chromosome(s) {','.join(map(str, test_chrom))}"
        if not is_test.any():
            raise InputError(
                f"no window is on the held-out {where} (the data cover "
                f"{','.join(map(str, sorted(set(chroms.tolist()))))})",
                column="--test-chrom",
                fix="hold out chromosomes the LD store and sumstats cover, or use --test-blocks",
            )
    elif test_blocks is not None:
        if not 0.0 < test_blocks < 1.0:
            raise InputError(
                f"--test-blocks must be in (0, 1), got {test_blocks}", column="--test-blocks"
            )
        n_test = int(round(test_blocks * n))
        if n_test == 0:
            raise InputError(
                f"--test-blocks {test_blocks} of {n} windows holds out none",
                column="--test-blocks",
                fix="raise the fraction or use more windows",
            )
        is_test = np.zeros(n, bool)
        is_test[rng.choice(n, size=n_test, replace=False)] = True
        where = f"{n_test} random windows"
    else:
        is_test = np.zeros(n, bool)
        where = "nothing"
    rest = np.flatnonzero(~is_test)
    if rest.size == 0:
        raise InputError(
            f"holding out {where} leaves no window to train on",
            column="--test-chrom" if test_chrom else "--test-blocks",
            fix="hold out fewer chromosomes or a smaller fraction",
        )
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(
            f"--val-fraction must be in [0, 1), got {val_fraction}", column="--val-fraction"
        )
    n_val = int(round(val_fraction * rest.size)) if rest.size >= 4 else 0
    val = sorted(rng.choice(rest, size=n_val, replace=False).tolist()) if n_val else []
    train = sorted(set(rest.tolist()) - set(val))
    return train, val, sorted(np.flatnonzero(is_test).tolist())


def prepare_fit(
    trait: TraitData,
    annotations,
    store,
    *,
    test_chrom: list[int] | None = None,
    test_blocks: float | None = None,
    val_fraction: float = 0.15,
    split_seed: int = 1,
    file: str | None = None,
    fasta: str | None = None,
) -> FitData:
    """Features of every store variant and the split into training, validation and held-out
    windows: a trait ready for :func:`deepwas.train_prior` and :func:`deepwas.evaluate`.

    Parameters
    ----------
    trait: TraitData
        The trait on the store (:func:`deepwas.load_trait`).
    annotations: deepwas.io.annotations.AnnotationSet
        Annotations of (some of) the store's variants (:func:`deepwas.read_annotations`).
    store: deepwas.LDStore
        The LD store the trait was loaded on.
    test_chrom, test_blocks, val_fraction:
        Held-out chromosomes, or a fraction of the windows (LD blocks) held out at random, and
        the fraction of the rest kept for early stopping (see :func:`split_windows`).
    split_seed:
        Draws the held-out and validation windows.
    file:
        The annotation file to name in error messages (default ``annotations.source``).
    fasta:
        A reference FASTA (or 2bit): the ``positions`` then also carry the packed bases around
        each variant that the default DNA branch reads (:func:`deepwas.sequence.dna_columns`).

    Returns
    -------
    FitData
        With ``report``: the trait's and the annotations' report lines and the split's sizes.

    Raises
    ------
    InputError
        The annotations match no store variant, or the split leaves nothing to train on or
        nothing to hold out.
    """
    features, names, annot_report = build_features(store, annotations, file=file)
    train, val, test = split_windows(
        trait,
        test_chrom=test_chrom,
        test_blocks=test_blocks,
        val_fraction=val_fraction,
        seed=split_seed,
    )
    report = [
        *trait.report,
        *annot_report,
        f"windows: {len(train)} training, {len(val)} validation, {len(test)} held out",
    ]
    from deepwas.ssm import variant_positions

    positions = variant_positions(store.variants)
    if fasta is not None:
        from deepwas.sequence import dna_columns, sequence_spec

        flank = sequence_spec({"fasta": fasta})["flank_bp"]
        dna, line = dna_columns(fasta, store.variants, flank)
        positions = np.hstack([positions, dna])
        report.append(line)
    return FitData(
        trait,
        features,
        names,
        train,
        val,
        test,
        report=report,
        store=store,
        positions=positions,
    )


def prior_positions(
    prior, variants: pd.DataFrame, *, file=None, fasta=None, store=None
) -> np.ndarray | None:
    """The ``positions`` array ``prior`` reads for the rows of ``variants``.

    None for a prior that reads none; the (n, 2) ``CHR``, ``BP`` of
    :func:`deepwas.ssm.variant_positions` for a neighbourhood family (``ssm``); for a prior with
    a DNA branch, followed by the packed bases around each variant
    (:func:`deepwas.sequence.dna_columns`), read from ``fasta`` (default: the reference the
    prior was trained with). The bases need the alleles: ``A1`` and ``A2`` of ``variants``, or
    else those of ``store``'s variants with the same SNP (a variant with neither gets no DNA
    signal).
    """
    if not prior.uses_positions:
        return None
    from deepwas.ssm import variant_positions

    pos = variant_positions(variants, file=file)
    spec = prior.config.sequence
    if spec is None:
        return pos
    from deepwas.sequence import dna_columns

    lacking = [c for c in ("A1", "A2") if c not in variants]
    if lacking:
        by_snp = None
        if store is not None and "SNP" in variants:
            by_snp = store.variants.drop_duplicates("SNP").set_index("SNP")
        snps = variants["SNP"].astype(str) if by_snp is not None else None
        variants = variants.assign(
            **{c: snps.map(by_snp[c]) if snps is not None else "N" for c in lacking}
        )

    dna, _ = dna_columns(fasta or spec["fasta"], variants, spec["flank_bp"], file=file)
    return np.hstack([pos, dna])


def predict_snpvar(prior, annotations, store, *, store_features: np.ndarray | None = None):
    """A prior's SNPVAR for every annotated variant and every LD-store variant.

    Parameters
    ----------
    prior: deepwas.priors.Prior
        A trained prior (``TrainResult.prior`` or :func:`deepwas.load_prior`); it is run on the
        CPU.
    annotations: deepwas.io.annotations.AnnotationSet
        Annotated variants, also those absent from the store or the summary statistics; it must
        have every annotation the prior was trained on (by name, in any order).
    store: deepwas.LDStore
        Gives the allele frequency of the ``log_2pq`` feature (by SNP) and the alleles of
        variants whose annotations have none; store variants without annotations are predicted
        from their features in the fit.
    store_features: (n_store_variants, n_features) float64, optional
        ``FitData.features`` when already built (else rebuilt with :func:`build_features`).

    Returns
    -------
    pandas.DataFrame, (n, 6)
        ``CHR SNP BP A1 A2 SNPVAR`` (the PolyFun prior format): the annotated variants, then
        the store variants with no annotation row, sorted by ``CHR``, ``BP`` (stable).
        Alleles unknown to both sources are ``NA``.

    Raises
    ------
    InputError
        An annotation of the prior is missing, or the prior uses allele frequency and the store
        has none.

    Notes
    -----
    An annotated variant whose allele frequency the store does not have gets the mean
    ``log_2pq`` of the store variants (the prior of a variant of average frequency).
    """
    import torch

    names = list(prior.config.feature_names)
    used = [n for n in names if n != "log_2pq"]
    check_features(
        prior,
        annotations.names,
        file=annotations.source,
        fix="pass the annotation files the prior was trained on",
    )
    cols = [annotations.names.index(n) for n in used if n in annotations.names]
    by_snp = store.variants.set_index("SNP")
    extra = []
    if "log_2pq" in names:
        if "AF1" not in store.variants:
            raise InputError(
                "the prior uses allele frequency (log_2pq) but the LD store has no AF1",
                column="AF1",
                fix="use the LD store the prior was trained with",
            )
        a_af = (
            by_snp["AF1"].reindex(annotations.variants["SNP"].astype(str)).to_numpy()
            if "SNP" in annotations.variants
            else np.full(annotations.n_variants, np.nan)
        )
        f = log_2pq(a_af)
        f[~np.isfinite(f)] = float(np.nanmean(log_2pq(store.variants["AF1"].to_numpy(float))))
        extra = [f[:, None]]
    a_feats = np.column_stack([annotations.values[:, cols], *extra])
    if store_features is None:
        store_features, _, _ = build_features(store, annotations)
    prior.to("cpu")
    # the neighbourhood of each set is its own variants
    a_pos = prior_positions(prior, annotations.variants, file=annotations.source, store=store)
    s_pos = prior_positions(prior, store.variants)
    a_snpvar = torch.exp(prior.predict(a_feats, a_pos)).numpy()
    s_snpvar = torch.exp(prior.predict(store_features, s_pos))
    pri = annotations.variants.copy()
    for col in ("A1", "A2"):
        if col not in pri:
            pri[col] = pri["SNP"].map(by_snp[col]).fillna("NA") if "SNP" in pri else "NA"
    pri = pri[["CHR", "SNP", "BP", "A1", "A2"]].assign(SNPVAR=a_snpvar)
    store_only = ~store.variants["SNP"].isin(pri["SNP"])
    if store_only.any():
        pri = pd.concat(
            [
                pri,
                store.variants.loc[store_only, ["CHR", "SNP", "BP", "A1", "A2"]].assign(
                    SNPVAR=s_snpvar.numpy()[store_only.to_numpy()]
                ),
            ],
            ignore_index=True,
        )
    return pri.sort_values(["CHR", "BP"], kind="stable").reset_index(drop=True)


def ldsc_windows(store, trait: TraitData) -> list[LdscWindow]:
    """Squared LD between the measured scored variants and the context of every window."""
    out = []
    for tw in trait.windows:
        R = np.asarray(store.window(tw.index).R, dtype=np.float64)
        R_WC = R[tw.scored_in_context]
        z = trait.z[tw.scored]
        out.append(
            LdscWindow(
                R2=R_WC * R_WC, r_diag=R_WC[np.arange(len(z)), tw.scored_in_context], chi2=z * z
            )
        )
    return out


def truth_table(path, variants: pd.DataFrame) -> np.ndarray:
    """True SNPVAR of each store variant (NaN where the truth file has none), by SNP."""
    from deepwas._files import open_text

    try:
        with open_text(path) as fh:
            truth = pd.read_csv(fh, sep=r"\s+|\t", engine="python")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the truth file: {exc}", file=path) from None
    if not {"SNP", "SNPVAR"} <= set(truth.columns):
        raise InputError(
            "the truth file needs columns SNP and SNPVAR",
            file=path,
            fix="use the truth.tsv.gz written by deepwas simulate",
        )
    s = pd.Series(truth["SNPVAR"].to_numpy(np.float64), index=truth["SNP"].astype(str))
    s = s[~s.index.duplicated()]
    return s.reindex(variants["SNP"].astype(str)).to_numpy()
