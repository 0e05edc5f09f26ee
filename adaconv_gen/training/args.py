"""The flags every training recipe shares, the ``--config`` reader and the range checks.

Names follow the accelerate / diffusers / transformers training scripts (``--learning_rate``,
``--adam_beta1``, ``--dataloader_num_workers``, ``--overwrite_output_dir``, ...). A recipe adds
its own flags (model, losses, data) to the same parser. Everything here only reads: nothing is
written before :func:`parse_run_args` and the recipe's own checks have passed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import UserInputError

__all__ = [
    "add_run_args",
    "parse_run_args",
    "load_config_file",
    "require",
    "require_positive",
    "require_non_negative",
    "require_fraction",
    "require_existing",
    "tracker_config",
    "NOT_FLAGS",
    "default_num_workers",
]

# Namespace entries that are not flags (kept out of config.json's "flags" and out of comparisons).
NOT_FLAGS = frozenset({"argv", "config", "resume_iter"})

# The official StarGAN v2 spellings (github.com/clovaai/stargan-v2, main.py).
OFFICIAL_STARGAN_V2_ALIASES = {
    "learning_rate": ["--lr"],
    "adam_beta1": ["--beta1"],
    "adam_beta2": ["--beta2"],
    "adam_weight_decay": ["--weight_decay"],
    "dataloader_num_workers": ["--num_workers"],
    "max_train_steps": ["--total_iters"],
}

REPORT_TO = ("jsonl", "tensorboard", "wandb", "all", "none")


def default_num_workers() -> int:
    """min(4, the cores this process may use)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(4, cores)


def add_run_args(p: argparse.ArgumentParser, *, recipe: str, official_aliases: bool = False,
                 **defaults: Any) -> None:
    """Add the shared flags (output folder, optimiser, schedule, checkpoints, logging) to ``p``.

    Args:
        p: the recipe's parser.
        recipe: the recipe's name (``--demo`` writes to ``runs/<recipe>-demo``).
        official_aliases: also accept the official StarGAN v2 spellings (``--lr``, ``--beta1``,
            ``--total_iters``, ``--num_workers``, ``--resume_iter``, ...).
        **defaults: defaults of the recipe (e.g. ``learning_rate=1e-4``).
    """
    al = OFFICIAL_STARGAN_V2_ALIASES if official_aliases else {}
    d = {"learning_rate": 1e-4, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_weight_decay": 0.0,
         "batch_size": 8, "max_train_steps": 100_000, "seed": 0, "checkpointing_steps": 5000,
         "sample_steps": 1000, "log_steps": 10, **defaults}
    g = p.add_argument_group("run (the same in every recipe, docs/training.md)")
    a = g.add_argument

    def names(dest):
        return [f"--{dest}", *al.get(dest, [])]

    a("--config", default=None, help="YAML file of flag values (keys are flag names); command-line flags win.")
    a("--demo", action="store_true",
      help=f"Train on generated data with small CPU settings (output_dir default runs/{recipe}-demo).")
    a("--output_dir", default=None, help="The run folder (required, except with --demo).")
    a("--overwrite_output_dir", action="store_true",
      help="Replace the run already in --output_dir (its checkpoints, samples, logs and model).")
    a(*names("learning_rate"), dest="learning_rate", type=float, default=d["learning_rate"],
      help="Adam learning rate.")
    a(*names("adam_beta1"), dest="adam_beta1", type=float, default=d["adam_beta1"], help="Adam beta1.")
    a(*names("adam_beta2"), dest="adam_beta2", type=float, default=d["adam_beta2"], help="Adam beta2.")
    a(*names("adam_weight_decay"), dest="adam_weight_decay", type=float, default=d["adam_weight_decay"],
      help="Adam weight decay.")
    a("--batch_size", type=int, default=d["batch_size"],
      help="Images per process per micro-batch (the global batch is this x processes x accumulation).")
    a(*names("max_train_steps"), dest="max_train_steps", type=int, default=d["max_train_steps"],
      help="Optimisation steps in total (a resumed run continues up to this step).")
    a("--gradient_accumulation_steps", type=int, default=1, help="Micro-batches per optimisation step.")
    a(*names("dataloader_num_workers"), dest="dataloader_num_workers", type=int, default=default_num_workers(),
      help="DataLoader worker processes per training process.")
    a("--mixed_precision", choices=("no", "fp16", "bf16"), default=None,
      help="Override accelerate's mixed precision.")
    a("--seed", type=int, default=d["seed"], help="Random seed.")
    a("--checkpointing_steps", type=int, default=d["checkpointing_steps"],
      help="Save checkpoint-<step> every N steps (and at the last step).")
    a("--checkpoints_total_limit", type=int, default=None, help="Keep at most N checkpoints (oldest removed).")
    a("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint-<step> folder.")
    if official_aliases:
        a("--resume_iter", type=int, default=None,
          help="The official spelling: --resume_iter N is --resume_from_checkpoint OUTPUT_DIR/checkpoint-N.")
    a("--sample_steps", type=int, default=d["sample_steps"], help="Write sample grids every N steps.")
    a("--log_steps", "--logging_steps", dest="log_steps", type=int, default=d["log_steps"],
      help="Log scalars every N steps.")
    a("--report_to", default="jsonl",
      help="Where scalars go: jsonl (built in, OUTPUT_DIR/logs/metrics.jsonl), tensorboard, wandb, "
           "all, none; several separated by commas.")


