"""The run contract every recipe shares (docs/training.md): refused values, one run per folder,
resume checks, interrupts, two processes, file modes.

Refusals happen before the ``Accelerator`` exists, so they are checked in this process through
each recipe's ``_main`` (as ``python recipes/X.py`` would call it); one refusal per recipe and
every training run go through the real script in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, recipe_command, recipe_env, run_recipe

from adaconv_gen.cli import run_cli
from adaconv_gen.data.synthetic import write_domain_dataset, write_pattern_folder
from adaconv_gen.errors import UserInputError
from adaconv_gen.models.vgg import write_random_vgg19_weights
from adaconv_gen.training.jsonl_tracker import drop_entries_after, read_metrics

RECIPES = ("stargan_v2", "style_transfer", "stylegan")

# the smallest networks each recipe builds, 32 px (16 px for StyleGAN), one step logged each time
TINY = {
    "stargan_v2": ["--img_size", "32", "--base_dim", "8", "--max_conv_dim", "16", "--hidden_dim", "16",
                   "--style_dim", "8", "--latent_dim", "4", "--style_channels", "8", "--batch_size", "2",
                   "--cpu_threads", "1"],
    "style_transfer": ["--img_size", "32", "--resize_size", "32", "--batch_size", "2", "--channels", "512", "16",
                       "8", "8", "--style_channels", "8", "--style_hidden", "8", "--num_samples", "2"],
    "stylegan": ["--img_size", "16", "--batch_size", "2", "--channels", "8", "--style_dim", "16", "--n_mlp", "2",
                 "--style_channels", "8", "--num_samples", "4", "--r1_interval", "4"],
}
QUIET = ["--log_steps", "1", "--sample_steps", "100000", "--checkpointing_steps", "100000"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Data folders and flags for each recipe (a handful of generated images)."""
    root = tmp_path_factory.mktemp("contract_data")
    write_domain_dataset(root / "domains", domains=("dots", "stripes"), n_train=4, n_val=2, size=32, seed=1)
    write_pattern_folder(root / "content", ["blobs", "waves"], 2, size=40, seed=1)
    write_pattern_folder(root / "style", ["stripes", "checker"], 2, size=40, seed=3)
    write_pattern_folder(root / "images", ["stripes", "dots"], 3, size=16, seed=1)
    vgg = write_random_vgg19_weights(root / "vgg19.pth", seed=0)
    return {
        "stargan_v2": ["--train_dir", root / "domains" / "train", "--val_dir", root / "domains" / "val"],
        "style_transfer": ["--content_dir", root / "content", "--style_dir", root / "style", "--vgg_weights", vgg],
        "stylegan": ["--data_dir", root / "images"],
    }


