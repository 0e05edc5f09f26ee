"""One resolver for every pretrained file the library uses.

Priority, the same for every file (timm's ``_resolve_pretrained_source`` habit):

1. an explicit path argument (``--vgg_weights FILE``, ``resolve(name, path=FILE)``);
2. the file's own environment variable, ``ADACONV_<NAME>_WEIGHTS``;
3. ``$ADACONV_WEIGHTS_DIR/<standard file name>``;
4. the torch hub cache, ``<torch.hub.get_dir()>/checkpoints/<standard file name>``;
5. a download into that cache, only when a URL is known and the machine is online
   (set ``ADACONV_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` to never try).

When nothing is found a :class:`~adaconv_gen.errors.WeightsNotFoundError` names the file and
all the ways to provide it. ``adaconv-weights`` lists every known file and where it was looked for.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserInputError, WeightsNotFoundError
from .files import atomic_path

__all__ = [
    "WeightsFile",
    "register_weights",
    "known_weights",
    "resolve",
    "candidates",
    "load_state_dict",
    "guess_network",
    "mismatch_message",
    "sha256sum",
]

OFFLINE_ENV_VARS = ("ADACONV_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class WeightsFile:
    """A pretrained file the library knows by name.

    Args:
        name: registry key, e.g. ``"inception-fid"``.
        filename: the standard file name, as it is published.
        env: environment variable holding a path to the file.
        description: one line for ``adaconv-weights``.
        url: where it can be downloaded from, if anywhere.
        sha256: expected hex digest (or a prefix of it); checked after a download.
        license: licence note shown when the file is loaded, if it restricts use.
    """

    name: str
    filename: str
    env: str
    description: str
    url: str | None = None
    sha256: str | None = None
    license: str | None = None


_REGISTRY: dict[str, WeightsFile] = {}


def register_weights(entry: WeightsFile) -> WeightsFile:
    """Add (or replace) a known file; returns it."""
    _REGISTRY[entry.name] = entry
    return entry


def known_weights() -> dict[str, WeightsFile]:
    """All registered files by name."""
    return dict(_REGISTRY)


def _get(name: str) -> WeightsFile:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown weights name {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _offline() -> bool:
    return any(os.environ.get(v, "").strip() not in ("", "0", "false", "False") for v in OFFLINE_ENV_VARS)


def candidates(name: str) -> list[tuple[str, Path | None]]:
    """The places ``resolve`` looks, in order, as ``(label, path or None)``."""
    entry = _get(name)
    out: list[tuple[str, Path | None]] = []
    env_val = os.environ.get(entry.env)
    out.append((f"${entry.env}", Path(env_val).expanduser() if env_val else None))
    wdir = os.environ.get("ADACONV_WEIGHTS_DIR")
    out.append(("$ADACONV_WEIGHTS_DIR", Path(wdir).expanduser() / entry.filename if wdir else None))
    out.append(("torch hub cache", _hub_checkpoints() / entry.filename))
    return out


def _how_to_provide(entry: WeightsFile, flag: str | None) -> str:
    ways = []
    if flag:
        ways.append(f"pass it explicitly ({flag} /path/to/{entry.filename})")
    else:
        ways.append("pass its path explicitly")
    ways.append(f"set {entry.env}=/path/to/{entry.filename}")
    ways.append(f"put it in $ADACONV_WEIGHTS_DIR or in {_hub_checkpoints()}/")
    if entry.url:
        ways.append(f"or run once online to download it from {entry.url}")
    return "; ".join(ways)


def resolve(name: str, path: str | os.PathLike | None = None, *, flag: str | None = None,
            download: bool | None = None) -> Path:
    """Find the local file for a registered name.

    Args:
        name: registry key (see ``adaconv-weights``).
        path: explicit path; if given it must exist, nothing else is tried.
        flag: the command-line flag that supplies ``path``, used in error messages.
        download: allow a download; default: when a URL is known and not offline.

    Returns:
        Path to an existing file.

    Raises:
        WeightsNotFoundError: nothing found; the message names the file and how to provide it.
    """
    entry = _get(name)
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise WeightsNotFoundError(
            f"{entry.description} ({entry.filename}) not found at the given path {str(p)!r}"
            + (f" ({flag})" if flag else "") + ". Other ways to provide it: "
            + _how_to_provide(entry, None)
        )
    env_val = os.environ.get(entry.env)
    if env_val:
        p = Path(env_val).expanduser()
        if p.is_file():
            return p
        raise WeightsNotFoundError(
            f"{entry.env}={env_val!r} does not point to a file ({entry.filename} expected). "
            "Fix the variable or unset it."
        )
    for _, p in candidates(name)[1:]:
        if p is not None and p.is_file():
            return p
    if download is None:
        download = entry.url is not None and not _offline()
    if download and entry.url:
        try:
            return _download(entry)
        except (OSError, ValueError) as e:  # offline, refused, checksum mismatch
            reason = f" (download failed: {e})"
        else:  # pragma: no cover
            reason = ""
    else:
        reason = " (offline, no download tried)" if entry.url else ""
    raise WeightsNotFoundError(
        f"{entry.description}: file {entry.filename} not found{reason}. Provide it in one of "
        "these ways: " + _how_to_provide(entry, flag)
    )


def _download(entry: WeightsFile) -> Path:
    dst_dir = _hub_checkpoints()
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / entry.filename
    with atomic_path(dst, suffix=".part") as tmp:
        with open(tmp, "wb") as f, urllib.request.urlopen(entry.url, timeout=30) as r:
            shutil.copyfileobj(r, f)
        if entry.sha256 and not sha256sum(tmp).startswith(entry.sha256):
            raise ValueError(f"checksum mismatch for {entry.url}")
    return dst


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _file_format(path: Path) -> str | None:
    """"torch" (a zip or legacy pickle from ``torch.save``), "safetensors", or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return None


