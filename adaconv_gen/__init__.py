"""adaconv-gen: Adaptive Convolutions (Chandran et al., CVPR 2021) as a drop-in for AdaIN.

The front door::

    from adaconv_gen import AdaConv, replace_adain, verify_conversion
"""

from .errors import ConversionError, UserInputError, WeightsNotFoundError
from .nn import (
    AdaConv,
    AdaConv2d,
    AdaIN,
    AdaINPattern,
    AdaINSpec,
    KernelPredictor,
    create_modulation,
    default_groups,
    find_adain,
    register_adain_pattern,
    replace_adain,
    verify_conversion,
)
from .nn.functional import adaptive_conv2d

__version__ = "0.1.0"  # the one place the version lives (pyproject reads it)

__all__ = [
    "AdaConv",
    "AdaConv2d",
    "AdaIN",
    "AdaINPattern",
    "AdaINSpec",
    "KernelPredictor",
    "adaptive_conv2d",
    "create_modulation",
    "default_groups",
    "find_adain",
    "register_adain_pattern",
    "replace_adain",
    "verify_conversion",
    "ConversionError",
    "UserInputError",
    "WeightsNotFoundError",
]
