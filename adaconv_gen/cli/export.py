"""``adaconv-export``: a trained AdaConv / AdaIN style-transfer model as one ONNX graph.

Examples::

    adaconv-export --model runs/adaconv/model --output stylizer.onnx
    adaconv-export --model runs/adaconv/model --output stylizer.onnx --opset 20 --overwrite

The graph does what ``adaconv-stylize`` does, preprocessing and postprocessing included:
inputs ``content (1, 3, H, W)`` and ``style (1, 3, h, w)``, float32 RGB in [0, 1], any sizes
(at least 8 px a side); ``alpha``, a float32 scalar that defaults to 1 when not fed; output
``image (1, 3, H, W)`` in [0, 1]. ``--size`` of ``adaconv-stylize`` is the caller's resize
(see docs/deploy.md). Needs the ``[onnx]`` extra (``pip install "adaconv-gen[onnx]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserInputError
from ..models.onnx_export import DEFAULT_OPSET, export_stylizer, require_onnx_packages
from ..models.style_transfer import load_style_transfer_model
from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (hyphens; underscores accepted too)."""
    p = argparse.ArgumentParser(prog="adaconv-export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True,
                   help="Style-transfer model folder written by save_pretrained / the recipe (O/model).")
    p.add_argument("--output", required=True, help="The .onnx file to write.")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help="ONNX opset (18 or later: the style resize needs antialiased Resize).")
    p.add_argument("--overwrite", action="store_true", help="Replace --output if it exists.")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    out = Path(args.output)
    if out.is_dir():
        raise UserInputError(f"--output {str(out)!r} is a folder; give the .onnx file to write")
    if out.exists() and not args.overwrite:
        raise UserInputError(f"--output {str(out)!r} exists; pass --overwrite to replace it")
    if args.opset < DEFAULT_OPSET:
        raise UserInputError(f"--opset must be {DEFAULT_OPSET} or later (antialiased Resize), got {args.opset}")
    require_onnx_packages()
    model = load_style_transfer_model(args.model)
    export_stylizer(model, out, opset=args.opset)
    print(f"wrote {out} ({model.model_type}, opset {args.opset}; inputs content, style, alpha=1; output image)")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
