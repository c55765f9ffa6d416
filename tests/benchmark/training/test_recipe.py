"""The paper recipe as the original code ran it (docs/fidelity.md): loss scale, L2, Adam's
epsilon, loss weights, elastic field, jittered windows, augmentation, baselines' recipes."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from benchmark.data import DataError
from benchmark.training.augment import (
    apply_elastic,
    augment_window,
    elastic_displacement,
    elastic_field,
)
from benchmark.training.config import PROFILES, TrainConfig
from benchmark.training.loss import Objective
from benchmark.training.step import Schedule, make_optimizer
from benchmark.training.weights import (
    class_balance,
    diffuse_edges,
    edge_pairs,
    edge_term,
    training_weights,
)
from benchmark.training.windows import epoch_plan, window_grid


class _TwoGroups(torch.nn.Module):
    """A 1x1x1 conv 'body' (2d group) and a 1x1x1 'predictor', two classes."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Conv3d(1, 2, 1)
        self.head = torch.nn.Conv3d(2, 2, 1)
        with torch.no_grad():
            self.body.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1, 1))
            self.body.bias.copy_(torch.tensor([0.5, 0.0]))
            self.head.weight.copy_(torch.eye(2).view(2, 2, 1, 1, 1))
            self.head.bias.zero_()

    def forward(self, x):
        return {"logits": self.head(self.body(x))}

    def parameter_groups(self):
        return {"2d": list(self.body.parameters()), "predictors": list(self.head.parameters())}


# ------------------------------------------------------------------------------------ loss
def test_summed_loss_and_tf_l2_on_a_hand_computed_case():
    model = _TwoGroups()
    # Two voxels: x = 0 -> logits (0.5, 0); x = 1 -> logits (1.5, -1). Labels 1 and 0.
    x = torch.tensor([0.0, 1.0]).view(1, 1, 1, 1, 2)
    labels = torch.tensor([[[[1, 0]]]])
    raw = torch.tensor([[[[2.0, 0.0]]]])  # the second voxel has no raw weight: floor only
    ce = [math.log(1 + math.exp(0.5)), math.log(1 + math.exp(-2.5))]
    data = (2.0 + 0.01) * ce[0] + (0.0 + 0.01) * ce[1]  # summed, floor 0.01 added
    theta2 = {"2d": 1 + 1 + 0.25 + 0, "predictors": 2.0}  # sum of squares, kernels and biases
    config = TrainConfig(l2={"2d": 1e-2, "3d": 0.0, "predictors": 1e-3})
    l2 = (1e-2 * theta2["2d"] + 1e-3 * theta2["predictors"]) / 2  # tf: lambda * sum / 2
    frac_nonzero = 0.5
    loss = Objective(model, config)(model(x), labels, raw)
    assert loss.item() == pytest.approx(data + frac_nonzero * l2, rel=1e-6)
    assert Objective(model, config).l2_only() == pytest.approx(l2)
    # Eq. 1 as printed: means and lambda * sum(theta^2); no fraction.
    text = config.replace(loss_reduction="mean", l2_form="paper", l2_frac_nonzero=False)
    assert Objective(model, text)(model(x), labels, raw).item() == pytest.approx(
        data / 2 + 2 * l2, rel=1e-6
    )
    with pytest.raises(ValueError, match=r"no L2 weight for parameter group\(s\) \['2d'\]"):
        Objective(model, config.replace(l2={"predictors": 1.0}))


