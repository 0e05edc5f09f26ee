"""AdaConv2d, KernelPredictor, AdaIN, the drop-in AdaConv and create_modulation."""

import math

import pytest
import torch
import torch.nn.functional as F

from adaconv_gen import (
    AdaConv,
    AdaConv2d,
    AdaIN,
    KernelPredictor,
    create_modulation,
    default_groups,
)


def _adain_reference(x, gamma, beta, eps=1e-5):
    """(1 + gamma) * IN(x) + beta written out in float64."""
    x = x.double()
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (1 + gamma.double()[..., None, None]) * (x - mu) / torch.sqrt(var + eps) + beta.double()[..., None, None]


def test_adain_matches_formula():
    torch.manual_seed(0)
    m = AdaIN(8, 6)
    x, s = torch.randn(3, 6, 5, 7), torch.randn(3, 8)
    gamma, beta = m.fc(s).chunk(2, dim=1)
    torch.testing.assert_close(m(x, s).double(), _adain_reference(x, gamma, beta), rtol=1e-5, atol=1e-5)
    assert set(m.state_dict()) == {"fc.weight", "fc.bias"}  # StarGAN v2 key names


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_adaconv2d_with_1x1_kernels_is_adain(groups):
    torch.manual_seed(0)
    b, c = 3, 6
    x = torch.randn(b, c, 5, 7, dtype=torch.float64)
    gamma, beta = torch.randn(b, c, dtype=torch.float64), torch.randn(b, c, dtype=torch.float64)
    gs = c // groups
    eye = torch.eye(gs, dtype=torch.float64).repeat(groups, 1)  # (C, C/g)
    spatial = ((1 + gamma)[..., None] * eye)[..., None, None]  # (B, C, C/g, 1, 1)
    out = AdaConv2d(c, c, kernel_size=1, groups=groups)(x, spatial, None, beta)
    torch.testing.assert_close(out, _adain_reference(x, gamma, beta), rtol=1e-10, atol=1e-10)
    # same through a diagonal pointwise kernel with an identity spatial one
    ident = eye[..., None, None].expand(b, c, gs, 1, 1)
    out2 = AdaConv2d(c, c, kernel_size=1, groups=groups)(x, ident, spatial, beta)
    torch.testing.assert_close(out2, _adain_reference(x, gamma, beta), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k,groups,c", [(3, None, 16), (3, 1, 8), (5, 4, 8), (1, 8, 8), (3, 2, 6)])
def test_adaconv_starts_equal_to_adain(k, groups, c):
    torch.manual_seed(1)
    adain = AdaIN(10, c)
    ada = AdaConv(10, c, kernel_size=k, groups=groups, style_channels=16)
    ada.fc.load_state_dict(adain.fc.state_dict())
    x, s = torch.randn(4, c, 9, 8), torch.randn(4, 10)
    ref = adain(x, s)
    err = (ada(x, s) - ref).abs().max() / ref.abs().max()
    assert err <= 1e-6
    assert ada.kernel_size == k


def test_adaconv_predictor_learns_from_zero_init():
    torch.manual_seed(0)
    ada = AdaConv(8, 8, style_channels=16)
    x, s = torch.randn(2, 8, 8, 8), torch.randn(2, 8)
    (ada(x, s) * torch.randn(2, 8, 8, 8)).sum().backward()
    for branch in (ada.predictor.spatial, ada.predictor.pointwise, ada.predictor.bias):
        assert branch.weight.grad is not None and branch.weight.grad.abs().sum() > 0
    assert ada.fc.weight.grad.abs().sum() > 0


def test_default_groups_follow_the_paper():
    assert [default_groups(c) for c in (512, 256, 128, 64)] == [512, 128, 32, 8]
    assert default_groups(16) == 1 and default_groups(96) == 24  # 96 = 24 groups of 4
    for c in (3, 5, 48, 96, 100, 1024):
        assert c % default_groups(c) == 0


@pytest.mark.parametrize("k,s", [(3, 3), (1, 3), (5, 3), (3, 4)])
def test_kernel_predictor_shapes_and_layout(k, s):
    torch.manual_seed(0)
    sd, cin, cout, g = 12, 8, 4, 2
    kp = KernelPredictor(sd, cin, cout, kernel_size=k, groups=g, style_size=s)
    w = torch.randn(3, sd, s, s)
    spatial, pointwise, bias = kp(w)
    assert spatial.shape == (3, cout, cin // g, k, k)
    assert pointwise.shape == (3, cout, cout // g, 1, 1)
    assert bias.shape == (3, cout)
    assert kp.num_predicted == cout * cin // g * k * k + cout * cout // g + cout
    # pointwise and bias depend on the pooled descriptor only
    pooled = w.mean(dim=(2, 3))
    torch.testing.assert_close(bias, pooled @ kp.bias.weight.view(cout, sd).T + kp.bias.bias)
    torch.testing.assert_close(pointwise.flatten(1), pooled @ kp.pointwise.weight.view(-1, sd).T + kp.pointwise.bias)


def test_kernel_predictor_paper_layout():
    # style transfer level 1: s_d = 512, C = 512, n_g = 512, 3x3 kernels from a 3x3 descriptor
    kp = KernelPredictor(512, 512, 512, kernel_size=3, groups=512, style_size=3, device="meta")
    n = sum(p.numel() for p in kp.parameters())
    assert n == (512 * 512 * 9 + 512) + (512 * 512 + 512) + (512 * 512 + 512)
    # every paper level predicts the same number of spatial values: C * C/n_g * 9
    assert {c * (c // g) * 9 for c, g in ((512, 512), (256, 128), (128, 32), (64, 8))} == {4608}


def test_kernel_predictor_rejects_wrong_descriptor():
    kp = KernelPredictor(8, 4, 4)
    with pytest.raises(ValueError, match=r"\(B, 8, 3, 3\), got shape \(2, 8, 4, 4\)"):
        kp(torch.randn(2, 8, 4, 4))


def test_wrong_shapes_raise_value_error():
    ada = AdaConv(8, 4, style_channels=8)
    with pytest.raises(ValueError, match=r"x \(B, 4, H, W\) and s \(B, 8\), got \(2, 5, 6, 6\) and \(2, 8\)"):
        ada(torch.randn(2, 5, 6, 6), torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"got \(2, 4, 6, 6\) and \(3, 8\)"):
        ada(torch.randn(2, 4, 6, 6), torch.randn(3, 8))
    with pytest.raises(ValueError, match="groups=3 must divide num_features=4"):
        AdaConv(8, 4, groups=3)
    with pytest.raises(ValueError, match=r"x must be \(B, 4, H, W\)"):
        AdaConv2d(4, 4)(torch.randn(2, 3, 5, 5), torch.randn(2, 4, 4, 3, 3))


def test_create_modulation():
    assert isinstance(create_modulation("adain", 8, 4), AdaIN)
    m = create_modulation("adaconv", 8, 4, kernel_size=5, style_channels=8)
    assert isinstance(m, AdaConv) and m.kernel_size == 5
    with pytest.raises(ValueError, match="unknown modulation 'adanorm'; valid: adain, adaconv"):
        create_modulation("adanorm", 8, 4)


def test_bf16_autocast_on_cpu():
    torch.manual_seed(0)
    ada = AdaConv(8, 8, style_channels=16)
    torch.nn.init.normal_(ada.predictor.spatial.weight, std=0.01)
    x, s = torch.randn(2, 8, 12, 12), torch.randn(2, 8)
    ref = ada(x, s)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ada(x, s)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() / ref.abs().max() < 3e-2


class _TinyGen(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.mod = AdaConv(4, 8, style_channels=8)
        self.out = torch.nn.Conv2d(8, 3, 1)

    def forward(self, x, s):
        return self.out(F.leaky_relu(self.mod(self.conv(x), s), 0.2))


def _perturbed_gen():
    torch.manual_seed(0)
    g = _TinyGen().eval()
    torch.nn.init.normal_(g.mod.predictor.spatial.weight, std=0.05)
    return g


def test_torch_compile():
    g = _perturbed_gen()
    x, s = torch.randn(2, 8, 16, 16), torch.randn(2, 4)
    compiled = torch.compile(g, fullgraph=True)  # inductor, the default backend
    torch.testing.assert_close(compiled(x, s), g(x, s), rtol=1e-5, atol=1e-5)


def test_torch_export():
    g = _perturbed_gen()
    x, s = torch.randn(2, 8, 16, 16), torch.randn(2, 4)
    ep = torch.export.export(g, (x, s))
    torch.testing.assert_close(ep.module()(x, s), g(x, s), rtol=1e-5, atol=1e-5)


def test_capability_oriented_filtering():
    """A style-conditioned task AdaIN cannot solve: filter the input along an orientation
    given by the style. AdaConv fits it; AdaIN, trained identically, cannot."""
    torch.manual_seed(0)
    c, n_orient = 4, 4
    d = torch.tensor([-1.0, 0.0, 1.0])
    kernels = torch.zeros(n_orient, 3, 3)
    kernels[0, 1] = d  # horizontal derivative
    kernels[1, :, 1] = d  # vertical
    kernels[2] = torch.diag(d)  # diagonal
    kernels[3] = torch.diag(d).flip(1)  # anti-diagonal

    def batch(n=8):
        x = torch.randn(n, c, 12, 12)
        o = torch.randint(0, n_orient, (n,))
        s = F.one_hot(o, n_orient).float()
        xn = F.instance_norm(x)
        # every orientation's response of every channel, then pick the style's orientation
        xp = F.pad(xn, (1,) * 4, mode="reflect").reshape(n * c, 1, 14, 14)
        every = F.conv2d(xp, kernels[:, None]).reshape(n, c, n_orient, 12, 12)
        y = every[torch.arange(n), :, o]
        return x, s, y

    def train(layer, steps=150):
        opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
        for _ in range(steps):
            x, s, y = batch()
            loss = F.mse_loss(layer(x, s), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            x, s, y = batch(64)
            return F.mse_loss(layer(x, s), y).item(), y.var().item()

    adaconv_loss, var = train(AdaConv(n_orient, c, groups=c, style_channels=8))
    adain_loss, _ = train(AdaIN(n_orient, c))
    print(f"oriented filtering MSE: AdaConv {adaconv_loss:.4f}, AdaIN {adain_loss:.4f} (target var {var:.3f})")
    assert adain_loss > 0.5 * var  # AdaIN can only rescale: it explains little of the target
    assert adaconv_loss < 0.05 * adain_loss
    assert math.isfinite(adaconv_loss)
