"""Training helpers shared by the recipes: checkpoints, EMA, step state."""

from .args import add_bookkeeping_args, tracker_config
from .checkpoint import (
    TrainState,
    find_latest_checkpoint,
    resolve_resume_checkpoint,
    resume_from_checkpoint,
    save_checkpoint,
)
from .ema import update_ema

__all__ = [
    "add_bookkeeping_args",
    "TrainState",
    "find_latest_checkpoint",
    "resolve_resume_checkpoint",
    "resume_from_checkpoint",
    "tracker_config",
    "save_checkpoint",
    "update_ema",
]
