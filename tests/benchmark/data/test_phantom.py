"""The built-in phantom: determinism, calibration against the real slice, test shift, cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from benchmark.data import (
    LABEL_DTYPE,
    PLATELET_CLASSES,
    Dataset,
    decode_labels,
    normalize,
    read_array,
)
from benchmark.data.phantom import (
    GENERATOR_VERSION,
    PROFILES,
    REAL_STATISTICS,
    TEST_SHIFT,
    format_statistics,
    make_phantom,
    phantom_dataset,
    phantom_statistics,
)
from tests.conftest import ROOT  # noqa: E402

QUICK_VOXEL = PROFILES["quick"]["voxel_size"]


def _find_preview() -> Path | None:
    candidates = [os.environ.get("DENSECELL_PREVIEW", "")]
    candidates += [base / "shared" / "data" / "platelet-preview" for base in (ROOT, ROOT.parent)]
    for candidate in candidates:
        if candidate and (Path(candidate) / "50-images-z0.png").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def real_stats() -> dict:
    """Statistics of the real preview slice (falls back to the recorded ones without it)."""
    preview = _find_preview()
    if preview is None:
        return dict(REAL_STATISTICS, mean_order=(2, 6, 3, 5, 1, 4, 0))
    image = read_array(preview / "50-images-z0.png")
    labels = decode_labels(read_array(preview / "50-semantic-z0.png")[None], "preview")[0]
    return phantom_statistics(image, labels)


@pytest.fixture(scope="module")
def calibration_volume():
    """Four quick-profile volumes' worth at the quick voxel size: enough for the rare classes."""
    return make_phantom((24, 256, 256), 7, QUICK_VOXEL)


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Dataset:
    return phantom_dataset("quick", seed=0, cache_dir=None)


def test_real_statistics_match_recorded(real_stats):
    np.testing.assert_allclose(real_stats["shares"], REAL_STATISTICS["shares"], atol=1e-4)
    np.testing.assert_allclose(real_stats["mean"], REAL_STATISTICS["mean"], atol=1.0)
    np.testing.assert_allclose(real_stats["sd"], REAL_STATISTICS["sd"], atol=1.0)
    assert real_stats["mean_order"] == (2, 6, 3, 5, 1, 4, 0)


def test_phantom_statistics_hand_computed():
    image = np.array([[[10.0, 14.0, 20.0, 20.0], [30.0, 50.0, 20.0, 22.0]]])
    labels = np.array([[[0, 0, 1, 1], [3, 3, 1, 1]]])
    stats = phantom_statistics(image, labels, n_classes=4)
    assert stats["shares"] == (0.25, 0.5, 0.0, 0.25)
    np.testing.assert_allclose(stats["mean"][:2], [12.0, 20.5])
    assert np.isnan(stats["mean"][2])
    np.testing.assert_allclose(stats["sd"][0], 2.0)
    np.testing.assert_allclose(stats["sd"][1], np.std([20, 20, 20, 22]))
    # same-class neighbour differences along y: 4, 0 (class 1), 20 (class 3), 2 (class 1)
    np.testing.assert_allclose(stats["noise_sd"], np.std([4.0, 0.0, 20.0, 2.0]) / np.sqrt(2))
    np.testing.assert_allclose(stats["class_mean_sd"], np.std([12.0, 20.5, 40.0]))
    assert stats["dark_cell_fraction"] == 1.0  # every cell voxel is darker than the class-3 mean 40
    assert stats["mean_order"] == (0, 1, 3)
    assert "dense_granule" not in format_statistics(stats, PLATELET_CLASSES[:4])


def test_make_phantom_is_deterministic_and_seeded():
    state = np.random.get_state()  # noqa: NPY002 - checks the global state is untouched
    first = make_phantom((6, 48, 48), 3, QUICK_VOXEL)
    second = make_phantom((6, 48, 48), 3, QUICK_VOXEL)
    other = make_phantom((6, 48, 48), 4, QUICK_VOXEL)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_make_phantom_types_and_shared_geometry():
    image, labels = make_phantom((6, 40, 56), 1, QUICK_VOXEL)
    assert image.shape == labels.shape == (6, 40, 56)
    assert image.dtype == np.uint16 and labels.dtype == LABEL_DTYPE
    assert labels.min() >= 0 and labels.max() <= 6
    shifted, same_labels = make_phantom(
        (6, 40, 56), 1, QUICK_VOXEL, contrast=0.5, noise=2.0, brightness=100
    )
    np.testing.assert_array_equal(labels, same_labels)  # acquisition changes leave the geometry
    assert not np.array_equal(image, shifted)
    with pytest.raises(ValueError, match="shape"):
        make_phantom((0, 8, 8), 0)
    with pytest.raises(ValueError, match="voxel_size"):
        make_phantom((2, 8, 8), 0, (40, -1, 10))


