"""StyleGAN2 residual discriminator with minibatch standard deviation.

Karras et al., *Analyzing and Improving the Image Quality of StyleGAN*, CVPR 2020 (the
"resnet" discriminator): fromRGB at full resolution, one residual block per resolution
(3x3 conv, 3x3 conv + downsample, a 1x1 downsampled skip, sum scaled by 1/sqrt 2), then at
4x4 a minibatch-stddev feature, a 3x3 conv and two equalized linear layers. Downsampling is
a 2x2 average pool (StyleGAN2 blurs with a [1,3,3,1] filter before a strided conv). Used to
train the AdaConv generator of the AdaConv paper (Chandran et al., CVPR 2021, section 4.2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn.equalized import EqualConv2d, EqualLinear, scaled_leaky_relu

__all__ = ["channel_widths", "minibatch_stddev", "DiscriminatorBlock", "Discriminator"]


def channel_widths(img_size: int, channels: int) -> dict[int, int]:
    """Width per resolution: ``channels`` up to 32 px, then halved per doubling (floor 16).

    The floor is ``min(channels, 16)``, so a small ``channels`` (tests, the demo) stays constant.
    """
    floor = min(channels, 16)
    return {2 ** i: max(channels * 32 // 2 ** i, floor) if 2 ** i > 32 else channels
            for i in range(2, int(math.log2(img_size)) + 1)}


def minibatch_stddev(x: Tensor, group_size: int = 4, num_channels: int = 1) -> Tensor:
    """Append ``num_channels`` maps holding the std over groups of samples (StyleGAN2).

    The group is ``min(group_size, B)``; ``B`` must be divisible by it (as in StyleGAN2).
    """
    b, c, h, w = x.shape
    g = min(group_size, b)
    if b % g:
        raise ValueError(f"batch size {b} must be divisible by the minibatch-stddev group {g}")
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)  # (G, B/G, F, C/F, H, W)
    y = (y - y.mean(dim=0)).square().mean(dim=0)  # (B/G, F, C/F, H, W) variance over the group
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (B/G, F)
    y = y.reshape(-1, num_channels, 1, 1).repeat(g, 1, h, w)  # (B, F, H, W)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block: conv3x3 -> conv3x3 -> /2, plus a /2 -> 1x1 skip; sum times 1/sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = scaled_leaky_relu(self.conv0(x))
        x = scaled_leaky_relu(F.avg_pool2d(self.conv1(x), 2))
        return (x + skip) * (1.0 / math.sqrt(2.0))


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator; ``D(img) -> (B, 1)`` logits.

    Args:
        img_size: input size, a power of two >= 4.
        channels: base width, as for the generator (:func:`channel_widths`).
        mbstd_group_size: minibatch-stddev group size.
        mbstd_num_channels: minibatch-stddev features.
    """

    def __init__(self, img_size: int, channels: int = 512, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1) -> None:
        super().__init__()
        widths = channel_widths(img_size, channels)
        self.img_size = img_size
        self.mbstd_group_size, self.mbstd_num_channels = mbstd_group_size, mbstd_num_channels
        self.from_rgb = EqualConv2d(3, widths[img_size], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(widths[r], widths[r // 2])
                                      for r in sorted(widths, reverse=True) if r > 4])
        c = widths[4]
        self.conv = EqualConv2d(c + mbstd_num_channels, c, 3)
        self.fc = EqualLinear(c * 16, c, activation="lrelu")
        self.out = EqualLinear(c, 1)

    def forward(self, img: Tensor) -> Tensor:
        if img.shape[-1] != self.img_size or img.shape[-2] != self.img_size:
            raise ValueError(f"expected {self.img_size}x{self.img_size} images, got {tuple(img.shape)}")
        x = scaled_leaky_relu(self.from_rgb(img))
        x = self.blocks(x)  # (B, C4, 4, 4)
        x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = scaled_leaky_relu(self.conv(x))
        return self.out(self.fc(x.flatten(1)))
