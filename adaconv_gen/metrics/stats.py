"""Feature statistics: float64 accumulation, ``.npz`` files, and an opt-in cache.

The Frechet distance (Heusel et al., 2017) needs the mean and covariance of the features.
They are accumulated in float64 as features arrive (shifted by the first feature vector, the
numerically stable one-pass form), so no batch size or image count changes them beyond
round-off and nothing has to hold all features in memory.

Files use pytorch-fid's format: an ``.npz`` with ``mu`` (d,) and ``sigma`` (d, d), so either
tool reads the other's. We add a few scalar fields (``num_images``, ``preset``, ``features``,
``weights_sha256``) that pytorch-fid ignores. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserInputError
from ..files import atomic_write

__all__ = ["RunningStatistics", "save_statistics", "load_statistics", "folder_cache_key"]


class RunningStatistics:
    """Mean and covariance of feature vectors accumulated in float64.

    ``update`` takes batches of any size; ``finalize`` gives ``np.mean(X, 0)`` and
    ``np.cov(X, rowvar=False)`` of all rows seen (to float64 round-off).
    """

    def __init__(self):
        self.n = 0
        self._shift = self._s1 = self._s2 = None

    def update(self, feats: torch.Tensor) -> None:
        """Add a ``(B, d)`` batch (any float dtype, any device)."""
        if feats.numel() == 0:
            return
        x = feats.detach().to(torch.float64)
        if x.device.type == "mps":  # no float64 there
            x = x.cpu()
        if self._shift is None:
            self._shift = x[0].clone()
            self._s1 = torch.zeros_like(self._shift)
            self._s2 = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, device=x.device)
        x = x.to(self._shift.device) - self._shift
        self._s1 += x.sum(0)
        self._s2 += x.T @ x
        self.n += x.shape[0]

    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)`` as float64 numpy arrays.

        Raises:
            UserInputError: fewer than two feature vectors were seen.
        """
        if self.n < 2:
            raise UserInputError(f"need at least 2 images for a covariance, got {self.n}")
        m = self._s1 / self.n  # mean of the shifted rows
        mu = (self._shift + m).cpu().numpy()
        sigma = ((self._s2 - self.n * torch.outer(m, m)) / (self.n - 1)).cpu().numpy()
        return mu, 0.5 * (sigma + sigma.T)


def save_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, **metadata) -> Path:
    """Write ``mu`` and ``sigma`` (plus scalar metadata) to an ``.npz`` atomically.

    Args:
        path: destination; pytorch-fid reads it (``mu``, ``sigma`` keys).
        mu: (d,) mean.
        sigma: (d, d) covariance.
        **metadata: scalars (str, int, float) stored alongside, e.g. ``num_images=5000``.

    Returns:
        The path written.
    """
    path = Path(path)
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserInputError(f"mu must be (d,) and sigma (d, d); got {mu.shape} and {sigma.shape}")
    extra = {k: np.asarray(v) for k, v in metadata.items() if v is not None}
    with atomic_write(path, "wb") as f:
        np.savez(f, mu=mu, sigma=sigma, **extra)
    return path


def load_statistics(path: str | os.PathLike, *, with_metadata: bool = False):
    """Read an ``.npz`` with ``mu`` and ``sigma`` (ours or pytorch-fid's).

    Args:
        path: the file.
        with_metadata: also return a dict of the other scalar fields.

    Returns:
        ``(mu, sigma)``, or ``(mu, sigma, metadata)`` when ``with_metadata``.

    Raises:
        UserInputError: missing file, not an ``.npz``, or no ``mu``/``sigma`` (file named).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "mu" not in f.files or "sigma" not in f.files:
                raise UserInputError(
                    f"{str(path)!r} has no 'mu' and 'sigma' arrays (found: {', '.join(f.files)})"
                )
            mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
            meta = {k: f[k].item() for k in f.files if k not in ("mu", "sigma") and f[k].ndim == 0}
    except UserInputError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise UserInputError(f"cannot read statistics file {str(path)!r}: {e}") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserInputError(f"{str(path)!r}: mu {mu.shape} and sigma {sigma.shape} do not match")
    return (mu, sigma, meta) if with_metadata else (mu, sigma)


def folder_cache_key(files: list[Path], root: Path | None, **extractor) -> str:
    """A hex key for a set of image files and an extractor.

    The files enter by relative path, size and modification time (a changed, added or removed
    file changes the key); ``extractor`` holds the preset, feature family and the weights
    file's sha256, so another network or protocol never reuses the entry.
    """
    h = hashlib.sha256()
    h.update(json.dumps(extractor, sort_keys=True, default=str).encode())
    for p in files:
        st = p.stat()
        rel = os.path.relpath(p, root) if root is not None else str(p.resolve())
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
