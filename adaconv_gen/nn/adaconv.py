"""``AdaConv``: the drop-in replacement for AdaIN, ``forward(x, s)`` with a style vector.

Chandran et al., CVPR 2021. For generators (section 4.2) a small MLP maps the style vector
to a descriptor ``W (s_d, s, s)``; a :class:`KernelPredictor` turns ``W`` into a per-sample
depthwise-separable kernel applied by :class:`AdaConv2d` to the instance-normalised input.

Identity start (the k-diffusion / ControlNet habit): the kernel is

    spatial   = identity + predicted spatial
    pointwise = diag(gamma(s) + gamma_offset) + predicted pointwise
    bias      = beta(s) + predicted bias

with ``(gamma, beta)`` from an affine map of ``s`` (AdaIN's own ``fc``) and the predictor
zero-initialised, so at initialisation AdaConv computes exactly
``(gamma_offset + gamma(s)) * IN(x) + beta(s)``, i.e. the AdaIN it replaces, and learns
structure from there.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .adaconv2d import AdaConv2d
from .kernel_predictor import KernelPredictor

__all__ = ["AdaConv", "default_groups"]

#: Values the default grouping aims to predict per spatial kernel, ``C * (C/n_g)`` = 512:
#: the paper's choice (n_g = 512, 128, 32, 8 for C = 512, 256, 128, 64).
_PAPER_BUDGET = 512


def default_groups(channels: int) -> int:
    """The paper's grouping generalised: group size ``512 // C`` (at least 1, at most ``C``),
    rounded down to a divisor of ``C``, so every layer predicts about the same number of
    values (C=512: 512 groups, 256: 128, 128: 32, 64: 8, 16: 1)."""
    target = max(1, min(channels, _PAPER_BUDGET // channels))
    size = max(d for d in range(1, target + 1) if channels % d == 0)
    return channels // size


class AdaConv(nn.Module):
    """Adaptive convolution modulated by a style vector; starts out equal to AdaIN.

    Args:
        style_dim: length of the style vector ``s``.
        num_features: channels ``C`` (input and output).
        kernel_size: odd spatial kernel size (3, the paper's).
        groups: ``n_g``; None picks :func:`default_groups` (the paper's rule).
        style_channels: descriptor depth ``s_d`` (128, the paper's generative setting).
        style_size: descriptor size ``s_h = s_w`` (3).
        padding_mode: padding of the predicted convolution ("reflect").
        eps: instance-norm epsilon (keep the replaced layer's).
        gamma_offset: added to ``gamma``: 1 for StarGAN v2 / NVlabs ``(1 + gamma)``, 0 for
            rosinality's ``gamma`` whose bias starts at 1.
        normalize: instance-normalise the input (False if the model normalises it already).
        hidden_dim: width of the descriptor MLP (default ``max(style_dim, style_channels)``).
    """

    def __init__(self, style_dim: int, num_features: int, kernel_size: int = 3,
                 groups: int | None = None, style_channels: int = 128, style_size: int = 3,
                 padding_mode: str = "reflect", eps: float = 1e-5, gamma_offset: float = 1.0,
                 normalize: bool = True, hidden_dim: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        c = num_features
        groups = default_groups(c) if groups is None else groups
        if c % groups:
            raise ValueError(f"groups={groups} must divide num_features={c}")
        self.style_dim = style_dim
        self.num_features = c
        self.kernel_size = kernel_size
        self.groups = groups
        self.style_channels = style_channels
        self.style_size = style_size
        self.gamma_offset = float(gamma_offset)
        hidden = hidden_dim or max(style_dim, style_channels)
        self.fc = nn.Linear(style_dim, 2 * c, **fk)  # AdaIN's affine path: [gamma | beta]
        self.descriptor = nn.Sequential(
            nn.Linear(style_dim, hidden, **fk), nn.LeakyReLU(0.2),
            nn.Linear(hidden, style_channels * style_size * style_size, **fk))
        self.predictor = KernelPredictor(style_channels, c, c, kernel_size, groups, style_size, **fk)
        self.conv = AdaConv2d(c, c, kernel_size, groups, padding_mode, eps, normalize)
        gs = c // groups
        eye = torch.eye(gs, device=device, dtype=dtype).repeat(groups, 1)  # (C, C/g)
        spatial = torch.zeros(c, gs, kernel_size, kernel_size, device=device, dtype=dtype)
        spatial[:, :, kernel_size // 2, kernel_size // 2] = eye
        self.register_buffer("identity_spatial", spatial, persistent=False)  # (C, C/g, k, k)
        self.register_buffer("identity_pointwise", eye, persistent=False)  # (C, C/g)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Default init for the affine path and the descriptor MLP; zeros for the predictor."""
        self.fc.reset_parameters()
        for m in self.descriptor:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        self.predictor.zero_init()

    def kernels(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The per-sample kernel ``(spatial, pointwise, bias)`` for styles ``s (B, style_dim)``."""
        b, c = s.shape[0], self.num_features
        gamma, beta = self.fc(s).reshape(b, 2, c).unbind(1)  # (B, C) each
        w = self.descriptor(s).view(b, self.style_channels, self.style_size, self.style_size)
        d_spatial, d_pointwise, d_bias = self.predictor(w)
        spatial = self.identity_spatial + d_spatial  # (B, C, C/g, k, k)
        scale = gamma + self.gamma_offset
        pointwise = scale.unsqueeze(-1) * self.identity_pointwise + d_pointwise.flatten(2)  # (B, C, C/g)
        return spatial, pointwise[..., None, None], beta + d_bias

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """``x (B, C, H, W)``, ``s (B, style_dim)`` -> ``(B, C, H, W)``."""
        if s.dim() != 2 or s.shape[1] != self.style_dim or x.dim() != 4 \
                or x.shape[1] != self.num_features or s.shape[0] != x.shape[0]:
            raise ValueError(f"AdaConv expects x (B, {self.num_features}, H, W) and s (B, "
                             f"{self.style_dim}), got {tuple(x.shape)} and {tuple(s.shape)}")
        return self.conv(x, *self.kernels(s))

    def extra_repr(self) -> str:
        return (f"style_dim={self.style_dim}, num_features={self.num_features}, "
                f"kernel_size={self.kernel_size}, groups={self.groups}, "
                f"style_channels={self.style_channels}, style_size={self.style_size}, "
                f"gamma_offset={self.gamma_offset}")
