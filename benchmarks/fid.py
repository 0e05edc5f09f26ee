"""FID speed, side by side with pytorch-fid, on the same data and the same (random) weights.

    PYTHONPATH=. python benchmarks/fid.py                       # defaults below
    PYTHONPATH=. python benchmarks/fid.py --n-small 500 --n-large 100 --workers 8
    PYTHONPATH=. python benchmarks/fid.py --quick --json out.json   # seconds: tiny sizes, 1 repeat

Measures, in one run:

1. the Frechet distance at d = 2048: ours (Cholesky + symmetric eigenvalues) vs pytorch-fid's
   ``calculate_frechet_distance`` (``scipy.linalg.sqrtm``), full-rank and rank-deficient;
2. feature extraction, images per second:
   a. small equal-size PNGs: ours vs pytorch-fid (statistics compared too);
   b. large JPEGs of mixed sizes: ours reads them directly; pytorch-fid cannot batch images of
      different sizes, so it is timed on copies pre-resized to 299 x 299 plus the resize time.

Weights: a calibrated random FID Inception written to a temporary TORCH_HOME, which pytorch-fid
loads offline and ours loads through the resolver. No timed assertions; prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import _report
import numpy as np
import torch
from PIL import Image


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n-small", type=int, default=100, help="small equal-size PNGs")
    p.add_argument("--small-size", type=int, default=64, help="their side in pixels")
    p.add_argument("--n-large", type=int, default=24, help="large JPEGs of mixed sizes")
    p.add_argument("--batch-size", type=int, default=50, help="batch size for both tools")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers for both tools")
    p.add_argument("--fd-samples", type=int, default=4096, help="samples behind the 2048-d stats")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (best is reported)")
    p.add_argument("--work-dir", default=None, help="where to write images (default: a temp dir)")
    p.add_argument("--fd-dims", type=int, default=2048, help="feature dimension of the Frechet distance timing")
    p.add_argument("--device", default="cpu", choices=["cpu"],
                   help="the extraction comparison runs on CPU (pytorch-fid's loop is timed as it is used)")
    p.add_argument("--quick", action="store_true",
                   help="seconds, not minutes: d = 256, 4 small PNGs, 2 large JPEGs, 1 repeat, no workers")
    p.add_argument("--json", default=None, help="also write the tables and the machine as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.fd_dims, args.fd_samples, args.n_small, args.small_size = 256, 512, 4, 32
        args.n_large, args.batch_size, args.workers, args.repeats = 2, 4, 0, 1
    return args


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def _timed_cpu(fn, *args):
    """(result, wall s, CPU s of this process and its finished children, e.g. DataLoader workers)."""
    c0, t0 = os.times(), time.perf_counter()
    out = fn(*args)
    wall, c1 = time.perf_counter() - t0, os.times()
    return out, wall, sum(c1[:4]) - sum(c0[:4])


def bench_frechet(n: int, repeats: int, d: int = 2048):
    from pytorch_fid.fid_score import calculate_frechet_distance

    from adaconv_gen.metrics import frechet_distance

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    rows = []
    few = 500 if d == 2048 else d // 4
    for label, n1 in (("full rank", n), (f"rank-deficient ({few} samples)", few)):
        x = rng.standard_normal((n1, d)) @ mix + 0.1
        y = rng.standard_normal((n, d)) @ (mix + 0.05 * np.eye(d))
        m1, s1 = x.mean(0), np.cov(x, rowvar=False)
        m2, s2 = y.mean(0), np.cov(y, rowvar=False)
        # interleaved repeats, best time of each: the machine may be shared
        t_ours = t_ref = float("inf")
        for _ in range(repeats):
            ours, t = _timed(frechet_distance, m1, s1, m2, s2)
            t_ours = min(t_ours, t)
            ref, t = _timed(calculate_frechet_distance, m1, s1, m2, s2)
            t_ref = min(t_ref, t)
        rows.append((label, t_ref, t_ours, abs(ours - ref) / abs(ref)))
    return rows


def _write(folder: Path, sizes, ext: str, seed: int):
    from adaconv_gen.data.synthetic import pattern_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    kinds = ("stripes", "checker", "dots", "rings", "waves", "blobs")
    paths = []
    for i, (w, h) in enumerate(sizes):
        a = pattern_image(kinds[i % 6], max(w, h), rng)[:h, :w]
        a = np.clip(a.astype(np.int16) + rng.integers(-20, 20, a.shape), 0, 255).astype(np.uint8)
        p = folder / f"im_{i:05d}.{ext}"
        Image.fromarray(a).save(p, **({"quality": 90} if ext == "jpg" else {}))
        paths.append(p)
    return paths


def bench_extraction(args, work: Path):
    from pytorch_fid.fid_score import calculate_activation_statistics
    from pytorch_fid.inception import InceptionV3

    from adaconv_gen.metrics import build_extractor, compute_statistics
    from adaconv_gen.metrics.random_weights import calibration_batch, random_fid_inception

    ckpt = work / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    wfile = ckpt / "pt_inception-2015-12-05-6726825d.pth"
    random_fid_inception(wfile, calibration=calibration_batch(8, 128))
    os.environ["TORCH_HOME"] = str(work / "torch_home")
    ref_model = InceptionV3([3]).eval()

    def theirs(files):
        return calculate_activation_statistics(files, ref_model, args.batch_size, 2048, "cpu",
                                               args.workers)

    ours_model = build_extractor(weights=wfile, device="cpu")  # built once, as ref_model is

    def ours(files):
        return compute_statistics(files, features=ours_model, batch_size=args.batch_size,
                                  num_workers=args.workers, progress=False)

    rows = []
    small = _write(work / "small", [(args.small_size, args.small_size)] * args.n_small, "png", 1)
    theirs(small[: args.batch_size])  # warm-up both (thread pools, allocator)
    ours(small[: args.batch_size])
    best = {"ref": (float("inf"), 0.0), "our": (float("inf"), 0.0)}
    for _ in range(args.repeats):  # interleaved, best wall time of each (with its CPU time)
        (m_ref, s_ref), t, c = _timed_cpu(theirs, small)
        best["ref"] = min(best["ref"], (t, c))
        (m_our, s_our), t, c = _timed_cpu(ours, small)
        best["our"] = min(best["our"], (t, c))
    diff = max(np.abs(m_our - m_ref).max() / np.abs(m_ref).max(),
               np.abs(s_our - s_ref).max() / np.abs(s_ref).max())
    n = args.n_small
    rows.append((f"{n} PNGs {args.small_size}x{args.small_size}", n / best["ref"][0],
                 n / best["our"][0], best["ref"][1] / n, best["our"][1] / n,
                 f"stats max rel diff {diff:.1e}"))

    rng = np.random.default_rng(2)
    sizes = [(int(rng.integers(800, 1600)), int(rng.integers(600, 1200))) for _ in range(args.n_large)]
    large = _write(work / "large", sizes, "jpg", 3)
    resized_dir = work / "large_299"
    resized_dir.mkdir(exist_ok=True)

    def pre_resize():
        out = []
        for p in large:
            q = resized_dir / (p.stem + ".png")
            Image.open(p).convert("RGB").resize((299, 299), Image.BILINEAR).save(q)
            out.append(q)
        return out

    best = {"resize": (float("inf"), 0.0), "ref": (float("inf"), 0.0), "our": (float("inf"), 0.0)}
    for _ in range(args.repeats):
        resized, t, c = _timed_cpu(pre_resize)
        best["resize"] = min(best["resize"], (t, c))
        _, t, c = _timed_cpu(theirs, resized)
        best["ref"] = min(best["ref"], (t, c))
        _, t, c = _timed_cpu(ours, large)
        best["our"] = min(best["our"], (t, c))
    n = args.n_large
    (tr, cr), (tt, ct), (to, co) = best["resize"], best["ref"], best["our"]
    rows.append((f"{n} JPEGs 0.5-1.9 MP, mixed sizes", n / (tt + tr), n / to, (ct + cr) / n,
                 co / n, f"pytorch-fid: {tr:.1f} s pre-resize to 299 PNG + {tt:.1f} s extraction"))
    return rows


def main(argv=None):
    args = parse_args(argv)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: python benchmarks/fid.py --n-small {args.n_small} --small-size "
          f"{args.small_size} --n-large {args.n_large} --batch-size {args.batch_size} "
          f"--workers {args.workers} --fd-samples {args.fd_samples} --repeats {args.repeats}"
          f"{'' if args.fd_dims == 2048 else f' --fd-dims {args.fd_dims}'}\n")
    print(f"| Frechet distance, d = {args.fd_dims} | pytorch-fid (sqrtm) s | ours s | speed-up | rel. diff |")
    print("|---|---|---|---|---|")
    fd_rows = bench_frechet(args.fd_samples, args.repeats, args.fd_dims)
    for label, t_ref, t_our, rel in fd_rows:
        print(f"| {label} | {t_ref:.2f} | {t_our:.2f} | {t_ref / t_our:.1f}x | {rel:.1e} |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        rows = bench_extraction(args, work)
    print("\n| Feature extraction (CPU) | pytorch-fid img/s | ours img/s | ratio | "
          "pytorch-fid CPU s/img | ours CPU s/img | note |")
    print("|---|---|---|---|---|---|---|")
    for label, r_ref, r_our, c_ref, c_our, note in rows:
        print(f"| {label} | {r_ref:.2f} | {r_our:.2f} | {r_our / r_ref:.2f}x | {c_ref:.3f} | "
              f"{c_our:.3f} | {note} |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")
    _report.save(args.json, "fid", [
        _report.table(f"Frechet distance, d = {args.fd_dims}, best of {args.repeats}",
                      ["case", "pytorch-fid (sqrtm) s", "ours s", "speed-up", "rel. diff"],
                      [[lab, t_ref, t_our, t_ref / t_our, rel] for lab, t_ref, t_our, rel in fd_rows]),
        _report.table(f"Feature extraction (CPU, random Inception weights), best of {args.repeats}",
                      ["images", "pytorch-fid img/s", "ours img/s", "ratio", "pytorch-fid CPU s/img",
                       "ours CPU s/img", "note"],
                      [[lab, r_ref, r_our, r_our / r_ref, c_ref, c_our, note]
                       for lab, r_ref, r_our, c_ref, c_our, note in rows]),
    ])


if __name__ == "__main__":
    main()
