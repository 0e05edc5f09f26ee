"""Generated images for the demos and tests: no download, deterministic per seed.

Patterns are chosen to be visually distinct *domains* (for StarGAN v2 / StyleGAN demos) and
structured *styles* (oriented stripes, checkers, rings: what AdaConv captures and AdaIN cannot).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["PATTERNS", "PALETTES", "pattern_image", "write_pattern_folder", "write_domain_dataset"]


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.uniform(0.0, 1.0, 3)
    b = 1.0 - a * rng.uniform(0.3, 1.0, 3)
    return a, b


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def _vivid_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A bright saturated colour on a dark one of another hue: the image's colour is obvious."""
    h = rng.uniform(0, 1)
    return _hsv(h, rng.uniform(0.7, 1.0), rng.uniform(0.85, 1.0)), \
        _hsv((h + rng.uniform(0.25, 0.75)) % 1, rng.uniform(0.5, 1.0), rng.uniform(0.15, 0.4))


PALETTES = {"random": _palette, "vivid": _vivid_palette}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(size) + 0.5) / size
    return np.meshgrid(t, t, indexing="xy")


def _stripes(size, rng):
    x, y = _grid(size)
    th = rng.uniform(0, np.pi)
    f = rng.uniform(3, 8)
    return 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * f * (x * np.cos(th) + y * np.sin(th)) + rng.uniform(0, 6)))


def _checker(size, rng):
    x, y = _grid(size)
    f = rng.integers(3, 8)
    th = rng.uniform(0, np.pi / 2)
    u, v = x * np.cos(th) - y * np.sin(th), x * np.sin(th) + y * np.cos(th)
    return ((np.floor(u * f) + np.floor(v * f)) % 2).astype(float)


def _dots(size, rng):
    x, y = _grid(size)
    f = rng.uniform(3, 7)
    r = rng.uniform(0.2, 0.35)
    d = np.hypot((x * f) % 1 - 0.5, (y * f) % 1 - 0.5)
    return (d < r).astype(float)


def _rings(size, rng):
    x, y = _grid(size)
    cx, cy = rng.uniform(0.2, 0.8, 2)
    f = rng.uniform(4, 9)
    return 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * f * np.hypot(x - cx, y - cy)))


def _waves(size, rng):
    x, y = _grid(size)
    f1, f2 = rng.uniform(2, 5, 2)
    return 0.5 + 0.5 * np.sin(2 * np.pi * (f1 * x + 0.3 * np.sin(2 * np.pi * f2 * y)))


def _blobs(size, rng):
    x, y = _grid(size)
    img = np.zeros((size, size))
    for _ in range(rng.integers(3, 7)):
        cx, cy, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        img += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
    return np.clip(img, 0, 1)


PATTERNS = {
    "stripes": _stripes, "checker": _checker, "dots": _dots,
    "rings": _rings, "waves": _waves, "blobs": _blobs,
}


def pattern_image(kind: str, size: int, rng: np.random.Generator, palette: str = "random") -> np.ndarray:
    """One ``(size, size, 3)`` uint8 image of a pattern with random colours and parameters.

    ``palette``: ``"random"`` (any two colours) or ``"vivid"`` (a bright saturated colour on a
    dark one of another hue).
    """
    if kind not in PATTERNS:
        raise ValueError(f"unknown pattern {kind!r}; valid: {', '.join(PATTERNS)}")
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; valid: {', '.join(PALETTES)}")
    m = PATTERNS[kind](size, rng)[..., None]
    a, b = PALETTES[palette](rng)
    img = a * m + b * (1 - m) + rng.normal(0, 0.02, (size, size, 3))
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write_pattern_folder(root: str | os.PathLike, kinds: Sequence[str], n: int, size: int = 64,
                         seed: int = 0, ext: str = ".png", palette: str = "random") -> list[Path]:
    """Write ``n`` images cycling through ``kinds`` into ``root``; returns their paths."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        p = root / f"{kind}_{i:05d}{ext}"
        Image.fromarray(pattern_image(kind, size, rng, palette)).save(p)
        paths.append(p)
    return paths


def write_domain_dataset(root: str | os.PathLike, domains: Sequence[str] = ("stripes", "dots", "rings"),
                         n_train: int = 64, n_val: int = 8, size: int = 64, seed: int = 0,
                         palette: str = "random") -> Path:
    """Write ``root/{train,val}/<domain>/*.png``, one pattern family per domain; returns root."""
    root = Path(root)
    for split, n, off in (("train", n_train, 0), ("val", n_val, 1000)):
        for j, d in enumerate(domains):
            write_pattern_folder(root / split / d, [d], n, size=size, seed=seed + off + 7919 * j, palette=palette)
    return root
