"""``segment`` outputs: OME-Zarr or TIFF segmentations and probabilities, read back with the
input's voxel size; the progress hooks of training and segmentation."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from benchmark.data.readers import read_array, read_voxel_size
from benchmark.data.writers import write_ome_zarr
from benchmark.inference.segment import segment_volume
from benchmark.training.instance import train_instance
from tests.benchmark.conftest import TINY_CONFIG

TINY = TINY_CONFIG.replace(max_steps=3)


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    calls: list[tuple[int, int]] = []
    result = train_instance(
        "2d3d_3x3x3",
        0,
        tiny_dataset,
        TINY,
        checkpoint_dir=folder,
        progress=lambda step, total: calls.append((step, total)),
    )
    return result.checkpoint_best, calls


def test_train_calls_the_progress_hook_every_step_with_plain_ints(checkpoint):
    _, calls = checkpoint
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert all(type(s) is int and type(t) is int for s, t in calls)


def test_segment_writes_ome_zarr_that_reads_back_with_the_voxel_size(
    checkpoint, tiny_dataset, tmp_path
):
    ckpt, _ = checkpoint
    volume = (tiny_dataset.test.image * 1000 + 30000).astype(np.uint16)
    source = write_ome_zarr(tmp_path / "in.ome.zarr", volume, voxel_size=(50.0, 8.0, 8.0))
    zarr_run = segment_volume(
        [ckpt],
        source,
        tmp_path / "seg.zarr",
        probabilities=tmp_path / "probs.zarr",
        progress=False,
        log=lambda line: None,
    )
    seg = read_array(zarr_run.output)
    assert seg.shape == volume.shape and seg.dtype == np.uint8 and seg.max() < 7
    assert read_voxel_size(zarr_run.output) == (50.0, 8.0, 8.0)
    probs = read_array(tmp_path / "probs.zarr")
    assert probs.shape == (7, *volume.shape) and probs.dtype == np.uint8
    assert np.all(np.abs(probs.astype(int).sum(axis=0) - 255) <= 7)  # rounding of 7 classes
    # No temporary folders are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.ome.zarr", "probs.zarr", "seg.zarr"]

    # The same input as TIFF: the same segmentation; probabilities as an ImageJ (z, c, x, y) stack.
    tifffile.imwrite(tmp_path / "in.tif", volume, photometric="minisblack")
    tiff_run = segment_volume(
        [ckpt],
        tmp_path / "in.tif",
        tmp_path / "seg.tif",
        probabilities=tmp_path / "probs.tif",
        progress=False,
        log=lambda line: None,
    )
    np.testing.assert_array_equal(read_array(tiff_run.output), seg)
    stack = read_array(tmp_path / "probs.tif")
    assert stack.shape == (volume.shape[0], 7, *volume.shape[1:])
    np.testing.assert_array_equal(np.moveaxis(stack, 1, 0), probs)
    with tifffile.TiffFile(tmp_path / "probs.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZCYX"


def test_segment_shows_a_progress_bar_over_slices(checkpoint, tiny_dataset, tmp_path, capsys):
    ckpt, _ = checkpoint
    np.save(tmp_path / "in.npy", tiny_dataset.test.image)
    segment_volume(
        [ckpt], tmp_path / "in.npy", tmp_path / "s.tif", progress=True, log=lambda line: None
    )
    err = capsys.readouterr().err
    z = tiny_dataset.test.image.shape[0]
    assert f"{z}/{z}" in err and "slice" in err


def test_step_progress_counts_without_a_terminal(capsys):
    from benchmark.progress import progress_enabled, step_progress

    assert not progress_enabled()  # pytest captures stderr: not a terminal, so no bar
    hook, close = step_progress(10, "quiet")
    for step in range(11):
        hook(step, 10)
    close()
    assert capsys.readouterr().err == ""
    hook, close = step_progress(0, "shown", enabled=True)
    for step in range(5):
        hook(step, 4)
    close()
    assert "4/4" in capsys.readouterr().err
