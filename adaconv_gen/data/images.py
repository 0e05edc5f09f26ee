"""Image files in and out: finding, decoding robustly, and writing PNGs atomically.

Every reader in the library goes through here, so that grayscale, RGBA, palette and 16-bit
files all become 8-bit RGB the same way, and a corrupt file is named in the error. Every PNG
the library writes (sample grids, translations, stylized images) goes through
:func:`save_png`, atomically and with the umask's mode.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import BadImageError, UserInputError
from ..files import atomic_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_images",
    "load_rgb",
    "load_image_tensor",
    "to_uint8_rgb",
    "to_uint8",
    "find_bad_images",
    "save_png",
    "save_image_grid",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(root: str | os.PathLike, *, recursive: bool = True,
                extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``root`` (any case of the extensions), sorted; a file is returned as is.

    Raises:
        UserInputError: ``root`` does not exist.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserInputError(f"no such file or folder: {str(root)!r}")
    exts = {e.lower() for e in extensions}
    it = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in exts)


def to_uint8_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB; 16-bit data is scaled (x / 257), not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "I" and a.max(initial=0) <= 255:
            scale = 1.0
        else:
            scale = 1.0 / 257.0
        a = np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
        img = Image.fromarray(a, mode="L")
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(np.rint(a * 255 if a.max(initial=0) <= 1 else a), 0, 255).astype(np.uint8)
        img = Image.fromarray(a, mode="L")
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as 8-bit RGB.

    Raises:
        BadImageError: the file is missing, unreadable or corrupt (named in the message).
    """
    try:
        with Image.open(path) as img:
            img.load()
            return to_uint8_rgb(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image {str(path)!r}: {e}") from None


def find_bad_images(paths: Iterable[str | os.PathLike], *, warn: bool = True) -> tuple[list[Path], list[Path]]:
    """Split ``paths`` into readable and unreadable images (fully decoding each once).

    Used by the recipes at start-up so that training never dies on a bad file mid-run.

    Returns:
        ``(good, bad)`` lists of paths.
    """
    good, bad = [], []
    for p in paths:
        p = Path(p)
        try:
            load_rgb(p)
            good.append(p)
        except BadImageError:
            bad.append(p)
    if bad and warn:
        shown = ", ".join(str(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
        warnings.warn(f"skipping {len(bad)} unreadable image file(s): {shown}", stacklevel=2)
    return good, bad


def load_image_tensor(path: str | os.PathLike, size: int | None = None, *, crop: bool = False) -> torch.Tensor:
    """Read one image as ``(1, 3, H, W)`` float in [-1, 1].

    Args:
        path: image file.
        size: resize so the short side is ``size`` (None: keep the size).
        crop: then centre-crop to ``size x size``.

    Raises:
        BadImageError: the file cannot be read (named).
    """
    from torchvision.transforms import v2 as T

    ops = [T.PILToTensor()]
    if size:
        ops.append(T.Resize(size, antialias=True))
        if crop:
            ops.append(T.CenterCrop(size))
    ops += [T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)]
    return T.Compose(ops)(load_rgb(path))[None]


def to_uint8(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Floats in ``value_range`` -> uint8 (0..255, rounded), as written to an 8-bit file."""
    lo, hi = value_range
    return ((x.detach().float() - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8)


@torch.no_grad()
def save_png(image: torch.Tensor, path: str | os.PathLike,
             value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Save one ``(3, H, W)`` image in ``value_range`` as an 8-bit PNG, atomically.

    Returns:
        ``path``.
    """
    arr = to_uint8(image.cpu(), value_range).permute(1, 2, 0).numpy()
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return Path(path)


@torch.no_grad()
def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8,
                    value_range: tuple[float, float] = (-1.0, 1.0), padding: int = 2) -> Path:
    """Save ``(N, 3, H, W)`` images as one PNG grid (``nrow`` per row, white gaps), atomically.

    Args:
        images: batch of images in ``value_range``.
        path: output ``.png`` path.
        nrow: images per row.
        value_range: the data range, mapped to 0..255.
        padding: pixels between cells.
    """
    from torchvision.utils import make_grid

    lo, hi = value_range
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    return save_png(make_grid(x, nrow=nrow, padding=padding, pad_value=1.0), path, (0.0, 1.0))
