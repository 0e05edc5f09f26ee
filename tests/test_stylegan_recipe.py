"""recipes/stylegan.py as a user runs it (two processes through the launcher, then a resume through
``python recipes/stylegan.py``): two steps, checkpoints, resume, export, sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from adaconv_gen.cli.stylegan_sample import main as sample_main
from adaconv_gen.data.synthetic import write_pattern_folder
from adaconv_gen.models.stylegan import Generator

TINY = ["--img_size", "16", "--batch_size", "4", "--channels", "8", "--style_dim", "16", "--n_mlp", "2",
        "--style_channels", "8", "--log_steps", "1", "--sample_steps", "1", "--num_samples", "4",
        "--dataloader_num_workers", "0", "--r1_interval", "2", "--pl_weight", "2", "--pl_interval", "2",
        "--checkpointing_steps", "1", "--resume_from_checkpoint", "latest"]


def _steps(out):
    rows = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("modulation", ["adaconv", "adain"])
def test_stylegan_recipe_two_steps_checkpoint_resume(tmp_path, recipe, modulation):
    data = tmp_path / "data"
    write_pattern_folder(data / "nested", ["stripes", "dots"], n=6, size=20, seed=1)
    (data / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    processes = 2 if modulation == "adaconv" else 1  # two processes (gloo) where the launcher is tested
    res = recipe("stylegan.py", "--data-dir", data, "--output_dir", out, "--modulation", modulation,
                 "--max_train_steps", "2", *TINY, "--batch_size", str(4 // processes), processes=processes)
    assert "broken.png" in res.stderr + res.stdout  # skipped at start-up, named
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_images"] == 6 and cfg["skipped_images"][0].endswith("broken.png")
    assert cfg["generator"]["modulation"] == modulation == cfg["flags"]["modulation"]
    assert cfg["num_processes"] == processes
    assert sorted(p.name for p in (out / "checkpoint-2").glob("random_states_*.pkl")) == [
        f"random_states_{i}.pkl" for i in range(processes)]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000001-ema.png", "step-0000002-ema.png"]
    rows = _steps(out)
    assert [r["step"] for r in rows] == [1, 2]
    assert "loss/D_r1" in rows[1] and "loss/D_r1" not in rows[0]  # lazy R1 at its interval
    assert "loss/G_pl" in rows[1] and "loss/G_pl" not in rows[0]
    g_step2 = Generator.from_pretrained(out / "model")

    res = recipe("stylegan.py", "--data_dir", data, "--output_dir", out, "--modulation", modulation,
                 "--max_train_steps", "3", "--checkpoints_total_limit", "2", *TINY)
    assert "resuming from" in res.stdout + res.stderr and "checkpoint-2" in res.stdout + res.stderr
    assert [r["step"] for r in _steps(out)] == [1, 2, 3]  # no step redone
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    g_step3 = Generator.from_pretrained(out / "model")
    assert g_step3.config == g_step2.config
    z = torch.randn(2, 16)
    assert not torch.equal(g_step3(z, noise_mode="const"), g_step2(z, noise_mode="const"))

    # the exported EMA generator samples through the console tool, reproducibly
    grid, outdir = tmp_path / "grid.png", tmp_path / "imgs"
    with pytest.raises(SystemExit) as e:
        sample_main(["--model", str(out / "model"), "--output", str(grid), "--output-dir", str(outdir),
                     "--num", "4", "--seed", "3"])
    assert e.value.code == 0
    assert Image.open(grid).size == (2 * 16 + 3 * 2, 2 * 16 + 3 * 2)  # 2x2 grid, 2 px padding
    first = np.asarray(Image.open(outdir / "seed3-000000.png"))
    expected = g_step3.sample(4, seed=3)[0]
    expected = ((expected + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(first, expected)


def test_sample_tool_reports_missing_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sample_main(["--model", str(tmp_path / "nope"), "--output", str(tmp_path / "g.png")])
    assert e.value.code == 2
    assert "nope: no such folder, and not a Hub id in the local cache" in capsys.readouterr().err
