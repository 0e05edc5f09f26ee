"""Frozen ImageNet VGG-19 encoder up to relu4_1, the feature extractor of AdaIN / AdaConv.

Huang & Belongie (ICCV 2017) and Chandran et al. (CVPR 2021, section 3.2) both encode content
and style with a fixed VGG-19 truncated at ``relu4_1`` and compute their losses on
``relu1_1, relu2_1, relu3_1, relu4_1``. The layers are torchvision's ``vgg19().features[:21]``,
so the weights file is torchvision's ``vgg19-dcbb9e9d.pth`` (found through
:mod:`adaconv_gen.weights`, registry name ``"vgg19"``); keys after ``features.19`` (the rest of
the network, the classifier) are ignored, so a file holding only ``features.0 ... features.19``
loads too.

Images enter in ``[-1, 1]`` (the library's convention) and are mapped to ImageNet
normalisation inside the encoder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError
from ..files import atomic_write
from ..weights import load_state_dict, resolve

__all__ = ["VGGEncoder", "VGG_TAPS", "load_vgg19_state_dict", "write_random_vgg19_weights"]

# torchvision vgg19().features indices of the ReLUs the losses tap, and the last one kept.
VGG_TAPS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20}
_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19)
_CHANNELS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256),
             12: (256, 256), 14: (256, 256), 16: (256, 256), 19: (256, 512)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _build_features() -> nn.Sequential:
    """torchvision ``vgg19().features[:21]`` layer for layer (same indices, same key names)."""
    layers: list[nn.Module] = []
    for i in range(21):
        if i in _CHANNELS:
            cin, cout = _CHANNELS[i]
            layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        elif i in (4, 9, 18):
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def _vgg_init(features: nn.Module) -> None:
    """torchvision's VGG initialisation (kaiming normal, fan_out, zero bias)."""
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def load_vgg19_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a torchvision VGG-19 file and keep ``features.0 ... features.19`` (relu4_1).

    Returns:
        A state dict for :class:`VGGEncoder`'s ``features`` (keys ``"0.weight"``, ...).

    Raises:
        UserInputError: unreadable file, or a layer missing / with the wrong shape (named).
    """
    sd = load_state_dict(path)
    if not isinstance(sd, dict):
        raise UserInputError(f"{str(path)!r} is not a VGG-19 state dict")
    out = {}
    for i in _CONV_INDICES:
        cin, cout = _CHANNELS[i]
        for name, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"features.{i}.{name}"
            if key not in sd:
                raise UserInputError(
                    f"{str(path)!r} is not a torchvision VGG-19 file: key {key!r} missing")
            t = sd[key]
            if tuple(t.shape) != shape:
                raise UserInputError(f"{str(path)!r}: {key} has shape {tuple(t.shape)}, "
                                     f"expected {shape} (torchvision vgg19)")
            out[f"{i}.{name}"] = t.float()
    return out


def write_random_vgg19_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write a file in torchvision's VGG-19 key format holding only the layers up to relu4_1,
    randomly initialised as torchvision does. For tests and pipeline checks, not for quality."""
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        features = _build_features()
        _vgg_init(features)
    sd = {f"features.{k}": v.contiguous() for k, v in features.state_dict().items()}
    with atomic_write(path, "wb") as f:
        torch.save(sd, f)
    return Path(path)


class VGGEncoder(nn.Module):
    """Frozen VGG-19 up to relu4_1, returning the four loss taps.

    Args:
        weights: path to ``vgg19-dcbb9e9d.pth`` (or any file with the same ``features.*``
            keys); ``None`` resolves it (``$ADACONV_VGG19_WEIGHTS``, ``$ADACONV_WEIGHTS_DIR``,
            the torch hub cache, a download when online); ``"random"`` keeps a random
            initialisation (pipeline checks only); ``"none"`` leaves the layers uninitialised
            for a following ``load_state_dict`` (e.g. ``from_pretrained``).
        flag: the command-line flag that supplies ``weights``, for error messages.

    Raises:
        WeightsNotFoundError: no file found; the message names ``vgg19-dcbb9e9d.pth`` and the
            ways to provide it.
    """

    out_channels = 512
    downsample = 8

    def __init__(self, weights: str | os.PathLike | None = None, *, flag: str | None = "--vgg_weights") -> None:
        super().__init__()
        self.features = _build_features()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights_source = str(weights) if weights is not None else None
        if weights == "random":
            _vgg_init(self.features)
        elif weights != "none":
            path = resolve("vgg19", weights, flag=flag)
            self.features.load_state_dict(load_vgg19_state_dict(path))
            self.weights_source = str(path)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGEncoder:
        """The encoder is frozen: it stays in eval mode."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[-1, 1]`` RGB -> ImageNet-normalised input."""
        return ((x + 1) * 0.5 - self.mean) / self.std

    def forward(self, x: torch.Tensor, *, taps: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Encode ``(B, 3, H, W)`` images in ``[-1, 1]``.

        Returns:
            relu4_1 features ``(B, 512, H/8, W/8)``, or with ``taps=True`` the list
            ``[relu1_1, relu2_1, relu3_1, relu4_1]``.
        """
        h = self.normalize(x)
        out = []
        stops = set(VGG_TAPS.values())
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in stops:
                out.append(h)
        return out if taps else out[-1]
