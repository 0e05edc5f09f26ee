"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018), AlexNet backbone with the v0.1 linear layers, and StarGAN v2's diversity.

The distance between images x, y in [-1, 1] is, as in the ``lpips`` package:

1. a fixed scaling layer ``(x - shift) / scale``;
2. the five ReLU outputs of torchvision's AlexNet ``features``;
3. each unit-normalised over channels (``f / (||f||_2 + 1e-10)``);
4. squared differences weighted by the learnt 1x1 convolution of that layer (``alex.pth``),
   averaged over space, summed over layers.

StarGAN v2 (Choi et al., CVPR 2020) reports diversity as the mean LPIPS over all pairs of
images generated for the same input: :func:`lpips_diversity`.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError, WeightsNotFoundError
from ..weights import load_state_dict, mismatch_message, resolve

__all__ = ["LPIPS", "lpips_diversity", "resolve_lpips_weights"]

_CHANNELS = (64, 192, 384, 256, 256)
_SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # AlexNet features up to each ReLU


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet backbone.

    Build it with :meth:`from_files`; ``LPIPS()`` alone has random weights.
    ``forward(x, y)`` takes ``(N, 3, H, W)`` images in [-1, 1] and returns ``(N,)`` distances.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.features = _alexnet_features()
        self.lin = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)
        self.requires_grad_(False).eval()

    @classmethod
    def from_files(cls, alexnet_weights: str | os.PathLike | None = None,
                   lpips_weights: str | os.PathLike | None = None) -> LPIPS:
        """Load the backbone and the linear layers.

        Args:
            alexnet_weights: torchvision ``alexnet-owt-7be5be79.pth`` (a torchvision AlexNet
                state dict); else resolved as ``"alexnet"`` (``$ADACONV_ALEXNET_WEIGHTS``, ...).
            lpips_weights: ``alex.pth`` v0.1; else resolved as ``"lpips-alex"``
                (``$ADACONV_LPIPS_WEIGHTS``, ...), and finally the copy shipped inside the
                ``lpips`` pip package if it is installed.

        Raises:
            WeightsNotFoundError: a file was not found (named, with the ways to provide it).
            UserInputError: a file does not match.
        """
        model = cls()
        alex_path = resolve("alexnet", alexnet_weights, flag="--alexnet-weights")
        alex_flag = "--alexnet-weights" if alexnet_weights is not None else None
        sd = load_state_dict(alex_path, flag=alex_flag)
        feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
        own = {f"features.{k}" for k in model.features.state_dict()}
        allowed = own | {k for k in sd if k.startswith("classifier.")}
        if not own <= set(sd) or set(sd) - allowed:
            raise UserInputError(mismatch_message(alex_path, sd, allowed, "torchvision AlexNet", alex_flag))
        try:
            model.features.load_state_dict(feats, strict=True)
        except RuntimeError as e:
            raise UserInputError(f"{alex_flag or repr(str(alex_path))}: not the torchvision AlexNet weights "
                                 f"({str(e).splitlines()[-1].strip()})") from None
        lin_path = resolve_lpips_weights(lpips_weights)
        lin_flag = "--lpips-weights" if lpips_weights is not None else None
        sd = load_state_dict(lin_path, flag=lin_flag)
        want = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(_CHANNELS)}
        if {k: tuple(v.shape) for k, v in sd.items()} != want:
            raise UserInputError(mismatch_message(lin_path, sd, want, "LPIPS v0.1 linear layers", lin_flag))
        for k in range(len(_CHANNELS)):
            model.lin[k].weight.copy_(sd[f"lin{k}.model.1.weight"])
        model.paths = {"alexnet": str(alex_path), "lpips": str(lin_path)}
        return model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (N, 3, H, W) batches of equal shape, "
                             f"got {tuple(x.shape)} and {tuple(y.shape)}")
        n = x.shape[0]
        h = (torch.cat([x, y]) - self.shift) / self.scale  # (2N, 3, H, W)
        total = torch.zeros(n, device=x.device, dtype=h.dtype)
        for (lo, hi), lin in zip(_SLICES, self.lin):
            for i in range(lo, hi):
                h = self.features[i](h)
            f = h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit norm over C
            d = (f[:n] - f[n:]).pow(2)  # (N, C, h, w)
            total = total + lin(d).mean(dim=(1, 2, 3))
        return total


def _alexnet_features() -> nn.Sequential:
    """torchvision's ``AlexNet.features`` (same indices, so its state-dict keys load)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def resolve_lpips_weights(path: str | os.PathLike | None = None) -> Path:
    """The LPIPS ``alex.pth`` that will be used: the resolver's file, else the copy bundled with
    the ``lpips`` pip package when it is installed.

    Raises:
        WeightsNotFoundError: neither exists (or ``path`` does not).
    """
    try:
        return resolve("lpips-alex", path, flag="--lpips-weights")
    except WeightsNotFoundError:
        if path is not None:
            raise
        spec = importlib.util.find_spec("lpips")
        if spec is not None and spec.origin:
            shipped = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"
            if shipped.is_file():
                return shipped
        raise


@torch.no_grad()
def lpips_diversity(images, lpips: LPIPS | None = None) -> float:
    """Mean LPIPS over all pairs of a set of images (StarGAN v2's diversity metric).

    Args:
        images: ``(K, 3, H, W)`` tensor of K images in [-1, 1], or a list of K batches
            ``(B, 3, H, W)`` (output k for each of B inputs); pairs are taken across the K
            and averaged over the B, as StarGAN v2 does.
        lpips: a loaded :class:`LPIPS`; default :meth:`LPIPS.from_files`.

    Returns:
        The mean pairwise distance (a float).
    """
    if isinstance(images, torch.Tensor):
        images = [im[None] for im in images]
    images = list(images)
    if len(images) < 2:
        raise UserInputError(f"diversity needs at least 2 images per set, got {len(images)}")
    lpips = lpips if lpips is not None else LPIPS.from_files()
    dev = next(lpips.parameters()).device
    values = [lpips(a.to(dev), b.to(dev)).mean() for a, b in itertools.combinations(images, 2)]
    return float(torch.stack(values).mean())
