"""``adaconv-fid`` end to end on generated images, and every bad-input case."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from test_fid_support import FID_FILE, fid_weights_file, write_images

from adaconv_gen.cli import run_cli
from adaconv_gen.cli.fid import _main
from adaconv_gen.metrics import compute_statistics, load_statistics
from adaconv_gen.weights import sha256sum


def fid_cli(*argv):
    return run_cli(_main, [str(a) for a in argv])


def _last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_cli_end_to_end(tmp_path, capsys):
    w = fid_weights_file()
    a, b = tmp_path / "a", tmp_path / "b"
    write_images(a, 3, size=32, seed=0)
    write_images(b, 3, size=32, seed=3)
    common = ["--inception-weights", w, "--no-progress", "--batch-size", "2"]

    assert fid_cli("--save-stats", a, tmp_path / "a.npz", "--num-workers", "0", *common) == 0
    mu, sigma, meta = load_statistics(tmp_path / "a.npz", with_metadata=True)
    assert meta["num_images"] == 3 and meta["preset"] == "pytorch-fid"
    assert meta["weights_sha256"] == sha256sum(w)
    capsys.readouterr()

    # folders, 2 DataLoader workers, KID, JSON (hyphen and underscore spellings both accepted)
    assert fid_cli(a, b, "--kid", "--kid_subsets", "4", "--output", tmp_path / "s.json",
                   "--num-workers", "2", *common) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert last.startswith("FID: ")
    value = float(last.split(": ")[1])
    assert "preset: pytorch-fid" in out and "KID: " in out
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["value"] == value and report["metric"] == "FID"
    assert report["num_images"] == [3, 3] and report["preset"] == "pytorch-fid"
    assert report["features"] == "inception" and report["weights"] == FID_FILE
    assert report["weights_sha256"] == sha256sum(w) and np.isfinite(report["kid"])

    # the saved statistics stand in for the folder, with the same value
    assert fid_cli(tmp_path / "a.npz", b, "--inception-weights", w, "--num-workers", "0",
                   "--no-progress") == 0
    assert float(_last_line(capsys.readouterr().out).split(": ")[1]) == pytest.approx(value, rel=1e-6)


def test_image_kinds_and_16_bit_scaling(tmp_path):
    d = tmp_path / "kinds"
    rgb = write_images(d, 1, size=40, seed=1)[0]
    base = np.asarray(Image.open(rgb))
    Image.fromarray(base[:, :, 0]).save(d / "gray.png")  # L
    rgba = np.dstack([base, np.full(base.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").resize((30, 50)).save(d / "rgba.png")
    Image.fromarray(base).convert("P").save(d / "palette.png")
    v16 = (base[:, :, 1].astype(np.uint16) * 257)[:20]
    Image.fromarray(v16).save(d / "deep16.png")  # I;16, another size
    assert Image.open(d / "deep16.png").mode.startswith("I")
    w = fid_weights_file()
    mu, sigma = compute_statistics(d, weights=w, batch_size=5, progress=False)
    assert mu.shape == (2048,) and np.isfinite(sigma).all()
    # 16-bit is scaled to 8 bits (x / 257), not clipped: same features as the 8-bit file
    Image.fromarray(base[:, :, 1][:20]).save(tmp_path / "deep8.png")
    m16, s16 = compute_statistics([d / "deep16.png", d / "gray.png"], weights=w, progress=False)
    m8, s8 = compute_statistics([tmp_path / "deep8.png", d / "gray.png"], weights=w, progress=False)
    np.testing.assert_allclose(m16, m8, rtol=0, atol=1e-6 * np.abs(m8).max())


def _corrupt(folder, name="broken.png"):
    p = folder / name
    good = folder / "img_000.png"
    p.write_bytes(good.read_bytes()[:60])  # truncated PNG
    return p


def test_corrupt_image_exits_2_naming_file_without_traceback(tmp_path):
    a = tmp_path / "a"
    write_images(a, 2, size=32)
    bad = _corrupt(a)
    res = subprocess.run([sys.executable, "-m", "adaconv_gen.cli.fid", str(a), str(a),
                          "--inception-weights", str(fid_weights_file()), "--num-workers", "0"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert str(bad) in res.stderr and "--skip-bad-images" in res.stderr
    assert "Traceback" not in res.stderr


def test_skip_bad_images_warns_once_with_count(tmp_path, capsys):
    a = tmp_path / "a"
    write_images(a, 3, size=32)
    _corrupt(a, "broken1.png")
    (a / "notimage.jpg").write_text("hello")
    assert fid_cli(a, a, "--skip-bad-images", "--inception-weights", fid_weights_file(), "--num-workers",
                   "0", "--no-progress", "--json", tmp_path / "s.json") == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "unreadable" in ln]
    assert len(warned) == 1  # one line (the same folder twice: the same warning once), no source path
    assert all(ln.startswith("warning: skipped 2 unreadable") and ".py" not in ln for ln in warned)
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["num_images"] == [3, 3] and report["num_skipped"] == [2, 2]
    assert report["value"] == pytest.approx(0.0, abs=1e-6)


def test_empty_and_missing_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    assert fid_cli(tmp_path / "empty", tmp_path / "empty") == 2
    assert "no images found" in capsys.readouterr().err
    assert fid_cli(tmp_path / "nope", tmp_path / "empty") == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_missing_weights_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    write_images(tmp_path / "a", 2, size=32)
    assert fid_cli(tmp_path / "a", tmp_path / "a", "--num-workers", "0") == 2
    err = capsys.readouterr().err
    assert FID_FILE in err and "Traceback" not in err
    for way in ("--inception-weights", "ADACONV_INCEPTION_WEIGHTS", str(tmp_path / "th" / "hub" / "checkpoints")):
        assert way in err
    assert fid_cli(tmp_path / "a", tmp_path / "a", "--features", "dinov2") == 2
    assert "vit_large_patch14_dinov2.safetensors" in capsys.readouterr().err


def test_preset_mismatches_are_user_errors(tmp_path, capsys):
    assert fid_cli("x", "y", "--features", "dinov2", "--preset", "clean-fid") == 2
    assert "presets for 'dinov2': dgm-eval" in capsys.readouterr().err
    from adaconv_gen.metrics import save_statistics

    save_statistics(tmp_path / "c.npz", np.zeros(3), np.eye(3), preset="clean-fid")
    save_statistics(tmp_path / "p.npz", np.zeros(3), np.eye(3))
    assert fid_cli(tmp_path / "c.npz", tmp_path / "p.npz") == 2
    assert "--fid-preset clean-fid" in capsys.readouterr().err
    assert fid_cli(tmp_path / "c.npz", tmp_path / "p.npz", "--fid-preset", "clean-fid") == 0
    assert _last_line(capsys.readouterr().out) == "FID: 0.0"
