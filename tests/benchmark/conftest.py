from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import Dataset, Volume, normalize
from benchmark.training.config import TrainConfig

# The smallest training that runs every code path of the quick profile: a few steps, a sixteenth
# of the channels, (5,16,16) windows; no early stop, no evaluation before the end.
TINY_CONFIG = TrainConfig(
    profile="quick",
    window=(5, 16, 16),
    width=0.0625,
    spacing=(1, 4, 4),
    max_steps=12,
    evals_per_epoch=1e9,
    early_stop_miou=0.0,
    elastic_scale=8.0,
    elastic_alpha=2.0,
)


def blob_volume(shape, seed, n_classes=7):
    """Ellipsoidal blobs of each class on background, intensity = class + noise."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    zz, xx, yy = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    for c in range(1, n_classes):
        for _ in range(4):
            cz, cx, cy = (rng.uniform(0, s) for s in shape)
            r = rng.uniform(2, 6)
            labels[((zz - cz) * 3) ** 2 + (xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = c
    image = labels * 1.0 + rng.normal(0, 0.5, shape)
    return Volume(normalize(image), labels, f"blobs:{seed}")


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    return Dataset(
        blob_volume((8, 24, 24), 1),
        blob_volume((6, 24, 24), 2),
        blob_volume((6, 24, 24), 3),
        name="blobs",
    )
