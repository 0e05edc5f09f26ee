"""``adaconv-stylize``: apply a trained AdaConv / AdaIN style-transfer model to images.

Examples::

    adaconv-stylize --model runs/adaconv/model --content photos/ --style starry.jpg --output-dir out/
    adaconv-stylize --model M --content a.jpg --style s1.jpg s2.jpg --style-weights 0.7 0.3 --output-dir out/
    adaconv-stylize --model M --content a.jpg --style s.jpg --alpha 0.5 --size 512 --output-dir out/

One output per content x style, named ``<content>__<style>.png``; with ``--style-weights`` the
styles' descriptors are blended into one (style interpolation, Chandran et al. 2021, section
4.1) and there is one output per content, ``<content>__blend-<style1>-<style2>....png``.
Outputs keep the content's size. Every input is read before anything is written; an unreadable
one is an error naming the file (exit status 2) unless ``--skip-bad-images``; an existing
output file is never replaced without ``--overwrite``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UserInputError
from .common import (
    add_device,
    add_model,
    add_output_dir,
    add_progress,
    add_skip_bad_images,
    check_images,
    check_model_family,
    check_new_files,
    make_parser,
    model_folder,
    nonnegative_int,
    output_dir,
    parse,
    progress_bar,
    resolve_device,
    run_cli,
)

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-stylize", __doc__)
    add_model(p, "the style-transfer model")
    p.add_argument("--content", nargs="+", required=True, help="content image files or folders")
    p.add_argument("--style", nargs="+", required=True, help="style image files or folders")
    add_output_dir(p, "output folder for the stylized images", deprecated_output=True)
    p.add_argument("--alpha", type=float, default=1.0,
                   help="style strength: 0 keeps the content's own style, 1 the given style")
    p.add_argument("--style-weights", type=float, nargs="+", default=None,
                   help="blend all styles into one with these weights (one per style image)")
    p.add_argument("--size", type=nonnegative_int, default=0,
                   help="process at this short side (content and style), then resize back to the "
                        "content's size; 0 keeps the original sizes")
    add_skip_bad_images(p)
    add_device(p)
    add_progress(p)
    return parse(p, argv)


def _collect(sources: list[str], flag: str) -> list[Path]:
    from ..data.images import list_images

    out: list[Path] = []
    for s in sources:
        found = list_images(s)
        if not found:
            raise UserInputError(f"{flag} {s}: no images there")
        out += found
    return out


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        raise UserInputError(f"--alpha must be in [0, 1], got {args.alpha}")
    out_dir = output_dir(args)
    folder = check_model_family(model_folder(args.model), "style-transfer")
    contents, styles = _collect(args.content, "--content"), _collect(args.style, "--style")
    contents = check_images(contents, skip_bad=args.skip_bad_images)
    styles = check_images(styles, skip_bad=args.skip_bad_images)
    if not contents or not styles:
        raise UserInputError("no readable " + ("content" if not contents else "style") + " images left")
    if args.style_weights is not None and len(args.style_weights) != len(styles):
        raise UserInputError(f"--style-weights has {len(args.style_weights)} values for {len(styles)} style images")
    if args.style_weights is not None:
        names = ["blend-" + "-".join(p.stem for p in styles)]
    else:
        names = [p.stem for p in styles]
    targets = [out_dir / f"{cp.stem}__{name}.png" for cp in contents for name in names]
    check_new_files(targets, overwrite=args.overwrite)
    device = resolve_device(args.device)

    import torch
    import torch.nn.functional as F

    from ..data.images import load_image_tensor, save_png, to_uint8
    from ..models.style_transfer import load_style_transfer_model

    model = load_style_transfer_model(folder, map_location=device)
    size = args.size or None
    with torch.no_grad():
        descs = []
        for p in styles:
            try:
                descs.append(model.encode_style(load_image_tensor(p, size).to(device)))
            except ValueError as e:  # e.g. a style image too small for the encoder
                raise UserInputError(f"--style {p}: {e}") from None
        if args.style_weights is not None:
            try:
                descs = [model.mix_descriptors(descs, args.style_weights)]
            except ValueError as e:
                raise UserInputError(f"--style-weights: {e}") from None
        results = []  # everything is computed before the first file is written
        with progress_bar(total=len(targets), desc="stylize", enabled=not args.no_progress) as bar:
            for cp in contents:
                full = load_image_tensor(cp).to(device)
                x = full if size is None else load_image_tensor(cp, size).to(device)
                for d in descs:
                    try:
                        y = model.stylize(x, descriptor=d, alpha=args.alpha)
                    except ValueError as e:
                        raise UserInputError(f"--content {cp}: {e}") from None
                    if y.shape[-2:] != full.shape[-2:]:
                        y = F.interpolate(y, size=full.shape[-2:], mode="bilinear", align_corners=False,
                                          antialias=True)
                    results.append(to_uint8(y[0]).cpu())  # 8-bit: what the file holds
                    bar.update(1)
    for y, target in zip(results, targets):
        save_png(y.float(), target, value_range=(0.0, 255.0))
    print(f"wrote {len(targets)} image(s) to {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
