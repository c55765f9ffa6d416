from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: Mean eval MIoU(all) of the synthetic architectures: a clear winner over two of them, a near tie.
SYNTHETIC_MEANS = {
    "2d3d_3x3x3": 0.800,
    "2d3d_no_3x3x3": 0.800,
    "2d3d_no_multiloss": 0.770,
    "unet_original": 0.740,
}


def make_instances(
    n_seeds: int = 26, means: dict[str, float] | None = None, seed: int = 0
) -> pd.DataFrame:
    """Synthetic per-instance table: architectures x seeds with a shared per-seed effect (paired)."""
    rng = np.random.default_rng(seed)
    means = means or SYNTHETIC_MEANS
    seed_effect = rng.normal(0, 0.008, n_seeds)  # what pairing by seed removes
    rows = []
    for arch, mu in means.items():
        noise = rng.normal(0, 0.01, (n_seeds, 3))
        for s in range(n_seeds):
            base = mu + seed_effect[s] + noise[s, 0]
            rows.append(
                dict(
                    architecture=arch,
                    seed=s,
                    status="finished",
                    error="",
                    eval_miou_all=base,
                    eval_miou_org=base - 0.1 + noise[s, 1],
                    test_miou_org=base - 0.12 + noise[s, 2],
                    test_miou_all=base - 0.02,
                    final_eval_miou_all=base - 0.005,
                    best_step=1000 * (s + 1),
                    steps=50_000,
                    params=10_283_406 if arch.startswith("2d3d") else 31_030_983,
                    wall_time_s=3600.0,
                )
            )
    return pd.DataFrame(rows)


def write_run_dir(
    path: Path, instances: pd.DataFrame, ensembles: pd.DataFrame | None = None
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    instances.to_parquet(path / "instances.parquet")
    (path / "run.json").write_text(json.dumps({"command": "run", "suite": "ablations"}))
    if ensembles is not None:
        ensembles.to_parquet(path / "ensembles.parquet")
    return path


@pytest.fixture
def instances() -> pd.DataFrame:
    """4 architectures x 26 seeds, one failed instance, one early-stopped, one NaN test score."""
    df = make_instances()
    df.loc[3, ["status", "error", "eval_miou_all"]] = ["failed", "CUDA out of memory", np.nan]
    df.loc[30, "status"] = "early_stopped"
    df.loc[60, "test_miou_org"] = np.nan
    return df


@pytest.fixture
def run_dir(tmp_path: Path, instances: pd.DataFrame) -> Path:
    return write_run_dir(tmp_path / "run", instances)
