"""Train AdaConv (Chandran et al., CVPR 2021, section 3.2) or the AdaIN baseline (Huang &
Belongie, ICCV 2017) for arbitrary style transfer, with the same code.

Paper setting (content: MS-COCO, style: WikiArt; Adam 1e-4, batch 8, ~160k steps, resize 512
then random crop 256)::

    accelerate launch recipes/style_transfer.py --content_dir coco/train2014 --style_dir wikiart \\
        --output_dir runs/adaconv --vgg_weights vgg19-dcbb9e9d.pth --img_size 256 --batch_size 8 \\
        --max_train_steps 160000 --checkpointing_steps 5000 --modulation adaconv

    # the baseline, same data and schedule
    accelerate launch recipes/style_transfer.py ... --output_dir runs/adain --modulation adain

    # continue a run after an interruption (Ctrl-C or a scheduler's SIGTERM saves a checkpoint)
    accelerate launch recipes/style_transfer.py ... --output_dir runs/adaconv --resume_from_checkpoint latest

CPU demo on generated patterns (a few minutes; a pipeline check, not a quality result)::

    accelerate launch --cpu recipes/style_transfer.py --demo --vgg_weights random

The flags, the run folder, interrupting and resuming are the same in every recipe
(docs/training.md). Samples: ``O/samples/step-<step>-stylized.png`` (first row styles, first
column contents); the exported model: ``O/model/`` for ``adaconv-stylize`` and ``adaconv-eval-style``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from adaconv_gen.cli import normalize_flags, run_cli
from adaconv_gen.data.images import save_image_grid
from adaconv_gen.data.style_pairs import build_demo_style_data, cycle, style_pair_loaders
from adaconv_gen.errors import UserInputError, WeightsNotFoundError
from adaconv_gen.evaluation.style_transfer import load_sample_images, sample_grid
from adaconv_gen.models.style_transfer import create_style_transfer_model
from adaconv_gen.training import Run, TrainState, add_run_args, parse_run_args
from adaconv_gen.training.args import require, require_non_negative, require_positive
from adaconv_gen.training.signals import ignore_stop_signals_in_workers
from adaconv_gen.training.style_losses import StyleTransferLoss
from adaconv_gen.weights import resolve

# Values --demo uses for every flag not given on the command line or in --config.
DEMO = {"img_size": 64, "resize_size": 72, "batch_size": 4, "max_train_steps": 300,
        "checkpointing_steps": 100, "sample_steps": 50, "channels": [512, 64, 32, 16],
        "style_channels": 64, "style_hidden": 64, "learning_rate": 3e-4}
# Flags that fix the shapes of the weights: a resume refuses a change.
ARCHITECTURE = ("modulation", "channels", "groups", "style_channels", "style_hidden", "kernel_size",
                "style_size_mode", "convs_per_level", "upsample", "padding_mode", "output_activation")

PIPELINE_CHECK_BANNER = """
############################################################################
#  VGG-19 WEIGHTS ARE RANDOM (--vgg_weights random).                        #
#  The losses and images of this run are a PIPELINE CHECK, NOT A QUALITY    #
#  RESULT. Provide vgg19-dcbb9e9d.pth for real training.                    #
############################################################################
"""


def build_parser() -> argparse.ArgumentParser:
    """The recipe's flags: the shared ones (docs/training.md) and its own."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    add_run_args(p, recipe="style_transfer", learning_rate=1e-4, adam_beta1=0.9, adam_beta2=0.999,
                 max_train_steps=160_000, checkpointing_steps=5000, sample_steps=1000)
    d = p.add_argument_group("data")
    d.add_argument("--content_dir", type=str, default=None, help="Content images (folder read recursively).")
    d.add_argument("--style_dir", type=str, default=None, help="Style images (folder read recursively).")
    d.add_argument("--img_size", type=int, default=256, help="Random crop size.")
    d.add_argument("--resize_size", type=int, default=512, help="Short side before cropping.")
    m = p.add_argument_group("model")
    m.add_argument("--modulation", choices=("adaconv", "adain"), default="adaconv", help="Which network to train.")
    m.add_argument("--vgg_weights", type=str, default=None,
                   help="vgg19-dcbb9e9d.pth (default: $ADACONV_VGG19_WEIGHTS, the torch hub cache, a "
                        "download when online); 'random' for a pipeline check only.")
    m.add_argument("--channels", type=int, nargs=4, default=[512, 256, 128, 64],
                   help="Decoder widths per level (first must be 512).")
    m.add_argument("--groups", type=int, nargs=4, default=None,
                   help="AdaConv groups per level (default channels // (1, 2, 4, 8)).")
    m.add_argument("--style_channels", type=int, default=512, help="Descriptor depth s_d.")
    m.add_argument("--style_hidden", type=int, default=512, help="Width of the style encoder E_S.")
    m.add_argument("--kernel_size", type=int, default=3, help="Predicted kernel size.")
    m.add_argument("--style_size_mode", choices=("any", "paper"), default="any",
                   help="'paper' resizes styles to 256x256 as published; 'any' pools adaptively.")
    m.add_argument("--convs_per_level", type=int, nargs=4, default=[1, 4, 2, 2], help="Decoder convs per level.")
    m.add_argument("--upsample", choices=("nearest", "bilinear"), default="nearest", help="Decoder upsampling.")
    m.add_argument("--padding_mode", choices=("reflect", "zeros", "replicate"), default="reflect",
                   help="Decoder padding.")
    m.add_argument("--output_activation", choices=("none", "tanh"), default="none", help="Last activation.")
    t = p.add_argument_group("losses and schedule")
    t.add_argument("--lr_scheduler", choices=("constant", "inverse"), default="constant",
                   help="'inverse': lr / (1 + lr_decay * step), as the AdaIN code.")
    t.add_argument("--lr_decay", type=float, default=5e-5, help="Decay of the inverse schedule.")
    t.add_argument("--content_weight", type=float, default=1.0, help="Content loss weight.")
    t.add_argument("--style_weight", type=float, default=10.0, help="Style loss weight.")
    t.add_argument("--max_grad_norm", type=float, default=0.0, help="Gradient clipping (0: off).")
    t.add_argument("--num_samples", type=int, default=4, help="Contents and styles in the sample grid.")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check every flag, resolve the VGG weights; nothing is written here.

    Raises:
        UserInputError: a refused value (one line naming the flag), missing VGG weights.
    """
    argv = normalize_flags(sys.argv[1:] if argv is None else argv, prefer="_")
    args = parse_run_args(build_parser(), argv, recipe="style_transfer", demo=DEMO)
    if not args.demo and not (args.content_dir and args.style_dir):
        raise UserInputError("--content_dir and --style_dir are required (or --demo)")
    require_positive(args, "img_size", "resize_size", "channels", "groups", "style_channels", "style_hidden",
                     "convs_per_level", "num_samples")
    require(args, "kernel_size", lambda v: v > 0 and v % 2 == 1, "a positive odd number")
    if args.channels[0] != 512:
        raise UserInputError(f"--channels must start with 512 (VGG relu4_1), got {' '.join(map(str, args.channels))}")
    if args.resize_size < args.img_size:
        raise UserInputError(f"--resize_size must be >= --img_size {args.img_size}, got {args.resize_size}")
    require_non_negative(args, "lr_decay", "content_weight", "style_weight", "max_grad_norm")
    check_inputs(args)
    return args


def model_kwargs(args: argparse.Namespace) -> dict:
    """Constructor arguments of the chosen model from the flags."""
    kw = dict(vgg_weights=args.vgg_weights, channels=args.channels, convs_per_level=args.convs_per_level,
              upsample=args.upsample, padding_mode=args.padding_mode, output_activation=args.output_activation)
    if args.modulation == "adaconv":
        kw.update(groups=args.groups, style_channels=args.style_channels, style_hidden=args.style_hidden,
                  kernel_size=args.kernel_size, style_size_mode=args.style_size_mode)
    return kw


def check_inputs(args: argparse.Namespace) -> None:
    """Fail before anything is built: missing folders, missing VGG weights (resolved here)."""
    for flag in ("content_dir", "style_dir"):
        value = getattr(args, flag)
        if value is not None and not Path(value).exists():
            raise UserInputError(f"--{flag} must be an existing folder, got {value!r} (no such file or folder)")
    if args.vgg_weights == "random":
        return
    try:
        args.vgg_weights = str(resolve("vgg19", args.vgg_weights, flag="--vgg_weights"))
    except WeightsNotFoundError as e:
        if args.demo:
            raise WeightsNotFoundError(f"{e}. Without the file, the demo runs only as a pipeline "
                                       "check: pass --vgg_weights random") from None
        raise


def main(args: argparse.Namespace) -> int:
    run = Run(args, "style_transfer", architecture=ARCHITECTURE,
              gradient_accumulation_steps=args.gradient_accumulation_steps)
    accelerator, out = run.accelerator, run.out
    set_seed(args.seed)
    random_vgg = args.vgg_weights == "random"
    if random_vgg:
        accelerator.print(PIPELINE_CHECK_BANNER)

    with accelerator.main_process_first():
        if args.demo and not (args.content_dir and args.style_dir):
            cdir, sdir = build_demo_style_data(out / "demo_data", size=max(96, args.resize_size), seed=args.seed)
            args.content_dir = args.content_dir or str(cdir)
            args.style_dir = args.style_dir or str(sdir)
        content_loader, style_loader, data_info = style_pair_loaders(
            args.content_dir, args.style_dir, img_size=args.img_size, resize=args.resize_size,
            batch_size=args.batch_size, num_workers=args.dataloader_num_workers)
        samples_c, samples_s = load_sample_images(args.content_dir, args.style_dir, args.num_samples, args.img_size)
    ignore_stop_signals_in_workers(content_loader, style_loader)

    model = create_style_transfer_model(args.modulation, **model_kwargs(args))
    loss_fn = StyleTransferLoss(args.content_weight, args.style_weight)
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=args.learning_rate,
                                 betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.adam_weight_decay)
    if args.lr_scheduler == "inverse":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1.0 + args.lr_decay * s))
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    model, optimizer, content_loader, style_loader = accelerator.prepare(
        model, optimizer, content_loader, style_loader)
    state = TrainState(step=0)
    # The scheduler is not prepared, so it steps once per optimiser step whatever the number of
    # processes (the inverse decay is defined per iteration); it is checkpointed all the same.
    accelerator.register_for_checkpointing(state, scheduler)
    run.start(data=data_info)
    run.load_checkpoint()

    content_iter, style_iter = cycle(content_loader), cycle(style_loader)
    bar = tqdm(total=args.max_train_steps, initial=state.step, disable=not accelerator.is_local_main_process,
               desc=f"{args.modulation}{' (random VGG: pipeline check)' if random_vgg else ''}")
    model.train()
    while state.step < args.max_train_steps:
        for _ in range(args.gradient_accumulation_steps):
            content, style = next(content_iter), next(style_iter)
            n = min(content.shape[0], style.shape[0])
            with accelerator.accumulate(model):
                outs = model(content[:n], style[:n], train_outputs=True)
                losses = loss_fn(outs["output_feats"], outs["content_target"], outs["style_feats"])
                accelerator.backward(losses["loss"])
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        state.step += 1
        bar.update(1)
        step = state.step
        if run.log_due(step):
            logs = {f"loss/{k}": accelerator.gather(v.detach().reshape(1)).mean().item() for k, v in losses.items()}
            logs["lr"] = scheduler.get_last_lr()[0]
            if not all(math.isfinite(v) for v in logs.values()):
                raise RuntimeError(f"non-finite loss at step {step}: {logs}")
            run.log(logs, step)
            bar.set_postfix(loss=f"{logs['loss/loss']:.4g}")
        if run.should_stop():
            bar.close()
            return run.interrupted(step)
        if run.due(step, args.sample_steps):
            if accelerator.is_main_process:
                grid, nrow = sample_grid(accelerator.unwrap_model(model), samples_c, samples_s)
                save_image_grid(grid, run.sample_path(step, "stylized"), nrow=nrow)
            model.train()
        if run.due(step, args.checkpointing_steps):
            run.checkpoint(step)
    bar.close()

    code = run.finish(state.step, accelerator.unwrap_model(model), random_vgg=random_vgg)
    if random_vgg:
        accelerator.print(PIPELINE_CHECK_BANNER)
    return code


def _main(argv: list[str] | None) -> int:
    return main(parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_cli(_main, sys.argv[1:]))
