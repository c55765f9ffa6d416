"""Seed-aware architecture search: Optuna proposes candidates, Ray trains their seeds.

``run_search`` (``benchmark.search.runner``) is the entry point; see its module for how Optuna
and Ray interact, the objectives, racing and resume.
"""

from benchmark.search.export import export_candidates
from benchmark.search.report import write_search_report
from benchmark.search.runner import run_search
from benchmark.search.settings import (
    OBJECTIVES,
    SearchResult,
    SearchSettings,
    lower_confidence_bound,
    objective_value,
    parse_objectives,
)
from benchmark.search.store import load_search, resolve_search_dir
from benchmark.search.worker import measure_step_ms, train_seed

__all__ = [
    "OBJECTIVES",
    "SearchResult",
    "SearchSettings",
    "export_candidates",
    "load_search",
    "lower_confidence_bound",
    "measure_step_ms",
    "objective_value",
    "parse_objectives",
    "resolve_search_dir",
    "run_search",
    "train_seed",
    "write_search_report",
]
