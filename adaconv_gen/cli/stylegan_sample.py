"""``adaconv-stylegan-sample``: images from a trained StyleGAN-style generator.

The generator is the model folder ``recipes/stylegan.py`` exports (``config.json`` +
``model.safetensors``, see :meth:`adaconv_gen.models.stylegan.Generator.save_pretrained`);
AdaConv generators follow Chandran et al., CVPR 2021, section 4.2.

    adaconv-stylegan-sample --model runs/sg/model --output grid.png --num 64 --seed 0
    adaconv-stylegan-sample --model runs/sg/model --output-dir samples/ --num 1000 --truncation 0.7

``--output`` writes one grid PNG; ``--output-dir`` one PNG per image, named
``seed<S>-<index>.png`` (with ``-psi<T>`` when truncated). An existing file is never replaced
without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..errors import UserInputError
from .common import (
    add_device,
    add_model,
    add_output_dir,
    add_progress,
    check_model_family,
    check_new_files,
    make_parser,
    model_folder,
    output_dir,
    output_file,
    parse,
    positive_int,
    progress_bar,
    resolve_device,
    run_cli,
    warn,
)

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-stylegan-sample", __doc__)
    add_model(p, "the StyleGAN generator")
    p.add_argument("--output", default=None, metavar="FILE", help="write one PNG grid here")
    add_output_dir(p, "write one PNG per image into this folder", required=False)
    p.add_argument("--outdir", dest="output_dir_deprecated", default=None, help=argparse.SUPPRESS)
    p.add_argument("--num", type=positive_int, default=16, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (same seed, same images)")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation psi (1: none)")
    p.add_argument("--noise-mode", choices=("const", "random", "none"), default="const",
                   help="per-layer noise: the stored constant, fresh random, or none")
    p.add_argument("--nrow", type=positive_int, default=None, help="images per grid row (default: square)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="images per forward pass")
    add_device(p)
    add_progress(p)
    args = parse(p, argv)
    if args.output_dir_deprecated is not None and args.output_dir is None:
        args.output_dir = args.output_dir_deprecated
        warn("--outdir is deprecated; use --output-dir")
    if not args.output and not args.output_dir:
        p.error("give --output FILE.png (a grid) and/or --output-dir FOLDER (one file per image)")
    return args


def _main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grid = output_file(args.output, overwrite=args.overwrite)
    if grid is not None and grid.suffix.lower() != ".png":
        raise UserInputError(f"--output {args.output}: a .png file name is expected")
    out_dir = output_dir(args) if args.output_dir else None
    folder = check_model_family(model_folder(args.model), "stylegan")
    psi = "" if args.truncation == 1.0 else f"-psi{args.truncation:g}"
    targets = [] if out_dir is None else [out_dir / f"seed{args.seed}{psi}-{i:06d}.png" for i in range(args.num)]
    check_new_files(targets, overwrite=args.overwrite)
    device = resolve_device(args.device)

    import torch

    from ..data.images import save_image_grid, save_png
    from ..models.stylegan import Generator

    G = Generator.from_pretrained(folder).to(device)
    # the latents of G.sample(num, seed=...), run batch by batch with a progress bar
    z = torch.randn(args.num, G.style_dim, generator=torch.Generator().manual_seed(args.seed))
    out = []
    with torch.no_grad(), progress_bar(total=args.num, desc="sample", enabled=not args.no_progress) as bar:
        for zb in z.split(args.batch_size):
            out.append(G(zb.to(device), args.truncation, args.noise_mode).clamp(-1, 1).cpu())
            bar.update(len(zb))
    images = torch.cat(out)
    if grid is not None:
        nrow = args.nrow or int(math.ceil(math.sqrt(args.num)))
        save_image_grid(images, grid, nrow=nrow)
        print(f"wrote {grid} ({args.num} images, seed {args.seed}, truncation {args.truncation})")
    if out_dir is not None:
        for img, target in zip(images, targets):
            save_png(img, target)
        print(f"wrote {args.num} images to {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
