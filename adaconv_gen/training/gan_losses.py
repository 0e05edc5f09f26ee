"""Loss terms every GAN recipe shares."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["r1_penalty"]


def r1_penalty(logits: Tensor, images: Tensor) -> Tensor:
    """R1 (Mescheder et al., ICML 2018): ``mean_b sum |d D(x_b) / d x_b|^2``, differentiable.

    ``images`` must require grad and ``logits`` be ``D(images)``. StarGAN v2 weighs it by 0.5,
    StyleGAN by ``gamma / 2``; the weights stay with the callers.
    """
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    grad = grad.to(torch.promote_types(grad.dtype, torch.float32))  # fp16/bf16 -> fp32
    return grad.square().flatten(1).sum(1).mean()
