"""The Hugging Face Hub model format, through ``huggingface_hub.PyTorchModelHubMixin``.

Every model family (StarGAN v2 networks, style transfer, the StyleGAN-style generator) inherits
:class:`HubModel`, so ``save_pretrained(folder)``, ``from_pretrained(folder or "user/name")`` and
``push_to_hub("user/name")`` behave the same everywhere. A model folder holds:

* ``config.json``: the hyper-parameters that rebuild the network (no local paths);
* ``model.safetensors``: the weights;
* ``README.md``: the model card (Hub metadata: library, license, tags; the config, how the model
  was trained and evaluated when known, and the license), rewritten on every save.

What this adds to the mixin, through its documented hooks: loading is strict (a missing or
unexpected key is a :class:`~adaconv_gen.errors.UserInputError` naming a few), the folder is
written atomically as a whole (temporary folder beside it, then a swap) with the umask's file
modes, nothing is printed, and a Hub id is resolved by :func:`resolve_model_source` (offline
from the local Hugging Face cache).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin
from torch import Tensor, nn

from ..errors import UserInputError
from ..files import atomic_folder

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "CARD_NAME", "HubModel", "resolve_model_source",
           "load_strict", "PROJECT_LICENSE", "NON_COMMERCIAL_LICENSE"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
PROJECT_LICENSE = "mit"
NON_COMMERCIAL_LICENSE = "cc-by-nc-4.0"
_CARD_KEY = "adaconv_gen"  # the card metadata entry that keeps training / evaluation across re-saves


# ----------------------------------------------------------------------------- Hub ids

def resolve_model_source(value: str | os.PathLike, flag: str = "--model", *, revision: str | None = None,
                         cache_dir: str | os.PathLike | None = None, token: str | bool | None = None,
                         local_files_only: bool = False, force_download: bool = False) -> Path:
    """The local folder a ``--model`` value names: a folder, or a Hub id resolved by huggingface_hub.

    An existing folder is returned as is. Anything else that looks like a Hub id
    (``user/name``) is resolved with :func:`huggingface_hub.snapshot_download`: downloaded (or
    found up to date in the cache) when online; offline (``HF_HUB_OFFLINE=1``, or no network)
    taken from the local cache that the Hub client keeps under ``HF_HUB_CACHE`` (default
    ``$HF_HOME/hub``).

    Args:
        value: a folder or a Hub id.
        flag: the option the value came from, for the error message ("" for none).
        revision, cache_dir, token, local_files_only, force_download: passed to
            ``snapshot_download``.

    Raises:
        UserInputError: ``"<flag> <value>: no such folder, and not a Hub id in the local cache"``.
    """
    text = os.fspath(value)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    where = f"{flag} {text}" if flag else text
    missing = UserInputError(f"{where}: no such folder, and not a Hub id in the local cache")
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        raise missing from None
    try:
        return Path(snapshot_download(repo_id=text, revision=revision, cache_dir=cache_dir, token=token,
                                      local_files_only=local_files_only, force_download=force_download))
    except (OSError, ValueError) as e:  # not cached offline, unknown repo, gated, Hub down
        raise missing from e
    except Exception as e:  # huggingface_hub's HTTP errors (not all derive from OSError)
        if type(e).__module__.startswith(("huggingface_hub", "httpx", "requests")):
            raise missing from e
        raise


def _check_folder(folder: Path, what: str) -> dict:
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise UserInputError(f"{str(folder)!r} is not a saved {what}: {name} missing "
                                 f"(expected {CONFIG_NAME} + {WEIGHTS_NAME} written by save_pretrained)")
    try:
        cfg = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserInputError(f"cannot read {str(folder / CONFIG_NAME)!r}: {e}") from None
    if not isinstance(cfg, dict):
        raise UserInputError(f"{str(folder / CONFIG_NAME)!r} is not a JSON object")
    return cfg


def _read_weights(path: Path, device: str | torch.device) -> dict[str, Tensor]:
    try:
        from safetensors.torch import load_file

        return load_file(str(path), device=str(device))
    except Exception as e:  # truncated or not a safetensors file
        raise UserInputError(f"cannot read weights {str(path)!r}: {e}") from None


def _few(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" ... ({len(keys)} in all)" if len(keys) > n else "")


def load_strict(module: nn.Module, tensors: Mapping[str, Tensor], path: str | os.PathLike,
                hint: str = "") -> None:
    """``module.load_state_dict(tensors, strict=True)`` with a one-line error naming a few keys.

    Raises:
        UserInputError: missing or unexpected keys, or shapes that differ (``path`` named).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if tuple(own[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if wrong:
            parts.append("shape mismatch: " + ", ".join(
                f"{k} file {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}" for k in wrong[:5]))
        raise UserInputError(f"{path}: the weights do not fit the network its {CONFIG_NAME} builds "
                             f"({'; '.join(parts)}){hint}")
    module.load_state_dict(tensors, strict=True)


# ----------------------------------------------------------------------------- the mixin

class HubModel(PyTorchModelHubMixin, library_name="adaconv-gen", license=PROJECT_LICENSE,
               tags=["adaconv-gen"]):
    """What the three model families share: the Hub folder format and the model card.

    A family implements :meth:`hub_config` (hyper-parameters), :meth:`_from_hub_config` (build
    from them, accepting older configs), and the card hooks :meth:`card_tags`,
    :meth:`card_title`, :meth:`card_usage`, :meth:`card_license`; it may restrict what is saved
    with :meth:`hub_state_dict`.
    """

    hub_what = "model"  # for error messages
    pipeline_tag: str | None = None

    # ------------------------------------------------------------ family hooks
    def hub_config(self) -> dict[str, Any]:
        """The JSON-able hyper-parameters that rebuild this network (no paths)."""
        raise NotImplementedError

    @classmethod
    def _from_hub_config(cls, config: dict[str, Any], folder: Path) -> nn.Module:
        """A network built from :meth:`hub_config`'s output (or an older format's config)."""
        raise NotImplementedError

    def hub_state_dict(self) -> dict[str, Tensor]:
        """The tensors written to ``model.safetensors`` (default: the whole state dict)."""
        return self.state_dict()

    def card_title(self) -> str:
        raise NotImplementedError

    def card_tags(self) -> list[str]:
        """Family and modulation tags (``library_name`` and the mixin's tags are added)."""
        return []

    def card_usage(self) -> str:
        """Python lines that load and use the model (``{repo_id}`` is filled in)."""
        return ""

    def card_license(self) -> tuple[str, str]:
        """``(Hub license id, sentence saying why)``; the project's MIT license by default."""
        return PROJECT_LICENSE, "MIT, the license of adaconv-gen."

    # ------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str | os.PathLike, *, training: Mapping[str, Any] | None = None,
                        evaluation: Mapping[str, Any] | None = None, config: dict | None = None,
                        repo_id: str | None = None, push_to_hub: bool = False,
                        model_card_kwargs: dict[str, Any] | None = None, **push_to_hub_kwargs) -> Path:
        """Write ``config.json``, ``model.safetensors`` and the model card ``README.md``.

        The folder is replaced as a whole (written beside it, then swapped in), so a reader
        sees the old model or the new one; files get the umask's modes. A folder that holds
        anything else than a model (subfolders, or files without ``model.safetensors``) is
        refused rather than replaced.

        Args:
            save_directory: the model folder.
            training: how it was trained, for the card: ``{"command": str or [str, ...] (the
                recipe's command line; several for a run and its resumes), "step": int, ...}``
                (other keys are listed as they are). Kept from the folder it was loaded from
                when not given.
            evaluation: what it was evaluated on, for the card: ``{"data": str, "protocol":
                str, "step": int, "metrics": {name: value}, ...}`` (all optional). Kept like
                ``training``.
            config: the hyper-parameters to store (default :meth:`hub_config`).
            repo_id, push_to_hub, model_card_kwargs, push_to_hub_kwargs: as in
                ``huggingface_hub.ModelHubMixin.save_pretrained``.

        Returns:
            The folder.
        """
        folder = Path(save_directory)
        _refuse_non_model_folder(folder)
        card_kwargs = dict(model_card_kwargs or {})
        info = dict(getattr(self, "_card_info", None) or {})
        for key, value in (("training", training), ("evaluation", evaluation)):
            if value is not None:
                info[key] = _jsonable(dict(value), key)
            card_kwargs.setdefault(key, info.get(key))
        self._card_info = info
        cfg = self.hub_config() if config is None else config
        with atomic_folder(folder) as tmp:
            super().save_pretrained(tmp, config=cfg, model_card_kwargs=card_kwargs)
        if push_to_hub:
            self.push_to_hub(repo_id or folder.name, config=cfg, model_card_kwargs=card_kwargs, **push_to_hub_kwargs)
        return folder

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs) -> str:
        """Save into a temporary folder and upload it to the Hub repository ``repo_id`` (created if
        needed): the mixin's ``push_to_hub`` (``private``, ``token``, ``commit_message``,
        ``branch``, ``create_pr``, ...), with the card's loading snippet naming ``repo_id``.

        Returns:
            The URL of the commit.
        """
        return super().push_to_hub(repo_id, model_card_kwargs={"repo_id": repo_id, **(model_card_kwargs or {})},
                                   **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.hub_state_dict().items()}
        save_file(tensors, str(Path(save_directory) / WEIGHTS_NAME), metadata={"format": "pt"})

    # ------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *,
                        map_location: str | torch.device = "cpu", revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None, force_download: bool = False,
                        token: str | bool | None = None, local_files_only: bool = False, **model_kwargs):
        """Load a model folder or a Hub id (``"user/name"``; offline, from the local cache).

        Raises:
            UserInputError: neither a folder nor a cached / downloadable Hub id; a missing or
                unreadable file; weights that do not fit the config (a few keys named).
        """
        folder = resolve_model_source(pretrained_model_name_or_path, flag="", revision=revision,
                                      cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                                      force_download=force_download)
        _check_folder(folder, cls.hub_what)
        return super().from_pretrained(str(folder), map_location=map_location, **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         map_location: str | torch.device = "cpu", config: dict | None = None,
                         **model_kwargs):
        folder = Path(model_id)  # always a local folder: from_pretrained resolved it
        cfg = dict(config) if config is not None else _check_folder(folder, cls.hub_what)
        try:
            model = cls._from_hub_config(cfg, folder)
        except (ValueError, KeyError, TypeError) as e:
            raise UserInputError(f"cannot build a {cls.hub_what} from {str(folder / CONFIG_NAME)!r}: {e}") from None
        model._load_weights(_read_weights(folder / WEIGHTS_NAME, "cpu"), folder / WEIGHTS_NAME)
        model._card_info = _read_card_info(folder)
        model._hub_mixin_config = model.hub_config()
        return model.to(map_location).eval()

    def _load_weights(self, tensors: dict[str, Tensor], path: Path) -> None:
        load_strict(self, tensors, path)

    # ------------------------------------------------------------ the card
    def generate_model_card(self, *args, training: Mapping[str, Any] | None = None,
                            evaluation: Mapping[str, Any] | None = None, **kwargs) -> ModelCard:
        """The model card: Hub metadata, the config, training, evaluation and the license."""
        license_id, license_text = self.card_license()
        base = self._hub_mixin_info.model_card_data.to_dict()
        tags = sorted(set(base.get("tags") or []) | set(self.card_tags()))
        meta: dict[str, Any] = {"library_name": "adaconv-gen", "license": license_id, "tags": tags}
        if self.pipeline_tag:
            meta["pipeline_tag"] = self.pipeline_tag
        extra = {k: v for k, v in (("training", training), ("evaluation", evaluation)) if v}
        if extra:
            meta[_CARD_KEY] = _jsonable(extra, "card")
        data = ModelCardData(**meta)
        cfg = self.hub_config()
        lines = [f"# {self.card_title()}", "",
                 "A model of adaconv-gen (Adaptive Convolutions as a drop-in replacement for AdaIN), "
                 "saved with `save_pretrained`: `config.json` (the hyper-parameters), "
                 "`model.safetensors` (the weights) and this card. Load it with `from_pretrained` "
                 "(`pip install adaconv-gen`).", ""]
        usage = self.card_usage()
        if usage:
            lines += ["## Use", "", "```python", usage.replace("{repo_id}", str(kwargs.get("repo_id") or "user/name")),
                      "```", ""]
        lines += ["## Configuration", "", "```json", json.dumps(cfg, indent=2, sort_keys=True), "```", ""]
        lines += ["## Training", ""] + _training_lines(training) + [""]
        lines += ["## Evaluation", ""] + _evaluation_lines(evaluation) + [""]
        lines += ["## License", "", license_text, ""]
        return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


