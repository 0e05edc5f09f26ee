"""Multi-domain image folders for StarGAN v2 (Choi et al., CVPR 2020): ``root/<domain>/*``.

Domains are the sorted sub-folder names (label = index). Training draws class-balanced
batches (every domain equally likely, whatever its size) with the StarGAN v2 augmentation:
random-resized crop with probability 0.5 (scale 0.8-1.0, ratio 0.9-1.1), resize to the
training size, horizontal flip, normalise to [-1, 1]. Unreadable files are found once at
start-up and skipped with one warning naming them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2 as T

from ..errors import UserInputError
from .images import find_bad_images, list_images, load_rgb

__all__ = [
    "list_domains",
    "check_domains",
    "train_transform",
    "eval_transform",
    "DomainDataset",
    "ReferencePairDataset",
    "balanced_sampler",
    "domain_loader",
]


def list_domains(root: str | os.PathLike) -> list[str]:
    """Sorted names of the sub-folders of ``root`` (one per domain).

    Raises:
        UserInputError: ``root`` is not a folder or has no sub-folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"no such folder: {str(root)!r} (expected <root>/<domain>/<images>)")
    domains = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not domains:
        raise UserInputError(f"{str(root)!r} has no domain sub-folders (expected <root>/<domain>/<images>)")
    return domains


def check_domains(train_dir: str | os.PathLike, val_dir: str | os.PathLike | None = None) -> list[str]:
    """The domains of ``train_dir``; ``val_dir`` must hold the same ones.

    Raises:
        UserInputError: the two folders name different domains.
    """
    domains = list_domains(train_dir)
    if val_dir is not None:
        val = list_domains(val_dir)
        if val != domains:
            raise UserInputError(
                f"train and val domains differ: {str(train_dir)!r} has {domains}, "
                f"{str(val_dir)!r} has {val}")
    return domains


def train_transform(img_size: int, prob: float = 0.5) -> Callable:
    """StarGAN v2 training augmentation; PIL RGB -> float (3, img_size, img_size) in [-1, 1]."""
    crop = T.RandomResizedCrop(img_size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True)
    return T.Compose([
        T.PILToTensor(),
        T.RandomApply([crop], p=prob),
        T.Resize([img_size, img_size], antialias=True),
        T.RandomHorizontalFlip(),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize([0.5] * 3, [0.5] * 3),
    ])


def eval_transform(img_size: int) -> Callable:
    """Resize to ``img_size`` x ``img_size`` and normalise to [-1, 1] (no randomness)."""
    return T.Compose([T.PILToTensor(), T.Resize([img_size, img_size], antialias=True),
                      T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])


class DomainDataset(Dataset):
    """``(image, label)`` pairs from ``root/<domain>/*`` (images read recursively).

    Args:
        root: the split folder.
        transform: PIL -> tensor.
        domains: expected domain names (default: :func:`list_domains`).
        check: decode every file now and skip unreadable ones with a warning naming them.

    Raises:
        UserInputError: a domain folder without any readable image.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 domains: Sequence[str] | None = None, check: bool = True) -> None:
        self.root = Path(root)
        self.domains = list(domains) if domains is not None else list_domains(root)
        self.transform = transform
        paths: list[Path] = []
        labels: list[int] = []
        all_bad: list[Path] = []
        per_domain: list[list[Path]] = []
        for d in self.domains:
            folder = self.root / d
            if not folder.is_dir():
                raise UserInputError(f"domain folder missing: {str(folder)!r}")
            files = list_images(folder)
            if check:
                files, bad = find_bad_images(files, warn=False)
                all_bad += bad
            per_domain.append(files)
        if all_bad:
            import warnings

            shown = ", ".join(map(str, all_bad[:10])) + (" ..." if len(all_bad) > 10 else "")
            warnings.warn(f"skipping {len(all_bad)} unreadable image file(s): {shown}", stacklevel=2)
        for i, (d, files) in enumerate(zip(self.domains, per_domain)):
            if not files:
                raise UserInputError(f"domain {d!r} has no readable images in {str(self.root / d)!r}")
            paths += files
            labels += [i] * len(files)
        self.paths, self.labels, self.bad = paths, labels, all_bad
        self.per_domain = per_domain

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path) -> torch.Tensor:
        img = load_rgb(path)
        return self.transform(img) if self.transform else img

    def __getitem__(self, i: int):
        return self._load(self.paths[i]), self.labels[i]


class ReferencePairDataset(DomainDataset):
    """``(reference, second reference of the same domain, label)`` triples.

    The second reference of each image is drawn once, at construction (seeded), within its domain.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 domains: Sequence[str] | None = None, check: bool = True, seed: int = 0) -> None:
        super().__init__(root, transform, domains, check)
        self._pair(seed)

    def _pair(self, seed: int) -> None:
        rng = random.Random(seed)
        self.partners = []
        for files in self.per_domain:
            self.partners += rng.sample(files, len(files))

    @classmethod
    def from_dataset(cls, dataset: DomainDataset, seed: int = 0) -> ReferencePairDataset:
        """Pairs over the (already checked) files of ``dataset``, without reading them again."""
        new = cls.__new__(cls)
        new.__dict__.update(dataset.__dict__)
        new._pair(seed)
        return new

    def __getitem__(self, i: int):
        return self._load(self.paths[i]), self._load(self.partners[i]), self.labels[i]


def balanced_sampler(labels: Sequence[int], generator: torch.Generator | None = None,
                     num_samples: int | None = None) -> WeightedRandomSampler:
    """Sample with replacement so that every domain is equally likely (weights 1 / domain size)."""
    labels_t = torch.as_tensor(labels)
    weights = 1.0 / torch.bincount(labels_t)[labels_t].double()
    return WeightedRandomSampler(weights, num_samples or len(labels), replacement=True, generator=generator)


def domain_loader(dataset: Dataset, batch_size: int, *, balanced: bool = True, shuffle: bool = False,
                  num_workers: int = 0, seed: int | None = None, drop_last: bool = True) -> DataLoader:
    """A ``DataLoader`` over a domain dataset; class-balanced sampling for training."""
    g = None
    if seed is not None:
        g = torch.Generator().manual_seed(seed)
    if balanced:
        sampler = balanced_sampler(dataset.labels, g, max(len(dataset.labels), batch_size))
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                          drop_last=drop_last, persistent_workers=num_workers > 0)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                      num_workers=num_workers, drop_last=drop_last)