def test_adam_step_matches_tensorflows_formulation():
    """tf.train.AdamOptimizer: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), theta -= lr_t m / (sqrt(v)
    + eps), with decayed learning rates; gradients near eps show where the placement matters."""
    config = PROFILES["paper"].replace(lr_decay_steps=2)
    theta0 = np.array([0.3, -0.2, 0.1, 0.05])
    grads = [np.array([1e-7, -3e-7, 2.0, 0.5]), np.array([2e-7, 1e-7, -1.0, 0.25])] * 2
    param = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    model = torch.nn.Module()
    model.p = param
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    schedule = Schedule(optimizer, config)
    theta, m, v = theta0.copy(), np.zeros(4), np.zeros(4)
    b1, b2, eps = config.beta1, config.beta2, config.eps
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        schedule.step()
        lr = config.lr * 0.75 ** ((t - 1) // 2)  # staircase decay every 2 steps here
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        theta = theta - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(param.detach().numpy(), theta, rtol=1e-9, atol=1e-15)
        if t == 1:
            first_move = theta0[0] - param[0].item()
    # At step 1 TensorFlow's eps acts as eps / sqrt(1 - b2) = 11 eps: a gradient of 1e-7 moves
    # its weight by lr / 12; torch's placement (adam_eps_hat=False) by lr / 2.
    plain = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    holder = torch.nn.Module()
    holder.p = plain
    opt = make_optimizer(holder, config.replace(adam_eps_hat=False), torch.device("cpu"))
    plain.grad = torch.tensor(grads[0], dtype=torch.float64)
    opt.step()
    assert theta0[0] - plain[0].item() == pytest.approx(1e-3 / 2)
    assert first_move == pytest.approx(1e-3 / 12.2, rel=0.01)


# --------------------------------------------------------------------------------- weights
def test_class_balance_maximum_is_one_and_the_floor_bounds_the_ratio():
    labels = torch.zeros(1, 100, 100, dtype=torch.uint8)
    labels[0, :60] = 1
    labels[0, 60:62, :10] = 2  # 20 voxels: the rarest class
    cb = class_balance(labels, 3)
    assert cb.max().item() == 1.0
    assert cb[0, 0, 0].item() == pytest.approx(20 / 6000)
    w = 0.01 + cb
    # The floor caps the rarest / commonest ratio near 100 (here 76), not N_common / N_rare = 300.
    assert w.max() / w.min() == pytest.approx(1.01 / (0.01 + 20 / 6000), rel=1e-5)


def _reference_diffuse(plane, sources, targets, max_weight, c_diffuse, c_decay, threshold, steps):
    """The code's ``_diffuse`` for one plane: FFT heat equation (our NumPy re-statement)."""
    heat = np.isin(plane, sources).astype(np.float64)
    kernel = np.zeros_like(heat)
    kernel[0, 0] = -1
    kernel[0, 1] = kernel[1, 0] = kernel[0, -1] = kernel[-1, 0] = 1 / 6
    kernel[1, 1] = kernel[1, -1] = kernel[-1, 1] = kernel[-1, -1] = 0.5 / 6
    f_kernel = np.fft.fft2(kernel)
    src = heat == 1
    for _ in range(steps):
        heat = c_decay * np.real(heat + c_diffuse * np.fft.ifft2(f_kernel * np.fft.fft2(heat)))
        heat = np.maximum(heat, 0)
        heat[src] = 1
    heat = np.maximum(heat - threshold, 0) * np.isin(plane, targets)
    return heat * max_weight / heat.max()


def test_edge_term_on_a_disc_peaks_at_25_on_the_boundary_and_matches_the_fft_original():
    yy, xx = np.mgrid[:48, :48]
    r = np.hypot(yy - 24, xx - 24)
    disc = (r < 12).astype(np.uint8)
    labels = torch.as_tensor(disc)[None]
    edge = edge_term(labels, 2)[0].numpy()
    assert edge.max() == pytest.approx(25.0)
    band = np.abs(r - 12) < 3
    assert edge[band].max() == pytest.approx(25.0) and edge[~band].max() == 0
    assert edge[r < 6].max() == 0 and edge[r > 18].max() == 0
    # One pass equals the FFT formulation of create_weight_volume.py (float32 vs float64).
    ours = diffuse_edges(labels, [0], [1])[0].numpy()
    ref = _reference_diffuse(disc, [0], [1], 25.0, 0.2, 0.98, 0.2, 50)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert edge_pairs(["each"], 3) == [((0,), (1, 2)), ((1,), (0, 2)), ((2,), (0, 1))]
    assert edge_pairs(["2,3:1"], 4) == [((2, 3), (1,)), ((1,), (2, 3))]
    with pytest.raises(ValueError, match="outside 0..2"):
        edge_pairs(["5:1"], 3)


def test_weights_file_is_read_checked_and_named(tmp_path):
    labels = torch.zeros(2, 8, 8, dtype=torch.uint8)
    good = np.full((2, 8, 8), 0.5, dtype=np.float32)
    np.save(tmp_path / "w.npy", good)
    config = TrainConfig(weights_file=str(tmp_path / "w.npy"))
    assert torch.equal(training_weights(labels, 7, config), torch.as_tensor(good))
    np.save(tmp_path / "bad.npy", good[:, :4])
    with pytest.raises(DataError, match=r"bad.npy: weight volume has shape \(2, 4, 8\)"):
        training_weights(labels, 7, TrainConfig(weights_file=str(tmp_path / "bad.npy")))
    with pytest.raises(ValueError, match="weights_file must name an existing file.*nope.tif"):
        TrainConfig(weights_file=str(tmp_path / "nope.tif"))


# ---------------------------------------------------------------------------- augmentation
def test_elastic_field_statistics_for_a_seed():
    d = elastic_displacement((800, 800), scale=40, alpha=20, sigma=0.6, seed=3)
    assert d.shape == (2, 800, 800)
    assert abs(d.mean()) < 1.5 and 3 < d.std() < 9  # ~5.7 px: alpha x sd of the filtered noise
    assert np.array_equal(d, elastic_displacement((800, 800), seed=3))
    assert not np.array_equal(d, elastic_displacement((800, 800), seed=4))
    # Smooth at the grid scale: neighbouring pixels move almost together.
    assert np.abs(np.diff(d, axis=1)).max() < 1.0 and np.abs(np.diff(d, axis=2)).max() < 1.0


def test_elastic_warp_is_the_originals_nearest_neighbour_lookup():
    rng = np.random.default_rng(0)
    image = torch.as_tensor(rng.normal(size=(2, 30, 40)).astype(np.float32))
    labels = torch.as_tensor(rng.integers(0, 7, (2, 30, 40)).astype(np.uint8))
    coords = elastic_field((30, 40), scale=10, alpha=4, sigma=0.6, seed=1, device=image.device)
    out_image, out_labels, out_weights = apply_elastic(image, labels, image, coords)
    for z in range(2):  # DataHandler._deform: map_coordinates(order=0) on clipped coordinates
        ref = map_coordinates(image[z].numpy(), coords.reshape(2, -1).numpy(), order=0)
        np.testing.assert_array_equal(out_image[z].numpy().ravel(), ref)
        ref = map_coordinates(labels[z].numpy(), coords.reshape(2, -1).numpy(), order=0)
        np.testing.assert_array_equal(out_labels[z].numpy().ravel(), ref)
    assert out_labels.dtype == torch.uint8
    smooth, _, _ = apply_elastic(image, labels, image, coords, "bilinear")
    ref = map_coordinates(image[0].numpy(), coords.reshape(2, -1).numpy(), order=1)
    np.testing.assert_allclose(smooth[0].numpy().ravel(), ref, atol=1e-5)


def test_brightness_then_contrast_about_zero():
    x = torch.tensor([[[1.0, -2.0]]])
    out, _, _ = augment_window(x, x, x, (False, False, False), 1.2, 0.5)
    assert out.tolist() == [[[pytest.approx(1.8), pytest.approx(-1.8)]]]


# --------------------------------------------------------------------------------- windows
def test_jittered_windows_stay_in_their_bins_change_per_epoch_and_replay():
    grid = window_grid((50, 800, 800), (5, 296, 296), (2, 100, 100))
    plans = [epoch_plan(grid, 11, e) for e in range(3)]
    for plan in plans:
        corners = plan.corners[np.lexsort(plan.corners.T[::-1])]  # back to C order
        bins = grid.starts()
        assert len(corners) == 828
        assert np.all(corners >= bins) and np.all(corners < bins + [2, 100, 100])
        assert np.all(corners + [5, 296, 296] <= [50, 800, 800])
    assert not np.array_equal(plans[0].corners, plans[1].corners)
    again = epoch_plan(grid, 11, 1)
    assert np.array_equal(again.corners, plans[1].corners)
    assert again.elastic_seed == plans[1].elastic_seed
    # Every output voxel of the volume can be covered (the last bin reaches the far border).
    assert [e[-1] - 1 + w for e, w in zip(grid.edges, (5, 296, 296))] == [50, 800, 800]


# ----------------------------------------------------------------------- profiles, baselines
def test_quick_profile_keeps_the_papers_code_paths_and_scale_conventions():
    paper, quick = PROFILES["paper"], PROFILES["quick"]
    same = [
        *("loss_reduction", "l2", "l2_form", "l2_frac_nonzero", "c_2d", "weight_floor"),
        *("adam_eps_hat", "eps", "beta1", "beta2", "weights_file", "class_balance"),
        *("class_balance_power", "edge_pairs", "edge_max", "edge_steps", "edge_diffuse"),
        *("edge_decay", "edge_threshold", "edge_symmetric", "window_jitter", "reflect"),
        *("brightness", "contrast", "elastic", "elastic_sigma", "elastic_image", "early_stop_on"),
    ]
    assert {k: getattr(quick, k) for k in same} == {k: getattr(paper, k) for k in same}
    # The quick phantom's pixels are 2x the paper's: the same field in nm.
    assert (quick.elastic_scale, quick.elastic_alpha) == (20.0, 10.0)


def test_unet_trains_on_its_own_recipe_and_sees_the_whole_labelled_area():
    from benchmark.training.planner import plan_training

    config = plan_training("unet_original", "paper", gpus=1).config
    assert config.lr == pytest.approx(10**-3.3) and config.epochs == 100
    assert config.l2 == {"2d": 1e-5, "3d": 0.0, "predictors": 0.0}
    grid = window_grid((50, 800, 800), (1, 388, 388), config.spacing)
    assert len(grid) == 1800  # x 100 epochs = the paper's 180k steps
    reach = [e[-1] - 1 + w for e, w in zip(grid.edges, (1, 388, 388))]
    assert grid.starts().min() == 0 and reach == [50, 800, 800]
    assert plan_training("2d3d_3x3x3", "paper", gpus=1).config.lr == 1e-3
