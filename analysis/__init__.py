"""Statistics, ensembles, tables and reports over tables of per-instance scores.

Nothing here imports the training code: every function works on plain arrays and DataFrames.
"""
