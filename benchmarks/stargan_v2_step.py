"""Seconds per StarGAN v2 training iteration (4 phases + EMA), AdaIN vs AdaConv, side by side.

    python benchmarks/stargan_v2_step.py                       # reduced widths, CPU
    python benchmarks/stargan_v2_step.py --device cuda --img_size 256 --batch_size 8 \\
        --base_dim 64 --max_conv_dim 512                         # the paper's configuration
    python benchmarks/stargan_v2_step.py --quick --json out.json  # seconds: tiny widths, 1 iteration

The two models are timed in alternation (A, B, A, B, ...) so that a shared machine's load
affects both alike; the median over iterations is reported, with the ratio AdaConv / AdaIN.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from types import SimpleNamespace

import _report
import torch

from adaconv_gen.cli import normalize_flags
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.training.stargan_v2 import LossWeights, StarGANv2Trainer, make_optimizers


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--img_size", type=int, default=64, help="image size")
    p.add_argument("--base_dim", type=int, default=32, help="first width (official: 2**14 // img_size)")
    p.add_argument("--max_conv_dim", type=int, default=128, help="widest conv (official: 512)")
    p.add_argument("--hidden_dim", type=int, default=512, help="mapping network width")
    p.add_argument("--num_domains", type=int, default=3, help="domains")
    p.add_argument("--w_hpf", type=float, default=0, help="high-pass skip (masks are random here)")
    p.add_argument("--batch_size", type=int, default=4, help="batch size")
    p.add_argument("--steps", type=int, default=6, help="timed iterations per model")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations per model")
    p.add_argument("--style_channels", type=int, default=128, help="AdaConv descriptor channels")
    p.add_argument("--kernel_size", type=int, default=3, help="AdaConv kernel size")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="fp32, or bf16 autocast")
    p.add_argument("--channels_last", action="store_true", help="networks and images in channels_last")
    p.add_argument("--quick", action="store_true",
                   help="seconds, not minutes: 32 px, batch 2, widths 16-32, 1 timed iteration")
    p.add_argument("--json", default=None, help="also write the table and the machine as JSON here")
    args = p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv, prefer="_"))
    if args.quick:
        args.img_size, args.base_dim, args.max_conv_dim, args.hidden_dim = 32, 16, 32, 64
        args.batch_size, args.steps, args.warmup, args.style_channels = 2, 1, 1, 32
    return args


class _Runner:
    """What the trainer needs of an accelerator: plain backward, optional bf16 autocast."""

    def __init__(self, device: torch.device, bf16: bool) -> None:
        self.device, self.bf16 = device, bf16

    def backward(self, loss):
        loss.backward()

    def no_sync(self, model):
        return contextlib.nullcontext()

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def unwrap_model(self, model):
        return model


def _batch(args, device, g):
    n, s = args.batch_size, args.img_size
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format

    def r(*shape):
        t = torch.randn(*shape, generator=g).to(device)
        return t.contiguous(memory_format=fmt) if t.dim() == 4 else t

    return dict(x_src=r(n, 3, s, s).clamp(-1, 1), y_src=torch.arange(n, device=device) % args.num_domains,
                x_ref=r(n, 3, s, s).clamp(-1, 1), x_ref2=r(n, 3, s, s).clamp(-1, 1),
                y_ref=(torch.arange(n, device=device) + 1) % args.num_domains, z_trg=r(n, 16), z_trg2=r(n, 16))


def _trainer(args, modulation, device):
    kw = {"style_channels": args.style_channels, "kernel_size": args.kernel_size} if modulation == "adaconv" else {}
    torch.manual_seed(0)
    nets = sg.build(args.img_size, 64, 16, args.num_domains, args.w_hpf, args.max_conv_dim, args.base_dim,
                    modulation, hidden_dim=args.hidden_dim, **kw).to(device)
    if args.channels_last:
        nets.to(memory_format=torch.channels_last)
    if args.w_hpf > 0:  # random masks stand in for the FAN (its cost is the same for both)
        nets.masks = lambda x: (torch.rand(x.size(0), 1, 256, 256, device=x.device),) * 2
    ema = SimpleNamespace(**{n: sg.copy_for_ema(getattr(nets, n)) for n in ("generator", "mapping_network", "style_encoder")})
    n_params = sum(p.numel() for p in nets.generator.parameters())
    runner = _Runner(torch.device(device), args.dtype == "bf16")
    return StarGANv2Trainer(nets, ema, make_optimizers(nets), LossWeights(), accelerator=runner), n_params


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    trainers = {m: _trainer(args, m, device) for m in ("adain", "adaconv")}
    g = torch.Generator().manual_seed(0)
    batch = [_batch(args, device, g)]
    times = {m: [] for m in trainers}
    for i in range(args.warmup + args.steps):
        for m, (tr, _) in trainers.items():
            sync()
            t0 = time.perf_counter()
            tr.step(batch, i)
            sync()
            if i >= args.warmup:
                times[m].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    title = (f"StarGAN v2 iteration, img {args.img_size}, batch {args.batch_size}, base_dim {args.base_dim}, "
             f"max_conv_dim {args.max_conv_dim}, device {device} ({platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} threads), {args.dtype}{', channels_last' if args.channels_last else ''}, "
             f"{args.steps} timed iterations each")
    print(title)
    for m, (_, n) in trainers.items():
        print(f"  {m:8s} generator {n / 1e6:7.2f} M params   {med[m]:.3f} s/iter "
              f"(min {min(times[m]):.3f}, max {max(times[m]):.3f})")
    print(f"  ratio adaconv / adain: {med['adaconv'] / med['adain']:.2f}x (medians), "
          f"{min(times['adaconv']) / min(times['adain']):.2f}x (minima: least disturbed by other load)")
    rows = [[m, n, med[m], min(times[m]), med[m] / med["adain"], min(times[m]) / min(times["adain"])]
            for m, (_, n) in trainers.items()]
    _report.save(args.json, "stargan_v2_step", [_report.table(
        title, ["modulation", "generator params", "s/iter (median)", "s/iter (min)", "vs AdaIN (median)",
                "vs AdaIN (min)"], rows)], args.device)
    return med


if __name__ == "__main__":
    main()
