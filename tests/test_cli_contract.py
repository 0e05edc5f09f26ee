"""The tools' shared contract (docs/index.md, "Conventions"): one vocabulary of flags, and every
careless input ends in one line ``error: ...`` naming the flag or file, exit status 2, nothing
written, no traceback; outputs are never silently replaced."""

from __future__ import annotations

import importlib
import os
import re
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from adaconv_gen.cli.common import model_folder
from adaconv_gen.data.synthetic import write_domain_dataset, write_pattern_folder
from adaconv_gen.errors import UserInputError
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.models.style_transfer import AdaConvStyleTransfer
from adaconv_gen.models.stylegan import build as build_stylegan
from adaconv_gen.models.vgg import write_random_vgg19_weights

TOOLS = {
    "adaconv-weights": "weights",
    "adaconv-fid": "fid",
    "adaconv-stylize": "stylize",
    "adaconv-eval-style": "eval_style",
    "adaconv-eval-stargan": "eval_stargan",
    "adaconv-stargan-translate": "stargan_translate",
    "adaconv-stylegan-sample": "stylegan_sample",
    "adaconv-export": "export",
}


def run(tool: str, *argv, capsys) -> tuple[int, str, str]:
    """``main(argv)`` of a tool in-process: (exit status, stdout, stderr)."""
    mod = importlib.import_module(f"adaconv_gen.cli.{TOOLS[tool]}")
    with pytest.raises(SystemExit) as e:
        mod.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def assert_user_error(code: int, err: str, *named: str) -> str:
    """Exit 2, exactly one line ``error: ...`` naming each of ``named``, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in named:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One tiny model folder of each family, and a little data."""
    root = tmp_path_factory.mktemp("contract")
    torch.manual_seed(0)
    nets = sg.build(img_size=32, w_hpf=0, num_domains=2, base_dim=8, max_conv_dim=16, style_dim=8,
                    hidden_dim=16, latent_dim=4, modulation="adaconv", style_channels=8).eval()
    nets.config["domains"] = ["dots", "stripes"]
    sg.save_pretrained(nets, root / "stargan")
    vgg = write_random_vgg19_weights(root / "vgg19.pth", seed=0)
    AdaConvStyleTransfer(vgg_weights=vgg, channels=(512, 16, 8, 4), style_channels=8,
                         style_hidden=16).save_pretrained(root / "style")
    build_stylegan(16, style_dim=16, n_mlp=2, channels=16).save_pretrained(root / "stylegan")
    data = write_domain_dataset(root / "d", domains=("dots", "stripes"), n_train=2, n_val=2, size=32, seed=1)
    write_pattern_folder(root / "content", ["blobs"], 2, size=40, seed=2)
    write_pattern_folder(root / "styles", ["stripes"], 1, size=40, seed=3)
    return root, data, nets


# ----------------------------------------------------------------------------- bad inputs

