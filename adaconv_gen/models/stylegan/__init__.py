"""A StyleGAN-style generator whose modulation is ``modconv`` (StyleGAN2), ``adain`` (StyleGAN v1)
or ``adaconv`` (Chandran et al., CVPR 2021, section 4.2), and a residual discriminator.

``layers`` holds the styled convolutions, ``generator`` the mapping and synthesis networks,
``discriminator`` the discriminator.
"""

from .discriminator import Discriminator, DiscriminatorBlock, channel_widths, minibatch_stddev
from .generator import Generator, MappingNetwork, PixelNorm, SynthesisNetwork, build
from .layers import (
    STYLEGAN_MODULATIONS,
    ModulatedConv2d,
    NoiseInjection,
    StyledConv,
    ToRGB,
    create_styled_conv,
    modulated_conv2d,
    modulated_conv2d_reference,
)

__all__ = [
    "STYLEGAN_MODULATIONS",
    "PixelNorm",
    "MappingNetwork",
    "SynthesisNetwork",
    "Generator",
    "Discriminator",
    "DiscriminatorBlock",
    "build",
    "channel_widths",
    "minibatch_stddev",
    "modulated_conv2d",
    "modulated_conv2d_reference",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv",
    "ToRGB",
    "create_styled_conv",
]
