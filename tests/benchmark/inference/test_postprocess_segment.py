"""Small-component removal, streaming segmentation and agreement."""

import numpy as np
import pytest
import tifffile

from benchmark.inference.postprocess import remove_small_components
from benchmark.inference.segment import agreement


def test_small_components_take_the_nearest_kept_label():
    seg = np.zeros((1, 10, 10), dtype=np.uint8)
    seg[0, 2:8, 2:8] = 1
    seg[0, 4, 4] = 2  # a 1-voxel island inside class 1
    seg[0, 0, 9] = 3  # a 1-voxel island in the corner
    out = remove_small_components(seg, 2, 4)
    assert out[0, 4, 4] == 1 and out[0, 0, 9] == 0
    assert (out[seg < 2] == seg[seg < 2]).all()
    assert np.array_equal(remove_small_components(seg, 1, 4), seg)


def test_components_use_26_connectivity():
    seg = np.zeros((3, 3, 3), dtype=np.uint8)
    seg[0, 0, 0] = seg[1, 1, 1] = seg[2, 2, 2] = 1  # diagonal chain: one component of 3
    assert remove_small_components(seg, 3, 2)[1, 1, 1] == 1
    assert remove_small_components(seg, 4, 2)[1, 1, 1] == 0


def test_agreement_between_two_annotations(tmp_path, cli):
    a = np.zeros((2, 8, 8), np.uint8)
    a[:, :4] = 1
    a[:, 6:, 6:] = 2
    b = a.copy()
    b[:, 3] = 0  # one row of class 1 labeled background
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    scores, n, org = agreement(tmp_path / "a.tif", tmp_path / "b.tif", org_classes=[1, 2])
    assert n == 3
    assert scores.iou[1] == pytest.approx(3 / 4)
    assert scores.iou[2] == 1.0
    assert scores.miou_org == pytest.approx((0.75 + 1) / 2)
    out = cli("agreement", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--org-classes", "1,2")
    assert out.returncode == 0, out.stderr
    assert "MIoU(org) 0.8750" in out.stdout
    bad = np.zeros((2, 8, 9), np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", bad)
    out = cli("agreement", str(tmp_path / "a.tif"), str(tmp_path / "c.tif"))
    assert out.returncode == 2 and "differ in shape" in out.stderr
