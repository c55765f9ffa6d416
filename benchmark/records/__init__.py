"""The results format, owned in one place: the status vocabulary (``statuses``), the rows of the
results tables (``rows``), the identity of an instance's configuration (``identity``), the folders
of runs and searches (``folders``) and their one-writer lock (``lock``), atomic table writers
(``tables``) and the environment record of a run (``environment``)."""

from benchmark.records.environment import environment_record
from benchmark.records.folders import resolve_run_dir, resolve_search_dir
from benchmark.records.statuses import FINAL_STATUSES, SCORED_STATUSES, STATUSES
from benchmark.records.tables import final_keys, write_json, write_table

__all__ = [
    "FINAL_STATUSES",
    "SCORED_STATUSES",
    "STATUSES",
    "environment_record",
    "final_keys",
    "resolve_run_dir",
    "resolve_search_dir",
    "write_json",
    "write_table",
]
