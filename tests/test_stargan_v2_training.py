"""StarGAN v2 losses on hand-checked cases, the iteration's phases, EMA, accumulation, overfitting."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch

from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.training.gan_losses import r1_penalty
from adaconv_gen.training.stargan_v2 import (
    LossWeights,
    StarGANv2Trainer,
    adv_loss,
    d_loss,
    g_loss,
    lambda_ds_at,
    make_optimizers,
)


def _bce1(t):  # -log sigmoid(t)
    return math.log1p(math.exp(-t))


def _bce0(t):  # -log(1 - sigmoid(t))
    return math.log1p(math.exp(t))


def test_adv_loss_hand_checked():
    logits = torch.tensor([0.0, math.log(3.0)])
    assert adv_loss(logits, 1).item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2, rel=1e-6)
    assert adv_loss(logits, 0).item() == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-6)
    with pytest.raises(ValueError):
        adv_loss(logits, 2)


def test_r1_hand_checked():
    x = torch.tensor([[1.0, -2.0], [3.0, 0.5]]).requires_grad_(True)
    out = (x ** 2).sum(1)  # d out_b / d x_b = 2 x_b
    expected = 0.5 * ((4 * (1 + 4)) + (4 * (9 + 0.25))) / 2
    val = 0.5 * r1_penalty(out, x)
    assert val.item() == pytest.approx(expected, rel=1e-6)
    val.backward()  # differentiable (create_graph): d/dx of 0.5*mean sum 4x^2 = 2x
    torch.testing.assert_close(x.grad, 2 * x.detach())


def test_lambda_ds_schedule_matches_official_decrement_and_resumes():
    init, ds_iter = 2.0, 7
    val = init
    for step in range(10):
        assert lambda_ds_at(step, init, ds_iter) == pytest.approx(max(val, 0.0), abs=1e-9)
        if val > 0:
            val -= init / ds_iter
    assert lambda_ds_at(7, init, ds_iter) == 0.0 and lambda_ds_at(100, init, ds_iter) == 0.0


def _toy_nets():
    """Closed-form 'networks' on (B, 1, 1, 1) images with a 1-d style."""
    return SimpleNamespace(
        generator=lambda x, s, masks=None: x + s[:, :, None, None],
        mapping_network=lambda z, y: z,
        style_encoder=lambda x, y: 2 * x.flatten(1),
        discriminator=lambda x, y: x.flatten() * (y + 1).to(x.dtype),
    )


def _t(*v):
    return torch.tensor(v).view(-1, 1, 1, 1)


def test_d_loss_hand_checked():
    nets = _toy_nets()
    x, xr = _t(0.5, -1.0), _t(0.25, 1.0)
    y_org, y_trg = torch.tensor([0, 1]), torch.tensor([1, 0])
    loss, parts = d_loss(nets, x, y_org, y_trg, x_ref=xr, lambda_reg=3.0)
    real = (_bce1(0.5 * 1) + _bce1(-1.0 * 2)) / 2
    fakes = [(0.5 + 0.5) * 2, (-1.0 + 2.0) * 1]  # x + 2 x_ref, times (y_trg + 1)
    fake = (_bce0(fakes[0]) + _bce0(fakes[1])) / 2
    reg = 0.5 * (1 ** 2 + 2 ** 2) / 2  # gradient of x * (y_org + 1)
    assert parts["real"].item() == pytest.approx(real, rel=1e-6)
    assert parts["fake"].item() == pytest.approx(fake, rel=1e-6)
    assert parts["reg"].item() == pytest.approx(reg, rel=1e-6)
    assert loss.item() == pytest.approx(real + fake + 3.0 * reg, rel=1e-6)
    with pytest.raises(ValueError):
        d_loss(nets, x, y_org, y_trg)


def test_g_loss_hand_checked():
    nets = _toy_nets()
    x = _t(0.5, -1.0)
    z1, z2 = torch.tensor([[1.0], [-0.5]]), torch.tensor([[0.0], [2.0]])
    y_org, y_trg = torch.tensor([0, 1]), torch.tensor([1, 1])
    loss, p = g_loss(nets, x, y_org, y_trg, z_trgs=(z1, z2), lambda_sty=2.0, lambda_ds=0.5, lambda_cyc=3.0)
    xs, a, b = [0.5, -1.0], [1.0, -0.5], [0.0, 2.0]
    fake = [xs[i] + a[i] for i in range(2)]
    adv = sum(_bce1(fake[i] * 2) for i in range(2)) / 2
    sty = sum(abs(2 * fake[i] - a[i]) for i in range(2)) / 2
    ds = sum(abs(a[i] - b[i]) for i in range(2)) / 2
    cyc = sum(abs(fake[i] + 2 * xs[i] - xs[i]) for i in range(2)) / 2  # x_rec = x_fake + s_org = x_fake + 2x
    for k, v in dict(adv=adv, sty=sty, ds=ds, cyc=cyc).items():
        assert p[k].item() == pytest.approx(v, rel=1e-6), k
    assert loss.item() == pytest.approx(adv + 2 * sty - 0.5 * ds + 3 * cyc, rel=1e-6)


KW = dict(img_size=32, w_hpf=0, num_domains=2, base_dim=8, max_conv_dim=16, style_dim=8, hidden_dim=16,
          latent_dim=4)


def _batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(x_src=r(n, 3, 32, 32).clamp(-1, 1), y_src=torch.arange(n) % 2,
                x_ref=r(n, 3, 32, 32).clamp(-1, 1), x_ref2=r(n, 3, 32, 32).clamp(-1, 1),
                y_ref=(torch.arange(n) + 1) % 2, z_trg=r(n, 4), z_trg2=r(n, 4))


def _trainer(modulation="adain", seed=0, **opt):
    torch.manual_seed(seed)
    extra = {"style_channels": 8} if modulation == "adaconv" else {}
    nets = sg.build(**KW, modulation=modulation, **extra)
    ema = SimpleNamespace(**{n: sg.copy_for_ema(getattr(nets, n))
                             for n in ("generator", "mapping_network", "style_encoder")})
    return StarGANv2Trainer(nets, ema, make_optimizers(nets, **opt), LossWeights(ds_iter=10)), nets, ema


def test_step_updates_the_right_networks_and_ema():
    tr, nets, ema = _trainer()
    before = {n: copy.deepcopy(getattr(nets, n).state_dict()) for n in sg.NETWORK_NAMES}
    ema_before = {n: copy.deepcopy(getattr(ema, n).state_dict()) for n in ("generator", "mapping_network", "style_encoder")}
    logs = tr.step([_batch(4)], step=3)
    assert logs["G/lambda_ds"].item() == pytest.approx(0.7)
    assert set(logs) >= {"D/latent_real", "D/latent_fake", "D/latent_reg", "D/ref_reg", "G/latent_adv",
                         "G/latent_sty", "G/latent_ds", "G/latent_cyc", "G/ref_cyc"}
    for n in sg.NETWORK_NAMES:
        changed = any(not torch.equal(v, before[n][k]) for k, v in getattr(nets, n).state_dict().items())
        assert changed, n
    for n, sd in ema_before.items():
        live = getattr(nets, n).state_dict()
        for k, v in getattr(ema, n).state_dict().items():
            torch.testing.assert_close(v, sd[k].lerp(live[k], 0.001), rtol=1e-6, atol=1e-7)


def test_reference_phase_updates_only_the_generator():
    tr, nets, _ = _trainer()
    tr.step([_batch(2)], 0)  # initialise Adam states
    f_before = copy.deepcopy(nets.mapping_network.state_dict())
    e_before = copy.deepcopy(nets.style_encoder.state_dict())
    g_before = copy.deepcopy(nets.generator.state_dict())
    from adaconv_gen.training.stargan_v2 import g_loss as gl

    tr._phase(("generator",), [_batch(2, 1)], lambda i, mb: gl(nets, mb["x_src"], mb["y_src"], mb["y_ref"],
                                                                  x_refs=(mb["x_ref"], mb["x_ref2"])))
    assert all(torch.equal(v, f_before[k]) for k, v in nets.mapping_network.state_dict().items())
    assert all(torch.equal(v, e_before[k]) for k, v in nets.style_encoder.state_dict().items())
    assert any(not torch.equal(v, g_before[k]) for k, v in nets.generator.state_dict().items())


def test_gradient_accumulation_equals_the_full_batch():
    a, na, _ = _trainer(seed=1)
    b, nb, _ = _trainer(seed=1)
    for t, n in ((a, na), (b, nb)):  # SGD: updates proportional to the gradients (Adam amplifies noise)
        t.optimizers = {k: torch.optim.SGD(getattr(n, k).parameters(), lr=0.1) for k in sg.NETWORK_NAMES}
    full = _batch(4, seed=2)
    halves = [{k: v[:2] for k, v in full.items()}, {k: v[2:] for k, v in full.items()}]
    la = a.step([full], 0)
    lb = b.step(halves, 0)
    for k in la:
        torch.testing.assert_close(la[k], lb[k], rtol=1e-4, atol=1e-5)
    for n in sg.NETWORK_NAMES:
        for (k, v), w in zip(getattr(na, n).state_dict().items(), getattr(nb, n).state_dict().values()):
            torch.testing.assert_close(v, w, rtol=1e-4, atol=1e-5, msg=f"{n}.{k}")


@pytest.mark.parametrize("modulation", ["adain", "adaconv"])
def test_overfit_one_batch(modulation, monkeypatch):
    """On one fixed batch the reconstruction losses (cycle, style) must fall."""
    monkeypatch.setitem(KW, "img_size", 16)
    tr, nets, _ = _trainer(modulation, seed=0, lr=5e-3, f_lr=5e-3)
    batch = {k: (v[..., :16, :16] if v.dim() == 4 else v) for k, v in _batch(2, seed=5).items()}
    hist = [tr.step([batch], i) for i in range(15)]

    def avg(mode, part):  # cycle + style reconstruction
        return sum(h[f"G/{mode}_cyc"].item() + h[f"G/{mode}_sty"].item() for h in part) / len(part)

    for mode in ("latent", "ref"):
        assert avg(mode, hist[-3:]) < 0.85 * avg(mode, hist[:2]), mode


class _FakeFAN(torch.nn.Module):
    """Stands in for the FAN: records its inputs, returns fixed masks."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def get_heatmap(self, x):
        self.calls.append(x.detach().clone())
        g = torch.Generator().manual_seed(len(self.calls))
        return torch.rand(x.size(0), 1, 256, 256, generator=g), torch.rand(x.size(0), 1, 256, 256, generator=g)


