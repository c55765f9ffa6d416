"""Sliding-window inference: every voxel predicted, tiles aligned, slabs streamed in order."""

import numpy as np
import pytest
import torch

from architectures.layers import center_crop
from benchmark.inference.sliding_window import (
    InferenceSettings,
    TileGrid,
    predict_chunks,
    predict_probabilities,
    score_volume,
)


class LabelEcho(torch.nn.Module):
    """Predicts the class written in the image at the center-cropped output position."""

    def __init__(self, margin_low, margin_high, n_classes=4):
        super().__init__()
        self.lo, self.hi, self.n = margin_low, margin_high, n_classes
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        size = [s - lo - hi for s, lo, hi in zip(x.shape[2:], self.lo, self.hi)]
        # The crop of the real nets: start (s - t) // 2.
        core = center_crop(x, size)
        labels = core.round().long().clamp(0, self.n - 1)[:, 0]
        logits = torch.nn.functional.one_hot(labels, self.n).permute(0, 4, 1, 2, 3).float() * 20
        return {"logits": logits}


@pytest.mark.parametrize(
    "shape,in_win,out_win,overlap",
    [
        ((12, 40, 40), (5, 20, 20), (5, 16, 16), 0.0),
        ((7, 33, 29), (5, 20, 20), (5, 16, 16), 0.25),
        ((3, 10, 10), (5, 12, 12), (5, 12, 12), 0.0),  # volume smaller than the window
        ((9, 30, 30), (1, 24, 24), (1, 10, 10), 0.5),  # 2D net with a large valid margin
    ],
)
def test_every_voxel_gets_its_own_prediction(shape, in_win, out_win, overlap):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, shape)
    margins = [(i - o) // 2 for i, o in zip(in_win, out_win)]
    model = LabelEcho(margins, [i - o - m for i, o, m in zip(in_win, out_win, margins)])
    image = torch.as_tensor(labels, dtype=torch.float32)
    settings = InferenceSettings(overlap=overlap, batch_size=3)
    probs = predict_probabilities(model, image, in_win, out_win, settings)
    assert probs.shape == (4, *shape)
    assert torch.equal(probs.argmax(0), torch.as_tensor(labels))
    # The host-volume path (slab by slab from numpy) gives the same result.
    host = predict_probabilities(
        model, labels.astype(np.float32), in_win, out_win, settings, device="cpu"
    )
    assert torch.allclose(host, probs)


def test_slabs_cover_z_once_in_order():
    model = LabelEcho([0, 2, 2], [0, 2, 2])
    image = torch.zeros(23, 20, 20)
    spans = [
        (z0, z1)
        for z0, z1, _ in predict_chunks(
            model, image, (5, 20, 20), (5, 16, 16), InferenceSettings(overlap=0.4)
        )
    ]
    assert spans[0][0] == 0 and spans[-1][1] == 23
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_ensemble_averages_probabilities():
    class Const(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.tensor(logits))

        def forward(self, x):
            return {"logits": self.logits.view(1, -1, 1, 1, 1).expand(x.shape[0], -1, *x.shape[2:])}

    a, b = Const([2.0, 0.0]), Const([0.0, 1.0])
    probs = predict_probabilities([a, b], torch.zeros(2, 4, 4), (1, 4, 4), (1, 4, 4))
    expected = (
        torch.softmax(torch.tensor([2.0, 0.0]), 0) + torch.softmax(torch.tensor([0.0, 1.0]), 0)
    ) / 2
    assert torch.allclose(probs[:, 0, 0, 0], expected)


def test_score_volume_counts_every_voxel_once():
    rng = np.random.default_rng(1)
    labels = torch.as_tensor(rng.integers(0, 4, (8, 24, 24)))
    model = LabelEcho([0, 2, 2], [0, 2, 2])
    cm = score_volume(
        model, labels.float(), labels, (5, 20, 20), (5, 16, 16), 4, InferenceSettings(overlap=0.3)
    )
    assert cm.sum() == labels.numel()
    assert np.trace(cm) == labels.numel()


def test_tile_grid_counts():
    grid = TileGrid.build((24, 800, 800), (5, 300, 300), (5, 296, 296))
    assert grid.starts[0] == (0, 5, 10, 15, 19)
    assert grid.starts[1] == (0, 296, 504)
    assert grid.pad_low == (0, 2, 2) and grid.pad_high == (0, 2, 2)
    with pytest.raises(ValueError, match="overlap"):
        TileGrid.build((5, 5, 5), (5, 5, 5), (5, 5, 5), overlap=1.0)
