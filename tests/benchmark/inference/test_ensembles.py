"""Ensembles of a run, Table 1 with ensembles, and streaming segmentation with an ensemble."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from benchmark.data.spec import DataSpec, load_data
from benchmark.inference.ensembles import run_ensembles
from benchmark.training.config import PROFILES
from benchmark.training.instance import train_instance


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A run folder as a sweep leaves it: 2 architectures x 3 seeds trained on the quick phantom."""
    run = tmp_path_factory.mktemp("run")
    spec = DataSpec(profile="quick")
    dataset = load_data(spec)
    config = PROFILES["quick"].replace(
        window=(5, 32, 32), width=0.0625, max_steps=4, evals_per_epoch=1e-9
    )
    rows = []
    for arch in ("2d3d_3x3x3", "2d3d_no_pyramid"):
        for seed in range(3):
            result = train_instance(
                arch, seed, dataset, config, checkpoint_dir=run / f"{arch}-{seed}"
            )
            rows.append(result.row(dataset.class_names))
    rows.append(dict(architecture="2d3d_no_pyramid", seed=3, status="failed", error="boom"))
    pd.DataFrame(rows).to_parquet(run / "instances.parquet")
    (run / "run.json").write_text(
        json.dumps(
            {
                "architectures": ["2d3d_3x3x3", "2d3d_no_pyramid"],
                "data": spec.to_dict(),
                "plugins": [],
            }
        )
    )
    return run, dataset


def test_top_and_random_ensembles(small_run):
    run, dataset = small_run
    result = run_ensembles(run, draws=5, min_component_sizes=[3], log=lambda s: None)
    table = pd.read_parquet(run / "ensembles.parquet")
    for arch in ("2d3d_3x3x3", "2d3d_no_pyramid"):
        top = table[(table.architecture == arch) & (table.selection == "top")].sort_values("k")
        assert top.k.tolist() == [1, 2, 3]  # the failed instance is not a member
        rnd = table[(table.architecture == arch) & (table.selection == "random")]
        assert rnd.k.tolist() == [1, 2, 3] and (rnd.draws == 5).all()
        assert (rnd.eval_miou_all_low <= rnd.eval_miou_all + 1e-12).all()
        # k = 1 is the best instance alone: its training score, up to float16 rounding of these
        # 4-step nets' near-uniform probabilities (a 180-step quick instance agrees to 1e-5).
        instances = pd.read_parquet(run / "instances.parquet")
        best_single = instances[instances.architecture == arch].eval_miou_all.max()
        assert top.iloc[0].eval_miou_all == pytest.approx(best_single, abs=0.01)
        assert top.iloc[-1].members.count(",") == 2
    assert set(result.best.architecture) == {"2d3d_3x3x3", "2d3d_no_pyramid"}
    with np.load(result.predictions_path) as z:
        assert z["2d3d_3x3x3__eval"].shape == dataset.eval.shape
        assert z["labels__test"].shape == dataset.test.shape
    pp = pd.read_parquet(run / "postprocess.parquet")
    assert set(pp.split) == {"eval", "test"} and (pp.min_component_size == 3).all()


def test_analyze_builds_table1_with_ensembles(small_run):
    from analysis.analyze import analyze

    run, _ = small_run
    run_ensembles(run, draws=2, log=lambda s: None)
    report = analyze(run, n_resamples=200, write=False)
    frame = report.table1.frame
    assert set(frame.section) >= {"ensemble", "single"}
    assert frame[frame.section == "ensemble"].label.str.startswith("Top-").all()


def test_segment_streams_an_ensemble(small_run, tmp_path, cli):
    run, dataset = small_run
    instances = pd.read_parquet(run / "instances.parquet")
    ckpts = instances[(instances.architecture == "2d3d_3x3x3")].checkpoint_best.tolist()
    volume = (dataset.test.image * 1000 + 30000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "vol.tif", volume)
    args = [
        "segment",
        "--input",
        str(tmp_path / "vol.tif"),
        "--output",
        str(tmp_path / "seg.tif"),
        "--probabilities",
        str(tmp_path / "p.zarr"),
        "--min-component-size",
        "2",
    ]
    for c in ckpts:
        args += ["--checkpoint", c]
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    seg = tifffile.imread(tmp_path / "seg.tif")
    assert seg.shape == volume.shape and seg.dtype == np.uint8 and seg.max() < 7
    from benchmark.data.readers import read_array

    probs = read_array(tmp_path / "p.zarr")  # an OME-Zarr image, axes (c, z, y, x)
    assert probs.shape == (7, *volume.shape)
    assert np.all(np.abs(probs[:, :2].astype(int).sum(axis=0) - 255) <= 7)  # rounding of 7 classes
    missing = cli(
        "segment",
        "--checkpoint",
        ckpts[0],
        "--input",
        str(tmp_path / "nope.tif"),
        "--output",
        str(tmp_path / "x.tif"),
    )
    assert (
        missing.returncode == 2 and "nope.tif" in missing.stderr and "not found" in missing.stderr
    )
