"""Evaluating a style-transfer model on held-out content/style pairs, and its sample grids.

Reports the training losses (Huang & Belongie 2017; Chandran et al. 2021) measured the same
way for AdaConv and AdaIN (content: relu4_1 MSE against the *content image*; style: channel
mean/std MSE over relu1_1 ... relu4_1), FID between the stylised images and the style set,
and, with LPIPS on, the LPIPS content distance and ArtFID (Wright & Ommer,
*ArtFID*, 2022): ``ArtFID = (1 + LPIPS) * (1 + FID)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.images import list_images, load_image_tensor, to_uint8
from ..errors import UserInputError
from ..nn.functional import channel_mean_std

__all__ = ["load_sample_images", "sample_grid", "evaluate_style_transfer", "artfid"]


def _spread(paths: Sequence[Path], n: int) -> list[Path]:
    """``n`` paths spread evenly over a sorted list (so the grid shows several kinds)."""
    if len(paths) <= n:
        return list(paths)
    return [paths[i] for i in np.linspace(0, len(paths) - 1, n).round().astype(int)]


def load_sample_images(content: str | os.PathLike, style: str | os.PathLike, n: int,
                       size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` readable content and style images, centre-cropped to ``size``, in [-1, 1]."""
    out = []
    for root in (content, style):
        imgs = []
        paths = list_images(root)
        first = _spread(paths, n)
        for p in first + [q for q in paths if q not in set(first)]:
            try:
                imgs.append(load_image_tensor(p, size, crop=True))
            except UserInputError:
                continue
            if len(imgs) == n:
                break
        if not imgs:
            raise UserInputError(f"no readable images in {str(root)!r}")
        out.append(torch.cat(imgs))
    return out[0], out[1]


@torch.no_grad()
def sample_grid(model, contents: torch.Tensor, styles: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A content x style grid: first row the styles, first column the contents.

    Returns:
        ``(images (N, 3, H, W), nrow)`` for :func:`~adaconv_gen.training.save_image_grid`.
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    contents, styles = contents.to(dev), styles.to(dev)
    d = model.encode_style(styles)  # (S, ...)
    blank = torch.ones_like(contents[:1])
    rows = [torch.cat([blank, styles])]
    for c in contents:
        cc = c[None].expand(len(styles), -1, -1, -1)
        rows.append(torch.cat([c[None], model.stylize(cc, descriptor=d)]))
    model.train(was_training)
    return torch.cat(rows).cpu(), len(styles) + 1


def artfid(fid: float, lpips: float) -> float:
    """ArtFID (Wright & Ommer 2022): ``(1 + LPIPS) * (1 + FID)``."""
    return (1.0 + lpips) * (1.0 + fid)


def _load_all(paths: Sequence[Path], size: int) -> torch.Tensor:
    return torch.cat([load_image_tensor(p, size, crop=True) for p in paths])


@torch.no_grad()
def evaluate_style_transfer(model, content: str | os.PathLike | Sequence, style: str | os.PathLike | Sequence, *,
                            size: int = 256, num_pairs: int | None = None, batch_size: int = 8,
                            device: str | torch.device | None = None, fid: bool = True,
                            fid_preset: str = "pytorch-fid", inception_weights: str | None = None,
                            lpips_weights: str | None = None, alexnet_weights: str | None = None,
                            progress: bool = False, lpips: bool | None = None) -> dict:
    """Stylise held-out pairs and measure them.

    Pair ``i`` is ``(contents[i % Nc], styles[i % Ns])`` for ``i < num_pairs`` (default
    ``max(Nc, Ns)``); every image is resized (short side ``size``) and centre-cropped.

    Args:
        model: a :class:`~adaconv_gen.models.style_transfer.StyleTransferModel`.
        content: content folder(s) or files.
        style: style folder(s) or files.
        size: evaluation size.
        num_pairs: number of pairs.
        batch_size: pairs per forward pass.
        device: where to run (default: the model's device).
        fid: compute FID(stylised, style set) with :mod:`adaconv_gen.metrics`.
        fid_preset: the metrics module's preset.
        inception_weights: FID Inception file (default: the resolver).
        lpips_weights: LPIPS linear-layer file (default: the resolver, then the ``lpips``
            package's copy).
        alexnet_weights: AlexNet file for LPIPS (default: the resolver).
        progress: show progress bars (on stderr).
        lpips: compute LPIPS(content, stylised) and ArtFID; None: only when ``lpips_weights``
            is given.

    Returns:
        JSON-ready dict: ``content_loss``, ``style_loss``, ``fid``, ``lpips_content``,
        ``artfid`` (None when not computed), counts and settings.

    Raises:
        UserInputError: no readable images, or missing metric weights (named).
    """
    def paths_of(src):
        srcs = [src] if isinstance(src, (str, os.PathLike)) else list(src)
        out = []
        for s in srcs:
            out += list_images(s)
        if not out:
            raise UserInputError(f"no images found in {', '.join(map(str, srcs))}")
        return out

    cpaths, spaths = paths_of(content), paths_of(style)
    n = num_pairs or max(len(cpaths), len(spaths))
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    enc = model.encoder
    lpips_model = None
    if lpips if lpips is not None else lpips_weights is not None:
        from ..metrics import LPIPS

        lpips_model = LPIPS.from_files(alexnet_weights=alexnet_weights, lpips_weights=lpips_weights).to(device).eval()

    sum_c = sum_s = sum_lp = 0.0
    stylised = []
    bar = tqdm(total=n, desc="stylize", unit="pair", disable=not progress, file=sys.stderr, leave=False)
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        c = _load_all([cpaths[i % len(cpaths)] for i in idx], size).to(device)
        s = _load_all([spaths[i % len(spaths)] for i in idx], size).to(device)
        y = model.stylize(c, s)
        fy, fc, fs = enc(y, taps=True), enc(c), enc(s, taps=True)
        sum_c += F.mse_loss(fy[-1], fc, reduction="none").flatten(1).mean(1).sum().item()
        for a, b in zip(fy, fs):
            (ma, sa), (mb, sb) = channel_mean_std(a), channel_mean_std(b)
            sum_s += ((ma - mb).pow(2).mean(1) + (sa - sb).pow(2).mean(1)).sum().item()
        if lpips_model is not None:
            sum_lp += lpips_model(y.clamp(-1, 1), c).flatten().sum().item()
        stylised.append(to_uint8(y).cpu())
        bar.update(len(idx))
    bar.close()
    result = {"model_type": getattr(model, "model_type", None), "num_pairs": n, "size": size,
              "num_content": len(cpaths), "num_style": len(spaths),
              "content_loss": sum_c / n, "style_loss": sum_s / n,
              "fid": None, "fid_preset": fid_preset if fid else None, "lpips_content": None, "artfid": None}
    if fid:
        from ..metrics import fid_from_sources

        styles_u8 = torch.cat([to_uint8(_load_all([p], size)) for p in spaths])
        result["fid"] = float(fid_from_sources(torch.cat(stylised), styles_u8, preset=fid_preset,
                                               weights=inception_weights, device=device, progress=progress,
                                               flag="--inception-weights"))
    if lpips_model is not None:
        result["lpips_content"] = sum_lp / n
        if result["fid"] is not None:
            result["artfid"] = artfid(result["fid"], result["lpips_content"])
    return result
