"""AdaConv layer speed and memory: ours vs the per-sample loop (every public port) vs AdaIN.

Forward + backward at the paper's four decoder levels (B = 8, 256x256 content), interleaved,
median of ``--repeats`` runs each; peak memory of one forward+backward per variant (CPU: peak
RSS growth in a fresh process per variant, the Linux high-water mark reset through
/proc/self/clear_refs once the inputs exist; GPU: growth of ``max_memory_allocated``). Prints ratios and the geometric
mean. On a GPU also bf16 autocast and channels_last.

    python benchmarks/adaconv_layer.py                 # CPU, fp32
    python benchmarks/adaconv_layer.py --device cuda   # fp32, bf16, channels_last
    python benchmarks/adaconv_layer.py --batch 2 --scale 0.5 --repeats 3   # quick look
    python benchmarks/adaconv_layer.py --quick --json out.json   # seconds: tiny sizes, 1 repeat
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import statistics
import time

import _report
import torch
import torch.nn.functional as F

from adaconv_gen.nn.functional import adaptive_conv2d, adaptive_conv2d_reference

LEVELS = [(512, 32, 512), (256, 64, 128), (128, 128, 32), (64, 256, 8)]  # (C, H, groups)


def make_inputs(c, h, g, b, device, dtype=torch.float32, channels_last=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, h, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = {
        "x": x,
        "spatial": torch.randn(b, c, c // g, 3, 3, generator=gen) * 0.1,
        "pointwise": torch.randn(b, c, c // g, 1, 1, generator=gen) * 0.1,
        "bias": torch.randn(b, c, generator=gen),
        "gamma": torch.randn(b, c, generator=gen) * 0.1,
    }
    return {k: v.to(device=device, dtype=dtype).requires_grad_() for k, v in t.items()}


def run_ours(t, g):
    x = F.instance_norm(t["x"])
    return adaptive_conv2d(x, t["spatial"], t["pointwise"], t["bias"], groups=g)


def run_loop(t, g):
    x = F.instance_norm(t["x"])
    return adaptive_conv2d_reference(x, t["spatial"], t["pointwise"], t["bias"], groups=g)


def run_adain(t, g):
    x = F.instance_norm(t["x"])
    return (1 + t["gamma"])[..., None, None] * x + t["bias"][..., None, None]


VARIANTS = {"ours": run_ours, "loop": run_loop, "adain": run_adain}


def step(fn, t, g, autocast_dtype=None):
    with torch.autocast(t["x"].device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        y = fn(t, g)
    y.float().sum().backward()
    for v in t.values():
        v.grad = None


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _proc_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def _cpu_peak_child(name, c, h, g, b, channels_last, q):
    """In a fresh process (no allocator state from other variants): peak RSS growth of one step,
    the high-water mark reset through /proc/self/clear_refs after the inputs exist (Linux)."""
    try:
        t = make_inputs(c, h, g, b, "cpu", channels_last=channels_last)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _proc_kib("VmRSS")
        step(VARIANTS[name], t, g)
        q.put((_proc_kib("VmHWM") - before) / 1024)
    except OSError:
        q.put(float("nan"))


def peak_mb(name, c, h, g, b, device, autocast_dtype=None, channels_last=False):
    if device.type == "cuda":
        t = make_inputs(c, h, g, b, device, channels_last=channels_last)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        step(VARIANTS[name], t, g, autocast_dtype)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - start) / 2**20
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_cpu_peak_child, args=(name, c, h, g, b, channels_last, q))
    proc.start()
    out = q.get()
    proc.join()
    return out


def bench(device, b, scale, repeats, autocast_dtype=None, channels_last=False, memory=True):
    label = f"{device.type}, {'bf16 autocast' if autocast_dtype else 'fp32'}" + (", channels_last" if channels_last else "")
    print(f"\n== {label}, B={b}, forward+backward, median of {repeats} ==")
    print(f"{'C/H/groups':>14} | {'ours ms':>8} {'loop ms':>8} {'adain ms':>8} | {'loop/ours':>9} {'ours/adain':>10} |"
          f" {'ours MB':>8} {'loop MB':>8}")
    ratios, rows = [], []
    for c, h, g in LEVELS:
        h = max(4, int(h * scale))
        t = make_inputs(c, h, g, b, device, channels_last=channels_last)
        for fn in VARIANTS.values():  # warm-up
            step(fn, t, g, autocast_dtype)
        times = {k: [] for k in VARIANTS}
        for _ in range(repeats):  # interleaved
            for k, fn in VARIANTS.items():
                sync(device)
                t0 = time.perf_counter()
                step(fn, t, g, autocast_dtype)
                sync(device)
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        mem = {k: peak_mb(k, c, h, g, b, device, autocast_dtype, channels_last) for k in ("ours", "loop")} \
            if memory else {"ours": float("nan"), "loop": float("nan")}
        r = med["loop"] / med["ours"]
        ratios.append(r)
        print(f"{f'{c}/{h}/{g}':>14} | {med['ours']:8.1f} {med['loop']:8.1f} {med['adain']:8.1f} | {r:8.2f}x"
              f" {med['ours'] / med['adain']:9.2f}x | {mem['ours']:8.0f} {mem['loop']:8.0f}")
        rows.append([f"{c} / {h} / {g}", med["ours"], med["loop"], med["adain"], r, med["ours"] / med["adain"],
                     mem["ours"], mem["loop"]])
    gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"geometric mean speed-up over the loop: {gm:.2f}x (slowest level {min(ratios):.2f}x)")
    rows.append(["geometric mean", "", "", "", gm, "", "", ""])
    return _report.table(f"AdaConv layer, {label}, B={b}, forward+backward, median of {repeats}",
                         ["C / H / groups", "ours ms", "loop ms", "AdaIN ms", "loop / ours", "ours / AdaIN",
                          "ours MB", "loop MB"], rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=8, help="batch size (paper: 8)")
    p.add_argument("--scale", type=float, default=1.0, help="scale the spatial sizes (1 = 256x256 content)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per variant (median)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default=None,
                   help="fp32, or bf16 autocast (default: fp32 on CPU; fp32, bf16 and channels_last on CUDA)")
    p.add_argument("--channels-last", action="store_true", help="channels_last inputs (with --dtype)")
    p.add_argument("--quick", action="store_true",
                   help="seconds, not minutes: batch 2, 1/8 of the sizes, 1 repeat, no memory measurement")
    p.add_argument("--json", default=None, help="also write the tables and the machine as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.scale, args.repeats, args.no_memory = 2, 0.125, 1, True
    device = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    mem = not args.no_memory
    if args.dtype is None and not args.channels_last:
        configs = [(None, False)] + ([(torch.bfloat16, False), (None, True)] if device.type == "cuda" else [])
    else:
        configs = [(torch.bfloat16 if args.dtype == "bf16" else None, args.channels_last)]
    tables = [bench(device, args.batch, args.scale, args.repeats, autocast_dtype=dt, channels_last=cl, memory=mem)
              for dt, cl in configs]
    _report.save(args.json, "adaconv_layer", tables, args.device)


if __name__ == "__main__":
    main()
