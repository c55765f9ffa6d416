"""File formats: OME-Zarr (read, levels, voxel size, our own output back), Zarr versions, N5, PNG
through Pillow (palette images included)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import zarr

from benchmark.data import DataError, load_volumes, read_array
from benchmark.data.readers import open_array, read_voxel_size
from benchmark.data.writers import create_ome_zarr, write_ome_zarr


def _labels(shape=(3, 10, 12), seed=0):
    return np.random.default_rng(seed).integers(0, 7, shape).astype(np.uint8)


# ------------------------------------------------------------------------------------ OME-Zarr
def test_ome_zarr_round_trip_keeps_values_and_voxel_size(tmp_path):
    volume = _labels()
    path = write_ome_zarr(tmp_path / "seg.ome.zarr", volume, voxel_size=(40.0, 10.0, 10.0))
    np.testing.assert_array_equal(read_array(path), volume)
    assert read_voxel_size(path) == (40.0, 10.0, 10.0)
    # The old spelling still works: the level's array by its path.
    np.testing.assert_array_equal(read_array(f"{path}:0"), volume)
    # NGFF 0.4 on Zarr format 2 with '/' chunk keys: what zarr-python 2 and the viewers read.
    meta = zarr.open_group(str(path), mode="r")
    assert meta.metadata.zarr_format == 2
    multiscale = dict(meta.attrs)["multiscales"][0]
    assert multiscale["version"] == "0.4"
    assert [a["name"] for a in multiscale["axes"]] == ["z", "y", "x"]
    assert (path / "0" / ".zarray").is_file() and (path / "0" / "0" / "0" / "0").is_file()


def test_ome_zarr_probabilities_have_a_channel_axis(tmp_path):
    probs = np.random.default_rng(1).integers(0, 256, (7, 3, 10, 12)).astype(np.uint8)
    path = write_ome_zarr(tmp_path / "p.zarr", probs, channel_axis=True, voxel_size=(8, 4, 4))
    np.testing.assert_array_equal(read_array(path), probs)
    axes = dict(zarr.open_group(str(path), mode="r").attrs)["multiscales"][0]["axes"]
    assert axes[0] == {"name": "c", "type": "channel"}
    assert read_voxel_size(path) is None  # seven channels: not one volume


def _ngff_05(path, micrometres=(0.04, 0.01, 0.01)):
    """A (t, c, z, y, x) NGFF 0.5 image on Zarr format 3 with two levels, as other tools write."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    full = np.arange(3 * 8 * 10, dtype=np.uint16).reshape(1, 1, 3, 8, 10)
    group.create_array("s0", shape=full.shape, chunks=(1, 1, 1, 8, 10), dtype="uint16")[...] = full
    half = full[..., ::2, ::2]
    group.create_array("s1", shape=half.shape, chunks=(1, 1, 1, 4, 5), dtype="uint16")[...] = half
    axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}]
    axes += [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    z, y, x = micrometres
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {
                        "path": "s0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1, 1, z, y, x]}],
                    },
                    {
                        "path": "s1",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1, 1, z, 2 * y, 2 * x]}
                        ],
                    },
                ],
            }
        ],
    }
    return full[0, 0]


def test_ngff_05_levels_singleton_axes_and_units(tmp_path):
    path = tmp_path / "cell.ome.zarr"
    full = _ngff_05(path)
    np.testing.assert_array_equal(read_array(path), full)  # level 0, t and c dropped
    np.testing.assert_array_equal(read_array(path, level=1), full[:, ::2, ::2])
    np.testing.assert_array_equal(read_array(f"{path}:1"), full[:, ::2, ::2])  # level by number
    assert read_voxel_size(path) == pytest.approx((40.0, 10.0, 10.0))  # micrometres -> nm
    assert read_voxel_size(path, level=1) == pytest.approx((40.0, 20.0, 20.0))
    lazy = open_array(path)
    assert lazy.shape == full.shape and lazy.ndim == 3
    np.testing.assert_array_equal(lazy[1:3], full[1:3])
    with pytest.raises(DataError, match="levels 0..1"):
        read_array(path, level=2)


def test_ome_zarr_labels_group_inside_an_image(tmp_path):
    path = tmp_path / "img.ome.zarr"
    write_ome_zarr(path, _labels(seed=2).astype(np.float32))
    labels = _labels(seed=3)
    write_ome_zarr(path / "labels" / "cells", labels)
    np.testing.assert_array_equal(read_array(f"{path}:labels/cells"), labels)


