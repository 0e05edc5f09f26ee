"""Sharded extraction over two CPU processes (gloo), and the DINOv2 path's wiring."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_fid_support import fid_weights_file, write_images

from adaconv_gen.errors import WeightsNotFoundError
from adaconv_gen.metrics import compute_statistics
from adaconv_gen.metrics.features import build_extractor, extract

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from accelerate import Accelerator
    from adaconv_gen.metrics import compute_statistics
    from adaconv_gen.metrics.features import build_extractor, extract

    folder, weights, gen_file, out = sys.argv[1:5]
    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2
    # a dataset (folder): each process takes its share, gathered once per image
    mu, sigma = compute_statistics(folder, weights=weights, batch_size=1, accelerator=acc,
                                   progress=False)
    # generated batches: each process yields its own (unequal sizes), all are gathered
    x = torch.load(gen_file)
    mine = [x[:2]] if acc.process_index == 0 else [x[2:]]
    ex = build_extractor(weights=weights)
    g = extract(iter(mine), ex, accelerator=acc, progress=False, keep_features=True)
    if acc.is_main_process:
        np.savez(out, mu=mu, sigma=sigma, gmu=g.mu, gsigma=g.sigma, gn=g.num_images,
                 gf=g.features)
""")


def test_two_processes_match_one(tmp_path):
    folder = tmp_path / "imgs"
    files = write_images(folder, 3, size=32, seed=11)  # odd: one process gets a padded batch
    x = torch.stack([torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1) for p in files])
    torch.save(x, tmp_path / "gen.pt")
    (tmp_path / "run.py").write_text(SCRIPT)
    w = fid_weights_file()
    # torchrun starts two gloo processes; the Accelerator inside picks them up
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "run.py"), str(folder), str(w), str(tmp_path / "gen.pt"),
           str(tmp_path / "out.npz")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    got = np.load(tmp_path / "out.npz")

    ex = build_extractor(weights=w)
    one = extract(files, ex, batch_size=3, progress=False, keep_features=True)
    scale = np.abs(one.features).max()
    for key, ref in (("mu", one.mu), ("sigma", one.sigma), ("gmu", one.mu), ("gsigma", one.sigma)):
        assert np.abs(got[key] - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-6 * scale, key
    assert int(got["gn"]) == 3
    np.testing.assert_allclose(got["gf"], one.features, rtol=0, atol=1e-5 * scale)


# --------------------------------------------------------------------- DINOv2 (FD-DINOv2)

def _tiny_vit_file(tmp_path):
    """Random weights of a tiny timm ViT (160 px checkpoint) in safetensors, like the real file."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    m = timm.create_model("test_vit", pretrained=False)
    path = tmp_path / "vit_large_patch14_dinov2.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
    return path


def test_dinov2_path_wiring(tmp_path, monkeypatch):
    import timm

    w = _tiny_vit_file(tmp_path)
    files = write_images(tmp_path / "imgs", 3, size=[(50, 40), 30, 64], seed=2)
    # through the resolver's environment variable, with the real loading code (timm file overlay)
    monkeypatch.setenv("ADACONV_DINOV2_WEIGHTS", str(w))
    mu, sigma = compute_statistics(files, features="dinov2", model_name="test_vit",
                                   batch_size=2, progress=False)
    # plain reference: PIL bicubic 224, ImageNet normalisation, CLS token after the final norm
    ref_model = timm.create_model("test_vit", pretrained=True, num_classes=0, img_size=224,
                                  pretrained_cfg_overlay=dict(file=str(w))).eval()
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    feats = []
    for p in files:
        a = np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.BICUBIC)) / 255.0
        x = torch.from_numpy(((a - mean) / std).astype(np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            feats.append(ref_model.forward_features(x)[0, 0].double().numpy())
    f = np.stack(feats)
    np.testing.assert_allclose(mu, f.mean(0), rtol=0, atol=1e-5 * np.abs(f).max())
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False), rtol=0,
                               atol=1e-5 * np.abs(np.cov(f, rowvar=False)).max())
    # the checkpoint is 160 px; the model is built at 224 (position embedding resampled)
    ex = build_extractor("dinov2", model_name="test_vit")
    assert ex.network.model.pos_embed.shape[1] == 1 + (224 // 16) ** 2
    assert ex.describe()["preset"] == "dgm-eval" and ex.family.metric_name == "FD-DINOv2"


def test_dinov2_missing_weights_names_file():
    with pytest.raises(WeightsNotFoundError, match="vit_large_patch14_dinov2.safetensors"):
        build_extractor("dinov2")
