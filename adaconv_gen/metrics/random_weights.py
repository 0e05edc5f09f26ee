"""Random weights in the real file layouts, calibrated so features are O(1).

Tests and benchmarks must run offline, so they write random weights in exactly the layout of
the published files (``pt_inception-2015-12-05-6726825d.pth``, torchvision's Inception-v3 and
AlexNet) and exercise the real loading code. Default-initialised batch-norm statistics
(mean 0, variance 1) shrink activations layer after layer until the 2048-d features are about
1e-8, which would hide preprocessing errors; :func:`calibrate_batchnorm` sets every running
mean and variance from one batch of real images, as a trained network's would be.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..data.synthetic import pattern_image

__all__ = ["calibrate_batchnorm", "calibration_batch", "random_fid_inception",
           "random_torchvision_inception"]


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``model``'s activations on ``x``."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch -> exactly its statistics
    model.train()
    model(x)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return model.eval()


def calibration_batch(n: int = 8, size: int = 299, seed: int = 0) -> torch.Tensor:
    """``n`` synthetic pattern images as float in [0, 1], ``(n, 3, size, size)``."""
    rng = np.random.default_rng(seed)
    kinds = ("stripes", "checker", "dots", "rings", "waves", "blobs")
    imgs = [pattern_image(kinds[i % len(kinds)], size, rng) for i in range(n)]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255)


def _seeded_init(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()


def random_fid_inception(path: str | os.PathLike | None = None, *, seed: int = 0,
                         calibration: torch.Tensor | None = None):
    """A calibrated random :class:`FIDInceptionV3`, optionally saved as a plain state dict.

    Args:
        path: where to ``torch.save`` the state dict (the layout of the published file).
        seed: weight seed.
        calibration: images in [0, 1] (any size; pytorch-fid preprocessing is applied).

    Returns:
        The model (eval mode).
    """
    from .inception import FIDInceptionV3
    from .presets import get_preset

    model = FIDInceptionV3()
    _seeded_init(model, seed)
    x = calibration if calibration is not None else calibration_batch()
    calibrate_batchnorm(model, get_preset("pytorch-fid").prepare(x))
    if path is not None:
        torch.save(model.state_dict(), path)
    return model


def random_torchvision_inception(path: str | os.PathLike | None = None, *, seed: int = 0,
                                 calibration: torch.Tensor | None = None):
    """Calibrated random torchvision Inception-v3 state dict (with aux head), saved to ``path``."""
    from .presets import _imagenet_normalize
    from .torchvision_inception import TorchvisionInceptionFeatures

    model = TorchvisionInceptionFeatures()
    _seeded_init(model, seed)
    x = calibration if calibration is not None else calibration_batch()
    calibrate_batchnorm(model, _imagenet_normalize(x))
    if path is not None:
        torch.save(model.net.state_dict(), path)
    return model
