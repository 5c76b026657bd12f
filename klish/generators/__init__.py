"""The generator zoo: architectures, checkpoints and GAN training."""

from klish.generators.checkpoint import load_checkpoint, save_checkpoint
from klish.generators.dcgan import DCGANDiscriminator, DCGANGenerator
from klish.generators.registry import ARCHITECTURES, build_discriminator, build_encoder, build_generator

__all__ = ["ARCHITECTURES", "DCGANDiscriminator", "DCGANGenerator", "build_discriminator", "build_encoder",
           "build_generator", "load_checkpoint", "save_checkpoint"]