def _module(recipe: str):
    spec = importlib.util.spec_from_file_location(f"{recipe}_recipe", REPO / "recipes" / f"{recipe}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _refuse(recipe: str, argv: list, capsys) -> str:
    """``_main(argv)`` must exit 2 with one ``error:`` line and no traceback; returns the line."""
    code = run_cli(_module(recipe)._main, [str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def _args(recipe, data, out, *extra):
    return [str(a) for a in (*data[recipe], "--output_dir", out, *TINY[recipe], *extra)]


# ----------------------------------------------------------------------------- refused values

BAD = [("batch_size", "-2"), ("learning_rate", "-1"), ("checkpointing_steps", "0"), ("sample_steps", "0"),
       ("log_steps", "0"), ("max_train_steps", "-5"), ("adam_beta1", "1"), ("adam_beta2", "-0.1"),
       ("gradient_accumulation_steps", "0"), ("dataloader_num_workers", "-1"), ("checkpoints_total_limit", "0"),
       ("ema_decay", "5"), ("img_size", "0"), ("report_to", "mlflow")]
CASES = [(r, f, v) for r in RECIPES for f, v in BAD if not (f == "ema_decay" and r == "style_transfer")]


@pytest.mark.parametrize("recipe,flag,value", CASES, ids=[f"{r}-{f}" for r, f, _ in CASES])
def test_bad_value_is_refused_before_anything_is_written(recipe, flag, value, data, tmp_path, capsys):
    out = tmp_path / "run"
    err = _refuse(recipe, _args(recipe, data, out, f"--{flag}", value), capsys)
    assert f"--{flag} " in err and value in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_refusal_through_the_script(recipe, data, tmp_path):
    out = tmp_path / "run"
    res = run_recipe(f"{recipe}.py", *_args(recipe, data, out, "--batch_size", "-2"), check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "error: --batch_size must be positive, got -2"
    assert not out.exists()


@pytest.mark.parametrize("recipe", RECIPES)
def test_missing_folders_and_output_dir_are_refused(recipe, data, tmp_path, capsys):
    flag = {"stargan_v2": "--train_dir", "style_transfer": "--content_dir", "stylegan": "--data_dir"}[recipe]
    argv = _args(recipe, data, tmp_path / "run")
    argv[argv.index(flag) + 1] = tmp_path / "missing"
    assert flag in _refuse(recipe, argv, capsys)
    argv = [a for a in _args(recipe, data, tmp_path / "run") if a not in (str(tmp_path / "run"), "--output_dir")]
    assert "--output_dir is required" in _refuse(recipe, argv, capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("recipe", RECIPES)
def test_config_file_unknown_key_and_wrong_type(recipe, data, tmp_path, capsys):
    cfg = tmp_path / "flags.yaml"
    for text, named in (("img_sise: 32\n", "img_sise"), ("batch_size: two\n", "batch_size"),
                        ("batch_size: 2.5\n", "batch_size"), ("learning_rate: [1]\n", "learning_rate")):
        cfg.write_text(text)
        err = _refuse(recipe, _args(recipe, data, tmp_path / "run", "--config", cfg), capsys)
        assert named in err and "--config" in err
    assert not (tmp_path / "run").exists()


def test_config_values_and_official_aliases(data, tmp_path):
    """File values replace defaults, command-line flags win; the official StarGAN v2 names work."""
    mod = _module("stargan_v2")
    cfg = tmp_path / "flags.yaml"
    cfg.write_text("lr: 0.002\nbeta1: 0.5\nmax_train_steps: 7\nmodulation: adain\n")
    out = tmp_path / "run"
    args = mod.parse_args([*map(str, _args("stargan_v2", data, out)), "--config", str(cfg), "--total_iters", "9",
                           "--f_lr", "0.003", "--num_workers", "0", "--beta2", "0.5", "--resume_iter", "4"])
    assert (args.learning_rate, args.adam_beta1, args.adam_beta2) == (0.002, 0.5, 0.5)
    assert (args.max_train_steps, args.mapping_learning_rate, args.dataloader_num_workers) == (9, 0.003, 0)
    assert args.modulation == "adain" and args.resume_from_checkpoint == str(out / "checkpoint-4")
    st = _module("style_transfer").parse_args([*map(str, _args("style_transfer", data, out)), "--modulation", "adain"])
    assert st.modulation == "adain"
    with pytest.raises(SystemExit):  # --model is a tool's model folder, not a recipe flag
        _module("style_transfer").parse_args([*map(str, _args("style_transfer", data, out)), "--model", "adain"])


def test_demo_output_dir_default_and_fid_switch(data, tmp_path, capsys):
    sg = _module("stylegan")
    assert sg.parse_args(["--demo"]).output_dir == "runs/stylegan-demo"
    assert sg.parse_args(_args("stylegan", data, tmp_path)).fid_steps is None  # FID off by default
    # naming a weights file turns nothing on; --fid_steps does, and then the file must be there
    args = sg.parse_args([*_args("stylegan", data, tmp_path), "--inception_weights", str(tmp_path / "nope.pth")])
    assert args.fid_steps is None
    err = _refuse("stylegan", [*_args("stylegan", data, tmp_path / "o"), "--fid_steps", "5",
                               "--inception_weights", tmp_path / "nope.pth"], capsys)
    assert "nope.pth" in err and "--inception_weights" in err


# ----------------------------------------------------------------------------- one run per folder

def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.slow
def test_one_run_per_folder(data, tmp_path, capsys):
    """``latest`` with no checkpoint says so; a used folder is refused unchanged; an architecture
    change is refused; --overwrite_output_dir replaces; --demo replaces an earlier demo run but not
    another run, nor another recipe's."""
    out = tmp_path / "run"
    common = [*_args("stylegan", data, out), "--dataloader_num_workers", "0", "--log_steps", "1",
              "--sample_steps", "1", "--checkpointing_steps", "1"]
    res = run_recipe("stylegan.py", *common, "--max_train_steps", "2", "--resume_from_checkpoint", "latest")
    assert f"no checkpoint in {out}: starting at step 0" in res.stdout  # latest, said out loud
    first = json.loads((out / "config.json").read_text())
    assert first["argv"][-2:] == ["--resume_from_checkpoint", "latest"] and first["resumes"] == []
    before = _tree(out)
    err = _refuse("stylegan", [*common, "--max_train_steps", "2"], capsys)
    assert err == (f"error: {out} already holds a run (step 2); pass --resume_from_checkpoint latest to continue "
                   "it or --overwrite_output_dir to replace it\n")
    err = _refuse("stylegan", [*common, "--max_train_steps", "3", "--channels", "16", "--resume_from_checkpoint",
                               "latest"], capsys)
    assert "--channels 8 (stored) vs 16 (given)" in err
    err = _refuse("stylegan", [*common, "--max_train_steps", "1", "--resume_from_checkpoint", "latest"], capsys)
    assert "--max_train_steps must be >= the resumed step 2, got 1" in err
    err = _refuse("stylegan", [*common, "--demo"], capsys)  # a demo does not replace a real run
    assert "already holds a run" in err
    # continuing from an earlier checkpoint would leave checkpoint-2 of the abandoned timeline
    err = _refuse("stylegan", [*common, "--max_train_steps", "3", "--resume_from_checkpoint",
                               out / "checkpoint-1"], capsys)
    assert err == (f"error: --resume_from_checkpoint checkpoint-1: {out} holds later checkpoints (up to "
                   "checkpoint-2); remove them first to continue from step 1, or resume from latest\n")
    assert _tree(out) == before  # nothing changed, config.json included

    res = run_recipe("stylegan.py", *common, "--max_train_steps", "1", "--overwrite_output_dir")
    assert "removing the run" in res.stdout
    second = json.loads((out / "config.json").read_text())
    assert second["run_id"] != first["run_id"] and second["flags"]["max_train_steps"] == 1
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000001-ema.png"]
    assert [r["step"] for r in read_metrics(out / "logs" / "metrics.jsonl")] == [1]

    demo = tmp_path / "demo"
    flags = ["--demo", "--output_dir", demo, "--max_train_steps", "1", *TINY["stylegan"], "--dataloader_num_workers",
             "0", "--batch_size", "4"]
    run_recipe("stylegan.py", *flags)
    demo_id = json.loads((demo / "config.json").read_text())["run_id"]
    res = run_recipe("stylegan.py", *flags)  # the same command twice works: the demo run is replaced
    assert f"replacing the earlier demo run in {demo} (step 1)" in res.stdout
    assert json.loads((demo / "config.json").read_text())["run_id"] != demo_id
    err = _refuse("style_transfer", ["--demo", "--output_dir", str(demo), "--vgg_weights", "random"], capsys)
    assert "holds a run of recipes/stylegan.py (step 1)" in err  # another recipe's demo is not replaced


# ----------------------------------------------------------------------------- interrupt and resume

def _wait_for_log(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if read_metrics(path):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended ({proc.returncode}) before logging:\n{proc.stderr.read()[-4000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("no step logged in time")


def _modes_readable(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if (p.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
            != (stat.S_IRGRP | stat.S_IROTH)]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_sigint_checkpoints_and_resume_logs_each_step_once(recipe, data, tmp_path):
    """Ctrl-C (SIGINT to the whole process group, DataLoader workers included) after the first
    logged step: exit 130, checkpoint at the named step, nothing logged after it; the resume
    reaches the requested step with each step logged once. Files follow umask 022."""
    out = tmp_path / "run"
    argv = [*_args(recipe, data, out), *QUIET, "--dataloader_num_workers", "2"]
    proc = subprocess.Popen(recipe_command(f"{recipe}.py", *argv, "--max_train_steps", "100000"), cwd=REPO,
                            env=recipe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: os.umask(0o022))
    _wait_for_log(out / "logs" / "metrics.jsonl", proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-4000:]
    line = next(x for x in err.splitlines() if x.startswith("interrupted at step"))
    step = int(line.split()[3].rstrip(":"))
    assert line == (f"interrupted at step {step}: checkpoint-{step} saved; continue with "
                    "--resume_from_checkpoint latest")
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [f"checkpoint-{step}"]
    assert (out / f"checkpoint-{step}" / "COMPLETE").is_file()
    assert max(r["step"] for r in read_metrics(out / "logs" / "metrics.jsonl")) == step

    res = subprocess.run(recipe_command(f"{recipe}.py", *argv, "--max_train_steps", str(step + 2),
                                        "--resume_from_checkpoint", "latest"),
                         cwd=REPO, env=recipe_env(), capture_output=True, text=True, timeout=600,
                         preexec_fn=lambda: os.umask(0o022))
    assert res.returncode == 0, res.stderr[-4000:]
    assert f"resuming from {out / f'checkpoint-{step}'} (step {step})" in res.stdout
    assert [r["step"] for r in read_metrics(out / "logs" / "metrics.jsonl")] == list(range(1, step + 3))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["flags"]["max_train_steps"] == 100000 and len(cfg["resumes"]) == 1
    assert cfg["resumes"][0]["step"] == step
    assert cfg["resumes"][0]["changed"]["max_train_steps"] == {"stored": 100000, "given": step + 2}
    assert (out / "model" / "config.json").is_file() and (out / f"checkpoint-{step + 2}").is_dir()
    assert _modes_readable(out) == []  # checkpoints (safetensors), model, samples, logs, config


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_stops_and_checkpoints_both(data, tmp_path):
    """A scheduler preempting one process: both stop at the same step, both save, both exit 143."""
    out = tmp_path / "run"
    argv = [*_args("stargan_v2", data, out), *QUIET, "--dataloader_num_workers", "1", "--max_train_steps", "100000"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "recipes" / "stargan_v2.py"), *map(str, argv)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=recipe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    _wait_for_log(out / "logs" / "metrics.jsonl", proc)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    ranks = {}
    for pid in children:
        env = dict(e.split("=", 1) for e in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in e)
        if "RANK" in env:
            ranks[int(env["RANK"])] = int(pid)
    assert sorted(ranks) == [0, 1]
    os.kill(ranks[1], signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0  # the launcher reports its workers' 143 as a failure
    # The first worker to finish exits 143; the launcher then terminates the other, which exits
    # 143 too or, when it was already past its save and tearing down, dies of that SIGTERM (-15).
    # Never a crash or a hang; that both ranks stopped at the same step and took part in the save
    # is what the checkpoint below shows.
    codes = re.findall(r"exitcode\s*:\s*(-?\d+)", err)
    assert "143" in codes and set(codes) <= {"143", "-15"}, err[-4000:]
    assert err.index("interrupted at step") < err.index("exitcode")  # saved before any worker ended
    step = int(next(x for x in err.splitlines() if "interrupted at step" in x).split("interrupted at step ")[1]
               .split(":")[0])
    ckpt = out / f"checkpoint-{step}"
    assert (ckpt / "COMPLETE").is_file()
    assert sorted(p.name for p in ckpt.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert json.loads((out / "config.json").read_text())["num_processes"] == 2
    assert max(r["step"] for r in read_metrics(out / "logs" / "metrics.jsonl")) == step


# ----------------------------------------------------------------------------- the pieces

def test_drop_entries_after(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text("".join(json.dumps({"step": s, "x": s}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "x"')
    assert drop_entries_after(p, 2) == 2
    assert read_metrics(p) == [{"step": 1, "x": 1}, {"step": 2, "x": 2}]
    assert p.read_text().endswith("\n")


def test_plan_refuses_contradictions_and_a_file_as_output_dir(data, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert "--output_dir must be a folder" in _refuse("stylegan", _args("stylegan", data, tmp_path / "f"), capsys)
    err = _refuse("stylegan", [*_args("stylegan", data, tmp_path / "o"), "--overwrite_output_dir",
                               "--resume_from_checkpoint", "latest"], capsys)
    assert "contradict" in err
    err = _refuse("stylegan", [*_args("stylegan", data, tmp_path / "o"), "--resume_from_checkpoint",
                               tmp_path / "checkpoint-3"], capsys)
    assert "--resume_from_checkpoint" in err
    with pytest.raises(UserInputError, match="--report_to"):
        from adaconv_gen.training.args import check_report_to

        check_report_to("jsonl,none")


def test_stop_signal_records_and_the_third_signal_escapes():
    from types import SimpleNamespace

    from adaconv_gen.training.signals import StopSignal

    before = signal.getsignal(signal.SIGINT)
    stop = StopSignal().install()
    try:
        acc = SimpleNamespace(num_processes=1)
        assert stop.agreed(acc) == 0
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal (e.g. during the save) changes nothing
        assert stop.agreed(acc) == signal.SIGTERM and stop.count == 2
        with pytest.raises(KeyboardInterrupt):  # the third: the previous handler, at once
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        stop.restore()


def test_report_to_missing_tracker_is_one_clear_line(monkeypatch, data, tmp_path, capsys):
    import importlib.util

    from adaconv_gen.training.args import report_to_names

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorboard", "tensorboardX", "wandb") else real(name, *a))
    err = _refuse("stylegan", [*_args("stylegan", data, tmp_path / "o"), "--report_to", "jsonl,tensorboard"], capsys)
    assert err == "error: --report_to tensorboard needs the tensorboard package: pip install tensorboard\n"
    assert "pip install wandb" in _refuse("stylegan", [*_args("stylegan", data, tmp_path / "o"), "--report_to",
                                                       "wandb"], capsys)
    assert report_to_names("all") == ["jsonl"] and report_to_names("none") == []
    assert not (tmp_path / "o").exists()
