"""``adaconv-eval-style``: measure a style-transfer model on held-out content/style pairs.

Example::

    adaconv-eval-style --model runs/adaconv/model --content coco_val/ --style wikiart_val/ \\
        --output results.json

Prints (and with ``--output`` writes) JSON: content loss, style loss, FID between the
stylised images and the style set, and with LPIPS on (the default; ``--no-lpips`` turns it off)
the LPIPS content distance and ArtFID ``(1 + LPIPS) * (1 + FID)``. The logic is
:func:`adaconv_gen.evaluation.style_transfer.evaluate_style_transfer`.
"""

from __future__ import annotations

import json
import sys

from ..errors import UserInputError, WeightsNotFoundError
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


def parse_args(argv: list[str] | None = None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-eval-style", __doc__)
    add_model(p, "the style-transfer model")
    p.add_argument("--content", nargs="+", required=True, help="held-out content images (files or folders)")
    p.add_argument("--style", nargs="+", required=True, help="held-out style images (files or folders)")
    p.add_argument("--size", type=int, default=256, help="evaluation size (short-side resize, centre crop)")
    p.add_argument("--num-pairs", type=positive_int, default=None,
                   help="pairs (content[i %% Nc], style[i %% Ns]); default: max(Nc, Ns)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="pairs per forward pass")
    p.add_argument("--no-fid", action="store_true", help="skip FID (and so ArtFID)")
    add_fid_preset(p)
    add_lpips(p)
    add_weights(p, "inception", "lpips", "alexnet")
    p.add_argument("--output", default=None, metavar="FILE", help="also write the JSON report here")
    add_overwrite(p)
    add_device(p)
    add_progress(p)
    return parse(p, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if args.size < 16:
        raise UserInputError(f"--size must be >= 16, got {args.size}")
    output = output_file(args.output, overwrite=args.overwrite)
    folder = check_model_family(model_folder(args.model), "style-transfer")
    device = resolve_device(args.device)
    from ..evaluation.style_transfer import evaluate_style_transfer
    from ..files import atomic_save_json
    from ..models.style_transfer import load_style_transfer_model

    model = load_style_transfer_model(folder, map_location=device)
    try:
        result = evaluate_style_transfer(
            model, args.content, args.style, size=args.size, num_pairs=args.num_pairs,
            batch_size=args.batch_size, device=device, fid=not args.no_fid, fid_preset=args.fid_preset,
            inception_weights=args.inception_weights, lpips=args.lpips, lpips_weights=args.lpips_weights,
            alexnet_weights=args.alexnet_weights, progress=not args.no_progress)
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"{e} (or pass --no-fid / --no-lpips to skip that metric)") from None
    result["model"] = str(args.model)
    print(json.dumps(result, indent=2, sort_keys=True))
    if output is not None:
        atomic_save_json(result, output)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
