"""Architecture search: the 2D-3D space, racing statistics, the driver (inline, with a fake
trainer), and the real thing on Ray end to end (search -> export -> run -> analyze, kill -9 ->
resume)."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli, start_cli

TINY = [
    "--option",
    "window=[5,32,32]",
    "--option",
    "width=0.0625",
    "--option",
    "spacing=[2,16,16]",
    "--option",
    "evals_per_epoch=1",
    "--option",
    "early_stop_miou=0",
]


# ------------------------------------------------------------------------------------ space
def test_show_prints_the_conditional_space(cli):
    out = cli("search", "--space", "2d3d", "--show")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for name in (
        "depth",
        "base_channels",
        "convs_per_block",
        "insert_e0",
        "insert_d4",
        "pyramid_scales",
        "pyramid_convs_2",
        "c_2d",
        "lr",
    ):
        assert name in text
    assert "depth >= 4" in text and "2d3d_3x3x3" in text
    bad = cli("search", "--space", "2d3e", "--show")
    assert bad.returncode == 2 and "did you mean 2d3d" in bad.stderr


def test_reference_point_is_the_papers_net():
    from architectures import summarize
    from architectures.search_space import get_space

    space = get_space("2d3d")
    params = space.reference_params({"lr": 1e-3, "c_2d": 0.33})
    candidate = space.candidate_from_params(params)
    assert candidate.train == {"lr": 1e-3, "c_2d": 0.33}
    assert set(candidate.options["inserted_blocks"]) == {"e0", "e1", "d0", "d1"}
    assert candidate.options["pyramid_convs"] == (3, 5)
    assert "pyramid_convs_2" not in params and "insert_e3" not in params
    assert summarize("2d3d_3x3x3", **candidate.options).params == 10_283_406


def test_sampled_candidates_are_valid_and_conditional():
    import optuna

    from architectures import summarize
    from architectures.blocks import block_names
    from architectures.search_space import get_space

    space = get_space("2d3d")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3), direction="maximize")
    seen = set()
    for _ in range(25):
        trial = study.ask()
        cand = space.sample(trial)
        p = trial.params
        depth = p["depth"]
        assert {k[len("insert_") :] for k in p if k.startswith("insert_")} == set(
            block_names(depth)
        )
        assert ("pyramid_scales" in p) == p["pyramid"] == ("c_2d" in cand.train)
        if p["pyramid"]:
            assert len(cand.options["pyramid_convs"]) == p["pyramid_scales"]
            assert f"pyramid_convs_{p['pyramid_scales']}" not in p
        assert space.candidate_from_params(p) == cand  # replay from stored params
        out = summarize("2d3d_3x3x3", (5, 32, 32), width=0.0625, **cand.options)
        assert out.output_shape[0] == 7 and out.params > 0
        seen.add((depth, p["pyramid"]))
        study.tell(trial, 0.0)
    assert len(seen) >= 4


# ------------------------------------------------------------------------------- statistics
def test_race_is_the_sequential_test_on_shared_seeds():
    from analysis.racing import race
    from analysis.sequential import SequentialDesign, sequential_path

    cand = {0: 0.50, 1: 0.60, 2: 0.55, 3: 0.52}
    inc = {0: 0.60, 1: 0.65, 2: 0.70, 3: 0.64, 4: 0.90}
    r = race(cand, inc, alpha=0.05, max_seeds=6)
    assert r.n_shared == 4 and r.mean_difference == pytest.approx(-0.105)
    # The same numbers as the sequential path with the incumbent as the reference.
    design = SequentialDesign(
        alpha=0.05, min_seeds=2, max_seeds=6, round_size=1, correction="bonferroni"
    )
    path = sequential_path({s: inc[s] for s in range(4)}, cand, design, seed_order=[0, 1, 2, 3])
    assert r.p_sequential == pytest.approx(path.last.p_adjusted)
    assert (r.low, r.high) == pytest.approx((-path.last.high, -path.last.low))
    assert r.verdict == {"reference_better": "worse", "undecided": "undecided"}[path.decision]
    assert race({0: 0.5}, inc).verdict == "too_few"
    # Constant differences: decided at once, in the right direction; zero differences never.
    assert race({0: 0.5, 1: 0.55, 2: 0.6}, {0: 0.6, 1: 0.65, 2: 0.7}).verdict == "worse"
    assert race({0: 0.7, 1: 0.75, 2: 0.8}, {0: 0.6, 1: 0.65, 2: 0.7}).verdict == "better"
    same = race({0: 0.6, 1: 0.65}, {0: 0.6, 1: 0.65}, max_seeds=4)
    assert same.verdict == "undecided"
    assert race({0: 0.6, 1: 0.65}, {0: 0.6, 1: 0.65}).verdict == "inconclusive"


def test_race_holds_its_level_when_looking_after_every_seed():
    """A candidate exactly as good as the incumbent, looked at after each of 2..10 seeds: the
    uncorrected one-sided t test pruned it 13-15 % of the time; the sequential test at most
    alpha / 2 (one side)."""
    from analysis.racing import race

    rng = np.random.default_rng(0)
    pruned = 0
    sweeps = 400
    for _ in range(sweeps):
        inc = rng.normal(0.6, 0.02, 10)
        cand = inc + rng.normal(0, 0.02, 10)
        for n in range(2, 11):
            verdict = race(dict(enumerate(cand[:n])), dict(enumerate(inc[:n])), max_seeds=10)
            if verdict.verdict != "undecided":
                pruned += verdict.verdict == "worse"
                break
    assert pruned / sweeps <= 0.045


def test_lower_confidence_bound_hand_computed():
    from benchmark.search import lower_confidence_bound, objective_value, parse_objectives

    # mean 0.5, sd 0.1 sqrt 2, t_{0.9, 1} = tan(0.4 pi): 0.5 - tan(0.4 pi) * 0.1.
    assert lower_confidence_bound([0.4, 0.6], 0.9) == pytest.approx(
        0.5 - math.tan(0.4 * math.pi) * 0.1
    )
    assert math.isnan(lower_confidence_bound([0.4]))
    assert objective_value([0.4, 0.6]) == pytest.approx(0.5)
    assert parse_objectives("miou,params") == ("miou", "params")
    with pytest.raises(ValueError, match="first objective"):
        parse_objectives("params")


# ------------------------------------------------------------------- the driver, no Ray
SEED_EFFECT = {0: 0.0, 1: 0.04, 2: -0.03, 3: 0.02, 4: -0.01, 5: 0.03}


def _fake_score(job):
    """A candidate's quality (best at the paper's depth and lr near 3e-3) plus a per-seed effect
    shared by all candidates (paired seeds) plus a tiny candidate-specific wobble."""
    o, t = job["options"], job["train"]
    quality = (
        0.8
        - 0.15 * abs(o["depth"] - 3)
        - 0.1 * abs(math.log10(t["lr"]) - math.log10(3e-3))
        - 0.05 * (not o["pyramid"])
    )
    wobble = 0.002 * math.sin(12.9898 * job["number"] + 78.233 * job["seed"])
    return quality + SEED_EFFECT[job["seed"]] + wobble


def _fake_row(job, score):
    return dict(
        number=job["number"],
        seed=job["seed"],
        status="finished",
        eval_miou_all=score,
        params=1,
        wall_time_s=0.0,
        step_ms=1.0 + job["options"]["depth"],
        steps=1,
    )


CALLS: list[tuple[int, int]] = []


def fake_train(job):
    CALLS.append((job["number"], job["seed"]))
    return _fake_row(job, _fake_score(job))


def noisy_train(job):
    """Every candidate equally good up to noise: racing cannot decide."""
    CALLS.append((job["number"], job["seed"]))
    return _fake_row(job, 0.5 + 0.05 * math.sin(12.9898 * job["number"] + 78.233 * job["seed"]))


def _search(tmp_path, fn, **settings):
    from benchmark.search import SearchSettings, run_search

    CALLS.clear()
    options = dict(settings.pop("run", {}))
    s = SearchSettings(
        profile="quick", train_overrides={"window": (5, 32, 32), "width": 0.0625}, **settings
    )
    return run_search(
        s,
        results_root=tmp_path,
        name=options.pop("name", "s"),
        executor="inline",
        train_fn=fn,
        print_fn=lambda line: None,
        **options,
    )


def _events(search_dir):
    return [json.loads(line) for line in (search_dir / "events.jsonl").read_text().splitlines()]


def test_racing_stops_worse_candidates_before_their_last_seed(tmp_path):
    result = _search(
        tmp_path,
        fake_train,
        trials=6,
        seeds_per_candidate=4,
        enqueue_reference=True,
        run=dict(report=False),
    )
    cands = result.candidates.set_index("number")
    assert result.complete and cands.loc[0, "state"] == "complete" and cands.loc[0, "n_seeds"] == 4
    pruned = cands[cands.state == "pruned"]
    assert len(pruned) >= 1
    for number, row in pruned.iterrows():
        assert row.n_seeds < 4 and "sequential test" in row.reason and row.race_p < 0.05
        assert row.race_verdict == "worse"
        assert (number, 3) not in CALLS  # its last seed was never trained
    assert result.best[0] == 0  # the paper's point is the best of this fake landscape
    best = tmp_path / "search" / "s" / "best-1.toml"
    assert 'base = "2d3d_3x3x3"' in best.read_text()


def test_close_contenders_get_extra_seeds_and_so_does_the_incumbent(tmp_path):
    result = _search(
        tmp_path, noisy_train, trials=3, seeds_per_candidate=2, max_seeds=4, run=dict(report=False)
    )
    cands = result.candidates.set_index("number")
    assert set(cands.state) <= {"complete", "pruned"}
    assert cands.n_seeds.max() > 2 and cands.n_seeds.max() <= 4
    extends = [e for e in _events(result.search_dir) if e["event"] == "extend"]
    assert extends
    for e in extends:  # the incumbent trained every seed its contender got
        assert (e["incumbent"], e["seed"]) in CALLS and (e["number"], e["seed"]) in CALLS


def test_multi_objective_returns_the_pareto_front_and_a_report(tmp_path):
    result = _search(
        tmp_path,
        fake_train,
        trials=5,
        seeds_per_candidate=1,
        objectives=("miou", "step_time"),
        export=10,
    )
    cands = result.candidates.set_index("number")
    front = cands[cands.pareto]
    assert len(front) >= 1 and set(result.best) == set(front.index)
    for _, ra in front.iterrows():  # nobody dominates a front member
        for _, rb in cands[cands.state == "complete"].iterrows():
            assert not (
                rb.objective >= ra.objective
                and rb.step_ms <= ra.step_ms
                and (rb.objective > ra.objective or rb.step_ms < ra.step_ms)
            )
    html = result.report.read_text()
    assert "Pareto front" in html and html.count("plotly.js v") == 1 and "Per-seed scores" in html


def interrupting_train(job):
    if len(CALLS) == 5:
        raise KeyboardInterrupt
    return fake_train(job)


def test_interrupted_search_resumes_without_retraining(tmp_path):
    first = _search(
        tmp_path,
        interrupting_train,
        trials=4,
        seeds_per_candidate=2,
        race=False,
        run=dict(report=False),
    )
    assert not first.complete
    done_before = set(CALLS)
    seeds = pd.read_parquet(first.search_dir / "seeds.parquet")
    assert len(seeds) == 5 and set(seeds.status) == {"finished"}
    interrupted = [
        n for n, row in first.candidates.set_index("number").iterrows() if row.state == "running"
    ]
    assert (
        len(interrupted) == 1
        and first.candidates.set_index("number").loc[interrupted[0], "n_seeds"] == 1
    )

    second = _search(
        tmp_path,
        fake_train,
        trials=4,
        seeds_per_candidate=2,
        race=False,
        run=dict(report=False, resume=True),
    )
    assert second.complete and not (set(CALLS) & done_before)  # nothing finished was trained again
    assert (interrupted[0], 1) in CALLS  # the interrupted candidate's missing seed was
    cands = second.candidates
    assert len(cands) == 4 and set(cands.state) == {"complete"} and set(cands.n_seeds) == {2}
    meta = json.loads((second.search_dir / "search.json").read_text())
    assert [i["complete"] for i in meta["invocations"]] == [False, True]


# --------------------------------------------------------------------------- Ray, end to end
def _run(args, cwd, timeout=300):
    return run_cli(*args, cwd=cwd, env={"RAY_ADDRESS": ""}, timeout=timeout)


def _tiny_volumes(folder: Path) -> list[str]:
    """Small blob volumes as .npy files (evaluation on the quick phantom would dominate)."""
    from tests.benchmark.conftest import blob_volume

    args = []
    for split, shape, seed in (
        ("train", (9, 48, 48), 1),
        ("eval", (5, 40, 40), 2),
        ("test", (5, 40, 40), 3),
    ):
        volume = blob_volume(shape, seed)
        np.save(folder / f"{split}.npy", volume.image.astype(np.float32))
        np.save(folder / f"{split}-labels.npy", volume.labels)
        args += [f"--{split}-image", f"{split}.npy", f"--{split}-labels", f"{split}-labels.npy"]
    return args


def _finished_seeds(seeds: pd.DataFrame) -> pd.DataFrame:
    return seeds[seeds.status == "finished"]


@pytest.mark.slow
def test_quick_search_8x2_on_ray_killed_resumed_and_exported(tmp_path):
    """8 candidates x 2 seeds on Ray; kill -9 midway; --resume trains nothing finished again and
    completes the study; the best candidate is exported as a spec in a runnable suite."""
    data = _tiny_volumes(tmp_path)
    args = [
        "search",
        "--space",
        "2d3d",
        "--trials",
        "8",
        "--seeds-per-candidate",
        "2",
        "--profile",
        "quick",
    ]
    args += ["--name", "q", "--results", "res", *TINY, "--option", "max_steps=6", *data]
    proc = start_cli(*args, cwd=tmp_path, env={"RAY_ADDRESS": ""})
    folder = tmp_path / "res" / "search" / "q"
    deadline = time.monotonic() + 240
    before = pd.DataFrame()
    try:
        while time.monotonic() < deadline and before.empty:
            if (folder / "candidates.parquet").is_file():
                cands = pd.read_parquet(folder / "candidates.parquet")
                if (
                    2 <= cands.state.isin(["complete", "pruned"]).sum() <= 5
                    and (cands.state == "running").any()
                ):
                    before = pd.read_parquet(folder / "seeds.parquet")
                    continue
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.1)
        assert not before.empty, "no candidate finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray processes
        proc.wait()
    n_events = len((folder / "events.jsonl").read_text().splitlines())
    resumed = _run(["search", "--name", "q", "--results", "res", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (
        "resuming" in resumed.stdout
        and "next:" in resumed.stdout
        and "candidates (8" in resumed.stdout
    )

    cands = pd.read_parquet(folder / "candidates.parquet")
    seeds = pd.read_parquet(folder / "seeds.parquet")
    assert len(cands) == 8 and set(cands.state) <= {"complete", "pruned"}
    assert not seeds.duplicated(["number", "seed"]).any()
    trained = _finished_seeds(seeds)
    assert set(trained.seed) == {0, 1} and trained.eval_miou_all.between(0, 1).all()
    assert (trained.steps == 6).all() and (trained.step_ms > 0).all()
    assert (cands[cands.state == "complete"].n_seeds == 2).all()
    # Resume: nothing finished before the kill was trained again; its rows are unchanged.
    kept = _finished_seeds(before)
    new_starts = {
        (e["number"], e["seed"]) for e in _events(folder)[n_events:] if e["event"] == "start"
    }
    assert not new_starts & set(zip(kept.number, kept.seed))
    merged = kept.merge(seeds, on=["number", "seed"], suffixes=("", "_after"))
    assert len(merged) == len(kept) and np.array_equal(merged.ended, merged.ended_after)
    meta = json.loads((folder / "search.json").read_text())
    assert len(meta["invocations"]) == 2 and meta["invocations"][1]["complete"] is True

    html = (folder / "search-report.html").read_text()
    assert "Optimization history" in html and "Parameter importances" in html
    assert "<p class='note'>not available" not in html  # every figure was drawn

    # The best candidate is exported: it builds with the candidate's parameter count, and the
    # suite lists it next to the paper's net on fresh seeds with the search's data. (Training it
    # with `run` and comparing with `analyze` is shown in docs/search.md.)
    from architectures import summarize
    from benchmark.sweep.suites import load_suite

    suite = load_suite(str(folder / "suite.toml"))
    best = suite.architectures[0]
    assert best.startswith("search_q_c") and suite.architectures[-1] == "2d3d_3x3x3"
    assert suite.seeds == tuple(range(2, 28)) and suite.profile == "quick"
    assert suite.data["train_image"] == str(tmp_path / "train.npy")
    number = int(best.rsplit("c", 1)[1])
    row = cands.set_index("number").loc[number]
    assert row.state == "complete" and row.objective == cands.objective.max()
    assert summarize(best, (5, 32, 32), width=0.0625).params == row.arch_params
    assert suite.train_options(best) == json.loads(row.train)