def load_state_dict(path: str | os.PathLike, *, flag: str | None = None) -> dict:
    """Load a state dict safely: safetensors, or ``torch.load(weights_only=True)`` on CPU.

    Args:
        path: the file.
        flag: the command-line flag that named it, for error messages.

    Raises:
        UserInputError: a folder, a file that is not a PyTorch or safetensors file, or one that
            holds no dict of tensors (named in the message, one line).
    """
    path = Path(path)
    where = f"{flag} {path}" if flag else repr(str(path))
    if path.is_dir():
        raise UserInputError(f"{where}: is a folder, a weights file is expected")
    if not path.exists():
        raise UserInputError(f"{where}: no such file")
    try:
        fmt = _file_format(path)
        if fmt is None:
            raise UserInputError(f"{where}: not a PyTorch (.pth/.pt/.ckpt) or safetensors weights file")
        if fmt == "safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except UserInputError:
        raise
    except Exception as e:  # corrupt, truncated, pickled module, ...
        reason = " ".join(str(e).split())[:160]
        raise UserInputError(f"{where}: not a readable PyTorch or safetensors weights file ({reason})") from None
    if not isinstance(sd, dict):
        raise UserInputError(f"{where}: holds a {type(sd).__name__}, not a dict of tensors (a state dict)")
    return sd


def guess_network(state_dict: dict) -> str:
    """What a state dict seems to hold, from its keys (for error messages)."""
    keys = set(state_dict)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if {"generator", "mapping_network", "style_encoder"} & keys:
        return "a StarGAN v2 checkpoint (generator, mapping network, style encoder)"
    if "state_dict" in keys:
        return "a training checkpoint with a nested 'state_dict' (e.g. the FAN wing.ckpt)"
    if has("Mixed_7c"):
        fc = state_dict.get("fc.weight")
        if has("AuxLogits") or (fc is not None and getattr(fc, "shape", (0,))[0] == 1000):
            return "torchvision's ImageNet Inception-v3"
        return "the FID Inception-v3 (pytorch-fid)"
    if has("lin0.model"):
        return "the LPIPS v0.1 linear layers"
    if has("patch_embed") and has("blocks."):
        return "a vision transformer (e.g. DINOv2)"
    if has("features.") and has("classifier."):
        convs = sum(1 for k, v in state_dict.items() if k.startswith("features.") and k.endswith(".weight")
                    and getattr(v, "ndim", 0) == 4)
        return {5: "torchvision's AlexNet", 16: "torchvision's VGG-19", 13: "torchvision's VGG-16"}.get(
            convs, f"a torchvision-style CNN with {convs} conv layers")
    if has("features.") and not has("classifier."):
        return "a truncated VGG-19 (features only)"
    if has("encoder.") and has("decoder."):
        return "a style-transfer model"
    if has("synthesis.") and has("mapping."):
        return "a StyleGAN generator"
    shown = ", ".join(sorted(keys)[:3])
    return f"an unknown network ({len(keys)} entries, e.g. {shown})"


