"""``adaconv-eval-stargan``: the StarGAN v2 evaluation protocol (FID + LPIPS over all domain pairs).

    adaconv-eval-stargan --model runs/afhq/model --train-dir D/train --val-dir D/val --mode both
    adaconv-eval-stargan --model afhq_100000_nets_ema.ckpt --train-dir D/train --val-dir D/val \\
        --fid-preset stargan-v2        # the official protocol (torchvision Inception)

Results are printed and written as JSON (``--output``; default: ``eval_<mode>.json`` next to
the model), never over an existing file without ``--overwrite``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import (
    add_device,
    add_fid_preset,
    add_lpips,
    add_model,
    add_overwrite,
    add_progress,
    add_weights,
    check_model_family,
    make_parser,
    model_folder,
    output_file,
    parse,
    positive_int,
    resolve_device,
    run_cli,
)

__all__ = ["main", "parse_args"]


def parse_args(argv=None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-eval-stargan", __doc__)
    add_model(p, "StarGAN v2 networks", "--checkpoint",
              also=", a checkpoint-<step> folder, or an official *_nets_ema.ckpt file")
    p.add_argument("--train-dir", required=True, help="training images <dir>/<domain>/* (FID reference)")
    p.add_argument("--val-dir", required=True, help="validation images <dir>/<domain>/* (sources, references)")
    p.add_argument("--mode", choices=["latent", "reference", "both"], default="both", help="style source")
    p.add_argument("--num-outs", type=positive_int, default=10, help="outputs per validation image")
    p.add_argument("--no-fid", action="store_true", help="LPIPS only (no Inception weights needed)")
    add_fid_preset(p, help="FID preset; 'stargan-v2' is the official protocol")
    add_lpips(p)
    add_weights(p, "inception", "lpips", "alexnet", "wing")
    p.add_argument("--batch-size", type=positive_int, default=32, help="translation batch size")
    p.add_argument("--seed", type=int, default=777, help="seed of latent codes and reference order")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="JSON report (default: eval_<mode>.json next to the model)")
    p.add_argument("--output-dir", "--images-dir", dest="output_dir", default=None, metavar="DIR",
                   help="keep the generated images in this folder (default: a temporary folder)")
    add_overwrite(p)
    add_device(p)
    add_progress(p)
    return parse(p, argv)


def _main(argv=None) -> int:
    args = parse_args(argv)
    from ..errors import UserInputError, WeightsNotFoundError
    from .common import output_dir

    model = Path(args.model).expanduser()
    if not model.is_file():  # a folder (an official checkpoint file is read as such)
        model = check_model_family(model_folder(args.model), "stargan-v2")
    if args.no_fid and not args.lpips:
        raise UserInputError("--no-fid with --no-lpips leaves nothing to measure")
    default = (model.parent if model.is_file() else model) / f"eval_{args.mode}.json"
    output = output_file(args.output or str(default), overwrite=args.overwrite)
    images = output_dir(args) if args.output_dir else None
    if images is not None and images.is_dir() and any(images.iterdir()) and not args.overwrite:
        raise UserInputError(f"--output-dir {args.output_dir}: not empty; pass --overwrite to replace "
                             "its images, or choose another folder")
    device = resolve_device(args.device)
    from ..evaluation.stargan_v2 import evaluate
    from ..models.stargan_v2 import load_for_inference

    nets = load_for_inference(model, wing_weights=args.wing_weights)
    try:
        res = evaluate(nets, args.train_dir, args.val_dir, mode=args.mode, num_outs=args.num_outs,
                       preset=args.fid_preset, fid_weights=args.inception_weights,
                       lpips_weights=args.lpips_weights, alexnet_weights=args.alexnet_weights,
                       batch_size=args.batch_size, device=device, output=output, images_dir=images,
                       seed=args.seed, progress=not args.no_progress, fid=not args.no_fid, lpips=args.lpips)
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"{e} (or pass --no-fid / --no-lpips to skip that metric)") from None
    print(json.dumps(res, indent=2))
    print(f"written to {output}", file=sys.stderr)
    return 0


def main(argv=None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
