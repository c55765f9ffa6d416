"""The built-in phantom: seeded SBF-SEM-like platelet volumes with the 7-class platelet-em schema.

It is the default dataset when no data is given (:func:`phantom_dataset`); :func:`make_phantom`
draws one volume. Everything is generated in physical units (nm), so the voxel size sets the
pixel scale, and with vectorized numpy/scipy (no per-voxel Python loops):

- cells (1): deformed ellipsoids with roughly parallel long axes in x-y, 1.5-3.5 um long half
  axes, packed to ~70 % cover with resin gaps where neighbours meet, on bright noisy resin (0);
- alpha granules (3): darker round bodies, 130-240 nm radius (20-45 px across at 10 nm);
  canalicular vessels (4): bright, elongated, irregular (sometimes branched) lumens with a dark
  membrane; mitochondria (2): small and very dark; dense granules: a body (5) with a darker core
  (6) inside, rare. Organelles are placed until their class reaches its target share, rarest
  first, and every class gets at least one object per volume when the cells have room;
- distractors: clusters of small dark dots in the cytoplasm (labeled cell), dark cell
  membranes, per-class fine and coarse texture;
- acquisition: Gaussian PSF (15, 8, 8) nm, in-plane correlated detector noise (sd 4,800 before
  correlation, correlation 0.8 px), per-slice brightness jitter. Images are uint16 like the
  real TIFs; datasets normalize them.

Real statistics, slice z=0 of the platelet-em training volume (``data/platelet-preview/``,
800 x 800 px at 10 nm), measured with :func:`phantom_statistics` (recorded in
:data:`REAL_STATISTICS`)::

    class                   share %     mean       sd
    0 background             29.558   53,374    7,124
    1 cell                   61.793   30,420    9,227
    2 mitochondrion           0.693   10,812    6,693
    3 alpha_granule           4.034   22,788    6,776
    4 canalicular_vessel      3.762   42,512   11,798
    5 dense_granule_body      0.144   25,182   11,587
    6 dense_granule_core      0.017   22,205    9,512
    noise sd 2,834; sd of class means 13,127; median within-class sd 9,227; cell voxels darker
    than the alpha-granule mean 19.9 %; classes by mean intensity: 2 < 6 < 3 < 5 < 1 < 4 < 0

Phantom, ``paper`` profile train volume (50 x 800 x 800 at (40, 10, 10) nm, seed 0; 10-15 s)::

    0 background             31.423   53,780    6,771
    1 cell                   60.171   29,544    8,549
    2 mitochondrion           0.681   10,432    6,670
    3 alpha_granule           3.886   22,182    6,336
    4 canalicular_vessel      3.700   40,689   10,210
    5 dense_granule_body      0.123   25,126    7,711
    6 dense_granule_core      0.015   14,399    6,405
    noise sd 3,031; sd of class means 13,957; median within-class sd 6,771; cell voxels darker
    than the alpha-granule mean 19.9 %; classes by mean intensity: 2 < 6 < 3 < 5 < 1 < 4 < 0

Phantom, ``quick`` profile train volume (24 x 128 x 128 at (80, 20, 20) nm, seed 0; 0.4 s)::

    0 background             25.156   54,079    6,837
    1 cell                   65.765   28,910    9,386
    2 mitochondrion           0.739   10,620    6,765
    3 alpha_granule           4.214   22,423    6,896
    4 canalicular_vessel      4.032   42,444    9,615
    5 dense_granule_body      0.078   23,840    7,007
    6 dense_granule_core      0.017   15,822    4,140
    noise sd 3,895; sd of class means 14,080; median within-class sd 6,896; cell voxels darker
    than the alpha-granule mean 24.6 %; classes by mean intensity: 2 < 6 < 3 < 5 < 1 < 4 < 0

Known differences: the dense-granule core is darker than the real one (real core and alpha
granule means differ by only 600, which a handful of cores cannot reproduce reliably; the
phantom keeps the real ordering with a margin); the within-class sd of vessels and dense granules
is ~0.6-0.9x the real one; a quick-profile volume holds one or two dense granules, so its rare
class shares vary by 2x between seeds and their means wander (quick eval, seed 0: body above
cell). The test volume differs by :data:`TEST_SHIFT`. Whole datasets on one core: ``quick`` ~1 s, ``paper``
20-25 s plus 5-10 s to write its 105 MB cache file; loading from the cache takes ~2 s; peak
memory ~1 GB.

This module is longer than the others (~780 lines) on purpose: the generator is one calibrated
whole (cells, organelles, distractors, acquisition and the constants tuned against the real
slice's statistics), and splitting it would separate each constant from the code it calibrates.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from analysis.files import atomic_output
from benchmark.data.platelet import PLATELET_CLASSES, PLATELET_ORG_CLASSES
from benchmark.data.volumes import LABEL_DTYPE, Dataset, Volume, normalize

__all__ = [
    "GENERATOR_VERSION",
    "PROFILES",
    "REAL_STATISTICS",
    "TEST_SHIFT",
    "format_statistics",
    "make_phantom",
    "phantom_dataset",
    "phantom_statistics",
]

# Bump whenever the generator's output changes for the same parameters: it keys the disk cache.
GENERATOR_VERSION = "1"

# Volume shapes (z, x, y) per profile and split, and the voxel size (z, x, y) in nm.
PROFILES: dict[str, dict[str, tuple]] = {
    "paper": {
        "train": (50, 800, 800),
        "eval": (24, 800, 800),
        "test": (32, 400, 400),
        "voxel_size": (40.0, 10.0, 10.0),
    },
    "quick": {
        "train": (24, 128, 128),
        "eval": (12, 128, 128),
        "test": (12, 128, 128),
        "voxel_size": (80.0, 20.0, 20.0),
    },
}

# The test volume's acquisition shift (the paper's test cell comes from another patient):
# contrast x0.8 around the mid-gray, noise x1.3, +2500 brightness and a 15 % left-to-right
# illumination ramp. The offset disappears in per-volume normalization; the ramp, contrast and
# noise do not.
TEST_SHIFT = {"contrast": 0.8, "noise": 1.3, "brightness": 2500.0, "illumination": 0.15}

# Measured on the real preview slice (see the module docstring); class order 0..6.
REAL_STATISTICS = {
    "shares": (0.29558, 0.61793, 0.00693, 0.04034, 0.03762, 0.00144, 0.00017),
    "mean": (53374.0, 30420.0, 10812.0, 22788.0, 42512.0, 25182.0, 22205.0),
    "sd": (7124.0, 9227.0, 6693.0, 6776.0, 11798.0, 11587.0, 9512.0),
    "noise_sd": 2834.0,
    "class_mean_sd": 13127.0,
    "median_within_sd": 9227.0,
    "dark_cell_fraction": 0.199,
}

BACKGROUND, CELL, MITO, ALPHA, VESSEL, BODY, CORE = range(7)

# --- appearance (16-bit units). Intrinsic values before blur, rims, dots and noise, calibrated
# so that the measured class means land near the real ones.
_BASE = np.array([55000, 37000, 13000, 24500, 52000, 27500, 13500], dtype=np.float32)
_TEXTURE_FINE = np.array([1500, 1800, 5000, 2500, 6500, 6000, 3500], dtype=np.float32)
_TEXTURE_COARSE = np.array([2200, 1800, 1500, 2000, 2000, 2000, 2000], dtype=np.float32)
_REFERENCE = 37000.0  # contrast pivot: the real slice's mean intensity (37,207)
_NOISE_SD = 4800.0  # per-voxel noise before its in-plane correlation
_NOISE_SIGMA_PX = 0.8  # in-plane correlation of the detector noise, in pixels
_SLICE_JITTER = 400.0  # per-slice brightness jitter (SBF-SEM slices are imaged one by one)
_PSF_NM = (15.0, 8.0, 8.0)
_MEMBRANE = (12000.0, 10.0)  # darkening at the cell boundary (16-bit units), width (nm)
# Organelle membranes: darkening (16-bit units), width (nm), offset of the rim's center from the
# organelle surface (nm, > 0 outside: the dark line around a vessel lies in the cytoplasm).
_RIMS = {VESSEL: (20000.0, 10.0, 3.0), ALPHA: (8000.0, 10.0, 0.0), MITO: (4000.0, 12.0, 0.0)}
# Dark dots: clusters (``density`` per cubic micron, log-normally modulated in space) of
# 1 + Poisson(``fragments``) Gaussian dots scattered ``spread_nm`` around the cluster center.
_DOTS = {
    "density": 1000.0,
    "fragments": 2.5,
    "spread_nm": (20.0, 25.0, 25.0),
    "depth": 26000.0,  # initial slope: an isolated dot of weight 1 is ~17,000 deep
    "saturation": 28000.0,  # overlapping dots darken at most this much
    "sigma_nm": (30.0, 18.0, 18.0),
    "cluster": 1.0,
}

# --- geometry (nm)
_CELL_COVER = 0.80  # fraction of voxels inside some cell before the gaps between cells
_CELL_GAP = 80.0
_CELL_OVERLAP = 0.2  # largest fraction of a new cell that may overlap earlier ones
_CELL_AXES = ((900.0, 2000.0), (1500.0, 3500.0), (450.0, 950.0))  # z, long, short semi-axes
_CELL_DEFORM = (70.0, 12.0)  # coarse, fine deformation amplitude
_ORGANELLE_INSET = 15.0  # organelles stay this far inside the cell membrane
# Class shares the organelle placement aims at, as fractions of all voxels.
_SHARES = {MITO: 0.007, ALPHA: 0.040, VESSEL: 0.038, BODY: 0.0015}  # BODY includes its core
_FIELD_SIGMA_NM = {"coarse": 250.0, "fine": 45.0}


def make_phantom(
    shape: Sequence[int],
    seed: int | np.random.SeedSequence,
    voxel_size: Sequence[float] = (40.0, 10.0, 10.0),
    *,
    contrast: float = 1.0,
    noise: float = 1.0,
    brightness: float = 0.0,
    illumination: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One phantom volume.

    Args:
        shape: (z, x, y) in voxels.
        seed: the seed; the same seed (and arguments) gives identical arrays in any process.
        voxel_size: (z, x, y) nm. Objects have fixed physical sizes, so at (80, 20, 20) they are
            half as many pixels across as at (40, 10, 10).
        contrast: scales every intensity difference around the mid-gray (37,000).
        noise: scales the per-voxel noise and the slice-to-slice jitter.
        brightness: added to every voxel.
        illumination: relative strength of a linear illumination ramp along y (0.15 = +-7.5 %).

    Returns:
        ``image``: uint16 ``(z, x, y)`` raw intensities; ``labels``: ``LABEL_DTYPE`` ``(z, x, y)``
        class ids 0..6. Geometry depends only on ``shape``, ``seed`` and ``voxel_size``, so two
        calls differing in contrast/noise/brightness/illumination share their labels.
    """
    shape = tuple(int(s) for s in shape)
    voxel = np.asarray(voxel_size, dtype=np.float64)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive sizes (z, x, y), got {shape}")
    if voxel.shape != (3,) or not (voxel > 0).all():
        raise ValueError(f"voxel_size must be three positive numbers (z, x, y), got {voxel_size}")
    streams = np.random.SeedSequence(seed) if not isinstance(seed, np.random.SeedSequence) else seed
    rng_fields, rng_cells, rng_organelles, rng_dots, rng_noise = (
        np.random.default_rng(s) for s in streams.spawn(5)
    )
    coarse = _smooth_field(shape, voxel, _FIELD_SIGMA_NM["coarse"], rng_fields)
    fine = _smooth_field(shape, voxel, _FIELD_SIGMA_NM["fine"], rng_fields)

    inside = _cells(shape, voxel, coarse, fine, rng_cells)  # signed distance (nm) to cell boundary
    labels = np.where(inside < 0, CELL, BACKGROUND).astype(np.uint8)
    dark = _rim(inside, *_MEMBRANE, voxel)
    _organelles(labels, inside, dark, voxel, coarse, fine, rng_organelles)
    del inside

    image = _BASE[labels]
    image += _TEXTURE_FINE[labels] * fine
    image += _TEXTURE_COARSE[labels] * coarse
    image -= dark
    del dark
    image -= _dots(labels, voxel, coarse, rng_dots)
    image = _blur(image, np.asarray(_PSF_NM) / voxel)
    image = _REFERENCE + float(contrast) * (image - _REFERENCE)

    image += _noise(shape, rng_noise) * (_NOISE_SD * float(noise))
    image += (rng_noise.normal(0.0, _SLICE_JITTER * float(noise), shape[0])[:, None, None]).astype(
        np.float32
    )
    if illumination:
        ramp = np.linspace(-0.5, 0.5, shape[2], dtype=np.float32)
        image *= 1.0 + float(illumination) * ramp
    image += float(brightness)
    image = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
    return image, labels.astype(LABEL_DTYPE)


