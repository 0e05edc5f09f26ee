"""Arbitrary style transfer with Adaptive Convolutions, and the AdaIN baseline in the same API.

* :class:`AdaConvStyleTransfer`: Chandran et al., *Adaptive Convolutions for Structure-Aware
  Style Transfer*, CVPR 2021, section 3.2. A frozen VGG-19 (relu4_1) encodes content and
  style; the style encoder ``E_S`` (3 x [3x3 conv, avg pool /2, LeakyReLU], then one fully
  connected layer) turns the style features into a global descriptor ``W`` of shape
  ``(s_d, s_h, s_w)``; four kernel predictors turn ``W`` into per-sample depthwise-separable
  kernels for the four decoder levels (``c_in`` 512/256/128/64, groups 512/128/32/8); each
  decoder level is an AdaConv block followed by standard convolutions, then x2 upsampling.
* :class:`AdaINStyleTransfer`: Huang & Belongie, *Arbitrary Style Transfer in Real-time with
  Adaptive Instance Normalization*, ICCV 2017: encoder, AdaIN at relu4_1, the same decoder
  convolutions (without the AdaConv blocks).

Both take and return images in ``[-1, 1]`` and share: a content image of any size (padded to
what the network needs and cropped back, so the output has the content's exact size),
:meth:`~StyleTransferModel.encode_style` giving a style descriptor, descriptor interpolation
between several styles, a style strength ``alpha`` that blends the style's descriptor with the
content image's own descriptor (0 reproduces the content's own style, 1 the given style), and
``save_pretrained(dir)`` / ``from_pretrained(dir or "user/name")`` / ``push_to_hub`` (the Hub
format of :mod:`adaconv_gen.models.hub`: ``config.json`` + ``model.safetensors`` + model card,
encoder included, so a saved model needs no VGG file).

The choices docs/paper.md marks *open* are constructor options (defaults in brackets): convs per
decoder level [(1, 4, 2, 2), mirroring the AdaIN decoder], upsampling ["nearest"], padding
["reflect"], output activation ["none"]; style size mode ["any": adaptive pooling before the
FC layer; "paper": the style is resized to 256x256 as published].
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.adaconv2d import AdaConv2d
from ..nn.kernel_predictor import KernelPredictor
from .hub import HubModel
from .vgg import VGGEncoder

__all__ = [
    "StyleTransferModel",
    "AdaConvStyleTransfer",
    "AdaINStyleTransfer",
    "StyleEncoder",
    "create_style_transfer_model",
    "load_style_transfer_model",
]

PAPER_STYLE_SIZE = 256
STYLE_SIZE_MODES = ("any", "paper")
OUTPUT_ACTIVATIONS = ("none", "tanh")
UPSAMPLE_MODES = ("nearest", "bilinear")


def _interp(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def adaptive_avg_pool2d(x: torch.Tensor, size: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, size)``, as window sums over 0/1 matrices built from ``x``'s shape.

    Equal to torch's op to float round-off (window ``i`` of a side ``n`` is
    ``[floor(i n / size), ceil((i + 1) n / size))``), and it exports to ONNX for every input
    size, where torch's op is exported for the example's size only. Written with a matrix
    product over the last axis and a broadcast sum over the other (small once pooled): the
    forms that trace without checks on the sizes.
    """
    def windows(n):  # (size, n) 0/1 membership, (size,) window sizes
        i = torch.arange(size, device=x.device)
        start, end = (i * n) // size, ((i + 1) * n + size - 1) // size
        j = torch.arange(n, device=x.device)
        member = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
        return member.to(x.dtype), member.sum(1).to(x.dtype)
    mh, nh = windows(x.shape[-2])
    mw, nw = windows(x.shape[-1])
    cols = torch.matmul(x, mw.t())  # (B, C, H, size)
    sums = (mh[:, :, None] * cols[:, :, None]).sum(-2)  # (B, C, size, H, size) -> (B, C, size, size)
    return sums / (nh[:, None] * nw[None, :])


