import os

import pandas as pd
import pytest

from analysis.files import atomic_output, atomic_write_parquet, atomic_write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "run.json", "old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["run.json"]


def test_temporary_names_are_unique_and_keep_the_suffix(tmp_path):
    with atomic_output(tmp_path / "a.npz") as first, atomic_output(tmp_path / "a.npz") as second:
        assert first != second and first.suffix == second.suffix == ".npz"
        first.write_text("1")
        second.write_text("2")
    assert (tmp_path / "a.npz").read_text() == "1"


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame({"architecture": ["a", "b"], "seed": [0, 1]})
    path = atomic_write_parquet(frame, tmp_path / "sub" / "instances.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
