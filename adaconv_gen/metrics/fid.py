"""High-level FID / FD-DINOv2 / KID: statistics of a source, and the distance between two.

FID (Heusel et al., NeurIPS 2017) is the Frechet distance between Gaussians fitted to the
Inception features of two image sets; FD-DINOv2 (Stein et al., NeurIPS 2023) is the same
distance on DINOv2 ViT-L/14 features; KID (Binkowski et al., ICLR 2018) is an unbiased MMD
on the same features. A *source* is a folder, a list of files, an ``.npz`` of statistics, a
tensor ``(N, 3, H, W)`` (uint8, or float in [0, 1]) or an iterable of such batches.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserInputError
from .features import ExtractionResult, FeatureExtractor, build_extractor, extract, resolve_preset
from .frechet import frechet_distance
from .kid import kid_score
from .presets import list_preset_files
from .stats import folder_cache_key, load_statistics, save_statistics

__all__ = ["compute_statistics", "fid_from_sources", "fid_report", "statistics_of"]


def _default_device(accelerator):
    if accelerator is not None:
        return accelerator.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _is_npz(source) -> bool:
    return isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".npz")


class _Context:
    """The options shared by the two sources of one comparison; builds the network lazily."""

    def __init__(self, features="inception", preset=None, weights=None, batch_size=50,
                 num_workers=0, device=None, accelerator=None, progress=True,
                 skip_bad_images=False, recursive=None, cache_dir=None, flag="--weights",
                 **options):
        if isinstance(features, FeatureExtractor):
            self.extractor = features
            self.family, self.preset = features.family, features.preset
        else:
            self.extractor = None
            self.family, self.preset = resolve_preset(features, preset)
        self.weights, self.options, self.flag = weights, options, flag
        self.batch_size, self.num_workers = batch_size, num_workers
        self.device = torch.device(device) if device is not None else _default_device(accelerator)
        self.accelerator, self.progress = accelerator, progress
        self.skip_bad_images, self.recursive = skip_bad_images, recursive
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def get_extractor(self) -> FeatureExtractor:
        if self.extractor is None:
            self.extractor = build_extractor(self.family.name, self.preset.name, self.weights,
                                             device=self.device, flag=self.flag, **self.options)
        return self.extractor

    def check_npz_metadata(self, path, meta: dict) -> None:
        for key, want in (("features", self.family.name), ("preset", self.preset.name)):
            have = meta.get(key)
            if have is not None and str(have) != want:
                raise UserInputError(
                    f"{str(path)!r} holds statistics computed with {key} {have!r}, but {key} "
                    f"{want!r} was requested; pass {_FLAGS[key]} {have} (or recompute the file)"
                )


_FLAGS = {"features": "--features", "preset": "--fid-preset"}


def statistics_of(source, ctx: _Context, *, keep_features: bool = False,
                  desc: str | None = None) -> ExtractionResult:
    """The :class:`ExtractionResult` of one source under the options in ``ctx``."""
    if _is_npz(source):
        if keep_features:
            raise UserInputError(f"KID needs images, but {str(source)!r} holds only statistics")
        mu, sigma, meta = load_statistics(source, with_metadata=True)
        ctx.check_npz_metadata(source, meta)
        return ExtractionResult(mu, sigma, int(meta.get("num_images", -1)), 0, None,
                                {k: meta[k] for k in meta})
    root = None
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if not root.exists():
            raise UserInputError(f"no such file or folder: {str(root)!r}")
        files = list_preset_files(root, ctx.preset, ctx.recursive)
        if not files:
            rule = ("recursive, extensions png/jpg/jpeg/webp/bmp in any case"
                    if (ctx.recursive if ctx.recursive is not None else ctx.preset.recursive)
                    else "top level only, lower-case extensions as pytorch-fid")
            raise UserInputError(f"no images found in {str(root)!r} ({rule})")
        source = files
    elif isinstance(source, (list, tuple)):
        source = [Path(p) for p in source]
        if not source:
            raise UserInputError("the list of image files is empty")
    elif isinstance(source, torch.Tensor):
        if source.ndim != 4 or source.shape[1] != 3:
            raise UserInputError(f"an image tensor must be (N, 3, H, W), got {tuple(source.shape)}")
    elif isinstance(source, np.ndarray):
        raise UserInputError("pass images as a torch tensor (N, 3, H, W), not a numpy array")

    extractor = ctx.get_extractor()
    cache_file = None
    if ctx.cache_dir is not None and root is not None and not keep_features:
        key = folder_cache_key(source, root if root.is_dir() else None,
                               recursive=ctx.recursive, skip_bad_images=ctx.skip_bad_images,
                               **extractor.describe())
        cache_file = ctx.cache_dir / f"{extractor.family.name}-{extractor.preset.name}-{key[:24]}.npz"
        if cache_file.is_file():
            mu, sigma, meta = load_statistics(cache_file, with_metadata=True)
            return ExtractionResult(mu, sigma, int(meta["num_images"]), int(meta["num_skipped"]),
                                    None, extractor.describe())
    res = extract(source, extractor, batch_size=ctx.batch_size, num_workers=ctx.num_workers,
                  accelerator=ctx.accelerator, progress=ctx.progress,
                  skip_bad_images=ctx.skip_bad_images, keep_features=keep_features, desc=desc)
    if cache_file is not None and (ctx.accelerator is None or ctx.accelerator.is_main_process):
        save_statistics(cache_file, res.mu, res.sigma, num_images=res.num_images,
                        num_skipped=res.num_skipped, **extractor.describe())
    return res


def compute_statistics(source, *, features="inception", preset: str | None = None, weights=None,
                       batch_size: int = 50, num_workers: int = 0, device=None, accelerator=None,
                       progress: bool = True, skip_bad_images: bool = False,
                       recursive: bool | None = None, cache_dir=None, **options):
    """Mean and covariance of the features of a source.

    Args:
        source: a folder, a list of image files, an ``.npz`` (returned as stored), a tensor
            ``(N, 3, H, W)`` uint8 or float in [0, 1], or an iterable of such batches.
        features: ``"inception"`` (FID), ``"dinov2"`` (FD-DINOv2), or a built
            :class:`~adaconv_gen.metrics.features.FeatureExtractor`.
        preset: preprocessing protocol; ``None`` = ``"pytorch-fid"`` for Inception,
            ``"dgm-eval"`` for DINOv2 (see :mod:`adaconv_gen.metrics.presets`).
        weights: the selected network's weights file (else the resolver's search order).
        batch_size: images per forward pass.
        num_workers: DataLoader workers decoding images.
        device: torch device; default the accelerator's, else CUDA when available.
        accelerator: ``accelerate.Accelerator`` to shard the work over its processes.
        progress: tqdm bar on the main process.
        skip_bad_images: skip unreadable files (one warning with the count).
        recursive: folder rule; ``None`` = the preset's (pytorch-fid: top level,
            lower-case extensions; others: recursive, any case).
        cache_dir: opt-in cache of folder statistics, keyed by the files and the extractor.
        **options: network-builder options (``model_name=`` for ``dinov2``).

    Returns:
        ``(mu, sigma)``: float64 arrays (d,) and (d, d).
    """
    ctx = _Context(features, preset, weights, batch_size, num_workers, device, accelerator,
                   progress, skip_bad_images, recursive, cache_dir, **options)
    res = statistics_of(source, ctx)
    return res.mu, res.sigma


def fid_report(source_a, source_b, *, kid: bool = False, kid_subsets: int = 100,
               kid_subset_size: int = 1000, seed: int = 0, **kwargs) -> dict:
    """The distance between two sources with everything needed to label it.

    Args:
        source_a: first source (see :func:`compute_statistics`).
        source_b: second source.
        kid: also compute KID (both sources must be images, not ``.npz``).
        kid_subsets: KID subsets.
        kid_subset_size: KID subset size.
        seed: KID subset seed.
        **kwargs: the keyword arguments of :func:`compute_statistics`.

    Returns:
        A dict: ``value`` (the Frechet distance), ``metric`` ("FID" or "FD-DINOv2"),
        ``features``, ``preset``, ``weights``, ``weights_sha256``, ``num_images`` [a, b],
        ``num_skipped`` [a, b], and ``kid``/``kid_std`` when asked.
    """
    ctx = _Context(**kwargs)
    ra = statistics_of(source_a, ctx, keep_features=kid, desc="features A")
    rb = statistics_of(source_b, ctx, keep_features=kid, desc="features B")
    out = {
        "metric": ctx.family.metric_name,
        "value": frechet_distance(ra.mu, ra.sigma, rb.mu, rb.sigma),
        "features": ctx.family.name,
        "preset": ctx.preset.name,
        "num_images": [ra.num_images, rb.num_images],
        "num_skipped": [ra.num_skipped, rb.num_skipped],
    }
    if ctx.extractor is not None:
        out.update(weights=ctx.extractor.describe()["weights"],
                   weights_sha256=ctx.extractor.weights_sha256)
    else:  # both .npz: report what the files say
        out.update(weights=ra.metadata.get("weights") or rb.metadata.get("weights"),
                   weights_sha256=ra.metadata.get("weights_sha256") or rb.metadata.get("weights_sha256"))
    if kid:
        out["kid"], out["kid_std"] = kid_score(ra.features, rb.features, num_subsets=kid_subsets,
                                               subset_size=kid_subset_size, seed=seed,
                                               return_std=True)
    return out


def fid_from_sources(source_a, source_b, **kwargs) -> float:
    """FID (or FD-DINOv2 with ``features="dinov2"``) between two sources.

    Args:
        source_a: folder, file list, ``.npz``, tensor or iterable of batches.
        source_b: the same kinds.
        **kwargs: the keyword arguments of :func:`compute_statistics`.

    Returns:
        The distance as a float.
    """
    return fid_report(source_a, source_b, **kwargs)["value"]
