"""The one way the library writes files: atomically, and readable as the umask says.

Every file (checkpoints, models, statistics, images, JSON) goes through a temporary file in
the same folder and ``os.replace`` (stylegan3's habit), so a reader never sees a half-written
file, whatever moment a run is interrupted at. Files get the mode a plain ``open()`` would
give them (0644 under the usual umask 022): ``tempfile.mkstemp`` and safetensors create 0600
files, so the mode is set explicitly before the rename. This module imports nothing heavy, so
every layer can use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path",
    "atomic_write",
    "atomic_save_json",
    "atomic_folder",
    "file_mode",
    "apply_file_modes",
]


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the process umask (0o644 under 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a third-party writer, then publish it.

    On a clean exit the temporary file gets the umask's mode and replaces ``path``; on an
    exception it is removed and ``path`` is untouched.

    Args:
        path: the final file.
        suffix: the temporary file's suffix (default: ``path``'s own, so writers that look at
            the extension, e.g. PIL or ``np.savez``, behave as for the final name).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=path.suffix if suffix is None else suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that publishes the file only when the block completes."""
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f


def atomic_save_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def apply_file_modes(folder: str | os.PathLike) -> None:
    """Give every file and folder under ``folder`` the umask's mode.

    For folders filled by writers that create private files (accelerate's ``save_state``
    through safetensors writes 0600).
    """
    fmode, dmode = file_mode(), _dir_mode()
    root = Path(folder)
    os.chmod(root, dmode)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), dmode)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), fmode)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    A reader sees the old folder or the new one, never a mix. The old folder, if any, is
    removed after the swap.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old = None
    try:
        yield tmp
        apply_file_modes(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