def mismatch_message(path: str | os.PathLike, state_dict: dict, expected: set[str] | dict,
                     network: str, flag: str | None = None) -> str:
    """One line: the file is not ``network``'s weights; what it seems to hold; how many keys
    are missing / unexpected, with a few examples (never the whole list)."""
    expected = set(expected)
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    where = f"{flag} {path}" if flag else repr(str(path))

    def count(n: int, what: str) -> str:
        return f"{n} key{'s' if n != 1 else ''} {what}"

    parts = []
    if missing:
        parts.append(f"{count(len(missing), 'missing')} (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{count(len(unexpected), 'unexpected')} (e.g. {', '.join(unexpected[:3])})")
    if not parts:
        parts.append("the keys match but some shapes differ")
    held = guess_network(state_dict)
    if network.lower() in held.lower():  # the right network, altered or incomplete
        return f"{where}: does not match the {network} weights: " + ", ".join(parts)
    return f"{where}: not the {network} weights; it seems to hold {held}: " + ", ".join(parts)


# The files every part of the library uses. Environment variables follow ADACONV_<NAME>_WEIGHTS.
for _e in (
    WeightsFile("vgg19", "vgg19-dcbb9e9d.pth", "ADACONV_VGG19_WEIGHTS",
                "torchvision ImageNet VGG-19 (style-transfer encoder)",
                url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", sha256="dcbb9e9d"),
    WeightsFile("inception-fid", "pt_inception-2015-12-05-6726825d.pth", "ADACONV_INCEPTION_WEIGHTS",
                "FID Inception-v3 (TF port used by pytorch-fid)",
                url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                    "pt_inception-2015-12-05-6726825d.pth", sha256="6726825d"),
    WeightsFile("inception-torchvision", "inception_v3_google-0cc3c7bd.pth",
                "ADACONV_TV_INCEPTION_WEIGHTS",
                "torchvision ImageNet Inception-v3 (StarGAN v2's official FID protocol)",
                url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
                sha256="0cc3c7bd"),
    WeightsFile("alexnet", "alexnet-owt-7be5be79.pth", "ADACONV_ALEXNET_WEIGHTS",
                "torchvision ImageNet AlexNet (LPIPS backbone)",
                url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", sha256="7be5be79"),
    WeightsFile("lpips-alex", "alex.pth", "ADACONV_LPIPS_WEIGHTS",
                "LPIPS v0.1 linear layers for AlexNet (ships inside the `lpips` pip package)",
                url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"),
    WeightsFile("dinov2", "vit_large_patch14_dinov2.safetensors", "ADACONV_DINOV2_WEIGHTS",
                "DINOv2 ViT-L/14 (timm vit_large_patch14_dinov2.lvd142m) for FD-DINOv2"),
    WeightsFile("stargan-v2-celeba-hq", "celeba_hq_100000_nets_ema.ckpt", "ADACONV_STARGAN_CELEBA_HQ_WEIGHTS",
                "official StarGAN v2 CelebA-HQ 100000_nets_ema.ckpt (CC BY-NC 4.0)",
                license="CC BY-NC 4.0 (clovaai/stargan-v2)"),
    WeightsFile("stargan-v2-afhq", "afhq_100000_nets_ema.ckpt", "ADACONV_STARGAN_AFHQ_WEIGHTS",
                "official StarGAN v2 AFHQ 100000_nets_ema.ckpt (CC BY-NC 4.0)",
                license="CC BY-NC 4.0 (clovaai/stargan-v2)"),
    WeightsFile("wing", "wing.ckpt", "ADACONV_WING_WEIGHTS",
                "StarGAN v2 FAN face-landmark network wing.ckpt (CC BY-NC 4.0)",
                license="CC BY-NC 4.0 (clovaai/stargan-v2)"),
):
    register_weights(_e)
