"""Atomic file writes: a temp file in the same folder, then ``os.replace`` (stylegan3's habit).

A reader never sees a half-written file, whatever moment a run is interrupted at. This module
imports nothing heavy, so every layer (models, metrics, training) can use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_save_json"]


def atomic_save_json(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