def _mean_alpha_diameter(labels: np.ndarray) -> float:
    """Mean equivalent diameter (px) of alpha-granule cross-sections over the slices."""
    diameters = []
    for plane in labels:
        components, n = ndi.label(plane == 3)
        if n:
            areas = np.bincount(components.ravel())[1:]
            diameters.extend(2 * np.sqrt(areas[areas >= 4] / np.pi))
    return float(np.mean(diameters))


def test_voxel_size_sets_the_pixel_scale():
    _, fine = make_phantom((12, 192, 192), 2, (40.0, 10.0, 10.0))
    _, coarse = make_phantom((12, 192, 192), 2, (80.0, 20.0, 20.0))
    ratio = _mean_alpha_diameter(fine) / _mean_alpha_diameter(coarse)
    assert 1.5 < ratio < 2.6, ratio
    # real alpha granules are 20-40 px across at 10 nm (median cross-section 32 px)
    assert 18 < _mean_alpha_diameter(fine) < 45


def test_objects_are_consistent_across_z():
    _, labels = make_phantom((12, 96, 96), 5, (40.0, 10.0, 10.0))
    agreement = np.mean(labels[1:] == labels[:-1])
    assert agreement > 0.85, agreement  # neighbouring slices mostly agree: 3D objects, not noise


def test_class_shares_within_factor_two_of_real(calibration_volume, real_stats):
    image, labels = calibration_volume
    stats = phantom_statistics(image, labels)
    for cls, (got, real) in enumerate(zip(stats["shares"], real_stats["shares"])):
        assert real / 2 <= got <= real * 2, f"class {cls}: phantom {got:.5f} vs real {real:.5f}"


def test_mean_intensity_order_matches_real(calibration_volume, real_stats):
    stats = phantom_statistics(*calibration_volume)
    assert stats["mean_order"] == real_stats["mean_order"], format_statistics(stats)
    # background and cell land near the real means (16-bit units)
    assert abs(stats["mean"][0] - real_stats["mean"][0]) < 5000
    assert abs(stats["mean"][1] - real_stats["mean"][1]) < 5000


def test_noise_is_of_the_order_of_class_contrast(calibration_volume, real_stats):
    stats = phantom_statistics(*calibration_volume)
    ratio = stats["median_within_sd"] / stats["class_mean_sd"]
    assert 0.3 < ratio < 3.0, ratio
    assert 0.5 < stats["noise_sd"] / real_stats["noise_sd"] < 2.0
    # every class's spread is at least a third of the real one: no class is trivially separable
    for cls in range(7):
        assert stats["sd"][cls] > real_stats["sd"][cls] / 3, cls


def test_dark_distractor_dots_in_labeled_cytoplasm(calibration_volume):
    image, labels = calibration_volume
    stats = phantom_statistics(image, labels)
    assert 0.05 < stats["dark_cell_fraction"] < 0.5, stats["dark_cell_fraction"]
    # without noise the dark cell voxels remain: they are structure (dots), labeled cell
    clean, clean_labels = make_phantom((24, 256, 256), 7, QUICK_VOXEL, noise=0.0)
    np.testing.assert_array_equal(clean_labels, labels)
    cell = clean[clean_labels == 1].astype(np.float64)
    assert np.mean(cell < stats["mean"][3]) > 0.03
    # and they are small: most dark cell voxels sit in components of a few pixels
    dark = (clean < stats["mean"][3]) & (clean_labels == 1)
    components, n = ndi.label(dark[12])
    sizes = np.bincount(components.ravel())[1:]
    assert n > 20 and np.median(sizes) < 30