# ----------------------------------------------------------------------------- --config

def _actions_by_key(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    keys = {}
    for action in p._actions:
        if not action.option_strings or action.dest == "help":
            continue
        keys[action.dest] = action
        for s in action.option_strings:
            keys[s.lstrip("-").replace("-", "_")] = action
    return keys


def _coerce(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    """One YAML value checked against the flag's type, choices and number of values."""
    def bad(expected):
        return UserInputError(f"--config {path!r}: {key} must be {expected}, got {value!r}")

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if value is None:
        return None
    many = action.nargs not in (None, "?")
    if many:
        if not isinstance(value, list):
            raise bad(f"a list ({action.nargs} values)")
        if isinstance(action.nargs, int) and len(value) != action.nargs:
            raise bad(f"a list of {action.nargs} values")
        items = value
    else:
        items = [value]
    out = []
    for v in items:
        if action.type is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad("an integer" if not many else "a list of integers")
        elif action.type is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad("a number" if not many else "a list of numbers")
            v = float(v)
        elif not isinstance(v, str):
            raise bad("a string" if not many else "a list of strings")
        if action.choices is not None and v not in action.choices:
            raise bad("one of " + ", ".join(map(str, action.choices)))
        out.append(v)
    return out if many else out[0]


def load_config_file(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Flag values from a YAML (or JSON) file, checked against ``parser``'s flags.

    Keys are flag names (underscores or hyphens, aliases accepted).

    Raises:
        UserInputError: unreadable file, not a mapping, an unknown key or a wrong type (named).
    """
    import yaml

    if not Path(path).is_file():
        raise UserInputError(f"--config must be a YAML file, got {path!r} (no such file)")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserInputError(f"--config {path!r}: cannot read it: {e}") from None
    if not isinstance(values, dict):
        raise UserInputError(f"--config {path!r}: expected a mapping of flag names to values")
    actions = _actions_by_key(parser)
    out = {}
    for key, value in values.items():
        k = str(key).replace("-", "_")
        action = actions.get(k)
        if action is None or action.dest == "config":
            raise UserInputError(f"--config {path!r}: unknown key {key!r} (not a flag of this recipe)")
        out[action.dest] = _coerce(action, str(key), value, path)
    return out


# ----------------------------------------------------------------------------- parsing

def parse_run_args(p: argparse.ArgumentParser, argv: list[str], *, recipe: str,
                   demo: dict[str, Any] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (underscore spellings) with defaults < ``--demo`` values < ``--config`` < flags.

    Then check every shared flag (:func:`check_run_args`). ``args.argv`` keeps the command line.

    Raises:
        UserInputError: a refused value (one line naming the flag).
    """
    pre_argv = [a for a in argv if a not in ("-h", "--help")]
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", default=None)
    pre.add_argument("--demo", action="store_true")
    known, _ = pre.parse_known_args(pre_argv)
    file_values = load_config_file(known.config, p) if known.config else {}
    if known.demo or file_values.get("demo"):
        p.set_defaults(**(demo or {}), output_dir=f"runs/{recipe}-demo")
    p.set_defaults(**file_values)
    args = p.parse_args(argv)
    args.argv = list(argv)
    if getattr(args, "resume_iter", None) is not None:
        if args.resume_iter < 0:
            raise UserInputError(f"--resume_iter must be >= 0, got {args.resume_iter}")
        if args.resume_iter > 0 and args.output_dir:
            args.resume_from_checkpoint = str(Path(args.output_dir) / f"checkpoint-{args.resume_iter}")
    check_run_args(args)
    return args


def require(args: argparse.Namespace, name: str, ok, what: str) -> None:
    """Refuse ``--name`` unless ``ok(value)`` (None is left alone): ``--name must be <what>, got X``."""
    value = getattr(args, name)
    if value is None:
        return
    values = value if isinstance(value, (list, tuple)) else [value]
    if not all(ok(v) for v in values):
        shown = " ".join(map(str, values)) if isinstance(value, (list, tuple)) else value
        raise UserInputError(f"--{name} must be {what}, got {shown}")


def require_positive(args: argparse.Namespace, *names: str) -> None:
    """Each flag > 0."""
    for n in names:
        require(args, n, lambda v: v > 0, "positive")


def require_non_negative(args: argparse.Namespace, *names: str) -> None:
    """Each flag >= 0."""
    for n in names:
        require(args, n, lambda v: v >= 0, ">= 0")


def require_fraction(args: argparse.Namespace, *names: str, low_open: bool = False,
                     high_open: bool = True) -> None:
    """Each flag in [0, 1) (or (0, 1), [0, 1] with the switches)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    for n in names:
        require(args, n, lambda v: (v > 0 if low_open else v >= 0) and (v < 1 if high_open else v <= 1),
                f"in {lo}0, 1{hi}")


def require_existing(args: argparse.Namespace, name: str, kind: str = "folder") -> None:
    """``--name`` must be an existing folder (``kind="folder"``) or file (``kind="file"``)."""
    value = getattr(args, name)
    if value is None:
        return
    p = Path(value)
    ok = p.is_dir() if kind == "folder" else p.is_file()
    if not ok:
        raise UserInputError(f"--{name} must be an existing {kind}, got {value!r}"
                             + ("" if p.exists() else " (no such file or folder)"))


def check_run_args(args: argparse.Namespace) -> None:
    """Range checks of the shared flags (before anything is written).

    Raises:
        UserInputError: the first refused flag.
    """
    if not args.output_dir:
        raise UserInputError("--output_dir is required (or --demo)")
    require_positive(args, "batch_size", "max_train_steps", "gradient_accumulation_steps",
                     "checkpointing_steps", "checkpoints_total_limit", "sample_steps", "log_steps")
    require(args, "learning_rate", lambda v: v > 0, "> 0")
    require_fraction(args, "adam_beta1", "adam_beta2")
    require_non_negative(args, "adam_weight_decay", "dataloader_num_workers")
    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--output_dir must be a folder, got {args.output_dir!r} (a file)")
    if args.overwrite_output_dir and args.resume_from_checkpoint:
        raise UserInputError("--overwrite_output_dir and --resume_from_checkpoint contradict each other: "
                             "pass one of them")
    check_report_to(args.report_to)


def report_to_names(report_to: str) -> list[str]:
    """``--report_to`` as a list of tracker names (``all``: jsonl and every installed one)."""
    names = [n.strip() for n in str(report_to).split(",") if n.strip()]
    if "all" in names:
        import importlib.util

        return ["jsonl"] + [n for n in ("tensorboard", "wandb")
                            if importlib.util.find_spec(n) is not None
                            or (n == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None)]
    return [n for n in names if n != "none"]


def check_report_to(report_to: str) -> None:
    """Refuse an unknown tracker, or one whose package is not installed (one line each)."""
    import importlib.util

    names = [n.strip() for n in str(report_to).split(",") if n.strip()]
    for n in names:
        if n not in REPORT_TO:
            raise UserInputError(f"--report_to must be one of {', '.join(REPORT_TO)} (comma-separated), got {n!r}")
    if "none" in names and len(names) > 1:
        raise UserInputError(f"--report_to none cannot be combined with other trackers, got {report_to!r}")
    if "tensorboard" in names and importlib.util.find_spec("tensorboard") is None \
            and importlib.util.find_spec("tensorboardX") is None:
        raise UserInputError("--report_to tensorboard needs the tensorboard package: pip install tensorboard")
    if "wandb" in names and importlib.util.find_spec("wandb") is None:
        raise UserInputError("--report_to wandb needs the wandb package: pip install wandb")


def tracker_config(args: argparse.Namespace) -> dict:
    """The flags as a flat dict trackers accept (non-scalar values as strings)."""
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
            for k, v in vars(args).items() if k not in NOT_FLAGS}
