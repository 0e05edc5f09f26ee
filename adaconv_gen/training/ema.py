"""Exponential moving average of a network's parameters and buffers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["update_ema"]


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float = 0.999) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers are copied.

    Both modules must have the same structure (``ema`` is usually a deepcopy of ``model``).
    """
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm.detach().to(pe.dtype), 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bm)
