"""Train StarGAN v2 (Choi et al., CVPR 2020) with AdaIN or AdaConv (Chandran et al., CVPR 2021).

Demo (generated data, CPU, a few minutes; grids in runs/demo/samples/):

    accelerate launch recipes/stargan_v2.py --demo --output_dir runs/demo

AFHQ-style training with AdaConv (data in D/{train,val}/<domain>/*.jpg):

    accelerate launch recipes/stargan_v2.py --train_dir D/train --val_dir D/val --output_dir O \\
        --img_size 256 --batch_size 8 --max_train_steps 100000 --checkpointing_steps 10000 \\
        --modulation adaconv

    # continue it after an interruption (Ctrl-C or a scheduler's SIGTERM saves a checkpoint)
    accelerate launch recipes/stargan_v2.py ... --output_dir O --resume_from_checkpoint latest

Fine-tune the released AFHQ model with AdaConv (lossless start):

    accelerate launch recipes/stargan_v2.py ... --modulation adaconv --w_hpf 0 \\
        --init_from_official afhq_100000_nets_ema.ckpt --lambda_ds 2

CelebA-HQ (w_hpf 1) needs the FAN weights: ``--w_hpf 1 --wing_weights wing.ckpt``. The official
code's flag names are accepted too (``--lr``, ``--f_lr``, ``--beta1``, ``--beta2``,
``--weight_decay``, ``--num_workers``, ``--total_iters``, ``--resume_iter``). The flags, the run
folder, interrupting and resuming are the same in every recipe (docs/training.md); samples:
``O/samples/step-<step>-{latent,reference}.png``, the exported EMA networks: ``O/model/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from adaconv_gen.cli import normalize_flags, run_cli
from adaconv_gen.data.domains import (
    DomainDataset,
    ReferencePairDataset,
    check_domains,
    domain_loader,
    eval_transform,
    train_transform,
)
from adaconv_gen.errors import UserInputError
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.training import Run, TrainState, add_run_args, parse_run_args
from adaconv_gen.training.args import (
    require,
    require_existing,
    require_fraction,
    require_non_negative,
    require_positive,
)
from adaconv_gen.training.signals import ignore_stop_signals_in_workers
from adaconv_gen.training.stargan_v2 import (
    LossWeights,
    StarGANv2Trainer,
    lambda_ds_at,
    make_optimizers,
)
from adaconv_gen.training.stargan_v2_samples import (
    TrainBatches,
    latent_grid,
    pick_per_domain,
    reference_grid,
)

# The demo: small widths, 32 px, a short schedule, faster learning rates and EMA than the paper's
# (so that a few hundred CPU steps show something), one thread (tiny layers run fastest unthreaded).
# lambda_cyc 5: the cycle loss is what teaches the style code to carry the image's colours; at the
# official weight 1 the outputs stay grey after 300 steps (colour correlation 0.2, docs/stargan_v2.md).
DEMO = dict(img_size=32, base_dim=16, max_conv_dim=64, hidden_dim=64, style_dim=16, batch_size=4,
            max_train_steps=300, checkpointing_steps=150, sample_steps=50, dataloader_num_workers=0,
            style_channels=32, cpu_threads=1, learning_rate=3e-4, mapping_learning_rate=3e-4, ema_decay=0.98,
            lambda_ds=1.0, lambda_cyc=5.0, sample_scale=3)
# Flags that fix the shapes of the weights: a resume refuses a change.
ARCHITECTURE = ("img_size", "modulation", "kernel_size", "groups", "style_channels", "w_hpf", "style_dim",
                "latent_dim", "hidden_dim", "base_dim", "max_conv_dim")


def build_parser() -> argparse.ArgumentParser:
    """The recipe's flags: the shared ones (docs/training.md), the official aliases, its own."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, allow_abbrev=False)
    add_run_args(p, recipe="stargan_v2", official_aliases=True, learning_rate=1e-4, adam_beta1=0.0,
                 adam_beta2=0.99, adam_weight_decay=1e-4, batch_size=8, max_train_steps=100_000, seed=777,
                 checkpointing_steps=10_000, sample_steps=5000)
    a = p.add_argument_group("data").add_argument
    a("--train_dir", default=None, help="training images, <train_dir>/<domain>/*")
    a("--val_dir", default=None, help="validation images with the same domains, <val_dir>/<domain>/*")
    a("--img_size", type=int, default=256, help="training image size (power of two >= 16)")
    a("--randcrop_prob", type=float, default=0.5, help="probability of the random-resized crop")
    a("--skip_image_check", action="store_true",
      help="do not decode every image at start-up (unreadable files then fail mid-run)")
    a = p.add_argument_group("networks").add_argument
    a("--modulation", choices=["adain", "adaconv"], default="adaconv", help="style modulation of the generator")
    a("--kernel_size", type=int, default=3, help="AdaConv predicted kernel size")
    a("--groups", type=int, default=None, help="AdaConv groups (default: the core's choice per layer)")
    a("--style_channels", type=int, default=None, help="AdaConv style-descriptor channels (default: the core's)")
    a("--w_hpf", type=float, default=0.0, help="high-pass skip weight; 1 (CelebA-HQ) needs the FAN weights")
    a("--wing_weights", default=None, help="FAN wing.ckpt for --w_hpf > 0 (else ADACONV_WING_WEIGHTS, ...)")
    a("--style_dim", type=int, default=64, help="style code width")
    a("--latent_dim", type=int, default=16, help="latent code width")
    a("--hidden_dim", type=int, default=512, help="mapping network width")
    a("--base_dim", type=int, default=None, help="first conv width (default 2**14 // img_size)")
    a("--max_conv_dim", type=int, default=512, help="widest conv")
    a("--init_from_official", default=None, help="official *_nets_ema.ckpt / *_nets.ckpt to start from (CC BY-NC)")
    a = p.add_argument_group("losses").add_argument
    a("--mapping_learning_rate", "--f_lr", dest="mapping_learning_rate", type=float, default=1e-6,
      help="learning rate of the mapping network")
    a("--lambda_reg", type=float, default=1.0, help="R1 weight")
    a("--lambda_sty", type=float, default=1.0, help="style reconstruction weight")
    a("--lambda_ds", type=float, default=1.0, help="initial diversity weight (AFHQ: 2)")
    a("--lambda_cyc", type=float, default=1.0, help="cycle weight")
    a("--ds_iter", type=int, default=None, help="iterations over which lambda_ds decays to 0 (default: max_train_steps)")
    a("--ema_decay", type=float, default=0.999, help="EMA decay of G, F, E")
    a("--cpu_threads", type=int, default=None,
      help="torch intra-op threads on CPU (the demo uses 1: its tiny layers run fastest unthreaded)")
    a("--sample_scale", type=int, default=1, help="enlarge the grid cells this many times (nearest)")
    a = p.add_argument_group("evaluation during training (on when --eval_steps is given)").add_argument
    a("--eval_steps", type=int, default=None, help="run the official evaluation every N steps (default: never)")
    a("--eval_mode", choices=["latent", "reference", "both"], default="both", help="evaluation mode")
    a("--eval_preset", default="pytorch-fid", help="FID preset for --eval_steps ('stargan-v2': official)")
    a("--inception_weights", "--fid_weights", dest="inception_weights", default=None,
      help="Inception weights file for --eval_steps")
    a("--lpips_weights", default=None, help="LPIPS alex.pth for --eval_steps")
    a("--alexnet_weights", default=None, help="AlexNet weights for LPIPS for --eval_steps")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and check every flag; nothing is written here.

    Raises:
        UserInputError: a refused value (one line naming the flag).
    """
    argv = normalize_flags(sys.argv[1:] if argv is None else argv, prefer="_")
    args = parse_run_args(build_parser(), argv, recipe="stargan_v2", demo=DEMO)
    if not args.demo and (args.train_dir is None or args.val_dir is None):
        raise UserInputError("--train_dir and --val_dir are required (or --demo)")
    for flag in ("train_dir", "val_dir"):
        require_existing(args, flag)
    for flag in ("init_from_official", "wing_weights", "inception_weights", "lpips_weights", "alexnet_weights"):
        require_existing(args, flag, "file")
    require(args, "img_size", lambda v: v >= 16 and v & (v - 1) == 0, "a power of two >= 16")
    require_positive(args, "style_dim", "latent_dim", "hidden_dim", "base_dim", "max_conv_dim", "groups",
                     "style_channels", "ds_iter", "cpu_threads", "sample_scale", "eval_steps")
    require(args, "kernel_size", lambda v: v > 0 and v % 2 == 1, "a positive odd number")
    require(args, "mapping_learning_rate", lambda v: v > 0, "> 0")
    require_non_negative(args, "w_hpf", "lambda_reg", "lambda_sty", "lambda_ds", "lambda_cyc")
    require_fraction(args, "ema_decay", low_open=True)
    require_fraction(args, "randcrop_prob", high_open=False)
    if args.ds_iter is None:
        args.ds_iter = args.max_train_steps
    return args


def adaconv_kwargs(args) -> dict:
    kw = {}
    if args.modulation == "adaconv":
        kw["kernel_size"] = args.kernel_size
        if args.groups is not None:
            kw["groups"] = args.groups
        if args.style_channels is not None:
            kw["style_channels"] = args.style_channels
    return kw


def main(args) -> int:
    run = Run(args, "stargan_v2", architecture=ARCHITECTURE)
    acc, out = run.accelerator, run.out
    set_seed(args.seed)
    if args.cpu_threads and acc.device.type == "cpu":
        torch.set_num_threads(args.cpu_threads)
    if args.demo:
        from adaconv_gen.data.synthetic import write_domain_dataset

        root = out / "demo_data"
        with acc.main_process_first():
            if acc.is_main_process and not (root / "val").is_dir():
                write_domain_dataset(root, ("stripes", "dots", "rings"), n_train=64, n_val=8, size=32, seed=0,
                                     palette="vivid")
        args.train_dir, args.val_dir = str(root / "train"), str(root / "val")

    with acc.main_process_first():
        domains = check_domains(args.train_dir, args.val_dir)
        tf = train_transform(args.img_size, args.randcrop_prob)
        check = not args.skip_image_check
        src_ds = DomainDataset(args.train_dir, tf, domains, check=check)
        ref_ds = ReferencePairDataset.from_dataset(src_ds, seed=args.seed)
        val_ds = DomainDataset(args.val_dir, eval_transform(args.img_size), domains, check=check)

    nets = sg.build(args.img_size, args.style_dim, args.latent_dim, len(domains), args.w_hpf,
                    args.max_conv_dim, args.base_dim, args.modulation, hidden_dim=args.hidden_dim,
                    **adaconv_kwargs(args))
    nets.config["domains"] = list(domains)  # names for adaconv-stargan-translate
    if args.init_from_official:
        sg.load_official_checkpoint(nets, args.init_from_official)
    if args.w_hpf > 0 and nets.fan is None:
        from adaconv_gen.models.stargan_v2.fan import load_fan

        nets.fan = load_fan(args.wing_weights)
    if nets.fan is not None:
        nets.fan.to(acc.device).requires_grad_(False).eval()
    ema = sg.StarGANv2(sg.copy_for_ema(nets.generator), sg.copy_for_ema(nets.mapping_network),
                       sg.copy_for_ema(nets.style_encoder), None, nets.config).to(acc.device)
    ema.fan = nets.fan
    opts = make_optimizers(nets, args.learning_rate, args.mapping_learning_rate, (args.adam_beta1, args.adam_beta2),
                           args.adam_weight_decay)
    names = ("generator", "mapping_network", "style_encoder", "discriminator")
    prepared = acc.prepare(*[getattr(nets, n) for n in names], *[opts[n] for n in names])
    live = sg.StarGANv2(*prepared[:4], nets.config)
    live.fan = nets.fan
    opts = dict(zip(names, prepared[4:]))
    state = TrainState(step=0, lambda_ds=args.lambda_ds)
    for m in (ema.generator, ema.mapping_network, ema.style_encoder, state):
        acc.register_for_checkpointing(m)
    weights = LossWeights(args.lambda_reg, args.lambda_sty, args.lambda_ds, args.lambda_cyc, args.ds_iter)
    trainer = StarGANv2Trainer(live, ema, opts, weights, acc, args.ema_decay)

    run.start(domains=list(domains))
    if run.load_checkpoint():
        set_seed(args.seed + state.step)  # fresh randomness after a resume, still reproducible
    # each process draws its own class-balanced batches; the seeds depend on the rank and on the
    # step a run starts from, so a resumed run does not replay the batches of the first steps
    rank_seed = args.seed + 1000 * acc.process_index + 7919 * state.step
    src_loader = domain_loader(src_ds, args.batch_size, num_workers=args.dataloader_num_workers, seed=rank_seed)
    ref_loader = domain_loader(ref_ds, args.batch_size, num_workers=args.dataloader_num_workers, seed=rank_seed + 1)
    ignore_stop_signals_in_workers(src_loader, ref_loader)
    batches = TrainBatches(src_loader, ref_loader, args.latent_dim, acc.device,
                           torch.Generator().manual_seed(rank_seed + 2))

    def save_ema(folder: Path) -> None:  # the EMA networks as a model folder, beside accelerate's state
        sg.save_pretrained(ema, folder / "ema")

    x_val, y_val = pick_per_domain(val_ds, max(1, 6 // len(domains)))
    x_val, y_val = x_val.to(acc.device), y_val.to(acc.device)
    progress = tqdm(range(state.step, args.max_train_steps), initial=state.step, total=args.max_train_steps,
                    disable=not acc.is_local_main_process, desc="stargan-v2")
    t0, last_logged = time.time(), state.step
    for _ in progress:
        step = state.step
        micro = [next(batches) for _ in range(args.gradient_accumulation_steps)]
        logs = trainer.step(micro, step)
        state.step = step + 1
        state.lambda_ds = lambda_ds_at(state.step, args.lambda_ds, args.ds_iter)
        if run.log_due(state.step):
            scalars = {k: acc.gather(v.detach().float().reshape(1).to(acc.device)).mean().item()
                       for k, v in logs.items()}
            scalars["sec_per_step"] = (time.time() - t0) / (state.step - last_logged)
            t0, last_logged = time.time(), state.step
            run.log(scalars, state.step)
            progress.set_postfix(d=f"{scalars['D/latent_real'] + scalars['D/latent_fake']:.3f}",
                                 g=f"{scalars['G/latent_adv']:.3f}")
        if run.should_stop():
            progress.close()
            return run.interrupted(state.step, save_ema)
        if run.due(state.step, args.sample_steps) and acc.is_main_process:
            ema.eval()
            latent_grid(ema, x_val, len(domains), args.latent_dim, run.sample_path(state.step, "latent"),
                        scale=args.sample_scale)
            reference_grid(ema, x_val, x_val, y_val, run.sample_path(state.step, "reference"),
                           scale=args.sample_scale)
        if run.due(state.step, args.checkpointing_steps):
            run.checkpoint(state.step, save_ema)
        if run.due(state.step, args.eval_steps):
            if acc.is_main_process:
                from adaconv_gen.evaluation.stargan_v2 import evaluate

                res = evaluate(ema, args.train_dir, args.val_dir, mode=args.eval_mode, preset=args.eval_preset,
                               fid_weights=args.inception_weights, lpips_weights=args.lpips_weights,
                               alexnet_weights=args.alexnet_weights,
                               output=out / "eval" / f"step-{state.step:07d}.json", seed=args.seed)
                run.log({k: v for k, v in res.items() if k.endswith("/mean")}, state.step)
            acc.wait_for_everyone()
    progress.close()
    code = run.finish(state.step, ema)
    if args.demo and acc.is_main_process:  # the demo's four numbers beside trivial outputs (docs/stargan_v2.md)
        from adaconv_gen.evaluation.demo import evaluate_demo, format_demo_report

        scores = evaluate_demo(ema, args.train_dir, args.val_dir, args.img_size, out / "demo_scores.json",
                               seed=args.seed, device=acc.device)
        print("\n".join(format_demo_report(scores) + [f"(also in {out / 'demo_scores.json'})"]), flush=True)
    return code


def _main(argv=None) -> int:
    return main(parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_cli(_main))
