"""deepwas: functionally informed SNP-heritability priors from GWAS summary statistics, trained
with the exact marginal likelihood under linkage disequilibrium (the DeepWAS method of Amin,
Potapczynski & Wilson, ICML 2025).

The public API is what this module re-exports; everything else is private. Heavy modules (torch)
load on first use, so that ``import deepwas`` and the command line start quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from deepwas.errors import DeepwasError, InputError, NumericalError, StoreError

_LAZY = {
    "window_nll": "deepwas.linalg.likelihood",
    "exact_nll": "deepwas.linalg.likelihood",
    "ldsc_loss": "deepwas.linalg.likelihood",
    "window_ldsc": "deepwas.linalg.likelihood",
    "eigen_precompute": "deepwas.linalg.eigen",
    "read_sumstats": "deepwas.io.sumstats",
    "harmonize": "deepwas.harmonize",
    "read_plink": "deepwas.io.genotypes",
    "read_vcf": "deepwas.io.genotypes",
    "read_genotypes": "deepwas.io.genotypes",
    "read_annotations": "deepwas.io.annotations",
    "match_annotations": "deepwas.io.annotations",
    "read_blocks": "deepwas.ld.windows",
    "make_windows": "deepwas.ld.windows",
    "build_store": "deepwas.ld.build",
    "LDStore": "deepwas.ld.store",
    "import_ukbb_ld": "deepwas.ld.ukbb",
    "prepare_trait": "deepwas.ld.trait",
    "load_trait": "deepwas.ld.trait",
    "fit_constant": "deepwas.fit",
    "TrainConfig": "deepwas.fit",
    "train_prior": "deepwas.fit",
    "run_fit": "deepwas.workflow",
    "PriorConfig": "deepwas.priors",
    "Prior": "deepwas.priors",
    "build_prior": "deepwas.priors",
    "save_prior": "deepwas.priors",
    "load_prior": "deepwas.priors",
    "SimConfig": "deepwas.simulate",
    "run_simulation": "deepwas.simulate",
}

__all__ = ["__version__", "DeepwasError", "InputError", "NumericalError", "StoreError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepwas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
