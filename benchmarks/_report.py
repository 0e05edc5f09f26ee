"""Shared by the benchmark scripts: the machine they ran on, and their tables as JSON / Markdown.

A benchmark's ``--json OUT`` file is ``{"benchmark": name, "argv": [...], "machine": {...},
"tables": [{"title": .., "columns": [..], "rows": [[..], ..]}, ..]}``; ``benchmarks/run_all.py``
turns its tables into Markdown with :func:`markdown`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adaconv_gen.files import atomic_save_json  # noqa: E402


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str = "cpu") -> dict[str, Any]:
    """CPU model, cores, torch version, threads, GPU name (None on CPU), load average."""
    import torch

    gpu = None
    if str(device).startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """One table: ``rows`` are lists as long as ``columns`` (numbers stay numbers in the JSON)."""
    for r in rows:
        if len(r) != len(columns):
            raise ValueError(f"row {r!r} does not have {len(columns)} columns")
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def save(path: str | os.PathLike | None, benchmark: str, tables: list[dict[str, Any]], device: str = "cpu",
         **extra: Any) -> None:
    """Write a benchmark's tables and the machine as JSON to ``path`` (nothing when None)."""
    if path is None:
        return
    atomic_save_json({"benchmark": benchmark, "argv": sys.argv[1:], "machine": machine(device),
                      "tables": tables, **extra}, path)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3g}"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,d}"
    return str(v).replace("|", "\\|")


def markdown(tab: dict[str, Any]) -> str:
    """A GitHub Markdown table, its title as a bold line above it."""
    lines = [f"**{tab['title']}**", "", "| " + " | ".join(tab["columns"]) + " |",
             "|" + "---|" * len(tab["columns"])]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in tab["rows"]]
    return "\n".join(lines) + "\n"


def tables_from_json(data: Any) -> list[dict[str, Any]]:
    """The tables of a benchmark JSON: its ``tables``; else a dict of dicts (e.g. ``{"variants":
    {"adain": {"psnr": ..}}}``) becomes one table per such dict, one row per key."""
    if isinstance(data, dict) and isinstance(data.get("tables"), list):
        return data["tables"]
    out = []
    if isinstance(data, dict):
        for key, val in data.items():
            if isinstance(val, dict) and val and all(isinstance(v, dict) for v in val.values()):
                cols: list[str] = []
                for v in val.values():
                    cols += [c for c, x in v.items() if c not in cols and not isinstance(x, (dict, list))]
                rows = [[name] + [v.get(c, "") for c in cols] for name, v in val.items()]
                out.append(table(key, [key] + cols, rows))
    return out


def load_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
