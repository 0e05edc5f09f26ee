"""``adaconv-fid``: FID (or FD-DINOv2, KID) between two image folders or ``.npz`` statistics.

    adaconv-fid PATH_A PATH_B                      # last line: "FID: <value>"
    adaconv-fid --save-stats FOLDER OUT.npz        # reference statistics, computed once
    adaconv-fid real/ fake/ --kid --json fid.json  # KID too; the score with its metadata
    adaconv-fid real/ fake/ --features dinov2 --weights vit_large_patch14_dinov2.safetensors
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
from ..metrics.presets import PRESETS
from . import normalize_flags, run_cli


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        n = os.cpu_count() or 1
    return min(8, n)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="adaconv-fid", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("path", nargs=2, metavar="PATH",
                   help="two image folders or .npz statistics files (with --save-stats: FOLDER OUT.npz)")
    p.add_argument("--save-stats", action="store_true",
                   help="write the statistics of the first PATH (a folder) to the second PATH (.npz)")
    p.add_argument("--features", default="inception", choices=sorted(FEATURES),
                   help="feature network: inception (FID) or dinov2 (FD-DINOv2)")
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="preprocessing protocol; default: pytorch-fid for inception, dgm-eval for dinov2")
    p.add_argument("--weights", "--inception-weights", dest="weights", default=None, metavar="FILE",
                   help="weights file of the selected network (else $ADACONV_*_WEIGHTS, "
                        "$ADACONV_WEIGHTS_DIR, the torch hub cache, a download when online)")
    p.add_argument("--batch-size", type=int, default=50, help="images per forward pass")
    p.add_argument("--num-workers", type=int, default=_default_workers(),
                   help="DataLoader worker processes decoding images")
    p.add_argument("--device", default=None, help="torch device, e.g. cuda, cuda:1, cpu (default: cuda if available)")
    p.add_argument("--kid", action="store_true", help="also compute KID (needs image folders, not .npz)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID: number of subsets")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="KID: images per subset")
    p.add_argument("--seed", type=int, default=0, help="KID subset seed")
    p.add_argument("--json", default=None, metavar="OUT",
                   help="write the score and its metadata (counts, preset, features, weights sha256) here")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable images (one warning with the count) instead of stopping")
    p.add_argument("--recursive", default=None, action=argparse.BooleanOptionalAction,
                   help="read folders recursively, any-case extensions (default: the preset's rule; "
                        "pytorch-fid: top level only, lower-case extensions)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="cache folder statistics here, keyed by the files and the extractor")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    from ..metrics.fid import _Context, fid_report, statistics_of
    from ..metrics.stats import save_statistics

    accelerator = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by accelerate / torchrun
        from accelerate import Accelerator

        accelerator = Accelerator()
    is_main = accelerator is None or accelerator.is_main_process
    common = dict(features=args.features, preset=args.preset, weights=args.weights,
                  batch_size=args.batch_size, num_workers=args.num_workers,
                  device=None if accelerator is not None else args.device,
                  accelerator=accelerator, progress=not args.no_progress,
                  skip_bad_images=args.skip_bad_images, recursive=args.recursive,
                  cache_dir=args.cache_dir)
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
    if args.json:
        from ..files import atomic_save_json

        atomic_save_json(report, args.json)
    print(f"{report['metric']}: {report['value']}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
