"""Stylisation speed: AdaConv (Chandran et al., CVPR 2021) vs AdaIN (Huang & Belongie, 2017).

Times the whole ``model(content, style)`` call (VGG encoding of content and style, style
descriptor, kernel prediction, decoder) at the paper's widths, for:

* ``adain``: the AdaIN baseline;
* ``adaconv``: AdaConv with the batched kernels of :func:`adaconv_gen.nn.functional.adaptive_conv2d`
  (pointwise composed into the spatial kernel, batch folded into the groups);
* ``adaconv-loop``: the same network with the per-sample loop every public port uses
  (:func:`adaconv_gen.nn.functional.adaptive_conv2d_reference`).

Weights are random (speed does not depend on them). Example::

    python benchmarks/style_transfer.py --device cuda --size 512 --batch-size 8 --iters 50
    python benchmarks/style_transfer.py --device cpu --size 512 --batch-size 2 --iters 3 --warmup 1
    python benchmarks/style_transfer.py --quick --json out.json     # seconds: 64 px, 1 call
    python benchmarks/style_transfer.py --device cuda --dtype bf16 --channels-last   # bf16 autocast
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _report  # noqa: E402

import adaconv_gen.nn.adaconv2d as adaconv2d_module  # noqa: E402
from adaconv_gen.models.style_transfer import create_style_transfer_model  # noqa: E402
from adaconv_gen.nn.functional import adaptive_conv2d_reference  # noqa: E402


@contextlib.contextmanager
def per_sample_loop():
    """Make every AdaConv2d use the per-sample loop reference instead of the batched path."""
    fast = adaconv2d_module.adaptive_conv2d
    adaconv2d_module.adaptive_conv2d = adaptive_conv2d_reference
    try:
        yield
    finally:
        adaconv2d_module.adaptive_conv2d = fast


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_model(model, content, style, iters: int, warmup: int, autocast: bool = False) -> float:
    """Mean seconds per ``model(content, style)`` call (``autocast``: under bf16 autocast)."""
    dev = content.device
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
        for _ in range(warmup):
            model(content, style)
        _sync(dev)
        t = time.perf_counter()
        for _ in range(iters):
            model(content, style)
        _sync(dev)
    return (time.perf_counter() - t) / iters


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device.")
    p.add_argument("--size", type=int, default=512, help="Content size (square).")
    p.add_argument("--style-size", type=int, default=256, help="Style size (square).")
    p.add_argument("--batch-size", type=int, default=1, help="Images per call.")
    p.add_argument("--iters", type=int, default=20, help="Timed calls per model.")
    p.add_argument("--warmup", type=int, default=3, help="Untimed calls first.")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "fp32", "bf16"), default="float32",
                   help="Weights and inputs cast to float32/float16/bfloat16; 'bf16': fp32 weights under bf16 "
                        "autocast ('fp32' = float32).")
    p.add_argument("--channels-last", action="store_true", help="Model and images in channels_last.")
    p.add_argument("--quick", action="store_true", help="Seconds, not minutes: 64x64 content and style, 1 call.")
    p.add_argument("--json", default=None, help="Also write the table and the machine as JSON here.")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU.")
    p.add_argument("--models", nargs="+", default=["adain", "adaconv", "adaconv-loop"], help="What to time.")
    p.add_argument("--output", default=None, help="Also write the results as JSON here.")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.style_size, args.batch_size, args.iters, args.warmup = 64, 64, 1, 1, 1
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    autocast = args.dtype == "bf16"
    dev = torch.device(args.device)
    dtype = torch.float32 if args.dtype in ("fp32", "bf16") else getattr(torch, args.dtype)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    g = torch.Generator().manual_seed(0)
    content = (torch.rand(args.batch_size, 3, args.size, args.size, generator=g) * 2 - 1).to(dev, dtype)
    style = (torch.rand(args.batch_size, 3, args.style_size, args.style_size, generator=g) * 2 - 1).to(dev, dtype)
    content, style = content.contiguous(memory_format=fmt), style.contiguous(memory_format=fmt)
    torch.manual_seed(0)
    build = lambda m: create_style_transfer_model(m, vgg_weights="random").to(dev, dtype, memory_format=fmt).eval()  # noqa: E731
    nets = {"adain": build("adain")}
    if any(m.startswith("adaconv") for m in args.models):
        nets["adaconv"] = build("adaconv")
    rows = {}
    for name in args.models:
        net = nets["adaconv" if name.startswith("adaconv") else name]
        ctx = per_sample_loop() if name == "adaconv-loop" else contextlib.nullcontext()
        with ctx:
            sec = time_model(net, content, style, args.iters, args.warmup, autocast)
        rows[name] = {"seconds_per_call": sec, "images_per_second": args.batch_size / sec}
        print(f"{name:>13}: {args.batch_size / sec:8.3f} img/s  ({1000 * sec:9.1f} ms per batch of {args.batch_size})",
              flush=True)
    if "adain" in rows:
        for name, r in rows.items():
            r["time_vs_adain"] = r["seconds_per_call"] / rows["adain"]["seconds_per_call"]
            print(f"{name:>13}: {r['time_vs_adain']:.2f}x AdaIN's time")
    result = {"args": vars(args), "results": rows, "torch": torch.__version__, "platform": platform.platform(),
              "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
              "cpu_threads": torch.get_num_threads()}
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    title = (f"Stylisation, {args.size}x{args.size} content, {args.style_size}x{args.style_size} style, batch "
             f"{args.batch_size}, {dev.type}, {args.dtype}{', channels_last' if args.channels_last else ''}, "
             f"mean of {args.iters} calls")
    rows = [[name, r["images_per_second"], 1000 * r["seconds_per_call"], r.get("time_vs_adain", float("nan"))]
            for name, r in rows.items()]
    _report.save(args.json, "style_transfer", [_report.table(
        title, ["model", "images/s", "ms per batch", "time vs AdaIN"], rows)], args.device)
    return result


if __name__ == "__main__":
    main()
