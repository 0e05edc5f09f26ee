"""A compact StyleGAN2-style generator whose modulation is ``modconv``, ``adain`` or ``adaconv``.

The AdaConv paper (Chandran et al., *Adaptive Convolutions for Structure-Aware Style
Transfer*, CVPR 2021, section 4.2) trains StyleGAN2 with every modulated/demodulated conv
replaced by AdaConv followed by a standard conv, then bias and noise; a per-block descriptor
``W`` (``s_d = 128``, 3x3 kernels) is predicted from ``w`` by an MLP. This module builds that
generator beside the StyleGAN2 baseline (``modconv``) and StyleGAN v1 (``adain``):

* mapping network: PixelNorm, ``n_mlp`` equalized linear layers with a learning-rate
  multiplier (0.01), and a tracked ``w_avg`` for truncation;
* synthesis: a learned 4x4 constant, two styled 3x3 layers per resolution (noise, bias,
  activation), toRGB skip connections, equalized learning rate throughout.

``build(img_size, style_dim=512, n_mlp=8, channels=512, modulation="adaconv")`` is the front
door; :meth:`Generator.save_pretrained` / :meth:`Generator.from_pretrained` /
``push_to_hub`` write and read the Hub format of :mod:`adaconv_gen.models.hub` (``config.json``
+ ``model.safetensors`` + model card; a folder or a Hub id). The discriminator is in
:mod:`adaconv_gen.models.stylegan.discriminator`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import UserInputError
from ...nn.equalized import EqualLinear
from ..hub import HubModel
from .discriminator import Discriminator, channel_widths
from .layers import STYLEGAN_MODULATIONS, StyledConv, ToRGB

__all__ = ["PixelNorm", "MappingNetwork", "SynthesisNetwork", "Generator", "Discriminator", "build",
           "channel_widths", "STYLEGAN_MODULATIONS"]



class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square over dim 1 (StyleGAN's input norm)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class MappingNetwork(nn.Module):
    """``z -> w``: PixelNorm then ``n_mlp`` equalized linear + leaky ReLU layers.

    Args:
        z_dim: latent size.
        w_dim: output (style) size.
        n_mlp: number of layers.
        lr_mul: learning-rate multiplier of every layer (StyleGAN: 0.01).
        w_avg_beta: decay of the tracked average ``w`` (used for truncation).
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, n_mlp: int = 8, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        dims = [z_dim] + [w_dim] * n_mlp
        self.net = nn.Sequential(PixelNorm(), *[
            EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation="lrelu") for i in range(n_mlp)])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, truncation_psi: float = 1.0, update_w_avg: bool = False) -> Tensor:
        w = self.net(z)  # (B, w_dim)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
        if truncation_psi != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, truncation_psi)
        return w


class SynthesisNetwork(nn.Module):
    """``ws -> image``: learned 4x4 constant, two styled layers per resolution, toRGB skips.

    ``ws`` is ``(B, w_dim)`` (one style for all layers) or ``(B, num_ws, w_dim)`` (per layer,
    for style mixing). Layer ``i`` of resolution block ``r`` uses ``ws[:, 2r + i]``; the block's
    toRGB uses ``ws[:, 2r + 2]`` (the next block's first index, as in StyleGAN2).
    """

    def __init__(self, img_size: int, w_dim: int = 512, channels: int = 512,
                 modulation: str = "modconv", **adaconv_kwargs) -> None:
        super().__init__()
        widths = channel_widths(img_size, channels)
        self.img_size, self.w_dim, self.modulation = img_size, w_dim, modulation
        self.resolutions = sorted(widths)
        self.const = nn.Parameter(torch.randn(1, widths[4], 4, 4))
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        c_prev = widths[4]
        for res in self.resolutions:
            c = widths[res]
            self.convs.append(StyledConv(c_prev, c, w_dim, res, modulation, upsample=res > 4, **adaconv_kwargs))
            self.convs.append(StyledConv(c, c, w_dim, res, modulation, **adaconv_kwargs))
            self.to_rgbs.append(ToRGB(c, w_dim, modulated=modulation != "adain"))
            c_prev = c
        self.num_ws = len(self.convs) + 1

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        if ws.dim() == 2:
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}) or (B, {self.w_dim}), "
                             f"got {tuple(ws.shape)}")
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        rgb = None
        for r, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * r](x, ws[:, 2 * r], noise_mode)
            x = self.convs[2 * r + 1](x, ws[:, 2 * r + 1], noise_mode)
            y = to_rgb(x, ws[:, 2 * r + 2])
            rgb = y if rgb is None else y + F.interpolate(rgb, scale_factor=2, mode="bilinear",
                                                          align_corners=False)
        return rgb


