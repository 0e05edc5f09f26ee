"""``adaconv-stylegan-sample``: images from a trained StyleGAN-style generator.

The generator is the folder ``recipes/stylegan.py`` exports (``O/generator``: ``config.json`` +
``model.safetensors``, see :meth:`adaconv_gen.models.stylegan.Generator.save_pretrained`);
AdaConv generators follow Chandran et al., CVPR 2021, section 4.2.

    adaconv-stylegan-sample --model runs/sg/generator --output grid.png --num 64 --seed 0
    adaconv-stylegan-sample --model runs/sg/generator --outdir samples/ --num 1000 --truncation 0.7
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from ..data.images import save_png
from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (hyphens; underscores accepted too)."""
    p = argparse.ArgumentParser(prog="adaconv-stylegan-sample", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Generator folder (config.json + model.safetensors).")
    p.add_argument("--output", default=None, help="Write one PNG grid here.")
    p.add_argument("--outdir", default=None, help="Write one PNG per image into this folder.")
    p.add_argument("--num", type=int, default=16, help="Number of images.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the latents (same seed, same images).")
    p.add_argument("--truncation", type=float, default=1.0, help="Truncation psi (1: none).")
    p.add_argument("--noise-mode", choices=("const", "random", "none"), default="const",
                   help="Per-layer noise: the stored constant, fresh random, or none.")
    p.add_argument("--nrow", type=int, default=None, help="Images per grid row (default: square).")
    p.add_argument("--batch-size", type=int, default=16, help="Images per forward pass.")
    p.add_argument("--device", default=None, help="Torch device (default: cuda if available, else cpu).")
    args = p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))
    if not args.output and not args.outdir:
        p.error("give --output FILE.png (a grid) and/or --outdir FOLDER (one file per image)")
    if args.num < 1:
        p.error("--num must be at least 1")
    return args


def _main(argv: list[str] | None = None) -> int:
    from ..data.images import save_image_grid
    from ..models.stylegan import Generator

    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    G = Generator.from_pretrained(args.model).to(device)
    images = G.sample(args.num, seed=args.seed, truncation_psi=args.truncation,
                      noise_mode=args.noise_mode, batch_size=args.batch_size).cpu()
    if args.output:
        nrow = args.nrow or int(math.ceil(math.sqrt(args.num)))
        save_image_grid(images, args.output, nrow=nrow)
        print(f"wrote {args.output} ({args.num} images, seed {args.seed}, truncation {args.truncation})")
    if args.outdir:
        outdir = Path(args.outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            save_png(img, outdir / f"seed{args.seed}-{i:06d}.png")
        print(f"wrote {args.num} images to {outdir}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))
