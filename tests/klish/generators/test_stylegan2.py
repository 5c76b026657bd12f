"""StyleGAN2 in the zoo: a tiny checkpoint in the rosinality `g_ema` key layout, converted by key mapping, gives the
same images and feature maps as an independent forward written here from that layout (per-sample convolutions,
upfirdn2d by zero insertion); the spec's auto layer selection on a paper-sized model; training and checkpoints."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from klish.converters import convert
from klish.errors import CheckpointError
from klish.features.hooks import FeatureRecorder, feature_shapes
from klish.features.selection import auto_layer_selection
from klish.generators import build_discriminator, build_generator, load_checkpoint, save_checkpoint
from klish.generators.train import train_gan
from tests.rosinality_layout import CHANNELS, N_MLP, STYLE, blur_kernel, rosinality_state


def _upfirdn(x, kernel, up, pad):
    """upfirdn2d by its definition: insert up-1 zeros after each sample, pad (pad0, pad1), convolve per channel."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = kernel.flip(0, 1)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def _modconv(state, prefix, x, w, demodulate, up=False):
    """One sample at a time: modulate, demodulate, convolve (the transposed conv written as zero insertion)."""
    weight = state[f"{prefix}.conv.weight"][0]  # [out, in, k, k]
    cin, k = weight.shape[1], weight.shape[-1]
    outs = []
    for n in range(x.shape[0]):
        s = F.linear(w[n], state[f"{prefix}.conv.modulation.weight"] / math.sqrt(w.shape[1]),
                     state[f"{prefix}.conv.modulation.bias"])
        wn = weight * s[None, :, None, None] / math.sqrt(cin * k * k)
        if demodulate:
            wn = wn / torch.sqrt((wn**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        xn = x[n:n + 1]
        if up:  # conv_transpose(stride 2) = zero insertion between samples, pad k-1, correlate with flipped kernel
            hh = xn.shape[-1]
            z = xn.new_zeros(1, cin, 2 * hh - 1, 2 * hh - 1)
            z[:, :, ::2, ::2] = xn
            o = F.conv2d(F.pad(z, (k - 1,) * 4), wn.flip(2, 3))
            o = _upfirdn(o, state[f"{prefix}.conv.blur.kernel"], 1, (1, 1))
        else:
            o = F.conv2d(xn, wn, padding=k // 2)
        outs.append(o)
    return torch.cat(outs)


def reference_forward(state, z, truncation=1.0, latent_avg=None):
    """rosinality's Generator.forward(randomize_noise=False) from the state dict alone; returns (image, feats)."""
    w = z * torch.rsqrt((z**2).mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, N_MLP + 1):
        w = F.leaky_relu(F.linear(w, state[f"style.{i}.weight"] * 0.01 / math.sqrt(w.shape[1]),
                                  state[f"style.{i}.bias"] * 0.01), 0.2) * math.sqrt(2)
    if truncation < 1:
        w = latent_avg + truncation * (w - latent_avg)

    def styled(prefix, x, noise, up=False):
        x = _modconv(state, prefix, x, w, True, up)
        x = x + state[f"{prefix}.noise.weight"] * state[f"noises.noise_{noise}"]
        return F.leaky_relu(x + state[f"{prefix}.activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    feats = [state["input.input"].repeat(len(z), 1, 1, 1)]
    feats.append(styled("conv1", feats[0], 0))
    skip = _modconv(state, "to_rgb1", feats[-1], w, False) + state["to_rgb1.bias"]
    j = 0
    while f"to_rgbs.{j}.bias" in state:
        feats.append(styled(f"convs.{2 * j}", feats[-1], 2 * j + 1, up=True))
        feats.append(styled(f"convs.{2 * j + 1}", feats[-1], 2 * j + 2))
        rgb = _modconv(state, f"to_rgbs.{j}", feats[-1], w, False) + state[f"to_rgbs.{j}.bias"]
        skip = rgb + _upfirdn(skip, state[f"to_rgbs.{j}.upsample.kernel"], 2, (2, 1))
        j += 1
    return skip, feats


def _converted(state, siblings=None):
    converted = convert(state, "rosinality_stylegan2", siblings)
    model = build_generator(converted.arch, **converted.kwargs)
    model.load_state_dict(converted.state)
    return model.eval(), converted


def test_converted_rosinality_checkpoint_matches_an_independent_forward():
    state = rosinality_state()
    latent_avg = torch.randn(1, STYLE, generator=torch.Generator().manual_seed(5))
    model, converted = _converted(state, {"latent_avg": latent_avg})
    assert converted.kwargs == {"z_dim": STYLE, "resolution": 16, "n_mlp": N_MLP, "channels": list(CHANNELS),
                                "lr_mlp": 0.01, "out_channels": 3}
    z = torch.randn(3, STYLE, generator=torch.Generator().manual_seed(1))
    names = list(model.feature_layers)
    assert names == ["const", "b4", "b8.0", "b8.1", "b16.0", "b16.1"]
    with torch.no_grad():
        expected, feats = reference_forward(state, z)
        with FeatureRecorder(model, names) as rec:
            image = model(z)
    assert image.shape == (3, 3, 16, 16) and expected.abs().mean() > 0.1
    torch.testing.assert_close(image, expected, rtol=1e-4, atol=1e-5)
    for name, ref in zip(names, feats):
        torch.testing.assert_close(rec.maps[name], ref, rtol=1e-4, atol=1e-5)
    model.truncation_psi = 0.5
    with torch.no_grad():
        torch.testing.assert_close(model(z), reference_forward(state, z, 0.5, latent_avg)[0], rtol=1e-4, atol=1e-5)


def test_truncation_centre_without_latent_avg_is_the_mean_w():
    model, converted = _converted(rosinality_state())
    assert converted.state["w_avg"].shape == (STYLE,)
    torch.testing.assert_close(converted.state["w_avg"], model.mean_w())
    model.truncation_psi = 0.0  # every sample collapses onto the centre
    with torch.no_grad():
        images = model(torch.randn(2, STYLE))
    torch.testing.assert_close(images[0], images[1])


def test_eval_samples_do_not_depend_on_the_batch_and_noise_modes_differ():
    model, _ = _converted(rosinality_state())
    z = torch.randn(4, STYLE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(z)
        torch.testing.assert_close(torch.cat([model(z[:1]), model(z[1:])]), whole, rtol=1e-5, atol=1e-6)
        model.noise_mode = "none"
        assert not torch.allclose(model(z), whole)
        model.noise_mode = "bogus"
        with pytest.raises(Exception, match="noise_mode must be one of const, random, none"):
            model(z)


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.pop("noises.noise_2"), "noises.noise_2 is missing"),
    (lambda s: s.__setitem__("convs.0.conv.blur.kernel", blur_kernel(1.0)), "non-standard blur kernel at convs.0"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), "unexpected tensors, e.g. extra.weight"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith("style.")], "expected style.1.weight"),
])
def test_converter_errors_name_the_problem(mutate, message):
    state = rosinality_state()
    mutate(state)
    with pytest.raises(CheckpointError, match=message) as info:
        convert(state, "rosinality_stylegan2")
    assert "\n" not in str(info.value)


def test_auto_layer_selection_on_a_paper_sized_model_matches_the_spec():
    """stylegan2 at 256 (channel multiplier 2): the spec's selection is the last maps at 64, 128, 256 (896 ch)."""
    model = build_generator("stylegan2", z_dim=8, resolution=256, n_mlp=1,
                            channels=[512, 512, 512, 512, 512, 256, 128])
    shapes = feature_shapes(model, 8)
    assert [s[0] for s in shapes][:4] == ["const", "b4", "b8.0", "b8.1"] and len(shapes) == 14  # 2 log2(R) - 2
    assert auto_layer_selection(shapes, 1000) == ["b64.1", "b128.1", "b256.1"]


def test_trains_on_images_and_round_trips_through_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    kwargs = {"z_dim": 8, "width": 4, "resolution": 8, "n_mlp": 2}
    torch.manual_seed(0)
    g = build_generator("stylegan2", **kwargs)
    d = build_discriminator("stylegan2", width=4, resolution=8)
    assert [n for n in d.feature_layers] == ["d4"]
    before = g.w_avg.clone()
    result = train_gan(images, g, d, steps=3, batch_size=4, lr=2e-3, betas=(0.0, 0.99), ema_decay=0.9, seed=0,
                       log_every=1, progress=False)
    assert len(result.history) == 3 and all(np.isfinite(r["d_loss"]) for r in result.history)
    assert not torch.equal(result.generator.w_avg, before)  # the truncation centre tracks w while training
    save_checkpoint(tmp_path / "g.safetensors", result.generator, arch="stylegan2", role="generator", kwargs=kwargs)
    loaded, sidecar = load_checkpoint(tmp_path / "g.safetensors")
    z = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), result.generator(z))
    assert sidecar["arch"] == "stylegan2"


def test_feature_extraction_truncates_stylegan2_in_w_space(tmp_path):
    from klish.features.extract import extract_features
    from klish.features.store import FeatureStore

    model, _ = _converted(rosinality_state())
    manifest = extract_features(model, tmp_path / "f", n_samples=3, seed=0, size=8, batch_size=2, truncation=0.0,
                                progress=False)
    assert manifest["latent"]["truncation_space"] == "w" and model.truncation_psi == 1.0  # restored
    images = FeatureStore(tmp_path / "f").images
    assert np.array_equal(images[0], images[2])  # psi 0: every sample is the centre's image
