"""Shared test set-up: offline, empty torch hub and Hugging Face caches, and a runner for recipes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

# Nothing in the tests may download, or find a developer's own weights by accident.
os.environ["ADACONV_OFFLINE"] = "1"
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="adaconv-torch-home-")
os.environ["HF_HUB_OFFLINE"] = "1"  # Hub ids resolve from an empty cache, never from the network
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="adaconv-hf-home-")
os.environ.pop("HF_HUB_CACHE", None)
for _k in list(os.environ):
    if _k.startswith("ADACONV_") and _k.endswith("_WEIGHTS") or _k == "ADACONV_WEIGHTS_DIR":
        del os.environ[_k]
# The test layers are tiny: one thread each is several times faster than two threads fighting
# over the 2 cores (and pytest-xdist runs two workers). Recipe subprocesses inherit it.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False

REPO = Path(__file__).resolve().parents[1]


def recipe_command(script: str, *args: str, processes: int = 1) -> list[str]:
    """``python recipes/<script> args`` (one process), or ``accelerate launch --multi_gpu
    --num_processes N`` for several (on a CPU machine they form one gloo group; ``accelerate launch
    --cpu --num_processes 2`` would start one process only)."""
    path = str(REPO / "recipes" / script)
    if processes == 1:
        return [sys.executable, path, *map(str, args)]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", "0", path, *map(str, args)]


def recipe_env(env: dict | None = None) -> dict:
    """The environment recipe subprocesses run with (this checkout first on the path)."""
    return {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}


def run_recipe(script: str, *args: str, timeout: int = 600, env: dict | None = None,
               check: bool = True, processes: int = 1) -> subprocess.CompletedProcess:
    """Run a recipe as a user would (see :func:`recipe_command`); returns the result."""
    cmd = recipe_command(script, *args, processes=processes)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=recipe_env(env), cwd=REPO)
    if check and res.returncode != 0:
        raise AssertionError(f"recipe failed ({res.returncode}):\nSTDOUT\n{res.stdout[-4000:]}\n"
                             f"STDERR\n{res.stderr[-6000:]}")
    return res


@pytest.fixture
def recipe():
    """The :func:`run_recipe` helper as a fixture."""
    return run_recipe


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