def test_load_volumes_takes_the_voxel_size_from_ome_metadata(tmp_path):
    image = np.random.default_rng(4).normal(size=(4, 12, 12)).astype(np.float32)
    labels = _labels((4, 12, 12), seed=5)
    img = write_ome_zarr(tmp_path / "img.zarr", image, voxel_size=(30.0, 6.0, 6.0))
    lab = write_ome_zarr(tmp_path / "lab.zarr", labels, voxel_size=(30.0, 6.0, 6.0))
    plain = tmp_path / "img.npy"
    np.save(plain, image)
    ds = load_volumes(img, lab, plain, lab, n_classes=7)
    assert ds.train.voxel_size == (30.0, 6.0, 6.0)
    assert ds.eval.voxel_size == (40.0, 10.0, 10.0)  # NPY has no metadata: the default
    forced = load_volumes(img, lab, img, lab, n_classes=7, voxel_size=(1, 2, 3))
    assert forced.train.voxel_size == (1.0, 2.0, 3.0)


def test_create_ome_zarr_streams_slabs(tmp_path):
    array = create_ome_zarr(tmp_path / "s.zarr", (4, 6, 6), "uint8", voxel_size=(4, 1, 1))
    for z in range(4):
        array[z : z + 1] = z
    assert read_array(tmp_path / "s.zarr")[:, 0, 0].tolist() == [0, 1, 2, 3]


def test_plain_zarr_v2_and_v3_arrays_read(tmp_path):
    volume = _labels(seed=6)
    for fmt in (2, 3):
        path = tmp_path / f"v{fmt}.zarr"
        zarr.create_array(str(path), shape=volume.shape, dtype="uint8", zarr_format=fmt)[...] = (
            volume
        )
        np.testing.assert_array_equal(read_array(path), volume)
        assert read_voxel_size(path) is None
        with pytest.raises(DataError, match="plain Zarr array"):
            read_array(path, level=1)


def test_old_zarr_python_is_named_not_mysterious(tmp_path, monkeypatch):
    path = write_ome_zarr(tmp_path / "a.zarr", _labels())
    monkeypatch.setattr(zarr, "__version__", "2.18.3")
    with pytest.raises(DataError, match=r"zarr>=3"):
        read_array(path)


def test_n5_is_refused_with_a_reason(tmp_path):
    (tmp_path / "vol.n5").mkdir()
    (tmp_path / "vol.n5" / "attributes.json").write_text('{"n5": "2.0.0"}')
    with pytest.raises(DataError, match="N5 is not supported"):
        read_array(tmp_path / "vol.n5")
    with pytest.raises(DataError, match="N5 is not supported"):
        read_array(f"{tmp_path / 'vol.n5'}:raw")


def test_level_on_a_tiff_is_an_error(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "v.tif", _labels(), photometric="minisblack")
    with pytest.raises(DataError, match="OME-Zarr images only"):
        read_array(tmp_path / "v.tif", level=1)


# ----------------------------------------------------------------------------------------- PNG
def test_palette_png_from_the_report_reads_as_rgb(tmp_path):
    from analysis.report import png_bytes

    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = [(0, 0, 0), (1, 1, 224), (200, 30, 40)]
    (tmp_path / "p.png").write_bytes(png_bytes(indices, palette=palette))
    rgb = read_array(tmp_path / "p.png")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.array(palette, np.uint8)[indices])
    # With a transparent index the colors come with an alpha channel.
    (tmp_path / "t.png").write_bytes(png_bytes(indices, palette=palette, transparent=0))
    rgba = read_array(tmp_path / "t.png")
    assert rgba.shape == (2, 3, 4) and rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 255


@pytest.mark.parametrize(
    ("mode", "array"),
    [
        ("L", np.arange(12, dtype=np.uint8).reshape(3, 4)),
        ("I;16", (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)),
        ("RGB", np.arange(36, dtype=np.uint8).reshape(3, 4, 3)),
        ("RGBA", np.arange(48, dtype=np.uint8).reshape(3, 4, 4)),
    ],
)
def test_png_modes_round_trip_through_pillow(tmp_path, mode, array):
    from PIL import Image

    image = Image.fromarray(array)
    assert image.mode == mode
    image.save(tmp_path / "x.png")
    out = read_array(tmp_path / "x.png")
    np.testing.assert_array_equal(out, array)
    assert out.dtype == array.dtype


def test_interlaced_png_reads(tmp_path):
    from PIL import Image

    array = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", interlace=1)
    (tmp_path / "i.png").write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(read_array(tmp_path / "i.png"), array)


def test_a_jpeg_named_png_is_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.png", format="JPEG")
    with pytest.raises(DataError, match="not a PNG"):
        read_array(tmp_path / "x.png")
