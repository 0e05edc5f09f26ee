"""Networks built from :mod:`adaconv_gen.nn`: StarGAN v2 (+ FAN), style transfer (+ VGG), StyleGAN."""

from . import stargan_v2, style_transfer, stylegan, vgg

__all__ = ["stargan_v2", "style_transfer", "stylegan", "vgg"]
