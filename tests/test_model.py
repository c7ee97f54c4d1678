"""The network against the facts read from the authors' code."""

from __future__ import annotations

import pytest
import torch

from acnet.errors import ConfigError, InputError
from acnet.training.config import ModelConfig
from acnet.training.model import ACM, build_model
from acnet.training.summary import summarize


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("classes", "expected"), [(40, 116_628_168), (37, 116_625_849)])
def test_resnet50_parameter_count_matches_authors(classes, expected):
    with torch.device("meta"):
        model = build_model(backbone="resnet50", num_classes=classes)
    assert _params(model) == expected


def test_resnet50_compute_at_480x640_is_115_6_gmacs():
    s = summarize(ModelConfig("resnet50", 40), 480, 640)
    assert s.total_params == 116_628_168
    assert s.total_macs / 1e9 == pytest.approx(115.6, abs=0.05)
    # The parts add up to the whole, both in parameters and in compute.
    assert sum(p.params for p in s.parts) == s.total_params
    assert sum(p.macs for p in s.parts) == pytest.approx(s.total_macs, rel=1e-6)
    assert [p.name for p in s.parts] == ["RGB encoder", "depth encoder", "fusion encoder", "ACMs", "decoder"]


def test_training_mode_returns_five_maps_at_paper_scales():
    with torch.device("meta"):
        model = build_model(backbone="resnet50", num_classes=40).train()
        outs = model(torch.zeros(1, 3, 480, 640), torch.zeros(1, 1, 480, 640))
    assert [tuple(o.shape[2:]) for o in outs] == [(480, 640), (240, 320), (120, 160), (60, 80), (30, 40)]
    assert all(o.shape[:2] == (1, 40) for o in outs)


def test_eval_mode_returns_full_size_logits_only(tiny_config):
    model = build_model(tiny_config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96), torch.randn(2, 1, 64, 96))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 13, 64, 96)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50", "resnet101"])
def test_every_backbone_builds_and_runs(backbone):
    with torch.device("meta"):
        model = build_model(backbone=backbone, num_classes=40).eval()
        out = model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    assert out.shape == (1, 40, 64, 64)
    channels = ModelConfig(backbone).stage_channels
    assert model.decoder.agant4[0].in_channels == channels[4]
    assert model.decoder.agant0[0].in_channels == channels[0]


def test_encoder_stage_channels_and_strides():
    with torch.device("meta"):
        model = build_model(backbone="resnet50").eval()
        feats = model.encode(torch.zeros(1, 3, 480, 640), torch.zeros(1, 1, 480, 640))
    assert [f.shape[1] for f in feats] == [64, 256, 512, 1024, 2048]
    assert [tuple(f.shape[2:]) for f in feats] == [(240, 320), (120, 160), (60, 80), (30, 40), (15, 20)]


def test_ten_unshared_acms_with_pool_conv_sigmoid():
    model = build_model(backbone="resnet18", num_classes=5, width=0.25)
    acms = [m for m in model.modules() if isinstance(m, ACM)]
    assert len(acms) == 10
    assert len({id(a.conv.weight) for a in acms}) == 10
    x = torch.randn(2, 16, 8, 8)
    acm = acms[0] if acms[0].conv.in_channels == 16 else ACM(16)
    expected = x * torch.sigmoid(acm.conv(torch.nn.AdaptiveAvgPool2d(1)(x)))
    torch.testing.assert_close(acm(x), expected)
    assert acm.conv.bias is not None


def test_fusion_matches_hand_written_forward(tiny_config):
    """m_k = fusion.layer_k(m_{k-1}) + rgb_k*A(rgb_k) + d_k*A(d_k), branches independent."""
    model = build_model(tiny_config).eval()
    rgb, depth = torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        feats = model.encode(rgb, depth)
        r = model.rgb.relu(model.rgb.bn1(model.rgb.conv1(rgb)))
        d = model.depth.relu(model.depth.bn1(model.depth.conv1(depth)))
        m = r * torch.sigmoid(model.acm_rgb[0].conv(r.mean((2, 3), keepdim=True))) + d * torch.sigmoid(
            model.acm_depth[0].conv(d.mean((2, 3), keepdim=True))
        )
        torch.testing.assert_close(feats[0], m)
        r1 = model.rgb.layer1(model.rgb.maxpool(r))
        d1 = model.depth.layer1(model.depth.maxpool(d))
        m1 = model.fusion.layer1(model.fusion.maxpool(m)) + model.acm_rgb[1](r1) + model.acm_depth[1](d1)
        torch.testing.assert_close(feats[1], m1)


def test_depth_does_not_flow_into_rgb_branch(tiny_config):
    model = build_model(tiny_config).eval()
    rgb = torch.randn(1, 3, 64, 64)
    depth = torch.randn(1, 1, 64, 64, requires_grad=True)
    r = model.rgb.forward_stem(rgb)
    for k in range(1, 5):
        r = model.rgb.forward_stage(k, r)
    assert r.grad_fn is not None
    grads = torch.autograd.grad(r.sum(), depth, allow_unused=True)
    assert grads[0] is None