# ---------------------------------------------------------------------------------------------
# Fields


def _smooth_field(
    shape: tuple[int, ...], voxel: np.ndarray, sigma_nm: float, rng: np.random.Generator
) -> np.ndarray:
    """float32 Gaussian random field with sd ~1 and correlation length ``sigma_nm``.

    Made on a grid about sigma/2 coarse, smoothed there, then linearly up-sampled: the same field
    at a fraction of the cost of filtering at full resolution.
    """
    step = np.maximum(1, np.floor(sigma_nm / (2.0 * voxel))).astype(int)
    coarse_shape = tuple((n - 1) // s + 2 for n, s in zip(shape, step))
    field = rng.standard_normal(coarse_shape, dtype=np.float32)
    field = ndi.gaussian_filter(field, sigma_nm / (step * voxel), mode="wrap")
    field /= max(float(field.std()), 1e-12)
    for axis, (n, s) in enumerate(zip(shape, step)):
        if s == 1:
            field = np.take(field, np.arange(n), axis=axis)
            continue
        pos = np.arange(n) / s
        i0 = pos.astype(int)
        w = (pos - i0).astype(np.float32)
        bshape = [1] * field.ndim
        bshape[axis] = n
        w = w.reshape(bshape)
        field = np.take(field, i0, axis=axis) * (1.0 - w) + np.take(field, i0 + 1, axis=axis) * w
    return np.ascontiguousarray(field, dtype=np.float32)


def _blur(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur; axes with sigma under 0.25 voxel are left alone."""
    for axis, s in enumerate(sigma):
        if s >= 0.25:
            image = ndi.gaussian_filter1d(image, float(s), axis=axis, mode="reflect")
    return image


def _noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Unit-sd noise, correlated in-plane like the detector noise, independent across slices."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = _blur(noise, np.array([0.0, _NOISE_SIGMA_PX, _NOISE_SIGMA_PX]))
    # sd of blurred unit white noise = sqrt(sum of squared kernel weights)
    delta = np.zeros((1, 15, 15), dtype=np.float64)
    delta[0, 7, 7] = 1.0
    gain = float(
        np.sqrt((_blur(delta, np.array([0.0, _NOISE_SIGMA_PX, _NOISE_SIGMA_PX])) ** 2).sum())
    )
    noise /= gain
    return noise


# ---------------------------------------------------------------------------------------------
# Objects


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (rows are the object's axes in (z, x, y))."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[0] *= -1
    return q


def _cell_rotation(theta: float, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """Axes (z-ish, long in-plane at angle theta, short in-plane), tilted by ``tilt`` radians."""
    c, s = np.cos(theta), np.sin(theta)
    base = np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    tilt_matrix = np.eye(3) + np.sin(tilt) * k + (1 - np.cos(tilt)) * (k @ k)  # Rodrigues
    return base @ tilt_matrix.T


def _extent(axes: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Half-size (nm) along (z, x, y) of the box around a rotated ellipsoid."""
    return np.sqrt(((rotation * np.asarray(axes)[:, None]) ** 2).sum(axis=0))


def _bbox(center: np.ndarray, extent, shape: tuple[int, ...], voxel: np.ndarray):
    """Voxel slices covering ``center +- extent`` (nm) inside the volume, or None if outside."""
    lo = np.maximum(0, np.floor((center - extent) / voxel).astype(int))
    hi = np.minimum(shape, np.ceil((center + extent) / voxel).astype(int) + 1)
    if (hi <= lo).any():
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _ellipsoid_distance(box, center, axes, rotation, voxel) -> np.ndarray:
    """float32 approximate signed distance (nm) to an ellipsoid's surface over ``box``; < 0 inside.

    First order: (r - 1) / |grad r| with r the ellipsoid's normalized radius; exact on the
    surface, which is all the rims and the cell gaps need.
    """
    grids = [
        ((np.arange(sl.start, sl.stop) + 0.5) * v - c).astype(np.float32)
        for sl, v, c in zip(box, voxel, center)
    ]
    zz, xx, yy = grids[0][:, None, None], grids[1][None, :, None], grids[2][None, None, :]
    r2 = np.zeros(tuple(len(g) for g in grids), dtype=np.float32)
    g2 = np.zeros_like(r2)
    for row, a in zip(rotation.astype(np.float32), np.asarray(axes, dtype=np.float32)):
        u = row[0] * zz + row[1] * xx + row[2] * yy
        u *= 1.0 / a
        r2 += u * u
        u *= 1.0 / a
        g2 += u * u
    r = np.sqrt(r2)
    r += np.float32(1e-6)
    g2 += np.float32(1e-18)
    np.sqrt(g2, out=g2)
    out = r - 1.0
    out *= r
    out /= g2
    return out


def _cells(shape, voxel, coarse, fine, rng) -> np.ndarray:
    """float32 signed distance (nm) to the nearest cell boundary; < 0 inside a cell.

    Deformed ellipsoids, roughly parallel in-plane (the real cells are), are added until they
    cover ``_CELL_COVER`` of the volume, each overlapping earlier ones by at most
    ``_CELL_OVERLAP``. Where two cells overlap the voxels go to the nearer surface and a resin gap
    ``_CELL_GAP`` wide opens along the split. The layout is planned on a grid about 80 nm coarse
    (trying many candidates is cheap there); only the accepted cells are drawn at full resolution.
    """
    step = np.maximum(1, np.round(80.0 / voxel)).astype(int)
    plan_voxel = voxel * step
    plan_slices = tuple(slice(s // 2, None, s) for s in step)
    plan_shape = coarse[plan_slices].shape
    plan_coarse, plan_fine = coarse[plan_slices], fine[plan_slices]
    size_nm = np.asarray(plan_shape) * plan_voxel
    far = np.float32(1e9)
    plan = np.full(plan_shape, far, dtype=np.float32)
    theta0 = rng.uniform(0.0, np.pi)
    covered, target = 0, _CELL_COVER * int(np.prod(plan_shape))
    accepted = []
    for _ in range(300):
        if covered >= 0.98 * target:
            break
        axes = np.array([rng.uniform(lo, hi) for lo, hi in _CELL_AXES])
        rotation = _cell_rotation(theta0 + rng.normal(0.0, 0.25), abs(rng.normal(0.0, 0.15)), rng)
        # best of eight candidate centers: the one deepest in still-empty space
        candidates = rng.uniform(-0.15, 1.15, (8, 3)) * size_nm
        index = np.clip((candidates / plan_voxel).astype(int), 0, np.asarray(plan_shape) - 1)
        center = candidates[np.argmax(plan[tuple(index.T)])]
        extent = _extent(axes, rotation) + 3 * _CELL_DEFORM[0]
        box = _bbox(center, extent, plan_shape, plan_voxel)
        if box is None:
            continue
        d = _ellipsoid_distance(box, center, axes, rotation, plan_voxel)
        d += _CELL_DEFORM[0] * plan_coarse[box] + _CELL_DEFORM[1] * plan_fine[box]
        near = plan[box]
        inside = d < 0
        new = int(np.count_nonzero(inside & (near >= 0)))
        if covered + new > target and covered + new - target > target - covered:
            continue  # overshoots more than it helps: try a smaller or better-placed cell
        if new < (1.0 - _CELL_OVERLAP) * np.count_nonzero(inside):
            continue  # mostly inside other cells: real cells rarely interpenetrate
        covered += new
        np.minimum(near, d, out=near)
        accepted.append((center, axes, rotation, extent))

    d1 = np.full(shape, far, dtype=np.float32)  # distance to the nearest cell
    d2 = np.full(shape, far, dtype=np.float32)  # to the second nearest
    for center, axes, rotation, extent in accepted:
        box = _bbox(center, extent, shape, voxel)
        if box is None:
            continue
        d = _ellipsoid_distance(box, center, axes, rotation, voxel)
        d += _CELL_DEFORM[0] * coarse[box]
        d += _CELL_DEFORM[1] * fine[box]
        near, second = d1[box], d2[box]
        np.minimum(second, np.maximum(near, d), out=second)
        np.minimum(near, d, out=near)
    # inside a cell by more than half the gap from the split between two cells
    d2 -= d1
    np.subtract(_CELL_GAP, d2, out=d2)
    d2 *= 0.5
    return np.maximum(d1, d2, out=d1)


def _organelle_axes(cls: int, rng: np.random.Generator) -> np.ndarray:
    if cls == ALPHA:
        return rng.uniform(130.0, 240.0) * rng.uniform(0.85, 1.15, 3)
    if cls == MITO:
        return rng.uniform(90.0, 170.0) * np.array(
            [1.0, rng.uniform(1.0, 1.6), rng.uniform(0.8, 1.0)]
        )
    if cls == VESSEL:
        short = rng.uniform(35.0, 85.0)
        return short * np.array([1.0, rng.uniform(1.6, 3.5), rng.uniform(0.8, 1.3)])
    return rng.uniform(140.0, 195.0) * rng.uniform(0.9, 1.1, 3)  # dense granule body


_DEFORM = {ALPHA: (10.0, 8.0), MITO: (15.0, 12.0), VESSEL: (25.0, 20.0), BODY: (8.0, 8.0)}


def _organelles(labels, inside, dark, voxel, coarse, fine, rng) -> None:
    """Paints organelles into ``labels`` (in place) inside the cells, and their rims into ``dark``.

    Each class is placed until it reaches its target share (at least one object per class when
    the cells have room), rarest first so the dense granules find space.
    """
    shape = labels.shape
    size_nm = np.asarray(shape) * voxel
    cell_voxels = int(np.count_nonzero(labels == CELL))
    scale = cell_voxels / max(1, labels.size) / (1.0 - 0.296)  # cell cover relative to the real one
    for cls in (BODY, MITO, ALPHA, VESSEL):
        target = _SHARES[cls] * labels.size * scale
        painted, placed = 0, 0
        typical = _mean_volume(cls, voxel)
        for _ in range(200 + int(40 * target / typical)):
            if placed > 0 and painted >= target - 0.5 * typical:
                break  # the next object would overshoot more than stopping undershoots
            axes = _organelle_axes(cls, rng)
            center = rng.uniform(0.0, 1.0, 3) * size_nm
            index = tuple(np.minimum((center / voxel).astype(int), np.asarray(shape) - 1))
            if labels[index] != CELL or inside[index] > -0.6 * axes.min():
                continue
            rotation = _rotation(rng)
            extent = _extent(axes, rotation)
            branch = None
            if cls == VESSEL and rng.random() < 0.35:  # a second lumen branching off the end
                branch_center = center + rotation[1] * axes[1] * rng.uniform(0.8, 1.3)
                branch_axes, branch_rotation = _organelle_axes(VESSEL, rng), _rotation(rng)
                branch = (branch_center, branch_axes, branch_rotation)
                extent = np.maximum(
                    extent,
                    np.abs(branch_center - center) + _extent(branch_axes, branch_rotation),
                )
            box = _bbox(center, extent + 3.0 * sum(_DEFORM[cls]), shape, voxel)
            if box is None:
                continue
            d = _ellipsoid_distance(box, center, axes, rotation, voxel)
            if branch is not None:
                np.minimum(d, _ellipsoid_distance(box, *branch, voxel), out=d)
            amp_coarse, amp_fine = _DEFORM[cls]
            d += amp_coarse * coarse[box] + amp_fine * fine[box]
            lab, ins = labels[box], inside[box]
            shape_mask = d < 0
            free = (lab == CELL) & (ins < -_ORGANELLE_INSET)
            if np.count_nonzero(shape_mask & (lab >= MITO)) > 0.1 * np.count_nonzero(shape_mask):
                continue
            mask = shape_mask & free
            if not mask.any():
                continue
            lab[mask] = cls
            if cls == BODY:
                core_center = center + rng.uniform(-0.15, 0.15, 3) * axes
                core = _ellipsoid_distance(
                    box, core_center, axes * rng.uniform(0.42, 0.55), rotation, voxel
                )
                lab[mask & (core < 0)] = CORE
            if cls in _RIMS:
                depth, width, offset = _RIMS[cls]
                rim = _rim(d - np.float32(offset), depth, width, voxel) * (ins < 0)
                np.maximum(dark[box], rim, out=dark[box])
            painted += int(np.count_nonzero(mask))
            placed += 1


def _mean_volume(cls: int, voxel: np.ndarray) -> float:
    """Typical object volume in voxels: sets when placement stops and bounds the attempts."""
    radius = {ALPHA: 190.0, MITO: 141.0, VESSEL: 100.0, BODY: 170.0}[cls]  # (mean a*b*c)**(1/3)
    return 4.18879 * radius**3 / float(np.prod(voxel))


def _rim(distance: np.ndarray, depth: float, width: float, voxel: np.ndarray) -> np.ndarray:
    """float32 darkening of a thin membrane at ``distance`` 0 (nm, signed).

    A membrane thinner than half a pixel keeps its integrated darkness but is spread over half a
    pixel, as pixel integration would, so rims survive coarse voxel sizes.
    """
    effective = max(width, 0.5 * float(voxel[1:].min()))
    scale = np.float32(depth * width / effective)
    return scale * np.exp(-np.square(distance / np.float32(effective), dtype=np.float32))


def _dots(labels, voxel, coarse, rng) -> np.ndarray:
    """float32 darkening from small dark dots in the cytoplasm (labeled cell, not organelles).

    Cluster centers (clustered further by a log-normal modulation of their density) spawn a few
    Gaussian dots each, which merge into small irregular dark fragments like those of the real
    cytoplasm. Dot depths spread 0.5x..1.5x around ``depth``.
    """
    shape = np.asarray(labels.shape)
    size_nm = shape * voxel
    volume_um3 = float(np.prod(size_nm)) * 1e-9
    modulation_max = 4.0
    parents = (
        rng.uniform(0.0, 1.0, (rng.poisson(_DOTS["density"] * volume_um3 * modulation_max), 3))
        * size_nm
    )
    index = np.minimum((parents / voxel).astype(int), shape - 1)
    strength = np.exp(_DOTS["cluster"] * coarse[tuple(index.T)] - 0.5 * _DOTS["cluster"] ** 2)
    parents = parents[rng.random(len(parents)) < strength / modulation_max]
    counts = 1 + rng.poisson(_DOTS["fragments"], len(parents))
    points = np.repeat(parents, counts, axis=0)
    points += (
        rng.normal(0.0, 1.0, points.shape)
        * np.asarray(_DOTS["spread_nm"])
        * (counts.repeat(counts) > 1)[:, None]
    )
    index = (points / voxel).astype(int)
    valid = ((index >= 0) & (index < shape)).all(axis=1)
    index = index[valid]
    flat = np.ravel_multi_index(tuple(index.T), labels.shape)
    flat = flat[labels.ravel()[flat] == CELL]
    field = np.zeros(labels.size, dtype=np.float32)
    np.add.at(field, flat, rng.uniform(0.5, 1.5, flat.size).astype(np.float32))
    sigma = np.asarray(_DOTS["sigma_nm"]) / voxel
    dots = _blur(field.reshape(labels.shape), sigma)
    # scale so an isolated dot of weight 1 has height 1 at its center, then saturate
    delta = np.zeros(tuple(2 * int(np.ceil(4 * s)) + 1 for s in sigma), dtype=np.float64)
    delta[tuple(n // 2 for n in delta.shape)] = 1.0
    peak = float(_blur(delta, sigma).max())
    limit = np.float32(_DOTS["saturation"])
    dots *= np.float32(-_DOTS["depth"] / peak) / limit
    np.exp(dots, out=dots)
    return limit * (1.0 - dots)


# ---------------------------------------------------------------------------------------------
# Statistics


def phantom_statistics(image: np.ndarray, labels: np.ndarray, n_classes: int = 7) -> dict:
    """Summary statistics of an image/label pair (real or phantom), for calibration.

    Args:
        image: ``(z, x, y)`` or ``(x, y)`` raw intensities.
        labels: integer class ids, same shape.
        n_classes: number of classes.

    Returns:
        ``shares``, ``mean``, ``sd``: per class (NaN mean/sd for absent classes);
        ``noise_sd``: per-voxel noise, the sd of differences between neighbours along the last
        axis within one class, divided by sqrt(2); ``class_mean_sd``: sd of the class means
        (the contrast between classes); ``median_within_sd``: median of the per-class sd;
        ``dark_cell_fraction``: fraction of cell (1) voxels darker than the alpha-granule (3)
        mean; ``mean_order``: class ids present, sorted by mean intensity.
    """
    image = np.asarray(image)
    labels = np.asarray(labels)
    if image.shape != labels.shape:
        raise ValueError(f"image {image.shape} and labels {labels.shape} differ in shape")
    flat_labels = labels.ravel()
    values = image.ravel().astype(np.float64)
    counts = np.bincount(flat_labels, minlength=n_classes)[:n_classes].astype(np.float64)
    sums = np.bincount(flat_labels, weights=values, minlength=n_classes)[:n_classes]
    squares = np.bincount(flat_labels, weights=values * values, minlength=n_classes)[:n_classes]
    present = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, sums / counts, np.nan)
        sd = np.sqrt(np.maximum(np.where(present, squares / counts - mean**2, np.nan), 0.0))
    diff = np.diff(image.astype(np.float32), axis=-1)
    same = labels[..., 1:] == labels[..., :-1]
    noise_sd = (
        float(diff[same].std(dtype=np.float64) / np.sqrt(2.0)) if same.any() else float("nan")
    )
    cell = values[flat_labels == CELL] if n_classes > CELL else np.empty(0)
    dark = (
        float(np.mean(cell < mean[ALPHA]))
        if cell.size and n_classes > ALPHA and present[ALPHA]
        else float("nan")
    )
    order = [int(c) for c in np.argsort(np.where(present, mean, np.inf)) if present[c]]
    return {
        "shares": tuple(float(v) for v in counts / max(1, flat_labels.size)),
        "mean": tuple(float(v) for v in mean),
        "sd": tuple(float(v) for v in sd),
        "noise_sd": noise_sd,
        "class_mean_sd": float(np.std(mean[present])),
        "median_within_sd": float(np.median(sd[present])),
        "dark_cell_fraction": dark,
        "mean_order": tuple(order),
    }


def format_statistics(stats: dict, class_names: Sequence[str] = PLATELET_CLASSES) -> str:
    """A plain-text table of :func:`phantom_statistics` output."""
    lines = [f"{'class':<22}{'share %':>9}{'mean':>9}{'sd':>9}"]
    for i, name in enumerate(class_names[: len(stats["shares"])]):
        mean, sd = stats["mean"][i], stats["sd"][i]
        mean_text = f"{mean:>9,.0f}" if np.isfinite(mean) else f"{'-':>9}"
        sd_text = f"{sd:>9,.0f}" if np.isfinite(sd) else f"{'-':>9}"
        lines.append(f"{i} {name:<20}{100 * stats['shares'][i]:>9.3f}{mean_text}{sd_text}")
    lines.append(
        f"noise sd {stats['noise_sd']:,.0f}; sd of class means {stats['class_mean_sd']:,.0f}; "
        f"median within-class sd {stats['median_within_sd']:,.0f}; cell voxels darker than the "
        f"alpha-granule mean {100 * stats['dark_cell_fraction']:.1f} %"
    )
    lines.append("classes by mean intensity: " + " < ".join(str(c) for c in stats["mean_order"]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Datasets and the disk cache

_SPLITS = ("train", "eval", "test")


def _split_seeds(seed: int) -> dict[str, int]:
    """Independent 32-bit seeds for the three volumes, derived from ``seed``."""
    states = np.random.SeedSequence(int(seed)).generate_state(len(_SPLITS))
    return {split: int(s) for split, s in zip(_SPLITS, states)}


def _check_shape(name: str, value) -> tuple[int, int, int]:
    shape = tuple(int(v) for v in value)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"phantom {name} shape must be three positive sizes (z, x, y), got {value!r}"
        )
    return shape  # type: ignore[return-value]


def phantom_dataset(
    profile: str = "quick",
    seed: int = 0,
    cache_dir: str | Path | None = Path("results/.cache"),
    **size_overrides,
) -> Dataset:
    """The phantom train/eval/test dataset for a profile.

    Args:
        profile: ``quick`` or ``paper`` (shapes and voxel size in :data:`PROFILES`).
        seed: base seed; the three volumes use independent seeds derived from it.
        cache_dir: where the generated volumes are kept (one compressed ``.npz`` per dataset,
            keyed by a hash of every generation parameter and :data:`GENERATOR_VERSION`); None
            disables the cache. A corrupt or mismatching cache file is regenerated.
        **size_overrides: ``train``, ``eval``, ``test`` shapes (z, x, y) and/or ``voxel_size``.

    Returns:
        Dataset ``phantom`` with platelet class names, org classes 2..6, normalized images,
        volumes named ``phantom:<split>:seed=<volume seed>``; the test volume carries
        :data:`TEST_SHIFT`. ``metadata`` records the profile, seeds, shift and cache file.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown phantom profile {profile!r}; choose from {sorted(PROFILES)}")
    unknown = sorted(set(size_overrides) - set(PROFILES[profile]))
    if unknown:
        raise ValueError(
            f"unknown phantom size override(s) {unknown}; use {sorted(PROFILES[profile])}"
        )
    params = dict(PROFILES[profile], **size_overrides)
    shapes = {split: _check_shape(split, params[split]) for split in _SPLITS}
    voxel = tuple(float(v) for v in params["voxel_size"])
    if len(voxel) != 3 or min(voxel) <= 0:
        raise ValueError(
            f"phantom voxel_size must be three positive numbers, got {params['voxel_size']!r}"
        )
    seeds = _split_seeds(seed)
    spec = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "seeds": seeds,
        "shapes": shapes,
        "voxel_size": voxel,
        "test_shift": TEST_SHIFT,
    }
    spec_text = json.dumps(spec, sort_keys=True)
    path = None
    arrays = None
    if cache_dir is not None:
        key = hashlib.sha256(spec_text.encode()).hexdigest()[:20]
        path = Path(cache_dir) / f"phantom-{profile}-{key}.npz"
        arrays = _read_cache(path, spec_text, shapes)
    from_cache = arrays is not None
    if arrays is None:
        arrays = {}
        for split in _SPLITS:
            shift = TEST_SHIFT if split == "test" else {}
            image, labels = make_phantom(shapes[split], seeds[split], voxel, **shift)
            arrays[f"{split}_image"] = image
            arrays[f"{split}_labels"] = labels.astype(np.uint8)  # compact on disk
        if path is not None:
            _write_cache(path, spec_text, arrays)
    volumes = {
        split: Volume(
            image=normalize(arrays[f"{split}_image"]),
            labels=arrays[f"{split}_labels"].astype(LABEL_DTYPE),
            name=f"phantom:{split}:seed={seeds[split]}",
            voxel_size=voxel,  # type: ignore[arg-type]
        )
        for split in _SPLITS
    }
    return Dataset(
        train=volumes["train"],
        eval=volumes["eval"],
        test=volumes["test"],
        class_names=PLATELET_CLASSES,
        org_classes=PLATELET_ORG_CLASSES,
        name="phantom",
        metadata={
            "profile": profile,
            **spec,
            "cache_file": str(path) if path is not None else None,
            "from_cache": from_cache,
        },
    )


def _read_cache(
    path: Path, spec_text: str, shapes: dict[str, tuple]
) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, corrupt or for other parameters."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["spec"]) != spec_text:
                return None
            arrays = {
                f"{s}_{kind}": npz[f"{s}_{kind}"] for s in _SPLITS for kind in ("image", "labels")
            }
    except Exception:  # truncated, not a zip, missing members, bad CRC: regenerate
        return None
    for split, shape in shapes.items():
        if arrays[f"{split}_image"].shape != shape or arrays[f"{split}_labels"].shape != shape:
            return None
    return arrays


def _write_cache(path: Path, spec_text: str, arrays: dict[str, np.ndarray]) -> None:
    """Writes the cache atomically; a cache that cannot be written is only a warning."""
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, spec=np.array(spec_text), **arrays)
    except OSError as exc:
        warnings.warn(
            f"{path}: could not write the phantom cache ({exc}); continuing without it",
            stacklevel=3,
        )
