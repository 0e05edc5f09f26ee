"""Image files and generated demo data."""

from .images import IMAGE_EXTENSIONS, find_bad_images, list_images, load_rgb, to_uint8_rgb

__all__ = ["IMAGE_EXTENSIONS", "find_bad_images", "list_images", "load_rgb", "to_uint8_rgb"]
