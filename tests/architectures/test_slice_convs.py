"""2D-slice convolutions: the same weights and results as Conv3d, switchable either way."""

import pytest
import torch

import architectures
from architectures.layers import SliceConv3d, set_conv2d_slices, to_channels_last


@pytest.mark.parametrize("padding", ["same", 0])
@pytest.mark.parametrize("channels_last", [False, True])
def test_slice_conv_matches_conv3d_in_outputs_and_gradients(padding, channels_last):
    torch.manual_seed(0)
    conv = SliceConv3d(3, 5, (1, 3, 3), padding=padding)
    x = torch.randn(2, 3, 4, 9, 7)
    if channels_last:
        conv = to_channels_last(conv)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    results = []
    for slices in (False, True):
        conv.as_slices = slices
        conv.zero_grad()
        xi = x.clone().requires_grad_()
        y = conv(xi)
        (y * torch.arange(y.numel()).view_as(y).sin()).sum().backward()
        results.append((y.detach(), xi.grad, conv.weight.grad.clone(), conv.bias.grad.clone()))
    for a, b in zip(*results):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_slice_conv_rejects_kernels_that_mix_z():
    with pytest.raises(ValueError, match="kernel z = 1"):
        SliceConv3d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="no z padding"):
        SliceConv3d(1, 1, (1, 3, 3), padding=1)


def test_2d3d_net_with_slices_keeps_parameters_keys_and_outputs():
    net = architectures.build("2d3d_3x3x3", seed=0, width=0.0625)
    keys = list(net.state_dict())
    params = architectures.count_parameters(net)
    x = torch.randn(1, 1, 5, 32, 32)
    with torch.no_grad():
        plain = net(x)
        switched = set_conv2d_slices(net, True)
        sliced = net(x)
    # The encoder-decoder's 1x3x3 convs, the predictors and the pyramid's projection.
    assert switched == 17
    assert list(net.state_dict()) == keys
    assert architectures.count_parameters(net) == params
    for name in plain:
        torch.testing.assert_close(plain[name], sliced[name], rtol=1e-5, atol=1e-6)


def test_checkpoints_load_either_way():
    trained = architectures.build("2d3d_no_pyramid", seed=1, width=0.0625)
    set_conv2d_slices(trained, True)
    state = trained.state_dict()
    fresh = architectures.build("2d3d_no_pyramid", seed=None, width=0.0625)
    fresh.load_state_dict(state)  # strict: the same keys and shapes
    x = torch.randn(1, 1, 5, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(trained(x)["logits"], fresh(x)["logits"], rtol=1e-5, atol=1e-6)


def test_describe_shows_which_convs_can_slice():
    s = architectures.summarize("2d3d_3x3x3", (5, 32, 32), width=0.0625)
    kinds = {r.kernel: r.kind for r in s.layers if "Conv3d" in r.kind and "Transpose" not in r.kind}
    assert kinds["1x3x3"] == "SliceConv3d"
    assert kinds["3x3x3"] == "Conv3d"
