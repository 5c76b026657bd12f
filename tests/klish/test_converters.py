"""The DCGAN-tutorial key mapping: the converted zoo generator computes what the tutorial network computes."""

import pytest
import torch
from torch import nn

from klish.converters import convert
from klish.errors import CheckpointError
from klish.features.hooks import FeatureRecorder
from klish.generators import build_generator


def tutorial_generator(nz: int, ngf: int, resolution: int) -> nn.Sequential:
    """An independent build of the PyTorch DCGAN tutorial's generator (the layout under `main`)."""
    layers: list[nn.Module] = []
    mult = resolution // 8  # channels ngf * mult at 4x4, halving per resolution down to ngf at R/2
    cin = nz
    while mult >= 1:
        stride, pad = (1, 0) if cin == nz else (2, 1)
        layers += [nn.ConvTranspose2d(cin, ngf * mult, 4, stride, pad, bias=False), nn.BatchNorm2d(ngf * mult),
                   nn.ReLU(True)]
        cin, mult = ngf * mult, mult // 2
    layers += [nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("resolution", [16, 32])
def test_converted_generator_matches_the_tutorial_forward(resolution):
    torch.manual_seed(0)
    reference = nn.Module()
    reference.main = tutorial_generator(nz=10, ngf=6, resolution=resolution)
    for m in reference.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    reference.eval()
    converted = convert(reference.state_dict(), "dcgan_tutorial")
    assert converted.arch == "dcgan" and converted.kwargs["resolution"] == resolution
    assert converted.kwargs["z_dim"] == 10 and converted.kwargs["width"] == 3
    model = build_generator(converted.arch, **converted.kwargs).eval()
    model.load_state_dict(converted.state)  # strict: every tensor mapped, none left over
    z = torch.randn(5, 10)
    with torch.no_grad():
        expected = reference.main(z[:, :, None, None])
        with FeatureRecorder(model, list(model.feature_layers)) as recorder:
            torch.testing.assert_close(model(z), expected, rtol=1e-5, atol=1e-6)
        # the tutorial's ReLU outputs are the zoo's named feature maps (b4 ... b(R/2))
        torch.testing.assert_close(recorder.maps["b4"], reference.main[:3](z[:, :, None, None]))
        torch.testing.assert_close(recorder.maps[f"b{resolution // 2}"], reference.main[:-2](z[:, :, None, None]))
    assert list(model.feature_layers) == [f"b{4 * 2**i}" for i in range(len(model.feature_layers))]


def test_other_layouts_are_one_clear_error():
    with pytest.raises(CheckpointError, match="not the DCGAN tutorial layout"):
        convert({"conv.weight": torch.zeros(3, 3, 1, 1)}, "dcgan_tutorial")
    with pytest.raises(CheckpointError, match="unknown checkpoint layout 'stylegan9'"):
        convert({}, "stylegan9")
    state = {f"main.{k}": v for k, v in tutorial_generator(8, 4, 16).state_dict().items()}
    state["main.99.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected tensors, e.g. main.99.weight"):
        convert(state, "dcgan_tutorial")
