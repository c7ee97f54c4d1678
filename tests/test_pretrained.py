"""ImageNet weights from a torchvision-layout .pth file the test writes."""

from __future__ import annotations

import pytest
import torch
import torchvision

from acnet.errors import CheckpointError
from acnet.training.model import build_model, load_imagenet_weights


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory):
    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18-test.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


def test_weights_go_into_all_three_branches(resnet18_pth):
    path, ref = resnet18_pth
    model = build_model(backbone="resnet18", num_classes=5)
    own = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("acm_", "decoder."))}
    load_imagenet_weights(model, path)
    torch.testing.assert_close(model.rgb.conv1.weight, ref["conv1.weight"])
    torch.testing.assert_close(model.depth.conv1.weight, ref["conv1.weight"].mean(1, keepdim=True))
    for branch in (model.rgb, model.depth, model.fusion):
        torch.testing.assert_close(branch.layer3[1].conv2.weight, ref["layer3.1.conv2.weight"])
        torch.testing.assert_close(branch.layer4[0].bn1.running_var, ref["layer4.0.bn1.running_var"])
    torch.testing.assert_close(model.depth.bn1.weight, ref["bn1.weight"])
    # Decoder and ACMs keep their own initialisation, bit for bit: the authors' He-normal over fan-out.
    after = model.state_dict()
    assert len(own) > 40 and any(k.startswith("acm_depth.4.") for k in own)
    for key, value in own.items():
        assert torch.equal(after[key], value), key
    for acm in (*model.acm_rgb, *model.acm_depth):
        c = acm.conv.out_channels
        assert float(acm.conv.weight.detach().std()) == pytest.approx((2.0 / c) ** 0.5, rel=0.15)
    assert float(model.acm_depth[4].conv.weight.detach().std()) == pytest.approx((2.0 / 512) ** 0.5, rel=0.01)


def test_file_for_another_backbone_is_refused_naming_the_key(resnet18_pth):
    path, _ = resnet18_pth
    model = build_model(backbone="resnet34", num_classes=5, width=1.0)
    with pytest.raises(CheckpointError, match=r"does not fit resnet34: key 'layer1\.2\.conv1\.weight' is missing"):
        load_imagenet_weights(model, path)
    wide = build_model(backbone="resnet50", num_classes=5)
    with pytest.raises(CheckpointError, match=r"key 'layer1\.0\.conv1\.weight' has shape \(64, 64, 3, 3\)"):
        load_imagenet_weights(wide, path)


def test_missing_and_foreign_files_are_refused(tmp_path):
    model = build_model(backbone="resnet18", num_classes=5, width=0.25)
    with pytest.raises(CheckpointError, match="not found"):
        load_imagenet_weights(model, tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="bad.pth is a text file, not torchvision's ImageNet .pth file"):
        load_imagenet_weights(model, bad)
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"\x80\x02" + bytes(range(256)))  # a legacy pickle's first bytes, then garbage
    with pytest.raises(CheckpointError, match=r"damaged.pth is damaged or not torchvision's ImageNet .pth file \("):
        load_imagenet_weights(model, damaged)
