"""Training helpers shared by the recipes: checkpoints, EMA, step state, sample grids."""

from .args import add_bookkeeping_args, tracker_config
from .checkpoint import (
    TrainState,
    atomic_save_json,
    find_latest_checkpoint,
    resolve_resume_checkpoint,
    resume_from_checkpoint,
    save_checkpoint,
)
from .ema import update_ema
from .samples import save_image, save_image_grid

__all__ = [
    "add_bookkeeping_args",
    "TrainState",
    "atomic_save_json",
    "find_latest_checkpoint",
    "resolve_resume_checkpoint",
    "resume_from_checkpoint",
    "tracker_config",
    "save_checkpoint",
    "update_ema",
    "save_image_grid",
    "save_image",
]
