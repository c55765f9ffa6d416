"""The training device: which one, and the dataset resident on it (volumes, labels and the loss
weights of the training volume), so that windows are cut and augmented there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmark.data.volumes import Dataset, Volume
from benchmark.training.config import TrainConfig
from benchmark.training.weights import training_weights

__all__ = ["DeviceData", "prepare_data", "resolve_device"]


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    return dev


@dataclass
class _DeviceVolume:
    image: torch.Tensor
    labels: torch.Tensor
    labeled: torch.Tensor | None


@dataclass
class DeviceData:
    """The dataset on the training device, with the training volume's raw loss weights."""

    train: _DeviceVolume
    weights: torch.Tensor
    eval: _DeviceVolume
    test: _DeviceVolume | None
    n_classes: int
    class_names: tuple[str, ...]
    org_classes: tuple[int, ...]


def _to_device(volume: Volume, device: torch.device) -> _DeviceVolume:
    return _DeviceVolume(
        image=torch.as_tensor(volume.image, dtype=torch.float32).to(device),
        labels=torch.as_tensor(
            volume.labels.astype(np.uint8 if volume.labels.max() < 256 else np.int64)
        ).to(device),
        labeled=None
        if volume.labeled is None
        else torch.as_tensor(volume.labeled, dtype=torch.bool).to(device),
    )


_DEVICE_CACHE: dict[tuple, DeviceData] = {}


def prepare_data(dataset: Dataset, config: TrainConfig, device: torch.device) -> DeviceData:
    """Moves ``dataset`` to ``device`` and computes W; cached per process (reused actors)."""
    key = (
        id(dataset),
        str(device),
        config.weights_file,
        config.class_balance,
        config.class_balance_power,
        config.edge_pairs,
        config.edge_max,
        config.edge_steps,
        config.edge_diffuse,
        config.edge_decay,
        config.edge_threshold,
        config.edge_symmetric,
    )
    if key in _DEVICE_CACHE:
        return _DEVICE_CACHE[key]
    _DEVICE_CACHE.clear()  # one dataset at a time: device memory is precious
    train = _to_device(dataset.train, device)
    # Raw weights (class balance + edge term, or the weights file); the loss adds the floor.
    weights = training_weights(train.labels, dataset.n_classes, config)
    data = DeviceData(
        train=train,
        weights=weights,
        eval=_to_device(dataset.eval, device),
        test=_to_device(dataset.test, device) if dataset.test is not None else None,
        n_classes=dataset.n_classes,
        class_names=tuple(dataset.class_names),
        org_classes=tuple(dataset.org_classes),
    )
    _DEVICE_CACHE[key] = data
    return data
