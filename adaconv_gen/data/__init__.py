"""Image files and generated demo data."""

from .folder import ImageFolderDataset, default_transform
from .images import IMAGE_EXTENSIONS, find_bad_images, list_images, load_rgb, to_uint8_rgb

__all__ = ["ImageFolderDataset", "default_transform", "IMAGE_EXTENSIONS", "find_bad_images", "list_images", "load_rgb", "to_uint8_rgb"]
