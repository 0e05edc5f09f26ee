"""Styled convolution layers of the StyleGAN-style generator, one per modulation.

Three ways for the style ``w`` to act on a 3x3 convolution (selected by name through
:func:`create_styled_conv`):

* ``"modconv"``: StyleGAN2 (Karras et al., CVPR 2020) modulation + demodulation. Per-sample
  weights are applied with the batch folded into the groups (``groups = B``), exact and one
  ``conv2d`` call; :func:`modulated_conv2d_reference` is the plain per-sample loop it is
  tested against.
* ``"adain"``: StyleGAN v1 (Karras et al., CVPR 2019): conv -> noise -> bias -> activation ->
  AdaIN from ``w``. The AdaIN is the core :class:`adaconv_gen.AdaIN`, so
  :func:`adaconv_gen.replace_adain` converts a trained ``adain`` generator losslessly.
* ``"adaconv"``: the AdaConv paper (Chandran et al., CVPR 2021, section 4.2): each modulated
  conv is replaced by AdaConv (a per-layer descriptor predicted from ``w`` by an MLP,
  ``s_d = 128``, 3x3 kernels) followed by a standard conv, then bias and noise.

Every layer ends with bias, noise and the scaled leaky ReLU of StyleGAN; upsampling (first
layer of each resolution) is bilinear x2 before the layer, the same for all three modulations
so that they are compared on equal terms (StyleGAN2 fuses a transposed conv with a blur).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn.adaconv import AdaConv  # the core layer: descriptor MLP, KernelPredictor, AdaConv2d
from ...nn.adain import AdaIN
from ...nn.equalized import EqualConv2d, EqualLinear, scaled_leaky_relu
from ...nn.modulation import MODULATIONS

__all__ = [
    "STYLEGAN_MODULATIONS",
    "modulated_conv2d",
    "modulated_conv2d_reference",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv",
    "ToRGB",
    "create_styled_conv",
]

# The generator's modulations: StyleGAN2's weight (de)modulation, then the nn registry.
STYLEGAN_MODULATIONS = ("modconv", *MODULATIONS)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True,
                     padding: int = 1, eps: float = 1e-8) -> Tensor:
    """StyleGAN2 modulated convolution, batched by folding the batch into the groups.

    Args:
        x: ``(B, C_in, H, W)``.
        weight: ``(C_out, C_in, k, k)``, already scaled (equalized lr).
        styles: ``(B, C_in)`` per-sample input-channel scales.
        demodulate: divide each output filter by its L2 norm (weight demodulation).
        padding: zero padding.
        eps: added under the square root of the demodulation.

    Returns:
        ``(B, C_out, H', W')``.
    """
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    wts = weight.unsqueeze(0) * styles.reshape(b, 1, c_in, 1, 1)  # (B, C_out, C_in, k, k)
    if demodulate:
        wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    out = F.conv2d(x.reshape(1, b * c_in, h, w), wts.reshape(b * c_out, c_in, k, k),
                   padding=padding, groups=b)  # (1, B*C_out, H', W')
    return out.reshape(b, c_out, *out.shape[-2:])


def modulated_conv2d_reference(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True,
                               padding: int = 1, eps: float = 1e-8) -> Tensor:
    """The same computation as :func:`modulated_conv2d`, written as a plain per-sample loop."""
    outs = []
    for i in range(x.shape[0]):
        wi = weight * styles[i].reshape(1, -1, 1, 1)
        if demodulate:
            norm = torch.sqrt((wi ** 2).sum(dim=(1, 2, 3)) + eps)
            wi = wi / norm.reshape(-1, 1, 1, 1)
        outs.append(F.conv2d(x[i:i + 1], wi, padding=padding))
    return torch.cat(outs, 0)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated conv: ``styles = affine(w)`` (bias init 1), equalized weight.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        style_dim: size of ``w``.
        demodulate: weight demodulation (False for toRGB).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate = demodulate
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.affine = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight ``N(0, 1)``; affine reset to bias 1."""
        nn.init.normal_(self.weight)
        self.affine.reset_parameters()

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)  # (B, C_in)
        if not self.demodulate:  # toRGB: StyleGAN2 also scales styles by the weight gain
            styles = styles * self.scale
            weight = self.weight
        else:
            weight = self.weight * self.scale
        return modulated_conv2d(x, weight, styles, demodulate=self.demodulate,
                                padding=self.kernel_size // 2)


class NoiseInjection(nn.Module):
    """``x + strength * noise``: per-pixel noise (shared over channels), per-channel strength.

    ``noise_mode``: ``"random"`` (fresh noise), ``"const"`` (the fixed ``noise_const`` buffer,
    for reproducible samples) or ``"none"``.
    """

    def __init__(self, channels: int, resolution: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: Tensor, noise_mode: str = "random") -> Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            noise = self.noise_const
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[-2:], device=x.device, dtype=x.dtype)
        else:
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        return x + self.weight * noise


class StyledConv(nn.Module):
    """One styled 3x3 layer: (upsample) -> styled conv -> bias -> noise -> activation.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        style_dim: size of ``w``.
        resolution: output resolution (for the constant noise buffer).
        modulation: ``"modconv"``, ``"adain"`` or ``"adaconv"``.
        upsample: bilinear x2 before the layer.
        adaconv_kwargs: passed to :class:`adaconv_gen.AdaConv` (``style_channels=128``,
            ``kernel_size=3``, ``groups``...).
    """

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, resolution: int,
                 modulation: str = "modconv", upsample: bool = False, **adaconv_kwargs) -> None:
        super().__init__()
        if modulation not in STYLEGAN_MODULATIONS:
            raise ValueError(f"unknown modulation {modulation!r}; valid: {', '.join(STYLEGAN_MODULATIONS)}")
        self.modulation, self.upsample = modulation, upsample
        if modulation == "modconv":
            self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim)
        elif modulation == "adaconv":
            self.adaconv = AdaConv(style_dim, in_channels, **{"style_channels": 128, **adaconv_kwargs})
            self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False)
        else:  # adain: StyleGAN v1
            self.conv = EqualConv2d(in_channels, out_channels, 3, bias=False)
        self.noise = NoiseInjection(out_channels, resolution)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if modulation == "adain":
            self.adain = AdaIN(style_dim, out_channels)

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random") -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.modulation == "modconv":
            x = self.conv(x, w)
        elif self.modulation == "adaconv":
            x = self.conv(self.adaconv(x, w))
        else:
            x = self.conv(x)
        x = self.noise(x + self.bias.reshape(1, -1, 1, 1), noise_mode)
        x = scaled_leaky_relu(x)
        if self.modulation == "adain":
            x = self.adain(x, w)
        return x


class ToRGB(nn.Module):
    """1x1 conv to RGB plus bias; modulated without demodulation (StyleGAN2) or plain (v1)."""

    def __init__(self, in_channels: int, style_dim: int, modulated: bool = True) -> None:
        super().__init__()
        self.modulated = modulated
        if modulated:
            self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        else:
            self.conv = EqualConv2d(in_channels, 3, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        out = self.conv(x, w) if self.modulated else self.conv(x)
        return out + self.bias


def create_styled_conv(modulation: str, in_channels: int, out_channels: int, style_dim: int,
                       resolution: int, upsample: bool = False, **adaconv_kwargs) -> StyledConv:
    """Build a :class:`StyledConv` by modulation name (``ValueError`` lists the valid names)."""
    return StyledConv(in_channels, out_channels, style_dim, resolution, modulation=modulation,
                      upsample=upsample, **adaconv_kwargs)
