"""Atomic, resumable ``checkpoint-{step}`` folders on top of ``accelerate``'s ``save_state``.

``save_state`` is not atomic and accelerate's automatic naming does not survive a resume, so
we write ``checkpoint-{step}.tmp``, rename it when complete (``os.replace``), rotate old
folders ourselves, and let ``latest`` see only complete folders.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..files import apply_file_modes, atomic_write

__all__ = [
    "TrainState",
    "save_checkpoint",
    "find_latest_checkpoint",
    "resolve_resume_checkpoint",
    "resume_from_checkpoint",
    "checkpoint_step",
]

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
_COMPLETE = "COMPLETE"


class TrainState:
    """Scalar training state (step and friends) that ``register_for_checkpointing`` can hold."""

    def __init__(self, **values: Any) -> None:
        self.__dict__["_values"] = {"step": 0, **values}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def state_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._values.update(state)

    def __repr__(self) -> str:
        return f"TrainState({self._values})"


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step encoded in a ``checkpoint-{step}`` folder name."""
    m = _CKPT_RE.match(Path(path).name)
    if not m:
        raise UserInputError(f"not a checkpoint folder (expected checkpoint-<step>): {str(path)!r}")
    return int(m.group(1))


def _complete_checkpoints(output_dir: Path) -> list[Path]:
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir()
             if p.is_dir() and _CKPT_RE.match(p.name) and (p / _COMPLETE).is_file()]
    return sorted(found, key=checkpoint_step)


def save_checkpoint(accelerator, output_dir: str | os.PathLike, step: int,
                    total_limit: int | None = None,
                    extra: Callable[[Path], None] | None = None) -> Path:
    """``accelerator.save_state`` into ``output_dir/checkpoint-{step}`` atomically.

    Call on every process. The main process creates ``checkpoint-{step}.tmp``; all processes
    wait, all write their part (each rank its random states), all wait again; then the main
    process runs ``extra(tmp)`` (files of its own, e.g. an exported EMA), marks the folder
    complete, gives every file the umask's mode (safetensors writes 0600) and renames it.
    Keeps at most ``total_limit`` complete checkpoints (oldest removed).

    Returns:
        The final checkpoint folder.
    """
    output_dir = Path(output_dir)
    final = output_dir / f"checkpoint-{step}"
    tmp = output_dir / f"checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if extra is not None:
            extra(tmp)
        with atomic_write(tmp / _COMPLETE) as f:
            f.write(f"{step}\n")
        apply_file_modes(tmp)
        if final.exists():  # re-saving the same step (e.g. the final save): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        if total_limit is not None and total_limit > 0:
            for old in _complete_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def find_latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The complete ``checkpoint-{step}`` with the highest step, or None (partial ones skipped)."""
    found = _complete_checkpoints(Path(output_dir))
    return found[-1] if found else None


def resolve_resume_checkpoint(output_dir: str | os.PathLike, resume: str | None) -> Path | None:
    """Turn ``--resume_from_checkpoint {path|latest}`` into a folder (None: start fresh).

    ``latest`` with no checkpoint yet returns None; an explicit path (absolute, relative to the
    working folder, or a ``checkpoint-<step>`` name inside ``output_dir``) must be a complete
    checkpoint folder.

    Raises:
        UserInputError: an explicit path that is not a complete checkpoint.
    """
    if not resume:
        return None
    if resume == "latest":
        return find_latest_checkpoint(output_dir)
    p = Path(resume)
    if not p.is_dir():
        p2 = Path(output_dir) / resume
        p = p2 if p2.is_dir() else p
    if not p.is_dir() or not (p / _COMPLETE).is_file():
        raise UserInputError(
            f"--resume_from_checkpoint {resume!r}: not a complete checkpoint folder "
            "(use 'latest' or a complete checkpoint-<step> folder written by this recipe)"
        )
    return p


def resume_from_checkpoint(accelerator, output_dir: str | os.PathLike, resume: str | None) -> Path | None:
    """Resolve ``--resume_from_checkpoint`` and ``accelerator.load_state`` it; returns the folder
    (None: a fresh start). Everything registered for checkpointing, step included, is restored."""
    folder = resolve_resume_checkpoint(output_dir, resume)
    if folder is not None:
        accelerator.print(f"resuming from {folder}")
        accelerator.load_state(str(folder))
    return folder
