"""The results format, owned in one place: the status vocabulary, folders of runs and searches,
atomic table writers and the environment record of a run."""

from benchmark.records.environment import environment_record
from benchmark.records.folders import resolve_run_dir
from benchmark.records.statuses import FINAL_STATUSES, SCORED_STATUSES, STATUSES
from benchmark.records.tables import final_keys, write_json, write_table

__all__ = [
    "FINAL_STATUSES",
    "SCORED_STATUSES",
    "STATUSES",
    "environment_record",
    "final_keys",
    "resolve_run_dir",
    "write_json",
    "write_table",
]
