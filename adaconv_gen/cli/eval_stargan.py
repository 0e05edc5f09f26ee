"""``adaconv-eval-stargan``: the StarGAN v2 evaluation protocol (FID + LPIPS over all domain pairs).

    adaconv-eval-stargan --checkpoint runs/afhq --train-dir D/train --val-dir D/val --mode both
    adaconv-eval-stargan --checkpoint afhq_100000_nets_ema.ckpt --train-dir D/train --val-dir D/val \\
        --preset stargan-v2        # the official protocol (torchvision Inception)

Results are printed and written as JSON (default: next to the checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="adaconv-eval-stargan", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="save_pretrained folder, checkpoint-<step> folder, run folder, or official *_nets_ema.ckpt")
    p.add_argument("--train-dir", required=True, help="training images <dir>/<domain>/* (FID reference)")
    p.add_argument("--val-dir", required=True, help="validation images <dir>/<domain>/* (sources, references)")
    p.add_argument("--mode", choices=["latent", "reference", "both"], default="both", help="style source")
    p.add_argument("--num-outs", type=int, default=10, help="outputs per validation image")
    p.add_argument("--preset", default="pytorch-fid", help="FID preset; 'stargan-v2' = the official protocol")
    p.add_argument("--inception-weights", "--fid-weights", dest="fid_weights", default=None,
                   help="Inception weights for the preset (else the resolver)")
    p.add_argument("--no-fid", action="store_true", help="LPIPS only (no Inception weights needed)")
    p.add_argument("--lpips-weights", default=None, help="LPIPS alex.pth (else the resolver)")
    p.add_argument("--alexnet-weights", default=None, help="AlexNet weights for LPIPS (else the resolver)")
    p.add_argument("--wing-weights", default=None, help="FAN wing.ckpt when the model uses w_hpf > 0")
    p.add_argument("--batch-size", type=int, default=32, help="translation batch size")
    p.add_argument("--device", default=None, help="torch device (default: CUDA if available)")
    p.add_argument("--seed", type=int, default=777, help="seed of latent codes and reference order")
    p.add_argument("--output", default=None, help="JSON file (default: <checkpoint folder>/eval_<mode>.json)")
    p.add_argument("--images-dir", default=None, help="keep the generated images here")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _main(argv=None) -> int:
    args = parse_args(argv)
    from ..evaluation.stargan_v2 import evaluate
    from ..models.stargan_v2 import load_for_inference

    nets = load_for_inference(args.checkpoint, wing_weights=args.wing_weights)
    ck = Path(args.checkpoint)
    output = args.output or (ck.parent if ck.is_file() else ck) / f"eval_{args.mode}.json"
    res = evaluate(nets, args.train_dir, args.val_dir, mode=args.mode, num_outs=args.num_outs,
                   preset=args.preset, fid_weights=args.fid_weights, lpips_weights=args.lpips_weights,
                   alexnet_weights=args.alexnet_weights, batch_size=args.batch_size, device=args.device,
                   output=output, images_dir=args.images_dir, seed=args.seed, progress=True,
                   fid=not args.no_fid)
    print(json.dumps(res, indent=2))
    print(f"written to {output}", file=sys.stderr)
    return 0


def main(argv=None) -> None:
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
