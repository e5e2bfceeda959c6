"""The live path: each closed bar's decision, from the batch pipeline's own code."""
