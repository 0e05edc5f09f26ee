"""The style-transfer recipe end to end (accelerate launch, two steps, checkpoint, resume,
export), ``adaconv-stylize``, ``adaconv-eval-style`` and their error cases."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image

import adaconv_gen.metrics as metrics
from adaconv_gen.cli import eval_style, run_cli, stylize
from adaconv_gen.data import ImageFolderDataset, default_transform
from adaconv_gen.data.images import load_image_tensor
from adaconv_gen.data.style_pairs import DEMO_STYLE_KINDS, RobustDataset, build_demo_style_data
from adaconv_gen.data.synthetic import write_pattern_folder
from adaconv_gen.evaluation.style_transfer import evaluate_style_transfer
from adaconv_gen.models.style_transfer import AdaConvStyleTransfer, load_style_transfer_model
from adaconv_gen.models.vgg import write_random_vgg19_weights
from adaconv_gen.training.style_losses import channel_mean_std

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny tensors; accelerate launch takes its thread count from here
TINY_FLAGS = ["--img_size", "32", "--resize_size", "40", "--batch-size", "2",  # hyphen alias on purpose
              "--channels", "512", "16", "8", "4", "--style_channels", "8", "--style_hidden", "16",
              "--checkpointing_steps", "1", "--sample_steps", "2", "--num_samples", "2", "--log_steps", "1"]



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("style_data")
    write_pattern_folder(root / "content" / "a", ["blobs", "waves"], 3, size=48, seed=1)
    write_pattern_folder(root / "content" / "b", ["blobs"], 2, size=40, seed=2)
    write_pattern_folder(root / "style" / "nested" / "deeper", ["stripes", "checker"], 4, size=48, seed=3)
    (root / "content" / "broken.png").write_bytes(b"this is not a png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)).save(root / "odd.png")
    vgg = write_random_vgg19_weights(root / "vgg19-dcbb9e9d.pth", seed=0)
    return root, vgg


@pytest.fixture(scope="module")
def tiny_model_dir(data, tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("model")
    AdaConvStyleTransfer(vgg_weights=data[1], channels=(512, 16, 8, 4), style_channels=8,
                         style_hidden=16).save_pretrained(d)
    return d


def _logged_steps(out: Path) -> list[int]:
    lines = (out / "logs" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def _checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-"))


def test_recipe_train_resume_export_stylize(recipe, data, tmp_path):
    root, vgg = data
    out = tmp_path / "run"
    common = ["--content_dir", root / "content", "--style_dir", root / "style", "--output_dir", out,
              "--vgg_weights", vgg, "--modulation", "adaconv", *TINY_FLAGS]
    first = recipe("style_transfer.py", *common, "--max_train_steps", "2", env=ONE_THREAD, processes=2)
    assert "broken.png" in first.stderr  # found once at start-up, named, skipped
    assert _checkpoints(out) == ["checkpoint-1", "checkpoint-2"]
    assert _logged_steps(out) == [1, 2]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["content_images"] == 5 and cfg["data"]["style_images"] == 4
    assert cfg["num_processes"] == 2  # two processes really ran, each saved its random state
    assert sorted(p.name for p in (out / "checkpoint-2").glob("random_states_*.pkl")) == [
        "random_states_0.pkl", "random_states_1.pkl"]
    grid = Image.open(out / "samples" / "step-0000002-stylized.png")
    assert grid.size == (3 * 32 + 4 * 2, 3 * 32 + 4 * 2)  # (1 + 2 styles) x (1 + 2 contents)

    second = recipe("style_transfer.py", *common, "--max_train_steps", "3", "--resume_from_checkpoint",
                    "latest", env=ONE_THREAD)
    assert "checkpoint-2" in second.stdout + second.stderr
    assert _logged_steps(out) == [1, 2, 3]  # step 3 only: nothing redone
    assert _checkpoints(out) == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    # the model card says how it was trained: both command lines (run, resume) and the step
    card = ModelCard.load(out / "model" / "README.md").data.to_dict()["adaconv_gen"]["training"]
    assert card["step"] == 3 and card["recipe"] == "style_transfer"
    assert len(card["command"]) == 2 and card["command"][1].endswith("--resume_from_checkpoint latest")
    model = load_style_transfer_model(out / "model")
    assert model.get_config()["channels"] == [512, 16, 8, 4]

    # adaconv-stylize on the export: one output per content x style, at the content's size
    res = tmp_path / "stylized"
    with pytest.raises(SystemExit) as e:
        stylize.main(["--model", str(out / "model"), "--content", str(root / "odd.png"),
                      "--style", str(root / "style"), "--output-dir", str(res)])
    assert e.value.code == 0
    styles = sorted((root / "style").rglob("*.png"))
    assert sorted(p.name for p in res.iterdir()) == sorted(f"odd__{s.stem}.png" for s in styles)
    got = np.asarray(Image.open(res / f"odd__{styles[0].stem}.png"))
    assert got.shape == (37, 45, 3)
    with torch.no_grad():
        want = model.stylize(load_image_tensor(root / "odd.png"), load_image_tensor(styles[0]))
    want = ((want[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_recipe_trains_adain_baseline_from_a_config_file(recipe, data, tmp_path):
    root, vgg = data
    out = tmp_path / "adain"
    cfg = tmp_path / "flags.yaml"  # defaults from a file, the command line wins (--max_train_steps)
    cfg.write_text(f"content_dir: {root / 'content'}\nstyle_dir: {root / 'style'}\nmodulation: adain\n"
                   "img_size: 32\nresize_size: 40\nbatch_size: 2\nchannels: [512, 16, 8, 4]\n"
                   "max_train_steps: 50\nlr_scheduler: inverse\nlr_decay: 0.5\n")
    recipe("style_transfer.py", "--config", cfg, "--output_dir", out, "--vgg_weights", vgg,
           "--max_train_steps", "2", "--checkpointing_steps", "5", env=ONE_THREAD)
    assert _checkpoints(out) == ["checkpoint-2"]  # the final step is always saved
    assert json.loads((out / "model" / "config.json").read_text())["model_type"] == "adain"
    assert json.loads((out / "config.json").read_text())["flags"]["img_size"] == 32
    lrs = [json.loads(line)["lr"] for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-4 / (1 + 0.5 * 1), 1e-4 / (1 + 0.5 * 2)])  # one decay step per step


def _recipe_module():
    spec = importlib.util.spec_from_file_location("style_transfer_recipe", REPO / "recipes" / "style_transfer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_recipe_input_errors_say_how(tmp_path, capsys):
    """Checked before the Accelerator or any data is built: exit 2, the file named, no traceback."""
    mod = _recipe_module()
    code = run_cli(mod._main, ["--demo", "--output_dir", str(tmp_path / "demo")])
    err = capsys.readouterr().err
    assert code == 2 and "vgg19-dcbb9e9d.pth" in err and "--vgg_weights random" in err
    assert "ADACONV_VGG19_WEIGHTS" in err and "Traceback" not in err
    assert not (tmp_path / "demo").exists()
    code = run_cli(mod._main, ["--output_dir", str(tmp_path / "x"), "--content_dir", str(tmp_path / "missing"),
                               "--style_dir", str(tmp_path), "--vgg_weights", "random"])
    assert code == 2 and "missing" in capsys.readouterr().err
    code = run_cli(mod._main, ["--output_dir", str(tmp_path / "x"), "--content_dir", str(tmp_path),
                               "--style_dir", str(tmp_path), "--vgg_weights", str(tmp_path / "nope.pth")])
    assert code == 2 and "nope.pth" in capsys.readouterr().err
    code = run_cli(mod._main, ["--output_dir", str(tmp_path / "z")])  # content/style or --demo
    assert code == 2 and "--content_dir and --style_dir are required" in capsys.readouterr().err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("img_sise: 32\n")
    code = run_cli(mod._main, ["--config", str(cfg), "--demo", "--output_dir", str(tmp_path / "y")])
    assert code == 2 and "img_sise" in capsys.readouterr().err


def _stylize(argv, capsys):
    with pytest.raises(SystemExit) as e:
        stylize.main(list(map(str, argv)))
    return e.value.code, capsys.readouterr()


def test_stylize_blend_alpha_and_size(data, tiny_model_dir, tmp_path, capsys):
    root, _ = data
    s1, s2 = sorted((root / "style").rglob("*.png"))[:2]
    code, _ = _stylize(["--model", tiny_model_dir, "--content", root / "odd.png", "--style", s1, s2,
                        "--style-weights", "1", "3", "--alpha", "0.5", "--output-dir", tmp_path / "o"], capsys)
    assert code == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == [f"odd__blend-{s1.stem}-{s2.stem}.png"]
    m = load_style_transfer_model(tiny_model_dir)
    with torch.no_grad():
        d = m.mix_descriptors([m.encode_style(load_image_tensor(s1)), m.encode_style(load_image_tensor(s2))], [1, 3])
        want = m.stylize(load_image_tensor(root / "odd.png"), descriptor=d, alpha=0.5)
    want = ((want[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(tmp_path / "o" / f"odd__blend-{s1.stem}-{s2.stem}.png")).astype(float)
    assert np.abs(got - want).max() <= 1
    code, _ = _stylize(["--model", tiny_model_dir, "--content", root / "odd.png", "--style", s1,
                        "--size", "64", "--output-dir", tmp_path / "big"], capsys)
    assert code == 0
    assert Image.open(tmp_path / "big" / f"odd__{s1.stem}.png").size == (45, 37)


@pytest.mark.parametrize("case", ["bad_content", "bad_style", "no_model", "weights_count", "alpha", "tiny_style"])
def test_stylize_errors(case, data, tiny_model_dir, tmp_path, capsys):
    root, _ = data
    style = sorted((root / "style").rglob("*.png"))[0]
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (5, 30)).save(tiny)
    argv = {"bad_content": ["--content", root / "content", "--style", style],
            "bad_style": ["--content", root / "odd.png", "--style", root / "content" / "broken.png"],
            "no_model": ["--content", root / "odd.png", "--style", style],
            "weights_count": ["--content", root / "odd.png", "--style", style, "--style-weights", "1", "2"],
            "alpha": ["--content", root / "odd.png", "--style", style, "--alpha", "1.5"],
            "tiny_style": ["--content", root / "odd.png", "--style", tiny]}[case]
    model = tmp_path / "nothing" if case == "no_model" else tiny_model_dir
    code, cap = _stylize(["--model", model, *argv, "--output-dir", tmp_path / "o"], capsys)
    assert code == 2 and "Traceback" not in cap.err
    expect = {"bad_content": "broken.png", "bad_style": "broken.png", "no_model": "nothing: no such folder, and not a Hub id in the local cache",
              "weights_count": "--style-weights", "alpha": "--alpha", "tiny_style": "tiny.png"}[case]
    assert expect in cap.err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_evaluation_against_hand_computation(data, tiny_model_dir, tmp_path, capsys, monkeypatch):
    root, _ = data
    content = sorted((root / "content").rglob("*.png"))
    content = [p for p in content if p.name != "broken.png"][:3]
    styles = sorted((root / "style").rglob("*.png"))[:2]
    model = load_style_transfer_model(tiny_model_dir)
    res = evaluate_style_transfer(model, content, styles, size=32, fid=False, batch_size=2)
    assert res["num_pairs"] == 3 and res["fid"] is None and res["artfid"] is None
    want_c = want_s = 0.0
    stylised = []
    with torch.no_grad():
        for i in range(3):
            c = load_image_tensor(content[i], 32, crop=True)
            s = load_image_tensor(styles[i % 2], 32, crop=True)
            y = model.stylize(c, s)
            stylised.append(y)
            fy, fs = model.encoder(y, taps=True), model.encoder(s, taps=True)
            want_c += float(((fy[-1] - model.encoder(c)) ** 2).mean())
            for a, b in zip(fy, fs):
                (ma, sa), (mb, sb) = channel_mean_std(a), channel_mean_std(b)
                want_s += float(((ma - mb) ** 2).mean() + ((sa - sb) ** 2).mean())
    assert res["content_loss"] == pytest.approx(want_c / 3, rel=1e-4)
    assert res["style_loss"] == pytest.approx(want_s / 3, rel=1e-4)

    # FID and LPIPS come from adaconv_gen.metrics (tested there): check what they receive.
    seen = {}

    def fake_fid(a, b, **kw):
        seen["a"], seen["b"], seen["kw"] = a, b, kw
        return 12.5

    class FakeLPIPS(torch.nn.Module):
        @classmethod
        def from_files(cls, alexnet_weights=None, lpips_weights=None):
            seen["lpips_files"] = (alexnet_weights, lpips_weights)
            return cls()

        def forward(self, x, y):
            return (x - y).abs().flatten(1).mean(1)

    monkeypatch.setattr(metrics, "fid_from_sources", fake_fid)
    monkeypatch.setattr(metrics, "LPIPS", FakeLPIPS)
    with pytest.raises(SystemExit) as e:
        eval_style.main(["--model", str(tiny_model_dir), "--content", *map(str, content), "--style",
                         *map(str, styles), "--size", "32", "--lpips-weights", "alex.pth",
                         "--output", str(tmp_path / "r.json")])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads((tmp_path / "r.json").read_text())
    assert seen["a"].dtype == torch.uint8 and seen["a"].shape == (3, 3, 32, 32)
    assert seen["b"].shape == (2, 3, 32, 32) and seen["kw"]["preset"] == "pytorch-fid"
    y8 = torch.cat([((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8) for y in stylised])
    assert (seen["a"].int() - y8.int()).abs().max() <= 1
    lp = float(np.mean([(y.clamp(-1, 1) - load_image_tensor(c, 32, crop=True)).abs().mean()
                        for y, c in zip(stylised, content)]))
    assert out["fid"] == 12.5 and out["lpips_content"] == pytest.approx(lp, rel=1e-4)
    assert out["artfid"] == pytest.approx((1 + lp) * (1 + 12.5), rel=1e-4)
    assert out["content_loss"] == pytest.approx(want_c / 3, rel=1e-4)


def test_demo_data_and_bad_file_mid_run(tmp_path):
    cdir, sdir = build_demo_style_data(tmp_path / "demo", n_content=4, n_style=5, size=32, seed=0)
    contents, styles = sorted(cdir.iterdir()), sorted(sdir.iterdir())
    assert len(contents) == 4 and all(Image.open(p).size == (32, 32) for p in contents)
    assert sorted(p.name.split("_")[0] for p in styles) == sorted(DEMO_STYLE_KINDS)
    # a file that becomes unreadable after start-up is skipped with a warning naming it
    ds = ImageFolderDataset(cdir, default_transform(32, train=False))
    contents[1].write_bytes(b"gone bad")
    robust = RobustDataset(ds)
    with pytest.warns(UserWarning, match=contents[1].name):
        x = robust[1]
    assert torch.equal(x, ds[2])
