"""Train the StyleGAN-style generator with AdaConv (Chandran et al., CVPR 2021, section 4.2),
StyleGAN2 modulated convs, or StyleGAN v1 AdaIN, on a folder of images.

Paper setting (FFHQ / CelebA-HQ / AFHQ at 256x256, batch 4 on one GPU, 300k steps; no FID was
published)::

    accelerate launch recipes/stylegan.py --data_dir ffhq256 --output_dir runs/sg-adaconv \\
        --img_size 256 --batch_size 8 --modulation adaconv --max_train_steps 300000 \\
        --checkpointing_steps 5000 --fid_steps 10000 \\
        --inception_weights pt_inception-2015-12-05-6726825d.pth

    # continue it after an interruption (Ctrl-C or a scheduler's SIGTERM saves a checkpoint)
    accelerate launch recipes/stylegan.py ... --output_dir runs/sg-adaconv --resume_from_checkpoint latest

    # the baselines, same data and schedule
    accelerate launch recipes/stylegan.py ... --output_dir runs/sg-modconv --modulation modconv
    accelerate launch recipes/stylegan.py ... --output_dir runs/sg-adain --modulation adain

CPU demo on generated patterns (200 steps; a pipeline check, not a quality result)::

    accelerate launch --cpu recipes/stylegan.py --demo

The flags, the run folder, interrupting and resuming are the same in every recipe
(docs/training.md). Samples: ``O/samples/step-<step>-ema.png`` (EMA generator, fixed latents);
the exported EMA generator: ``O/model/`` (``adaconv-stylegan-sample --model O/model``).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys

from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adaconv_gen.cli import normalize_flags, run_cli
from adaconv_gen.data import ImageFolderDataset, default_transform
from adaconv_gen.data.images import save_image_grid
from adaconv_gen.data.synthetic import write_pattern_folder
from adaconv_gen.errors import UserInputError
from adaconv_gen.models.stylegan import STYLEGAN_MODULATIONS, Discriminator, build
from adaconv_gen.training import Run, TrainState, add_run_args, parse_run_args, update_ema
from adaconv_gen.training.args import (
    require,
    require_existing,
    require_fraction,
    require_non_negative,
    require_positive,
)
from adaconv_gen.training.signals import ignore_stop_signals_in_workers
from adaconv_gen.training.stylegan import (
    StyleGANLossConfig,
    StyleGANPhases,
    generator_fid,
    lazy_adam,
    real_fid_statistics,
)
from adaconv_gen.weights import resolve

# Values --demo uses for every flag not given on the command line or in --config.
DEMO = {"img_size": 32, "channels": 16, "style_dim": 64, "n_mlp": 4, "style_channels": 32,
        "batch_size": 8, "max_train_steps": 200, "checkpointing_steps": 100, "sample_steps": 50,
        "ema_decay": 0.99, "num_samples": 16}
# Flags that fix the shapes of the weights: a resume refuses a change.
ARCHITECTURE = ("img_size", "modulation", "channels", "style_dim", "n_mlp", "lr_mlp", "style_channels",
                "kernel_size", "groups")


def build_parser() -> argparse.ArgumentParser:
    """The recipe's flags: the shared ones (docs/training.md) and its own."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    add_run_args(p, recipe="stylegan", learning_rate=0.002, adam_beta1=0.0, adam_beta2=0.99,
                 max_train_steps=300_000, checkpointing_steps=5000, sample_steps=1000)
    d = p.add_argument_group("data")
    d.add_argument("--data_dir", type=str, default=None, help="Training images (folder read recursively).")
    d.add_argument("--img_size", type=int, default=256, help="Training resolution (power of two >= 4).")
    d.add_argument("--no_flip", action="store_true", help="Disable random horizontal flips.")
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
    t = p.add_argument_group("losses")
    t.add_argument("--r1_gamma", type=float, default=10.0, help="R1 weight gamma (0: off).")
    t.add_argument("--r1_interval", type=int, default=16, help="Lazy R1 every N steps.")
    t.add_argument("--pl_weight", type=float, default=0.0, help="Path-length weight (StyleGAN2: 2; 0: off).")
    t.add_argument("--pl_interval", type=int, default=4, help="Path-length regularisation every N steps.")
    t.add_argument("--mixing_prob", type=float, default=0.9, help="Style-mixing probability.")
    t.add_argument("--ema_decay", type=float, default=0.999, help="EMA decay of the sampled generator.")
    t.add_argument("--num_samples", type=int, default=64, help="Images in the sample grid (fixed latents).")
    f = p.add_argument_group("FID during training (on when --fid_steps is given)")
    f.add_argument("--fid_steps", type=int, default=None, help="Compute FID every N steps (default: never).")
    f.add_argument("--inception_weights", "--fid_weights", dest="inception_weights", type=str, default=None,
                   help="pt_inception-2015-12-05-6726825d.pth (default: $ADACONV_INCEPTION_WEIGHTS, "
                        "the torch hub cache, a download when online).")
    f.add_argument("--fid_num_samples", type=int, default=10000, help="Generated images per FID.")
    f.add_argument("--fid_batch_size", type=int, default=32, help="Batch size for FID.")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check every flag; nothing is written here.

    Raises:
        UserInputError: a refused value (one line naming the flag).
    """
    argv = normalize_flags(sys.argv[1:] if argv is None else argv, prefer="_")
    args = parse_run_args(build_parser(), argv, recipe="stylegan", demo=DEMO)
    if not args.demo and not args.data_dir:
        raise UserInputError("--data_dir is required (or --demo)")
    require_existing(args, "data_dir")
    require(args, "img_size", lambda v: v >= 4 and v & (v - 1) == 0, "a power of two >= 4")
    require_positive(args, "channels", "style_dim", "n_mlp", "lr_mlp", "style_channels", "groups",
                     "r1_interval", "pl_interval", "num_samples", "fid_steps", "fid_num_samples",
                     "fid_batch_size")
    require(args, "kernel_size", lambda v: v > 0 and v % 2 == 1, "a positive odd number")
    require_non_negative(args, "r1_gamma", "pl_weight")
    require_fraction(args, "mixing_prob", high_open=False)
    require_fraction(args, "ema_decay", low_open=True)
    if args.gradient_accumulation_steps != 1:
        raise UserInputError("--gradient_accumulation_steps must be 1 in this recipe (its phases step "
                             f"G and D once per batch), got {args.gradient_accumulation_steps}")
    if args.fid_steps is not None:
        args.inception_weights = str(resolve("inception-fid", args.inception_weights, flag="--inception_weights"))
    return args


def _cycle(loader):
    while True:
        n = 0
        for batch in loader:
            n += 1
            yield batch
        if n == 0:  # never spin on a loader without a full batch
            raise UserInputError("--batch_size leaves no full batch for this process")


def _mbstd_group(batch_size: int) -> int:
    return max(g for g in (4, 3, 2, 1) if batch_size % g == 0)


def main(args: argparse.Namespace) -> int:
    run = Run(args, "stylegan", architecture=ARCHITECTURE)
    accelerator, out = run.accelerator, run.out
    set_seed(args.seed)

    with accelerator.main_process_first():
        if args.demo and not args.data_dir:
            data = out / "demo_data"
            if accelerator.is_main_process and not data.is_dir():
                write_pattern_folder(data, ["stripes", "checker", "dots", "rings", "waves", "blobs"],
                                     n=48, size=args.img_size, seed=args.seed)
            args.data_dir = str(data)
        dataset = ImageFolderDataset(args.data_dir, default_transform(args.img_size, train=not args.no_flip))
    if len(dataset) < args.batch_size * accelerator.num_processes:
        raise UserInputError(f"--batch_size must leave a full batch for each of {accelerator.num_processes} "
                             f"processes: {len(dataset)} readable images in --data_dir {args.data_dir}, "
                             f"got {args.batch_size}")
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.dataloader_num_workers, persistent_workers=args.dataloader_num_workers > 0)
    ignore_stop_signals_in_workers(loader)
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
    opt_G = lazy_adam(G.parameters(), args.learning_rate, betas, args.pl_interval if args.pl_weight > 0 else 0,
                      weight_decay=args.adam_weight_decay)
    opt_D = lazy_adam(D.parameters(), args.learning_rate, betas, args.r1_interval if args.r1_gamma > 0 else 0,
                      weight_decay=args.adam_weight_decay)

    G, D, opt_G, opt_D, loader = accelerator.prepare(G, D, opt_G, opt_D, loader)
    state = TrainState(step=0, pl_mean=0.0)
    accelerator.register_for_checkpointing(G_ema, state)
    run.start(generator=G_ema.config, loss=vars(loss_cfg), num_images=len(dataset),
              skipped_images=[str(b) for b in dataset.bad])
    run.load_checkpoint()
    phases = StyleGANPhases(accelerator, G, D, opt_G, opt_D, loss_cfg, state)

    fid_real = None
    if args.fid_steps is not None and accelerator.is_main_process:
        fid_real = real_fid_statistics(dataset.paths, args.img_size, weights=args.inception_weights,
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
        if run.log_due(step):
            if not all(math.isfinite(v) for v in logs.values()):
                raise RuntimeError(f"non-finite loss at step {step}: {logs}")
            run.log(logs, step)
            bar.set_postfix(G=f"{logs['loss/G']:.3f}", D=f"{logs['loss/D']:.3f}")
        if run.should_stop():
            bar.close()
            return run.interrupted(step)
        if accelerator.is_main_process and run.due(step, args.sample_steps):
            save_image_grid(G_ema.sample(args.num_samples, seed=args.seed), run.sample_path(step, "ema"),
                            nrow=int(math.ceil(args.num_samples ** 0.5)))
        if fid_real is not None and run.due(step, args.fid_steps):
            fid = generator_fid(G_ema, fid_real, args.fid_num_samples, batch_size=args.fid_batch_size,
                                weights=args.inception_weights, device=accelerator.device)
            run.log({"fid": fid}, step)
            accelerator.print(f"step {step}: FID {fid:.3f} ({args.fid_num_samples} samples)")
        if run.due(step, args.checkpointing_steps):
            run.checkpoint(step)
    bar.close()
    return run.finish(state.step, G_ema)


def _main(argv: list[str] | None) -> int:
    return main(parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_cli(_main, sys.argv[1:]))
