"""Evaluation metrics: FID / FD-DINOv2 / KID (exact, fast, offline, distributed) and LPIPS."""

from .features import FeatureExtractor, build_extractor, register_features
from .fid import compute_statistics, fid_from_sources, fid_report
from .frechet import frechet_distance
from .kid import kid_score
from .lpips import LPIPS, lpips_diversity
from .presets import PRESETS
from .stats import load_statistics, save_statistics

__all__ = [
    "frechet_distance",
    "compute_statistics",
    "fid_from_sources",
    "fid_report",
    "kid_score",
    "save_statistics",
    "load_statistics",
    "LPIPS",
    "lpips_diversity",
    "FeatureExtractor",
    "build_extractor",
    "register_features",
    "PRESETS",
]
