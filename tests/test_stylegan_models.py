"""StyleGAN-style generator/discriminator: shapes, gradients, and exactness against plain references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from adaconv_gen import AdaConv, replace_adain, verify_conversion
from adaconv_gen.errors import UserInputError
from adaconv_gen.models.stylegan import Discriminator, Generator, build, channel_widths
from adaconv_gen.models.stylegan.discriminator import minibatch_stddev
from adaconv_gen.models.stylegan.layers import ModulatedConv2d, StyledConv, modulated_conv2d
from adaconv_gen.nn.equalized import EqualConv2d, EqualLinear

MODS = ["modconv", "adain", "adaconv"]
SMALL = {"style_dim": 16, "n_mlp": 2, "channels": 8}


def _lrelu(x):
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


@pytest.mark.parametrize("modulation", MODS)
def test_generator_discriminator_shapes_and_gradients(modulation):
    torch.manual_seed(0)
    G = build(16, modulation=modulation, **SMALL)
    D = Discriminator(16, SMALL["channels"])
    assert G.num_ws == 2 * 3 + 1  # 4, 8, 16 px: two layers each, + the last toRGB
    z, z2 = torch.randn(4, 16), torch.randn(4, 16)
    img, ws = G(z, z2=z2, mixing_cutoff=3, return_ws=True)
    assert img.shape == (4, 3, 16, 16) and ws.shape == (4, G.num_ws, 16)
    logits = D(img)
    assert logits.shape == (4, 1)
    logits.sum().backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # the 4x4 constant, the mapping net and the last layer all receive signal
    for p in (G.synthesis.const, G.mapping.net[1].weight, G.synthesis.convs[-1].bias):
        assert p.grad.abs().sum() > 0
    n_ada = sum(isinstance(m, AdaConv) for m in G.modules())
    assert n_ada == (6 if modulation == "adaconv" else 0)


def test_style_mixing_uses_second_latent_from_cutoff():
    torch.manual_seed(0)
    G = build(8, modulation="modconv", **SMALL)
    z, z2 = torch.randn(3, 16), torch.randn(3, 16)
    _, ws = G(z, z2=z2, mixing_cutoff=2, return_ws=True)
    w1, w2 = G.mapping(z), G.mapping(z2)
    torch.testing.assert_close(ws[:, :2], w1.unsqueeze(1).expand(-1, 2, -1))
    torch.testing.assert_close(ws[:, 2:], w2.unsqueeze(1).expand(-1, G.num_ws - 2, -1))


def test_truncation_and_w_avg_tracking():
    torch.manual_seed(0)
    G = build(8, modulation="adain", **SMALL)
    z = torch.randn(5, 16)
    G.mapping(z, update_w_avg=True)
    w = G.mapping.net(z)
    torch.testing.assert_close(G.mapping.w_avg, (1 - 0.995) * w.mean(0))
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.0), G.mapping.w_avg.expand(5, -1))
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.5), 0.5 * (w + G.mapping.w_avg))


@pytest.mark.parametrize("demodulate", [True, False])
def test_modconv_batched_equals_per_sample_loop_float64(demodulate):
    torch.manual_seed(0)
    layer = ModulatedConv2d(6, 5, 3, style_dim=7, demodulate=demodulate).double()
    with torch.no_grad():
        layer.affine.weight.normal_()
        layer.affine.bias.normal_()
    x = torch.randn(4, 6, 9, 9, dtype=torch.float64)
    w = torch.randn(4, 7, dtype=torch.float64)
    out = layer(x, w)
    # independent plain reference: one sample at a time, formulas written out
    ref = []
    for i in range(4):
        s = w[i] @ (layer.affine.weight / math.sqrt(7)).T + layer.affine.bias  # (C_in,)
        weight = layer.weight / math.sqrt(6 * 9)
        if not demodulate:  # toRGB: styles scaled by the weight gain, no demodulation
            k = layer.weight * (s / math.sqrt(6 * 9)).reshape(1, 6, 1, 1)
        else:
            k = weight * s.reshape(1, 6, 1, 1)
            k = k / torch.sqrt((k ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        ref.append(F.conv2d(x[i:i + 1], k, padding=1))
    torch.testing.assert_close(out, torch.cat(ref), rtol=1e-12, atol=1e-12)


def test_modulated_conv2d_function_against_loop_float64():
    torch.manual_seed(1)
    x = torch.randn(3, 4, 7, 7, dtype=torch.float64)
    weight = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    styles = torch.randn(3, 4, dtype=torch.float64)
    out = modulated_conv2d(x, weight, styles)
    for i in range(3):
        k = weight * styles[i].reshape(1, 4, 1, 1)
        k = k / k.pow(2).sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        torch.testing.assert_close(out[i:i + 1], F.conv2d(x[i:i + 1], k, padding=1), rtol=1e-12, atol=1e-12)


def test_adaconv_layer_at_init_equals_its_adain_affine_path():
    """Zero-initialised predictors: AdaConv -> conv equals (1 + gamma) IN(x) + beta -> conv."""
    torch.manual_seed(0)
    layer = StyledConv(8, 6, style_dim=10, resolution=8, modulation="adaconv").double()
    x = torch.randn(3, 8, 8, 8, dtype=torch.float64)
    w = torch.randn(3, 10, dtype=torch.float64)
    with torch.no_grad():
        layer.bias.normal_()
    out = layer(x, w, noise_mode="none")
    gamma, beta = (w @ layer.adaconv.fc.weight.T + layer.adaconv.fc.bias).chunk(2, dim=1)
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    h = (1 + gamma[..., None, None]) * (x - mu) / torch.sqrt(var + 1e-5) + beta[..., None, None]
    h = F.conv2d(h, layer.conv.weight / math.sqrt(8 * 9), padding=1) + layer.bias.reshape(1, -1, 1, 1)
    torch.testing.assert_close(out, _lrelu(h), rtol=1e-10, atol=1e-10)
    # and the predictor is live: once it is non-zero the layer leaves the AdaIN path
    with torch.no_grad():
        for p in layer.adaconv.predictor.parameters():
            p.normal_(0, 0.1)
    assert (layer(x, w, noise_mode="none") - out).abs().max() > 1e-3


def test_adain_generator_converts_losslessly_with_replace_adain():
    torch.manual_seed(0)
    G = build(8, modulation="adain", **SMALL).eval()
    import copy

    original = copy.deepcopy(G)
    report = []
    replace_adain(G, report=report, style_channels=16)
    assert len(report) == len(G.synthesis.convs)
    z = torch.randn(2, 16)
    assert verify_conversion(original, G, z) < 1e-5


def test_minibatch_stddev_against_plain_loop():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 4, 4, 4)
    for j in range(2):  # group j holds samples j, j+2, j+4, j+6 (StyleGAN2's strided grouping)
        members = x[j::2]
        std = torch.sqrt(members.var(dim=0, unbiased=False) + 1e-8).mean()
        for i in range(j, 8, 2):
            torch.testing.assert_close(out[i, 3], std.expand(4, 4))
    torch.testing.assert_close(out[:, :3], x)
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(torch.randn(6, 3, 4, 4), group_size=4)


def test_equalized_layers_scale_at_runtime():
    torch.manual_seed(0)
    lin = EqualLinear(5, 3, bias_init=0.5, lr_mul=0.01)
    assert abs(lin.weight.std().item() - 100) < 40  # stored raw: N(0, 1/lr_mul^2)
    x = torch.randn(4, 5)
    torch.testing.assert_close(lin(x), x @ (lin.weight * 0.01 / math.sqrt(5)).T + lin.bias * 0.01)
    torch.testing.assert_close(lin.bias * 0.01, torch.full((3,), 0.5))
    # the lr multiplier does not change the function at init (same seed)
    torch.manual_seed(1)
    a = EqualLinear(5, 3, lr_mul=1.0)
    torch.manual_seed(1)
    b = EqualLinear(5, 3, lr_mul=0.01)
    torch.testing.assert_close(a(x), b(x))
    conv = EqualConv2d(4, 2, 3)
    with torch.no_grad():
        conv.weight.mul_(2)  # changing the raw parameter changes the output: no baked-in weights
        conv.bias.fill_(0.25)
    y = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(conv(y), F.conv2d(y, conv.weight / 6.0, conv.bias, padding=1))


def test_channel_widths():
    assert channel_widths(256, 512) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64}
    assert channel_widths(64, 8) == {4: 8, 8: 8, 16: 8, 32: 8, 64: 8}


@pytest.mark.parametrize("modulation", ["modconv", "adaconv"])
def test_save_pretrained_roundtrip(tmp_path, modulation):
    torch.manual_seed(0)
    G = build(8, modulation=modulation, **SMALL)
    G.mapping.w_avg.normal_()
    G.save_pretrained(tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    H = Generator.from_pretrained(tmp_path / "g")
    assert H.config == G.config
    z = torch.randn(2, 16)
    torch.testing.assert_close(H(z, truncation_psi=0.7, noise_mode="const"),
                               G.eval()(z, truncation_psi=0.7, noise_mode="const"), rtol=0, atol=0)
    (tmp_path / "g" / "model.safetensors").unlink()
    with pytest.raises(UserInputError, match="model.safetensors"):
        Generator.from_pretrained(tmp_path / "g")


def test_bad_config_is_user_error():
    with pytest.raises(UserInputError, match="power of two"):
        build(24, **SMALL)
    with pytest.raises(UserInputError, match="modulation"):
        build(16, modulation="spade", **SMALL)
    with pytest.raises(UserInputError, match="style_channels"):
        build(16, modulation="modconv", style_channels=64, **SMALL)
