"""Feature extractors (a small registry) and batched, sharded feature extraction.

A *feature family* (``"inception"``, ``"dinov2"``) names a network; a *preset*
(:mod:`adaconv_gen.metrics.presets`) fixes the preprocessing and, for Inception, which of the
published networks is used. Adding a backbone is one :func:`register_features` call plus a
preset.

Extraction reads a folder, a list of files, a tensor, or an iterator of generated batches;
decodes images in DataLoader workers (images of different sizes may share a folder); runs the
network under ``torch.inference_mode`` with TF32 off; and accumulates float64 statistics.
With an ``accelerate.Accelerator`` of N processes, each process extracts 1/N of a dataset and
the features are gathered with ``gather_for_metrics``, so every image counts exactly once
(Heusel et al., 2017 define FID on all images, none twice).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..data.images import load_rgb
from ..errors import BadImageError, UserInputError
from ..weights import sha256sum
from .presets import PRESETS, Preset, get_preset, tensor_to_pil
from .stats import RunningStatistics

__all__ = ["FeatureFamily", "FEATURES", "register_features", "FeatureExtractor",
           "build_extractor", "extract", "ExtractionResult"]


@dataclass(frozen=True)
class FeatureFamily:
    """A feature network the metrics can use.

    Attributes:
        name: ``--features`` value.
        default_preset: the preset used when none is given.
        builders: network name (``Preset.network``) -> ``build(weights, **options)`` returning
            ``(module mapping prepared batches to (B, d), weights path)``.
        metric_name: what the Frechet distance on these features is called.
    """

    name: str
    default_preset: str
    builders: dict[str, Callable[..., tuple[nn.Module, str]]]
    metric_name: str = "FD"

    @property
    def presets(self) -> list[str]:
        return [p.name for p in PRESETS.values() if p.features == self.name]


FEATURES: dict[str, FeatureFamily] = {}


def register_features(family: FeatureFamily) -> FeatureFamily:
    """Add a feature family; returns it."""
    FEATURES[family.name] = family
    return family


def _fid_inception(weights=None, **kw):
    from .inception import load_fid_inception
    return load_fid_inception(weights, **kw)


def _tv_inception(weights=None, **kw):
    from .torchvision_inception import load_torchvision_inception
    return load_torchvision_inception(weights, **kw)


def _dinov2(weights=None, **kw):
    from .dinov2 import load_dinov2
    return load_dinov2(weights, **kw)


register_features(FeatureFamily("inception", "pytorch-fid",
                                {"fid-inception": _fid_inception, "tv-inception": _tv_inception},
                                metric_name="FID"))
register_features(FeatureFamily("dinov2", "dgm-eval", {"dinov2": _dinov2},
                                metric_name="FD-DINOv2"))


def resolve_preset(features: str, preset: str | None) -> tuple[FeatureFamily, Preset]:
    """Check a (features, preset) pair; ``preset=None`` means the family's default.

    Raises:
        UserInputError: unknown family or preset, or a preset of another family.
    """
    if features not in FEATURES:
        raise UserInputError(f"unknown features {features!r}; choose one of: {', '.join(FEATURES)}")
    fam = FEATURES[features]
    p = get_preset(preset or fam.default_preset)
    if p.features != fam.name:
        raise UserInputError(
            f"preset {p.name!r} is for {p.features!r} features, not {fam.name!r}; presets for "
            f"{fam.name!r}: {', '.join(fam.presets)}"
        )
    return fam, p


class FeatureExtractor(nn.Module):
    """A feature network together with the preset that feeds it.

    ``forward`` takes a batch as the preset's ``load`` (or a raw tensor source) produced it
    and returns ``(B, d)`` float32 features.

    Attributes:
        family: the :class:`FeatureFamily`.
        preset: the :class:`~adaconv_gen.metrics.presets.Preset`.
        network: the module.
        weights_path: the file the weights came from.
        dims: feature dimension.
    """

    def __init__(self, family: FeatureFamily, preset: Preset, network: nn.Module, weights_path: str):
        super().__init__()
        self.family, self.preset, self.network = family, preset, network
        self.weights_path = weights_path
        self.dims = int(network.dims)
        self._sha = None
        self._channels_last = False

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights file (computed once)."""
        if self._sha is None:
            self._sha = sha256sum(self.weights_path)
        return self._sha

    def describe(self) -> dict:
        """Metadata that labels every number computed with this extractor."""
        return {"features": self.family.name, "preset": self.preset.name,
                "metric": self.family.metric_name, "weights": os.path.basename(self.weights_path),
                "weights_sha256": self.weights_sha256}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.preset.prepare(x)
        if x.device.type == "cpu" and x.dim() == 4:
            # oneDNN's channels-last convolutions: about 1.45x faster on CPU for the Inception
            # forward (measured, benchmarks/fid.py), same features to float round-off
            if not self._channels_last:
                self.network.to(memory_format=torch.channels_last)
                self._channels_last = True
            x = x.contiguous(memory_format=torch.channels_last)
        return self.network(x).to(torch.float32)