def test_ablation_variants_differ_as_in_the_paper():
    acm = build_model(backbone="resnet18", num_classes=5, fusion="acm", width=0.25)
    add = build_model(backbone="resnet18", num_classes=5, fusion="add", width=0.25)
    early = build_model(backbone="resnet18", num_classes=5, fusion="early", width=0.25)
    assert not any(isinstance(m, ACM) for m in add.modules())
    assert not hasattr(early.rgb, "layer1") and not hasattr(early.depth, "layer1")
    assert _params(early) < _params(add) < _params(acm)
    # Model-2: m = layer(m) + rgb + depth
    add.eval()
    rgb, depth = torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        feats = add.encode(rgb, depth)
        r, d = add.rgb.forward_stem(rgb), add.depth.forward_stem(depth)
        torch.testing.assert_close(feats[0], r + d)
        early.eval()
        f = early.encode(rgb, depth)
        m0 = early.rgb.forward_stem(rgb) + early.depth.forward_stem(depth)
        torch.testing.assert_close(f[1], early.fusion.layer1(early.fusion.maxpool(m0)))
    for model in (add, early):
        with torch.no_grad():
            assert model.eval()(rgb, depth).shape == (1, 5, 64, 64)


def test_decoder_block_structure():
    model = build_model(backbone="resnet50", num_classes=40)
    dec = model.decoder
    assert [len(s) for s in (dec.deconv1, dec.deconv2, dec.deconv3, dec.deconv4, dec.final_conv)] == [6, 4, 3, 3, 3]
    up = dec.deconv1[-1]
    assert isinstance(up.conv2, torch.nn.ConvTranspose2d)
    assert (up.conv2.kernel_size, up.conv2.stride, up.conv2.padding, up.conv2.output_padding) == (
        (3, 3), (2, 2), (1, 1), (1, 1)
    )
    assert isinstance(up.upsample[0], torch.nn.ConvTranspose2d) and up.upsample[0].kernel_size == (2, 2)
    assert (up.conv2.in_channels, up.conv2.out_channels) == (512, 256)
    assert dec.final_conv[-1].upsample is None
    assert dec.final_deconv.bias is not None and dec.final_deconv.out_channels == 40
    assert [dec.__getattr__(f"agant{i}")[0].out_channels for i in range(5)] == [64, 64, 128, 256, 512]
    assert all(dec.__getattr__(f"agant{i}")[0].bias is None for i in range(5))


def test_initialisation_follows_authors():
    torch.manual_seed(0)
    model = build_model(backbone="resnet50", num_classes=40)
    conv = model.fusion.layer3[0].conv2  # 3x3, 256 out
    expected_std = (2.0 / (3 * 3 * 256)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.02)
    bn = model.decoder.deconv1[0].bn1
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


@pytest.mark.parametrize("shape", [(1, 3, 60, 64), (1, 3, 64, 100)])
def test_sizes_not_multiple_of_32_are_refused(tiny_config, shape):
    model = build_model(tiny_config).eval()
    with pytest.raises(InputError, match="multiples of 32"):
        model(torch.randn(*shape), torch.randn(shape[0], 1, *shape[2:]))


def test_wrong_channels_and_mismatched_inputs_are_refused(tiny_config):
    model = build_model(tiny_config).eval()
    with pytest.raises(InputError, match="rgb must be N x 3"):
        model(torch.randn(1, 4, 64, 64), torch.randn(1, 1, 64, 64))
    with pytest.raises(InputError, match="differ"):
        model(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 32, 64))


def test_bad_config_is_refused():
    with pytest.raises(ConfigError, match="unknown backbone"):
        ModelConfig(backbone="vgg16")
    with pytest.raises(ConfigError, match="fusion"):
        ModelConfig(fusion="late")
    with pytest.raises(ConfigError, match="num_classes"):
        ModelConfig(num_classes=0)


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_encoder_blocks_are_torchvisions(backbone):
    """acnet's own BasicBlock/Bottleneck (torchvision is not imported to build the network): the same module names,
    so ImageNet weights load by key, and the same outputs, bit for bit, from the same weights and BatchNorm statistics
    away from their initial values, in training and in eval mode."""
    import torchvision

    from acnet.training.model.encoder import ResNetBranch

    torch.manual_seed(0)
    ours = ResNetBranch(backbone, width=0.25)
    theirs = getattr(torchvision.models, backbone)(weights=None, width_per_group=64)
    theirs.inplanes = ours.conv1.out_channels
    for i, planes in enumerate((64, 128, 256, 512)):  # torchvision's layers at acnet's width
        block = type(theirs.layer1[0]).__name__
        theirs_layer = theirs._make_layer(getattr(torchvision.models.resnet, block), planes // 4, len(getattr(ours, f"layer{i + 1}")),
                                          stride=1 if i == 0 else 2)
        setattr(theirs, f"layer{i + 1}", theirs_layer)
    theirs.conv1 = torch.nn.Conv2d(3, ours.conv1.out_channels, 7, 2, 3, bias=False)
    theirs.bn1 = torch.nn.BatchNorm2d(ours.conv1.out_channels)
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    with torch.no_grad():
        for key, value in state.items():  # trained-looking: weights and BatchNorm statistics off their defaults
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) * 0.5 + 0.25 if "running_var" in key or "weight" in key and "bn" in key
                            else torch.randn_like(value) * 0.1)
    assert set(ours.state_dict()) == set(state)
    ours.load_state_dict(state)
    x = torch.randn(2, 3, 64, 96)
    for mode in (False, True):
        ours.train(mode), theirs.train(mode)
        expected = theirs.maxpool(theirs.relu(theirs.bn1(theirs.conv1(x))))
        got = ours.maxpool(ours.forward_stem(x))
        assert torch.equal(got, expected)
        for i in range(1, 5):
            expected = getattr(theirs, f"layer{i}")(expected)
            got = getattr(ours, f"layer{i}")(got)
            assert torch.equal(got, expected), (backbone, mode, i)
