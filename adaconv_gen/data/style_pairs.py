"""Content / style image pairs for arbitrary style transfer training, and a demo data builder.

Training (Huang & Belongie 2017; Chandran et al. 2021, section 3.2) draws a random content
image (MS-COCO) and a random style image (WikiArt) at every step, each resized (short side
512) and randomly cropped (256). :func:`style_pair_loaders` gives two independently shuffled,
endlessly cycled loaders for that; unreadable files are found once at start-up (one warning
naming them), and a file that goes bad later is replaced by another sample with a warning
instead of killing the run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..errors import BadImageError
from .folder import ImageFolderDataset, default_transform
from .synthetic import pattern_image

__all__ = ["RobustDataset", "style_pair_loaders", "cycle", "build_demo_style_data", "DEMO_STYLE_KINDS"]

DEMO_STYLE_KINDS = ("stripes", "checker", "dots", "rings", "waves")
# Photographs shipped inside scikit-image's wheel (public domain / CC0 per its README).
_SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")


class RobustDataset(Dataset):
    """Wraps an :class:`ImageFolderDataset`: a file unreadable at load time is skipped (warning
    naming it) and the next readable one is returned, so training never dies mid-run."""

    def __init__(self, dataset: ImageFolderDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> torch.Tensor:
        n = len(self.dataset)
        for k in range(n):
            j = (i + k) % n
            try:
                return self.dataset[j]
            except BadImageError as e:
                warnings.warn(f"skipping during training: {e}", stacklevel=2)
        raise BadImageError(f"no readable image left in {len(self.dataset)} files")


def cycle(loader: DataLoader) -> Iterator:
    """Yield batches forever (a new shuffle each pass)."""
    while True:
        yield from loader


def style_pair_loaders(content_dir: str | os.PathLike, style_dir: str | os.PathLike, *, img_size: int = 256,
                       resize: int | None = 512, batch_size: int = 8, num_workers: int = 0,
                       check: bool = True) -> tuple[DataLoader, DataLoader, dict]:
    """Two shuffled loaders (content, style) of random crops; pair their batches step by step.

    Args:
        content_dir: folder (read recursively) or file of content images.
        style_dir: folder or file of style images.
        img_size: crop size.
        resize: short side before cropping (paper: 512 for 256 crops); clamped to >= img_size.
        batch_size: images per batch.
        num_workers: DataLoader workers.
        check: decode every file once at start-up and skip unreadable ones (warning naming them).

    Returns:
        ``(content_loader, style_loader, info)`` with ``info`` counting good and bad files.

    Raises:
        UserInputError: a folder is missing or holds no readable image.
    """
    tf = default_transform(img_size, train=True, resize=max(img_size, resize or img_size))
    cds = ImageFolderDataset(content_dir, tf, check=check)
    sds = ImageFolderDataset(style_dir, tf, check=check)
    kw = dict(batch_size=batch_size, shuffle=True, drop_last=False, num_workers=num_workers,
              persistent_workers=num_workers > 0)
    info = {"content_images": len(cds), "style_images": len(sds),
            "bad_files": [str(p) for p in cds.bad + sds.bad]}
    return DataLoader(RobustDataset(cds), **kw), DataLoader(RobustDataset(sds), **kw), info


def _scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth 'photo-like' scene: sky/ground gradient and soft shapes (no hard texture)."""
    t = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(t, t, indexing="xy")
    top, bottom = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    img = top * (1 - y[..., None]) + bottom * y[..., None]
    for _ in range(rng.integers(2, 5)):
        cx, cy, r = rng.uniform(0.15, 0.85), rng.uniform(0.2, 0.9), rng.uniform(0.08, 0.25)
        m = 1 / (1 + np.exp((np.hypot(x - cx, (y - cy) * rng.uniform(0.6, 1.6)) - r) * 40))
        img = img * (1 - m[..., None]) + rng.uniform(0, 1, 3) * m[..., None]
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _shipped_photos() -> list[np.ndarray]:
    try:
        from skimage import data as skdata
    except ImportError:
        return []
    out = []
    for name in _SKIMAGE_PHOTOS:
        try:
            a = np.asarray(getattr(skdata, name)())
        except Exception:  # not shipped in this version, or needs a download
            continue
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        out.append(a[..., :3].astype(np.uint8))
    return out


def build_demo_style_data(root: str | os.PathLike, *, n_content: int = 24, n_style: int = 20,
                          size: int = 96, seed: int = 0, photos: bool = True) -> tuple[Path, Path]:
    """Write a small demo set: generated patterns as styles, photos or scenes as content.

    Content images are random crops of the photographs shipped with scikit-image (when it is
    installed and ``photos``), otherwise generated smooth scenes; styles are generated
    stripes / checkers / dots / rings / waves (:mod:`adaconv_gen.data.synthetic`).

    Returns:
        ``(content_dir, style_dir)`` under ``root``.
    """
    root = Path(root)
    cdir, sdir = root / "content", root / "style"
    cdir.mkdir(parents=True, exist_ok=True)
    sdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shipped = _shipped_photos() if photos else []
    for i in range(n_content):
        if shipped and i % 4 != 3:  # mostly photos, some generated scenes
            a = shipped[i % len(shipped)]
            s = int(min(a.shape[:2]) * rng.uniform(0.5, 1.0))
            y0 = rng.integers(0, a.shape[0] - s + 1)
            x0 = rng.integers(0, a.shape[1] - s + 1)
            img = Image.fromarray(a[y0:y0 + s, x0:x0 + s]).resize((size, size), Image.BICUBIC)
        else:
            img = Image.fromarray(_scene(size, rng))
        img.save(cdir / f"content_{i:04d}.png")
    for i in range(n_style):
        kind = DEMO_STYLE_KINDS[i % len(DEMO_STYLE_KINDS)]
        Image.fromarray(pattern_image(kind, size, rng)).save(sdir / f"{kind}_{i:04d}.png")
    return cdir, sdir
