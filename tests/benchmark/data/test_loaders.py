"""Loaders, label decoding and load-time validation in benchmark.data."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from benchmark.data import (
    LABEL_DTYPE,
    PLATELET_CLASSES,
    PLATELET_COLORS,
    DataError,
    Dataset,
    Volume,
    check_window_fits,
    class_shares,
    decode_labels,
    load_color_table,
    load_platelet_dir,
    load_volumes,
    normalize,
    read_array,
)
from tests.conftest import ROOT  # noqa: E402


def _find_preview() -> Path:
    """The real preview slice: $DENSECELL_PREVIEW, or shared/data/platelet-preview beside the repo."""
    import os

    candidates = [os.environ.get("DENSECELL_PREVIEW", "")]
    candidates += [base / "shared" / "data" / "platelet-preview" for base in (ROOT, ROOT.parent)]
    for candidate in candidates:
        if candidate and (Path(candidate) / "50-semantic-z0.png").is_file():
            return Path(candidate)
    return ROOT / "shared" / "data" / "platelet-preview"


PREVIEW = _find_preview()
PALETTE = np.array([PLATELET_COLORS[i] for i in range(7)], dtype=np.uint8)
# PAPER_SPEC, "What the real data look like": share of voxels per class (%) in the preview slice.
SPEC_SHARES_PERCENT = (29.6, 61.8, 0.7, 4.0, 3.8, 0.14, 0.02)


def _volume(seed: int = 0, shape=(4, 16, 16), n_classes: int = 7):
    rng = np.random.default_rng(seed)
    image = rng.normal(1000.0, 50.0, shape).astype(np.float32)
    labels = rng.integers(0, n_classes, shape).astype(np.uint8)
    labels.flat[:n_classes] = np.arange(n_classes)  # every class present
    return image, labels


def _message(excinfo) -> str:
    return str(excinfo.value)


# --- read_array ---------------------------------------------------------------------------


def test_read_tif_roundtrip(tmp_path):
    image, _ = _volume()
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    np.testing.assert_array_equal(read_array(path), image)
    np.testing.assert_array_equal(read_array(str(tmp_path / "vol.tif")), image)


def test_read_planar_rgb_tif_puts_colors_last(tmp_path):
    _, ids = _volume()
    colors = PALETTE[ids]  # (z, x, y, 3)
    tifffile.imwrite(
        tmp_path / "planar.tif",
        np.moveaxis(colors, -1, 1),
        photometric="rgb",
        planarconfig="separate",
    )
    np.testing.assert_array_equal(read_array(tmp_path / "planar.tif"), colors)


def test_read_npy_and_npz_roundtrip(tmp_path):
    image, labels = _volume()
    np.save(tmp_path / "vol.npy", image)
    np.testing.assert_array_equal(read_array(tmp_path / "vol.npy"), image)
    np.savez(tmp_path / "both.npz", image=image, labels=labels)
    np.testing.assert_array_equal(read_array(f"{tmp_path}/both.npz:labels"), labels)
    with pytest.raises(DataError) as excinfo:
        read_array(tmp_path / "both.npz")
    assert (
        "both.npz" in _message(excinfo)
        and "'image'" in _message(excinfo)
        and "'labels'" in _message(excinfo)
    )


def test_read_zarr_array_and_group(tmp_path):
    image, labels = _volume()
    zarr.save_array(str(tmp_path / "single.zarr"), image)
    np.testing.assert_array_equal(read_array(tmp_path / "single.zarr"), image)
    group = zarr.open_group(str(tmp_path / "group.zarr"), mode="w")
    group.create_array("raw/image", data=image)
    group.create_array("labels", data=labels)
    np.testing.assert_array_equal(read_array(f"{tmp_path}/group.zarr:raw/image"), image)
    np.testing.assert_array_equal(read_array(f"{tmp_path}/group.zarr:labels"), labels)
    with pytest.raises(DataError) as excinfo:
        read_array(tmp_path / "group.zarr")
    assert "group.zarr" in _message(excinfo) and "raw/image" in _message(excinfo)


def test_read_hdf5_named_and_single_dataset(tmp_path):
    image, labels = _volume()
    with h5py.File(tmp_path / "two.h5", "w") as handle:
        handle["volumes/image"] = image
        handle["labels"] = labels
    with h5py.File(tmp_path / "one.hdf5", "w") as handle:
        handle["data"] = image
    np.testing.assert_array_equal(read_array(f"{tmp_path}/two.h5:volumes/image"), image)
    np.testing.assert_array_equal(read_array(f"{tmp_path}/two.h5:labels"), labels)
    np.testing.assert_array_equal(read_array(tmp_path / "one.hdf5"), image)
    with pytest.raises(DataError) as excinfo:
        read_array(tmp_path / "two.h5")
    message = _message(excinfo)
    assert "two.h5" in message and "volumes/image" in message and "labels" in message
    with pytest.raises(DataError) as excinfo:
        read_array(f"{tmp_path}/two.h5:nope")
    assert "two.h5" in _message(excinfo) and "'nope'" in _message(excinfo)


def test_read_missing_file(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_array(tmp_path / "absent.tif")
    assert "absent.tif" in _message(excinfo) and "not found" in _message(excinfo)
    with pytest.raises(DataError) as excinfo:
        read_array(f"{tmp_path}/absent.h5:image")
    assert "absent.h5" in _message(excinfo) and "not found" in _message(excinfo)


def test_read_unknown_extension(tmp_path):
    path = tmp_path / "vol.xyz"
    path.write_bytes(b"123")
    with pytest.raises(DataError) as excinfo:
        read_array(path)
    assert "vol.xyz" in _message(excinfo) and "unknown file extension '.xyz'" in _message(excinfo)


@pytest.mark.parametrize("name", ["empty.tif", "empty.npy", "empty.h5"])
def test_read_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(DataError) as excinfo:
        read_array(path)
    assert name in _message(excinfo) and "empty" in _message(excinfo)


def test_read_empty_array(tmp_path):
    np.save(tmp_path / "nothing.npy", np.zeros((0, 8, 8), dtype=np.float32))
    with pytest.raises(DataError) as excinfo:
        read_array(tmp_path / "nothing.npy")
    assert (
        "nothing.npy" in _message(excinfo)
        and "empty" in _message(excinfo)
        and "(0, 8, 8)" in _message(excinfo)
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [("bad.tif", "TIFF"), ("bad.npy", "NPY"), ("bad.h5", "HDF5"), ("bad.png", "PNG")],
)
def test_read_corrupt_file(tmp_path, name, kind):
    path = tmp_path / name
    path.write_bytes(b"this is not a " + kind.encode() + b" file at all" * 10)
    with pytest.raises(DataError) as excinfo:
        read_array(path)
    message = _message(excinfo)
    assert name in message and ("cannot read" in message or "not a PNG" in message)


def test_read_truncated_tif(tmp_path):
    image, _ = _volume()
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError) as excinfo:
        read_array(path)
    assert "cut.tif" in _message(excinfo) and "cannot read" in _message(excinfo)


# --- label decoding -------------------------------------------------------------------------


def test_decode_rgb_and_rgba_with_default_table():
    _, ids = _volume()
    rgb = PALETTE[ids]
    rgba = np.concatenate([rgb, np.full(ids.shape + (1,), 255, np.uint8)], axis=-1)
    for colors in (rgb, rgba):
        decoded = decode_labels(colors, "colors.tif")
        assert decoded.dtype == LABEL_DTYPE
        np.testing.assert_array_equal(decoded, ids)


def test_decode_integer_labels_and_integral_floats():
    _, ids = _volume()
    np.testing.assert_array_equal(decode_labels(ids.astype(np.uint16)), ids)
    np.testing.assert_array_equal(decode_labels(ids.astype(np.float32)), ids)


def test_decode_with_override_table_dict_json_and_toml(tmp_path):
    table = {"0": [10, 20, 30], "1": [200, 100, 0], "2": [0, 0, 255]}
    ids = np.array([[[0, 1], [2, 1]]], dtype=np.uint8)
    colors = np.array([table[str(i)] for i in range(3)], dtype=np.uint8)[ids]
    (tmp_path / "colors.json").write_text(json.dumps(table))
    (tmp_path / "colors.toml").write_text("0 = [10, 20, 30]\n1 = [200, 100, 0]\n2 = [0, 0, 255]\n")
    for spec in (
        table,
        {0: (10, 20, 30), 1: (200, 100, 0), 2: (0, 0, 255)},
        tmp_path / "colors.json",
        str(tmp_path / "colors.toml"),
    ):
        np.testing.assert_array_equal(decode_labels(colors, "x.tif", spec), ids)
    # the default table does not know these colors
    with pytest.raises(DataError):
        decode_labels(colors, "x.tif")


def test_color_table_validation(tmp_path):
    assert load_color_table() == PLATELET_COLORS
    with pytest.raises(DataError, match="more than one class"):
        load_color_table({0: (1, 2, 3), 1: (1, 2, 3)})
    with pytest.raises(DataError, match="0..255"):
        load_color_table({0: (1, 2, 300)})
    bad = tmp_path / "table.json"
    bad.write_text("{not json")
    with pytest.raises(DataError) as excinfo:
        load_color_table(bad)
    assert "table.json" in _message(excinfo) and "cannot parse" in _message(excinfo)


def test_unknown_color_names_file_color_and_count():
    _, ids = _volume()
    colors = PALETTE[ids]
    colors[0, 0, :3] = (9, 8, 7)  # three voxels of an unknown color
    colors[1, 0, 0] = (9, 8, 6)
    with pytest.raises(DataError) as excinfo:
        decode_labels(colors, "labels-semantic/50-semantic.tif")
    message = _message(excinfo)
    assert "50-semantic.tif" in message
    assert "(9, 8, 7) in 3 voxels" in message and "(9, 8, 6) in 1 voxels" in message


def test_decode_large_color_volume_is_fast():
    import time

    ids = np.random.default_rng(0).integers(0, 7, (50, 800, 800), dtype=np.uint8)
    colors = PALETTE[ids]
    start = time.perf_counter()
    decoded = decode_labels(colors, "big.tif")
    elapsed = time.perf_counter() - start
    assert np.array_equal(decoded, ids)
    assert elapsed < 10.0, f"decoding 50x800x800 RGB labels took {elapsed:.1f} s"


def test_class_shares_hand_computed():
    labels = np.array([[[0, 1, 1, 3]]])
    np.testing.assert_allclose(class_shares(labels, 4), [0.25, 0.5, 0.0, 0.25])


# --- the real preview slice -----------------------------------------------------------------


@pytest.mark.skipif(not PREVIEW.is_dir(), reason="platelet preview slice not available")
def test_real_preview_labels_decode_with_default_colors():
    colors = read_array(PREVIEW / "50-semantic-z0.png")
    assert colors.shape == (800, 800, 4) and colors.dtype == np.uint8
    ids = decode_labels(colors[None], "50-semantic-z0.png")
    shares = 100.0 * class_shares(ids, 7)
    np.testing.assert_allclose(shares, SPEC_SHARES_PERCENT, atol=0.5)
    image = read_array(PREVIEW / "50-images-z0.png")
    assert image.shape == (800, 800) and image.dtype == np.uint16
    # PAPER_SPEC's per-class mean intensities, to the unit
    assert round(float(image[ids[0] == 0].mean())) == 53374
    assert round(float(image[ids[0] == 2].mean())) == 10812


# --- load_volumes ---------------------------------------------------------------------------


def _write_pair(tmp_path, stem, image, labels, fmt="npy"):
    if fmt == "tif":
        tifffile.imwrite(tmp_path / f"{stem}-image.tif", image, photometric="minisblack")
        tifffile.imwrite(tmp_path / f"{stem}-labels.tif", labels, photometric="minisblack")
        return tmp_path / f"{stem}-image.tif", tmp_path / f"{stem}-labels.tif"
    np.save(tmp_path / f"{stem}-image.npy", image)
    np.save(tmp_path / f"{stem}-labels.npy", labels)
    return tmp_path / f"{stem}-image.npy", tmp_path / f"{stem}-labels.npy"


def test_load_volumes_generic(tmp_path):
    train = _write_pair(tmp_path, "train", *_volume(0, n_classes=4))
    evaluation = _write_pair(tmp_path, "eval", *_volume(1, (3, 16, 16), n_classes=3), fmt="tif")
    dataset = load_volumes(*train, *evaluation, voxel_size=(30, 5, 5))
    assert isinstance(dataset, Dataset) and dataset.test is None
    assert dataset.n_classes == 4 and dataset.class_names == (
        "class0",
        "class1",
        "class2",
        "class3",
    )
    assert dataset.org_classes == (2, 3)
    assert dataset.train.voxel_size == (30.0, 5.0, 5.0)
    for volume in dataset.volumes().values():
        assert isinstance(volume, Volume)
        assert volume.image.dtype == np.float32 and volume.labels.dtype == LABEL_DTYPE
        assert abs(float(volume.image.mean())) < 1e-5 and abs(float(volume.image.std()) - 1) < 1e-4
    np.testing.assert_array_equal(dataset.train.labels, _volume(0, n_classes=4)[1])
    assert dataset.train.name == str(train[0])


def test_load_volumes_class_schema_defaults(tmp_path):
    seven = load_volumes(*_volume(0), *_volume(1))
    assert seven.class_names == PLATELET_CLASSES and seven.org_classes == (2, 3, 4, 5, 6)
    two = load_volumes(*_volume(0, n_classes=2), *_volume(1, n_classes=2))
    assert two.n_classes == 2 and two.org_classes == (0, 1)
    given = load_volumes(
        *_volume(0, n_classes=3), *_volume(1, n_classes=3), n_classes=5, org_classes=[4]
    )
    assert given.n_classes == 5 and given.org_classes == (4,)
    named = load_volumes(
        *_volume(0, n_classes=3), *_volume(1, n_classes=3), class_names=["a", "b", "c"]
    )
    assert named.class_names == ("a", "b", "c") and named.org_classes == (2,)


def test_load_volumes_with_test_pair_and_color_labels(tmp_path):
    image, ids = _volume(2)
    tifffile.imwrite(tmp_path / "test-image.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "test-labels.tif", PALETTE[ids], photometric="rgb")
    dataset = load_volumes(
        *_volume(0), *_volume(1), tmp_path / "test-image.tif", tmp_path / "test-labels.tif"
    )
    np.testing.assert_array_equal(dataset.test.labels, ids)
    with pytest.raises(DataError, match="both an image and labels"):
        load_volumes(*_volume(0), *_volume(1), test_image=tmp_path / "test-image.tif")


def test_shape_mismatch_names_both_files(tmp_path):
    image, labels = _volume()
    train = _write_pair(tmp_path, "train", image, labels[:, :, :8])
    evaluation = _write_pair(tmp_path, "eval", image, labels)
    with pytest.raises(DataError) as excinfo:
        load_volumes(*train, *evaluation)
    message = _message(excinfo)
    assert "train-image.npy" in message and "train-labels.npy" in message
    assert "differ in shape" in message and "(4, 16, 16)" in message and "(4, 16, 8)" in message


def test_labels_outside_range(tmp_path):
    image, labels = _volume(n_classes=6)
    train = _write_pair(tmp_path, "train", image, labels)
    evaluation = _write_pair(tmp_path, "eval", *_volume(1, n_classes=3))
    with pytest.raises(DataError) as excinfo:
        load_volumes(*train, *evaluation, n_classes=3)
    message = _message(excinfo)
    assert (
        "train-labels.npy" in message
        and "outside the class ids 0..2" in message
        and "up to 5" in message
    )
    negative = labels.astype(np.int16)
    negative[0, 0, 0] = -1
    np.save(tmp_path / "negative.npy", negative)
    with pytest.raises(DataError) as excinfo:
        load_volumes(image, tmp_path / "negative.npy", *_volume(1))
    assert "negative.npy" in _message(excinfo) and "negative" in _message(excinfo)


def test_2d_array_is_rejected(tmp_path):
    image, labels = _volume()
    np.save(tmp_path / "slice.npy", image[0])
    with pytest.raises(DataError) as excinfo:
        load_volumes(tmp_path / "slice.npy", labels, *_volume(1))
    message = _message(excinfo)
    assert (
        "slice.npy" in message
        and "expected a 3D (z,x,y) image volume, got shape (16, 16)" in message
    )


def test_4d_non_color_array_is_rejected(tmp_path):
    image, labels = _volume()
    np.save(tmp_path / "multi.npy", np.stack([labels, labels]))  # (2, 4, 16, 16): not colors
    with pytest.raises(DataError) as excinfo:
        load_volumes(image, tmp_path / "multi.npy", *_volume(1))
    message = _message(excinfo)
    assert (
        "multi.npy" in message
        and "expected a 3D (z,x,y) label volume, got shape (2, 4, 16, 16)" in message
    )
    np.save(tmp_path / "rgb-image.npy", PALETTE[labels])
    with pytest.raises(DataError) as excinfo:
        load_volumes(tmp_path / "rgb-image.npy", labels, *_volume(1))
    assert "rgb-image.npy" in _message(excinfo) and "color image" in _message(excinfo)


def test_fractional_labels_are_rejected(tmp_path):
    image, labels = _volume()
    fractional = labels.astype(np.float32)
    fractional[0, 0, :2] = 0.5
    np.save(tmp_path / "frac.npy", fractional)
    with pytest.raises(DataError) as excinfo:
        load_volumes(image, tmp_path / "frac.npy", *_volume(1))
    message = _message(excinfo)
    assert "frac.npy" in message and "2 voxels" in message and "fractional" in message


def test_nan_and_inf_images_are_rejected(tmp_path):
    image, labels = _volume()
    image[0, 0, 0] = np.nan
    image[1, 2, 3] = np.inf
    np.save(tmp_path / "nan.npy", image)
    with pytest.raises(DataError) as excinfo:
        load_volumes(tmp_path / "nan.npy", labels, *_volume(1))
    assert "nan.npy" in _message(excinfo) and "2 NaN or infinite voxels" in _message(excinfo)


def test_empty_and_corrupt_files_in_load_volumes(tmp_path):
    image, labels = _volume()
    (tmp_path / "empty-labels.tif").write_bytes(b"")
    with pytest.raises(DataError) as excinfo:
        load_volumes(image, tmp_path / "empty-labels.tif", *_volume(1))
    assert "empty-labels.tif" in _message(excinfo) and "empty" in _message(excinfo)
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage" * 20)
    with pytest.raises(DataError) as excinfo:
        load_volumes(tmp_path / "broken.tif", labels, *_volume(1))
    assert "broken.tif" in _message(excinfo) and "cannot read" in _message(excinfo)


# --- platelet-em layout ---------------------------------------------------------------------


def _platelet_layout(root: Path, with_test: bool = False, integer_eval: bool = False) -> dict:
    (root / "images").mkdir(parents=True)
    (root / "labels-semantic").mkdir()
    splits = {"50": (6, 24, 24), "24": (5, 24, 24)}
    if with_test:
        splits["test"] = (5, 20, 20)
    truth = {}
    for i, (stem, shape) in enumerate(splits.items()):
        image, ids = _volume(i, shape)
        truth[stem] = ids
        tifffile.imwrite(
            root / "images" / f"{stem}-images.tif",
            image.astype(np.uint16),
            photometric="minisblack",
        )
        labels = ids if (integer_eval and stem == "24") else PALETTE[ids]
        photometric = "rgb" if labels.ndim == 4 else "minisblack"
        tifffile.imwrite(
            root / "labels-semantic" / f"{stem}-semantic.tif", labels, photometric=photometric
        )
    return truth


def test_load_platelet_dir(tmp_path):
    truth = _platelet_layout(tmp_path, integer_eval=True)
    dataset = load_platelet_dir(tmp_path)
    assert dataset.name == f"platelet-em:{tmp_path}" and dataset.test is None
    assert dataset.class_names == PLATELET_CLASSES and dataset.org_classes == (2, 3, 4, 5, 6)
    assert dataset.train.voxel_size == (40.0, 10.0, 10.0)
    np.testing.assert_array_equal(dataset.train.labels, truth["50"])
    np.testing.assert_array_equal(dataset.eval.labels, truth["24"])
    assert dataset.train.shape == (6, 24, 24) and dataset.eval.shape == (5, 24, 24)


def test_load_platelet_dir_finds_test_pair(tmp_path):
    truth = _platelet_layout(tmp_path, with_test=True)
    dataset = load_platelet_dir(tmp_path)
    np.testing.assert_array_equal(dataset.test.labels, truth["test"])


def test_missing_platelet_file_lists_expected(tmp_path):
    _platelet_layout(tmp_path)
    (tmp_path / "labels-semantic" / "24-semantic.tif").unlink()
    with pytest.raises(DataError) as excinfo:
        load_platelet_dir(tmp_path)
    message = _message(excinfo)
    assert str(tmp_path) in message and "missing" in message
    assert "labels-semantic/24-semantic.tif" in message and "images/50-images.tif" in message
    with pytest.raises(DataError, match="directory not found"):
        load_platelet_dir(tmp_path / "nowhere")


def test_platelet_unknown_color(tmp_path):
    _platelet_layout(tmp_path)
    path = tmp_path / "labels-semantic" / "50-semantic.tif"
    colors = tifffile.imread(path)
    colors[0, :2, :2] = (12, 34, 56)
    tifffile.imwrite(path, colors, photometric="rgb")
    with pytest.raises(DataError) as excinfo:
        load_platelet_dir(tmp_path)
    assert "50-semantic.tif" in _message(excinfo) and "(12, 34, 56) in 4 voxels" in _message(
        excinfo
    )


# --- windows --------------------------------------------------------------------------------


def test_window_larger_than_volume():
    dataset = load_volumes(*_volume(0, (6, 32, 32)), *_volume(1, (4, 32, 32)))
    check_window_fits(dataset, (4, 32, 32))
    with pytest.raises(DataError) as excinfo:
        check_window_fits(dataset, (5, 30, 30))
    message = _message(excinfo)
    assert "<array eval image>" in message and "(4, 32, 32)" in message and "(5, 30, 30)" in message
    assert "smaller than the window" in message


def test_normalize_is_mean_zero_sd_one():
    out = normalize(np.array([1.0, 2.0, 3.0, 4.0]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25), rtol=1e-6)
    with pytest.raises(DataError, match="vol.tif: the image is constant .every voxel is 7"):
        normalize(np.full(3, 7.0), "vol.tif")
    # Beyond float32's range: normalized in float64, not overflowed to inf.
    huge = np.array([1e39, 2e39, 3e39, 4e39])
    np.testing.assert_allclose(normalize(huge), normalize(np.array([1.0, 2, 3, 4])), rtol=1e-6)
