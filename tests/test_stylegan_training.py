"""StyleGAN2 losses, regularisers, lazy Adam, phase schedule and the FID hook, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adaconv_gen.models.stylegan import build
from adaconv_gen.training.gan_losses import r1_penalty
from adaconv_gen.training.stylegan import (
    StyleGANLossConfig,
    StyleGANPhases,
    d_logistic_loss,
    g_nonsaturating_loss,
    generator_fid,
    lazy_adam,
    path_length_penalty,
)


def test_logistic_losses_closed_form():
    real = torch.tensor([[0.5], [-1.0]])
    fake = torch.tensor([[2.0], [0.0]])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert g_nonsaturating_loss(fake).item() == pytest.approx((sp(-2.0) + sp(0.0)) / 2)
    assert d_logistic_loss(real, fake).item() == pytest.approx(
        (sp(2.0) + sp(0.0)) / 2 + (sp(-0.5) + sp(1.0)) / 2)


def test_r1_penalty_of_a_linear_critic():
    a = torch.randn(3, 4, 4, dtype=torch.float64)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    logits = (x * a).sum(dim=(1, 2, 3)).unsqueeze(1) ** 2  # grad = 2 * D_lin(x) * a
    pen = r1_penalty(logits, x)
    lin = (x * a).sum(dim=(1, 2, 3)).detach()
    expected = (4 * lin ** 2 * (a ** 2).sum()).mean()
    torch.testing.assert_close(pen, expected)
    pen.backward()  # differentiable (create_graph)
    assert x.grad is not None


def test_path_length_penalty_of_a_linear_synthesis():
    torch.manual_seed(0)
    A = torch.randn(6, 3 * 4 * 4, dtype=torch.float64)
    ws = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)  # (B, num_ws, w_dim)
    img = (ws.sum(1) @ A).reshape(2, 3, 4, 4)
    torch.manual_seed(7)
    pen, new_mean, lengths = path_length_penalty(img, ws, 0.5, decay=0.1)
    torch.manual_seed(7)
    y = torch.randn(2, 3, 4, 4, dtype=torch.float64) / 4.0
    # d(img . y)/d ws[b, l] = A @ y_b for every layer l: |.|^2 averaged over layers, sqrt
    ref_len = (y.reshape(2, -1) @ A.T).norm(dim=1)
    torch.testing.assert_close(lengths, ref_len)
    ref_mean = 0.5 + 0.1 * (ref_len.mean() - 0.5)
    torch.testing.assert_close(new_mean, ref_mean)
    torch.testing.assert_close(pen, ((ref_len - ref_mean) ** 2).mean())


def test_lazy_adam_correction():
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = lazy_adam(p, lr=0.002, betas=(0.0, 0.99), reg_interval=16)
    g = opt.param_groups[0]
    assert g["lr"] == pytest.approx(0.002 * 16 / 17)
    assert g["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert lazy_adam(p, lr=0.002, reg_interval=0).param_groups[0]["lr"] == 0.002


def test_phase_schedule():
    class _Acc:
        device = torch.device("cpu")

        @staticmethod
        def unwrap_model(m):
            return m

    G = build(8, style_dim=8, n_mlp=1, channels=4, modulation="modconv")
    ph = StyleGANPhases(_Acc(), G, None, None, None, StyleGANLossConfig(pl_weight=2.0), state=None)
    assert ph.due(1) == ["G", "D"]
    assert ph.due(4) == ["G", "G_reg", "D"]
    assert ph.due(16) == ["G", "G_reg", "D", "D_reg"]
    ph.cfg = StyleGANLossConfig(r1_gamma=0.0, pl_weight=0.0)
    assert ph.due(16) == ["G", "D"]


def test_generator_fid_feeds_the_metric_fixed_latents_in_unit_range(monkeypatch):
    """The hook passes ``num_samples`` images in [0, 1] from fixed latents; identical stats -> 0."""
    import adaconv_gen.metrics as metrics

    seen = []

    def fake_stats(source, **kw):  # features: per-image channel means (3-d), then mean/cov
        x = torch.cat(list(source)) if not torch.is_tensor(source) else source
        seen.append(x)
        f = x.double().mean(dim=(2, 3)).numpy()
        return f.mean(0), np.cov(f, rowvar=False)

    monkeypatch.setattr(metrics, "compute_statistics", fake_stats)
    torch.manual_seed(0)
    G = build(8, style_dim=8, n_mlp=1, channels=4, modulation="adaconv", style_channels=4).train()
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(7, 8, generator=gen)
    with torch.no_grad():
        own = fake_stats((G.eval()(z, noise_mode="const").clamp(-1, 1) + 1) / 2)
    G.train()
    fid = generator_fid(G, own, 7, batch_size=3, seed=5, noise_mode="const", device="cpu")
    assert fid == pytest.approx(0.0, abs=1e-9)
    assert G.training  # restored
    imgs = seen[-1]
    assert imgs.shape == (7, 3, 8, 8) and imgs.min() >= 0 and imgs.max() <= 1
    assert generator_fid(G, own, 7, batch_size=3, seed=6, noise_mode="const", device="cpu") > 1e-6
    assert F.mse_loss(seen[-1], imgs) > 0
