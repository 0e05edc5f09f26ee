"""``KernelPredictor``: style descriptor ``W`` -> per-sample ``(spatial, pointwise, bias)`` kernels.

Chandran et al., CVPR 2021, section 3.2: the spatial kernel comes from convolutions on the
``(s_d, s_h, s_w)`` descriptor sized to the kernel; the pointwise kernel and the bias come
from the descriptor average-pooled to ``(s_d, 1, 1)`` through 1x1 convolutions.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .functional import check_layer_args

__all__ = ["KernelPredictor"]


class KernelPredictor(nn.Module):
    """Predict an AdaConv kernel from a style descriptor.

    The spatial branch maps ``(B, s_d, s, s)`` to ``(B, C_out * C_in/g, k, k)``: a 3x3 conv with
    padding 1 when ``k == s`` (the paper's choice), a ``(s-k+1)`` conv when ``k < s``, and a
    ``(k-s+1)`` transposed conv when ``k > s``.

    Args:
        style_channels: ``s_d``, channels of the descriptor.
        in_channels: ``C_in`` of the AdaConv it feeds.
        out_channels: ``C_out``.
        kernel_size: odd ``k``.
        groups: ``n_g`` (same for spatial and pointwise).
        style_size: ``s_h = s_w`` of the descriptor.
    """

    def __init__(self, style_channels: int, in_channels: int, out_channels: int,
                 kernel_size: int = 3, groups: int = 1, style_size: int = 3,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_layer_args(in_channels, out_channels, kernel_size, groups)
        fk = {"device": device, "dtype": dtype}
        self.style_channels = style_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.groups = groups
        self.style_size = style_size
        n_spatial = out_channels * (in_channels // groups)
        k, s = kernel_size, style_size
        if k == s:
            self.spatial = nn.Conv2d(style_channels, n_spatial, 3, padding=1, **fk)
        elif k < s:
            self.spatial = nn.Conv2d(style_channels, n_spatial, s - k + 1, **fk)
        else:
            self.spatial = nn.ConvTranspose2d(style_channels, n_spatial, k - s + 1, **fk)
        self.pointwise = nn.Conv2d(style_channels, out_channels * (out_channels // groups), 1, **fk)
        self.bias = nn.Conv2d(style_channels, out_channels, 1, **fk)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default conv init (kaiming-uniform with a=sqrt(5)) for all three branches."""
        for m in (self.spatial, self.pointwise, self.bias):
            m.reset_parameters()

    def zero_init(self) -> None:
        """Zero every weight and bias: the predictor then contributes nothing until trained."""
        for m in (self.spatial, self.pointwise, self.bias):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``w (B, s_d, s, s)`` -> ``spatial (B, C_out, C_in/g, k, k)``,
        ``pointwise (B, C_out, C_out/g, 1, 1)``, ``bias (B, C_out)``."""
        s = self.style_size
        if w.dim() != 4 or tuple(w.shape[1:]) != (self.style_channels, s, s):
            raise ValueError(f"style descriptor must be (B, {self.style_channels}, {s}, {s}), "
                             f"got shape {tuple(w.shape)}")
        b, k, g = w.shape[0], self.kernel_size, self.groups
        spatial = self.spatial(w).view(b, self.out_channels, self.in_channels // g, k, k)
        pooled = F.adaptive_avg_pool2d(w, 1)  # (B, s_d, 1, 1)
        pointwise = self.pointwise(pooled).view(b, self.out_channels, self.out_channels // g, 1, 1)
        bias = self.bias(pooled).view(b, self.out_channels)
        return spatial, pointwise, bias

    def extra_repr(self) -> str:
        return (f"style_channels={self.style_channels}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"groups={self.groups}, style_size={self.style_size}")

    @property
    def num_predicted(self) -> int:
        """Values predicted per sample (spatial + pointwise + bias)."""
        k, g = self.kernel_size, self.groups
        return (self.out_channels * (self.in_channels // g) * k * k
                + self.out_channels * (self.out_channels // g) + self.out_channels)
