"""Preprocessing presets: how image files become the tensors a feature network sees.

An FID value is only comparable with another one computed with the same network *and* the
same preprocessing (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", CVPR 2022). Each preset copies one published protocol and every reported number
is labelled with the preset that produced it:

``pytorch-fid`` (default, Inception features)
    mseitzer/pytorch-fid: float in [0, 1], bilinear resize to 299 (``align_corners=False``, no
    antialias), ``2x - 1``; the FID Inception (``pt_inception-2015-12-05-6726825d.pth``).
    Folders are read as pytorch-fid reads them: not recursively, lower-case extensions
    {bmp, jpg, jpeg, pgm, png, ppm, tif, tiff, webp}.
``clean-fid``
    GaParmar/clean-fid's "clean" mode: each channel resized to 299 as a float image with PIL
    bicubic (antialiased), clipped to [0, 255], then ``(x - 128) / 128``; the same FID Inception
    weights (clean-fid runs them as NVIDIA's TorchScript export of the same TF graph).
``stargan-v2``
    clovaai/stargan-v2's ``metrics/fid.py``: PIL bilinear resize to 256 then to 299, ImageNet
    mean/std, torchvision's ImageNet Inception-v3 (``inception_v3_google-0cc3c7bd.pth``) blocks
    called directly (``transform_input`` is bypassed). Tensors are quantised to 8 bits first, as
    StarGAN v2 evaluates PNG files it wrote.
``dgm-eval`` (default for DINOv2 features)
    layer6ai-labs/dgm-eval's DINOv2 encoder: PIL bicubic resize to 224, ImageNet mean/std.

All presets other than ``pytorch-fid`` read folders recursively with any-case extensions
{png, jpg, jpeg, webp, bmp} (:func:`adaconv_gen.data.images.list_images`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.images import list_images
from ..errors import UserInputError

__all__ = ["Preset", "PRESETS", "get_preset", "list_preset_files", "PYTORCH_FID_EXTENSIONS"]

PYTORCH_FID_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    """One preprocessing protocol.

    Attributes:
        name: the label printed with every number.
        features: the feature family it belongs to (``"inception"``, ``"dinov2"``).
        weights: registry name of the network's weights file (:mod:`adaconv_gen.weights`).
        network: which network the family builds (``"fid-inception"``, ``"tv-inception"``, ...).
        recursive: folder rule; ``False`` means pytorch-fid's non-recursive lower-case rule.
        load: 8-bit RGB PIL image -> CPU tensor (runs in DataLoader workers).
        unify: one ``load`` output -> the common batch shape, used when sizes differ in a batch.
        prepare: a batch on the device -> network input.
        direct_tensors: tensors are fed to ``prepare`` as they are (no 8-bit round trip).
        description: one line for docs and ``--help``.
    """

    name: str
    features: str
    weights: str
    network: str
    recursive: bool
    load: Callable[[Image.Image], torch.Tensor]
    prepare: Callable[[torch.Tensor], torch.Tensor]
    unify: Callable[[torch.Tensor], torch.Tensor] | None = None
    direct_tensors: bool = False
    description: str = ""


# ---------------------------------------------------------------- pytorch-fid

def _pil_to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, H, W)


def _to_unit_float(x: torch.Tensor) -> torch.Tensor:
    # torchvision's ToTensor: uint8 -> float32 / 255; floats are taken to be in [0, 1] already.
    return x.to(torch.float32).div(255) if x.dtype == torch.uint8 else x.to(torch.float32)


def _bilinear_299(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == (299, 299):
        return x  # bilinear to the same size is the identity
    return F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)


def _pytorch_fid_unify(x: torch.Tensor) -> torch.Tensor:
    return _bilinear_299(_to_unit_float(x)[None])[0]  # (3, 299, 299) float in [0, 1]


def _pytorch_fid_prepare(x: torch.Tensor) -> torch.Tensor:
    return 2 * _bilinear_299(_to_unit_float(x)) - 1


# ---------------------------------------------------------------- clean-fid

def _pil_float_resize(img: Image.Image, size: int) -> torch.Tensor:
    """clean-fid's resize: each channel as a float32 'F' image, PIL bicubic, clipped to [0, 255]."""
    a = np.asarray(img, dtype=np.float32)  # (H, W, 3) in [0, 255]
    chans = [
        np.asarray(Image.fromarray(a[:, :, c], mode="F").resize((size, size), Image.BICUBIC))
        for c in range(3)
    ]
    out = np.clip(np.stack(chans, axis=0), 0, 255).astype(np.float32)  # (3, size, size)
    return torch.from_numpy(out)


