"""Connecting to Ray quietly: a local Ray with no dashboard and no usage statistics, or an
existing cluster. ``quiet_ray_env`` must run before ``import ray`` (see RAY_NOTES)."""

from __future__ import annotations

import os

__all__ = ["RAY_QUIET_ENV", "connect_ray", "quiet_ray_env"]

RAY_QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_DEDUP_LOGS": "0",
    # Trials run in the driver's folder, not a per-trial copy: relative paths mean what they say.
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    # Snapshot the experiment state every 2 s (Ray's automatic period is at least 10 s), so that a
    # killed driver loses at most 2 s of trial bookkeeping.
    "TUNE_GLOBAL_CHECKPOINT_S": "2",
}


def quiet_ray_env() -> None:
    for key, value in RAY_QUIET_ENV.items():
        os.environ.setdefault(key, value)


def connect_ray(address: str | None = None) -> bool:
    """Connects to Ray: the cluster at ``address`` (or ``$RAY_ADDRESS``), else a quiet local one.

    Returns True when this call started a local Ray that the caller must shut down. A local Ray
    gets every CPU, no dashboard and a small object store (trials exchange only small results).
    """
    quiet_ray_env()
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        # Workers of an existing cluster do not see this process's environment.
        env = {k: v for k, v in RAY_QUIET_ENV.items() if k == "RAY_CHDIR_TO_TRIAL_DIR"}
        ray.init(
            address=address,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": env},
        )
        return False
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        object_store_memory=256 * 1024**2,
        _temp_dir="/tmp/dcb-ray",
    )
    return True
