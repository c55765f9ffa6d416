"""Sub-commands of ``python -m benchmark``, one module per group."""
