"""``AdaIN`` with StarGAN v2's semantics: ``(1 + gamma(s)) * IN(x) + beta(s)``.

Huang & Belongie, ICCV 2017 (AdaIN); Choi et al., CVPR 2020 (StarGAN v2's parametrisation).
Attribute names (``norm``, ``fc``) follow StarGAN v2 so state-dict keys match its checkpoints.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["AdaIN"]


class AdaIN(nn.Module):
    """Adaptive instance normalisation from a style vector.

    Args:
        style_dim: length of the style vector ``s``.
        num_features: channels ``C`` of ``x``.
        eps: instance-norm epsilon.
    """

    def __init__(self, style_dim: int, num_features: int, eps: float = 1e-5,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.style_dim = style_dim
        self.num_features = num_features
        self.norm = nn.InstanceNorm2d(num_features, eps=eps, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2, device=device, dtype=dtype)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """``x (B, C, H, W)``, ``s (B, style_dim)`` -> ``(B, C, H, W)``."""
        if s.dim() != 2 or s.shape[1] != self.style_dim or x.dim() != 4 \
                or x.shape[1] != self.num_features or s.shape[0] != x.shape[0]:
            raise ValueError(f"AdaIN expects x (B, {self.num_features}, H, W) and s (B, "
                             f"{self.style_dim}), got {tuple(x.shape)} and {tuple(s.shape)}")
        h = self.fc(s)
        h = h.view(h.size(0), h.size(1), 1, 1)
        gamma, beta = h.chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta
