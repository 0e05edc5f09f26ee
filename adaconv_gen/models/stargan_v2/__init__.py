"""StarGAN v2 (Choi et al., CVPR 2020) with AdaIN or AdaConv: the networks, FAN, and their files.

``networks`` builds the four networks as the official code lays them out; ``files`` reads the
official checkpoints and writes/reads our model folders; ``fan`` is the face-alignment network
the CelebA-HQ configuration uses for its masks.
"""

from .files import (
    config_from_official_file,
    from_pretrained,
    load_for_inference,
    load_official_checkpoint,
    save_pretrained,
)
from .networks import (
    NETWORK_NAMES,
    OFFICIAL_CONFIGS,
    AdainResBlk,
    Discriminator,
    Generator,
    HighPass,
    MappingNetwork,
    ResBlk,
    StarGANv2,
    StyleEncoder,
    build,
    copy_for_ema,
    he_init,
)

__all__ = [
    "ResBlk",
    "AdainResBlk",
    "HighPass",
    "Generator",
    "MappingNetwork",
    "StyleEncoder",
    "Discriminator",
    "StarGANv2",
    "build",
    "he_init",
    "load_official_checkpoint",
    "save_pretrained",
    "from_pretrained",
    "NETWORK_NAMES",
    "OFFICIAL_CONFIGS",
    "config_from_official_file",
    "load_for_inference",
    "copy_for_ema",
]
