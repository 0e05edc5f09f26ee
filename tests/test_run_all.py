"""benchmarks/run_all.py --quick: every benchmark runs in its own process and leaves its table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CORE = ("adaconv_layer", "fid", "stargan_v2_step", "style_transfer", "stylegan_step")


def _md_rows(path: Path) -> list[list[str]]:
    """The cells of every Markdown table row (header and separator excluded)."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_run_all_quick_writes_tables_and_machine(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    info = json.loads((tmp_path / "machine.json").read_text())
    m = info["machine"]
    assert m["cpu_cores"] == os.cpu_count() and m["torch"] == torch.__version__ and m["gpu"] is None
    assert isinstance(m["cpu_model"], str) and m["cpu_model"]
    assert info["quick"] is True and info["device"] == "cpu"
    for name in CORE:
        runs = info["benchmarks"][name]["runs"]
        assert [r["returncode"] for r in runs] == [0] and runs[0]["command"].startswith(f"python benchmarks/{name}.py --quick")
        assert runs[0]["seconds"] > 0 and info["benchmarks"][name]["tables"] >= 1
        data = json.loads((tmp_path / f"{name}.json").read_text())
        md = (tmp_path / f"{name}.md").read_text()
        for tab in data["tables"]:  # every JSON table is in the Markdown, header first
            assert "| " + " | ".join(tab["columns"]) + " |" in md
            for row in tab["rows"]:
                assert len(row) == len(tab["columns"])
        assert (tmp_path / f"{name}.log").is_file()

    # the numbers: timings positive, ratios consistent with the timings
    layer = json.loads((tmp_path / "adaconv_layer.json").read_text())["tables"][0]
    assert [r[0] for r in layer["rows"]] == ["512 / 4 / 512", "256 / 8 / 128", "128 / 16 / 32", "64 / 32 / 8",
                                            "geometric mean"]
    for r in layer["rows"][:4]:
        assert min(r[1:4]) > 0 and abs(r[4] - r[2] / r[1]) < 1e-9
    step = json.loads((tmp_path / "stargan_v2_step.json").read_text())["tables"][0]
    by = {r[0]: r for r in step["rows"]}
    assert set(by) == {"adain", "adaconv"} and by["adaconv"][1] > by["adain"][1] > 0  # parameters
    assert abs(by["adaconv"][4] - by["adaconv"][2] / by["adain"][2]) < 1e-9
    style = json.loads((tmp_path / "style_transfer.json").read_text())["tables"][0]
    assert [r[0] for r in style["rows"]] == ["adain", "adaconv", "adaconv-loop"]
    assert all(r[1] > 0 and abs(r[1] * r[2] / 1000 - 1) < 1e-9 for r in style["rows"])  # img/s x s = 1
    gan = json.loads((tmp_path / "stylegan_step.json").read_text())["tables"][0]
    assert [r[0] for r in gan["rows"]] == ["adaconv", "modconv", "adain"] and gan["rows"][1][3] == 1.0
    fid = json.loads((tmp_path / "fid.json").read_text())["tables"]
    assert [r[0] for r in fid[0]["rows"]] == ["full rank", "rank-deficient (64 samples)"]
    assert all(r[4] < 1e-4 for r in fid[0]["rows"])  # ours agrees with pytorch-fid's sqrtm
    assert len(fid[1]["rows"]) == 2 and all(r[1] > 0 and r[2] > 0 for r in fid[1]["rows"])

    index = (tmp_path / "index.md").read_text()
    assert all(f"python benchmarks/{name}.py --quick" in index for name in CORE)
    assert [r for r in _md_rows(tmp_path / "stargan_v2_step.md")][1][0] == "adain"
