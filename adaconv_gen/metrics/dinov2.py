"""DINOv2 ViT-L/14 CLS features for FD-DINOv2.

Stein et al., "Exposing flaws of generative model evaluation metrics and their unfair
treatment of diffusion models" (NeurIPS 2023) recommend the Frechet distance on DINOv2
ViT-L/14 features (FD-DINOv2; reference code layer6ai-labs/dgm-eval). Here the network is
timm's ``vit_large_patch14_dinov2`` built at 224 px, its weights file found by the library's
resolver (registry name ``"dinov2"``) and handed to timm with
``pretrained_cfg_overlay=dict(file=...)`` (timm reads ``.safetensors``, or ``.pth`` with
``weights_only=True``). timm resamples the 37 x 37 position embedding of the 518 px checkpoint
to 16 x 16 once at load time (bicubic); dgm-eval's ``torch.hub`` model instead interpolates it
at every forward pass, so features differ slightly and FD-DINOv2 values are close to, not
bit-identical with, dgm-eval's.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import UserInputError
from ..weights import resolve

__all__ = ["DINOv2Features", "load_dinov2", "DEFAULT_DINOV2_MODEL"]

DEFAULT_DINOV2_MODEL = "vit_large_patch14_dinov2"


class DINOv2Features(nn.Module):
    """CLS token after the final norm of a timm ViT (``(B, 3, 224, 224)`` -> ``(B, D)``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.dims = int(model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)[:, 0]  # (B, tokens, D) -> CLS (B, D)


def load_dinov2(weights: str | os.PathLike | None = None, *, model_name: str = DEFAULT_DINOV2_MODEL,
                img_size: int = 224, flag: str | None = "--weights") -> tuple[DINOv2Features, str]:
    """Build the DINOv2 feature network from its weights file.

    Args:
        weights: explicit path; otherwise ``$ADACONV_DINOV2_WEIGHTS``, ``$ADACONV_WEIGHTS_DIR``
            or the torch hub cache (file name ``vit_large_patch14_dinov2.safetensors``).
        model_name: timm model name. The default is the FD-DINOv2 network; tests pass a tiny
            timm ViT to exercise the same loading code quickly.
        img_size: input size the model is built at (position embedding resampled to it).
        flag: command-line flag named in the "not found" message.

    Returns:
        ``(model in eval mode, path of the file used)``.
    """
    import timm

    path = resolve("dinov2", weights, flag=flag)
    try:
        model = timm.create_model(model_name, pretrained=True, num_classes=0, img_size=img_size,
                                  pretrained_cfg_overlay=dict(file=str(path)))
    except (RuntimeError, KeyError, ValueError, OSError) as e:
        raise UserInputError(
            f"cannot load {model_name} from weights file {str(path)!r}: {str(e).splitlines()[0]}"
        ) from None
    return DINOv2Features(model).eval().requires_grad_(False), str(path)
