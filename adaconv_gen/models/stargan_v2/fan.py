"""FAN face-landmark network used by StarGAN v2 (Choi et al., CVPR 2020) for its high-pass skip.

A single-stack hourglass with CoordConv input layers (Bulat & Tzimiropoulos, *How far are we
from solving the 2D & 3D Face Alignment problem?*, ICCV 2017; Wang et al., *Adaptive Wing
Loss*, ICCV 2019), predicting 98 landmark heatmaps. StarGAN v2 turns the heatmaps into two soft
face masks (whole face, and face without jaw line and mouth) that gate the high-pass features
injected into the generator's decoder when ``w_hpf > 0``.

Written from the behaviour of clovaai/stargan-v2 ``core/wing.py`` (CC BY-NC 4.0; no code used);
the ``state_dict`` keys equal the official ones so ``wing.ckpt`` loads. The pretrained file is
found through :func:`adaconv_gen.weights.resolve` (registry name ``"wing"``).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import UserInputError

__all__ = ["FAN", "ConvBlock", "HourGlass", "CoordConv", "heatmaps_to_masks", "load_fan"]


class CoordConv(nn.Module):
    """Conv over the input concatenated with (row, column, radius) coordinate channels in [-1, 1]."""

    def __init__(self, height: int, width: int, in_channels: int, out_channels: int,
                 kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        rows = (torch.arange(height).float() / (height - 1) * 2 - 1)[:, None].expand(height, width)
        cols = (torch.arange(width).float() / (width - 1) * 2 - 1)[None, :].expand(height, width)
        rad = torch.sqrt(rows ** 2 + cols ** 2)
        coords = torch.stack([rows, cols, rad / rad.max()])[None]  # (1, 3, H, W)
        self.register_buffer("coords", coords, persistent=False)
        self.conv = nn.Conv2d(in_channels + 3, out_channels, kernel_size, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        c = self.coords.to(x.dtype).expand(x.size(0), -1, -1, -1)
        return self.conv(torch.cat([x, c], dim=1))


class ConvBlock(nn.Module):
    """Hierarchical residual block: three pre-activation 3x3 convs (out/2, out/4, out/4) concatenated."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(nn.BatchNorm2d(in_planes), nn.ReLU(),
                                            nn.Conv2d(in_planes, out_planes, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        res = x if self.downsample is None else self.downsample(x)
        return torch.cat([o1, o2, o3], dim=1) + res


class HourGlass(nn.Module):
    """Recursive hourglass of ``depth`` levels on 256 channels (64x64 input)."""

    def __init__(self, depth: int = 4, features: int = 256) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(64, 64, features, features, 1)
        self._add(depth, features)

    def _add(self, level: int, f: int) -> None:
        self.add_module(f"b1_{level}", ConvBlock(f, f))
        self.add_module(f"b2_{level}", ConvBlock(f, f))
        if level > 1:
            self._add(level - 1, f)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(f, f))
        self.add_module(f"b3_{level}", ConvBlock(f, f))

    def _level(self, level: int, x: Tensor) -> Tensor:
        up1 = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        low = self._level(level - 1, low) if level > 1 else self._modules[f"b2_plus_{level}"](low)
        low = self._modules[f"b3_{level}"](low)
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: Tensor) -> Tensor:
        return self._level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    """The 98-landmark FAN of StarGAN v2; input (B, 3, 256, 256) in [0, 1] -> (B, 99, 64, 64) heatmaps."""

    def __init__(self, num_landmarks: int = 98) -> None:
        super().__init__()
        self.conv1 = CoordConv(256, 256, 3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass(4, 256)
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)  # (B, 128, 64, 64)
        x = self.conv4(self.conv3(x))
        h = self.top_m_0(self.m0(x))
        h = F.relu(self.bn_end0(self.conv_last0(h)))
        return self.l0(h)

    @torch.no_grad()
    def get_heatmap(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Two face masks (B, 1, 256, 256) in [0, 1] for images ``x`` in [-1, 1] (any size)."""
        x = F.interpolate(x, size=256, mode="bilinear")
        hm = self(x * 0.5 + 0.5)[:, :-1]  # (B, 98, 64, 64); the last channel is the boundary
        hm = F.interpolate(hm, scale_factor=x.size(2) // hm.size(2), mode="bilinear", align_corners=True)
        return heatmaps_to_masks(hm)

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None) -> FAN:
        """Load ``wing.ckpt`` (found by the weights resolver when ``path`` is None), in eval mode."""
        return load_fan(path)


def _shift(x: Tensor, n: int) -> Tensor:
    # move rows up by n (down when n < 0), wrapping around
    return torch.roll(x, shifts=-n, dims=2)


# landmark index ranges [start, end) of the 98-point WFLW layout
_CHIN, _EYEBROWS, _EYEBROW_EDGES, _NOSE = (8, 25), (33, 51), (33, 46), (51, 55)
_NOSTRILS, _EYES, _LIP_EDGES, _LIP_UPPER = (55, 60), (60, 76), (76, 82), (77, 82)
_LIP_LOWER, _LIP_INNER = (83, 88), (88, 96)


def heatmaps_to_masks(x: Tensor) -> tuple[Tensor, Tensor]:
    """StarGAN v2's heatmap post-processing: (B, 98, H, W) heatmaps -> two (B, 1, H, W) masks.

    Small values are cut, each map is min-max normalised, parts are shifted and sharpened,
    unused points are zeroed, and the maps are summed (the second mask without jaw line,
    eyebrows and mouth).
    """
    x = torch.where(x < 0.1, torch.zeros_like(x), x)
    b, c, h, w = x.shape
    flat = x.reshape(b * c, -1)
    lo, hi = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    x = ((flat - lo) / (hi - lo + 1e-6)).reshape(b, c, h, w).clone()
    sw = h // 256
    for (s, e), shift, power in ((_CHIN, 0, 3), (_EYEBROWS, -7 * sw, 2), (_NOSTRILS, 8 * sw, 4),
                                 (_LIP_UPPER, -8 * sw, 4), (_LIP_LOWER, 8 * sw, 4),
                                 (_LIP_INNER, -2 * sw, 3)):
        x[:, s:e] = _shift(x[:, s:e], shift) ** power
    zero = [*range(0, _CHIN[0]), *range(_CHIN[1], 33), _EYEBROW_EDGES[0], _EYEBROW_EDGES[1],
            _LIP_EDGES[0], _LIP_EDGES[1]]
    x[:, zero] = 0
    s, e = _NOSE
    x[:, s + 1:e] = _shift(x[:, s + 1:e], 4 * sw)
    s, e = _EYES
    x[:, s:e] = _shift(x[:, s:e], -8) ** 3 + _shift(x[:, s:e], -24)
    x2 = x.clone()
    x2[:, _CHIN[0]:_CHIN[1]] = 0
    x2[:, _LIP_EDGES[0]:_LIP_INNER[1]] = 0
    x2[:, _EYEBROWS[0]:_EYEBROWS[1]] = 0
    m1, m2 = x.sum(dim=1, keepdim=True), x2.sum(dim=1, keepdim=True)
    nan = torch.isnan(m1)
    m1 = m1.masked_fill(nan, 0)
    m2 = m2.masked_fill(nan, 0)
    return m1.clamp(0, 1), m2.clamp(0, 1)


def load_fan(path: str | os.PathLike | None = None, *, flag: str = "--wing_weights") -> FAN:
    """Build the FAN and load ``wing.ckpt`` (``{"state_dict": ...}`` or a plain state dict).

    The file is found by :func:`adaconv_gen.weights.resolve` (explicit path, then
    ``ADACONV_WING_WEIGHTS``, ``ADACONV_WEIGHTS_DIR``, the torch hub cache). As in the reference
    code, entries that are not FAN parameters are ignored; missing ones are an error.

    Raises:
        WeightsNotFoundError: the file was not found (the message says how to provide it).
        UserInputError: the file does not hold the FAN weights.
    """
    from ...weights import resolve

    p = resolve("wing", path, flag=flag)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserInputError(f"cannot read FAN weights {str(p)!r}: {e}") from None
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise UserInputError(f"{p}: not a FAN checkpoint (expected a dict with 'state_dict')")
    fan = FAN()
    own = fan.state_dict()
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if k in own}
    missing = sorted(set(own) - set(sd))
    if missing:
        raise UserInputError(f"{p}: not the StarGAN v2 FAN weights; missing {len(missing)} keys, "
                             f"e.g. {', '.join(missing[:5])}")
    fan.load_state_dict(sd)
    return fan.eval()
