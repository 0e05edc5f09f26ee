"""Train the StyleGAN-style generator with AdaConv (Chandran et al., CVPR 2021, section 4.2),
StyleGAN2 modulated convs, or StyleGAN v1 AdaIN, on a folder of images.

Paper setting (FFHQ / CelebA-HQ / AFHQ at 256x256, batch 4 on one GPU, 300k steps; no FID was
published)::

    accelerate launch recipes/stylegan.py --data_dir ffhq256 --output_dir runs/sg-adaconv \\
        --img_size 256 --batch_size 8 --modulation adaconv --max_train_steps 300000 \\
        --checkpointing_steps 5000 --resume_from_checkpoint latest \\
        --fid_weights pt_inception-2015-12-05-6726825d.pth --fid_steps 10000

    # the baselines, same data and schedule
    accelerate launch recipes/stylegan.py ... --output_dir runs/sg-modconv --modulation modconv
    accelerate launch recipes/stylegan.py ... --output_dir runs/sg-adain --modulation adain

CPU demo on generated patterns (200 steps, about 7 CPU-minutes; a pipeline check, not a quality result)::

    accelerate launch --cpu recipes/stylegan.py --demo --output_dir runs/sg-demo

Outputs: ``O/config.json`` (resolved arguments), ``O/checkpoint-{step}/`` (G, D, optimisers,
EMA generator, step, RNG), ``O/samples/step-{step}.png`` (EMA generator, fixed latents),
``O/logs/`` (scalars, FID), and ``O/generator/`` (``config.json`` + ``model.safetensors``, the
EMA generator) for ``adaconv-stylegan-sample``.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adaconv_gen.cli import normalize_flags, run_cli
from adaconv_gen.data import ImageFolderDataset, default_transform
from adaconv_gen.data.images import save_image_grid
from adaconv_gen.data.synthetic import write_pattern_folder
from adaconv_gen.errors import UserInputError
from adaconv_gen.files import atomic_save_json
from adaconv_gen.models.stylegan import STYLEGAN_MODULATIONS, Discriminator, build
from adaconv_gen.training import (
    TrainState,
    add_bookkeeping_args,
    resume_from_checkpoint,
    save_checkpoint,
    tracker_config,
    update_ema,
)
from adaconv_gen.training.jsonl_tracker import JsonlTracker
from adaconv_gen.training.stylegan import (
    StyleGANLossConfig,
    StyleGANPhases,
    generator_fid,
    lazy_adam,
    real_fid_statistics,
)

# Values --demo uses for every flag left at its default.
DEMO_PRESET = {"img_size": 32, "channels": 16, "style_dim": 64, "n_mlp": 4, "style_channels": 32,
               "batch_size": 8, "max_train_steps": 200, "checkpointing_steps": 100, "sample_steps": 50,
               "ema_decay": 0.99, "num_samples": 16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (underscores; hyphens accepted too)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data_dir", type=str, default=None, help="Training images (folder read recursively).")
    d.add_argument("--demo", action="store_true",
                   help="Generate a pattern dataset in OUTPUT_DIR/demo_data and use small CPU settings "
                        "for every flag left at its default.")
    d.add_argument("--img_size", type=int, default=256, help="Training resolution (power of two).")
    d.add_argument("--no_flip", action="store_true", help="Disable random horizontal flips.")
    d.add_argument("--dataloader_num_workers", type=int, default=2, help="DataLoader workers.")
    m = p.add_argument_group("model")
    m.add_argument("--modulation", choices=STYLEGAN_MODULATIONS, default="adaconv",
                   help="adaconv (the paper), modconv (StyleGAN2), adain (StyleGAN v1).")
    m.add_argument("--channels", type=int, default=512, help="Base width (halved per resolution above 32 px).")
    m.add_argument("--style_dim", type=int, default=512, help="Size of z and w.")
    m.add_argument("--n_mlp", type=int, default=8, help="Mapping network layers.")
    m.add_argument("--lr_mlp", type=float, default=0.01, help="Mapping learning-rate multiplier.")
    m.add_argument("--style_channels", type=int, default=128, help="AdaConv descriptor depth s_d.")
    m.add_argument("--kernel_size", type=int, default=3, help="AdaConv predicted kernel size.")
    m.add_argument("--groups", type=int, default=None,
                   help="AdaConv groups n_g (default: the paper's rule, adaconv_gen.default_groups).")
    t = p.add_argument_group("training")
    t.add_argument("--output_dir", type=str, required=True, help="Checkpoints, samples, logs, export.")
    t.add_argument("--batch_size", type=int, default=8, help="Images per step and process.")
    t.add_argument("--max_train_steps", type=int, default=300000, help="Training steps (each runs G and D).")
    t.add_argument("--learning_rate", type=float, default=0.002, help="Adam learning rate (G and D).")
    t.add_argument("--adam_beta1", type=float, default=0.0, help="Adam beta1.")
    t.add_argument("--adam_beta2", type=float, default=0.99, help="Adam beta2.")
    t.add_argument("--r1_gamma", type=float, default=10.0, help="R1 weight gamma (0: off).")
    t.add_argument("--r1_interval", type=int, default=16, help="Lazy R1 every N steps.")
    t.add_argument("--pl_weight", type=float, default=0.0, help="Path-length weight (StyleGAN2: 2; 0: off).")
    t.add_argument("--pl_interval", type=int, default=4, help="Path-length regularisation every N steps.")
    t.add_argument("--mixing_prob", type=float, default=0.9, help="Style-mixing probability.")
    t.add_argument("--ema_decay", type=float, default=0.999, help="EMA decay of the sampled generator.")
    add_bookkeeping_args(t, seed=0, checkpointing_steps=5000, sample_steps=1000)
    t.add_argument("--num_samples", type=int, default=64, help="Images in the sample grid (fixed latents).")
    f = p.add_argument_group("FID (on when --fid_weights is given)")
    f.add_argument("--fid_weights", type=str, default=None,
                   help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid Inception).")
    f.add_argument("--fid_steps", type=int, default=10000, help="Compute FID every N steps.")
    f.add_argument("--fid_num_samples", type=int, default=10000, help="Generated images per FID.")
    f.add_argument("--fid_batch_size", type=int, default=32, help="Batch size for FID.")
    args = p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="_"))
    if args.demo:
        for k, v in DEMO_PRESET.items():
            if getattr(args, k) == p.get_default(k):
                setattr(args, k, v)
    elif not args.data_dir:
        p.error("--data_dir is required (or --demo)")
    return args


def _cycle(loader):
    while True:
        yield from loader


def _mbstd_group(batch_size: int) -> int:
    return max(g for g in (4, 3, 2, 1) if batch_size % g == 0)


def main(args: argparse.Namespace) -> None:
    out = Path(args.output_dir)
    trackers = [JsonlTracker("stylegan", out / "logs")] if args.report_to == "jsonl" else args.report_to
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision, log_with=trackers,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")))
    set_seed(args.seed)

    with accelerator.main_process_first():
        if args.demo and not args.data_dir:
            data = out / "demo_data"
            if accelerator.is_main_process and not data.is_dir():
                write_pattern_folder(data, ["stripes", "checker", "dots", "rings", "waves", "blobs"],
                                     n=48, size=args.img_size, seed=args.seed)
            args.data_dir = str(data)
        dataset = ImageFolderDataset(args.data_dir, default_transform(args.img_size, train=not args.no_flip))
    if len(dataset) < args.batch_size:
        raise UserInputError(f"--data_dir {args.data_dir}: {len(dataset)} readable images, fewer than "
                             f"--batch_size {args.batch_size}")
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.dataloader_num_workers)
    adaconv_kw = ({"style_channels": args.style_channels, "kernel_size": args.kernel_size,
                   "groups": args.groups} if args.modulation == "adaconv" else {})
    G = build(args.img_size, style_dim=args.style_dim, n_mlp=args.n_mlp, channels=args.channels,
              modulation=args.modulation, lr_mlp=args.lr_mlp, **adaconv_kw)
    D = Discriminator(args.img_size, args.channels, mbstd_group_size=_mbstd_group(args.batch_size))
    G_ema = copy.deepcopy(G).eval().requires_grad_(False).to(accelerator.device)
    loss_cfg = StyleGANLossConfig(r1_gamma=args.r1_gamma, r1_interval=args.r1_interval,
                                  pl_weight=args.pl_weight, pl_interval=args.pl_interval,
                                  mixing_prob=args.mixing_prob)
    betas = (args.adam_beta1, args.adam_beta2)
    opt_G = lazy_adam(G.parameters(), args.learning_rate, betas, args.pl_interval if args.pl_weight > 0 else 0)
    opt_D = lazy_adam(D.parameters(), args.learning_rate, betas, args.r1_interval if args.r1_gamma > 0 else 0)
    if accelerator.is_main_process:
        atomic_save_json({**vars(args), "generator": G.config, "loss": vars(loss_cfg),
                          "num_images": len(dataset), "skipped_images": [str(b) for b in dataset.bad],
                          "num_processes": accelerator.num_processes}, out / "config.json")

    G, D, opt_G, opt_D, loader = accelerator.prepare(G, D, opt_G, opt_D, loader)
    state = TrainState(step=0, pl_mean=0.0)
    accelerator.register_for_checkpointing(G_ema, state)
    resume_from_checkpoint(accelerator, out, args.resume_from_checkpoint)
    accelerator.init_trackers("stylegan", config=tracker_config(args))
    phases = StyleGANPhases(accelerator, G, D, opt_G, opt_D, loss_cfg, state)

    fid_real = None
    if args.fid_weights and accelerator.is_main_process:
        fid_real = real_fid_statistics(dataset.paths, args.img_size, weights=args.fid_weights,
                                       batch_size=args.fid_batch_size, device=accelerator.device)

    data_iter = _cycle(loader)
    bar = tqdm(total=args.max_train_steps, initial=state.step, disable=not accelerator.is_local_main_process,
               desc=f"stylegan-{args.modulation}")
    G.train()
    D.train()
    while state.step < args.max_train_steps:
        real = next(data_iter)
        step = state.step + 1
        logs = phases.step(real, step)
        update_ema(G_ema, accelerator.unwrap_model(G), args.ema_decay)
        state.step = step
        bar.update(1)
        if step % args.log_steps == 0 or step == 1 or step == args.max_train_steps:
            if not all(math.isfinite(v) for v in logs.values()):
                raise RuntimeError(f"non-finite loss at step {step}: {logs}")
            accelerator.log(logs, step=step)
            bar.set_postfix(G=f"{logs['loss/G']:.3f}", D=f"{logs['loss/D']:.3f}")
        if accelerator.is_main_process and (step % args.sample_steps == 0 or step == args.max_train_steps):
            save_image_grid(G_ema.sample(args.num_samples, seed=args.seed),
                            out / "samples" / f"step-{step:07d}.png", nrow=int(math.ceil(args.num_samples ** 0.5)))
        if fid_real is not None and (step % args.fid_steps == 0 or step == args.max_train_steps):
            fid = generator_fid(G_ema, fid_real, args.fid_num_samples, batch_size=args.fid_batch_size,
                                weights=args.fid_weights, device=accelerator.device)
            accelerator.log({"fid": fid}, step=step)
            accelerator.print(f"step {step}: FID {fid:.3f} ({args.fid_num_samples} samples)")
        if step % args.checkpointing_steps == 0 or step == args.max_train_steps:
            save_checkpoint(accelerator, out, step, args.checkpoints_total_limit)
            if accelerator.is_main_process:
                G_ema.save_pretrained(out / "generator")
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.print(f"generator (EMA) at {out / 'generator'} (step {state.step})")
    accelerator.end_training()


def _main(argv: list[str] | None) -> None:
    main(parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_cli(_main, sys.argv[1:]))
