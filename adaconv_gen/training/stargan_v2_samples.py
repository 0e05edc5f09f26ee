"""StarGAN v2 (Choi et al., CVPR 2020) batches and sample grids: what a person looks at during training.

* :class:`TrainBatches` draws, forever, the inputs of one iteration: class-balanced sources,
  class-balanced reference pairs (the target domains), and two latent codes.
* :func:`latent_grid` / :func:`reference_grid` translate fixed validation images with the EMA
  networks and write PNG grids (rows: sources; columns: target domains x latent codes, or the
  reference images shown in the first row).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.images import save_image_grid

__all__ = ["TrainBatches", "translate", "latent_grid", "reference_grid", "pick_per_domain"]


class TrainBatches:
    """Endless iterator of training inputs (dicts of tensors on ``device``).

    Args:
        src_loader: yields ``(x, y)``.
        ref_loader: yields ``(x_ref, x_ref2, y_ref)``.
        latent_dim: width of ``z_trg`` / ``z_trg2``.
        device: where to put the tensors.
        generator: CPU generator for the latent codes (seeded per process).
    """

    def __init__(self, src_loader, ref_loader, latent_dim: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> None:
        self.src_loader, self.ref_loader = src_loader, ref_loader
        self.latent_dim, self.device, self.generator = latent_dim, torch.device(device), generator
        self._src: Iterator | None = None
        self._ref: Iterator | None = None

    @staticmethod
    def _next(loader, it):
        try:
            return next(it), it
        except (TypeError, StopIteration):
            it = iter(loader)
            return next(it), it

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, Tensor]:
        (x, y), self._src = self._next(self.src_loader, self._src)
        (xr, xr2, yr), self._ref = self._next(self.ref_loader, self._ref)
        n = x.size(0)
        z = torch.randn(n, self.latent_dim, generator=self.generator)
        z2 = torch.randn(n, self.latent_dim, generator=self.generator)
        batch = dict(x_src=x, y_src=y, x_ref=xr, x_ref2=xr2, y_ref=yr, z_trg=z, z_trg2=z2)
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


def pick_per_domain(dataset, per_domain: int) -> tuple[Tensor, Tensor]:
    """The first ``per_domain`` images of every domain of a domain dataset, stacked, and labels."""
    xs, ys = [], []
    for d in range(len(dataset.domains)):
        idx = [i for i, lab in enumerate(dataset.labels) if lab == d][:per_domain]
        for i in idx:
            x, y = dataset[i]
            xs.append(x)
            ys.append(y)
    return torch.stack(xs), torch.tensor(ys)


@torch.no_grad()
def translate(nets, x_src: Tensor, s_trg: Tensor) -> Tensor:
    """``nets.generator(x_src, s_trg)`` with the FAN masks when the networks use them."""
    masks = nets.masks(x_src) if hasattr(nets, "masks") else None
    return nets.generator(x_src, s_trg, masks=masks)


def _upscale(x: Tensor, scale: int) -> Tensor:
    return F.interpolate(x, scale_factor=scale, mode="nearest") if scale > 1 else x


@torch.no_grad()
def latent_grid(nets, x_src: Tensor, num_domains: int, latent_dim: int, path: str | os.PathLike,
                num_z: int = 2, seed: int = 0, scale: int = 1) -> Path:
    """Rows: sources; columns: the source, then ``num_z`` latent styles for each domain.

    ``scale`` enlarges each cell (nearest neighbour) so that small demo images stay visible.
    """
    device = x_src.device
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num_z, latent_dim, generator=g).to(device)
    n = x_src.size(0)
    cols = [x_src]
    for d in range(num_domains):
        y = torch.full((n,), d, dtype=torch.long, device=device)
        for j in range(num_z):
            s = nets.mapping_network(z[j].expand(n, -1), y)
            cols.append(translate(nets, x_src, s))
    grid = torch.stack(cols, dim=1).flatten(0, 1)  # (n * (1 + D * num_z), 3, H, W)
    return save_image_grid(_upscale(grid, scale), path, nrow=len(cols))


@torch.no_grad()
def reference_grid(nets, x_src: Tensor, x_ref: Tensor, y_ref: Tensor, path: str | os.PathLike,
                   scale: int = 1) -> Path:
    """First row: a blank cell, then the references; each next row: a source and its translations."""
    s = nets.style_encoder(x_ref, y_ref)  # (R, style_dim)
    rows = [torch.cat([torch.ones_like(x_src[:1]), x_ref])]
    for i in range(x_src.size(0)):
        xi = x_src[i:i + 1].expand(x_ref.size(0), -1, -1, -1)
        rows.append(torch.cat([x_src[i:i + 1], translate(nets, xi, s)]))
    grid = torch.cat(rows)
    return save_image_grid(_upscale(grid, scale), path, nrow=x_ref.size(0) + 1)
