"""The generator zoo: an explicit table from architecture name to classes (no class lookup by string)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from klish.errors import ConfigError
from klish.generators.bigan import BiGANDiscriminator, BiGANEncoder
from klish.generators.dcgan import DCGANDiscriminator, DCGANGenerator
from klish.generators.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator


@dataclass(frozen=True)
class Architecture:
    """A GAN family: generator class, discriminator class, encoder class (if it learns one), and a description."""

    name: str
    generator: type[nn.Module]
    discriminator: type[nn.Module] | None
    description: str
    encoder: type[nn.Module] | None = None


ARCHITECTURES: dict[str, Architecture] = {
    "dcgan": Architecture("dcgan", DCGANGenerator, DCGANDiscriminator,
                          "DCGAN (Radford et al. 2016); upsample='transposed' or 'nearest' (+2 convs per resolution)"),
    "bigan": Architecture("bigan", DCGANGenerator, BiGANDiscriminator,
                          "BiGAN (Donahue et al. 2017): DCGAN generator, encoder, discriminator on (image, latent)",
                          encoder=BiGANEncoder),
    "stylegan2": Architecture("stylegan2", StyleGAN2Generator, StyleGAN2Discriminator,
                              "StyleGAN2 (Karras et al. 2020): mapping network, modulated convs, noise, skip toRGB; "
                              "residual discriminator with minibatch stddev"),
}


def get_architecture(name: str) -> Architecture:
    """The architecture called `name`; an unknown name is an error listing the valid ones."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {name!r}: expected one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def _construct(cls: type[nn.Module], arch: str, kwargs: dict) -> nn.Module:
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"{arch}: unknown {cls.__name__} argument(s) {', '.join(unknown)} "
                          f"(valid: {', '.join(valid)})")
    return cls(**kwargs)


def build_generator(arch: str, **kwargs) -> nn.Module:
    """A freshly initialised generator of architecture `arch` with constructor arguments `kwargs`."""
    return _construct(get_architecture(arch).generator, arch, kwargs)


def build_discriminator(arch: str, **kwargs) -> nn.Module:
    """A freshly initialised discriminator of architecture `arch`."""
    spec = get_architecture(arch)
    if spec.discriminator is None:
        raise ConfigError(f"{arch}: this architecture has no discriminator")
    return _construct(spec.discriminator, arch, kwargs)


def build_encoder(arch: str, **kwargs) -> nn.Module:
    """A freshly initialised encoder of architecture `arch` (only families that learn one, such as bigan)."""
    spec = get_architecture(arch)
    if spec.encoder is None:
        raise ConfigError(f"{arch}: this architecture has no encoder")
    return _construct(spec.encoder, arch, kwargs)