def test_quick_dataset(quick):
    assert quick.name == "phantom" and quick.class_names == PLATELET_CLASSES
    assert quick.org_classes == (2, 3, 4, 5, 6)
    profile = PROFILES["quick"]
    for split, volume in quick.volumes().items():
        assert volume.shape == profile[split]
        assert volume.voxel_size == profile["voxel_size"]
        assert volume.name == f"phantom:{split}:seed={quick.metadata['seeds'][split]}"
        assert volume.image.dtype == np.float32 and volume.labels.dtype == LABEL_DTYPE
        assert abs(float(volume.image.mean())) < 1e-4 and abs(float(volume.image.std()) - 1) < 1e-3
        assert set(np.unique(volume.labels)) == set(range(7)), split  # every class in every split
    assert len(set(quick.metadata["seeds"].values())) == 3
    assert quick.metadata["generator_version"] == GENERATOR_VERSION
    # the volume's name is enough to regenerate it
    raw, labels = make_phantom(
        profile["train"], quick.metadata["seeds"]["train"], profile["voxel_size"]
    )
    np.testing.assert_array_equal(labels, quick.train.labels)
    np.testing.assert_array_equal(normalize(raw), quick.train.image)


def test_quick_dataset_is_fast():
    start = time.perf_counter()
    phantom_dataset("quick", seed=11, cache_dir=None)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"quick phantom took {elapsed:.1f} s (target: under ~5 s)"


def _contrast_to_noise(volume) -> float:
    stats = phantom_statistics(volume.image, volume.labels)
    return stats["class_mean_sd"] / stats["noise_sd"]


def test_test_volume_is_shifted(quick):
    evaluation, test = _contrast_to_noise(quick.eval), _contrast_to_noise(quick.test)
    # contrast x0.8 and noise x1.3 lower the contrast-to-noise ratio by up to 1.6x
    assert test < evaluation / 1.25, (evaluation, test)
    # the same geometry with the eval acquisition is as easy as eval: the shift is acquisition
    seed, shape, voxel = quick.metadata["seeds"]["test"], PROFILES["quick"]["test"], QUICK_VOXEL
    plain, labels = make_phantom(shape, seed, voxel)
    shifted, _ = make_phantom(shape, seed, voxel, **TEST_SHIFT)
    np.testing.assert_array_equal(normalize(shifted), quick.test.image)
    plain_stats = phantom_statistics(normalize(plain), labels)
    shifted_stats = phantom_statistics(normalize(shifted), labels)
    assert shifted_stats["class_mean_sd"] < plain_stats["class_mean_sd"]
    assert shifted_stats["noise_sd"] > plain_stats["noise_sd"] * 1.1


def test_cache_roundtrip_and_corruption(tmp_path):
    small = {"train": (6, 48, 48), "eval": (4, 48, 48), "test": (4, 32, 32)}
    start = time.perf_counter()
    first = phantom_dataset("quick", seed=3, cache_dir=tmp_path, **small)
    generate = time.perf_counter() - start
    path = Path(first.metadata["cache_file"])
    assert path.is_file() and path.parent == tmp_path and not first.metadata["from_cache"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind

    start = time.perf_counter()
    second = phantom_dataset("quick", seed=3, cache_dir=tmp_path, **small)
    load = time.perf_counter() - start
    assert second.metadata["from_cache"] and load < generate
    for split in ("train", "eval", "test"):
        a, b = first.volumes()[split], second.volumes()[split]
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.labels.dtype == b.labels.dtype == LABEL_DTYPE

    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated: corrupt
    third = phantom_dataset("quick", seed=3, cache_dir=tmp_path, **small)
    assert not third.metadata["from_cache"]
    np.testing.assert_array_equal(third.train.image, first.train.image)
    assert phantom_dataset("quick", seed=3, cache_dir=tmp_path, **small).metadata["from_cache"]

    other = phantom_dataset("quick", seed=4, cache_dir=tmp_path, **small)
    assert other.metadata["cache_file"] != str(path)
    assert not np.array_equal(other.train.labels, first.train.labels)


def test_dataset_argument_errors():
    with pytest.raises(ValueError, match="unknown phantom profile"):
        phantom_dataset("huge", cache_dir=None)
    with pytest.raises(ValueError, match="unknown phantom size override"):
        phantom_dataset("quick", cache_dir=None, validation=(1, 2, 3))
