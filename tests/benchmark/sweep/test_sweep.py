"""Ray Tune sweeps end to end: tables, kill -9 and resume, a two-node cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli_env, run_cli, start_cli

pytestmark = pytest.mark.slow

SUITE = textwrap.dedent(
    """\
    name = "pair"
    architectures = ["2d3d_3x3x3", "2d3d_no_pyramid"]
    profile = "quick"
    seeds = 2
    """
)
FAST = ["--option", "window=[5,32,32]", "--option", "width=0.0625", "--option", "spacing=[2,16,16]"]


def _env() -> dict:
    return cli_env({"RAY_ADDRESS": ""})


def _run(args, cwd, timeout=420, env=None):
    return run_cli(*args, cwd=cwd, env={"RAY_ADDRESS": "", **(env or {})}, timeout=timeout)


def test_two_architectures_two_seeds_end_to_end(tmp_path):
    (tmp_path / "pair.toml").write_text(SUITE)
    (tmp_path / "tmp").mkdir()
    out = _run(
        [
            "run",
            "--suite",
            "pair.toml",
            "--name",
            "e2e",
            "--results",
            "res",
            "--no-report",
            *FAST,
            "--option",
            "max_steps=6",
            "--option",
            "evals_per_epoch=80",
        ],
        tmp_path,
        env={"TMPDIR": str(tmp_path / "tmp")},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # The trials' live checkpoint folders are gone; their files live on in Ray's checkpoints.
    assert not list((tmp_path / "tmp").glob("dcb-*"))
    run = tmp_path / "res" / "pair" / "e2e"
    instances = pd.read_parquet(run / "instances.parquet")
    assert sorted(zip(instances.architecture, instances.seed)) == [
        ("2d3d_3x3x3", 0),
        ("2d3d_3x3x3", 1),
        ("2d3d_no_pyramid", 0),
        ("2d3d_no_pyramid", 1),
    ]
    assert set(instances.status) == {"finished"}
    assert instances.eval_miou_all.between(0, 1).all() and instances.test_miou_org.notna().all()
    assert (instances.params > 0).all() and (instances.steps == 6).all()
    for path in instances.checkpoint_best:
        assert Path(path).is_file()
    curves = pd.read_parquet(run / "curves.parquet")
    assert set(curves.groupby(["architecture", "seed"]).size()) == {
        2
    }  # evaluations at steps 3 and 6
    meta = json.loads((run / "run.json").read_text())
    assert meta["profile"] == "quick" and meta["seeds"] == [0, 1]
    assert (
        meta["versions"]["torch"]
        and meta["hardware"]["cpus"]
        and "command" in meta["invocations"][0]
    )
    assert meta["invocations"][0]["complete"] is True
    assert "summary" not in out.stderr.lower()
    assert "2d3d_no_pyramid" in out.stdout and "next:" in out.stdout
    # Paired seeds: seed i of both architectures saw the same data presentation.
    from benchmark.training.windows import instance_seeds

    assert instance_seeds(0) != instance_seeds(1)

    # One configuration per run: every row carries it, and a resume under other settings is
    # refused with the differences, before anything is trained.
    assert instances.identity.notna().all()
    assert instances.groupby("architecture").identity.nunique().eq(1).all()
    stored = {a: c["hash"] for a, c in meta["configurations"].items()}
    assert dict(zip(instances.architecture, instances.identity)) == stored
    base = ["run", "--suite", "pair.toml", "--name", "e2e", "--results", "res", "--no-report"]
    same = [*FAST, "--option", "evals_per_epoch=80"]
    out = _run([*base, *same, "--option", "max_steps=7"], tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "trained under another configuration" in out.stderr
    assert "2d3d_3x3x3: train.max_steps: 6 -> 7" in out.stderr
    (tmp_path / "pair.toml").write_text(
        SUITE + '[overrides."2d3d_no_pyramid"]\ntrain = { c_2d = 0.5 }\n'
    )
    out = _run([*base, *same, "--option", "max_steps=6"], tmp_path)
    assert out.returncode == 2 and "2d3d_no_pyramid: train.c_2d: 0.33 -> 0.5" in out.stderr
    assert json.loads((run / "run.json").read_text())["invocations"] == meta["invocations"]
    # One writer at a time: a second driver on the folder stops at once, naming the holder.
    from benchmark.records.lock import folder_lock

    with folder_lock(run):
        out = _run([*base, *same, "--option", "max_steps=6"], tmp_path, timeout=60)
    assert out.returncode == 2 and f"pid {os.getpid()}" in out.stderr, out.stderr


def test_kill_minus_9_and_resume(tmp_path):
    (tmp_path / "pair.toml").write_text(SUITE.replace("seeds = 2", "seeds = 3"))
    args = [
        "run",
        "--suite",
        "pair.toml",
        "--name",
        "k",
        "--results",
        "res",
        "--no-report",
        *FAST,
        "--option",
        "max_steps=30",
        "--option",
        "evals_per_epoch=24.5",
    ]
    proc = start_cli(*args, cwd=tmp_path, env={"RAY_ADDRESS": ""})
    run = tmp_path / "res" / "pair" / "k"
    # Ray records a trial's checkpoint in its experiment snapshot (every 2 s, TUNE_GLOBAL_CHECKPOINT_S)
    # after the driver has written the row: kill once a snapshot is newer than a running row, so
    # that instance must continue from its checkpoint (one killed earlier legitimately restarts).
    deadline = time.monotonic() + 300
    finished_before: set = set()
    first_seen_running: dict = {}
    snapshotted: set = set()
    try:
        while time.monotonic() < deadline:
            if (run / "instances.parquet").is_file():
                table = pd.read_parquet(run / "instances.parquet")
                finished_before = set(
                    zip(
                        table[table.status == "finished"].architecture,
                        table[table.status == "finished"].seed,
                    )
                )
                running = table[table.status == "running"]
                now = time.time()
                for key in zip(running.architecture, running.seed):
                    first_seen_running.setdefault(key, now)
                snapshots = list((run / "tune").glob("experiment_state-*.json"))
                newest = max((f.stat().st_mtime for f in snapshots), default=0.0)
                snapshotted = {
                    key
                    for key in zip(running.architecture, running.seed)
                    if newest > first_seen_running[key]
                }
                if finished_before and snapshotted:
                    break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        assert finished_before and snapshotted, "no instance finished and another ran in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    events_before = (run / "events.jsonl").read_text().splitlines()
    at_kill = pd.read_parquet(run / "instances.parquet").set_index(["architecture", "seed"])
    finished_before = set(at_kill[at_kill.status == "finished"].index)
    # What ran at the moment of the kill (an instance seen running may have finished since).
    running_before = set(at_kill[at_kill.status == "running"].index)
    resumed = _run(args + ["--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "restoring tune" in resumed.stdout
    table = pd.read_parquet(run / "instances.parquet")
    pairs = list(zip(table.architecture, table.seed))
    assert sorted(pairs) == sorted(
        {(a, s) for a in ("2d3d_3x3x3", "2d3d_no_pyramid") for s in range(3)}
    )
    assert len(pairs) == len(set(pairs)) == 6
    assert set(table.status) == {"finished"}, table[["architecture", "seed", "status", "error"]]
    assert (table.steps == 30).all()
    # Finished instances were not trained again: their rows are unchanged and no training
    # started for them (Ray may restart a trial it had not yet recorded as finished; the
    # trainable then returns at once and the event log says "skip").
    after = table.set_index(["architecture", "seed"])
    columns = ["eval_miou_all", "test_miou_org", "wall_time_s", "checkpoint_best"]
    for key in finished_before:
        assert after.loc[key, columns].tolist() == at_kill.loc[key, columns].tolist()
    new_events = [
        json.loads(e) for e in (run / "events.jsonl").read_text().splitlines()[len(events_before) :]
    ]
    started = {
        (e["architecture"], e["seed"]) for e in new_events if e["event"] in ("start", "restart")
    }
    assert not (started & finished_before)
    # Instances interrupted after Ray's snapshot recorded their checkpoint continued from it.
    assert snapshotted & running_before, (snapshotted, running_before)
    interrupted = after.loc[sorted(snapshotted & running_before)]
    assert (interrupted.resumed_from_step > 0).all(), interrupted.resumed_from_step
    curves = pd.read_parquet(run / "curves.parquet")
    assert not curves.duplicated(["architecture", "seed", "step"]).any()
    assert set(curves.groupby(["architecture", "seed"]).size()) == {3}
    # The live checkpoint folders of the attempts killed with the driver were removed.
    killed = at_kill.work_dir.dropna()
    assert len(killed) and not any(Path(folder).exists() for folder in killed)
    assert after.work_dir.isna().all()


CLUSTER_SCRIPT = """
import os, sys, json
for k, v in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}.items():
    os.environ[k] = v
import ray
from ray.cluster_utils import Cluster
from benchmark.sweep.suites import Suite
from benchmark.sweep.driver import run_sweep
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
suite = Suite("pair", ("2d3d_3x3x3", "2d3d_no_pyramid"))
overrides = dict(window=(5, 32, 32), width=0.0625, spacing=(2, 16, 16), max_steps=4, evals_per_epoch=200)
result = run_sweep(suite, [0, 1], profile="quick", results_root=sys.argv[1], name="c", train_overrides=overrides, print_fn=lambda s: None)
print(json.dumps({"nodes": nodes, "used": sorted(set(result.instances.node_id)), "n": len(result.instances), "complete": result.complete}))
ray.shutdown()
cluster.shutdown()
"""


def test_two_node_cluster_places_trials_on_both_nodes(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(tmp_path)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["complete"] and report["n"] == 4
    assert len(report["nodes"]) == 2
    assert report["used"] == report["nodes"]