def build_extractor(features: str = "inception", preset: str | None = None, weights=None, *,
                    device=None, flag: str | None = "--weights", **options) -> FeatureExtractor:
    """Build a :class:`FeatureExtractor` from its weights file.

    Args:
        features: feature family (``"inception"`` or ``"dinov2"``).
        preset: preprocessing preset; ``None`` = the family's default.
        weights: explicit weights file; otherwise the resolver's environment variable, weights
            folder, torch hub cache, download.
        device: where to put the network.
        flag: command-line flag named when the file is missing.
        **options: passed to the network builder (e.g. ``model_name`` for ``dinov2``).
    """
    fam, p = resolve_preset(features, preset)
    net, path = fam.builders[p.network](weights, flag=flag, **options)
    return FeatureExtractor(fam, p, net, path).to(device or "cpu")


# ------------------------------------------------------------------ datasets and batching

class _ImageDataset(Dataset):
    """Files or a tensor, each item -> (preset tensor or None, status, error message)."""

    def __init__(self, items, preset: Preset):
        self.items, self.preset = items, preset

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        if isinstance(self.items, torch.Tensor):
            if self.preset.direct_tensors:
                return item, 1, ""
            return self.preset.load(tensor_to_pil(item)), 1, ""
        try:
            return self.preset.load(load_rgb(item)), 1, ""
        except BadImageError as e:
            return None, 2, str(e)


@dataclass
class _Collate:
    preset: Preset

    def __call__(self, batch):
        good = [t for t, s, _ in batch if s == 1]
        status = torch.tensor([s for _, s, _ in batch], dtype=torch.long)
        errors = [e for _, s, e in batch if s != 1]
        if not good:
            return torch.empty(0), status, errors
        if len({tuple(t.shape) for t in good}) > 1 or {t.dtype for t in good} != {good[0].dtype}:
            if self.preset.unify is None:
                raise RuntimeError(f"preset {self.preset.name} produced unequal shapes")
            good = [self.preset.unify(t) for t in good]
        return torch.stack(good), status, errors


