"""replace_adain on generator layouts written here, plainly, at realistic widths.

The three layouts restate public code structurally (no code copied): StarGAN v2's
AdainResBlk decoder, rosinality's StyleGAN v1 (equalised lr through a forward pre-hook, so
``weight`` exists only after the first forward) and huangzh13's StyleGAN v1 port
(``top_epi`` ending in ``instance_norm``, then ``style_mod`` computing ``x * (s0 + 1) + s1``).
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adaconv_gen import (
    AdaConv,
    AdaIN,
    AdaINSpec,
    ConversionError,
    find_adain,
    register_adain_pattern,
    replace_adain,
    verify_conversion,
)
from adaconv_gen.nn import unregister_adain_pattern

# ----------------------------------------------------------------------------- StarGAN v2 layout


class StarAdaIN(nn.Module):
    def __init__(self, style_dim, num_features):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x, s):
        h = self.fc(s).view(s.size(0), -1, 1, 1)
        gamma, beta = torch.chunk(h, chunks=2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    def __init__(self, dim_in, dim_out, style_dim=64, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = StarAdaIN(style_dim, dim_in)
        self.norm2 = StarAdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def forward(self, x, s):
        sc = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        if self.learned_sc:
            sc = self.conv1x1(sc)
        r = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            r = F.interpolate(r, scale_factor=2, mode="nearest")
        r = self.conv2(F.leaky_relu(self.norm2(self.conv1(r), s), 0.2))
        return (r + sc) / math.sqrt(2)


class StarDecoder(nn.Module):
    """The AFHQ decoder widths: 2 bottleneck blocks at 512, then 512, 256, 128, 64 with x2."""

    def __init__(self):
        super().__init__()
        dims = [(512, 512, False), (512, 512, False), (512, 512, True), (512, 256, True),
                (256, 128, True), (128, 64, True)]
        self.decode = nn.ModuleList(AdainResBlk(i, o, 64, up) for i, o, up in dims)
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(64, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(64, 3, 1))

    def forward(self, x, s):
        for blk in self.decode:
            x = blk(x, s)
        return self.to_rgb(x)


def test_stargan_v2_layout_is_lossless():
    torch.manual_seed(0)
    gen = StarDecoder().eval()
    original = copy.deepcopy(gen)
    x, s = torch.randn(2, 512, 2, 2), torch.randn(2, 64)
    report = []
    out = replace_adain(gen, report=report, example_inputs=(x, s))
    assert out is gen
    assert len(report) == 12 and all(isinstance(b.norm1, AdaConv) and isinstance(b.norm2, AdaConv) for b in gen.decode)
    err = verify_conversion(original, gen, x, s)
    print(f"StarGAN v2 decoder swap: max relative difference {err:.2e}")
    assert err <= 1e-5
    # the AdaIN weights kept their StarGAN v2 keys; only AdaConv's new parts were added
    old, new = set(original.state_dict()), set(gen.state_dict())
    assert old <= new
    assert all(".descriptor." in k or ".predictor." in k for k in new - old)
    # the affine module was moved, not copied: same parameter objects the optimiser may hold
    assert gen.decode[0].norm1.fc.weight is not original.decode[0].norm1.fc.weight  # (deepcopy)


def test_swap_keeps_parameter_identity():
    torch.manual_seed(0)
    blk = AdainResBlk(16, 8, 4)
    w = blk.norm1.fc.weight
    replace_adain(blk)
    assert blk.norm1.fc.weight is w


# ------------------------------------------------------------------ rosinality StyleGAN v1 layout


class EqualLR:
    def __init__(self, name):
        self.name = name

    def compute_weight(self, module):
        w = getattr(module, self.name + "_orig")
        fan_in = w.data.size(1) * w.data[0][0].numel()
        return w * math.sqrt(2 / fan_in)

    @staticmethod
    def apply(module, name):
        fn = EqualLR(name)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_orig", nn.Parameter(weight.data))
        module.register_forward_pre_hook(fn)
        return fn

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def equal_lr(module, name="weight"):
    EqualLR.apply(module, name)
    return module


class EqualConv2d(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        conv = nn.Conv2d(*args, **kwargs)
        conv.weight.data.normal_()
        conv.bias.data.zero_()
        self.conv = equal_lr(conv)

    def forward(self, x):
        return self.conv(x)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        linear = nn.Linear(in_dim, out_dim)
        linear.weight.data.normal_()
        linear.bias.data.zero_()
        self.linear = equal_lr(linear)

    def forward(self, x):
        return self.linear(x)


class AdaptiveInstanceNorm(nn.Module):
    def __init__(self, in_channel, style_dim):
        super().__init__()
        self.norm = nn.InstanceNorm2d(in_channel)
        self.style = EqualLinear(style_dim, in_channel * 2)
        self.style.linear.bias.data[:in_channel] = 1
        self.style.linear.bias.data[in_channel:] = 0

    def forward(self, x, style):
        style = self.style(style).unsqueeze(2).unsqueeze(3)
        gamma, beta = style.chunk(2, 1)
        return gamma * self.norm(x) + beta


class NoiseInjection(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channel, 1, 1) * 0.1)

    def forward(self, x, noise):
        return x + self.weight * noise


class StyledConvBlock(nn.Module):
    def __init__(self, in_ch, out_ch, style_dim=512, initial=False, upsample=False):
        super().__init__()
        self.initial, self.upsample = initial, upsample
        if initial:
            self.conv1 = nn.Parameter(torch.randn(1, out_ch, 4, 4))
        else:
            self.conv1 = EqualConv2d(in_ch, out_ch, 3, padding=1)
        self.noise1 = equal_lr(NoiseInjection(out_ch))
        self.adain1 = AdaptiveInstanceNorm(out_ch, style_dim)
        self.conv2 = EqualConv2d(out_ch, out_ch, 3, padding=1)
        self.noise2 = equal_lr(NoiseInjection(out_ch))
        self.adain2 = AdaptiveInstanceNorm(out_ch, style_dim)

    def forward(self, x, style):
        if self.initial:
            out = self.conv1.expand(style.shape[0], -1, -1, -1)
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            out = self.conv1(x)
        b, _, h, w = out.shape
        out = self.adain1(F.leaky_relu(self.noise1(out, torch.randn(b, 1, h, w)), 0.2), style)
        out = self.conv2(out)
        out = self.adain2(F.leaky_relu(self.noise2(out, torch.randn(b, 1, h, w)), 0.2), style)
        return out


class RosinalityGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.style = nn.Sequential(EqualLinear(512, 512), nn.LeakyReLU(0.2), EqualLinear(512, 512))
        self.progression = nn.ModuleList([
            StyledConvBlock(512, 512, initial=True), StyledConvBlock(512, 256, upsample=True),
            StyledConvBlock(256, 128, upsample=True)])
        self.to_rgb = EqualConv2d(128, 3, 1)

    def forward(self, z):
        w = self.style(z / torch.sqrt(z.pow(2).mean(1, keepdim=True) + 1e-8))
        x = None
        for blk in self.progression:
            x = blk(x, w)
        return self.to_rgb(x)


def test_rosinality_layout_never_run_is_lossless_and_keeps_runtime_scale():
    torch.manual_seed(0)
    gen = RosinalityGenerator()
    original = copy.deepcopy(gen)
    assert not hasattr(gen.progression[0].adain1.style.linear, "weight")  # never ran a forward
    replace_adain(gen)
    z = torch.randn(2, 512)
    err = verify_conversion(original, gen, z)
    print(f"rosinality StyleGAN v1 swap: max relative difference {err:.2e}")
    assert err <= 1e-5
    ada = gen.progression[1].adain2
    assert isinstance(ada, AdaConv) and ada.gamma_offset == 0.0
    lin = ada.fc.linear
    assert "weight_orig" in dict(lin.named_parameters()) and "weight" not in dict(lin.named_parameters())
    # the runtime scale is applied at every forward: changing weight_orig changes the output as
    # sqrt(2 / fan_in) * weight_orig dictates
    with torch.no_grad():
        lin.weight_orig.mul_(2)
        ada(torch.randn(2, 256, 8, 8), torch.randn(2, 512))
        torch.testing.assert_close(lin.weight, lin.weight_orig * math.sqrt(2 / 512))


# ------------------------------------------------------------------- huangzh13 StyleGAN v1 layout


class EqualizedLinear(nn.Module):
    def __init__(self, in_size, out_size, gain=2 ** 0.5, use_wscale=True, lrmul=1.0):
        super().__init__()
        he_std = gain * in_size ** (-0.5)
        init_std, self.w_mul = (1.0 / lrmul, he_std * lrmul) if use_wscale else (he_std / lrmul, lrmul)
        self.weight = nn.Parameter(torch.randn(out_size, in_size) * init_std)
        self.bias = nn.Parameter(torch.randn(out_size) * 0.1)
        self.b_mul = lrmul

    def forward(self, x):
        return F.linear(x, self.weight * self.w_mul, self.bias * self.b_mul)


class NoiseLayer(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels) * 0.1)

    def forward(self, x):
        noise = torch.randn(x.size(0), 1, x.size(2), x.size(3), dtype=x.dtype)
        return x + self.weight.view(1, -1, 1, 1) * noise


class StyleMod(nn.Module):
    def __init__(self, latent_size, channels, use_wscale=True):
        super().__init__()
        self.lin = EqualizedLinear(latent_size, channels * 2, gain=1.0, use_wscale=use_wscale)

    def forward(self, x, latent):
        style = self.lin(latent).view([-1, 2, x.size(1)] + (x.dim() - 2) * [1])
        return x * (style[:, 0] + 1.0) + style[:, 1]


class LayerEpilogue(nn.Module):
    def __init__(self, channels, dlatent_size, use_instance_norm=True):
        super().__init__()
        layers = [("noise", NoiseLayer(channels)), ("activation", nn.LeakyReLU(0.2))]
        if use_instance_norm:
            layers.append(("instance_norm", nn.InstanceNorm2d(channels)))
        from collections import OrderedDict
        self.top_epi = nn.Sequential(OrderedDict(layers))
        self.style_mod = StyleMod(dlatent_size, channels)

    def forward(self, x, dlatents):
        return self.style_mod(self.top_epi(x), dlatents)


class HuangSynthesis(nn.Module):
    def __init__(self, use_instance_norm=True):
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, 512, 4, 4))
        widths = [512, 256, 128]
        self.epis = nn.ModuleList()
        self.convs = nn.ModuleList()
        for i, c in enumerate(widths):
            self.convs.append(nn.Conv2d(widths[max(i - 1, 0)], c, 3, padding=1))
            self.epis.append(LayerEpilogue(c, 512, use_instance_norm))
            self.convs.append(nn.Conv2d(c, c, 3, padding=1))
            self.epis.append(LayerEpilogue(c, 512, use_instance_norm))
        self.to_rgb = nn.Conv2d(128, 3, 1)

    def forward(self, w):
        x = self.const.expand(w.shape[0], -1, -1, -1)
        for i, (conv, epi) in enumerate(zip(self.convs, self.epis)):
            if i % 2 == 0 and i > 0:
                x = F.interpolate(x, scale_factor=2)
            x = epi(conv(x), w)
        return self.to_rgb(x)


@pytest.mark.parametrize("use_instance_norm", [True, False])
def test_huangzh13_layout_is_lossless(use_instance_norm):
    torch.manual_seed(0)
    gen = HuangSynthesis(use_instance_norm)
    original = copy.deepcopy(gen)
    report = []
    replace_adain(gen, report=report)
    assert len(report) == 6
    epi = gen.epis[3]  # 256 channels at 8x8
    assert isinstance(epi.style_mod, AdaConv) and epi.style_mod.conv.normalize == use_instance_norm
    if use_instance_norm:
        assert isinstance(epi.top_epi.instance_norm, nn.Identity)
    err = verify_conversion(original, gen, torch.randn(2, 512))
    print(f"huangzh13 StyleGAN v1 swap (instance norm {use_instance_norm}): {err:.2e}")
    assert err <= 1e-5


# ------------------------------------------------------------------------------ registry, errors


class MyAdaIN(nn.Module):
    """A user's own AdaIN: (1 + gamma) * IN_eps(x) + beta with a differently named affine."""

    def __init__(self, style_dim, c):
        super().__init__()
        self.affine = nn.Linear(style_dim, 2 * c)
        self.c = c

    def forward(self, x, s):
        gamma, beta = self.affine(s).chunk(2, dim=1)
        return (1 + gamma)[..., None, None] * F.instance_norm(x, eps=1e-3) + beta[..., None, None]


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.mod = MyAdaIN(4, 8)

    def forward(self, x, s):
        return self.mod(self.conv(x), s)


