"""The StarGAN v2 evaluation protocol (Choi et al., CVPR 2020, section 4 and its reference code).

For every ordered pair of domains ``src -> trg``: each validation image of ``src`` is translated
``num_outs`` (10) times, with fresh latent codes (``latent`` mode) or with target-domain
validation images as references (``reference`` mode). LPIPS diversity is the mean pairwise
LPIPS between the outputs of one input, averaged over inputs; FID compares all outputs of the
task with the *training* images of ``trg``. Both are averaged over tasks (``.../mean``).

FID uses the standard (pytorch-fid) network and preprocessing by default; ``preset="stargan-v2"``
reproduces the official protocol (torchvision Inception), whose numbers are only comparable with
numbers computed that way. Runs on CPU or GPU (the reference code hard-codes CUDA).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..data.domains import DomainDataset, check_domains, eval_transform
from ..data.images import save_png
from ..files import atomic_save_json

__all__ = ["evaluate", "translate_domain"]


@torch.no_grad()
def translate_domain(nets, x_src: torch.Tensor, trg: int, mode: str, *, num_outs: int,
                     refs: torch.Tensor | None, ref_cursor: list[int], generator: torch.Generator,
                     latent_dim: int) -> list[torch.Tensor]:
    """``num_outs`` translations of a batch into domain ``trg``: a list of (N, 3, H, W) batches."""
    n, dev = x_src.size(0), x_src.device
    y = torch.full((n,), trg, dtype=torch.long, device=dev)
    masks = nets.masks(x_src) if hasattr(nets, "masks") else None
    outs = []
    for _ in range(num_outs):
        if mode == "latent":
            z = torch.randn(n, latent_dim, generator=generator).to(dev)
            s = nets.mapping_network(z, y)
        else:
            idx = [(ref_cursor[0] + i) % refs.size(0) for i in range(n)]
            ref_cursor[0] = (ref_cursor[0] + n) % refs.size(0)
            s = nets.style_encoder(refs[idx].to(dev), y)
        outs.append(nets.generator(x_src, s, masks=masks))
    return outs


@torch.no_grad()
def evaluate(nets, train_dir: str | os.PathLike, val_dir: str | os.PathLike, *, mode: str = "both",
             num_outs: int = 10, preset: str = "pytorch-fid", fid_weights: str | os.PathLike | None = None,
             lpips_weights: str | os.PathLike | None = None, alexnet_weights: str | os.PathLike | None = None,
             batch_size: int = 32, device: torch.device | str | None = None,
             output: str | os.PathLike | None = None, images_dir: str | os.PathLike | None = None,
             seed: int = 777, fid_batch_size: int = 50, progress: bool = False,
             fid: bool = True, lpips: bool = True) -> dict[str, Any]:
    """Run the protocol with the (EMA) networks ``nets`` and return the numbers.

    Args:
        nets: a :class:`~adaconv_gen.models.stargan_v2.StarGANv2` (eval mode is set here).
        train_dir: training images (FID reference of each target domain).
        val_dir: validation images (sources and references).
        mode: ``"latent"``, ``"reference"`` or ``"both"``.
        num_outs: outputs per input (10 officially).
        preset: FID preset of :mod:`adaconv_gen.metrics` (``"stargan-v2"``: the official one).
        fid_weights: Inception weights file for the preset (else found by the resolver).
        lpips_weights: LPIPS ``alex.pth`` (else resolver / the ``lpips`` package copy).
        alexnet_weights: torchvision AlexNet weights for LPIPS (else resolver).
        batch_size: translation batch size.
        device: default CUDA when available, else CPU.
        output: JSON file to write the results to (atomically).
        images_dir: keep the generated images here (``<mode>/<src>2<trg>/*.png``); default a
            temporary folder, removed afterwards.
        seed: seed of the latent codes and the reference order.
        fid_batch_size: Inception batch size.
        progress: show progress bars.
        fid: compute FID (False: LPIPS only, no Inception weights needed).
        lpips: compute the LPIPS diversity (False: FID only, no LPIPS/AlexNet weights needed).

    Returns:
        ``{"FID_<mode>/<src>2<trg>": ..., "FID_<mode>/mean": ..., "LPIPS_<mode>/...": ...}`` plus
        ``preset`` and ``num_outs``.
    """
    from ..metrics import (
        LPIPS,
        build_extractor,
        compute_statistics,
        frechet_distance,
        lpips_diversity,
    )

    if mode not in ("latent", "reference", "both"):
        raise ValueError(f"mode must be 'latent', 'reference' or 'both', got {mode!r}")
    modes = ("latent", "reference") if mode == "both" else (mode,)
    device = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    domains = check_domains(train_dir, val_dir)
    img_size = nets.config["img_size"]
    latent_dim = nets.config["latent_dim"]
    nets = nets.to(device).eval()
    lpips_model = LPIPS.from_files(alexnet_weights, lpips_weights).to(device) if lpips else None
    extractor = build_extractor("inception", preset, fid_weights, device=device,
                                flag="--inception-weights") if fid else None
    real_stats: dict[str, tuple] = {}  # each target domain's training statistics, computed once

    def fid_of(trg_name: str, folder: Path) -> float:
        stat = lambda src: compute_statistics(src, features=extractor, device=device,  # noqa: E731
                                              batch_size=fid_batch_size, progress=progress)
        if trg_name not in real_stats:
            real_stats[trg_name] = stat(Path(train_dir) / trg_name)
        return frechet_distance(*real_stats[trg_name], *stat(folder))
    val = DomainDataset(val_dir, eval_transform(img_size), domains)
    by_domain = []
    for d in range(len(domains)):
        by_domain.append(torch.stack([val[i][0] for i, lab in enumerate(val.labels) if lab == d]))

    tmp = None
    if images_dir is None:
        tmp = tempfile.mkdtemp(prefix="adaconv-stargan-eval-")
        images_dir = tmp
    images_dir = Path(images_dir)
    results: dict[str, Any] = {"preset": preset if fid else None, "num_outs": num_outs}
    bar = tqdm(total=len(modes) * len(domains) * (len(domains) - 1), desc="translate", unit="task",
               disable=not progress, file=sys.stderr, leave=False)
    try:
        for m in modes:
            gen = torch.Generator().manual_seed(seed)
            lp, fids = {}, {}
            for trg, trg_name in enumerate(domains):
                refs = None
                if m == "reference":
                    refs = by_domain[trg][torch.randperm(by_domain[trg].size(0), generator=gen)]
                cursor = [0]
                for src, src_name in enumerate(domains):
                    if src == trg:
                        continue
                    task = f"{src_name}2{trg_name}"
                    folder = images_dir / m / task
                    if folder.exists():
                        shutil.rmtree(folder)
                    folder.mkdir(parents=True)
                    values = []
                    xs = by_domain[src]
                    for b0 in range(0, xs.size(0), batch_size):
                        x = xs[b0:b0 + batch_size].to(device)
                        outs = translate_domain(nets, x, trg, m, num_outs=num_outs, refs=refs,
                                                ref_cursor=cursor, generator=gen, latent_dim=latent_dim)
                        for j, o in enumerate(outs):
                            for k in range(o.size(0)):
                                save_png(o[k], folder / f"{b0 + k + 1:04d}_{j + 1:02d}.png")
                        if num_outs > 1 and lpips_model is not None:
                            values.append(lpips_diversity(outs, lpips_model))
                    if values:
                        lp[f"LPIPS_{m}/{task}"] = sum(values) / len(values)
                    if fid:
                        fids[f"FID_{m}/{task}"] = fid_of(trg_name, folder)
                    bar.update(1)
            for table, name in ((lp, "LPIPS"), (fids, "FID")):
                if table:
                    table[f"{name}_{m}/mean"] = sum(table.values()) / len(table)
                results.update(table)
    finally:
        bar.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if output is not None:
        atomic_save_json(results, output)
    return results
