"""Shared helpers for the FID tests: offline random weights in the real layouts, image folders.

(Named test_fid_* so it belongs with the FID tests; it defines no tests itself.)
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from adaconv_gen.data.synthetic import pattern_image
from adaconv_gen.metrics.random_weights import calibration_batch, random_fid_inception

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
KINDS = ("stripes", "checker", "dots", "rings", "waves", "blobs")


@functools.cache
def fid_weights_file() -> Path:
    """A calibrated random FID Inception state dict, written once per test process."""
    d = Path(tempfile.mkdtemp(prefix="adaconv-fid-weights-"))
    path = d / FID_FILE
    random_fid_inception(path, seed=0, calibration=calibration_batch(4, 96, seed=0))
    return path


def write_images(folder: Path, n: int, size=48, seed: int = 0, ext: str = "png",
                 start: int = 0) -> list[Path]:
    """``n`` pattern images (size an int or a list of (w, h)) named img_<k>.<ext>."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        s = size if isinstance(size, int) else size[i % len(size)]
        w, h = (s, s) if isinstance(s, int) else s
        a = pattern_image(KINDS[(i + seed) % len(KINDS)], max(w, h), rng)[:h, :w]
        p = folder / f"img_{start + i:03d}.{ext}"
        Image.fromarray(a).save(p, quality=95) if ext in ("jpg", "jpeg") else Image.fromarray(a).save(p)
        paths.append(p)
    return paths
