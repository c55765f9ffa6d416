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
