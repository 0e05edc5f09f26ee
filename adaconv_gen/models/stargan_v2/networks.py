"""StarGAN v2 networks (Choi et al., *StarGAN v2: Diverse Image Synthesis for Multiple Domains*,
CVPR 2020), with AdaIN or AdaConv (Chandran et al., CVPR 2021) as the style modulation.

Written from the paper and the *behaviour* of the reference code (clovaai/stargan-v2, CC BY-NC
4.0; none of its code is used here). With ``modulation="adain"`` the parameter counts and
``state_dict`` keys equal the official ones, so the released ``100000_nets_ema.ckpt`` files load
with :func:`load_official_checkpoint` and compute what the official networks compute. With
``modulation="adaconv"`` every AdaIN of the generator is swapped, losslessly, for an AdaConv
(:func:`adaconv_gen.replace_adain`): the converted generator starts out computing the same images,
and fine-tuning lets the predicted kernels grow spatial structure.

Forward signatures follow the official ones: ``generator(x, s, masks=None)``,
``mapping_network(z, y)``, ``style_encoder(x, y)``, ``discriminator(x, y)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import UserInputError
from ..hub import NON_COMMERCIAL_LICENSE, PROJECT_LICENSE, HubModel

__all__ = [
    "ResBlk",
    "AdainResBlk",
    "HighPass",
    "Generator",
    "MappingNetwork",
    "StyleEncoder",
    "Discriminator",
    "StarGANv2",
    "build",
    "he_init",
    "OFFICIAL_CONFIGS",
    "copy_for_ema",
]

# The two released configurations (docs/paper.md, section 2).
OFFICIAL_CONFIGS: dict[str, dict[str, Any]] = {
    "celeba-hq": dict(img_size=256, style_dim=64, latent_dim=16, num_domains=2, w_hpf=1),
    "afhq": dict(img_size=256, style_dim=64, latent_dim=16, num_domains=3, w_hpf=0),
}

NETWORK_NAMES = ("generator", "mapping_network", "style_encoder", "discriminator")
_MODULATION_NAMES = {"adain": "AdaIN", "adaconv": "AdaConv"}


def _leaky(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def _adain(style_dim: int, num_features: int) -> nn.Module:
    from ...nn import AdaIN

    return AdaIN(style_dim, num_features)


class ResBlk(nn.Module):
    """Pre-activation residual block: [IN] -> LReLU -> conv -> [pool] -> [IN] -> LReLU -> conv.

    The output is ``(shortcut + residual) / sqrt(2)``; the shortcut is a bias-free 1x1 conv when
    the width changes, then the same average pooling.
    """

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False) -> None:
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _residual(self, x: Tensor) -> Tensor:
        h = self.norm1(x) if self.normalize else x
        h = self.conv1(_leaky(h))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.normalize:
            h = self.norm2(h)
        return self.conv2(_leaky(h))

    def forward(self, x: Tensor) -> Tensor:
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdainResBlk(nn.Module):
    """Decoder block: AdaIN -> LReLU -> [nearest x2] -> conv -> AdaIN -> LReLU -> conv.

    ``norm1`` / ``norm2`` are the style modulations (AdaIN, or AdaConv after
    :func:`adaconv_gen.replace_adain`), called as ``norm(x, s)``. With ``w_hpf > 0`` the residual
    shortcut is dropped (as in the reference code, its ``conv1x1`` is still built, unused, so the
    parameter count matches the released files).
    """

    def __init__(self, dim_in: int, dim_out: int, style_dim: int = 64, w_hpf: float = 0,
                 upsample: bool = False) -> None:
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = _adain(style_dim, dim_in)
        self.norm2 = _adain(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv1x1(x) if self.learned_sc else x

    def _residual(self, x: Tensor, s: Tensor) -> Tensor:
        h = _leaky(self.norm1(x, s))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = _leaky(self.norm2(h, s))
        return self.conv2(h)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        out = self._residual(x, s)
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like high-pass filter divided by ``w_hpf``.

    The filter is a non-persistent buffer: the released CelebA-HQ file does not store it.
    """

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        k = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / w_hpf
        self.register_buffer("filter", k, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        c = x.size(1)
        w = self.filter.to(x.dtype).expand(c, 1, 3, 3)  # (C, 1, 3, 3)
        return F.conv2d(x, w, padding=1, groups=c)


def _first_dim(img_size: int, base_dim: int | None) -> int:
    return base_dim if base_dim is not None else 2 ** 14 // img_size


def _num_levels(img_size: int) -> int:
    n = int(round(math.log2(img_size)))
    if 2 ** n != img_size or n < 4:
        raise ValueError(f"img_size must be a power of two >= 16, got {img_size}")
    return n


class Generator(nn.Module):
    """Encoder-decoder generator; the decoder is modulated by the style code ``s`` (B, style_dim).

    Args:
        img_size: square image size (a power of two).
        style_dim: style code width.
        max_conv_dim: widest feature map.
        w_hpf: weight of the high-pass skip (CelebA-HQ: 1, needs FAN masks; AFHQ: 0).
        base_dim: first width (default ``2**14 // img_size``, as in the reference code).
    """

    def __init__(self, img_size: int = 256, style_dim: int = 64, max_conv_dim: int = 512,
                 w_hpf: float = 1, base_dim: int | None = None) -> None:
        super().__init__()
        dim_in = _first_dim(img_size, base_dim)
        self.img_size = img_size
        self.w_hpf = w_hpf
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(dim_in, 3, 1, 1, 0))
        repeat = _num_levels(img_size) - 4 + (1 if w_hpf > 0 else 0)
        dim_out = dim_in
        for _ in range(repeat):  # down / up levels; the decoder is built stack-like
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):  # bottleneck
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(self, x: Tensor, s: Tensor, masks: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Translate ``x`` (B, 3, H, W) in [-1, 1] to the style ``s``; ``masks`` from the FAN."""
        x = self.from_rgb(x)
        cache = {}
        for block in self.encode:
            if masks is not None and x.size(2) in (32, 64, 128):
                cache[x.size(2)] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            if masks is not None and x.size(2) in (32, 64, 128):
                mask = masks[0] if x.size(2) == 32 else masks[1]
                mask = F.interpolate(mask, size=x.size(2), mode="bilinear")
                x = x + self.hpf(mask * cache[x.size(2)])
        return self.to_rgb(x)


def _pick_domain(out: Tensor, y: Tensor) -> Tensor:
    # out: (B, num_domains, ...) -> (B, ...) at each sample's domain
    return out[torch.arange(y.size(0), device=y.device), y]


class MappingNetwork(nn.Module):
    """Latent ``z`` (B, latent_dim) and domain ``y`` (B,) -> style code (B, style_dim).

    A shared MLP (4 x Linear + ReLU) and one head per domain (3 x Linear + ReLU, then Linear).
    """

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2,
                 hidden_dim: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            head: list[nn.Module] = []
            for _ in range(3):
                head += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            self.unshared.append(nn.Sequential(*head, nn.Linear(hidden_dim, style_dim)))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (B, num_domains, style_dim)
        return _pick_domain(out, y)


def _trunk(img_size: int, max_conv_dim: int, base_dim: int | None) -> tuple[list[nn.Module], int]:
    dim_in = _first_dim(img_size, base_dim)
    blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(_num_levels(img_size) - 2):  # down to 4x4
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


class StyleEncoder(nn.Module):
    """Image ``x`` and domain ``y`` -> style code (B, style_dim): a ResBlk trunk, one head per domain."""

    def __init__(self, img_size: int = 256, style_dim: int = 64, num_domains: int = 2,
                 max_conv_dim: int = 512, base_dim: int | None = None) -> None:
        super().__init__()
        blocks, dim_out = _trunk(img_size, max_conv_dim, base_dim)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.shared(x).flatten(1)  # (B, dim_out)
        out = torch.stack([head(h) for head in self.unshared], dim=1)  # (B, num_domains, style_dim)
        return _pick_domain(out, y)


class Discriminator(nn.Module):
    """Image ``x`` and domain ``y`` -> one real/fake logit per sample (B,), one output per domain."""

    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512,
                 base_dim: int | None = None) -> None:
        super().__init__()
        blocks, dim_out = _trunk(img_size, max_conv_dim, base_dim)
        blocks.append(nn.Conv2d(dim_out, num_domains, 1, 1, 0))
        self.main = nn.Sequential(*blocks)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        out = self.main(x).flatten(1)  # (B, num_domains)
        return _pick_domain(out, y)


class StarGANv2(nn.Module, HubModel):
    """The four StarGAN v2 networks (and, for ``w_hpf > 0``, the FAN) with their build config.

    ``save_pretrained(folder)`` writes the inference networks (generator, mapping network,
    style encoder, and the FAN when present) with a model card; ``StarGANv2.from_pretrained``
    reads a folder or a Hub id; ``push_to_hub("user/name")`` uploads (see
    :mod:`adaconv_gen.models.hub`).

    Attributes:
        generator, mapping_network, style_encoder, discriminator: the networks.
        fan: the face-landmark network (:class:`adaconv_gen.models.stargan_v2.fan.FAN`) or None.
        config: the keyword arguments of :func:`build` that made this object, plus
            ``initialized_from`` when :func:`load_official_checkpoint` loaded the released
            (CC BY-NC 4.0) weights.
    """

    hub_what = "StarGAN v2 model"
    pipeline_tag = "image-to-image"
    INFERENCE_NETWORKS = ("generator", "mapping_network", "style_encoder")

    def __init__(self, generator: Generator, mapping_network: MappingNetwork,
                 style_encoder: StyleEncoder, discriminator: Discriminator | None,
                 config: dict[str, Any]) -> None:
        super().__init__()
        self.generator = generator
        self.mapping_network = mapping_network
        self.style_encoder = style_encoder
        self.discriminator = discriminator
        self.fan: nn.Module | None = None
        self.config = dict(config)
        self.hub_networks: tuple[str, ...] | None = None

    def masks(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """FAN masks of ``x`` when ``w_hpf > 0`` (None otherwise)."""
        if self.config.get("w_hpf", 0) <= 0:
            return None
        if self.fan is None:
            raise UserInputError(
                "w_hpf > 0 needs the FAN face-landmark network (wing.ckpt): pass --wing_weights FILE, "
                "set ADACONV_WING_WEIGHTS, or use --w_hpf 0")
        return self.fan.get_heatmap(x)

    # ------------------------------------------------------------------ Hub format
    def saved_networks(self) -> tuple[str, ...]:
        """What ``save_pretrained`` writes: ``hub_networks`` if set, else the inference
        networks and the FAN when present (so that a ``w_hpf > 0`` model is complete)."""
        names = self.hub_networks or (*self.INFERENCE_NETWORKS, "fan")
        return tuple(n for n in names if getattr(self, n, None) is not None)

    def save_pretrained(self, save_directory, *, networks: tuple[str, ...] | None = None, **kwargs):
        """Write the networks (see :meth:`saved_networks`; ``networks`` chooses others, e.g.
        with ``"discriminator"``), ``config.json`` and the model card; see
        :meth:`adaconv_gen.models.hub.HubModel.save_pretrained` for the other arguments."""
        if networks is not None:
            unknown = sorted(set(networks) - {*NETWORK_NAMES, "fan"})
            if unknown:
                raise ValueError(f"unknown networks {unknown}; valid: {', '.join((*NETWORK_NAMES, 'fan'))}")
            self.hub_networks = tuple(networks)
        return super().save_pretrained(save_directory, **kwargs)

    def hub_config(self) -> dict[str, Any]:
        return {**self.config, "networks": list(self.saved_networks())}

    def hub_state_dict(self) -> dict[str, Tensor]:
        names = self.saved_networks()
        return {f"{n}.{k}": v for n in names for k, v in getattr(self, n).state_dict().items()}

    @classmethod
    def _from_hub_config(cls, config: dict[str, Any], folder) -> StarGANv2:
        cfg = dict(config)
        names = tuple(cfg.pop("networks", cls.INFERENCE_NETWORKS))
        kw = cfg.pop("adaconv_kwargs", None) or {}
        build_keys = ("img_size", "style_dim", "latent_dim", "num_domains", "w_hpf", "max_conv_dim",
                      "base_dim", "modulation", "hidden_dim")
        nets = build(**{k: cfg.pop(k) for k in build_keys if k in cfg},
                     discriminator="discriminator" in names, init=False, **kw)
        nets.config.update(cfg)  # e.g. domain names, initialized_from
        if "fan" in names:
            from .fan import FAN

            nets.fan = FAN().eval()
        nets.hub_networks = names
        return nets

    def card_title(self) -> str:
        mod = self.config.get("modulation", "adain")
        return f"StarGAN v2 with {_MODULATION_NAMES.get(mod, mod)} modulation"

    def card_tags(self) -> list[str]:
        return ["stargan-v2", self.config.get("modulation", "adain"), "image-to-image"]

    def card_usage(self) -> str:
        return ('import torch\n'
                'from adaconv_gen.models.stargan_v2 import StarGANv2\n\n'
                'nets = StarGANv2.from_pretrained("{repo_id}")\n'
                f'x = torch.rand(1, 3, {self.config.get("img_size", 256)}, {self.config.get("img_size", 256)}) * 2 - 1'
                '  # images in [-1, 1]\n'
                'y = torch.tensor([0])  # target domain\n'
                's = nets.mapping_network(torch.randn(1, nets.config["latent_dim"]), y)\n'
                'out = nets.generator(x, s, masks=nets.masks(x))')

    def card_license(self) -> tuple[str, str]:
        why = []
        if self.config.get("initialized_from"):
            why.append(f"its networks were initialised from the official StarGAN v2 weights "
                       f"({self.config['initialized_from']}, CC BY-NC 4.0)")
        if "fan" in self.saved_networks():
            why.append("it holds the FAN face-alignment weights `wing.ckpt` of clovaai/stargan-v2 (CC BY-NC 4.0)")
        if not why:
            return PROJECT_LICENSE, "MIT, the license of adaconv-gen: trained from scratch with it."
        return NON_COMMERCIAL_LICENSE, ("CC BY-NC 4.0 (Creative Commons Attribution-NonCommercial 4.0, "
                                        "non-commercial use only), because " + " and ".join(why) + ". "
                                        "The adaconv-gen code itself is MIT.")


@torch.no_grad()
def he_init(module: nn.Module) -> None:
    """He (Kaiming normal, fan-in, ReLU gain) init of every Conv2d / Linear weight, zero biases.

    Apply it before an AdaIN -> AdaConv swap: AdaConv's own zero-initialised kernel predictors
    must keep the init that makes them compute AdaIN.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _build_adain_generator(cfg: Mapping[str, Any]) -> Generator:
    return Generator(cfg["img_size"], cfg["style_dim"], cfg["max_conv_dim"], cfg["w_hpf"], cfg["base_dim"])


def build(img_size: int = 256, style_dim: int = 64, latent_dim: int = 16, num_domains: int = 2,
          w_hpf: float = 1, max_conv_dim: int = 512, base_dim: int | None = None,
          modulation: str = "adain", *, hidden_dim: int = 512, discriminator: bool = True,
          init: bool = True, device: torch.device | str | None = None, **adaconv_kwargs: Any) -> StarGANv2:
    """Build the StarGAN v2 networks; the defaults mirror the official classes.

    Args:
        img_size: image size (power of two).
        style_dim: style code width.
        latent_dim: latent code width of the mapping network.
        num_domains: number of domains.
        w_hpf: high-pass skip weight (> 0 needs the FAN masks; the recipe defaults to 0).
        max_conv_dim: widest feature map.
        base_dim: first width (default ``2**14 // img_size``); smaller for quick runs.
        modulation: ``"adain"`` (official) or ``"adaconv"`` (AdaIN build, He init, then a
            lossless :func:`adaconv_gen.replace_adain` of the generator).
        hidden_dim: mapping network width (512 officially).
        discriminator: also build the discriminator (not needed for inference).
        init: apply :func:`he_init` (the official training init).
        device: where to allocate (``"meta"`` counts parameters without memory).
        **adaconv_kwargs: passed to :func:`adaconv_gen.replace_adain` (e.g. ``kernel_size``,
            ``groups``, ``style_channels``).

    Returns:
        A :class:`StarGANv2` holding the networks and the config.

    Raises:
        ValueError: unknown ``modulation`` (the valid names are listed), or AdaConv options
            given with ``modulation="adain"``.
    """
    if modulation not in ("adain", "adaconv"):
        raise ValueError(f"unknown modulation {modulation!r}; valid: 'adain', 'adaconv'")
    if modulation == "adain" and adaconv_kwargs:
        raise ValueError(f"AdaConv options {sorted(adaconv_kwargs)} given with modulation='adain'")
    cfg = dict(img_size=img_size, style_dim=style_dim, latent_dim=latent_dim, num_domains=num_domains,
               w_hpf=w_hpf, max_conv_dim=max_conv_dim, base_dim=base_dim, hidden_dim=hidden_dim,
               modulation=modulation, adaconv_kwargs=dict(adaconv_kwargs))
    with torch.device(device) if device is not None else _nullcontext():
        nets = StarGANv2(
            _build_adain_generator(cfg),
            MappingNetwork(latent_dim, style_dim, num_domains, hidden_dim),
            StyleEncoder(img_size, style_dim, num_domains, max_conv_dim, base_dim),
            Discriminator(img_size, num_domains, max_conv_dim, base_dim) if discriminator else None,
            cfg,
        )
        if init:
            he_init(nets)
        if modulation == "adaconv":
            from ...nn import replace_adain

            nets.generator = replace_adain(nets.generator, **adaconv_kwargs)
    return nets


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def copy_for_ema(module: nn.Module) -> nn.Module:
    """A frozen deep copy of a network, for the exponential moving average."""
    ema = copy.deepcopy(module)
    ema.requires_grad_(False)
    return ema.eval()

