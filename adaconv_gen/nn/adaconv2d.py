"""``AdaConv2d``: instance normalisation followed by per-sample predicted kernels.

Chandran et al., CVPR 2021, eq. (2)-(3): AdaConv(x) = pointwise(spatial(IN(x))) + bias, where
the depthwise-separable kernel ``{spatial, pointwise, bias}`` is predicted from the style.
With ``1x1`` spatial kernels and a diagonal pointwise kernel it is exactly AdaIN.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .functional import PADDING_MODES, adaptive_conv2d, check_layer_args

__all__ = ["AdaConv2d"]


class AdaConv2d(nn.Module):
    """Instance norm (no affine) then :func:`~adaconv_gen.nn.functional.adaptive_conv2d`.

    Holds no parameters: the kernels come from a :class:`~adaconv_gen.KernelPredictor`.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        kernel_size: odd spatial kernel size ``k``.
        groups: ``n_g`` for both the spatial and the pointwise convolution.
        padding_mode: "reflect" (default, as the paper's decoder), "zeros", "replicate", "circular".
        eps: instance-norm epsilon (1e-5, torch's and StarGAN v2's).
        normalize: apply the instance norm (False when the input is already normalised).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, groups: int = 1,
                 padding_mode: str = "reflect", eps: float = 1e-5, normalize: bool = True) -> None:
        super().__init__()
        check_layer_args(in_channels, out_channels, kernel_size, groups)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.groups = groups
        self.padding_mode = padding_mode
        self.eps = eps
        self.normalize = normalize

    def forward(self, x: Tensor, spatial: Tensor, pointwise: Tensor | None = None,
                bias: Tensor | None = None) -> Tensor:
        """``x (B, C_in, H, W)``, kernels as in ``adaptive_conv2d``; returns ``(B, C_out, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        if self.normalize:
            x = F.instance_norm(x, eps=self.eps)
        return adaptive_conv2d(x, spatial, pointwise, bias, groups=self.groups,
                               padding_mode=self.padding_mode)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"groups={self.groups}, padding_mode={self.padding_mode!r}, eps={self.eps}, "
                f"normalize={self.normalize}")
