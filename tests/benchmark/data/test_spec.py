"""Data specs from the command line and from a suite file's [data] table."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmark.cli.options import add_data_arguments, data_options
from benchmark.data.spec import (
    DataSpec,
    absolute_path,
    data_options_given,
    data_spec_from_options,
    data_spec_from_suite,
    load_data,
)


def _args(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    return data_options(parser.parse_args(list(argv)))


def _volumes(folder):
    rng = np.random.default_rng(0)
    names = {}
    for split in ("train", "eval"):
        np.save(folder / f"{split}-image.npy", rng.normal(size=(6, 20, 20)).astype(np.float32))
        np.save(
            folder / f"{split}-labels.npy", rng.integers(0, 3, size=(6, 20, 20)).astype(np.uint8)
        )
        names[f"{split}_image"] = f"{split}-image.npy"
        names[f"{split}_labels"] = f"{split}-labels.npy"
    return names


def test_suite_data_paths_are_relative_to_the_suite_file(tmp_path, monkeypatch):
    (tmp_path / "vols").mkdir()
    names = _volumes(tmp_path / "vols")
    monkeypatch.chdir(tmp_path.parent)  # not the suite's folder
    spec = data_spec_from_suite(
        {k: f"vols/{v}" for k, v in names.items()} | {"org_classes": [1, 2]}, tmp_path
    )
    assert spec.kind == "volumes" and spec.org_classes == (1, 2)
    assert spec.train_image == str(tmp_path / "vols" / "train-image.npy")
    dataset = load_data(spec)
    assert dataset.n_classes == 3 and dataset.org_classes == (1, 2)


def test_suite_data_unknown_key_is_named():
    with pytest.raises(ValueError, match="unknown data option.*'train_imgae'.*known: data"):
        data_spec_from_suite({"train_imgae": "x.tif"}, ".")


def test_suite_phantom_seed():
    # The phantom's size is left to the training planner (it depends on the resolved profile).
    assert data_spec_from_suite({"phantom_seed": 3}, ".") == DataSpec(kind="phantom", seed=3)


def test_command_line_data_options():
    assert not data_options_given(_args())
    assert data_options_given(_args("--phantom-seed", "2"))
    with pytest.raises(ValueError, match="missing --eval-image --eval-labels"):
        data_spec_from_options(_args("--train-image", "a.tif", "--train-labels", "b.tif"))
    with pytest.raises(ValueError, match="the built-in phantom has its own"):
        data_spec_from_options(_args("--test-image", "a.tif", "--test-labels", "b.tif"))
    with pytest.raises(ValueError, match="not both"):
        data_spec_from_options(_args("--data", "d", "--train-image", "a.tif"))


def test_absolute_path_keeps_the_hdf5_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_path("vol.h5:raw/image") == f"{tmp_path / 'vol.h5'}:raw/image"
    assert absolute_path("sub/x.tif") == str(tmp_path / "sub" / "x.tif")
    spec = DataSpec(kind="volumes", train_image="a.npy", cache_dir="c").absolute()
    assert spec.train_image == str(tmp_path / "a.npy") and spec.cache_dir == str(tmp_path / "c")