def test_high_pass_training_uses_fan_masks_of_sources_and_fakes():
    torch.manual_seed(0)
    nets = sg.build(img_size=64, w_hpf=1, num_domains=2, base_dim=8, max_conv_dim=16, style_dim=8,
                    hidden_dim=16, latent_dim=4)
    nets.fan = _FakeFAN()
    ema = SimpleNamespace(**{n: sg.copy_for_ema(getattr(nets, n)) for n in ("generator", "mapping_network", "style_encoder")})
    tr = StarGANv2Trainer(nets, ema, make_optimizers(nets), LossWeights(ds_iter=10))
    b = _batch(2)
    b = {k: (torch.nn.functional.interpolate(v, size=64) if v.dim() == 4 else v) for k, v in b.items()}
    tr.step([b], 0)
    # masks of the sources once per iteration, then of the translated images for each G cycle
    assert len(nets.fan.calls) == 3
    torch.testing.assert_close(nets.fan.calls[0], b["x_src"])
    assert not torch.equal(nets.fan.calls[1], b["x_src"])


def test_sample_grids_layout(tmp_path):
    from PIL import Image

    from adaconv_gen.training.stargan_v2_samples import latent_grid, reference_grid

    torch.manual_seed(0)
    nets = sg.build(**KW).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    p = latent_grid(nets, x, num_domains=2, latent_dim=4, path=tmp_path / "l.png", num_z=2, scale=2)
    img = Image.open(p)
    cell = 32 * 2 + 2  # make_grid pads 2 px
    assert img.size == (5 * cell + 2, 3 * cell + 2)  # source + 2 domains x 2 codes; 3 rows
    # the first cell is the (upscaled) source image
    import numpy as np

    got = torch.tensor(np.array(img.convert("RGB").crop((2, 2, 66, 66))), dtype=torch.float32)  # (64, 64, 3)
    want = ((x[0].clamp(-1, 1) + 1) / 2 * 255).round().repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert (got.permute(2, 0, 1) - want).abs().max() <= 1
    p = reference_grid(nets, x, x[:2], torch.tensor([0, 1]), tmp_path / "r.png")
    assert Image.open(p).size == (3 * 34 + 2, 4 * 34 + 2)  # blank + 2 refs; header row + 3 sources
