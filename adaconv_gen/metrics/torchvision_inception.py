"""torchvision's ImageNet Inception-v3 as StarGAN v2 uses it for FID.

StarGAN v2 (Choi et al., CVPR 2020, clovaai/stargan-v2 ``metrics/fid.py``) does not use the
standard FID network: it takes torchvision's ImageNet Inception-v3
(``inception_v3_google-0cc3c7bd.pth``), calls its blocks directly (so torchvision's
``transform_input`` re-normalisation is bypassed) and reads the 2048-d final average pool.
Reproducing the FID column of its tables needs this network together with the
``stargan-v2`` preset.
"""

from __future__ import annotations

import os

import torch
import torchvision
from torch import nn

from ..weights import load_state_dict, resolve
from .inception import _load_strict

__all__ = ["TorchvisionInceptionFeatures", "load_torchvision_inception"]

_BLOCKS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
           "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
           "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
           "avgpool")


class TorchvisionInceptionFeatures(nn.Module):
    """2048-d pool features of torchvision's ``Inception3``, blocks called in order.

    ``self.net`` is the torchvision model itself (with its aux head, so the published file
    loads with ``strict=True``); its ``transform_input`` is never applied.
    Input: ImageNet-normalised ``(B, 3, 299, 299)``. Output: ``(B, 2048)``.
    """

    dims = 2048

    def __init__(self):
        super().__init__()
        self.net = torchvision.models.inception_v3(weights=None, aux_logits=True,
                                                   init_weights=False, transform_input=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in _BLOCKS:
            x = getattr(self.net, name)(x)
        return torch.flatten(x, 1)  # (B, 2048)


def load_torchvision_inception(weights: str | os.PathLike | None = None, *,
                               flag: str | None = "--weights"
                               ) -> tuple[TorchvisionInceptionFeatures, str]:
    """Build :class:`TorchvisionInceptionFeatures` from ``inception_v3_google-0cc3c7bd.pth``.

    The file is found by the resolver (registry name ``"inception-torchvision"``,
    ``$ADACONV_TV_INCEPTION_WEIGHTS``).

    Returns:
        ``(model in eval mode, path of the file used)``.
    """
    path = resolve("inception-torchvision", weights, flag=flag)
    model = TorchvisionInceptionFeatures()
    named = flag if weights is not None else None
    _load_strict(model.net, load_state_dict(path, flag=named), path, named, "torchvision Inception-v3")
    return model.eval().requires_grad_(False), str(path)