class Generator(nn.Module, HubModel):
    """Mapping + synthesis; ``G(z) -> (B, 3, img_size, img_size)`` images in about [-1, 1].

    Args:
        img_size: output size, a power of two >= 4.
        style_dim: size of ``z`` and ``w``.
        n_mlp: mapping layers.
        channels: base width (widest layers; halves per resolution above 32 px).
        modulation: ``"modconv"`` (StyleGAN2), ``"adain"`` (StyleGAN v1), ``"adaconv"`` (paper).
        lr_mlp: mapping learning-rate multiplier.
        adaconv_kwargs: for ``"adaconv"``, passed to :class:`adaconv_gen.AdaConv`
            (``style_channels`` = s_d, default 128; ``kernel_size``, default 3; ``groups``).

    Raises:
        UserInputError: ``img_size`` not a power of two, or an unknown ``modulation``.
    """

    def __init__(self, img_size: int, style_dim: int = 512, n_mlp: int = 8, channels: int = 512,
                 modulation: str = "adaconv", lr_mlp: float = 0.01, **adaconv_kwargs) -> None:
        super().__init__()
        _check_config(img_size, modulation, channels)
        if adaconv_kwargs and modulation != "adaconv":
            raise UserInputError(f"{sorted(adaconv_kwargs)} only apply to modulation='adaconv', "
                                 f"not {modulation!r}")
        self.config: dict[str, Any] = {"img_size": img_size, "style_dim": style_dim, "n_mlp": n_mlp,
                                       "channels": channels, "modulation": modulation,
                                       "lr_mlp": lr_mlp, **adaconv_kwargs}
        self.img_size, self.style_dim = img_size, style_dim
        self.mapping = MappingNetwork(style_dim, style_dim, n_mlp, lr_mul=lr_mlp)
        self.synthesis = SynthesisNetwork(img_size, style_dim, channels, modulation, **adaconv_kwargs)
        self.num_ws = self.synthesis.num_ws

    def forward(self, z: Tensor, truncation_psi: float = 1.0, noise_mode: str = "random", *,
                z2: Tensor | None = None, mixing_cutoff: int | None = None,
                update_w_avg: bool = False, return_ws: bool = False):
        """Generate images from latents ``z`` (B, style_dim).

        Args:
            z: latents.
            truncation_psi: 1 = no truncation; < 1 pulls ``w`` toward the tracked ``w_avg``.
            noise_mode: ``"random"``, ``"const"`` (reproducible) or ``"none"``.
            z2: second latents for style mixing; layers ``>= mixing_cutoff`` use ``w(z2)``.
            mixing_cutoff: first per-layer index that takes the second style.
            update_w_avg: update the tracked ``w_avg`` (training).
            return_ws: also return the per-layer styles ``ws`` (B, num_ws, style_dim).

        Returns:
            images ``(B, 3, img_size, img_size)``, or ``(images, ws)``.
        """
        w = self.mapping(z, truncation_psi, update_w_avg)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)  # (B, num_ws, w_dim)
        if z2 is not None and mixing_cutoff is not None and mixing_cutoff < self.num_ws:
            w2 = self.mapping(z2, truncation_psi, update_w_avg=False)
            keep = torch.arange(self.num_ws, device=w.device).reshape(1, -1, 1) < mixing_cutoff
            ws = torch.where(keep, ws, w2.unsqueeze(1))
        img = self.synthesis(ws, noise_mode)
        return (img, ws) if return_ws else img

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, truncation_psi: float = 1.0,
               noise_mode: str = "const", batch_size: int = 16) -> Tensor:
        """``n`` images from the fixed latents of ``seed`` (reproducible), in [-1, 1]."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=g)
        dev = self.synthesis.const.device
        out = [self(zb.to(dev), truncation_psi, noise_mode) for zb in z.split(batch_size)]
        return torch.cat(out).clamp(-1, 1)

    # ------------------------------------------------------------------ Hub format
    hub_what = "StyleGAN generator"
    pipeline_tag = "unconditional-image-generation"

    def hub_config(self) -> dict[str, Any]:
        return dict(self.config)

    @classmethod
    def _from_hub_config(cls, config: dict[str, Any], folder: Path) -> Generator:
        cfg = dict(config)
        cfg.pop("architecture", None)  # written by the first format
        return cls(**cfg)

    def card_title(self) -> str:
        names = {"adaconv": "AdaConv", "modconv": "modulated convolutions (StyleGAN2)", "adain": "AdaIN (StyleGAN v1)"}
        mod = self.config["modulation"]
        return f"StyleGAN-style generator with {names.get(mod, mod)}, {self.img_size} px"

    def card_tags(self) -> list[str]:
        return ["stylegan", self.config["modulation"], "unconditional-image-generation"]

    def card_usage(self) -> str:
        return ('from adaconv_gen.models.stylegan import Generator\n\n'
                'G = Generator.from_pretrained("{repo_id}")\n'
                'images = G.sample(16, seed=0, truncation_psi=0.7)  # (16, 3, H, W) in [-1, 1]\n'
                '# or: adaconv-stylegan-sample --model {repo_id} ...')


def _check_config(img_size: int, modulation: str, channels: int) -> None:
    if img_size < 4 or 2 ** int(math.log2(img_size)) != img_size:
        raise UserInputError(f"img_size must be a power of two >= 4, got {img_size}")
    if modulation not in STYLEGAN_MODULATIONS:
        raise UserInputError(f"unknown modulation {modulation!r}; valid: {', '.join(STYLEGAN_MODULATIONS)}")
    if channels < 1:
        raise UserInputError(f"channels must be positive, got {channels}")


def build(img_size: int, style_dim: int = 512, n_mlp: int = 8, channels: int = 512,
          modulation: str = "adaconv", **kwargs) -> Generator:
    """Build the generator (see :class:`Generator` for the arguments).

    The matching discriminator is ``Discriminator(img_size, channels)``.
    """
    return Generator(img_size, style_dim=style_dim, n_mlp=n_mlp, channels=channels,
                     modulation=modulation, **kwargs)
