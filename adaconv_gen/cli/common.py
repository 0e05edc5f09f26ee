"""What the ``adaconv-*`` tools share: one vocabulary of flags and one error contract.

Every tool builds its parser with :func:`make_parser` and the ``add_*`` helpers here, so a flag
is spelled, documented and checked the same way everywhere (docs/index.md, "Conventions"):

* ``--model`` (:func:`add_model`, :func:`model_folder`, :func:`check_model_family`);
* ``--output-dir`` for a folder of images, ``--output`` for one file (:func:`add_output_dir`,
  :func:`output_dir`, :func:`output_file`, :func:`check_new_files`, ``--overwrite``);
* ``--fid-preset``, ``--<network>-weights``, ``--lpips/--no-lpips``;
* ``--device`` (:func:`add_device`, :func:`resolve_device`), ``--no-progress``
  (:func:`add_progress`, :func:`progress_bar`);
* warnings as one line ``warning: ...`` (:func:`warn`), errors as one line ``error: ...`` with
  exit status 2 and nothing written (:func:`run_cli`).

Nothing heavy is imported at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import UserInputError

__all__ = [
    "normalize_flags",
    "run_cli",
    "warn",
    "make_parser",
    "parse",
    "positive_int",
    "nonnegative_int",
    "add_model",
    "add_device",
    "add_progress",
    "add_output_dir",
    "add_overwrite",
    "add_fid_preset",
    "add_weights",
    "add_lpips",
    "add_skip_bad_images",
    "resolve_device",
    "progress_bar",
    "model_folder",
    "model_family",
    "check_model_family",
    "output_dir",
    "output_file",
    "check_new_files",
    "check_images",
    "FAMILIES",
    "MODEL_SUBFOLDERS",
    "WEIGHTS_FLAGS",
]


# ----------------------------------------------------------------------------- running a tool

def normalize_flags(argv: Sequence[str], *, prefer: str = "-") -> list[str]:
    """Accept both ``--batch-size`` and ``--batch_size``: rewrite long flags to ``prefer``.

    Args:
        argv: the raw argument list.
        prefer: the separator the parser declares (``"-"`` for tools, ``"_"`` for recipes).
    """
    other = "_" if prefer == "-" else "-"
    out = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            head, eq, tail = a.partition("=")
            a = "--" + head[2:].replace(other, prefer) + eq + tail
        out.append(a)
    return out


def warn(message: str) -> None:
    """Print a warning a user should read as one line on stderr: ``warning: <message>``."""
    print(f"warning: {message}", file=sys.stderr)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    warn(" ".join(str(message).split()))


def run_cli(main: Callable[[list[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main`` under the error contract.

    A :class:`~adaconv_gen.errors.UserInputError` prints ``error: <message>`` (one line) and
    returns 2; Python warnings raised meanwhile are printed as ``warning: <message>`` without a
    source path; Ctrl-C returns 130.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            code = main(None if argv is None else list(argv))
        except UserInputError as e:
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return int(code or 0)


# ----------------------------------------------------------------------------- the parser

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` once: not when the help already states it, nor for None/False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.required or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS):
            return text
        if isinstance(action, argparse.BooleanOptionalAction) and action.default is True:
            return text + " (default: on)"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``error: ...``, exit status 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def make_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser every tool starts from: first paragraph of ``doc`` as description, defaults
    printed once, one-line errors."""
    description = (doc or "").strip().split("\n\n")[0]
    return _Parser(prog=prog, description=description, formatter_class=_HelpFormatter)


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``), accepting underscore spellings too."""
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _int_at_least(text: str, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {v}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


# ----------------------------------------------------------------------------- shared flags

#: The one spelling of each weights flag and the registry name it points at.
WEIGHTS_FLAGS = {
    "inception": ("--inception-weights", "FID Inception-v3 file"),
    "dinov2": ("--dinov2-weights", "DINOv2 ViT-L/14 file (FD-DINOv2)"),
    "vgg": ("--vgg-weights", "VGG-19 file"),
    "lpips": ("--lpips-weights", "LPIPS v0.1 alex.pth file"),
    "alexnet": ("--alexnet-weights", "torchvision AlexNet file (LPIPS backbone)"),
    "wing": ("--wing-weights", "FAN wing.ckpt file (StarGAN v2 models with w_hpf > 0)"),
}


def add_model(p: argparse.ArgumentParser, what: str, *aliases: str, also: str = "") -> None:
    """``--model PATH`` (required, ``dest="model"``): ``what`` the tool reads, from a model folder
    (``also``: other accepted forms, e.g. ", or an official *_nets_ema.ckpt file")."""
    p.add_argument("--model", *aliases, dest="model", required=True, metavar="PATH",
                   help=f"{what}: a model folder (a run's O/model, or a save_pretrained folder){also}")


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device``: a torch device; default cuda if available, else cpu."""
    p.add_argument("--device", default=None,
                   help="torch device, e.g. cuda, cuda:1, cpu (default: cuda if available, else cpu)")


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: no progress bar on stderr."""
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def add_output_dir(p: argparse.ArgumentParser, what: str, *, required: bool = True,
                   deprecated_output: bool = False) -> None:
    """``--output-dir DIR`` (and, where ``--output`` meant this folder before, ``--output``
    kept with a deprecation warning, see :func:`output_dir`) plus ``--overwrite``."""
    if deprecated_output:
        g = p.add_mutually_exclusive_group(required=required)
        g.add_argument("--output-dir", default=None, metavar="DIR", help=what)
        g.add_argument("--output", dest="output_dir_deprecated", default=None, metavar="DIR",
                       help="deprecated spelling of --output-dir")
    else:
        p.add_argument("--output-dir", default=None, required=required, metavar="DIR", help=what)
    add_overwrite(p)


def add_overwrite(p: argparse.ArgumentParser) -> None:
    """``--overwrite``: allow replacing existing output files."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (refused otherwise)")