def avg_pool2d_ceil(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2, ceil_mode=True)``: an odd side's last window averages what it holds.

    Computed as window sums of ``x`` zero-padded to even sides (the same sums, in the same
    order, so the result is torch's to the bit), divided by each window's count: this exports
    to ONNX for every size, without the output-size guards of ceil-mode pooling.
    """
    h, w = x.shape[-2:]
    sums = F.avg_pool2d(F.pad(x, (0, w % 2, 0, h % 2)), 2) * 4  # x4 undoes /4 exactly

    def counts(n):  # (ceil(n / 2),): 2, ..., 2, and 1 last when n is odd
        i = torch.arange((n + 1) // 2, device=x.device)
        return 2 - (2 * i + 2 > n).to(x.dtype)
    return sums / (counts(h)[:, None] * counts(w)[None, :])


def _pad_indices(n, padded, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices of ``padded`` positions over a side of ``n``: reflect (negative where
    reflecting runs off the side) and replicate."""
    i = torch.arange(padded, device=device)
    reflect = torch.where(i < n, i, 2 * (n - 1) - i)
    replicate = i - (i - (n - 1)).clamp(min=0)
    return reflect, replicate


class StyleEncoder(nn.Module):
    """``E_S``: style features -> global descriptor ``W`` of shape ``(s_d, s_h, s_w)``.

    ``num_blocks`` x (3x3 conv, average pool /2, LeakyReLU(0.2)), then one fully connected
    layer from ``hidden x pooled x pooled`` to ``s_d x s_h x s_w``. In ``"paper"`` mode the
    input must be ``pooled * 2**num_blocks`` wide (32 for a 256x256 style); in ``"any"`` mode
    the pools round up and an adaptive average pool to ``pooled x pooled`` precedes the FC
    layer, so any style size works (at 256x256 both modes compute the same thing).

    Args:
        in_channels: channels of the style features (512 for VGG relu4_1).
        hidden_channels: width of the conv blocks (paper: 512).
        style_channels: ``s_d`` (paper: 512 for style transfer).
        style_size: ``s_h = s_w`` (3 in every port).
        num_blocks: conv blocks (paper: 3).
        pooled_size: spatial size before the FC layer (paper: 4).
        mode: "any" or "paper".
    """

    def __init__(self, in_channels: int = 512, hidden_channels: int = 512, style_channels: int = 512,
                 style_size: int = 3, num_blocks: int = 3, pooled_size: int = 4, mode: str = "any") -> None:
        super().__init__()
        if mode not in STYLE_SIZE_MODES:
            raise ValueError(f"style size mode must be one of {STYLE_SIZE_MODES}, got {mode!r}")
        self.mode, self.style_channels, self.style_size = mode, style_channels, style_size
        self.pooled_size, self.num_blocks = pooled_size, num_blocks
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_blocks):
            layers += [nn.Conv2d(c, hidden_channels, 3, padding=1),
                       nn.AvgPool2d(2, ceil_mode=(mode == "any")),
                       nn.LeakyReLU(0.2)]
            c = hidden_channels
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(hidden_channels * pooled_size * pooled_size, style_channels * style_size * style_size)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, h, w)`` -> ``(B, s_d, s_h, s_w)``."""
        need = self.pooled_size << self.num_blocks
        if self.mode == "paper" and tuple(feat.shape[-2:]) != (need, need):
            raise ValueError(f"paper mode needs {need}x{need} style features (a 256x256 style), "
                             f"got {tuple(feat.shape[-2:])}")
        if self.mode == "paper":
            h = self.blocks(feat)  # (B, hidden, pooled, pooled)
        else:  # the same blocks, with pooling that follows any input size (and exports so)
            h = feat
            for layer in self.blocks:
                h = avg_pool2d_ceil(h) if isinstance(layer, nn.AvgPool2d) else layer(h)
            # (B, hidden, ceil(h / 2**num_blocks), ceil(w / 2**num_blocks))
            h = adaptive_avg_pool2d(h, self.pooled_size)  # (B, hidden, pooled, pooled)
        w = self.fc(h.flatten(1))  # (B, s_d * s_h * s_w)
        return w.view(-1, self.style_channels, self.style_size, self.style_size)


def _decoder_levels(channels: Sequence[int], convs_per_level: Sequence[int],
                    padding_mode: str) -> nn.ModuleList:
    """Standard convs per level: the first ``n-1`` keep the width, the last goes to the next
    level's width (3 at the last level, without ReLU)."""
    levels = nn.ModuleList()
    for i, (c, n) in enumerate(zip(channels, convs_per_level, strict=True)):
        last = i == len(channels) - 1
        c_next = 3 if last else channels[i + 1]
        layers: list[nn.Module] = []
        for j in range(n):
            cout = c_next if j == n - 1 else c
            layers.append(nn.Conv2d(c, cout, 3, padding=1, padding_mode=padding_mode))
            if not (last and j == n - 1):
                layers.append(nn.ReLU())
        levels.append(nn.Sequential(*layers))
    return levels


