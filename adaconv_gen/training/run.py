"""One run per folder: what every recipe does around its own training loop (docs/training.md).

Layout of a run folder ``O``::

    O/config.json                     run id, flags, command line, processes; one entry per resume
    O/checkpoint-<step>/              accelerate state (all ranks), complete when renamed
    O/samples/step-<step:07d>-<what>.png
    O/logs/metrics.jsonl              scalars (the built-in jsonl tracker; others beside it)
    O/model/                          the exported model every tool's --model reads

:class:`Run` decides, before anything is written, whether the folder starts a run, continues
one (refusing a changed architecture) or replaces one, then creates the ``Accelerator``,
catches SIGINT / SIGTERM (:mod:`.signals`) and, once the recipe's data is ready, writes
``config.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..files import atomic_save_json
from .args import NOT_FLAGS, report_to_names, tracker_config
from .checkpoint import (
    checkpoint_step,
    find_latest_checkpoint,
    resolve_resume_checkpoint,
    save_checkpoint,
)
from .jsonl_tracker import METRICS_NAME, JsonlTracker, drop_entries_after
from .signals import SIGNAL_EXIT_CODES, StopSignal

__all__ = ["Run", "RunPlan", "plan_run", "run_flags", "CONFIG_NAME"]

CONFIG_NAME = "config.json"
# What a run owns in its folder (removed by --overwrite_output_dir); anything else is left alone.
_RUN_ENTRIES = (CONFIG_NAME, "samples", "logs", "model", "eval")
_CKPT_ANY = re.compile(r"^checkpoint-\d+(\.tmp)?$")
_SAMPLE_STEP = re.compile(r"^step-(\d+)-")


def run_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of a run as JSON values (tuples as lists, paths as strings)."""
    return json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in NOT_FLAGS}, default=str))