def _clean_fid_load(img: Image.Image) -> torch.Tensor:
    return _pil_float_resize(img, 299)


def _clean_fid_prepare(x: torch.Tensor) -> torch.Tensor:
    return (x.to(torch.float32) - 128.0) / 128.0


# ---------------------------------------------------------------- ImageNet-normalised presets

def _imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _stargan_load(img: Image.Image) -> torch.Tensor:
    # torchvision Resize([256, 256]) then Resize([299, 299]) on a PIL image = PIL bilinear twice.
    img = img.resize((256, 256), Image.BILINEAR).resize((299, 299), Image.BILINEAR)
    return _pil_to_uint8_tensor(img).to(torch.float32).div(255)


def _dgm_eval_load(img: Image.Image) -> torch.Tensor:
    img = img.resize((224, 224), Image.BICUBIC)
    return _pil_to_uint8_tensor(img).to(torch.float32).div(255)


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    """Add a preset (one entry per protocol); returns it."""
    PRESETS[preset.name] = preset
    return preset


register_preset(Preset(
    "pytorch-fid", "inception", "inception-fid", "fid-inception", recursive=False,
    load=_pil_to_uint8_tensor, unify=_pytorch_fid_unify, prepare=_pytorch_fid_prepare,
    direct_tensors=True,
    description="pytorch-fid: bilinear 299 (no antialias), 2x-1, FID Inception; its file rules",
))
register_preset(Preset(
    "clean-fid", "inception", "inception-fid", "fid-inception", recursive=True,
    load=_clean_fid_load, prepare=_clean_fid_prepare,
    description="clean-fid 'clean': per-channel PIL bicubic 299, (x-128)/128, FID Inception",
))
register_preset(Preset(
    "stargan-v2", "inception", "inception-torchvision", "tv-inception", recursive=True,
    load=_stargan_load, prepare=_imagenet_normalize,
    description="StarGAN v2: PIL resize 256 then 299, ImageNet mean/std, torchvision Inception-v3",
))
register_preset(Preset(
    "dgm-eval", "dinov2", "dinov2", "dinov2", recursive=True,
    load=_dgm_eval_load, prepare=_imagenet_normalize,
    description="dgm-eval DINOv2: PIL bicubic 224, ImageNet mean/std, ViT-L/14 CLS token",
))


def get_preset(name: str) -> Preset:
    """Look a preset up by name.

    Raises:
        UserInputError: unknown name (the message lists the valid ones).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise UserInputError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


def list_preset_files(folder: str | os.PathLike, preset: Preset,
                      recursive: bool | None = None) -> list[Path]:
    """The image files a preset reads from ``folder``, sorted.

    Args:
        folder: a folder (a single image file is returned as ``[file]``).
        preset: the preset whose rule applies when ``recursive`` is None.
        recursive: ``True``: recursive, any-case {png, jpg, jpeg, webp, bmp};
            ``False``: pytorch-fid's rule (top level only, lower-case
            {bmp, jpg, jpeg, pgm, png, ppm, tif, tiff, webp}); ``None``: the preset's rule.
    """
    folder = Path(folder)
    rec = preset.recursive if recursive is None else recursive
    if rec or folder.is_file():
        return list_images(folder, recursive=True)
    if not folder.is_dir():
        raise UserInputError(f"no such file or folder: {str(folder)!r}")
    # Exactly pytorch-fid's listing: sorted(glob('*.<ext>') for each lower-case extension).
    return sorted(p for ext in PYTORCH_FID_EXTENSIONS for p in folder.glob(f"*.{ext}") if p.is_file())


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """One (3, H, W) image, uint8 or float in [0, 1], as an 8-bit PIL image (PNG quantisation)."""
    if x.dtype != torch.uint8:
        # torchvision.utils.save_image's rounding: x * 255 + 0.5, clamped, truncated.
        x = x.detach().to(torch.float32).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return Image.fromarray(x.cpu().permute(1, 2, 0).numpy(), mode="RGB")
