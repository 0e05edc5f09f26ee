"""Our own model format: ``config.json`` + ``model.safetensors`` in one folder, written atomically.

Every network family (StarGAN v2, style transfer, StyleGAN) saves and loads through these two
functions, so the file names, the atomic writes and the error messages are the same everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor

from ..errors import UserInputError
from ..files import atomic_path, atomic_save_json

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "write_pretrained", "read_pretrained", "read_pretrained_config",
           "read_pretrained_weights"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def write_pretrained(directory: str | os.PathLike, config: dict, tensors: dict[str, Tensor],
                     metadata: dict[str, str] | None = None) -> Path:
    """Write ``directory/model.safetensors`` then ``directory/config.json``, each atomically.

    Returns:
        The folder.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt", "library": "adaconv-gen", **(metadata or {})})
    atomic_save_json(config, directory / CONFIG_NAME)
    return directory


def read_pretrained_config(directory: str | os.PathLike, what: str) -> dict:
    """``config.json`` of a folder written by :func:`write_pretrained` (both files must exist).

    Raises:
        UserInputError: a missing or unreadable file, named in the message.
    """
    directory = Path(directory)
    cfg_path, w_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise UserInputError(f"{str(directory)!r} is not a saved {what}: {p.name} missing "
                                 f"(expected {CONFIG_NAME} + {WEIGHTS_NAME} written by save_pretrained)")
    try:
        return json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise UserInputError(f"cannot read {str(cfg_path)!r}: {e}") from None


def read_pretrained_weights(directory: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """``model.safetensors`` of a folder written by :func:`write_pretrained`.

    Raises:
        UserInputError: a missing, truncated or corrupt file, named in the message.
    """
    w_path = Path(directory) / WEIGHTS_NAME
    try:
        from safetensors.torch import load_file

        return load_file(str(w_path), device=str(device))
    except Exception as e:  # missing, truncated or not a safetensors file
        raise UserInputError(f"cannot read weights {str(w_path)!r}: {e}") from None


def read_pretrained(directory: str | os.PathLike, what: str,
                    device: str | torch.device = "cpu") -> tuple[dict, dict[str, Tensor]]:
    """``(config, tensors)`` of a folder written by :func:`write_pretrained`.

    Args:
        directory: the folder.
        what: what the folder should hold, for error messages (e.g. "StarGAN v2 model").
        device: where to load the tensors.

    Raises:
        UserInputError: a missing, unreadable or corrupt file, named in the message.
    """
    return read_pretrained_config(directory, what), read_pretrained_weights(directory, device)