def _read_config(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _effective_flags(cfg: dict) -> dict:
    """The flags a stored run ran with last: its first flags updated by each resume's changes."""
    flags = dict(cfg.get("flags", cfg))  # a folder from before the contract: the flags at the top
    for r in cfg.get("resumes", []):
        flags.update({k: v["given"] for k, v in r.get("changed", {}).items()})
    return flags


def _holds_run(out: Path) -> bool:
    if not out.is_dir():
        return False
    return any((out / e).exists() for e in _RUN_ENTRIES) or any(_CKPT_ANY.match(p.name) for p in out.iterdir())


@dataclass
class RunPlan:
    """What :func:`plan_run` decided: ``mode`` is fresh, resume, overwrite or replace_demo."""

    mode: str
    step: int = 0
    checkpoint: Path | None = None
    stored: dict | None = None
    held_step: int = 0
    messages: list[str] = field(default_factory=list)


def _check_architecture(stored_flags: dict, args: argparse.Namespace, architecture: Sequence[str],
                        where: Path) -> None:
    given = run_flags(args)
    changed = [f"--{k} {_show(stored_flags[k])} (stored) vs {_show(given.get(k))} (given)"
               for k in architecture if k in stored_flags and stored_flags[k] != given.get(k)]
    if changed:
        raise UserInputError(f"cannot resume the run in {where} with a different architecture: "
                             + "; ".join(changed) + ". Keep the stored values or start a new --output_dir")


def _show(v: Any) -> str:
    return " ".join(map(str, v)) if isinstance(v, list) else str(v)


def plan_run(args: argparse.Namespace, architecture: Sequence[str] = (), recipe: str | None = None) -> RunPlan:
    """Decide what to do with ``--output_dir`` (reads only; every process can call it).

    Raises:
        UserInputError: a used folder without --resume_from_checkpoint / --overwrite_output_dir,
            a changed architecture flag on resume, ``--max_train_steps`` below the resumed step,
            a resume path that is not a complete checkpoint.
    """
    out = Path(args.output_dir)
    holds = _holds_run(out)
    stored = _read_config(out / CONFIG_NAME)
    latest = find_latest_checkpoint(out)
    held_step = checkpoint_step(latest) if latest is not None else 0
    if recipe and stored and stored.get("recipe", recipe) != recipe:
        raise UserInputError(f"{out} holds a run of recipes/{stored['recipe']}.py (step {held_step}), not of "
                             f"recipes/{recipe}.py: pass another --output_dir")
    if args.resume_from_checkpoint:
        ckpt = resolve_resume_checkpoint(out, args.resume_from_checkpoint)
        plan = RunPlan("resume" if holds else "fresh", stored=stored, held_step=held_step)
        if ckpt is None:
            plan.messages.append(f"no checkpoint in {out}: starting at step 0")
        else:
            plan.checkpoint, plan.step = ckpt, checkpoint_step(ckpt)
        ref, where = (stored, out) if holds else (None, out)
        if ckpt is not None and not holds:  # a checkpoint of another run: compare with that run
            ref, where = _read_config(ckpt.parent / CONFIG_NAME), ckpt.parent
        if ref:
            _check_architecture(_effective_flags(ref), args, architecture, where)
        if args.max_train_steps < plan.step:
            raise UserInputError(f"--max_train_steps must be >= the resumed step {plan.step}, "
                                 f"got {args.max_train_steps}")
        if ckpt is not None and holds and ckpt.parent.resolve() == out.resolve() and held_step > plan.step:
            # Continuing from an earlier checkpoint would leave the later ones beside the new
            # ones: two timelines in one folder, and 'latest' could pick the abandoned one.
            raise UserInputError(f"--resume_from_checkpoint {ckpt.name}: {out} holds later checkpoints "
                                 f"(up to checkpoint-{held_step}); remove them first to continue from "
                                 f"step {plan.step}, or resume from latest")
        return plan
    if not holds:
        return RunPlan("fresh")
    if args.overwrite_output_dir:
        return RunPlan("overwrite", stored=stored, held_step=held_step)
    if args.demo and stored and _effective_flags(stored).get("demo"):
        return RunPlan("replace_demo", stored=stored, held_step=held_step)
    raise UserInputError(f"{out} already holds a run (step {held_step}); pass --resume_from_checkpoint "
                         "latest to continue it or --overwrite_output_dir to replace it")


def _launched_without_accelerator() -> bool:
    """Several processes launched (torchrun, accelerate launch --multi_gpu) on a machine with no GPU:
    accelerate would make each one a separate single-process run unless told to use the CPU."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    acc = getattr(torch, "accelerator", None)
    has = acc.is_available() if acc is not None else torch.cuda.is_available()
    return not has


def _remove_run(out: Path) -> None:
    for p in out.iterdir():
        if p.name in _RUN_ENTRIES or _CKPT_ANY.match(p.name):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


class Run:
    """The run contract around a recipe's loop: folder, accelerator, signals, logs, export.

    Args:
        args: parsed by :func:`adaconv_gen.training.args.parse_run_args` and checked by the recipe.
        recipe: the recipe's name (tracker project name, ``config.json``).
        architecture: flags that fix the shapes of the weights; a resume refuses a change.
        **accelerator_kwargs: more ``Accelerator`` arguments (e.g. ``gradient_accumulation_steps``).

    Raises:
        UserInputError: see :func:`plan_run`.
    """

    def __init__(self, args: argparse.Namespace, recipe: str, *, architecture: Sequence[str] = (),
                 **accelerator_kwargs: Any) -> None:
        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        self.args, self.recipe = args, recipe
        self.out = Path(args.output_dir)
        self.plan = plan_run(args, architecture, recipe)
        if _launched_without_accelerator() and "cpu" not in accelerator_kwargs:
            accelerator_kwargs["cpu"] = True  # several CPU processes (gloo), not one process each
        trackers = [JsonlTracker(self.out / "logs") if n == "jsonl" else n for n in report_to_names(args.report_to)]
        self.accelerator = Accelerator(
            mixed_precision=args.mixed_precision, log_with=trackers or None,
            project_config=ProjectConfiguration(project_dir=str(self.out), logging_dir=str(self.out / "logs")),
            **accelerator_kwargs)
        self.accelerator.wait_for_everyone()  # every process has read the folder before anyone writes
        self.stop = StopSignal().install()
        self.signum = 0
        self.last_saved = None
        for m in self.plan.messages:
            self.accelerator.print(m)

    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process

    # ------------------------------------------------------------------------- start

    def start(self, **extra: Any) -> int:
        """Write (or extend) ``config.json``, drop log entries after the resumed step, start the
        trackers. Call once the data is ready, on every process; returns the step to start at
        (before :meth:`load_checkpoint` restores it).

        Args:
            **extra: more entries for a fresh ``config.json`` (e.g. what the data held).
        """
        acc, plan = self.accelerator, self.plan
        if acc.is_main_process:
            if plan.mode == "replace_demo":
                print(f"replacing the earlier demo run in {self.out} (step {plan.held_step})", flush=True)
                _remove_run(self.out)
            elif plan.mode == "overwrite":
                print(f"--overwrite_output_dir: removing the run in {self.out} (step {plan.held_step})", flush=True)
                _remove_run(self.out)
            self.out.mkdir(parents=True, exist_ok=True)
            now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            flags = run_flags(self.args)
            if plan.mode == "resume" and plan.stored is not None:
                cfg = dict(plan.stored)
                before = _effective_flags(cfg)
                changed = {k: {"stored": before.get(k), "given": v} for k, v in flags.items() if before.get(k) != v}
                cfg.setdefault("resumes", []).append(
                    {"time": now, "step": plan.step, "argv": self.args.argv,
                     "num_processes": acc.num_processes, "changed": changed})
                atomic_save_json(cfg, self.out / CONFIG_NAME)
                drop_entries_after(self.out / "logs" / METRICS_NAME, plan.step)
                for p in (self.out / "samples").glob("step-*.png"):
                    m = _SAMPLE_STEP.match(p.name)
                    if m and int(m.group(1)) > plan.step:
                        p.unlink()
            else:
                atomic_save_json({"run_id": uuid.uuid4().hex, "recipe": self.recipe, "created": now,
                                  "argv": self.args.argv, "num_processes": acc.num_processes,
                                  "flags": flags, **extra, "resumes": []}, self.out / CONFIG_NAME)
        acc.wait_for_everyone()
        acc.init_trackers(self.recipe, config=tracker_config(self.args))
        return plan.step

    def load_checkpoint(self) -> int:
        """``load_state`` the planned checkpoint (after ``prepare`` and ``register_for_checkpointing``);
        returns the step it holds (0: a fresh start)."""
        if self.plan.checkpoint is not None:
            self.accelerator.print(f"resuming from {self.plan.checkpoint} (step {self.plan.step})")
            self.accelerator.load_state(str(self.plan.checkpoint))
        return self.plan.step

    # ------------------------------------------------------------------------- the loop

    def due(self, step: int, every: int | None) -> bool:
        """Every ``every`` steps and at the last step (``every`` None: never)."""
        return every is not None and (step % every == 0 or step == self.args.max_train_steps)

    def log_due(self, step: int) -> bool:
        """Scalars are logged at step 1, every ``--log_steps`` and at the last step."""
        return step == 1 or self.due(step, self.args.log_steps)

    def log(self, values: dict, step: int) -> None:
        """``accelerator.log`` (the trackers keep the main process's values)."""
        self.accelerator.log(values, step=step)

    def sample_path(self, step: int, what: str) -> Path:
        """``O/samples/step-<step:07d>-<what>.png``."""
        return self.out / "samples" / f"step-{step:07d}-{what}.png"

    def checkpoint(self, step: int, extra: Callable[[Path], None] | None = None) -> Path:
        """``checkpoint-<step>`` (all processes); ``extra(folder)`` adds main-process files."""
        folder = save_checkpoint(self.accelerator, self.out, step, self.args.checkpoints_total_limit, extra)
        self.last_saved = step
        return folder

    def should_stop(self) -> bool:
        """True on every process once any process got SIGINT / SIGTERM (call after every step)."""
        self.signum = self.stop.agreed(self.accelerator)
        return bool(self.signum)

    def interrupted(self, step: int, extra: Callable[[Path], None] | None = None) -> int:
        """Save ``checkpoint-<step>``, say so, end; returns the exit status (130 / 143)."""
        if self.last_saved != step:
            self.checkpoint(step, extra)
        if self.accelerator.is_main_process:
            print(f"interrupted at step {step}: checkpoint-{step} saved; continue with "
                  "--resume_from_checkpoint latest", file=sys.stderr, flush=True)
        self._end()
        return SIGNAL_EXIT_CODES.get(self.signum, 128 + self.signum)

    def training_card(self, step: int, **extra: Any) -> dict[str, Any]:
        """How the run was trained, for the model card: the recipe, its command lines (the run's,
        then each resume's, from ``config.json``) and the step; ``extra`` keys are added."""
        cfg = _read_config(self.out / CONFIG_NAME) or {}
        argvs = [cfg.get("argv", self.args.argv)] + [r.get("argv", []) for r in cfg.get("resumes", [])]
        commands = [shlex.join([f"recipes/{self.recipe}.py", *a]) for a in argvs]
        return {"recipe": self.recipe, "command": commands, "step": step, **extra}

    def finish(self, step: int, model: Any, **card: Any) -> int:
        """Export ``model`` to ``O/model/`` (its ``save_pretrained``: atomic as a whole folder,
        with a model card saying how it was trained, ``card`` keys included) and end."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            model.save_pretrained(self.out / "model", training=self.training_card(step, **card))
            print(f"done: step {step}; model in {self.out / 'model'}, samples in {self.out / 'samples'}",
                  flush=True)
        self._end()
        return 0

    def _end(self) -> None:
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
