"""Sample grids a person can look at, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torchvision.utils import make_grid

__all__ = ["save_image_grid", "save_image"]


@torch.no_grad()
def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8,
                    value_range: tuple[float, float] = (-1.0, 1.0), padding: int = 2) -> Path:
    """Save ``(N, 3, H, W)`` images as one PNG grid (``nrow`` per row), atomically.

    Args:
        images: batch of images in ``value_range``.
        path: output ``.png`` path.
        nrow: images per row.
        value_range: the data range, mapped to 0..255.
        padding: pixels between cells.
    """
    lo, hi = value_range
    x = (images.detach().float().cpu() - lo) / (hi - lo)
    grid = make_grid(x.clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)
    return _write_png(grid, path)


@torch.no_grad()
def save_image(image: torch.Tensor, path: str | os.PathLike,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Save one ``(3, H, W)`` image in ``value_range`` as a PNG, atomically."""
    lo, hi = value_range
    return _write_png(((image.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1), path)


def _write_png(img01: torch.Tensor, path: str | os.PathLike) -> Path:
    from PIL import Image

    arr = img01.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".png")
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