def _refuse_non_model_folder(folder: Path) -> None:
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserInputError(f"{str(folder)!r} exists and is not a folder")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if entries and (any(p.is_dir() for p in entries) or not (folder / WEIGHTS_NAME).is_file()):
        raise UserInputError(f"{str(folder)!r} exists and is not a model folder (it holds "
                             f"{', '.join(sorted(p.name for p in entries)[:5])}); save into a new or model folder")


def _jsonable(obj: dict, what: str) -> dict:
    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} information must be JSON-able: {e}") from None


def _read_card_info(folder: Path) -> dict:
    card = folder / CARD_NAME
    if not card.is_file():
        return {}
    try:
        info = ModelCard.load(card).data.to_dict().get(_CARD_KEY) or {}
    except Exception:  # a hand-edited card that does not parse: the weights still load
        return {}
    return {k: info[k] for k in ("training", "evaluation") if isinstance(info.get(k), dict)}


def _training_lines(training: Mapping[str, Any] | None) -> list[str]:
    if not training:
        return ["Not recorded: this folder was not written by a training recipe."]
    out = []
    cmd = training.get("command")
    if cmd:
        cmds = [cmd] if isinstance(cmd, str) else [c if isinstance(c, str) else shlex.join(c) for c in cmd]
        out += ["Command line" + ("s (the run, then each resume):" if len(cmds) > 1 else ":"), "",
                "```bash", *cmds, "```", ""]
    if training.get("step") is not None:
        out.append(f"- step: {training['step']}")
    out += [f"- {k}: {v}" for k, v in training.items() if k not in ("command", "step")]
    return out if out[-1] else out[:-1]


def _evaluation_lines(evaluation: Mapping[str, Any] | None) -> list[str]:
    if not evaluation:
        return ["No evaluation recorded."]
    out = [f"- {k}: {v}" for k, v in evaluation.items() if k != "metrics"]
    metrics = evaluation.get("metrics") or {}
    if metrics:
        out += ["", "| metric | value |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in metrics.items()]]
    return out
