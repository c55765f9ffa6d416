"""Registry-parametrized checks: every registered net, built small, runs forward and backward."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import architectures
from architectures import (
    UnknownArchitectureError,
    WindowError,
    build,
    count_parameters,
    get_entry,
    summarize,
)
from architectures.summary import window_overrides

PAPER_COUNTS = {
    "2d3d_3x3x3": 10_283_406,
    "2d3d_no_3x3x3": 9_932_622,
    "2d3d_no_multiloss": 10_283_406,
    "2d3d_no_pyramid": 7_882_311,
    "unet_original": 31_030_983,
}
ALL_TEN = {
    *PAPER_COUNTS,
    "unet3d_thin",
    "unet3d_thick",
    "deeplab_drn",
    "deeplab_resnet101",
    "deepvess",
}


def small(name):
    entry = get_entry(name)
    width = min(entry.quick.get("width", 0.125), 0.125)
    window = entry.quick.get("window", entry.window)
    return width, window


def test_all_ten_paper_architectures_are_registered():
    assert set(architectures.list_architectures()) >= ALL_TEN


@pytest.mark.parametrize("name", architectures.list_architectures())
def test_forward_shape_finite_and_backward(name):
    width, window = small(name)
    net = build(name, width=width, seed=0, **window_overrides(name, window))
    x = torch.randn(1, 1, *window, generator=torch.Generator().manual_seed(0))
    out = net(x)
    assert set(out) == set(net.output_names)
    expected = summarize(name, window, width=width).output_shape
    for logits in out.values():
        assert tuple(logits.shape[1:]) == expected
        assert logits.shape[1] == net.n_classes == 7
        assert torch.isfinite(logits).all()
    loss = sum(o.float().pow(2).mean() for o in out.values())
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", architectures.list_architectures())
def test_parameter_groups_partition_the_parameters(name):
    net = build(name, device="meta", seed=None, **window_overrides(name, get_entry(name).window))
    groups = net.parameter_groups()
    assert set(groups) == {"2d", "3d", "predictors"}
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in net.parameters()}
    assert groups["predictors"], "every net has a predictor"


@pytest.mark.parametrize("name,count", sorted(PAPER_COUNTS.items()))
def test_paper_parameter_counts_are_exact(name, count):
    assert count_parameters(build(name, device="meta", seed=None)) == count
    assert get_entry(name).paper_params == count


def test_paper_windows():
    assert summarize("2d3d_3x3x3").input_shape == (1, 5, 300, 300)
    assert summarize("2d3d_3x3x3").output_shape == (7, 5, 296, 296)
    assert summarize("unet_original").output_shape == (7, 1, 388, 388)
    assert summarize("unet3d_thin").output_shape == (7, 5, 296, 296)
    assert summarize("2d3d_no_pyramid").outputs == ("logits",)
    assert summarize("2d3d_3x3x3").outputs == ("logits", "logits_2d")


def test_no_multiloss_defaults_to_c2d_zero():
    assert get_entry("2d3d_no_multiloss").train_defaults == {"c_2d": 0.0}


def test_clean_pyramid_upsampling_saves_16384_parameters():
    quirk = count_parameters(build("2d3d_3x3x3", device="meta", seed=None))
    clean = count_parameters(build("2d3d_3x3x3", device="meta", seed=None, pyramid_upsample="pool"))
    assert quirk - clean == 16_384
    assert summarize("2d3d_3x3x3", pyramid_upsample="pool").output_shape == (7, 5, 296, 296)


def test_predictor_relu_quirk_is_default_and_optional():
    x = torch.randn(1, 1, 5, 32, 32)
    quirk = build("2d3d_3x3x3", width=0.125)(x)
    assert all((o >= 0).all() for o in quirk.values())
    clean = build("2d3d_3x3x3", width=0.125, predictor_relu=False)(x)
    assert (clean["logits"] < 0).any()


def test_same_seed_same_weights_different_seed_different_weights():
    a = build("2d3d_3x3x3", width=0.125, seed=3).state_dict()
    b = build("2d3d_3x3x3", width=0.125, seed=3).state_dict()
    c = build("2d3d_3x3x3", width=0.125, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k.endswith("weight"))
    assert all(v.abs().sum() == 0 for k, v in a.items() if k.endswith("bias"))


def test_building_does_not_touch_global_rng():
    state = torch.random.get_rng_state()
    build("unet3d_thin", width=0.125, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())


def test_overrides_win_over_defaults():
    net = build("2d3d_3x3x3", device="meta", seed=None, depth=2, pyramid=False, n_classes=3)
    assert net.encoder_decoder.depth == 2 and net.pyramid is None and net.n_classes == 3


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(TypeError, match="accepted options: .*depth"):
        build("2d3d_3x3x3", device="meta", seed=None, dept=2)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownArchitectureError, match="did you mean 2d3d_3x3x3"):
        get_entry("2d3d_3x3")


def test_wildcard_listing():
    assert architectures.list_architectures("2d3d_*") == [
        "2d3d_3x3x3",
        "2d3d_no_3x3x3",
        "2d3d_no_multiloss",
        "2d3d_no_pyramid",
    ]
    assert architectures.list_architectures("unet3d_t?i*") == ["unet3d_thick", "unet3d_thin"]


def test_impossible_windows_raise_window_error():
    with pytest.raises(WindowError, match="unet_original cannot process window"):
        summarize("unet_original", (1, 100, 100))
    with pytest.raises(WindowError):
        summarize("2d3d_3x3x3", (5, 4, 4))
    with pytest.raises((WindowError, ValueError)):
        summarize("deepvess", (7, 12, 12))


def test_search_space_options_change_the_topology():
    base = summarize("2d3d_3x3x3", (5, 64, 64), width=0.125)
    options = dict(
        depth=2, convs_per_block=3, inserted_blocks=("e0", "d2"), pyramid_convs=(2, 2, 1)
    )
    varied = summarize("2d3d_3x3x3", (5, 64, 64), width=0.125, **options)
    assert varied.params != base.params
    assert varied.output_shape == (7, 5, 64, 64)
    with pytest.raises(ValueError, match="not blocks of a depth-2 net"):
        build("2d3d_3x3x3", device="meta", seed=None, depth=2, inserted_blocks=("e2",))


def test_flops_match_torch_flop_counter():
    window = (5, 32, 32)
    s = summarize("2d3d_3x3x3", window, width=0.125)
    net = build("2d3d_3x3x3", width=0.125, device="meta", seed=None)
    with FlopCounterMode(display=False) as counter:
        net(torch.empty(1, 1, *window, device="meta"))
    assert s.flops == counter.get_total_flops()


def test_a_nets_own_parameters_and_buffers_are_set_and_seeded():
    """A plug-in net may hold tensors that are neither convolutions nor norms: their values
    must be what its __init__ set (not uninitialized memory), the same for the same seed."""
    import torch
    from torch import nn

    from architectures import SegmentationNet, build, register
    from architectures.registry import unregister

    class OwnTensors(SegmentationNet):
        def __init__(self, in_channels=1, n_classes=7, *, width=1.0):
            super().__init__()
            self.scale = nn.Parameter(torch.randn(n_classes))
            self.register_buffer("offset", torch.full((n_classes,), 2.0))

        def forward(self, x):
            return {"logits": (self.scale + self.offset)[None, :, None, None, None] + 0 * x}

        def parameter_groups(self):
            return {"2d": [], "3d": [], "predictors": [self.scale]}

    register("own_tensors", family="x", description="d", window=(1, 8, 8), accepts=OwnTensors)(
        OwnTensors
    )
    try:
        state = torch.get_rng_state()
        a, b, c = (build("own_tensors", seed=s) for s in (3, 3, 4))
        assert torch.equal(state, torch.get_rng_state())  # the global stream is untouched
        assert torch.equal(a.offset, torch.full((7,), 2.0))
        assert torch.isfinite(a.scale).all() and a.scale.abs().max() < 10
        assert torch.equal(a.scale, b.scale) and not torch.equal(a.scale, c.scale)
    finally:
        unregister("own_tensors")
