import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.analyze import analyze, format_report
from analysis.io import load_instances
from analysis.sequential import SequentialDesign, sequential_family
from analysis.sequential_run import sequential_analysis
from tests.analysis.conftest import make_instances

DESIGN = SequentialDesign(min_seeds=5, max_seeds=14, round_size=3)
MEANS = {"2d3d_3x3x3": 0.80, "2d3d_no_3x3x3": 0.80, "unet_original": 0.74}
REFERENCE = "2d3d_3x3x3"


def sequential_run(path: Path, order=tuple(range(14)), fail=None) -> Path:
    """A run folder as ``run --until-decided`` leaves it: rounds replayed as the driver does."""
    full = make_instances(n_seeds=14, means=MEANS, seed=4)
    if fail is not None:  # (architecture, seed) whose instance failed
        row = (full.architecture == fail[0]) & (full.seed == fail[1])
        full.loc[row, ["status", "eval_miou_all"]] = ["failed", np.nan]
    have = full[full.seed.isin(order[: DESIGN.min_seeds])]
    invocations = [{"expected": [[a, s] for a in MEANS for s in order[: DESIGN.min_seeds]]}]
    while True:
        scores = {a: dict(zip(g.seed, g.eval_miou_all)) for a, g in have.groupby("architecture")}
        state = sequential_family(scores, REFERENCE, DESIGN, seed_order=list(order))
        if state.finished:
            break
        new = list(order[: state.next_seeds])
        invocations[0]["expected"] += [[a, s] for a in state.needs_seeds for s in new]
        add = full[full.architecture.isin(state.needs_seeds) & full.seed.isin(new)]
        have = pd.concat([have, add]).drop_duplicates(["architecture", "seed"])
    path.mkdir(parents=True)
    have.to_parquet(path / "instances.parquet")
    state.frame().to_parquet(path / "sequential.parquet")
    meta = {
        "architectures": list(MEANS),
        "invocations": invocations,
        "sequential": {"design": dataclasses.asdict(DESIGN), "reference": REFERENCE},
    }
    (path / "run.json").write_text(json.dumps(meta))
    return path


def test_recomputed_decisions_seeds_and_invalid_fixed_sample(tmp_path):
    run = sequential_run(tmp_path / "run")
    seq = sequential_analysis(load_instances(run))
    assert seq.matches_stored is True and seq.differences == ()
    assert seq.summary.set_index("other")["decision"].to_dict() == {
        "2d3d_no_3x3x3": "undecided",
        "unet_original": "reference_better",
    }
    assert pd.isna(seq.summary.loc[0, "decided_at"]) and seq.summary.loc[1, "decided_at"] == 1
    assert seq.seeds[["architecture", "trained", "fixed_plan", "saved"]].to_dict("records") == [
        {"architecture": "2d3d_3x3x3", "trained": 14, "fixed_plan": 14, "saved": 0},
        {"architecture": "2d3d_no_3x3x3", "trained": 14, "fixed_plan": 14, "saved": 0},
        {"architecture": "unet_original", "trained": 5, "fixed_plan": 14, "saved": 9},
    ]
    pd.testing.assert_frame_equal(seq.looks, pd.read_parquet(run / "sequential.parquet"))
    assert seq.seed_order == tuple(range(14))

    report = analyze(run, n_resamples=300)
    assert not report.fixed_sample_valid and report.sequential is not None
    text = format_report(report)
    assert "== sequential comparisons (2d3d_3x3x3 against each other architecture" in text
    assert "2d3d_3x3x3 > unet_original after 5 seeds: +0.0" in text
    assert "fixed-sample p-values and intervals computed on them do not hold their level" in text
    assert "33 of 42 instances (21% saved)" in text
    assert "matches sequential.parquet" in text
    for c in report.comparisons:
        assert f"  [fixed-sample, invalid: optional stopping] {c.verdict()}\n" in text
    assert "-- NOT VALID for this sequential run" in text
    names = {p.name for p in report.files}
    assert {"sequential_looks.csv", "sequential_summary.csv", "sequential_seeds.csv"} <= names
    assert report.to_json()["sequential"]["summary"][1]["decision"] == "reference_better"


def test_a_file_that_disagrees_is_named_and_recomputed(tmp_path):
    run = sequential_run(tmp_path / "run")
    stored = pd.read_parquet(run / "sequential.parquet")
    stored.loc[stored.other == "unet_original", "decision"] = "futile"
    stored.loc[0, "p_adjusted"] = 0.5
    stored.to_parquet(run / "sequential.parquet")
    seq = sequential_analysis(load_instances(run))
    assert seq.matches_stored is False
    assert seq.differences == (
        "2d3d_no_3x3x3 look 1: p_adjusted 0.5 in the file, 1 recomputed",
        "unet_original look 1: decision futile in the file, reference_better recomputed",
    )
    assert "DIFFERS from sequential.parquet" in format_report(
        analyze(run, n_resamples=200, write=False)
    )


def test_seed_order_failed_seeds_and_plain_runs(tmp_path):
    order = (13, 2, 7, 0, 9, 4, 11, 1, 3, 5, 6, 8, 10, 12)
    run = sequential_run(tmp_path / "run", order=order, fail=("unet_original", 7))
    seq = sequential_analysis(load_instances(run))
    assert seq.seed_order == order and "invocations" in seq.seed_order_source
    assert seq.matches_stored is True
    unet = seq.seeds.set_index("architecture").loc["unet_original"]
    # the failed seed counts as trained (NaN: its pair drops out of the look), not as scored
    assert unet["trained"] == 8 and unet["scored"] == 7
    assert seq.summary.set_index("other").loc["unet_original", "seeds"] == 8
    # a run folder without a design: the stored looks, said so; without either: nothing
    meta = json.loads((run / "run.json").read_text())
    del meta["sequential"]
    (run / "run.json").write_text(json.dumps(meta))
    seq = sequential_analysis(load_instances(run))
    assert seq.design is None and seq.matches_stored is None and "not recomputed" in seq.notes[0]
    (run / "sequential.parquet").unlink()
    assert sequential_analysis(load_instances(run)) is None
    assert analyze(run, n_resamples=200, write=False).fixed_sample_valid


@pytest.mark.parametrize("metric", ["test_miou_org"])
def test_another_metric_is_noted(tmp_path, metric):
    run = sequential_run(tmp_path / "run")
    report = analyze(run, metric=metric, n_resamples=200, write=False)
    assert report.sequential.metric == "eval_miou_all"
    assert any("decided on eval_miou_all, not on test_miou_org" in n for n in report.notes)
