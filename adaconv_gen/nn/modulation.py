"""``create_modulation``: build a style-modulation layer by name (timm's ``create_norm`` habit)."""

from __future__ import annotations

from torch import nn

from .adaconv import AdaConv
from .adain import AdaIN

__all__ = ["MODULATIONS", "create_modulation"]

MODULATIONS: dict[str, type[nn.Module]] = {"adain": AdaIN, "adaconv": AdaConv}


def create_modulation(name: str, style_dim: int, num_features: int, **kwargs) -> nn.Module:
    """``create_modulation("adain" | "adaconv", style_dim, num_features, **kwargs)``.

    Both take ``forward(x, s)``. Extra keyword arguments go to the layer's constructor.

    Raises:
        ValueError: unknown name (the valid ones are listed).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in MODULATIONS:
        raise ValueError(f"unknown modulation {name!r}; valid: {', '.join(MODULATIONS)}")
    return MODULATIONS[key](style_dim, num_features, **kwargs)
