"""Stylisation time: the exported ONNX graph in onnxruntime vs PyTorch eager, side by side.

Both run the same computation (:class:`adaconv_gen.models.onnx_export.StylizerGraph`: [0, 1]
images in, normalisation, style descriptor, padding, decoder, crop, [0, 1] image out) at the
paper's widths with random weights (speed does not depend on them), float32, batch 1, on CPU;
the model is exported once with :func:`adaconv_gen.models.onnx_export.export_stylizer` into a
temporary folder. Calls alternate between the two runtimes so that load changes hit both.
Example::

    python benchmarks/onnx_stylize.py --size 512 --style-size 256 --iters 5 --warmup 1 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adaconv_gen.models.onnx_export import StylizerGraph, export_stylizer  # noqa: E402
from adaconv_gen.models.style_transfer import create_style_transfer_model  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", nargs="+", default=["adaconv", "adain"], help="What to time.")
    p.add_argument("--size", type=int, default=512, help="Content size (square).")
    p.add_argument("--style-size", type=int, default=256, help="Style size (square).")
    p.add_argument("--iters", type=int, default=5, help="Timed calls per runtime.")
    p.add_argument("--warmup", type=int, default=1, help="Untimed calls first.")
    p.add_argument("--threads", type=int, default=None,
                   help="Threads for both runtimes (default: torch's count).")
    p.add_argument("--output", default=None, help="Also write the results as JSON here.")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import onnxruntime as ort

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, args.size, args.size, generator=g)
    style = torch.rand(1, 3, args.style_size, args.style_size, generator=g)
    feed = {"content": content.numpy(), "style": style.numpy()}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            torch.manual_seed(0)
            model = create_style_transfer_model(name, vgg_weights="random").eval()
            t = time.perf_counter()
            path = export_stylizer(model, Path(tmp) / f"{name}.onnx")
            export_s = time.perf_counter() - t
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            graph = StylizerGraph(model).eval()
            times = {"pytorch": [], "onnxruntime": []}
            with torch.inference_mode():
                want = graph(content, style)
                got = sess.run(["image"], feed)[0]
                max_err = float((torch.from_numpy(got) - want).abs().max())
                for i in range(args.warmup + args.iters):
                    t = time.perf_counter()
                    graph(content, style)
                    t_pt = time.perf_counter() - t
                    t = time.perf_counter()
                    sess.run(["image"], feed)
                    t_ort = time.perf_counter() - t
                    if i >= args.warmup:
                        times["pytorch"].append(t_pt)
                        times["onnxruntime"].append(t_ort)
            pt = sum(times["pytorch"]) / args.iters
            ox = sum(times["onnxruntime"]) / args.iters
            rows[name] = {"pytorch_s": pt, "onnxruntime_s": ox, "onnxruntime_vs_pytorch": ox / pt,
                          "max_abs_diff": max_err, "export_s": export_s,
                          "onnx_file_mb": path.stat().st_size / 2**20}
            print(f"{name:>8}: pytorch {1000 * pt:8.1f} ms   onnxruntime {1000 * ox:8.1f} ms   "
                  f"onnxruntime / pytorch {ox / pt:.2f}x   (max |diff| {max_err:.1e}, export {export_s:.0f} s, "
                  f"{rows[name]['onnx_file_mb']:.0f} MB)", flush=True)
    result = {"args": vars(args), "results": rows, "torch": torch.__version__,
              "onnxruntime": ort.__version__, "platform": platform.platform(),
              "processor": platform.processor(), "threads": threads}
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
