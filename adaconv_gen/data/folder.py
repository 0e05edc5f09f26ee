"""A dataset over a folder of images (read recursively), with bad files found once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2 as T

from ..errors import UserInputError
from .images import find_bad_images, list_images, load_rgb

__all__ = ["ImageFolderDataset", "default_transform"]


def default_transform(size: int, *, train: bool = True, resize: int | None = None) -> Callable:
    """Resize the short side to ``resize`` (default ``size``), then random (or centre) crop to
    ``size``; horizontal flip when training; output float in [-1, 1], shape (3, size, size)."""
    ops = [T.PILToTensor(), T.Resize(resize or size, antialias=True),
           T.RandomCrop(size) if train else T.CenterCrop(size)]
    if train:
        ops.append(T.RandomHorizontalFlip())
    ops += [T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)]
    return T.Compose(ops)


class ImageFolderDataset(Dataset):
    """Images under one or more folders (or explicit files), decoded to RGB and transformed.

    Args:
        roots: a folder, a file, or a sequence of them.
        transform: maps a PIL RGB image to a tensor (see :func:`default_transform`).
        check: decode every file once now and skip unreadable ones with one warning naming them.

    Raises:
        UserInputError: no readable image found (the message names the folders).
    """

    def __init__(self, roots: str | os.PathLike | Sequence[str | os.PathLike],
                 transform: Callable | None = None, check: bool = True) -> None:
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        paths: list[Path] = []
        for r in roots:
            paths += list_images(r)
        if check:
            paths, self.bad = find_bad_images(paths)
        else:
            self.bad = []
        if not paths:
            raise UserInputError(f"no readable images found in {', '.join(map(str, roots))}")
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = load_rgb(self.paths[i])
        return self.transform(img) if self.transform else img