def test_registered_pattern_converts_a_user_module():
    register_adain_pattern("my", lambda m, n, p: isinstance(m, MyAdaIN),
                           lambda m, n, p: AdaINSpec(m.affine, m.c, 4, gamma_offset=1.0, eps=1e-3))
    try:
        torch.manual_seed(0)
        h = Holder()
        original = copy.deepcopy(h)
        x, s = torch.randn(2, 8, 6, 6), torch.randn(2, 4)
        assert find_adain(h) == [("mod", "my")]
        replace_adain(h, example_inputs=(x, s), kernel_size=5)
        assert isinstance(h.mod, AdaConv) and h.mod.kernel_size == 5
        assert verify_conversion(original, h, x, s) <= 1e-5
    finally:
        unregister_adain_pattern("my")


def test_wrong_pattern_raises_and_restores_the_model():
    register_adain_pattern("liar", lambda m, n, p: isinstance(m, MyAdaIN),
                           lambda m, n, p: AdaINSpec(m.affine, m.c, 4, gamma_offset=0.0, eps=1e-3))
    try:
        h = Holder()
        mod = h.mod
        with pytest.raises(ConversionError, match="'mod' matched pattern 'liar'|mod matched pattern 'liar'"):
            replace_adain(h)
        assert h.mod is mod
    finally:
        unregister_adain_pattern("liar")


def test_root_adain_returns_new_root_and_bad_kwargs_raise():
    torch.manual_seed(0)
    a = AdaIN(4, 8)
    x, s = torch.randn(2, 8, 5, 5), torch.randn(2, 4)
    ref = a(x, s)
    new = replace_adain(a)
    assert isinstance(new, AdaConv)
    torch.testing.assert_close(new(x, s), ref)
    with pytest.raises(ValueError, match=r"unknown AdaConv argument\(s\) \['style_dm'\]"):
        replace_adain(AdaIN(4, 8), style_dm=3)


def test_converted_model_trains():
    torch.manual_seed(0)
    blk = AdainResBlk(16, 16, 8)
    replace_adain(blk, style_channels=16)
    opt = torch.optim.Adam(blk.parameters(), lr=1e-3)
    x, s = torch.randn(2, 16, 8, 8), torch.randn(2, 8)
    loss = blk(x, s).square().mean()
    loss.backward()
    opt.step()
    assert blk.norm1.predictor.spatial.weight.abs().sum() > 0  # the predictor left zero
