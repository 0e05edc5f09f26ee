"""``adaconv-eval-style``: measure a style-transfer model on held-out content/style pairs.

Example::

    adaconv-eval-style --model runs/adaconv/model --content coco_val/ --style wikiart_val/ \\
        --lpips-weights alex.pth --output results.json

Prints (and with ``--output`` writes) JSON: content loss, style loss, FID between the
stylised images and the style set, and with LPIPS weights the LPIPS content distance and
ArtFID ``(1 + LPIPS) * (1 + FID)``. The logic is
:func:`adaconv_gen.evaluation.style_transfer.evaluate_style_transfer`.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..errors import UserInputError, WeightsNotFoundError
from ..evaluation.style_transfer import evaluate_style_transfer
from ..files import atomic_save_json
from ..models.style_transfer import load_style_transfer_model
from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (hyphens; underscores accepted too)."""
    p = argparse.ArgumentParser(prog="adaconv-eval-style", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Folder written by save_pretrained / the recipe (O/model).")
    p.add_argument("--content", nargs="+", required=True, help="Held-out content images (files or folders).")
    p.add_argument("--style", nargs="+", required=True, help="Held-out style images (files or folders).")
    p.add_argument("--size", type=int, default=256, help="Evaluation size (short-side resize, centre crop).")
    p.add_argument("--num-pairs", type=int, default=None,
                   help="Pairs (content[i %% Nc], style[i %% Ns]); default max(Nc, Ns).")
    p.add_argument("--batch-size", type=int, default=8, help="Pairs per forward pass.")
    p.add_argument("--no-fid", action="store_true", help="Skip FID (and so ArtFID).")
    p.add_argument("--fid-preset", default="pytorch-fid", help="Preset of adaconv_gen.metrics.")
    p.add_argument("--inception-weights", default=None,
                   help="FID Inception file (default: $ADACONV_INCEPTION_WEIGHTS, hub cache, ...).")
    p.add_argument("--lpips-weights", default=None, help="LPIPS alex.pth; enables LPIPS and ArtFID.")
    p.add_argument("--alexnet-weights", default=None, help="AlexNet file for LPIPS (default: resolver).")
    p.add_argument("--output", default=None, help="Also write the JSON here.")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu).")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if args.size < 16:
        raise UserInputError(f"--size must be >= 16, got {args.size}")
    if args.num_pairs is not None and args.num_pairs < 1:
        raise UserInputError(f"--num-pairs must be >= 1, got {args.num_pairs}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_style_transfer_model(args.model, map_location=device)
    try:
        result = evaluate_style_transfer(
            model, args.content, args.style, size=args.size, num_pairs=args.num_pairs,
            batch_size=args.batch_size, device=device, fid=not args.no_fid, fid_preset=args.fid_preset,
            inception_weights=args.inception_weights, lpips_weights=args.lpips_weights,
            alexnet_weights=args.alexnet_weights)
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"{e} (or pass --no-fid to skip FID and ArtFID)") from None
    result["model"] = str(args.model)
    print(json.dumps(result, indent=2, sort_keys=True))
    if args.output:
        atomic_save_json(result, args.output)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
