"""Training, sweeps, search and inference for densecell-bench (CLI: ``python -m benchmark``)."""