def add_fid_preset(p: argparse.ArgumentParser, *aliases: str, default: str | None = "pytorch-fid",
                   help: str | None = None) -> None:
    """``--fid-preset NAME``: the FID preprocessing protocol of :mod:`adaconv_gen.metrics`."""
    from ..metrics.presets import PRESETS

    p.add_argument("--fid-preset", *aliases, dest="fid_preset", default=default, choices=list(PRESETS),
                   help=help or "FID preprocessing protocol (see docs/fid.md)")


def add_weights(p: argparse.ArgumentParser, *networks: str) -> None:
    """``--<network>-weights FILE`` for each network: a file used instead of the resolver's
    search (never an on/off switch); ``dest`` is ``<network>_weights``."""
    for net in networks:
        flag, what = WEIGHTS_FLAGS[net]
        p.add_argument(flag, dest=f"{net}_weights", default=None, metavar="FILE",
                       help=f"{what} (default: the resolver: $ADACONV_*_WEIGHTS, $ADACONV_WEIGHTS_DIR, "
                            "the torch hub cache; see adaconv-weights)")


def add_lpips(p: argparse.ArgumentParser, default: bool = True) -> None:
    """``--lpips/--no-lpips``: compute LPIPS or not."""
    p.add_argument("--lpips", default=default, action=argparse.BooleanOptionalAction,
                   help="compute LPIPS (needs the LPIPS and AlexNet files)")


def add_skip_bad_images(p: argparse.ArgumentParser) -> None:
    """``--skip-bad-images``: leave out unreadable inputs (one warning) instead of stopping."""
    p.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable images (one warning with the count) instead of stopping")


# ----------------------------------------------------------------------------- device, progress