def _bad_cases(root, data, tmp):
    src = data / "val" / "dots"
    (tmp / "a_file").write_text("x")
    junk = tmp / "junk.pth"
    junk.write_bytes(os.urandom(2048))
    # torchvision AlexNet's key layout (tiny tensors): another network's weights
    alex = {f"features.{i}.{n}": torch.zeros((1, 1, 1, 1) if n == "weight" else (1,))
            for i in (0, 3, 6, 8, 10) for n in ("weight", "bias")}
    alex.update({f"classifier.{i}.weight": torch.zeros(1, 1) for i in (1, 4, 6)})
    torch.save(alex, tmp / "alexnet.pth")
    out = tmp / "out"
    return {
        "latent_negative": ("adaconv-stargan-translate",
                            ["--model", root / "stargan", "--src", src, "--latent", "-3", "--domain", "dots",
                             "--output-dir", out], ["--latent", "-3"]),
        "translate_other_family": ("adaconv-stargan-translate",
                                   ["--model", root / "style", "--src", src, "--latent", "1", "--domain", "dots",
                                    "--output-dir", out], ["--model", "style-transfer model", "StarGAN v2"]),
        "stylize_other_family": ("adaconv-stylize",
                                 ["--model", root / "stargan", "--content", root / "content", "--style",
                                  root / "styles", "--output-dir", out], ["--model", "StarGAN v2", "style-transfer"]),
        "sample_other_family": ("adaconv-stylegan-sample",
                                ["--model", root / "stargan", "--output-dir", out], ["--model", "StyleGAN"]),
        "eval_style_other_family": ("adaconv-eval-style",
                                    ["--model", root / "stylegan", "--content", root / "content", "--style",
                                     root / "styles", "--output", out / "r.json"], ["--model", "StyleGAN"]),
        "eval_stargan_other_family": ("adaconv-eval-stargan",
                                      ["--model", root / "stylegan", "--train-dir", data / "train", "--val-dir",
                                       data / "val", "--output", out / "r.json"], ["--model", "StyleGAN"]),
        "no_config": ("adaconv-stylize",
                      ["--model", data, "--content", root / "content", "--style", root / "styles",
                       "--output-dir", out], ["--model", "no config.json"]),
        "file_for_folder": ("adaconv-stargan-translate",
                            ["--model", root / "stargan", "--src", src, "--latent", "1", "--domain", "dots",
                             "--output-dir", tmp / "a_file"], ["--output-dir", "a_file", "is a file"]),
        "file_under_folder": ("adaconv-stylize",
                              ["--model", root / "style", "--content", root / "content", "--style", root / "styles",
                               "--output-dir", tmp / "a_file" / "sub"], ["--output-dir", "a_file"]),
        "sample_grid_is_folder": ("adaconv-stylegan-sample",
                                  ["--model", root / "stylegan", "--output", tmp], ["--output", "is a folder"]),
        "unknown_domain": ("adaconv-stargan-translate",
                           ["--model", root / "stargan", "--src", src, "--latent", "1", "--domain", "cats",
                            "--output-dir", out], ["--domain", "'cats'"]),
        "fid_junk_weights": ("adaconv-fid",
                             [src, src, "--inception-weights", junk, "--num-workers", "0", "--no-progress"],
                             ["--inception-weights", "junk.pth", "not a PyTorch"]),
        "fid_other_network": ("adaconv-fid",
                              [src, src, "--inception-weights", tmp / "alexnet.pth", "--num-workers", "0",
                               "--no-progress", "--output", out / "fid.json"],
                              ["--inception-weights", "alexnet.pth", "AlexNet", "keys missing", "unexpected"]),
        "fid_weights_of_other_features": ("adaconv-fid",
                                          [src, src, "--dinov2-weights", junk],
                                          ["--dinov2-weights", "--features"]),
        "device": ("adaconv-stylegan-sample",
                   ["--model", root / "stylegan", "--output-dir", out, "--device", "nosuch"], ["--device", "nosuch"]),
        "num_zero": ("adaconv-stylegan-sample",
                     ["--model", root / "stylegan", "--output-dir", out, "--num", "0"], ["--num"]),
    }


