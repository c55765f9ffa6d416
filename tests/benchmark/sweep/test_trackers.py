"""``--tracker``: names and missing packages, Ray Tune's TensorBoard logger through ``run``, and the
search's trackers (TensorBoard for real, MLflow and W&B through fake client modules)."""

from __future__ import annotations

import struct
import sys
import textwrap
import types
from pathlib import Path

import pytest

from benchmark.sweep import trackers as trk
from tests.conftest import run_cli


def _event_tags(folder: Path) -> dict[str, list[float]]:
    """Scalar tag -> values of every TensorBoard event file under ``folder`` (TFRecord frames:
    length u64, crc u32, payload, crc u32)."""
    from tensorboardX.proto import event_pb2

    tags: dict[str, list[float]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(value.simple_value)
    return tags


def test_unknown_and_missing_trackers_fail_with_the_package_to_install(monkeypatch):
    if trk.importlib.util.find_spec("tensorboardX") is not None:
        assert trk.check_trackers(["tensorboard", "TensorBoard"]) == ["tensorboard"]
    with pytest.raises(ValueError, match="unknown tracker 'neptune'"):
        trk.check_trackers(["neptune"])
    real = trk.importlib.util.find_spec
    monkeypatch.setattr(
        trk.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name)
    )
    with pytest.raises(ImportError, match="pip install mlflow"):
        trk.check_trackers(["mlflow"])


def test_cli_names_the_missing_package_before_ray_starts(monkeypatch, capsys):
    from benchmark.cli import main

    real = trk.importlib.util.find_spec
    monkeypatch.setattr(
        trk.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name)
    )
    code = main(["run", "--suite", "ablations", "--seeds", "1", "--tracker", "wandb"])
    assert code == 2
    assert "--tracker wandb needs the wandb package" in capsys.readouterr().err


def test_sweep_callbacks_are_rays_own_loggers(tmp_path):
    pytest.importorskip("tensorboardX")  # ray[tune] brings it
    from ray.tune.logger import TBXLoggerCallback

    callbacks = trk.sweep_callbacks(["tensorboard"], tmp_path, "suite", progress=False)
    assert [type(c) for c in callbacks] == [TBXLoggerCallback]
    with_bar = trk.sweep_callbacks([], tmp_path, "suite", progress=True)
    assert [type(c) for c in with_bar] == [trk.SweepProgress]


@pytest.mark.slow
def test_run_with_tensorboard_tracker_writes_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    (tmp_path / "one.toml").write_text(
        textwrap.dedent(
            """\
            name = "one"
            architectures = ["2d3d_3x3x3"]
            profile = "quick"
            seeds = 1
            """
        )
    )
    from tests.benchmark.search.test_search import _tiny_volumes

    fast = ["--option", "window=[5,32,32]", "--option", "width=0.0625"]
    fast += ["--option", "spacing=[2,16,16]", "--option", "max_steps=2"]
    fast += _tiny_volumes(tmp_path)  # the quick phantom would be generated first
    out = run_cli(
        "run",
        "--suite",
        "one.toml",
        "--name",
        "tb",
        "--results",
        "res",
        "--no-report",
        "--tracker",
        "tensorboard",
        *fast,
        cwd=tmp_path,
        # Tune's automatic loggers off: the event files come from the flag alone.
        env={"RAY_ADDRESS": "", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    tags = _event_tags(tmp_path / "res" / "one" / "tb")
    assert "ray/tune/eval_miou_all" in tags, sorted(tags)
    assert all(0 <= v <= 1 for v in tags["ray/tune/eval_miou_all"])


# ------------------------------------------------------------------------------------- search
class _FakeMlflowClient:
    runs: list[dict] = []

    def __init__(self, tracking_uri=None):
        self.uri = tracking_uri

    def get_experiment_by_name(self, name):
        return None

    def create_experiment(self, name):
        return "exp-1"

    def create_run(self, experiment_id, run_name=None, tags=None):
        run = {"name": run_name, "tags": tags, "params": {}, "metrics": [], "status": None}
        _FakeMlflowClient.runs.append(run)
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=len(self.runs) - 1))

    def log_param(self, run_id, key, value):
        self.runs[run_id]["params"][key] = value

    def log_metric(self, run_id, key, value, step=0):
        self.runs[run_id]["metrics"].append((key, value, step))

    def set_terminated(self, run_id, status):
        self.runs[run_id]["status"] = status


class _FakeWandbRun:
    def __init__(self, **kwargs):
        self.init = kwargs
        self.logged: list[dict] = []
        self.finished = False

    def log(self, row):
        self.logged.append(row)

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_clients(monkeypatch):
    """``mlflow`` and ``wandb`` modules that record what the trackers send."""
    _FakeMlflowClient.runs = []
    mlflow = types.ModuleType("mlflow")
    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = _FakeMlflowClient
    mlflow.tracking = tracking
    wandb = types.ModuleType("wandb")
    wandb.runs = []

    def init(**kwargs):
        run = _FakeWandbRun(**kwargs)
        wandb.runs.append(run)
        return run

    wandb.init = init
    wandb.Table = lambda columns, data: {"columns": columns, "data": data}
    for name, module in (("mlflow", mlflow), ("mlflow.tracking", tracking), ("wandb", wandb)):
        monkeypatch.setitem(sys.modules, name, module)
    real = trk.importlib.util.find_spec
    monkeypatch.setattr(
        trk.importlib.util,
        "find_spec",
        lambda name: types.SimpleNamespace() if name in ("mlflow", "wandb") else real(name),
    )
    return mlflow, wandb


def test_search_trackers_log_seeds_and_candidates(tmp_path, fake_clients):
    pytest.importorskip("tensorboardX")
    from benchmark.search import SearchSettings, run_search
    from tests.benchmark.search.test_search import fake_train

    _, wandb = fake_clients
    settings = SearchSettings(
        profile="quick",
        train_overrides={"window": (5, 32, 32), "width": 0.0625},
        trials=4,
        seeds_per_candidate=2,
    )
    result = run_search(
        settings,
        results_root=tmp_path,
        name="s",
        executor="inline",
        train_fn=fake_train,
        print_fn=lambda line: None,
        report=False,
        trackers=["tensorboard", "mlflow", "wandb"],
    )
    cands = result.candidates
    seeds = result.seeds[result.seeds.status == "finished"]

    # TensorBoard: one point per finished seed, one objective per completed candidate.
    tags = _event_tags(result.search_dir / "tensorboard")
    assert len(tags["seed/eval_miou_all"]) == len(seeds)
    complete = cands[cands.state == "complete"]
    assert sorted(tags["candidate/objective"]) == pytest.approx(sorted(complete.objective))

    # MLflow: one run per decided candidate with its parameters and per-seed scores.
    runs = {r["name"]: r for r in _FakeMlflowClient.runs}
    assert set(runs) == {f"candidate-{n}" for n in cands.number}
    for _, cand in complete.iterrows():
        run = runs[f"candidate-{cand.number}"]
        assert run["status"] == "FINISHED" and run["params"]
        scores = [v for k, v, _ in run["metrics"] if k == "eval_miou_all"]
        assert len(scores) == cand.n_seeds
        assert [v for k, v, _ in run["metrics"] if k == "objective"] == [
            pytest.approx(cand.objective)
        ]

    # W&B: one run for the search, a row per finished seed, a table of candidates at the end.
    (run,) = wandb.runs
    assert run.init["name"] == "search-s" and run.finished
    assert len([r for r in run.logged if "seed/eval_miou_all" in r]) == len(seeds)
    assert len(run.logged[-1]["candidates"]["data"]) == len(cands)
