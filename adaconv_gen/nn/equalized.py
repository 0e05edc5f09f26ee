"""Equalized learning rate layers (Karras et al., ProGAN 2018; used by StyleGAN v1/v2).

Weights are stored as ``N(0, 1 / lr_mul^2)`` parameters and scaled **at runtime** by
``lr_mul / sqrt(fan_in)`` in ``forward``, so every layer learns at the same speed under Adam
whatever its fan-in. ``lr_mul`` (StyleGAN's mapping network uses 0.01) slows a layer down by
the same factor without changing its initial function. The scale is never baked into the
stored weights, so state dicts hold the raw parameters exactly as StyleGAN2 ports do.

These are the building blocks of the StyleGAN-style generator in
:mod:`adaconv_gen.models.stylegan`, where the AdaConv paper (Chandran et al., CVPR 2021,
section 4.2) swaps StyleGAN2's modulated convolutions for AdaConv.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EqualLinear", "EqualConv2d", "scaled_leaky_relu", "ScaledLeakyReLU"]

LRELU_GAIN = math.sqrt(2.0)


def scaled_leaky_relu(x: Tensor, negative_slope: float = 0.2, gain: float = LRELU_GAIN) -> Tensor:
    """``leaky_relu(x) * gain``: StyleGAN's activation, which keeps unit variance (gain sqrt 2)."""
    return F.leaky_relu(x, negative_slope) * gain


class ScaledLeakyReLU(nn.Module):
    """Module form of :func:`scaled_leaky_relu`."""

    def __init__(self, negative_slope: float = 0.2, gain: float = LRELU_GAIN) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.gain = gain

    def forward(self, x: Tensor) -> Tensor:
        return scaled_leaky_relu(x, self.negative_slope, self.gain)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}, gain={self.gain:.4f}"


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and a learning-rate multiplier.

    ``y = act(x @ (weight * lr_mul / sqrt(in_features)).T + bias * lr_mul)``.

    Args:
        in_features: input size.
        out_features: output size.
        bias: learn an additive bias.
        bias_init: initial value of the *effective* bias (StyleGAN2 sets 1 for style affines).
        lr_mul: learning-rate multiplier (0.01 in StyleGAN's mapping network).
        activation: ``None`` or ``"lrelu"`` (leaky ReLU 0.2 times sqrt 2, after the bias).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, lr_mul: float = 1.0, activation: str | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        if activation not in (None, "lrelu"):
            raise ValueError(f"activation must be None or 'lrelu', got {activation!r}")
        fk = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.lr_mul = lr_mul
        self.bias_init = bias_init
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.bias = nn.Parameter(torch.empty(out_features, **fk)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ``N(0, 1/lr_mul^2)``, bias ``bias_init / lr_mul`` (effective: ``bias_init``)."""
        nn.init.normal_(self.weight, 0.0, 1.0 / self.lr_mul)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init / self.lr_mul)

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        out = F.linear(x, self.weight * self.scale, bias)
        return scaled_leaky_relu(out) if self.activation == "lrelu" else out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, lr_mul={self.lr_mul}, activation={self.activation}")


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate (``weight / sqrt(fan_in)`` at runtime).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: convolution stride.
        padding: zero padding (default ``kernel_size // 2``, "same" for odd kernels).
        bias: learn an additive bias (zero-initialised).
        padding_mode: ``"zeros"`` or any mode :func:`torch.nn.functional.pad` accepts.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = kernel_size // 2 if padding is None else padding
        self.padding_mode = padding_mode
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size, **fk))
        self.bias = nn.Parameter(torch.empty(out_channels, **fk)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ``N(0, 1)``, bias zero."""
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding
        if self.padding_mode != "zeros" and padding:
            x = F.pad(x, [padding] * 4, mode=self.padding_mode)
            padding = 0
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