CASES = ["latent_negative", "translate_other_family", "stylize_other_family", "sample_other_family",
         "eval_style_other_family", "eval_stargan_other_family", "no_config", "file_for_folder",
         "file_under_folder", "sample_grid_is_folder", "unknown_domain", "fid_junk_weights",
         "fid_other_network", "fid_weights_of_other_features", "device", "num_zero"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_nothing_written(case, models, tmp_path, capsys):
    root, data, _ = models
    tool, argv, named = _bad_cases(root, data, tmp_path)[case]
    before = files_under(tmp_path)
    before_models = files_under(root)
    code, _, err = run(tool, *argv, capsys=capsys)
    line = assert_user_error(code, err, *named)
    assert files_under(tmp_path) == before and files_under(root) == before_models
    if case == "fid_other_network":
        assert len(line) < 400  # a few example keys, not the whole list


def test_model_neither_folder_nor_hub_id(models, tmp_path, capsys, monkeypatch):
    root, data, _ = models
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for tool, extra in (("adaconv-stylize", ["--content", root / "content", "--style", root / "styles",
                                             "--output-dir", "out"]),
                        ("adaconv-eval-style", ["--content", root / "content", "--style", root / "styles"]),
                        ("adaconv-stylegan-sample", ["--output-dir", "out"]),
                        ("adaconv-stargan-translate", ["--src", data / "val", "--latent", "1", "--domain", "0",
                                                       "--output-dir", "out"]),
                        ("adaconv-eval-stargan", ["--train-dir", data / "train", "--val-dir", data / "val"])):
        code, _, err = run(tool, "--model", "runs/modle", *extra, capsys=capsys)
        assert_user_error(code, err)
        assert err.strip() == "error: --model runs/modle: no such folder, and not a Hub id in the local cache"
    assert files_under(tmp_path) == []
    assert model_folder(str(root / "style")) == root / "style"
    with pytest.raises(UserInputError, match="is a file"):
        model_folder(str(root / "vgg19.pth"))


@pytest.mark.parametrize("tool", ["adaconv-stylize", "adaconv-stargan-translate"])
def test_bad_image_is_found_before_anything_is_written(tool, models, tmp_path, capsys):
    root, data, _ = models
    src = tmp_path / "src"
    for p in (data / "val" / "dots").iterdir():
        (src / p.name).parent.mkdir(exist_ok=True)
        (src / p.name).write_bytes(p.read_bytes())
    (src / "zzz_broken.png").write_bytes(b"not a png")  # sorted last: found before any output
    out = tmp_path / "out"
    argv = (["--model", root / "style", "--content", src, "--style", root / "styles"] if tool == "adaconv-stylize"
            else ["--model", root / "stargan", "--src", src, "--latent", "1", "--domain", "stripes"])
    code, _, err = run(tool, *argv, "--output-dir", out, "--no-progress", capsys=capsys)
    assert_user_error(code, err, "zzz_broken.png", "--skip-bad-images")
    assert not out.exists()
    code, _, err = run(tool, *argv, "--output-dir", out, "--no-progress", "--skip-bad-images", capsys=capsys)
    assert code == 0, err
    assert [ln for ln in err.splitlines() if ln] == [f"warning: skipping 1 unreadable image(s): {src / 'zzz_broken.png'}"]
    assert len(files_under(out)) == 2 and not any("zzz_broken" in f for f in files_under(out))


# ----------------------------------------------------------------------------- outputs

def test_translate_runs_keep_each_others_files_and_overwrite_is_explicit(models, tmp_path, capsys):
    root, data, _ = models
    out = tmp_path / "out"
    src = data / "val" / "dots"
    base = ["--model", root / "stargan", "--src", src, "--latent", "2", "--output-dir", out, "--no-progress"]
    assert run("adaconv-stargan-translate", *base, "--domain", "stripes", capsys=capsys)[0] == 0
    first = {f: (out / f).read_bytes() for f in files_under(out)}
    assert sorted(first) == sorted(f"{p.stem}__stripes__seed0-z{k}.png" for p in src.iterdir() for k in range(2))
    # another domain: new names, the first run's files stay as they were
    assert run("adaconv-stargan-translate", *base, "--domain", "dots", capsys=capsys)[0] == 0
    both = files_under(out)
    assert len(both) == 8 and all((out / f).read_bytes() == b for f, b in first.items())
    # by reference: the reference's domain and name are in the file name
    ref = data / "val" / "stripes"
    assert run("adaconv-stargan-translate", "--model", root / "stargan", "--src", src, "--ref", ref,
               "--output-dir", out, "--no-progress", capsys=capsys)[0] == 0
    assert {f"{p.stem}__stripes__{r.stem}.png" for p in src.iterdir() for r in ref.iterdir()} <= set(files_under(out))
    # the same run again is refused, nothing changes; --overwrite replaces
    victim = out / sorted(first)[0]
    victim.write_bytes(b"mine")
    code, _, err = run("adaconv-stargan-translate", *base, "--domain", "stripes", capsys=capsys)
    assert_user_error(code, err, str(victim), "--overwrite")
    assert victim.read_bytes() == b"mine"
    assert run("adaconv-stargan-translate", *base, "--domain", "stripes", "--overwrite", capsys=capsys)[0] == 0
    assert victim.read_bytes() == first[victim.name]


def test_single_file_outputs_need_overwrite(models, tmp_path, capsys):
    root, _, _ = models
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"keep")
    code, _, err = run("adaconv-stylegan-sample", "--model", root / "stylegan", "--output", grid, capsys=capsys)
    assert_user_error(code, err, "--output", "grid.png", "--overwrite")
    assert grid.read_bytes() == b"keep"
    assert run("adaconv-stylegan-sample", "--model", root / "stylegan", "--output", grid, "--overwrite",
               "--num", "4", "--no-progress", capsys=capsys)[0] == 0
    assert Image.open(grid).size == (2 * 16 + 3 * 2, 2 * 16 + 3 * 2)


