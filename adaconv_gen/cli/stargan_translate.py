"""``adaconv-stargan-translate``: translate images with trained StarGAN v2 networks.

    adaconv-stargan-translate --checkpoint runs/demo --src photo.png --ref ref_dir/ --output out/
    adaconv-stargan-translate --checkpoint runs/demo --src src_dir/ --latent 4 --domain dots --output out/

With ``--ref``, each source is translated with the style of each reference (the reference's
domain is its parent folder name when that is a domain, else ``--domain``). With ``--latent N``,
N random styles of ``--domain`` are used. Output: ``<src>__<ref or zK>.png`` per pair.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import normalize_flags, run_cli

__all__ = ["main", "parse_args"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="adaconv-stargan-translate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="save_pretrained folder, checkpoint-<step> folder, run folder, or official *_nets_ema.ckpt")
    p.add_argument("--src", required=True, help="source image or folder")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ref", help="reference image or folder (its style is used)")
    g.add_argument("--latent", type=int, help="number of random styles per source")
    p.add_argument("--domain", default=None,
                   help="target domain name or index (required with --latent; default for --ref: the folder name)")
    p.add_argument("--domains", default=None,
                   help="comma-separated domain names in training order (default: from the run's config)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--wing-weights", default=None, help="FAN wing.ckpt when the model uses w_hpf > 0")
    p.add_argument("--device", default=None, help="torch device (default: CUDA if available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent codes")
    return p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="-"))


def _domain_names(args, nets) -> list[str]:
    if args.domains:
        return [d.strip() for d in args.domains.split(",")]
    names = nets.config.get("domains")
    return list(names) if names else [str(i) for i in range(nets.config["num_domains"])]


def _domain_index(name: str, names: list[str], num: int) -> int:
    from ..errors import UserInputError

    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < num:
        return int(name)
    raise UserInputError(f"unknown domain {name!r}; known: {', '.join(names)} (or an index < {num})")


def _main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from ..data.domains import eval_transform
    from ..data.images import list_images, load_rgb, save_png
    from ..errors import UserInputError
    from ..models.stargan_v2 import load_for_inference

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    nets = load_for_inference(args.checkpoint, wing_weights=args.wing_weights, device=device)
    num, img_size = nets.config["num_domains"], nets.config["img_size"]
    names = _domain_names(args, nets)
    tf = eval_transform(img_size)
    srcs = list_images(args.src)
    if not srcs:
        raise UserInputError(f"no images in {args.src!r}")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with torch.no_grad():
        if args.latent is not None:
            if args.domain is None:
                raise UserInputError("--latent needs --domain (name or index)")
            d = _domain_index(args.domain, names, num)
            g = torch.Generator().manual_seed(args.seed)
            z = torch.randn(args.latent, nets.config["latent_dim"], generator=g).to(device)
            styles = [(f"z{k}", nets.mapping_network(z[k:k + 1], torch.tensor([d], device=device)))
                      for k in range(args.latent)]
        else:
            styles = []
            for r in list_images(args.ref):
                dname = args.domain or r.parent.name
                d = _domain_index(dname, names, num)
                x = tf(load_rgb(r))[None].to(device)
                styles.append((r.stem, nets.style_encoder(x, torch.tensor([d], device=device))))
            if not styles:
                raise UserInputError(f"no images in {args.ref!r}")
        for sp in srcs:
            x = tf(load_rgb(sp))[None].to(device)
            masks = nets.masks(x)
            for tag, s in styles:
                y = nets.generator(x, s, masks=masks)
                save_png(y[0], out / f"{sp.stem}__{tag}.png")
                written += 1
    print(f"wrote {written} images to {out}")
    return 0


def main(argv=None) -> None:
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
