"""Every benchmark the docs cite, in one command: one Markdown table file per benchmark and the machine.

    python benchmarks/run_all.py --quick --out bench-quick        # CPU, a few minutes at most
    python benchmarks/run_all.py --out bench-cpu                  # the documented CPU settings
    python benchmarks/run_all.py --device cuda --out bench-gpu    # fp32, bf16 autocast, channels_last

Each benchmark runs in its own process (``python benchmarks/<name>.py [--quick] --json ...``) so
that one's allocator, thread pools and imports do not touch another's. On CUDA every benchmark
that has them also runs with ``--dtype bf16`` and with channels_last. Written into ``--out``:

* ``<name>.md``: its tables (GitHub Markdown) with the command that made them;
* ``<name>.json`` (``<name>-bf16.json``, ``<name>-channels_last.json``): the tables as numbers;
* ``<name>.log``: its output;
* ``machine.json``: CPU model, cores, torch version, GPU name, and per benchmark its commands,
  seconds and exit status; ``index.md``: every table in one page.

Benchmarks added later (``structure_transfer``, ``onnx_stylize``) are run when their file exists;
without ``--quick`` support they are left out of a ``--quick`` run (said in ``index.md``).
Exits 1 when a benchmark failed (the others still run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _report  # noqa: E402

from adaconv_gen.files import atomic_save_json, atomic_write  # noqa: E402

# name -> the flags it takes: device (--device cuda), bf16 (--dtype bf16), its channels_last flag
BENCHMARKS: dict[str, dict] = {
    "adaconv_layer": {"device": True, "bf16": True, "channels_last": "--channels-last", "fp32": ["--dtype", "fp32"]},
    "fid": {"device": False, "bf16": False, "channels_last": None},
    "stargan_v2_step": {"device": True, "bf16": True, "channels_last": "--channels_last"},
    "style_transfer": {"device": True, "bf16": True, "channels_last": "--channels-last", "fp32": ["--dtype", "fp32"]},
    "stylegan_step": {"device": True, "bf16": True, "channels_last": "--channels_last"},
    "structure_transfer": None,  # flags read from the script (added by its own change)
    "onnx_stylize": None,
}


def _flags_of(script: Path) -> dict:
    """What an unknown benchmark script takes, read from its source."""
    src = script.read_text(encoding="utf-8")
    cl = "--channels-last" if '"--channels-last"' in src else ("--channels_last" if '"--channels_last"' in src else None)
    return {"device": '"--device"' in src, "bf16": '"bf16"' in src and '"--dtype"' in src, "channels_last": cl,
            "quick": '"--quick"' in src, "json": '"--json"' in src}


def plan(names: list[str], device: str, quick: bool, out: Path) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """``([(name, variant, argv), ...], notes)``: the processes to run, and why any benchmark is left out."""
    runs, notes = [], []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.is_file():
            notes.append(f"{name}: benchmarks/{name}.py does not exist here")
            continue
        flags = dict(BENCHMARKS.get(name) or _flags_of(script))
        flags.setdefault("quick", True)
        flags.setdefault("json", True)
        if quick and not flags["quick"]:
            notes.append(f"{name}: left out of --quick (the script has no --quick)")
            continue
        base = [sys.executable, str(script)] + (["--quick"] if quick else [])
        variants = [("", flags.get("fp32", []))]
        if flags["device"]:
            base += ["--device", device]
        if device != "cpu":
            if not flags["device"]:
                notes.append(f"{name}: runs on CPU only (no --device)")
            else:
                if flags["bf16"]:
                    variants.append(("-bf16", ["--dtype", "bf16"]))
                if flags["channels_last"]:
                    variants.append(("-channels_last", flags.get("fp32", []) + [flags["channels_last"]]))
        for suffix, extra in variants:
            json_args = ["--json", str(out / f"{name}{suffix}.json")] if flags["json"] else []
            runs.append((name, suffix, base + extra + json_args))
    return runs, notes


def _shown(argv: list[str]) -> str:
    """The command as a person would type it (repository-relative script, no --json)."""
    parts = ["python", f"benchmarks/{Path(argv[1]).name}"]
    skip = False
    for a in argv[2:]:
        if skip:
            skip = False
            continue
        if a == "--json":
            skip = True
            continue
        parts.append(a)
    return " ".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda adds bf16 autocast and channels_last runs)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: checks that everything runs")
    p.add_argument("--out", default="bench-results", help="folder for the tables, logs and machine.json")
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS),
                   help="which benchmarks to run")
    args = p.parse_args(argv)
    if args.device != "cpu" and not args.device.startswith("cuda"):
        print(f"error: --device {args.device!r}: expected cpu or cuda", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs, notes = plan(args.benchmarks, args.device, args.quick, out)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    record: dict[str, dict] = {}
    failed = []
    t_all = time.perf_counter()
    logs: dict[str, list[str]] = {}
    for name, suffix, cmd in runs:
        shown = _shown(cmd)
        print(f"== {shown}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=HERE.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        sec = time.perf_counter() - t0
        logs.setdefault(name, []).append(f"$ {shown}\n{proc.stdout}")
        rec = record.setdefault(name, {"runs": []})
        rec["runs"].append({"command": shown, "seconds": round(sec, 2), "returncode": proc.returncode,
                            "json": f"{name}{suffix}.json"})
        print(f"   {'ok' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'} in {sec:.1f} s", flush=True)
        if proc.returncode != 0:
            failed.append(shown)
    total = time.perf_counter() - t_all

    index = [f"# Benchmarks{' (--quick)' if args.quick else ''}", ""]
    machine = _report.machine(args.device)
    index += [f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores"
              + (f", {machine['gpu']}" if machine["gpu"] else "") + f"; torch {machine['torch']}; "
              f"total {total:.0f} s.", ""]
    for name, rec in record.items():
        md = [f"# {name}", ""]
        for run in rec["runs"]:
            md += [f"`{run['command']}` ({run['seconds']:.1f} s"
                   + (")" if run["returncode"] == 0 else f", FAILED with exit {run['returncode']}: see {name}.log)"), ""]
            jpath = out / run["json"]
            tabs = _report.tables_from_json(_report.load_json(jpath)) if jpath.is_file() else []
            if not tabs and run["returncode"] == 0:
                md += ["(no table: the script wrote no JSON; its output is in the log)", ""]
            md += [_report.markdown(t) for t in tabs]
            rec.setdefault("tables", 0)
            rec["tables"] += len(tabs)
        with atomic_write(out / f"{name}.md", encoding="utf-8") as f:
            f.write("\n".join(md))
        with atomic_write(out / f"{name}.log", encoding="utf-8") as f:
            f.write("\n".join(logs[name]))
        index += md[2:]
    if notes:
        index += ["Not run:", ""] + [f"- {n}" for n in notes] + [""]
    with atomic_write(out / "index.md", encoding="utf-8") as f:
        f.write("\n".join(index))
    atomic_save_json({"machine": machine, "device": args.device, "quick": args.quick, "total_seconds": round(total, 2),
                      "benchmarks": record, "not_run": notes}, out / "machine.json")
    print(f"{len(runs)} runs in {total:.0f} s; tables in {out}/")
    for n in notes:
        print(f"not run: {n}")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
