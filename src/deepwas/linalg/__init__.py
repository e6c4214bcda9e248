"""Linear algebra of the likelihood: eigen precomputation, exact kernels, LDSC objective."""
