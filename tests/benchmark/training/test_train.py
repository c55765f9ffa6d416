"""Paper fidelity and reproducibility of one instance."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.training.checkpoints import load_checkpoint
from benchmark.training.config import PROFILES
from benchmark.training.instance import train_instance
from benchmark.training.loss import data_loss, weighted_cross_entropy
from benchmark.training.results import EarlyStopRule
from benchmark.training.weights import class_balance, edge_term, loss_weights
from benchmark.training.windows import epoch_plan, instance_seeds, window_grid
from tests.benchmark.conftest import TINY_CONFIG
from tests.conftest import ROOT

TINY = TINY_CONFIG


# ---------------------------------------------------------------------------- paper recipe
def test_paper_window_grid_has_828_windows():
    grid = window_grid((50, 800, 800), (5, 296, 296), (2, 100, 100))  # output windows
    assert len(grid) == 828
    assert grid.starts().max(axis=0).tolist() == [44, 500, 500]
    assert [e[-1] for e in grid.edges] == [46, 505, 505]  # last corner + 296 = 800


def test_learning_rate_staircase_at_chosen_steps():
    paper = PROFILES["paper"]
    assert paper.lr_at(0) == pytest.approx(1e-3)
    assert paper.lr_at(2511) == pytest.approx(1e-3)  # 10^3.4 = 2511.9
    assert paper.lr_at(2512) == pytest.approx(0.75e-3)
    assert paper.lr_at(33_120) == pytest.approx(1e-3 * 0.75**13)
    smooth = paper.replace(lr_staircase=False)
    assert smooth.lr_at(1256) == pytest.approx(1e-3 * 0.75**0.5, rel=1e-3)


def test_paper_optimizer_constants():
    paper = PROFILES["paper"]
    assert paper.beta1 == pytest.approx(1 - 10**-1.5)
    assert paper.beta2 == pytest.approx(1 - 10**-2.1)
    assert paper.eps == 1e-7 and paper.c_2d == 0.33 and paper.epochs == 40
    assert paper.l2 == {"2d": pytest.approx(10**-4.7), "3d": 0.0, "predictors": 1e-9}
    assert paper.loss_reduction == "sum" and paper.l2_form == "tf" and paper.adam_eps_hat
    assert not paper.reflect and paper.window_jitter and paper.early_stop_on == "current"


def test_loss_on_a_hand_computed_case():
    # Two voxels, two classes; logits (0, ln 3) and (0, 0); labels 1 and 0; weights 2 and 1.
    logits = torch.tensor([[[[[0.0, 0.0]]], [[[math.log(3), 0.0]]]]])  # (1, 2, 1, 1, 2)
    labels = torch.tensor([[[[1, 0]]]])
    weights = torch.tensor([[[[2.0, 1.0]]]])
    ce = [-math.log(3 / 4), -math.log(1 / 2)]
    summed = 2 * ce[0] + 1 * ce[1]
    assert weighted_cross_entropy(logits, labels, weights).item() == pytest.approx(summed)
    assert weighted_cross_entropy(logits, labels, weights, "mean").item() == pytest.approx(
        summed / 2
    )
    outputs = {"logits": logits, "logits_2d": torch.zeros_like(logits)}
    both = data_loss(outputs, labels, weights, 0.33)
    summed_2d = 2 * math.log(2) + math.log(2)
    assert both.item() == pytest.approx(summed + 0.33 * summed_2d)
    assert data_loss(outputs, labels, weights, 0.0).item() == pytest.approx(summed)


def test_weight_components():
    labels = torch.zeros(2, 40, 40, dtype=torch.uint8)
    labels[:, 5:35, 5:35] = 1
    labels[:, 20, 2:38] = 2  # a one-voxel-thin line
    cb = class_balance(labels, 3)
    counts = torch.bincount(labels.flatten().long(), minlength=3).double()
    for c in range(3):  # 1/N_c scaled so the rarest class (the line) gets 1
        assert cb[labels == c].unique().item() == pytest.approx(counts[2].item() / counts[c].item())
    edge = edge_term(labels, 3)
    assert edge[0, 0, 20] == 0  # far from any boundary
    assert edge[0, 20, 20] > 10  # inside the thin line
    assert edge[0, 5, 20] > 10  # on the square's border
    assert edge[0, 12, 20] == 0  # inside the square
    terms = loss_weights(labels, 3, floor=0.01)
    assert torch.equal(terms.raw, cb + edge)
    assert torch.allclose(terms.total, 0.01 + cb + edge)


def test_tempered_class_balance():
    labels = torch.tensor([0, 0, 0, 1, 1, 2]).reshape(1, 1, 6)
    # power 1/2: weights (N_min / N_c)^0.5 = ((1/3)^0.5, (1/2)^0.5, 1).
    expected = torch.tensor([3**-0.5, 2**-0.5, 1.0])
    cb = class_balance(labels, 3, power=0.5)
    assert cb[0, 0].tolist() == pytest.approx(expected[labels[0, 0].long()].tolist())
    assert class_balance(labels, 3, power=0.0).unique().tolist() == [1.0]
    assert class_balance(labels, 3).max().item() == 1.0


def test_epoch_plan_is_a_function_of_data_seed_and_epoch():
    grid = window_grid((10, 40, 40), (5, 20, 20), (1, 10, 10))
    a, b = epoch_plan(grid, 7, 3), epoch_plan(grid, 7, 3)
    assert np.array_equal(a.corners, b.corners) and np.array_equal(a.brightness, b.brightness)
    assert not np.array_equal(epoch_plan(grid, 7, 4).corners, a.corners)
    fixed = epoch_plan(grid, 7, 3, jitter=False)
    assert sorted(map(tuple, fixed.corners)) == sorted(map(tuple, grid.starts()))
    assert not a.flips.any() and epoch_plan(grid, 7, 3, reflect=True).flips.any()
    assert np.all(np.abs(a.brightness) <= 0.12) and np.all(np.abs(a.contrast - 1) <= 0.2)


def test_seeds_are_paired_and_distinct():
    assert instance_seeds(3) == instance_seeds(3)
    assert instance_seeds(3) != instance_seeds(4)
    data, weight = instance_seeds(0)
    assert data != weight


def test_early_stop_rule():
    best = EarlyStopRule(0.3, 10, on="best")
    assert not best(9.9, 0.1)
    assert best(10, 0.29)
    assert not best(10, 0.3, 0.1)
    assert best(12, float("nan"))
    # stop_check.py: the current evaluation decides, from epoch index 10 (11 epochs done).
    current = EarlyStopRule.from_config(PROFILES["paper"])
    assert current.after_epochs == 11 and not current(10.5, 0.1, 0.1)
    assert current(11, 0.6, 0.29) and not current(11, 0.1, 0.3)


# --------------------------------------------------------------------------- one instance
def test_same_seed_same_metrics_different_seed_different(tiny_dataset, tmp_path):
    a = train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY)
    b = train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY)
    c = train_instance("2d3d_3x3x3", 1, tiny_dataset, TINY)
    assert a.status == "finished" and a.steps == 12
    assert [p.train_loss for p in a.curve] == [p.train_loss for p in b.curve]
    assert a.best.eval == b.best.eval and a.test == b.test
    assert [p.train_loss for p in a.curve] != [p.train_loss for p in c.curve]


def test_same_metrics_in_a_second_process(tiny_dataset, tmp_path):
    here = train_instance("2d3d_no_pyramid", 2, tiny_dataset, TINY)
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.benchmark.conftest import blob_volume
from benchmark.data import Dataset
from benchmark.training.config import TrainConfig
from benchmark.training.instance import train_instance
from tests.benchmark.training.test_train import TINY
ds = Dataset(blob_volume((8, 24, 24), 1), blob_volume((6, 24, 24), 2), blob_volume((6, 24, 24), 3), name="blobs")
r = train_instance("2d3d_no_pyramid", 2, ds, TINY)
print(json.dumps([p.train_loss for p in r.curve] + [r.best.eval.miou_all]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [p.train_loss for p in here.curve] + [here.best.eval.miou_all]


def test_resume_from_last_checkpoint_is_exact(tiny_dataset, tmp_path):
    config = TINY.replace(
        max_steps=12, evals_per_epoch=len(window_grid((8, 24, 24), (5, 16, 16), (1, 4, 4))) / 4
    )
    full = train_instance("2d3d_3x3x3", 5, tiny_dataset, config, checkpoint_dir=tmp_path / "full")
    calls = []

    def interrupt(point):
        calls.append(point.step)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_instance(
            "2d3d_3x3x3",
            5,
            tiny_dataset,
            config,
            checkpoint_dir=tmp_path / "cut",
            on_eval=interrupt,
        )
    resumed = train_instance("2d3d_3x3x3", 5, tiny_dataset, config, checkpoint_dir=tmp_path / "cut")
    assert [p.step for p in resumed.curve] == [p.step for p in full.curve]
    assert [p.train_loss for p in resumed.curve] == pytest.approx(
        [p.train_loss for p in full.curve], rel=1e-5
    )
    assert resumed.best.eval.miou_all == pytest.approx(full.best.eval.miou_all)


def test_unreadable_last_checkpoint_starts_over(tiny_dataset, tmp_path):
    config = TINY.replace(max_steps=6)
    clean = train_instance("2d3d_3x3x3", 2, tiny_dataset, config, checkpoint_dir=tmp_path / "a")
    cut = tmp_path / "b"
    cut.mkdir()
    (cut / "last.pt").write_bytes((tmp_path / "a" / "last.pt").read_bytes()[:1000])
    messages: list[str] = []
    again = train_instance(
        "2d3d_3x3x3", 2, tiny_dataset, config, checkpoint_dir=cut, log=messages.append
    )
    assert any("unreadable checkpoint" in m and "starting over" in m for m in messages)
    assert again.final.resumed_from == 0
    assert [p.train_loss for p in again.curve] == pytest.approx(
        [p.train_loss for p in clean.curve], rel=1e-5
    )


def test_training_learns_beyond_the_majority_class():
    """A guard against silent pipeline bugs (misaligned crops, labels, weights): on 3-class blobs
    the net must beat predicting background everywhere (MIoU(all) = 0.93 / 3 = 0.31)."""
    from benchmark.data import Dataset
    from tests.benchmark.conftest import blob_volume

    easy = Dataset(blob_volume((8, 32, 32), 11, 3), blob_volume((6, 32, 32), 12, 3), None)
    per_epoch = len(window_grid((8, 32, 32), (5, 16, 16), (1, 4, 4))) / 2
    config = TINY.replace(
        max_steps=160, lr=3e-3, width=0.125, batch_size=2, evals_per_epoch=per_epoch / 40
    )
    result = train_instance("2d3d_3x3x3", 0, easy, config)
    assert [p.step for p in result.curve] == [40, 80, 120, 160]
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    assert result.best.eval.miou_all > 0.4, [p.eval.miou_all for p in result.curve]


def test_checkpoints_are_loadable_and_score_like_training(tiny_dataset, tmp_path):
    result = train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY, checkpoint_dir=tmp_path)
    model, ckpt = load_checkpoint(result.checkpoint_best)
    assert ckpt["architecture"] == "2d3d_3x3x3" and ckpt["step"] == result.best.step
    assert set(ckpt) >= {"model", "config", "metrics", "in_window", "out_window", "class_names"}
    last = torch.load(result.checkpoint_final, weights_only=False)
    assert set(last) >= {"model", "optimizer", "scheduler", "step", "curve"}
    from analysis.metrics import score_confusion
    from benchmark.inference.sliding_window import score_volume

    ev = tiny_dataset.eval
    cm = score_volume(
        model,
        torch.as_tensor(ev.image),
        torch.as_tensor(ev.labels),
        ckpt["in_window"],
        ckpt["out_window"],
        7,
    )
    assert score_confusion(cm, tiny_dataset.org_classes).miou_all == pytest.approx(
        result.best.eval.miou_all
    )
    # The saved float16 probabilities (kept from the best evaluation, not recomputed) are the
    # best checkpoint's predictions on eval and test.
    from benchmark.inference.sliding_window import predict_probabilities

    with np.load(tmp_path / "probabilities.npz") as saved:
        for split, volume in (("eval", ev), ("test", tiny_dataset.test)):
            expected = predict_probabilities(
                model, torch.as_tensor(volume.image), ckpt["in_window"], ckpt["out_window"]
            )
            assert saved[split].dtype == np.float16
            np.testing.assert_allclose(saved[split], expected.numpy(), atol=1e-3)


def test_early_stop_and_callback_stop(tiny_dataset):
    stopped = train_instance(
        "2d3d_no_pyramid",
        0,
        tiny_dataset,
        TINY.replace(early_stop_miou=1.0, early_stop_epochs=0.0, evals_per_epoch=10),
    )
    assert stopped.status == "early_stopped" and stopped.steps < 12 and stopped.test is not None
    asked = train_instance(
        "2d3d_no_pyramid", 0, tiny_dataset, TINY.replace(evals_per_epoch=10), on_eval=lambda p: True
    )
    assert asked.status == "early_stopped" and len(asked.curve) == 1


def test_nan_loss_is_reported(tiny_dataset, monkeypatch):
    import benchmark.training.loss as loss
    from benchmark.training.results import TrainingDiverged

    # The options refuse a learning rate that would diverge; make the loss itself NaN.
    real_loss = loss.data_loss
    monkeypatch.setattr(loss, "data_loss", lambda *a: real_loss(*a) * float("nan"))
    with pytest.raises(TrainingDiverged, match="loss is (nan|inf)"):
        train_instance("2d3d_no_pyramid", 0, tiny_dataset, TINY.replace(evals_per_epoch=10))


def test_window_larger_than_the_volume_fails_at_start(tiny_dataset):
    from benchmark.data import DataError

    with pytest.raises(DataError, match="smaller than the window"):
        train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY.replace(window=(5, 64, 64)))


def test_init_option_reaches_the_weights_and_unknown_schemes_fail_at_start(tiny_dataset, tmp_path):
    xavier = train_instance("2d3d_no_pyramid", 0, tiny_dataset, TINY, checkpoint_dir=tmp_path / "x")
    he = train_instance(
        "2d3d_no_pyramid", 0, tiny_dataset, TINY.replace(init="he"), checkpoint_dir=tmp_path / "h"
    )
    assert [p.train_loss for p in xavier.curve] != [p.train_loss for p in he.curve]
    _, ckpt = load_checkpoint(tmp_path / "h" / "best.pt")
    assert ckpt["config"]["init"] == "he"
    with pytest.raises(ValueError, match="init must be one of .*'glorot'"):
        TINY.replace(init="glorot")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fast_path_matches_cpu_closely(tiny_dataset):
    cpu = train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY.replace(device="cpu"))
    gpu = train_instance("2d3d_3x3x3", 0, tiny_dataset, TINY.replace(device="cuda"))
    assert gpu.status == "finished"
    assert abs(gpu.curve[0].train_loss - cpu.curve[0].train_loss) / cpu.curve[0].train_loss < 0.05
