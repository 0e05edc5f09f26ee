"""StarGAN v2 (Choi et al., CVPR 2020) files: official checkpoints, ``save_pretrained`` folders.

* :func:`load_official_checkpoint` reads the released ``{step:06d}_nets_ema.ckpt`` /
  ``_nets.ckpt`` files of clovaai/stargan-v2 (``torch.save`` of ``{network: state_dict}``,
  CC BY-NC 4.0) with ``weights_only=True``; with AdaConv networks it converts every AdaIN
  losslessly (Chandran et al., CVPR 2021) through :func:`adaconv_gen.replace_adain`.
  :func:`load_official_checkpoint` records ``initialized_from`` in ``nets.config``, so folders
  saved from such networks say CC BY-NC 4.0 in their model card.
* :func:`save_pretrained` / :func:`from_pretrained`: shorthands for
  ``nets.save_pretrained(folder)`` / ``StarGANv2.from_pretrained(folder or Hub id)`` (the
  Hub format of :mod:`adaconv_gen.models.hub`).
* :func:`load_for_inference`: whichever of these a user points at.

Import these from :mod:`adaconv_gen.models.stargan_v2`, which re-exports them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import UserInputError
from ..hub import CONFIG_NAME, WEIGHTS_NAME, resolve_model_source
from .networks import NETWORK_NAMES, StarGANv2, _build_adain_generator, _num_levels, build

__all__ = [
    "load_official_checkpoint",
    "save_pretrained",
    "from_pretrained",
    "config_from_official_file",
    "load_for_inference",
]

_LICENSE_NOTED = False
OFFICIAL_SOURCE = "clovaai/stargan-v2"  # recorded in nets.config["initialized_from"]

def _note_license() -> None:
    global _LICENSE_NOTED
    if not _LICENSE_NOTED:
        _LICENSE_NOTED = True
        warnings.warn("the released StarGAN v2 weights (clovaai/stargan-v2) are licensed CC BY-NC 4.0: "
                      "non-commercial use only", UserWarning, stacklevel=3)


def _strip_module(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def _load_into(name: str, module: nn.Module, sd: Mapping[str, Tensor], path: Path) -> None:
    own = module.state_dict()
    unexpected = sorted(set(sd) - set(own))
    missing = sorted(set(own) - set(sd))
    wrong = sorted(k for k in set(sd) & set(own) if tuple(sd[k].shape) != tuple(own[k].shape))
    if unexpected or missing or wrong:
        parts = []
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}"
                         + (" ..." if len(unexpected) > 8 else ""))
        if missing:
            parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}"
                         + (" ..." if len(missing) > 8 else ""))
        if wrong:
            parts.append("shape mismatch: " + ", ".join(
                f"{k} file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in wrong[:5]))
        raise UserInputError(
            f"{path}: the {name} weights do not fit the network built here ({'; '.join(parts)}). "
            "Build with the file's configuration (CelebA-HQ: w_hpf=1, num_domains=2; "
            "AFHQ: w_hpf=0, num_domains=3; img_size=256, base_dim/max_conv_dim unset).")
    module.load_state_dict(sd, strict=True)


def load_official_checkpoint(nets: StarGANv2, path: str | os.PathLike, *,
                             networks: tuple[str, ...] | None = None) -> StarGANv2:
    """Load an official ``{step:06d}_nets_ema.ckpt`` / ``_nets.ckpt`` file into ``nets``.

    The file is a ``torch.save`` of ``{network name: state_dict}``; it is read with
    ``weights_only=True``. ``module.`` prefixes are stripped and a ``hpf.filter`` entry (absent
    from the released CelebA-HQ file, deterministic anyway) is ignored. A ``fan`` entry is loaded
    into ``nets.fan`` (built if needed) when ``w_hpf > 0``. With ``modulation="adaconv"`` the
    generator weights are loaded into an AdaIN generator and converted losslessly into the
    existing AdaConv generator (same module objects, so optimisers built earlier stay valid).

    Args:
        nets: the output of :func:`build` with the file's configuration.
        path: the checkpoint file.
        networks: restrict to these names (default: every network present in both).

    Returns:
        ``nets``.

    Raises:
        UserInputError: unreadable file, not a dict of state dicts, or keys / shapes that do not
            match the networks (the message lists them).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no such StarGAN v2 checkpoint: {str(path)!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserInputError(f"cannot read StarGAN v2 checkpoint {str(path)!r}: {e}") from None
    known = (*NETWORK_NAMES, "fan")
    if not isinstance(ckpt, Mapping) or not any(k in ckpt for k in known):
        found = list(ckpt)[:8] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise UserInputError(f"{path}: not a StarGAN v2 network checkpoint (expected a dict with "
                             f"some of {known}, found {found})")
    _note_license()
    unknown = sorted(set(ckpt) - set(known))
    if unknown:
        raise UserInputError(f"{path}: unexpected entries {unknown}; expected some of {known}")
    wanted = networks or known
    if any(name in ckpt for name in wanted if name != "fan"):
        nets.config["initialized_from"] = OFFICIAL_SOURCE
    for name in wanted:
        if name not in ckpt:
            continue
        sd = _strip_module(ckpt[name])
        if name == "generator":
            sd.pop("hpf.filter", None)
            cfg = nets.config
            if cfg.get("modulation", "adain") == "adaconv":
                from ...nn import replace_adain

                ref = _build_adain_generator(cfg)
                _load_into(name, ref, sd, path)
                ref = replace_adain(ref, **cfg.get("adaconv_kwargs", {}))
                own_device = next(nets.generator.parameters()).device
                nets.generator.load_state_dict(ref.state_dict())
                nets.generator.to(own_device)
                continue
        if name == "fan":
            if nets.config.get("w_hpf", 0) <= 0:
                continue
            if nets.fan is None:
                from .fan import FAN

                nets.fan = FAN().eval()
            sd = {k: v for k, v in sd.items() if k in nets.fan.state_dict()}
        module = getattr(nets, name)
        if module is None:
            continue
        _load_into(name, module, sd, path)
    return nets


# ----------------------------------------------------------------------------- the Hub format

def save_pretrained(nets: StarGANv2, directory: str | os.PathLike,
                    names: tuple[str, ...] | None = None, **kwargs: Any) -> Path:
    """``nets.save_pretrained(directory, networks=names, **kwargs)`` (see :class:`StarGANv2`)."""
    return nets.save_pretrained(directory, networks=names, **kwargs)


def from_pretrained(directory: str | os.PathLike, *, device: torch.device | str | None = None) -> StarGANv2:
    """``StarGANv2.from_pretrained(directory)`` (a folder or a Hub id), moved to ``device``.

    Raises:
        UserInputError: neither a folder nor a cached Hub id, missing or unreadable files, or
            weights that do not fit the config.
    """
    return StarGANv2.from_pretrained(directory, map_location=device or "cpu")


def config_from_official_file(ckpt: Mapping[str, Mapping[str, Tensor]]) -> dict[str, Any]:
    """Infer :func:`build` arguments from an official checkpoint dict (released defaults assumed)."""
    g = _strip_module(ckpt["generator"])
    d0 = g["from_rgb.weight"].shape[0]
    img_size = 2 ** 14 // d0
    n_dec = sum(1 for k in g if k.startswith("decode.") and k.endswith(".conv1.weight"))
    w_hpf = 1 if n_dec - 2 > _num_levels(img_size) - 4 else 0
    style_dim = g["decode.0.norm1.fc.weight"].shape[1]
    m = _strip_module(ckpt["mapping_network"])
    num_domains = sum(1 for k in m if k.startswith("unshared.") and k.endswith(".0.weight"))
    return dict(img_size=img_size, style_dim=style_dim, latent_dim=m["shared.0.weight"].shape[1],
                num_domains=num_domains, w_hpf=w_hpf, hidden_dim=m["shared.0.weight"].shape[0],
                max_conv_dim=max(v.shape[0] for k, v in g.items() if k.endswith("conv2.weight")))


def load_for_inference(checkpoint: str | os.PathLike, *, wing_weights: str | os.PathLike | None = None,
                       device: torch.device | str | None = None) -> StarGANv2:
    """Networks for translation / evaluation from any of the places a user may point at.

    ``checkpoint`` may be a :func:`save_pretrained` folder, a recipe ``checkpoint-{step}`` folder
    (its ``ema/``), a recipe output folder (its ``final/``, else the latest checkpoint), or an
    official ``*_nets_ema.ckpt`` file (configuration inferred). For ``w_hpf > 0`` the FAN comes
    from the file when it holds one, else from ``wing.ckpt`` (``wing_weights`` or the resolver).

    Raises:
        UserInputError: nothing loadable at ``checkpoint``.
    """
    p = Path(checkpoint)
    if p.is_file():
        try:
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
            cfg = config_from_official_file(ckpt)
        except (KeyError, TypeError, AttributeError, RuntimeError) as e:
            raise UserInputError(f"{str(p)!r} is not an official StarGAN v2 checkpoint ({e})") from None
        except Exception as e:
            raise UserInputError(f"cannot read {str(p)!r}: {e}") from None
        nets = build(**cfg, discriminator="discriminator" in ckpt, init=False)
        load_official_checkpoint(nets, p)
    else:
        if not p.is_dir():
            p = resolve_model_source(checkpoint, flag="--checkpoint")  # a Hub id
        candidates = [p, p / "ema", p / "model"]
        found = next((c for c in candidates if (c / CONFIG_NAME).is_file() and
                      (c / WEIGHTS_NAME).is_file()), None)
        if found is None:
            raise UserInputError(
                f"no StarGAN v2 networks at {str(p)!r}: expected a folder with config.json and "
                "model.safetensors (save_pretrained), a checkpoint-<step> folder, a run folder, "
                "or an official *_nets_ema.ckpt file")
        nets = from_pretrained(found)
    if nets.config.get("w_hpf", 0) > 0 and nets.fan is None:
        from .fan import load_fan

        nets.fan = load_fan(wing_weights, flag="--wing-weights")
    if device is not None:
        nets.to(device)
    return nets.eval()
