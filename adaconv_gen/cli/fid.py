"""``adaconv-fid``: FID (or FD-DINOv2, KID) between two image folders or ``.npz`` statistics.

    adaconv-fid PATH_A PATH_B                      # last line: "FID: <value>"
    adaconv-fid --save-stats FOLDER OUT.npz        # reference statistics, computed once
    adaconv-fid real/ fake/ --kid --output fid.json  # KID too; the score with its metadata
    adaconv-fid real/ fake/ --features dinov2 --dinov2-weights vit_large_patch14_dinov2.safetensors
    accelerate launch --num_processes 8 -m adaconv_gen.cli.fid real/ fake/   # many GPUs

Every number is printed with the preset and feature network that produced it. The default
preset ``pytorch-fid`` reproduces pytorch-fid's statistics (and reads folders as it does);
see docs/fid.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import UserInputError
from ..metrics.features import FEATURES
from .common import (
    add_device,
    add_fid_preset,
    add_overwrite,
    add_progress,
    add_skip_bad_images,
    add_weights,
    make_parser,
    nonnegative_int,
    output_file,
    parse,
    positive_int,
    resolve_device,
    run_cli,
    warn,
)


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        n = os.cpu_count() or 1
    return min(8, n)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-fid", __doc__)
    p.add_argument("path", nargs=2, metavar="PATH",
                   help="two image folders or .npz statistics files (with --save-stats: FOLDER OUT.npz)")
    p.add_argument("--save-stats", action="store_true",
                   help="write the statistics of the first PATH (a folder) to the second PATH (.npz)")
    p.add_argument("--features", default="inception", choices=sorted(FEATURES),
                   help="feature network: inception (FID) or dinov2 (FD-DINOv2)")
    add_fid_preset(p, "--preset", default=None,
                   help="preprocessing protocol (default: pytorch-fid for inception, dgm-eval for dinov2)")
    add_weights(p, "inception", "dinov2")
    p.add_argument("--weights", dest="weights_deprecated", default=None, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=positive_int, default=50, help="images per forward pass")
    p.add_argument("--num-workers", type=nonnegative_int, default=_default_workers(),
                   help="DataLoader worker processes decoding images")
    add_device(p)
    p.add_argument("--kid", action="store_true", help="also compute KID (needs image folders, not .npz)")
    p.add_argument("--kid-subsets", type=positive_int, default=100, help="KID: number of subsets")
    p.add_argument("--kid-subset-size", type=positive_int, default=1000, help="KID: images per subset")
    p.add_argument("--seed", type=int, default=0, help="KID subset seed")
    p.add_argument("--output", "--json", dest="output", default=None, metavar="FILE",
                   help="write the score and its metadata (counts, preset, features, weights sha256) "
                        "as JSON here")
    add_overwrite(p)
    add_skip_bad_images(p)
    p.add_argument("--recursive", default=None, action=argparse.BooleanOptionalAction,
                   help="read folders recursively, any-case extensions (default: the preset's rule; "
                        "pytorch-fid: top level only, lower-case extensions)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="cache folder statistics here, keyed by the files and the extractor")
    add_progress(p)
    return parse(p, argv)


def _weights(args: argparse.Namespace) -> str | None:
    """The weights file of the selected feature network (one flag per network)."""
    if args.weights_deprecated is not None:
        warn("--weights is deprecated; use --inception-weights or --dinov2-weights")
    other = "dinov2" if args.features == "inception" else "inception"
    if getattr(args, f"{other}_weights") is not None:
        raise UserInputError(f"--{other}-weights given, but --features is {args.features} "
                             f"(use --{args.features}-weights)")
    return getattr(args, f"{args.features}_weights") or args.weights_deprecated


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    weights = _weights(args)
    if args.save_stats:
        if not str(args.path[1]).lower().endswith(".npz"):
            raise UserInputError(f"--save-stats: the second PATH must be an .npz file name, got {args.path[1]!r}")
        output_file(args.path[1], "--save-stats OUT.npz", overwrite=args.overwrite)
    output_file(args.output, overwrite=args.overwrite)
    from ..metrics.fid import _Context, fid_report, statistics_of
    from ..metrics.stats import save_statistics

    accelerator = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by accelerate / torchrun
        from accelerate import Accelerator

        accelerator = Accelerator()
    is_main = accelerator is None or accelerator.is_main_process
    device = None if accelerator is not None else resolve_device(args.device)
    common = dict(features=args.features, preset=args.fid_preset, weights=weights,
                  batch_size=args.batch_size, num_workers=args.num_workers,
                  device=device,
                  accelerator=accelerator, progress=not args.no_progress,
                  skip_bad_images=args.skip_bad_images, recursive=args.recursive,
                  cache_dir=args.cache_dir, flag=f"--{args.features}-weights")
    if args.save_stats:
        src, out = args.path
        if str(src).lower().endswith(".npz"):
            raise UserInputError(f"--save-stats needs an image folder first, got {src!r}")
        ctx = _Context(**common)
        res = statistics_of(src, ctx)
        label = ctx.get_extractor().describe()
        if is_main:
            save_statistics(out, res.mu, res.sigma, num_images=res.num_images,
                            num_skipped=res.num_skipped, **label)
            print(f"preset: {label['preset']}  features: {label['features']}  "
                  f"weights: {label['weights']} (sha256 {label['weights_sha256'][:12]})")
            print(f"saved statistics of {res.num_images} images to {out}")
        return 0

    report = fid_report(args.path[0], args.path[1], kid=args.kid, kid_subsets=args.kid_subsets,
                        kid_subset_size=args.kid_subset_size, seed=args.seed, **common)
    if not is_main:
        return 0
    report["sources"] = [str(p) for p in args.path]
    sha = report.get("weights_sha256") or "unknown"
    print(f"preset: {report['preset']}  features: {report['features']}  "
          f"weights: {report.get('weights')} (sha256 {sha[:12]})")
    for name, n, s in zip(args.path, report["num_images"], report["num_skipped"]):
        count = f"{n} images" if n >= 0 else "image count not stored"
        print(f"{name}: {count}" + (f", {s} unreadable skipped" if s else ""))
    if args.kid:
        print(f"KID: {report['kid']:.6g} +- {report['kid_std']:.3g}")
    if args.output:
        from ..files import atomic_save_json

        atomic_save_json(report, args.output)
    print(f"{report['metric']}: {report['value']}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
