"""The clean-fid and StarGAN v2 presets against plain re-implementations of those protocols."""

from __future__ import annotations

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
from test_fid_support import fid_weights_file, write_images

from adaconv_gen.metrics import compute_statistics
from adaconv_gen.metrics.inception import load_fid_inception
from adaconv_gen.metrics.random_weights import calibration_batch, random_torchvision_inception


def _stats(f):
    f = np.stack(f).astype(np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _close(ours, ref):
    for a, b in zip(ours, ref):
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_clean_fid_preset(tmp_path):
    files = write_images(tmp_path, 2, size=[(70, 50), 33], seed=9, ext="jpg")
    model, _ = load_fid_inception(fid_weights_file())
    feats = []
    for p in files:
        a = np.asarray(Image.open(p).convert("RGB")).astype(np.float32)
        chans = []
        for c in range(3):  # clean-fid: each channel as a float image, PIL bicubic, clip
            im = Image.fromarray(a[:, :, c], mode="F").resize((299, 299), resample=Image.BICUBIC)
            chans.append(np.asarray(im).clip(0, 255))
        x = torch.from_numpy(np.stack(chans))[None]
        with torch.no_grad():
            feats.append(model((x - 128) / 128)[0].numpy())
    ours = compute_statistics(files, preset="clean-fid", weights=fid_weights_file(), progress=False)
    _close(ours, _stats(feats))
    default = compute_statistics(files, weights=fid_weights_file(), progress=False)
    assert not np.allclose(default[0], ours[0], rtol=1e-3)  # the presets really differ


def test_stargan_v2_preset(tmp_path, monkeypatch):
    w = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    random_torchvision_inception(w, calibration=calibration_batch(4, 96))
    monkeypatch.setenv("ADACONV_TV_INCEPTION_WEIGHTS", str(w))
    files = write_images(tmp_path / "imgs", 2, size=[(90, 60), 40], seed=4)
    # StarGAN v2's protocol, plainly: its eval transform and torchvision's blocks in order
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    net.load_state_dict(torch.load(w, weights_only=True))
    net.eval()
    blocks = torch.nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, torch.nn.MaxPool2d(3, 2),
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, torch.nn.MaxPool2d(3, 2),
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c,
        net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c,
        torch.nn.AdaptiveAvgPool2d(1))
    tf = T.Compose([T.Resize([256, 256]), T.Resize([299, 299]), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    with torch.no_grad():
        feats = [blocks(tf(Image.open(p).convert("RGB"))[None]).flatten().numpy() for p in files]
    ours = compute_statistics(tmp_path / "imgs", preset="stargan-v2", progress=False)
    _close(ours, _stats(feats))
    # generated tensors are scored as the PNGs StarGAN v2 would have written
    x = torch.stack([torch.from_numpy(np.array(Image.open(p).resize((64, 64)))).permute(2, 0, 1)
                     for p in files])
    as_float = compute_statistics(x.float() / 255, preset="stargan-v2", progress=False)
    as_uint8 = compute_statistics(x, preset="stargan-v2", progress=False)
    np.testing.assert_array_equal(as_float[0], as_uint8[0])
