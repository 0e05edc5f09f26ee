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

import sys

from ..errors import UserInputError
from ..models.onnx_export import DEFAULT_OPSET, export_stylizer, require_onnx_packages
from ..models.style_transfer import load_style_transfer_model
from .common import (
    add_model,
    add_overwrite,
    check_model_family,
    make_parser,
    model_folder,
    output_file,
    parse,
    positive_int,
    run_cli,
)

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-export", __doc__)
    add_model(p, "the style-transfer model")
    p.add_argument("--output", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=positive_int, default=DEFAULT_OPSET,
                   help="ONNX opset (18 or later: the style resize needs antialiased Resize)")
    add_overwrite(p)
    return parse(p, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    out = output_file(args.output, overwrite=args.overwrite)
    if args.opset < DEFAULT_OPSET:
        raise UserInputError(f"--opset must be {DEFAULT_OPSET} or later (antialiased Resize), got {args.opset}")
    require_onnx_packages()
    folder = check_model_family(model_folder(args.model), "style-transfer")
    model = load_style_transfer_model(folder)
    export_stylizer(model, out, opset=args.opset)
    print(f"wrote {out} ({model.model_type}, opset {args.opset}; inputs content, style, alpha=1; output image)")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
