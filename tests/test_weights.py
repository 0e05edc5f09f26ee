"""The one resolver for pretrained files, safe loading, and ``adaconv-weights``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adaconv_gen import weights as W
from adaconv_gen.errors import UserInputError, WeightsNotFoundError


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ADACONV_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("ADACONV_VGG19_WEIGHTS", raising=False)
    d = tmp_path / "torch" / "hub" / "checkpoints"
    d.mkdir(parents=True)
    return d


def _write(path):
    torch.save({"w": torch.arange(3.0)}, path)
    return path


def test_priority_explicit_env_dir_hub(hub, tmp_path, monkeypatch):
    in_hub = _write(hub / "vgg19-dcbb9e9d.pth")
    assert W.resolve("vgg19") == in_hub
    wdir = tmp_path / "weights"
    wdir.mkdir()
    in_dir = _write(wdir / "vgg19-dcbb9e9d.pth")
    monkeypatch.setenv("ADACONV_WEIGHTS_DIR", str(wdir))
    assert W.resolve("vgg19") == in_dir
    env_file = _write(tmp_path / "my_vgg.pth")
    monkeypatch.setenv("ADACONV_VGG19_WEIGHTS", str(env_file))
    assert W.resolve("vgg19") == env_file
    explicit = _write(tmp_path / "explicit.pth")
    assert W.resolve("vgg19", explicit) == explicit


def test_missing_file_error_names_file_and_ways(hub):
    with pytest.raises(WeightsNotFoundError) as e:
        W.resolve("vgg19", flag="--vgg_weights")
    msg = str(e.value)
    for part in ("vgg19-dcbb9e9d.pth", "--vgg_weights", "ADACONV_VGG19_WEIGHTS", "ADACONV_WEIGHTS_DIR",
                 str(hub), "offline"):
        assert part in msg


def test_explicit_path_and_env_must_exist(hub, tmp_path, monkeypatch):
    with pytest.raises(WeightsNotFoundError, match="nope.pth"):
        W.resolve("vgg19", tmp_path / "nope.pth")
    monkeypatch.setenv("ADACONV_VGG19_WEIGHTS", str(tmp_path / "gone.pth"))
    with pytest.raises(WeightsNotFoundError, match="ADACONV_VGG19_WEIGHTS=.*gone.pth"):
        W.resolve("vgg19")


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown weights name 'vgg20'"):
        W.resolve("vgg20")


def test_download_into_hub_cache_with_checksum(hub, tmp_path, monkeypatch):
    src = _write(tmp_path / "published.pth")
    digest = W.sha256sum(src)
    entry = W.register_weights(W.WeightsFile("test-file", "published.pth", "ADACONV_TEST_FILE_WEIGHTS",
                                             "a test file", url=src.as_uri(), sha256=digest[:8]))
    try:
        for var in W.OFFLINE_ENV_VARS:
            monkeypatch.delenv(var, raising=False)
        got = W.resolve("test-file")
        assert got == hub / "published.pth" and W.sha256sum(got) == digest
        got.unlink()
        W.register_weights(W.WeightsFile(**{**entry.__dict__, "sha256": "00000000"}))
        with pytest.raises(WeightsNotFoundError, match="checksum mismatch"):
            W.resolve("test-file")
        assert not any(hub.iterdir())  # no partial file left behind
        monkeypatch.setenv("ADACONV_OFFLINE", "1")
        with pytest.raises(WeightsNotFoundError, match="offline, no download tried"):
            W.resolve("test-file")
    finally:
        W._REGISTRY.pop("test-file", None)


def test_load_state_dict_is_safe(tmp_path):
    p = _write(tmp_path / "sd.pth")
    assert torch.equal(W.load_state_dict(p)["w"], torch.arange(3.0))
    from safetensors.torch import save_file
    save_file({"w": torch.ones(2)}, str(tmp_path / "sd.safetensors"))
    assert torch.equal(W.load_state_dict(tmp_path / "sd.safetensors")["w"], torch.ones(2))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a pickled module: refused
    with pytest.raises(UserInputError, match="module.pth"):
        W.load_state_dict(tmp_path / "module.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="corrupt.pth"):
        W.load_state_dict(tmp_path / "corrupt.pth")


def test_cli_lists_files(hub):
    _write(hub / "vgg19-dcbb9e9d.pth")
    env = {**os.environ}
    res = subprocess.run([sys.executable, "-m", "adaconv_gen.cli.weights"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "vgg19: vgg19-dcbb9e9d.pth" in out and f"FOUND {hub / 'vgg19-dcbb9e9d.pth'}" in out
    assert "inception-fid: pt_inception-2015-12-05-6726825d.pth" in out and "status: missing" in out
    assert "looked in $ADACONV_INCEPTION_WEIGHTS" in out
    # lpips-alex: what the code will use, the copy bundled with the lpips package (a test dependency)
    import lpips

    shipped = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    assert f"status: FOUND {shipped} (the copy bundled with the lpips package)" in out
    n = len(W.known_weights())
    assert out.strip().splitlines()[-1] == f"2 of {n} files found"
    bad = subprocess.run([sys.executable, "-m", "adaconv_gen.cli.weights", "nosuch"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and "unknown weights name 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr
