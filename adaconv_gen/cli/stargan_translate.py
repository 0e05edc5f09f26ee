"""``adaconv-stargan-translate``: translate images with trained StarGAN v2 networks.

    adaconv-stargan-translate --model runs/demo/model --src photo.png --ref ref_dir/ --output-dir out/
    adaconv-stargan-translate --model runs/demo/model --src src_dir/ --latent 4 --domain dots --output-dir out/

With ``--ref``, each source is translated with the style of each reference (the reference's
domain is its parent folder name when that is a domain, else ``--domain``). With ``--latent N``,
N random styles of ``--domain`` are used. ``--model`` is a model folder (a run's ``O/model``, a
``checkpoint-<step>`` folder, a ``save_pretrained`` folder) or an official ``*_nets_ema.ckpt``.
Outputs are named after what made them, ``<src>__<domain>__<ref>.png`` or
``<src>__<domain>__seed<S>-z<K>.png``, and an existing file is never replaced without
``--overwrite``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .common import (
    add_device,
    add_model,
    add_output_dir,
    add_progress,
    add_skip_bad_images,
    add_weights,
    check_images,
    check_model_family,
    check_new_files,
    make_parser,
    model_folder,
    output_dir,
    parse,
    positive_int,
    progress_bar,
    resolve_device,
    run_cli,
)

__all__ = ["main", "parse_args"]


def parse_args(argv=None):
    """Command-line flags (hyphens; underscores accepted too)."""
    p = make_parser("adaconv-stargan-translate", __doc__)
    add_model(p, "StarGAN v2 networks", "--checkpoint",
              also=", a checkpoint-<step> folder, or an official *_nets_ema.ckpt file")
    p.add_argument("--src", required=True, help="source image or folder")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ref", help="reference image or folder (its style is used)")
    g.add_argument("--latent", type=positive_int, metavar="N", help="number of random styles per source")
    p.add_argument("--domain", default=None,
                   help="target domain name or index (required with --latent; with --ref the default "
                        "is each reference's folder name)")
    p.add_argument("--domains", default=None,
                   help="comma-separated domain names in training order (default: from the model's config)")
    add_output_dir(p, "output folder for the translated images", deprecated_output=True)
    add_weights(p, "wing")
    add_skip_bad_images(p)
    add_device(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the latent codes")
    add_progress(p)
    return parse(p, argv)


def _domain_names(args, nets) -> list[str]:
    if args.domains:
        return [d.strip() for d in args.domains.split(",")]
    names = nets.config.get("domains")
    return list(names) if names else [str(i) for i in range(nets.config["num_domains"])]


def _domain_index(name: str, names: list[str], num: int, flag: str = "--domain") -> int:
    from ..errors import UserInputError

    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < num:
        return int(name)
    raise UserInputError(f"{flag}: unknown domain {name!r}; known: {', '.join(names)} (or an index < {num})")


def _main(argv=None) -> int:
    args = parse_args(argv)
    from ..data.images import list_images
    from ..errors import UserInputError

    if args.latent is not None and args.domain is None:
        raise UserInputError("--latent needs --domain (name or index)")
    out = output_dir(args)
    model = Path(args.model).expanduser()
    if not model.is_file():  # a folder (an official checkpoint file is read as such)
        model = check_model_family(model_folder(args.model), "stargan-v2")
    srcs = list_images(args.src)
    if not srcs:
        raise UserInputError(f"--src {args.src}: no images there")
    refs = list_images(args.ref) if args.ref is not None else []
    if args.ref is not None and not refs:
        raise UserInputError(f"--ref {args.ref}: no images there")
    srcs = check_images(srcs, skip_bad=args.skip_bad_images)
    refs = check_images(refs, skip_bad=args.skip_bad_images)
    if not srcs or (args.ref is not None and not refs):
        raise UserInputError("no readable images left to translate")
    device = resolve_device(args.device)

    import torch

    from ..data.domains import eval_transform
    from ..data.images import load_rgb, save_png
    from ..models.stargan_v2 import load_for_inference

    nets = load_for_inference(model, wing_weights=args.wing_weights, device=device)
    num, img_size = nets.config["num_domains"], nets.config["img_size"]
    names = _domain_names(args, nets)
    if len(names) != num:
        raise UserInputError(f"--domains: {len(names)} names for a model of {num} domains")
    tf = eval_transform(img_size)
    with torch.no_grad():
        if args.latent is not None:
            d = _domain_index(args.domain, names, num)
            g = torch.Generator().manual_seed(args.seed)
            z = torch.randn(args.latent, nets.config["latent_dim"], generator=g).to(device)
            plan = [(f"{names[d]}__seed{args.seed}-z{k}", ("z", k, d)) for k in range(args.latent)]
        else:
            plan = []
            for r in refs:
                d = _domain_index(args.domain or r.parent.name, names, num,
                                  flag="--domain" if args.domain else f"--ref {r} (its folder name)")
                plan.append((f"{names[d]}__{r.stem}", ("ref", r, d)))
        targets = [out / f"{sp.stem}__{tag}.png" for sp in srcs for tag, _ in plan]
        check_new_files(targets, overwrite=args.overwrite, flag="--output-dir")

        styles = []
        for tag, (kind, what, d) in plan:
            label = torch.tensor([d], device=device)
            if kind == "z":
                styles.append((tag, nets.mapping_network(z[what:what + 1], label)))
            else:
                styles.append((tag, nets.style_encoder(tf(load_rgb(what))[None].to(device), label)))
        written = 0
        with progress_bar(total=len(targets), desc="translate", enabled=not args.no_progress) as bar:
            for sp in srcs:
                x = tf(load_rgb(sp))[None].to(device)
                masks = nets.masks(x)
                for tag, s in styles:
                    y = nets.generator(x, s, masks=masks)
                    save_png(y[0], out / f"{sp.stem}__{tag}.png")
                    written += 1
                    bar.update(1)
    print(f"wrote {written} images to {out}")
    return 0


def main(argv=None) -> None:
    """Console entry point."""
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()
