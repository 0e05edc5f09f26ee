"""An ``accelerate`` tracker that appends scalars to ``<logging_dir>/<run>/metrics.jsonl``.

Needs no extra package, so training scalars are kept even where TensorBoard / W&B are not
installed; pass it in ``Accelerator(log_with=[JsonlTracker(...), ...])``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from accelerate.tracking import GeneralTracker

from ..files import atomic_save_json

__all__ = ["JsonlTracker"]


class JsonlTracker(GeneralTracker):
    """One JSON object per ``log`` call: ``{"step": ..., "time": ..., **values}``.

    Args:
        run_name: sub-folder name.
        logging_dir: parent folder.
    """

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, run_name: str, logging_dir: str | os.PathLike) -> None:
        super().__init__()
        self.dir = Path(logging_dir) / run_name
        self.path = self.dir / "metrics.jsonl"

    def start(self) -> None:
        """Create the folder."""
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def tracker(self) -> Path:
        """The file scalars go to."""
        return self.path

    def store_init_configuration(self, values: dict) -> None:
        """Write the run's hyperparameters to ``config.json`` beside the metrics."""
        atomic_save_json(values, self.dir / "config.json")

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        """Append one line (only scalars are kept)."""
        row = {"step": step, "time": round(time.time(), 3)}
        for k, v in values.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, (int, float, str, bool)) or v is None:
                row[k] = v
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