@contextlib.contextmanager
def _no_tf32():
    """FID features must not depend on the GPU's matmul precision: TF32 off while extracting."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@dataclass
class ExtractionResult:
    """What :func:`extract` returns.

    Attributes:
        mu, sigma: float64 statistics.
        num_images: images counted (each once, across processes).
        num_skipped: unreadable files skipped (``skip_bad_images``).
        features: all feature vectors (N, d) float32 when ``keep_features``, else None.
    """

    mu: np.ndarray
    sigma: np.ndarray
    num_images: int
    num_skipped: int = 0
    features: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)


def extract(source, extractor: FeatureExtractor, *, batch_size: int = 50, num_workers: int = 0,
            accelerator=None, progress: bool = True, skip_bad_images: bool = False,
            keep_features: bool = False, desc: str | None = None) -> ExtractionResult:
    """Run ``extractor`` over a source and accumulate float64 statistics.

    Args:
        source: a list of image paths, a ``(N, 3, H, W)`` tensor (uint8, or float in [0, 1]),
            or any other iterable of such batch tensors (generated images; with several
            processes each process yields its own, the same number of batches on each).
        extractor: from :func:`build_extractor`.
        batch_size: images per forward pass (does not change the result beyond round-off).
        num_workers: DataLoader worker processes decoding files.
        accelerator: an ``accelerate.Accelerator`` to shard over its processes; ``None`` runs
            in this process only.
        progress: show a tqdm bar (main process only).
        skip_bad_images: skip unreadable files with one warning instead of stopping.
        keep_features: also return all features (needed for KID).
        desc: progress-bar label.

    Raises:
        BadImageError: an unreadable file (named) and not ``skip_bad_images``.
        UserInputError: fewer than two images.
    """
    if batch_size < 1:
        raise UserInputError(f"--batch-size must be >= 1, got {batch_size}")
    device = next(extractor.parameters()).device
    stats, kept, n_skipped = RunningStatistics(), [], 0
    bad_names: list[str] = []
    is_main = accelerator is None or accelerator.is_local_main_process
    multi = accelerator is not None and accelerator.num_processes > 1

    if isinstance(source, (list, tuple)) or isinstance(source, torch.Tensor):
        items = source if isinstance(source, torch.Tensor) else [Path(p) for p in source]
        loader = DataLoader(_ImageDataset(items, extractor.preset), batch_size=batch_size,
                            shuffle=False, drop_last=False, num_workers=num_workers,
                            collate_fn=_Collate(extractor.preset),
                            pin_memory=device.type == "cuda")
        if accelerator is not None:
            loader = accelerator.prepare_data_loader(loader, device_placement=False)
        batches, total = loader, len(loader)
    elif isinstance(source, Iterable):
        batches, total = (_generated_batch(b, extractor.preset) for b in source), None
    else:
        raise UserInputError(f"cannot read images from a {type(source).__name__}")

    bar = tqdm(batches, total=total, desc=desc or extractor.family.metric_name, unit="batch",
               disable=not (progress and is_main), leave=False)
    with torch.inference_mode(), _no_tf32():
        for x, status, errors in bar:
            if errors and not skip_bad_images and not multi:
                raise BadImageError(errors[0] + " (pass --skip-bad-images to skip unreadable files)")
            status = status.to(device)
            feats = torch.zeros(len(status), extractor.dims, device=device)
            if x.numel():
                feats[status == 1] = extractor(x.to(device, non_blocking=True))
            bad_names += errors
            if accelerator is not None and total is not None:
                feats, status = accelerator.gather_for_metrics((feats, status))
            elif multi:
                feats, status = _gather_unequal(accelerator, feats, status)
            n_bad = int((status == 2).sum())
            if n_bad and not skip_bad_images:
                raise BadImageError(
                    (bad_names[0] if bad_names else "an image read by another process is unreadable")
                    + " (pass --skip-bad-images to skip unreadable files)"
                )
            n_skipped += n_bad
            good = feats[status == 1]
            stats.update(good)
            if keep_features:
                kept.append(good.cpu())
    if n_skipped and is_main:
        shown = ", ".join(bad_names[:5]) + (" ..." if len(bad_names) > 5 else "")
        warnings.warn(f"skipped {n_skipped} unreadable image file(s): {shown}", stacklevel=2)
    if stats.n < 2:
        raise UserInputError(f"need at least 2 readable images, found {stats.n}")
    if stats.n < extractor.dims and is_main:
        warnings.warn(
            f"only {stats.n} images for {extractor.dims}-d features: the covariance is "
            "rank-deficient and the distance is biased high; published numbers use 10k-50k images",
            RuntimeWarning, stacklevel=2,
        )
    mu, sigma = stats.finalize()
    feats_all = torch.cat(kept).numpy() if keep_features else None
    return ExtractionResult(mu, sigma, stats.n, n_skipped, feats_all, extractor.describe())


def _generated_batch(batch, preset: Preset):
    """A generated batch -> (tensor for the extractor, status, no errors)."""
    if not isinstance(batch, torch.Tensor) or batch.ndim != 4 or batch.shape[1] != 3:
        raise UserInputError("generated batches must be (B, 3, H, W) tensors, uint8 or float in [0, 1]")
    status = torch.ones(batch.shape[0], dtype=torch.long)
    if preset.direct_tensors:
        return batch, status, []
    return torch.stack([preset.load(tensor_to_pil(b)) for b in batch]), status, []


def _gather_unequal(accelerator, feats: torch.Tensor, status: torch.Tensor):
    """Gather per-process batches of different sizes (generated images: none duplicated)."""
    n = torch.tensor([feats.shape[0]], device=feats.device)
    counts = accelerator.gather(n).tolist()
    feats = accelerator.gather(accelerator.pad_across_processes(feats, dim=0))
    status = accelerator.gather(accelerator.pad_across_processes(status, dim=0))
    m = max(counts)
    keep = torch.cat([torch.arange(r * m, r * m + c) for r, c in enumerate(counts)]).to(feats.device)
    return feats[keep], status[keep]