class StyleTransferModel(nn.Module, HubModel):
    """What AdaConv and AdaIN style transfer share: encoder, decoder convs, sizes, I/O.

    Subclasses define :meth:`descriptor_from_features` and :meth:`decode`.
    """

    model_type = "base"
    hub_what = "style-transfer model"
    pipeline_tag = "image-to-image"

    def __init__(self, *, vgg_weights: str | os.PathLike | None = None,
                 channels: Sequence[int] = (512, 256, 128, 64),
                 convs_per_level: Sequence[int] = (1, 4, 2, 2), upsample: str = "nearest",
                 padding_mode: str = "reflect", output_activation: str = "none") -> None:
        super().__init__()
        if len(channels) != len(convs_per_level) or min(convs_per_level) < 1:
            raise ValueError("channels and convs_per_level need one entry per level, convs >= 1")
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}, got {output_activation!r}")
        self.encoder = VGGEncoder(vgg_weights)
        if channels[0] != self.encoder.out_channels:
            raise ValueError(f"channels[0] must be the encoder's {self.encoder.out_channels}, got {channels[0]}")
        if 2 ** (len(channels) - 1) != self.encoder.downsample:
            raise ValueError(f"{len(channels)} levels do not undo the encoder's /{self.encoder.downsample}")
        self.upsample_mode = upsample
        self.output_activation = output_activation
        self.levels = _decoder_levels(channels, convs_per_level, padding_mode)
        self.config = {"channels": list(channels), "convs_per_level": list(convs_per_level),
                       "upsample": upsample, "padding_mode": padding_mode,
                       "output_activation": output_activation}

    # ----------------------------------------------------------------- pieces
    def descriptor_from_features(self, feat: torch.Tensor) -> torch.Tensor:
        """relu4_1 features -> style descriptor (one tensor per sample)."""
        raise NotImplementedError

    def decode(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """relu4_1 content features + descriptor -> image (at 8x the feature size)."""
        raise NotImplementedError

    def content_target(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """The relu4_1 target of the content loss (default: the content's own features)."""
        return feat

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_mode == "nearest":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) if self.output_activation == "tanh" else x

    def _style_input(self, style: torch.Tensor) -> torch.Tensor:
        """The style image as the descriptor network needs it (identity unless paper mode)."""
        if style.shape[-2] < 8 or style.shape[-1] < 8:
            raise ValueError(f"style images must be at least 8 px, got {tuple(style.shape[-2:])}")
        return style

    # ----------------------------------------------------------------- sizes
    @staticmethod
    def padded_size(h: int, w: int, multiple: int = 8, minimum: int = 16) -> tuple[int, int]:
        """The size a content image is padded to: a multiple of 8, at least 16.

        ``torch.sym_max`` rather than ``max``: with symbolic sizes (ONNX export) it stays a
        formula of the input's shape instead of the example's value.
        """
        def up(n):
            return torch.sym_max(minimum, (n + multiple - 1) // multiple * multiple)
        return up(h), up(w)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Pad bottom/right to :meth:`padded_size`: reflect, or replicate where reflecting
        cannot fill the padding (a side of 8 px or less).

        Written without Python branches on the size (index gathering, the mode chosen by a
        tensor condition), so an exported graph pads every input size as eager mode does.
        """
        h, w = x.shape[-2:]
        ph, pw = self.padded_size(h, w)
        rh, ch = _pad_indices(h, ph, x.device)  # (ph,) reflect and replicate row indices
        rw, cw = _pad_indices(w, pw, x.device)
        reflect = (rh.min() >= 0) & (rw.min() >= 0)  # reflect only where both sides can
        rows, cols = torch.where(reflect, rh, ch), torch.where(reflect, rw, cw)
        return x.index_select(-2, rows).index_select(-1, cols), (h, w)

    # ----------------------------------------------------------------- public API
    @torch.no_grad()
    def encode_style(self, style: torch.Tensor) -> torch.Tensor:
        """Style images ``(B, 3, H, W)`` in [-1, 1] -> descriptors (no gradient)."""
        return self.descriptor_from_features(self.encoder(self._style_input(style)))

    def _encode_style_grad(self, style: torch.Tensor) -> torch.Tensor:
        return self.descriptor_from_features(self.encoder(self._style_input(style)))

    @staticmethod
    def mix_descriptors(descriptors: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
        """Style interpolation: ``sum_i w_i D_i / sum_i w_i`` (equal weights by default).

        Raises:
            ValueError: empty list, wrong number of weights, or weights summing to 0.
        """
        if not descriptors:
            raise ValueError("no descriptors to mix")
        if weights is None:
            weights = [1.0] * len(descriptors)
        if len(weights) != len(descriptors):
            raise ValueError(f"{len(weights)} weights for {len(descriptors)} styles")
        total = float(sum(weights))
        if total == 0:
            raise ValueError("style weights sum to 0")
        out = descriptors[0] * (weights[0] / total)
        for d, wt in zip(descriptors[1:], weights[1:]):
            out = out + d * (wt / total)
        return out

    def stylize(self, content: torch.Tensor, style: torch.Tensor | None = None, *,
                descriptor: torch.Tensor | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Stylise content images of any size; the output has the content's exact size.

        Args:
            content: ``(B, 3, H, W)`` in [-1, 1].
            style: ``(B or 1, 3, H', W')`` in [-1, 1]; or give ``descriptor``.
            descriptor: a (possibly mixed) descriptor from :meth:`encode_style`.
            alpha: style strength; ``descriptor <- alpha * style + (1 - alpha) * content's own``.

        Returns:
            ``(B, 3, H, W)`` stylised images.
        """
        if (style is None) == (descriptor is None):
            raise ValueError("give exactly one of style and descriptor")
        x, (h, w) = self._pad(content)
        feat = self.encoder(x)
        d = self._encode_style_grad(style) if descriptor is None else descriptor
        if d.shape[0] == 1 and feat.shape[0] > 1:
            d = d.expand(feat.shape[0], *d.shape[1:])
        if alpha != 1.0:
            own = self.descriptor_from_features(self.encoder(self._style_input(content)))
            d = alpha * d + (1.0 - alpha) * own
        return self.decode(feat, d)[..., :h, :w]

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, *,
                train_outputs: bool = False):
        """:meth:`stylize` with style images, or with ``train_outputs=True`` the dict of
        :meth:`training_outputs` (through ``forward`` so that DDP wrappers see the call)."""
        if train_outputs:
            return self.training_outputs(content, style)
        return self.stylize(content, style, alpha=alpha)

    def training_outputs(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, object]:
        """One training forward pass: everything the losses need.

        Returns:
            dict with ``output`` (images), ``output_feats`` and ``style_feats`` (encoder taps),
            ``content_target`` (relu4_1).
        """
        x, (h, w) = self._pad(content)
        feat = self.encoder(x)
        style_feats = self.encoder(style, taps=True)
        sin = self._style_input(style)
        d = self.descriptor_from_features(style_feats[-1] if sin is style else self.encoder(sin))
        out = self.decode(feat, d)  # at the padded size: the losses see the same pixels as feat
        return {"output": out[..., :h, :w], "output_feats": self.encoder(out, taps=True),
                "style_feats": style_feats, "content_target": self.content_target(feat, d),
                "descriptor": d}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Everything except the frozen encoder."""
        return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]

    # ----------------------------------------------------------------- files
    def get_config(self) -> dict:
        """Constructor arguments (without the weights source) plus ``model_type``."""
        return {"model_type": self.model_type, **self.config}

    def hub_config(self) -> dict:
        """:meth:`get_config` plus ``encoder_weights``: ``"random"`` for a random VGG-19 encoder
        (a pipeline check), else ``"vgg19"`` (the file's path is not stored)."""
        random = self.encoder.weights_source == "random"
        return {**self.get_config(), "encoder_weights": "random" if random else "vgg19"}

    @classmethod
    def _from_hub_config(cls, config: dict, folder: Path) -> StyleTransferModel:
        cfg = dict(config)
        kind = cfg.pop("model_type")
        encoder_weights = cfg.pop("encoder_weights", None)
        if cls.model_type != "base" and kind != cls.model_type:
            raise ValueError(f"model_type {kind!r}, not {cls.model_type!r} "
                             "(StyleTransferModel.from_pretrained loads either)")
        model = create_style_transfer_model(kind, vgg_weights="none", **cfg)
        model.encoder.weights_source = "random" if encoder_weights == "random" else "from_pretrained"
        if encoder_weights == "random":
            warnings.warn(f"{str(folder)!r} was trained with a random VGG-19 encoder (--vgg_weights random): "
                          "its outputs are a pipeline check, not a quality result", stacklevel=2)
        return model

    def card_title(self) -> str:
        title = {"adaconv": "AdaConv style transfer (Chandran et al., CVPR 2021)",
                 "adain": "AdaIN style transfer (Huang & Belongie, ICCV 2017)"}.get(self.model_type, "Style transfer")
        if self.encoder.weights_source == "random":
            title += ", a pipeline check (random VGG-19 encoder, not a quality result)"
        return title

    def card_tags(self) -> list[str]:
        return ["style-transfer", self.model_type, "image-to-image"]

    def card_usage(self) -> str:
        return ('from adaconv_gen.models.style_transfer import StyleTransferModel\n\n'
                'model = StyleTransferModel.from_pretrained("{repo_id}")\n'
                'out = model.stylize(content, style)  # (B, 3, H, W) images in [-1, 1]\n'
                '# or: adaconv-stylize --model {repo_id} ...')


class AdaConvStyleTransfer(StyleTransferModel):
    """AdaConv style transfer (Chandran et al. 2021, section 3.2). Defaults are the paper's.

    Args:
        vgg_weights: VGG-19 file, None to resolve it, "random" or "none" (see :class:`VGGEncoder`).
        channels: decoder widths per level = kernel predictors' ``c_in`` (paper: 512, 256,
            128, 64); the first must be 512 (VGG relu4_1).
        groups: ``n_g`` per level (paper: 512, 128, 32, 8); default ``c_in // (1, 2, 4, 8)``.
        style_channels: ``s_d`` (paper: 512).
        style_size: ``s_h = s_w`` of the descriptor (3).
        style_hidden: width of ``E_S``'s conv blocks (paper: 512).
        kernel_size: predicted spatial kernel size (paper: 3).
        style_size_mode: "any" (adaptive pooling before the FC, default) or "paper" (the style
            is resized to 256x256 first, as published).
        convs_per_level, upsample, padding_mode, output_activation: the decoder's open choices.
    """

    model_type = "adaconv"

    def __init__(self, *, vgg_weights: str | os.PathLike | None = None,
                 channels: Sequence[int] = (512, 256, 128, 64), groups: Sequence[int] | None = None,
                 style_channels: int = 512, style_size: int = 3, style_hidden: int = 512,
                 kernel_size: int = 3, style_size_mode: str = "any",
                 convs_per_level: Sequence[int] = (1, 4, 2, 2), upsample: str = "nearest",
                 padding_mode: str = "reflect", output_activation: str = "none") -> None:
        super().__init__(vgg_weights=vgg_weights, channels=channels, convs_per_level=convs_per_level,
                         upsample=upsample, padding_mode=padding_mode, output_activation=output_activation)
        if groups is None:
            groups = [max(1, c // (2 ** i)) for i, c in enumerate(channels)]
        if len(groups) != len(channels) or any(c % g for c, g in zip(channels, groups)):
            raise ValueError(f"groups {list(groups)} must divide channels {list(channels)}")
        self.style_size_mode = style_size_mode
        self.style_encoder = StyleEncoder(self.encoder.out_channels, style_hidden, style_channels,
                                          style_size, mode=style_size_mode)
        self.predictors = nn.ModuleList(
            KernelPredictor(style_channels, c, c, kernel_size=kernel_size, groups=g, style_size=style_size)
            for c, g in zip(channels, groups))
        self.adaconvs = nn.ModuleList(
            AdaConv2d(c, c, kernel_size=kernel_size, groups=g, padding_mode=padding_mode)
            for c, g in zip(channels, groups))
        self.config.update(groups=list(groups), style_channels=style_channels, style_size=style_size,
                           style_hidden=style_hidden, kernel_size=kernel_size,
                           style_size_mode=style_size_mode)

    def _style_input(self, style: torch.Tensor) -> torch.Tensor:
        style = super()._style_input(style)
        if self.style_size_mode == "paper" and tuple(style.shape[-2:]) != (PAPER_STYLE_SIZE,) * 2:
            return _interp(style, (PAPER_STYLE_SIZE, PAPER_STYLE_SIZE))
        return style

    def descriptor_from_features(self, feat: torch.Tensor) -> torch.Tensor:
        """relu4_1 style features -> ``W`` ``(B, s_d, s_h, s_w)``."""
        return self.style_encoder(feat)

    def decode(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """Per level: AdaConv with kernels predicted from ``W``, standard convs, x2 upsampling."""
        x = feat
        n = len(self.levels)
        for i, (pred, ada, convs) in enumerate(zip(self.predictors, self.adaconvs, self.levels)):
            spatial, pointwise, bias = pred(descriptor)
            x = convs(ada(x, spatial, pointwise, bias))
            if i < n - 1:
                x = self._upsample(x)
        return self._finish(x)


class AdaINStyleTransfer(StyleTransferModel):
    """The AdaIN baseline (Huang & Belongie 2017) in the same API.

    The descriptor is the relu4_1 channel mean and std, ``(B, 2, 512)``; mixing and ``alpha``
    act on it (``alpha = 0`` gives ``AdaIN(c, c) = c``).

    Args:
        vgg_weights: as for :class:`AdaConvStyleTransfer`.
        content_target: "adain" (Huang's loss: relu4_1 of the output vs the AdaIN output ``t``)
            or "content" (vs the content image's relu4_1, as the AdaConv model uses).
        eps: variance epsilon of AdaIN.
        channels, convs_per_level, upsample, padding_mode, output_activation: the decoder
            (defaults: Huang's decoder).
    """

    model_type = "adain"

    def __init__(self, *, vgg_weights: str | os.PathLike | None = None,
                 channels: Sequence[int] = (512, 256, 128, 64), content_target: str = "adain",
                 eps: float = 1e-5, convs_per_level: Sequence[int] = (1, 4, 2, 2),
                 upsample: str = "nearest", padding_mode: str = "reflect",
                 output_activation: str = "none") -> None:
        super().__init__(vgg_weights=vgg_weights, channels=channels, convs_per_level=convs_per_level,
                         upsample=upsample, padding_mode=padding_mode, output_activation=output_activation)
        if content_target not in ("adain", "content"):
            raise ValueError(f"content_target must be 'adain' or 'content', got {content_target!r}")
        self.content_target_mode = content_target
        self.eps = eps
        self.config.update(content_target=content_target, eps=eps)

    def descriptor_from_features(self, feat: torch.Tensor) -> torch.Tensor:
        """relu4_1 features -> ``(B, 2, C)``: channel means and stds over space."""
        flat = feat.flatten(2)
        mean = flat.mean(2)
        std = (flat.var(2, unbiased=False) + self.eps).sqrt()
        return torch.stack([mean, std], dim=1)

    def adain(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """``std_s * (x - mean_x) / std_x + mean_s``."""
        own = self.descriptor_from_features(feat)
        m, s = own[:, 0, :, None, None], own[:, 1, :, None, None]
        return descriptor[:, 1, :, None, None] * (feat - m) / s + descriptor[:, 0, :, None, None]

    def decode(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """AdaIN at relu4_1, then the decoder levels with x2 upsampling between them."""
        x = self.adain(feat, descriptor)
        n = len(self.levels)
        for i, convs in enumerate(self.levels):
            x = convs(x)
            if i < n - 1:
                x = self._upsample(x)
        return self._finish(x)

    def content_target(self, feat: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """Huang's ``t = AdaIN(f(c), f(s))`` (detached), or the content features."""
        return self.adain(feat, descriptor).detach() if self.content_target_mode == "adain" else feat


_MODELS = {"adaconv": AdaConvStyleTransfer, "adain": AdaINStyleTransfer}


def create_style_transfer_model(name: str, **kwargs) -> StyleTransferModel:
    """Build ``"adaconv"`` or ``"adain"`` with constructor ``kwargs``.

    Raises:
        ValueError: unknown name (the valid ones are listed).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown style-transfer model {name!r}; valid: {', '.join(_MODELS)}")
    return _MODELS[name](**kwargs)


def load_style_transfer_model(directory: str | os.PathLike,
                              map_location: str | torch.device = "cpu") -> StyleTransferModel:
    """``StyleTransferModel.from_pretrained(directory)``: a folder or a Hub id, AdaConv or AdaIN
    as its ``config.json`` says.

    Raises:
        UserInputError: the folder, a file, or the config is missing or unreadable (named).
    """
    return StyleTransferModel.from_pretrained(directory, map_location=map_location)
