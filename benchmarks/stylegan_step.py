"""Seconds per training iteration of the StyleGAN-style generator: adaconv vs modconv vs adain.

One iteration is what ``recipes/stylegan.py`` runs on a step without regularisation: the G
phase (generate, D on fakes, backward, Adam) and the D phase (generate without grad, D on
reals and fakes, backward, Adam), with style mixing. Also times a generator forward pass
(inference, no grad). Modulations are timed in interleaved rounds (median reported) so a
shared machine's load hits all of them alike. Ratios are relative to ``modconv`` (StyleGAN2).
AdaConv in generators: Chandran et al., CVPR 2021, section 4.2.

    PYTHONPATH=. python benchmarks/stylegan_step.py                      # small CPU setting
    PYTHONPATH=. python benchmarks/stylegan_step.py --device cuda --img_size 256 --channels 512 \\
        --style_dim 512 --n_mlp 8 --batch_size 8
    PYTHONPATH=. python benchmarks/stylegan_step.py --quick --json out.json   # seconds: tiny, 1 round
"""

from __future__ import annotations

import argparse
import statistics
import time

import _report
import torch
from accelerate import Accelerator

from adaconv_gen.models.stylegan import Discriminator, build
from adaconv_gen.training.stylegan import StyleGANLossConfig, StyleGANPhases, lazy_adam


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--modulations", nargs="+", default=["adaconv", "modconv", "adain"], help="What to time.")
    p.add_argument("--img_size", type=int, default=32, help="Resolution.")
    p.add_argument("--channels", type=int, default=32, help="Base width.")
    p.add_argument("--style_dim", type=int, default=128, help="z / w size.")
    p.add_argument("--n_mlp", type=int, default=4, help="Mapping layers.")
    p.add_argument("--style_channels", type=int, default=128, help="AdaConv descriptor depth s_d.")
    p.add_argument("--batch_size", type=int, default=8, help="Images per iteration.")
    p.add_argument("--iters", type=int, default=5, help="Timed iterations per round.")
    p.add_argument("--rounds", type=int, default=3, help="Interleaved rounds (median of rounds).")
    p.add_argument("--device", default="cpu", help="cpu or cuda.")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU).")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="fp32, or bf16 autocast.")
    p.add_argument("--channels_last", "--channels-last", action="store_true", help="Networks and images in channels_last.")
    p.add_argument("--quick", action="store_true", help="Seconds, not minutes: 16 px, width 16, batch 2, 1 round of 1.")
    p.add_argument("--json", default=None, help="Also write the table and the machine as JSON here.")
    args = p.parse_args(argv)
    if args.quick:
        args.img_size, args.channels, args.style_dim, args.n_mlp = 16, 16, 32, 2
        args.style_channels, args.batch_size, args.iters, args.rounds = 16, 2, 1, 1
    return args


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    acc = Accelerator(cpu=args.device == "cpu", mixed_precision="bf16" if args.dtype == "bf16" else "no")
    dev = acc.device
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    real = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=dev).clamp(-1, 1)
    real = real.contiguous(memory_format=fmt)
    cfg = StyleGANLossConfig(r1_gamma=0.0, pl_weight=0.0, mixing_prob=0.9)
    setups = {}
    for m in args.modulations:
        kw = {"style_channels": args.style_channels} if m == "adaconv" else {}
        G = build(args.img_size, style_dim=args.style_dim, n_mlp=args.n_mlp, channels=args.channels,
                  modulation=m, **kw).to(dev, memory_format=fmt)
        D = Discriminator(args.img_size, args.channels).to(dev, memory_format=fmt)
        phases = StyleGANPhases(acc, G, D, lazy_adam(G.parameters()), lazy_adam(D.parameters()), cfg, state=None)
        setups[m] = (G, phases, sum(p.numel() for p in G.parameters()))
        phases.step(real, 1)  # warm-up
        with torch.no_grad():
            G(torch.randn(args.batch_size, args.style_dim, device=dev))
    train = {m: [] for m in setups}
    infer = {m: [] for m in setups}
    for _ in range(args.rounds):
        for m, (G, phases, _) in setups.items():
            _sync(dev)
            t = time.perf_counter()
            for i in range(args.iters):
                phases.step(real, i + 1)
            _sync(dev)
            train[m].append((time.perf_counter() - t) / args.iters)
            z = torch.randn(args.batch_size, args.style_dim, device=dev)
            _sync(dev)
            t = time.perf_counter()
            with torch.no_grad():
                for _ in range(args.iters):
                    G(z)
            _sync(dev)
            infer[m].append((time.perf_counter() - t) / args.iters)
    base = "modconv" if "modconv" in setups else next(iter(setups))
    tr = {m: statistics.median(v) for m, v in train.items()}
    inf = {m: statistics.median(v) for m, v in infer.items()}
    title = (f"device={dev} threads={torch.get_num_threads()} img_size={args.img_size} channels={args.channels} "
             f"style_dim={args.style_dim} batch={args.batch_size} iters={args.iters} rounds={args.rounds} "
             f"{args.dtype}{' channels_last' if args.channels_last else ''}")
    print(title)
    print(f"{'modulation':<10} {'G params':>10} {'train s/it':>11} {'vs ' + base:>10} "
          f"{'G fwd s/it':>11} {'vs ' + base:>10}")
    for m, (_, _, n) in setups.items():
        print(f"{m:<10} {n:>10,d} {tr[m]:>11.4f} {tr[m] / tr[base]:>9.2f}x {inf[m]:>11.4f} "
              f"{inf[m] / inf[base]:>9.2f}x")
    rows = [[m, n, tr[m], tr[m] / tr[base], inf[m], inf[m] / inf[base]] for m, (_, _, n) in setups.items()]
    _report.save(args.json, "stylegan_step", [_report.table(
        f"StyleGAN iteration, {title}", ["modulation", "G params", "train s/it", f"vs {base}", "G fwd s/it",
                                         f"vs {base}"], rows)], args.device)


if __name__ == "__main__":
    main()
