import pytest
import torch

from architectures.layers import center_crop, crop_add, crop_concat, init_weights, scale_channels


def test_center_crop_starts_at_half_the_difference_rounded_down():
    x = torch.arange(7.0).view(1, 1, 1, 1, 7)
    assert center_crop(x, (1, 1, 4)).flatten().tolist() == [
        1.0,
        2.0,
        3.0,
        4.0,
    ]  # start (7-4)//2 = 1
    assert center_crop(x, (1, 1, 6)).flatten().tolist() == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
    ]  # odd: drop the far end


def test_crop_concat_puts_skip_first_and_crops_both():
    skip = torch.zeros(1, 2, 1, 6, 6)
    up = torch.ones(1, 3, 1, 4, 4)
    out = crop_concat(skip, up)
    assert out.shape == (1, 5, 1, 4, 4)
    assert out[:, :2].sum() == 0 and out[:, 2:].min() == 1


def test_crop_add_crops_z_of_the_doubled_branch_to_the_middle():
    a = torch.zeros(1, 1, 5, 2, 2)
    b = torch.arange(10.0).view(1, 1, 10, 1, 1).expand(1, 1, 10, 2, 2)
    out = crop_add(a, b)
    assert out.shape == (1, 1, 5, 2, 2)
    assert out[0, 0, :, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_scale_channels_rounds_and_keeps_one():
    assert scale_channels(64, 0.125) == 8
    assert scale_channels(7, 0.01) == 1


def test_init_weights_is_xavier_uniform_with_zero_bias_and_leaves_global_rng():
    conv = torch.nn.Conv3d(4, 8, (1, 3, 3))
    state = torch.random.get_rng_state()
    init_weights(conv, torch.Generator().manual_seed(1))
    assert torch.equal(state, torch.random.get_rng_state())
    fan_in, fan_out = 4 * 9, 8 * 9
    bound = (6 / (fan_in + fan_out)) ** 0.5
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert conv.bias.abs().sum() == 0


def test_he_init_has_sd_sqrt_2_over_fan_in_also_for_transposed_convs():
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv3d(16, 32, (3, 3, 3))
    init_weights(conv, gen, "he")
    assert abs(conv.weight.std().item() / (2 / (16 * 27)) ** 0.5 - 1) < 0.03
    assert conv.weight.mean().abs() < 0.01
    # Stride 2, kernel 2: each output voxel sees in_channels inputs, not out_channels * 8.
    up = torch.nn.ConvTranspose3d(64, 32, (2, 2, 2), stride=(2, 2, 2))
    init_weights(up, gen, "he")
    assert abs(up.weight.std().item() / (2 / 64) ** 0.5 - 1) < 0.03
    assert up.bias.abs().sum() == 0


def test_he_init_keeps_the_2d3d_signal_scale_and_xavier_shrinks_it():
    from architectures import build

    x = torch.randn(1, 1, 5, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        he = build("2d3d_3x3x3", seed=1, width=0.125, init="he")(x)["logits"].std()
        xavier = build("2d3d_3x3x3", seed=1, width=0.125)(x)["logits"].std()
    assert he > 0.1
    assert xavier < 0.02


def test_unknown_init_scheme_is_named():
    with pytest.raises(ValueError, match="unknown init scheme 'orthogonal'"):
        init_weights(torch.nn.Conv3d(1, 1, 1), torch.Generator(), "orthogonal")


def test_channels_last_handles_mixed_2d_and_3d_weights():
    from architectures import build
    from architectures.layers import to_channels_last

    for name, window in (("deeplab_drn", (1, 32, 32)), ("2d3d_3x3x3", (5, 16, 16))):
        net = build(name, width=0.0625, seed=0).eval()
        x = torch.randn(2, 1, *window)
        expected = net(x)["logits"]
        fast = to_channels_last(net)
        got = fast(x.contiguous(memory_format=torch.channels_last_3d))["logits"]
        assert torch.allclose(got, expected, atol=1e-5)
        assert any(p.dim() in (4, 5) and not p.is_contiguous() for p in fast.parameters())
