"""Synthetic genotype panels (issue 11): generative models of haplotypes, their baselines and the
evaluation suite (:mod:`deepwas.synth.evaluate`, :mod:`deepwas.synth.baselines`)."""
