"""``replace_adain``: swap every AdaIN in a generator for an :class:`AdaConv`, losslessly.

Follows ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``: recursive, in place, returns the
(possibly new) root. Each AdaIN's own affine module (its ``fc``/``style``/``lin``) is moved,
as it is, into the new AdaConv as its ``gamma/beta`` path, so an equalised-learning-rate layer
keeps its runtime scale and hooks, and the AdaConv's predictor starts at zero: the converted
model computes what the original computed (checked per layer on a random probe, and on the
whole model with ``example_inputs``).

Patterns live in a small public registry; a pattern may absorb sibling modules (an
``instance_norm`` that precedes a ``style_mod``), which become ``nn.Identity``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..errors import ConversionError
from .adaconv import AdaConv
from .adain import AdaIN

__all__ = [
    "AdaINSpec",
    "AdaINPattern",
    "register_adain_pattern",
    "unregister_adain_pattern",
    "adain_patterns",
    "find_adain",
    "replace_adain",
    "verify_conversion",
]

logger = logging.getLogger("adaconv_gen")


@dataclass
class AdaINSpec:
    """What a pattern extracts from an AdaIN-like module.

    Attributes:
        affine: module mapping ``s (B, style_dim)`` to ``(B, 2C)`` laid out ``[gamma | beta]``;
            moved into the AdaConv unchanged.
        num_features: ``C``.
        style_dim: length of ``s``.
        gamma_offset: the module computes ``(gamma + gamma_offset) * IN(x) + beta``.
        eps: its instance-norm epsilon.
        normalize: whether it normalises ``x`` at all.
        absorb: dotted paths, relative to the parent, of modules folded into the AdaConv
            (replaced by ``nn.Identity``).
        original: ``f(x, s)`` computing what the replaced module(s) computed, for the probe;
            default: the module itself.
    """

    affine: nn.Module
    num_features: int
    style_dim: int
    gamma_offset: float = 1.0
    eps: float = 1e-5
    normalize: bool = True
    absorb: tuple[str, ...] = ()
    original: Callable[[Tensor, Tensor], Tensor] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AdaINPattern:
    """A registry entry: ``match(module, name, parent) -> bool`` and
    ``extract(module, name, parent) -> AdaINSpec``."""

    name: str
    match: Callable[[nn.Module, str, nn.Module | None], bool]
    extract: Callable[[nn.Module, str, nn.Module | None], AdaINSpec]


_PATTERNS: list[AdaINPattern] = []


def register_adain_pattern(name: str, match: Callable, extract: Callable, *, first: bool = True) -> AdaINPattern:
    """Register a pattern (checked before the built-in ones unless ``first=False``).

    Args:
        name: shown in reports.
        match: ``match(module, name, parent) -> bool``.
        extract: ``extract(module, name, parent) -> AdaINSpec``.
        first: put it ahead of the existing patterns.
    """
    p = AdaINPattern(name, match, extract)
    _PATTERNS[:] = [q for q in _PATTERNS if q.name != name]
    _PATTERNS.insert(0, p) if first else _PATTERNS.append(p)
    return p


def unregister_adain_pattern(name: str) -> None:
    """Remove a pattern by name (no error if absent)."""
    _PATTERNS[:] = [q for q in _PATTERNS if q.name != name]


def adain_patterns() -> list[AdaINPattern]:
    """The registered patterns, in the order they are tried."""
    return list(_PATTERNS)


# --- helpers for built-in patterns -------------------------------------------------------------

def linear_dims(m: nn.Module) -> tuple[int, int] | None:
    """``(in, out)`` of a linear-like module: ``nn.Linear``, an equalised linear holding
    ``weight`` or ``weight_orig`` (before its first forward), or a wrapper of one."""
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    for pname in ("weight", "weight_orig"):
        p = m._parameters.get(pname)
        if p is not None and p.dim() == 2:
            return p.shape[1], p.shape[0]
    kids = list(m.children())
    if len(kids) == 1:
        return linear_dims(kids[0])
    return None


def _plain_instance_norm(m: nn.Module | None) -> bool:
    if isinstance(m, nn.InstanceNorm2d):
        return not m.affine and not m.track_running_stats
    # custom epsilon-only instance norms (NVlabs-style ports)
    return m is not None and type(m).__name__ == "InstanceNorm" and hasattr(m, "epsilon") \
        and not list(m.parameters())


def _eps(m: nn.Module) -> float:
    return float(getattr(m, "eps", getattr(m, "epsilon", 1e-5)))


def _norm_fc_spec(m: nn.Module, affine_name: str, offset: float) -> AdaINSpec:
    dims = linear_dims(getattr(m, affine_name))
    return AdaINSpec(getattr(m, affine_name), dims[1] // 2, dims[0], offset, _eps(m.norm))


def _has_norm_and(m: nn.Module, affine_name: str) -> bool:
    names = dict(m.named_children())
    if set(names) != {"norm", affine_name} or not _plain_instance_norm(names["norm"]):
        return False
    dims = linear_dims(names[affine_name])
    nf = getattr(names["norm"], "num_features", None)
    return dims is not None and dims[1] % 2 == 0 and (nf is None or dims[1] == 2 * nf)


def _resolve(parent: nn.Module, path: str) -> nn.Module | None:
    m = parent
    for part in path.split("."):
        m = getattr(m, part, None) if m is not None else None
    return m


def _style_mod_match(m: nn.Module, name: str, parent: nn.Module | None) -> bool:
    kids = dict(m.named_children())
    return (name == "style_mod" and parent is not None and len(kids) == 1
            and next(iter(kids)) in ("lin", "linear") and linear_dims(next(iter(kids.values()))) is not None)


def _style_mod_extract(m: nn.Module, name: str, parent: nn.Module | None) -> AdaINSpec:
    (aff,) = m.children()
    dims = linear_dims(aff)
    # the instance norm that feeds the style_mod: a sibling, or the last layer of a sibling
    # Sequential (huangzh13's LayerEpilogue.top_epi)
    norm_path, norm = None, None
    for sib_name, sib in parent.named_children():
        if sib_name == "instance_norm" and sib is not None:
            norm_path, norm = sib_name, sib
        elif isinstance(sib, nn.Sequential) and len(sib) and hasattr(sib, "instance_norm") \
                and list(sib._modules)[-1] == "instance_norm":
            norm_path, norm = f"{sib_name}.instance_norm", sib.instance_norm
    if norm is not None and not _plain_instance_norm(norm):
        raise ConversionError(f"{type(parent).__name__}.{norm_path} is not a plain instance norm; "
                              "cannot fold it into AdaConv")

    def original(x: Tensor, s: Tensor, _n=norm, _m=m) -> Tensor:
        return _m(_n(x) if _n is not None else x, s)

    return AdaINSpec(aff, dims[1] // 2, dims[0], 1.0, _eps(norm) if norm is not None else 1e-5,
                     normalize=norm is not None, absorb=(norm_path,) if norm_path else (),
                     original=original)


for _p in (
    AdaINPattern("adaconv_gen.AdaIN", lambda m, n, p: type(m) is AdaIN,
                 lambda m, n, p: _norm_fc_spec(m, "fc", 1.0)),
    AdaINPattern("stargan-v2 AdaIN (norm + fc, 1 + gamma)", lambda m, n, p: _has_norm_and(m, "fc"),
                 lambda m, n, p: _norm_fc_spec(m, "fc", 1.0)),
    AdaINPattern("rosinality StyleGAN AdaptiveInstanceNorm (norm + style, gamma)",
                 lambda m, n, p: _has_norm_and(m, "style"),
                 lambda m, n, p: _norm_fc_spec(m, "style", 0.0)),
    AdaINPattern("NVlabs/huangzh13 StyleGAN instance_norm + style_mod (s0 + 1)",
                 _style_mod_match, _style_mod_extract),
):
    _PATTERNS.append(_p)


# --- conversion --------------------------------------------------------------------------------

def _find(module: nn.Module, prefix: str = "", parent: nn.Module | None = None, name: str = ""):
    for pat in _PATTERNS:
        if pat.match(module, name, parent):
            yield prefix, pat, module, parent, name
            return
    for child_name, child in module.named_children():
        if child is None:
            continue
        yield from _find(child, f"{prefix}.{child_name}" if prefix else child_name, module, child_name)


def find_adain(module: nn.Module) -> list[tuple[str, str]]:
    """Dry run: ``(qualified name, pattern name)`` of every module ``replace_adain`` would convert."""
    return [(q or "<root>", pat.name) for q, pat, *_ in _find(module)]


_ADACONV_ARGS = set(inspect.signature(AdaConv).parameters) - {
    "style_dim", "num_features", "eps", "gamma_offset", "normalize", "device", "dtype"}


def _build(spec: AdaINSpec, kwargs: dict) -> AdaConv:
    p = next(iter(spec.affine.parameters()), None)
    fk = {"device": p.device if p is not None else None, "dtype": p.dtype if p is not None else None}
    new = AdaConv(spec.style_dim, spec.num_features, eps=spec.eps, gamma_offset=spec.gamma_offset,
                  normalize=spec.normalize, **kwargs, **fk)
    new.fc = spec.affine  # moved, not copied: keeps its scale, hooks and parameter identity
    return new


@torch.no_grad()
def _probe(spec: AdaINSpec, old: nn.Module, new: AdaConv) -> float:
    p = next(new.parameters())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, spec.num_features, 6, 6, generator=gen).to(p.device, p.dtype)
    s = torch.randn(2, spec.style_dim, generator=gen).to(p.device, p.dtype)
    ref = (spec.original or old)(x, s)
    out = new(x, s)
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def replace_adain(module: nn.Module, *, example_inputs: Sequence | None = None,
                  tolerance: float = 1e-5, report: list | None = None, **adaconv_kwargs) -> nn.Module:
    """Replace every recognised AdaIN in ``module`` by an :class:`AdaConv`, in place.

    Args:
        module: the model (or a single AdaIN).
        example_inputs: if given, the whole model is run on them before and after (same seed)
            and a :class:`ConversionError` is raised, with the model restored, when the
            relative difference exceeds ``tolerance``.
        tolerance: max ``|new - old| / max |old|`` allowed (per layer probe and whole model).
        report: if a list, ``(qualified name, pattern name)`` of each replacement is appended.
        **adaconv_kwargs: passed to every new AdaConv (``kernel_size``, ``groups``,
            ``style_channels``, ``style_size``, ``padding_mode``, ``hidden_dim``).

    Returns:
        The root module (a new AdaConv if ``module`` itself was an AdaIN).

    Raises:
        ConversionError: a matched module cannot be converted losslessly, or the whole-model
            check failed.
        ValueError: an unknown AdaConv argument.
    """
    bad = set(adaconv_kwargs) - _ADACONV_ARGS
    if bad:
        raise ValueError(f"unknown AdaConv argument(s) {sorted(bad)}; valid: {sorted(_ADACONV_ARGS)}")
    ref_out = None
    if example_inputs is not None:
        ref_out = _run(module, example_inputs)
    found = list(_find(module))
    undo: list[tuple[nn.Module | None, str, nn.Module]] = []
    root = module
    try:
        for qname, pat, old, parent, name in found:
            spec = pat.extract(old, name, parent)
            new = _build(spec, adaconv_kwargs)
            err = _probe(spec, old, new)
            if not err <= tolerance:
                raise ConversionError(
                    f"{qname or '<root>'} matched pattern {pat.name!r} but AdaConv differs from it "
                    f"by {err:.2e} (relative) on a probe; register a pattern that describes it")
            if parent is None:
                root = new
            else:
                undo.append((parent, name, old))
                setattr(parent, name, new)
                for path in spec.absorb:
                    owner_path, _, leaf = path.rpartition(".")
                    owner = _resolve(parent, owner_path) if owner_path else parent
                    undo.append((owner, leaf, getattr(owner, leaf)))
                    setattr(owner, leaf, nn.Identity())
            logger.info("replace_adain: %s (%s) -> AdaConv", qname or "<root>", pat.name)
            if report is not None:
                report.append((qname or "<root>", pat.name))
        if not found:
            logger.warning("replace_adain: no AdaIN-like module found in %s", type(module).__name__)
        if ref_out is not None:
            err = _compare(ref_out, _run(root, example_inputs))
            if not err <= tolerance:
                raise ConversionError(f"converted model differs from the original by {err:.2e} "
                                      f"(relative) on example_inputs, above {tolerance:.0e}")
    except BaseException:
        for owner, leaf, old in reversed(undo):
            setattr(owner, leaf, old)
        raise
    return root


def _flatten(out) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flatten(o)]
    return []


@torch.no_grad()
def _run(model: nn.Module, inputs: Sequence, seed: int = 0) -> list[Tensor]:
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            torch.manual_seed(seed)
            return [t.detach().float().clone() for t in _flatten(model(*inputs))]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def _compare(a: list[Tensor], b: list[Tensor]) -> float:
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    if not a:
        return 0.0
    num = max(float((x - y).abs().max()) for x, y in zip(a, b))
    den = max(float(x.abs().max()) for x in a)
    return num / max(den, 1e-12)


def verify_conversion(original: nn.Module, converted: nn.Module, *example_inputs, seed: int = 0) -> float:
    """Max relative difference ``max |converted - original| / max |original|`` of two models'
    outputs on the same inputs, both run with the same RNG seed (noise inputs match), without
    gradients and with TF32 off. Outputs may be tensors or (nested) tuples/lists/dicts of them.
    """
    return _compare(_run(original, example_inputs, seed), _run(converted, example_inputs, seed))
