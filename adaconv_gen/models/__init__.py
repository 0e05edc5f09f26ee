"""Networks built from :mod:`adaconv_gen.nn`: StarGAN v2 (+ FAN), style transfer (+ VGG), StyleGAN;
``hub`` is the model-folder format they share (Hugging Face Hub, model cards, Hub ids)."""

from . import hub, stargan_v2, style_transfer, stylegan, vgg

__all__ = ["hub", "stargan_v2", "style_transfer", "stylegan", "vgg"]
