"""Finding and decoding image files robustly.

Every reader in the library goes through here, so that grayscale, RGBA, palette and 16-bit
files all become 8-bit RGB the same way, and a corrupt file is named in the error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BadImageError, UserInputError

__all__ = ["IMAGE_EXTENSIONS", "list_images", "load_rgb", "to_uint8_rgb", "find_bad_images"]

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
