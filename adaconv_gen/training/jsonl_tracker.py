"""The built-in ``accelerate`` tracker of every recipe: scalars appended to ``O/logs/metrics.jsonl``.

Needs no extra package, so training scalars are kept even where TensorBoard / W&B are not
installed. One JSON object per line, ``{"step": ..., "time": ..., **values}``. On a resume the
entries after the resumed step are dropped (:func:`drop_entries_after`), so each step appears
once; external trackers cannot drop entries.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from accelerate.tracking import GeneralTracker

from ..files import atomic_write

__all__ = ["JsonlTracker", "METRICS_NAME", "drop_entries_after", "read_metrics"]

METRICS_NAME = "metrics.jsonl"


class JsonlTracker(GeneralTracker):
    """Append one JSON line per ``log`` call to ``logging_dir/metrics.jsonl``.

    Args:
        logging_dir: the run's ``logs/`` folder.
    """

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, logging_dir: str | os.PathLike) -> None:
        super().__init__()
        self.dir = Path(logging_dir)
        self.path = self.dir / METRICS_NAME

    def start(self) -> None:
        """Create the folder."""
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def tracker(self) -> Path:
        """The file scalars go to."""
        return self.path

    def store_init_configuration(self, values: dict) -> None:
        """Nothing: the run's flags are in ``O/config.json``."""

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        """Append one line (only scalars are kept)."""
        row = {"step": step, "time": round(time.time(), 3)}
        for k, v in values.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, (int, float, str, bool)) or v is None:
                row[k] = v
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``metrics.jsonl`` file (an unfinished last line is ignored)."""
    rows = []
    p = Path(path)
    if not p.is_file():
        return rows
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def drop_entries_after(path: str | os.PathLike, step: int) -> int:
    """Rewrite ``metrics.jsonl`` without the rows logged after ``step``; returns how many went."""
    p = Path(path)
    if not p.is_file():
        return 0
    rows = read_metrics(p)
    keep = [r for r in rows if r.get("step") is None or r["step"] <= step]
    dropped = len(rows) - len(keep)
    if dropped or len(rows) != len(p.read_text(encoding="utf-8").splitlines()):
        with atomic_write(p, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in keep)
    return dropped
