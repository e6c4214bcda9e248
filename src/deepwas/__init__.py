"""deepwas: functionally informed SNP-heritability priors from GWAS summary statistics, trained
with the exact marginal likelihood under linkage disequilibrium (the DeepWAS method of Amin,
Potapczynski & Wilson, ICML 2025).

The public API is what this module re-exports; everything else is private.
"""

from __future__ import annotations

__version__ = "0.1.0"

from deepwas.errors import DeepwasError, InputError, NumericalError, StoreError

__all__ = [
    "__version__",
    "DeepwasError",
    "InputError",
    "NumericalError",
    "StoreError",
]
