"""Command-line flags every training recipe shares (names as in the accelerate / diffusers examples)."""

from __future__ import annotations

import argparse

__all__ = ["add_bookkeeping_args", "tracker_config"]


def add_bookkeeping_args(p: argparse.ArgumentParser | argparse._ArgumentGroup, *, seed: int = 0,
                         checkpointing_steps: int = 5000, sample_steps: int = 1000,
                         report_to: str = "jsonl") -> None:
    """Add precision, seed, checkpoint, resume, sampling, logging and tracker flags.

    Args:
        p: a parser or argument group.
        seed: default ``--seed``.
        checkpointing_steps: default ``--checkpointing_steps``.
        sample_steps: default ``--sample_steps``.
        report_to: default ``--report_to``.
    """
    p.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None,
                   help="Override accelerate's mixed precision.")
    p.add_argument("--seed", type=int, default=seed, help="Random seed.")
    p.add_argument("--checkpointing_steps", type=int, default=checkpointing_steps,
                   help="Save checkpoint-{step} every N steps.")
    p.add_argument("--checkpoints_total_limit", type=int, default=None, help="Keep at most N checkpoints.")
    p.add_argument("--resume_from_checkpoint", type=str, default=None,
                   help="'latest' or a checkpoint-<step> folder.")
    p.add_argument("--sample_steps", type=int, default=sample_steps, help="Write sample grids every N steps.")
    p.add_argument("--log_steps", "--logging_steps", dest="log_steps", type=int, default=10,
                   help="Log scalars every N steps.")
    p.add_argument("--report_to", type=str, default=report_to,
                   help="'jsonl' (built in), 'none', or an accelerate tracker name ('tensorboard', 'wandb', 'all').")


def tracker_config(args: argparse.Namespace) -> dict:
    """The flags as a flat dict trackers accept (non-scalar values as strings)."""
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in vars(args).items()}