def resolve_device(value: str | None, flag: str = "--device"):
    """``torch.device`` of ``value``; None means cuda if available, else cpu.

    Raises:
        UserInputError: not a device name, or a CUDA device on a machine without one.
    """
    import torch

    if value is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise UserInputError(f"{flag} {value}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserInputError(f"{flag} {value}: no CUDA device on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserInputError(f"{flag} {value}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
                 enabled: bool = True, unit: str = "img"):
    """A tqdm bar on stderr (disabled with ``enabled=False``, i.e. ``--no-progress``)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, file=sys.stderr, unit=unit,
                dynamic_ncols=True, leave=False)


# ----------------------------------------------------------------------------- model folders

#: Model families by what their ``config.json`` holds: (name, what it is, test).
FAMILIES: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "stylegan": ("a StyleGAN generator (adaconv-stylegan-sample)",
                 lambda c: "stylegan" in str(c.get("architecture", "")).lower()
                 or ("n_mlp" in c and "num_domains" not in c)),
    "style-transfer": ("a style-transfer model (adaconv-stylize, adaconv-eval-style)",
                       lambda c: "model_type" in c),
    "stargan-v2": ("StarGAN v2 networks (adaconv-stargan-translate, adaconv-eval-stargan)",
                   lambda c: "num_domains" in c),
}


#: Subfolders where a family's model may sit inside the folder a user names: a run's exported
#: ``model/``, a checkpoint's EMA networks ``ema/``, the ``final/`` / ``generator/`` exports of
#: earlier runs.
MODEL_SUBFOLDERS: dict[str, tuple[str, ...]] = {
    "stylegan": ("model", "generator"),
    "style-transfer": ("model",),
    "stargan-v2": ("model", "ema", "final"),
}


def model_folder(value: str, flag: str = "--model") -> Path:
    """The folder a ``--model`` value names.

    An existing folder is returned as is; a Hub id ``user/name`` is resolved by
    :func:`adaconv_gen.models.hub.resolve_model_source` (offline: from the local Hugging Face
    cache); anything else is one error line naming both readings of the value.

    Raises:
        UserInputError: neither an existing folder nor a resolvable Hub id; or a file.
    """
    p = Path(value).expanduser()
    if p.exists() and not p.is_dir():
        raise UserInputError(f"{flag} {value}: is a file, not a model folder")
    from ..models.hub import resolve_model_source

    return resolve_model_source(value, flag)


def model_family(folder: str | Path) -> tuple[str | None, Path | None]:
    """``(family, config path)`` of a model folder (or of its ``model/`` subfolder, a run's
    export); family None when the config is of no known family, config None when absent."""
    folder = Path(folder)
    for d in (folder, folder / "model"):
        cfg_path = d / "config.json"
        if cfg_path.is_file():
            try:
                cfg = json.loads(cfg_path.read_text())
            except (OSError, ValueError):
                return None, cfg_path
            if not isinstance(cfg, dict):
                return None, cfg_path
            for name, (_, test) in FAMILIES.items():
                if test(cfg):
                    return name, cfg_path
            return None, cfg_path
    return None, None


def check_model_family(folder: str | Path, expected: str, flag: str = "--model", *,
                       subfolders: Sequence[str] | None = None) -> Path:
    """The folder holding the ``expected`` family's ``config.json`` (``folder`` itself or one of
    ``subfolders``, default :data:`MODEL_SUBFOLDERS` of the family, e.g. a run's ``model/``).

    Raises:
        UserInputError: no ``config.json`` there, or one of another family (what the folder
            holds and what the tool expected).
    """
    folder = Path(folder)
    want = FAMILIES[expected][0]
    subfolders = MODEL_SUBFOLDERS.get(expected, ("model",)) if subfolders is None else subfolders
    found = []  # (folder, family, has weights) of each candidate holding a config.json
    for d in (folder, *(folder / s for s in subfolders)):
        if (d / "config.json").is_file():
            found.append((d, model_family(d)[0], any(d.glob("*.safetensors"))))
    for want_weights in (True, False):
        for d, family, has_weights in found:
            if family == expected and (has_weights or not want_weights):
                return d
    for _, family, _ in found:
        if family is not None:
            raise UserInputError(f"{flag} {folder}: holds {FAMILIES[family][0]}, but this tool expects {want}")
    if found:  # a config of no known family: the loader says what is wrong with it
        return found[0][0]
    raise UserInputError(f"{flag} {folder}: no config.json (not a model folder); expected {want}, "
                         "e.g. a run's O/model folder")


# ----------------------------------------------------------------------------- outputs

def _file_in_path(p: Path) -> Path | None:
    """The first existing non-folder among ``p`` and its parents, if any."""
    for q in (p, *p.parents):
        if q.exists() and not q.is_dir():
            return q
    return None


def output_dir(args: argparse.Namespace, flag: str = "--output-dir") -> Path:
    """The output folder of ``args`` (``--output-dir``, or the deprecated ``--output``, which
    prints one warning line), checked but not created.

    Raises:
        UserInputError: the path, or one of its parents, is an existing file.
    """
    value = getattr(args, "output_dir", None)
    old = getattr(args, "output_dir_deprecated", None)
    if value is None and old is not None:
        warn("--output for a folder is deprecated here; use --output-dir")
        value, flag = old, "--output"
    p = Path(value).expanduser()
    blocker = _file_in_path(p)
    if blocker is not None:
        what = "is a file" if blocker == p else f"{blocker} is a file"
        raise UserInputError(f"{flag} {value}: {what}, a folder is expected")
    return p


def output_file(value: str | None, flag: str = "--output", *, overwrite: bool = False) -> Path | None:
    """Check an ``--output FILE`` before anything is computed (None passes through).

    Raises:
        UserInputError: the path is a folder, a parent is a file, or the file exists and
            ``overwrite`` is False.
    """
    if value is None:
        return None
    p = Path(value).expanduser()
    if p.is_dir():
        raise UserInputError(f"{flag} {value}: is a folder, a file name is expected")
    blocker = _file_in_path(p.parent)
    if blocker is not None:
        raise UserInputError(f"{flag} {value}: {blocker} is a file, a folder is expected")
    if p.exists() and not overwrite:
        raise UserInputError(f"{flag} {value}: exists; pass --overwrite to replace it")
    return p


def check_new_files(paths: Sequence[Path], *, overwrite: bool = False, flag: str = "--output-dir") -> None:
    """Refuse a list of planned outputs that collide with each other or (without ``overwrite``)
    with existing files. Call it before writing anything.

    Raises:
        UserInputError: the first clash, with the number of clashes.
    """
    seen: set[Path] = set()
    for p in paths:
        if p in seen:
            raise UserInputError(f"{flag}: two outputs would both be named {p.name} (inputs with the same "
                                 "file name in different folders); rename one")
        seen.add(p)
    if not overwrite:
        existing = [p for p in paths if p.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise UserInputError(f"{flag}: {existing[0]} exists{more}; pass --overwrite to replace, "
                                 "or choose another folder")


def check_images(paths: Sequence[Path], *, skip_bad: bool = False, flag: str = "--skip-bad-images") -> list[Path]:
    """Decode every input image once before any output is written.

    Returns:
        The readable paths (all of them unless ``skip_bad``).

    Raises:
        BadImageError: an unreadable image (named) when ``skip_bad`` is False.
    """
    from ..data.images import load_rgb
    from ..errors import BadImageError

    good, bad = [], []
    for p in paths:
        try:
            load_rgb(p)
            good.append(p)
        except BadImageError as e:
            if not skip_bad:
                raise BadImageError(f"{e} (pass {flag} to leave unreadable images out)") from None
            bad.append(p)
    if bad:
        shown = ", ".join(str(b) for b in bad[:3]) + (" ..." if len(bad) > 3 else "")
        warn(f"skipping {len(bad)} unreadable image(s): {shown}")
    return good