def test_stylize_names_content_and_style_and_output_is_deprecated(models, tmp_path, capsys):
    root, _, _ = models
    out = tmp_path / "out"
    code, _, err = run("adaconv-stylize", "--model", root / "style", "--content", root / "content", "--style",
                       root / "styles", "--output", out, "--no-progress", capsys=capsys)
    assert code == 0
    assert err.strip().splitlines() == ["warning: --output for a folder is deprecated here; use --output-dir"]
    contents, styles = sorted((root / "content").rglob("*.png")), sorted((root / "styles").rglob("*.png"))
    assert files_under(out) == sorted(f"{c.stem}__{s.stem}.png" for c in contents for s in styles)


def test_sampled_files_are_the_generators_images_with_umask_modes(models, tmp_path, capsys):
    root, _, _ = models
    from adaconv_gen.models.stylegan import Generator

    old = os.umask(0o022)
    try:
        code, _, err = run("adaconv-stylegan-sample", "--model", root / "stylegan", "--output-dir", tmp_path / "s",
                           "--output", tmp_path / "g.png", "--num", "3", "--seed", "4", "--batch-size", "2",
                           "--no-progress", capsys=capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    names = files_under(tmp_path / "s")
    assert names == [f"seed4-{i:06d}.png" for i in range(3)]
    want = Generator.from_pretrained(root / "stylegan").sample(3, seed=4)
    want = ((want + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i, n in enumerate(names):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s" / n)), want[i])
    for p in [tmp_path / "g.png", *(tmp_path / "s").iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644


# ----------------------------------------------------------------------------- help texts

SHARED = {
    "adaconv-weights": [],
    "adaconv-fid": ["--fid-preset", "--inception-weights", "--device", "--no-progress", "--output", "--overwrite",
                    "--skip-bad-images"],
    "adaconv-stylize": ["--model", "--output-dir", "--device", "--no-progress", "--overwrite", "--skip-bad-images"],
    "adaconv-eval-style": ["--model", "--fid-preset", "--inception-weights", "--lpips-weights", "--alexnet-weights",
                           "--lpips, --no-lpips", "--output", "--device", "--no-progress"],
    "adaconv-eval-stargan": ["--model", "--fid-preset", "--inception-weights", "--lpips-weights",
                             "--alexnet-weights", "--wing-weights", "--lpips, --no-lpips", "--output",
                             "--output-dir", "--device", "--no-progress"],
    "adaconv-stargan-translate": ["--model", "--checkpoint", "--output-dir", "--wing-weights", "--device",
                                  "--no-progress", "--overwrite", "--skip-bad-images"],
    "adaconv-stylegan-sample": ["--model", "--output", "--output-dir", "--device", "--no-progress", "--overwrite"],
    "adaconv-export": ["--model", "--output", "--overwrite"],
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_carries_the_shared_flags_and_each_default_once(tool, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(tool, "--help", capsys=capsys)
    assert code == 0
    assert out.startswith(f"usage: {tool}")
    options = out.split("options:")[1]
    entries = re.split(r"\n  (?=-)", options)
    for flag in SHARED[tool]:
        assert any(e.lstrip().startswith(flag) or f", {flag}" in e.split("  ")[0] for e in entries), flag
    for e in entries:
        assert e.count("(default") <= 1, e
        assert "(default: None)" not in e and "(default: False)" not in e, e
    if "--device" in options:
        assert "(default: cuda if available, else cpu)" in " ".join(options.split())


def test_underscore_spellings_and_aliases(models, tmp_path, capsys):
    root, data, _ = models
    out = tmp_path / "o"
    code, _, err = run("adaconv-stargan-translate", "--checkpoint", root / "stargan", "--src", data / "val" / "dots",
                       "--latent", "1", "--domain", "dots", "--output_dir", out, "--no_progress", capsys=capsys)
    assert code == 0, err
    assert len(files_under(out)) == 2


def _tool_examples():
    """Every ``adaconv-*`` command line in the README's and docs' shell blocks."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = []
    for page in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            if lang not in ("bash", "sh", ""):
                continue
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith("adaconv-") and line.split()[0] in TOOLS:
                    out.append((page.name, line))
    return out


def test_docs_examples_use_the_tools_current_flags(monkeypatch):
    import shlex

    examples = _tool_examples()
    assert {tool for _, line in examples for tool in [line.split()[0]]} >= set(TOOLS) - {"adaconv-weights"}
    for page, line in examples:
        tool, *argv = shlex.split(line)
        if tool == "adaconv-weights":
            continue
        mod = importlib.import_module(f"adaconv_gen.cli.{TOOLS[tool]}")
        try:
            args = mod.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page}: {line!r} does not parse")
        deprecated = {k: v for k, v in vars(args).items() if k.endswith("_deprecated") and v is not None}
        assert not deprecated, f"{page}: {line!r} uses a deprecated spelling {deprecated}"


def test_model_may_name_the_run_folder(models, tmp_path, capsys):
    """``--model O`` finds ``O/model`` (the run's export) past the run's own config.json."""
    import json
    import shutil

    root, _, _ = models
    run_dir = tmp_path / "run"
    shutil.copytree(root / "stylegan", run_dir / "model")
    (run_dir / "config.json").write_text(json.dumps({"learning_rate": 0.002, "output_dir": str(run_dir)}))
    code, _, err = run("adaconv-stylegan-sample", "--model", run_dir, "--output-dir", tmp_path / "s", "--num", "1",
                       "--no-progress", capsys=capsys)
    assert code == 0, err
    assert files_under(tmp_path / "s") == ["seed0-000000.png"]


@pytest.mark.parametrize("tool", ["adaconv-stylegan-sample", "adaconv-stylize", "adaconv-stargan-translate"])
def test_progress_on_stderr_unless_no_progress(tool, models, tmp_path, capsys):
    root, data, _ = models
    argv = {"adaconv-stylegan-sample": ["--model", root / "stylegan", "--num", "3", "--batch-size", "1"],
            "adaconv-stylize": ["--model", root / "style", "--content", root / "content", "--style", root / "styles"],
            "adaconv-stargan-translate": ["--model", root / "stargan", "--src", data / "val" / "dots", "--latent", "1",
                                          "--domain", "dots"]}[tool]
    code, out, err = run(tool, *argv, "--output-dir", tmp_path / "a", capsys=capsys)
    assert code == 0 and "%|" in err and "%|" not in out  # a tqdm bar, on stderr only
    code, out, err = run(tool, *argv, "--output-dir", tmp_path / "b", "--no-progress", capsys=capsys)
    assert code == 0 and err == ""
