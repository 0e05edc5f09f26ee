"""Layers: the AdaConv operator, kernel predictors, AdaIN, and the AdaIN -> AdaConv swap."""

from . import functional
from .adaconv import AdaConv, default_groups
from .adaconv2d import AdaConv2d
from .adain import AdaIN
from .kernel_predictor import KernelPredictor
from .modulation import MODULATIONS, create_modulation
from .swap import (
    AdaINPattern,
    AdaINSpec,
    adain_patterns,
    find_adain,
    register_adain_pattern,
    replace_adain,
    unregister_adain_pattern,
    verify_conversion,
)

__all__ = [
    "functional",
    "AdaConv",
    "AdaConv2d",
    "AdaIN",
    "KernelPredictor",
    "MODULATIONS",
    "create_modulation",
    "default_groups",
    "AdaINPattern",
    "AdaINSpec",
    "adain_patterns",
    "find_adain",
    "register_adain_pattern",
    "replace_adain",
    "unregister_adain_pattern",
    "verify_conversion",
]
