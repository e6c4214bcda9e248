"""Polygenic scores of individuals from PRS weights, streaming genotypes in chunks of variants.

A weights table (``CHR SNP BP A1 A2 BETA``, :mod:`deepwas.prs`) is matched to a PLINK fileset by
SNP id and alleles: a weight whose A1/A2 are the fileset's A2/A1 is negated (the fileset counts
its A1); a SNP whose alleles differ otherwise, or that the fileset lacks, is unmatched and
counted. The score of individual i is sum_j BETA_j g_ij over the matched variants, g_ij the
copies of the weight's A1 (PLINK's ``--score ... sum``); a missing genotype is replaced by the
variant's mean dosage among the scored individuals (mean imputation, PLINK's default), so it adds
the average contribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepwas.errors import InputError

__all__ = ["ScoreResult", "read_weights", "score_genotypes"]


@dataclass
class ScoreResult:
    """Scores of individuals.

    Attributes
    ----------
    scores: pandas.DataFrame
        ``FID IID SCORE N_VARIANTS`` (N_VARIANTS: matched variants with an observed genotype).
    n_weights: int
        Rows of the weights table.
    n_matched: int
        Weights matched to a fileset variant (``n_flipped`` of them with swapped alleles).
    n_flipped: int
    n_unmatched: int
    report: list[str]
    """

    scores: pd.DataFrame
    n_weights: int
    n_matched: int
    n_flipped: int
    n_unmatched: int
    report: list[str] = field(default_factory=list)


def read_weights(path) -> pd.DataFrame:
    """Read a weights table with columns ``SNP A1 A2 BETA`` (``CHR BP`` optional).

    Raises
    ------
    InputError
        Unreadable file, a missing column, a non-finite BETA, or a SNP listed twice.
    """
    from deepwas._files import open_text

    with open_text(path) as fh:
        try:
            df = pd.read_csv(fh, sep=r"\s+", dtype={"SNP": str, "A1": str, "A2": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read the weights table: {' '.join(str(exc).split())}",
                file=path,
                fix="give the output of deepwas prs (columns CHR SNP BP A1 A2 BETA)",
            ) from None
    for col in ("SNP", "A1", "A2", "BETA"):
        if col not in df.columns:
            raise InputError(
                f"the weights table has no {col} column",
                file=path,
                column=col,
                fix="give the output of deepwas prs (columns CHR SNP BP A1 A2 BETA)",
            )
    beta = pd.to_numeric(df["BETA"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(beta)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"BETA is not a finite number: {df['BETA'].astype(str).iloc[row]}",
            file=path,
            row=row + 2,
            column="BETA",
        )
    dup = df["SNP"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            f"SNP {df['SNP'].iloc[row]} appears twice in the weights table",
            file=path,
            row=row + 2,
            fix="give one weight per variant",
        )
    return pd.DataFrame(
        {
            "SNP": df["SNP"].astype(str).to_numpy(),
            "A1": df["A1"].astype(str).str.upper().to_numpy(),
            "A2": df["A2"].astype(str).str.upper().to_numpy(),
            "BETA": beta,
        }
    )


def score_genotypes(
    bfile,
    weights,
    *,
    chunk_variants: int = 1024,
    progress: bool = True,
) -> ScoreResult:
    """Score the individuals of a PLINK fileset with PRS weights.

    Parameters
    ----------
    bfile:
        PLINK fileset prefix (``.bed/.bim/.fam``; an ``@`` stands for the chromosome, as in
        :func:`deepwas.read_plink`).
    weights: path or pandas.DataFrame
        A weights file (:func:`read_weights`) or a table with ``SNP A1 A2 BETA``.
    chunk_variants:
        Variants read from the .bed at a time (memory: n_samples x chunk_variants float64).
    progress:
        Show a progress bar.

    Returns
    -------
    ScoreResult

    Raises
    ------
    InputError
        Unreadable inputs, or no weight matches a variant of the fileset.
    """
    from deepwas.io.genotypes import read_plink

    if chunk_variants < 1:
        raise InputError(f"chunk_variants must be >= 1, got {chunk_variants}")
    w = read_weights(weights) if not isinstance(weights, pd.DataFrame) else weights
    panel = read_plink(bfile)
    v = panel.variants
    pos = pd.Series(np.arange(len(v)), index=v["SNP"].astype(str))
    pos = pos[~pos.index.duplicated(keep=False)]  # an id listed twice in the .bim cannot be matched
    j = pos.reindex(w["SNP"].to_numpy()).to_numpy()
    found = np.isfinite(j)
    j = np.where(found, j, 0).astype(np.int64)
    a1 = v["A1"].to_numpy().astype(str)[j]
    a2 = v["A2"].to_numpy().astype(str)[j]
    same = found & (w["A1"].to_numpy() == a1) & (w["A2"].to_numpy() == a2)
    swap = found & (w["A1"].to_numpy() == a2) & (w["A2"].to_numpy() == a1)
    use = same | swap
    if not use.any():
        raise InputError(
            "no variant of the weights table is in the PLINK fileset (matched by SNP and alleles)",
            file=str(bfile) + ".bim",
            fix="check that the weights and the genotypes use the same variant ids",
        )
    idx = j[use]
    # copies of the weight's A1 are 2 - g where it is the fileset's A2: a negated weight plus a
    # constant 2 BETA, so the scores are PLINK's (which counts the score file's allele) exactly
    beta = np.where(swap, -1.0, 1.0)[use] * w["BETA"].to_numpy()[use]
    offset = 2.0 * float(w["BETA"].to_numpy()[swap].sum())
    order = np.argsort(idx, kind="stable")  # read the .bed in file order
    idx, beta = idx[order], beta[order]
    n = panel.n_samples
    score = np.full(n, offset)
    n_obs = np.zeros(n, dtype=np.int64)
    n_chunks = (idx.size + chunk_variants - 1) // chunk_variants
    for k in tqdm(range(n_chunks), desc="scoring", disable=not progress):
        sl = slice(k * chunk_variants, (k + 1) * chunk_variants)
        g = panel.dosages(idx[sl])  # (n, chunk) copies of the .bim's A1, NaN missing
        obs = ~np.isnan(g)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(g, axis=0) / obs.sum(axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)  # no call at all: contributes nothing
        g = np.where(obs, g, mean)
        score += g @ beta[sl]
        n_obs += obs.sum(axis=1)
    scores = panel.samples[["FID", "IID"]].assign(SCORE=score, N_VARIANTS=n_obs)
    n_unmatched = int((~use).sum())
    report = [
        f"weights: {len(w):,}; matched to {panel.source}: {int(use.sum()):,} "
        f"({int(swap.sum()):,} with swapped alleles, scored as 2 - dosage); "
        f"unmatched: {n_unmatched:,} "
        f"({int((~found).sum()):,} ids absent, {int((found & ~use).sum()):,} allele mismatches)",
        f"scored {n:,} individuals; missing genotypes mean-imputed",
    ]
    return ScoreResult(
        scores=scores,
        n_weights=int(len(w)),
        n_matched=int(use.sum()),
        n_flipped=int(swap.sum()),
        n_unmatched=n_unmatched,
        report=report,
    )
