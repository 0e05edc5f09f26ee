"""``adaconv-stylize``: apply a trained AdaConv / AdaIN style-transfer model to images.

Examples::

    adaconv-stylize --model runs/adaconv/model --content photos/ --style starry.jpg --output out/
    adaconv-stylize --model M --content a.jpg --style s1.jpg s2.jpg --style-weights 0.7 0.3 --output out/
    adaconv-stylize --model M --content a.jpg --style s.jpg --alpha 0.5 --size 512 --output out/

One output per content x style, named ``<content>__<style>.png``; with ``--style-weights`` the
styles' descriptors are blended into one (style interpolation, Chandran et al. 2021, section
4.1) and there is one output per content, ``<content>__blend.png``. Outputs keep the content's
size. An unreadable input is an error naming the file (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.images import list_images, load_image_tensor, load_rgb, save_image_grid
from ..errors import UserInputError
from ..models.style_transfer import load_style_transfer_model
from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (hyphens; underscores accepted too)."""
    p = argparse.ArgumentParser(prog="adaconv-stylize", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Folder written by save_pretrained / the recipe (O/model).")
    p.add_argument("--content", nargs="+", required=True, help="Content image files or folders.")
    p.add_argument("--style", nargs="+", required=True, help="Style image files or folders.")
    p.add_argument("--output", required=True, help="Output folder.")
    p.add_argument("--alpha", type=float, default=1.0,
                   help="Style strength: 0 keeps the content's own style, 1 the given style.")
    p.add_argument("--style-weights", type=float, nargs="+", default=None,
                   help="Blend all styles into one with these weights (one per style image).")
    p.add_argument("--size", type=int, default=0,
                   help="Process at this short side (content and style), then resize back to the "
                        "content's size; 0 keeps the original sizes.")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu).")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _collect(sources: list[str]) -> list[Path]:
    out: list[Path] = []
    for s in sources:
        found = list_images(s)
        if not found:
            raise UserInputError(f"no images found in {s!r}")
        out += found
    return out


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        raise UserInputError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.size < 0:
        raise UserInputError(f"--size must be >= 0, got {args.size}")
    contents, styles = _collect(args.content), _collect(args.style)
    if args.style_weights is not None and len(args.style_weights) != len(styles):
        raise UserInputError(f"--style-weights has {len(args.style_weights)} values for {len(styles)} style images")
    for p in contents:  # an unreadable content fails before any output is written
        load_rgb(p)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_style_transfer_model(args.model, map_location=device)
    size = args.size or None
    with torch.no_grad():
        # Read every style first: an unreadable file fails before any output is written.
        descs = []
        for p in styles:
            try:
                descs.append((p.stem, model.encode_style(load_image_tensor(p, size).to(device))))
            except ValueError as e:  # e.g. a style image too small for the encoder
                raise UserInputError(f"style {str(p)!r}: {e}") from None
        if args.style_weights is not None:
            try:
                descs = [("blend", model.mix_descriptors([d for _, d in descs], args.style_weights))]
            except ValueError as e:
                raise UserInputError(f"--style-weights: {e}") from None
        out_dir = Path(args.output)
        n = 0
        for cp in contents:
            full = load_image_tensor(cp).to(device)
            x = full if size is None else load_image_tensor(cp, size).to(device)
            for name, d in descs:
                try:
                    y = model.stylize(x, descriptor=d, alpha=args.alpha)
                except ValueError as e:
                    raise UserInputError(f"content {str(cp)!r}: {e}") from None
                if y.shape[-2:] != full.shape[-2:]:
                    y = F.interpolate(y, size=full.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
                save_image_grid(y, out_dir / f"{cp.stem}__{name}.png", nrow=1, padding=0)
                n += 1
    print(f"wrote {n} image(s) to {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
