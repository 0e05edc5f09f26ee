"""What the recipes train with: the run contract (flags, run folder, signals, logs), checkpoints,
EMA, and each family's losses and phases."""

from .args import add_run_args, parse_run_args, tracker_config
from .checkpoint import (
    TrainState,
    find_latest_checkpoint,
    resolve_resume_checkpoint,
    resume_from_checkpoint,
    save_checkpoint,
)
from .ema import update_ema
from .run import Run

__all__ = [
    "add_run_args",
    "parse_run_args",
    "Run",
    "TrainState",
    "find_latest_checkpoint",
    "resolve_resume_checkpoint",
    "resume_from_checkpoint",
    "tracker_config",
    "save_checkpoint",
    "update_ema",
]
