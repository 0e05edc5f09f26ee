"""Training helpers shared by the recipes: checkpoints, EMA, step state, sample grids."""

from .checkpoint import (
    TrainState,
    atomic_save_json,
    find_latest_checkpoint,
    resolve_resume_checkpoint,
    save_checkpoint,
)
from .ema import update_ema
from .samples import save_image_grid

__all__ = [
    "TrainState",
    "atomic_save_json",
    "find_latest_checkpoint",
    "resolve_resume_checkpoint",
    "save_checkpoint",
    "update_ema",
    "save_image_grid",
]
