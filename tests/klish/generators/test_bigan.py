import numpy as np
import pytest
import torch

from klish.errors import ConfigError
from klish.features.hooks import feature_layers
from klish.generators import build_discriminator, build_encoder, build_generator, load_checkpoint, save_checkpoint
from klish.generators.train_bigan import train_bigan


def test_encoder_maps_images_to_latents_with_named_maps():
    encoder = build_encoder("bigan", z_dim=12, width=4, resolution=16, in_channels=1)
    z = encoder(torch.zeros(3, 1, 16, 16))
    assert z.shape == (3, 12)
    assert list(feature_layers(encoder)) == ["d8", "d4", "z"]


def test_joint_discriminator_scores_image_latent_pairs():
    disc = build_discriminator("bigan", z_dim=12, width=4, resolution=16, in_channels=1).eval()
    x, z = torch.randn(5, 1, 16, 16), torch.randn(5, 12)
    assert disc(x, z).shape == (5,)
    assert not torch.allclose(disc(x, z), disc(x, torch.randn(5, 12)))  # the latent matters
    with pytest.raises(ConfigError, match="no encoder"):
        build_encoder("dcgan", z_dim=12)


def _nets(seed):
    torch.manual_seed(seed)
    return (build_generator("dcgan", z_dim=8, width=4, resolution=16, upsample="transposed", out_channels=1),
            build_encoder("bigan", z_dim=8, width=4, resolution=16, in_channels=1),
            build_discriminator("bigan", z_dim=8, width=4, resolution=16, in_channels=1))


def test_bigan_training_runs_logs_and_is_deterministic():
    images = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 1)).astype(np.uint8)
    runs = [train_bigan(images, *_nets(0), steps=6, batch_size=8, lr=1e-3, betas=(0.5, 0.999), seed=3, log_every=3,
                        bn_batches=2, progress=False) for _ in range(2)]
    assert [r["step"] for r in runs[0].history] == [3.0, 6.0]
    assert runs[0].history[-1]["d_loss"] == runs[1].history[-1]["d_loss"]
    for a, b in zip(runs[0].encoder.state_dict().values(), runs[1].encoder.state_dict().values()):
        assert torch.equal(a, b)
    assert not runs[0].encoder.training and not runs[0].generator.training
    with pytest.raises(ConfigError, match="batch_size"):
        train_bigan(images[:4], *_nets(0), steps=1, batch_size=8, lr=1e-3, betas=(0.5, 0.999), seed=0, progress=False)


def test_encoder_checkpoint_round_trip(tmp_path):
    _, encoder, _ = _nets(1)
    kwargs = {"z_dim": 8, "width": 4, "resolution": 16, "in_channels": 1}
    save_checkpoint(tmp_path / "encoder.safetensors", encoder, arch="bigan", role="encoder", kwargs=kwargs)
    loaded, sidecar = load_checkpoint(tmp_path / "encoder.safetensors")
    x = torch.randn(2, 1, 16, 16)
    assert sidecar["role"] == "encoder" and torch.allclose(loaded(x), encoder.eval()(x))
