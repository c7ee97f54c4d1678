"""The trained-looking fixture really moves the network away from initialisation."""

import torch
from torch import nn

from acnet.training.model import build_model
from support.trained import acm_weights, make_trained_looking, trained_looking_model


def test_batchnorm_is_no_longer_the_identity(tiny_config):
    model = trained_looking_model(tiny_config)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    for bn in bns:
        assert bn.running_var.min() < 0.9 and bn.running_var.max() > 1.1
        assert bn.running_mean.abs().max() > 0.05
        assert (bn.weight - 1).abs().max() > 0.1 and bn.bias.abs().max() > 0.05


def test_acm_weights_spread_over_most_of_the_unit_interval(tiny_config):
    w = acm_weights(trained_looking_model(tiny_config))
    assert w.min() < 0.1 and w.max() > 0.9
    assert 0.2 < w.median() < 0.8


def test_outputs_change_and_stay_finite(tiny_config):
    torch.manual_seed(0)
    plain = build_model(tiny_config).eval()
    moved = make_trained_looking(build_model(tiny_config)).eval()
    rgb, depth = torch.randn(1, 3, 64, 96), torch.randn(1, 1, 64, 96)
    with torch.no_grad():
        a, b = plain(rgb, depth), moved(rgb, depth)
    assert torch.isfinite(b).all()
    assert (a - b).abs().max() > 0.1
    assert b.abs().max() < 1e4
