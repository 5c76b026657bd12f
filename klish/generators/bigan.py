"""BiGAN / ALI (Donahue, Kraehenbuehl, Darrell, "Adversarial Feature Learning", ICLR 2017; Dumoulin et al., ICLR
2017): an encoder E learned jointly with the generator G, against a discriminator that sees (image, latent) pairs,
(x, E(x)) for real images and (G(z), z) for generated ones. At the optimum E inverts G, so E(x) is a representation
of x learned with no labels. The generator is the DCGAN one; the encoder and the joint discriminator use the DCGAN
discriminator's strided convolutions, with every map named for feature extraction."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from klish.generators.dcgan import DCGANDiscriminator, init_dcgan_weights


class BiGANEncoder(nn.Module):
    """Maps images [N, C, R, R] to latents [N, z_dim]: the DCGAN discriminator's conv stack, then a 4x4 conv to the
    latent (a 1x1 map named `z`, so the DCGAN feature recipe treats it like any other layer)."""

    def __init__(self, z_dim: int = 64, width: int = 32, resolution: int = 32, max_channels: int = 512,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        body = DCGANDiscriminator(width=width, resolution=resolution, max_channels=max_channels,
                                  in_channels=in_channels)
        self.stages = body.stages
        self.to_z = nn.Conv2d(body.head.in_channels, z_dim, 4, 1, 0)
        self._features = OrderedDict(body.feature_layers)
        self._features["z"] = "to_z"
        init_dcgan_weights(self)

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """Feature name -> submodule path, finest first; the last is the latent itself."""
        return OrderedDict(self._features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_z(self.stages(x)).flatten(1)  # [N, z_dim]


class BiGANDiscriminator(nn.Module):
    """Maps (images [N, C, R, R], latents [N, z_dim]) to real/fake logits [N]: the image through the DCGAN conv stack,
    the latent through a two-layer MLP, the two codes concatenated and scored by another MLP (dropout 0.2, as BiGAN's
    discriminator uses, to keep it from memorising pairs)."""

    def __init__(self, z_dim: int = 64, width: int = 32, resolution: int = 32, max_channels: int = 512,
                 in_channels: int = 3, hidden: int = 256) -> None:
        super().__init__()
        body = DCGANDiscriminator(width=width, resolution=resolution, max_channels=max_channels,
                                  in_channels=in_channels)
        self.stages = body.stages
        self._features = OrderedDict(body.feature_layers)
        image_code = body.head.in_channels * 16  # the 4x4 map, flattened
        self.z_path = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                                    nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(nn.Dropout(0.2), nn.Linear(image_code + hidden, hidden), nn.LeakyReLU(0.2),
                                   nn.Dropout(0.2), nn.Linear(hidden, 1))
        init_dcgan_weights(self)

    @property
    def feature_layers(self) -> OrderedDict[str, str]:
        """The image path's maps (finest first)."""
        return OrderedDict(self._features)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        code = torch.cat([self.stages(x).flatten(1), self.z_path(z)], dim=1)
        return self.joint(code).flatten()  # [N]
