"""Small in-memory genotype panels shared by the synth tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas.io.genotypes import GenotypePanel


def toy_variants(m: int) -> pd.DataFrame:
    """``m`` chr22 variants rs0.. 700 bp apart, A1 = A, A2 = G."""
    return pd.DataFrame(
        {
            "CHR": 22,
            "SNP": [f"rs{j}" for j in range(m)],
            "BP": 10_000 + 700 * np.arange(m),
            "A1": "A",
            "A2": "G",
            "CM": 0.0,
        }
    )


def toy_panel(dosages: np.ndarray) -> GenotypePanel:
    """A panel of these dosages (individuals x variants) over :func:`toy_variants`."""
    return GenotypePanel.from_dosages(dosages, toy_variants(dosages.shape[1]))
