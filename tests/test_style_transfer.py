"""Style-transfer model (AdaConv, Chandran et al. 2021, section 3.2) and the AdaIN baseline:
VGG loading, losses against hand computations, every shape path, the paper's layout,
interpolation / alpha, save/load, and an overfit check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from adaconv_gen.errors import UserInputError, WeightsNotFoundError
from adaconv_gen.models.style_transfer import (
    AdaConvStyleTransfer,
    AdaINStyleTransfer,
    create_style_transfer_model,
    load_style_transfer_model,
)
from adaconv_gen.models.vgg import VGGEncoder, write_random_vgg19_weights
from adaconv_gen.nn.functional import adaptive_conv2d_reference
from adaconv_gen.training.style_losses import (
    StyleTransferLoss,
    channel_mean_std,
    content_loss,
    style_loss,
)

TINY = dict(channels=(512, 16, 8, 4))
TINY_ADACONV = dict(TINY, style_channels=8, style_hidden=16)



@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory):
    """Random weights in torchvision's vgg19 key format, only the layers up to relu4_1."""
    return write_random_vgg19_weights(tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth", seed=0)


@pytest.fixture(scope="module")
def tiny_models(vgg_file):
    torch.manual_seed(0)
    return {"adaconv": AdaConvStyleTransfer(vgg_weights=vgg_file, **TINY_ADACONV).eval(),
            "adain": AdaINStyleTransfer(vgg_weights=vgg_file, **TINY).eval()}


def rand_img(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


# ---------------------------------------------------------------------------- VGG
def test_vgg_matches_torchvision_and_ignores_extra_keys(tmp_path):
    torch.manual_seed(1)
    ref = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])  # vgg19().features
    sd = {f"features.{k}": v for k, v in ref.state_dict().items()}  # all 16 convs, as the real file
    sd["classifier.6.weight"] = torch.zeros(10, 4)  # classifier keys are ignored
    path = tmp_path / "full.pth"
    torch.save(sd, path)
    enc = VGGEncoder(path)
    x = rand_img(2, 3, 24, 40)
    h = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    want = []
    for i, layer in enumerate(ref[:21]):
        h = layer(h)
        if i in (1, 6, 11, 20):
            want.append(h.clone())
    got = enc(x, taps=True)
    assert [tuple(g.shape) for g in got] == [(2, 64, 24, 40), (2, 128, 12, 20), (2, 256, 6, 10), (2, 512, 3, 5)]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training


def test_vgg_resolver_order_and_missing_file(vgg_file, monkeypatch, tmp_path):
    with pytest.raises(WeightsNotFoundError) as e:
        VGGEncoder(None)
    msg = str(e.value)
    assert "vgg19-dcbb9e9d.pth" in msg and "ADACONV_VGG19_WEIGHTS" in msg and "--vgg_weights" in msg
    monkeypatch.setenv("ADACONV_VGG19_WEIGHTS", str(vgg_file))
    assert VGGEncoder(None).weights_source == str(vgg_file)
    monkeypatch.delenv("ADACONV_VGG19_WEIGHTS")
    hub = torch.hub.get_dir() + "/checkpoints"
    import shutil
    from pathlib import Path

    Path(hub).mkdir(parents=True, exist_ok=True)
    shutil.copy(vgg_file, Path(hub) / "vgg19-dcbb9e9d.pth")
    try:
        assert VGGEncoder(None).weights_source == str(Path(hub) / "vgg19-dcbb9e9d.pth")
    finally:
        (Path(hub) / "vgg19-dcbb9e9d.pth").unlink()
    with pytest.raises(WeightsNotFoundError, match="vgg19-dcbb9e9d.pth"):
        VGGEncoder(tmp_path / "nope.pth")


def test_vgg_wrong_file_is_named(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(UserInputError, match="features.0.bias"):
        VGGEncoder(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match="junk.pth"):
        VGGEncoder(junk)


# ---------------------------------------------------------------------------- losses
def _np_mean_std(f):
    f = f.double().numpy()
    b, c = f.shape[:2]
    mean = np.zeros((b, c))
    std = np.zeros((b, c))
    for i in range(b):
        for j in range(c):
            v = f[i, j].ravel()
            mean[i, j] = sum(v) / len(v)
            std[i, j] = np.sqrt(sum((x - mean[i, j]) ** 2 for x in v) / len(v) + 1e-5)
    return mean, std


def test_losses_against_hand_computation():
    g = torch.Generator().manual_seed(3)
    out = [torch.randn(2, c, s, s, generator=g) for c, s in ((3, 5), (4, 3), (2, 2), (5, 2))]
    sty = [torch.randn(2, c, s + 1, s, generator=g) for c, s in ((3, 5), (4, 3), (2, 2), (5, 2))]
    target = torch.randn(2, 5, 2, 2, generator=g)
    m, s = channel_mean_std(out[1])
    nm, ns = _np_mean_std(out[1])
    np.testing.assert_allclose(m.double().numpy(), nm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.double().numpy(), ns, rtol=1e-5, atol=1e-6)
    want_c = float(((out[-1].double() - target.double()) ** 2).mean())
    want_s = 0.0
    for a, b in zip(out, sty):
        (ma, sa), (mb, sb) = _np_mean_std(a), _np_mean_std(b)
        want_s += ((ma - mb) ** 2).mean() + ((sa - sb) ** 2).mean()
    assert content_loss(out[-1], target).item() == pytest.approx(want_c, rel=1e-5)
    assert style_loss(out, sty).item() == pytest.approx(want_s, rel=1e-5)
    total = StyleTransferLoss(content_weight=2.0, style_weight=0.5)(out, target, sty)
    assert total["loss"].item() == pytest.approx(2.0 * want_c + 0.5 * want_s, rel=1e-5)


# ---------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind", ["adaconv", "adain"])
@pytest.mark.parametrize("content_hw,style_hw,batch", [
    ((32, 32), (32, 32), 2), ((37, 53), (64, 40), 2), ((16, 16), (256, 256), 1),
    ((9, 70), (8, 8), 1), ((45, 31), (100, 37), 3),
])
def test_output_has_content_size(tiny_models, kind, content_hw, style_hw, batch):
    m = tiny_models[kind]
    c = rand_img(batch, 3, *content_hw, seed=1)
    s = rand_img(batch, 3, *style_hw, seed=2)
    with torch.no_grad():
        y = m(c, s)
        y1 = m(c, s[:1])  # one style broadcast over the batch
    assert y.shape == c.shape and y1.shape == c.shape
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y1[0], y[0])


def test_padding_is_cropped_back_exactly(tiny_models):
    """A 37x53 content gives the top-left crop of stylising its reflect-padded 40x56 version."""
    m = tiny_models["adaconv"]
    c = rand_img(1, 3, 37, 53, seed=4)
    s = rand_img(1, 3, 32, 32, seed=5)
    padded = F.pad(c, (0, 3, 0, 3), mode="reflect")
    with torch.no_grad():
        torch.testing.assert_close(m(c, s), m(padded, s)[..., :37, :53])


def test_too_small_style_is_refused(tiny_models):
    with pytest.raises(ValueError, match="at least 8 px"):
        tiny_models["adaconv"](rand_img(1, 3, 16, 16), rand_img(1, 3, 4, 30))


# ---------------------------------------------------------------------------- exact forward
def test_adaconv_decoder_matches_plain_reference(tiny_models):
    """Instance norm -> per-sample loop conv -> convs (reflect) + ReLU -> nearest x2, per level."""
    m = tiny_models["adaconv"]
    c, s = rand_img(2, 3, 32, 48, seed=6), rand_img(2, 3, 40, 40, seed=7)
    with torch.no_grad():
        w = m.style_encoder(m.encoder(s))
        x = m.encoder(c)
        for i, (pred, level) in enumerate(zip(m.predictors, m.levels)):
            sp, pw, b = pred(w)
            x = F.instance_norm(x, eps=1e-5)
            x = adaptive_conv2d_reference(x, sp, pw, b, groups=m.config["groups"][i], padding_mode="reflect")
            convs = [layer for layer in level if isinstance(layer, torch.nn.Conv2d)]
            for j, conv in enumerate(convs):
                x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
                if not (i == 3 and j == len(convs) - 1):
                    x = x.relu()
            if i < 3:
                x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        torch.testing.assert_close(m(c, s), x, rtol=1e-4, atol=1e-5)


def test_style_encoder_matches_plain_reference(tiny_models):
    m = tiny_models["adaconv"]
    feat = torch.randn(2, 512, 8, 8, generator=torch.Generator().manual_seed(8))
    se = m.style_encoder
    convs = [layer for layer in se.blocks if isinstance(layer, torch.nn.Conv2d)]
    h = feat
    for conv in convs:
        h = F.leaky_relu(F.avg_pool2d(F.conv2d(h, conv.weight, conv.bias, padding=1), 2), 0.2)
    h = F.interpolate(h, size=(4, 4), mode="nearest")  # 1x1 -> 4x4: adaptive pooling repeats
    want = (h.flatten(1) @ se.fc.weight.T + se.fc.bias).view(2, 8, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(se(feat), want, rtol=1e-5, atol=1e-6)


def test_adain_baseline_matches_formula(tiny_models):
    m = tiny_models["adain"]
    c, s = rand_img(2, 3, 32, 32, seed=9), rand_img(2, 3, 48, 32, seed=10)
    with torch.no_grad():
        fc, fs = m.encoder(c).double(), m.encoder(s).double()
        mc, vc = fc.mean((2, 3), keepdim=True), fc.var((2, 3), unbiased=False, keepdim=True)
        ms, vs = fs.mean((2, 3), keepdim=True), fs.var((2, 3), unbiased=False, keepdim=True)
        t = (vs + 1e-5).sqrt() * (fc - mc) / (vc + 1e-5).sqrt() + ms
        got = m.adain(m.encoder(c), m.encode_style(s))
        torch.testing.assert_close(got.double(), t, rtol=1e-4, atol=1e-5)
        x = t.float()
        for i, level in enumerate(m.levels):
            x = level(x)
            if i < 3:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        torch.testing.assert_close(m(c, s), x, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- paper mode
def test_paper_mode_has_the_papers_parameter_layout():
    m = AdaConvStyleTransfer(vgg_weights="random", style_size_mode="paper")
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters() if not n.startswith("encoder.")}
    want = {}
    for i in range(3):  # E_S: 3 x (3x3 conv 512 -> 512, avg pool, LeakyReLU)
        want[f"style_encoder.blocks.{3 * i}.weight"] = (512, 512, 3, 3)
        want[f"style_encoder.blocks.{3 * i}.bias"] = (512,)
    want["style_encoder.fc.weight"] = (512 * 3 * 3, 512 * 4 * 4)  # 512x4x4 -> W (512, 3, 3)
    want["style_encoder.fc.bias"] = (512 * 3 * 3,)
    for i, (c, g) in enumerate(zip((512, 256, 128, 64), (512, 128, 32, 8))):
        want[f"predictors.{i}.spatial.weight"] = (c * c // g, 512, 3, 3)  # 3x3 conv on the 3x3 W
        want[f"predictors.{i}.spatial.bias"] = (c * c // g,)
        want[f"predictors.{i}.pointwise.weight"] = (c * c // g, 512, 1, 1)
        want[f"predictors.{i}.pointwise.bias"] = (c * c // g,)
        want[f"predictors.{i}.bias.weight"] = (c, 512, 1, 1)
        want[f"predictors.{i}.bias.bias"] = (c,)
        assert m.adaconvs[i].groups == g and m.adaconvs[i].in_channels == c
        assert m.predictors[i].spatial.weight.shape[0] == 512  # every level emits as many values
    convs = [(512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64),
             (64, 64), (64, 3)]
    k = 0
    for lvl, n in enumerate((1, 4, 2, 2)):
        for j in range(n):
            cin, cout = convs[k]
            want[f"levels.{lvl}.{2 * j}.weight"] = (cout, cin, 3, 3)
            want[f"levels.{lvl}.{2 * j}.bias"] = (cout,)
            k += 1
    assert shapes == want


def test_paper_mode_resizes_style_and_agrees_with_any_mode_at_256(vgg_file):
    torch.manual_seed(0)
    paper = AdaConvStyleTransfer(vgg_weights=vgg_file, style_size_mode="paper", **TINY_ADACONV).eval()
    anym = AdaConvStyleTransfer(vgg_weights=vgg_file, style_size_mode="any", **TINY_ADACONV).eval()
    anym.load_state_dict(paper.state_dict())
    c = rand_img(1, 3, 24, 24, seed=11)
    s256 = rand_img(1, 3, 256, 256, seed=12)
    s_odd = rand_img(1, 3, 120, 90, seed=13)
    with torch.no_grad():
        torch.testing.assert_close(paper(c, s256), anym(c, s256))
        resized = F.interpolate(s_odd, size=(256, 256), mode="bilinear", align_corners=False, antialias=True)
        torch.testing.assert_close(paper(c, s_odd), anym(c, resized))
        with pytest.raises(ValueError, match="paper mode"):
            paper.style_encoder(torch.randn(1, 512, 5, 5))


# ---------------------------------------------------------------------------- interpolation, alpha
@pytest.mark.parametrize("kind", ["adaconv", "adain"])
def test_interpolation_and_alpha(tiny_models, kind):
    m = tiny_models[kind]
    c = rand_img(2, 3, 32, 32, seed=14)
    s1, s2 = rand_img(1, 3, 32, 32, seed=15), rand_img(1, 3, 48, 40, seed=16)
    with torch.no_grad():
        d1, d2 = m.encode_style(s1), m.encode_style(s2)
        mixed = m.mix_descriptors([d1, d2], [1.0, 3.0])
        torch.testing.assert_close(mixed, 0.25 * d1 + 0.75 * d2)
        torch.testing.assert_close(m.stylize(c, descriptor=m.mix_descriptors([d1, d1], [2, 5])),
                                   m.stylize(c, s1), rtol=1e-5, atol=1e-5)
        # alpha = 0: the content's own style; alpha = 0.3: a blend of the descriptors
        own = m.encode_style(c)
        torch.testing.assert_close(m.stylize(c, s1, alpha=0.0), m.stylize(c, descriptor=own),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m.stylize(c, s1, alpha=0.3),
                                   m.stylize(c, descriptor=0.3 * d1.expand(2, *d1.shape[1:]) + 0.7 * own),
                                   rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="2 weights for 1"):
        m.mix_descriptors([d1], [1, 2])
    if kind == "adain":  # AdaIN(c, c) = c: alpha 0 decodes the content's own features
        with torch.no_grad():
            f = m.encoder(c)
            torch.testing.assert_close(m.adain(f, own), f, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- files
@pytest.mark.parametrize("kind", ["adaconv", "adain"])
def test_save_load_round_trip(tiny_models, kind, tmp_path):
    m = tiny_models[kind]
    m.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model_type"] == kind and cfg["channels"] == [512, 16, 8, 4]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    m2 = type(m).from_pretrained(tmp_path / "m")
    assert type(m2) is type(m)
    sd1, sd2 = m.state_dict(), m2.state_dict()
    assert sd1.keys() == sd2.keys() and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    c, s = rand_img(1, 3, 21, 30, seed=17), rand_img(1, 3, 32, 32, seed=18)
    with torch.no_grad():
        assert torch.equal(m(c, s), m2(c, s))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="config.json"):
        load_style_transfer_model(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "nope"}')
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(UserInputError, match="nope"):
        load_style_transfer_model(tmp_path)
    with pytest.raises(ValueError, match="adaconv, adain"):
        create_style_transfer_model("adaconvv")


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("kind", ["adaconv", "adain"])
def test_overfit_one_batch(vgg_file, kind):
    torch.manual_seed(0)
    kw = dict(style_channels=8, style_hidden=16) if kind == "adaconv" else {}
    m = create_style_transfer_model(kind, vgg_weights=vgg_file, channels=(512, 32, 16, 8), **kw)
    c, s = rand_img(2, 3, 32, 32, seed=19), rand_img(2, 3, 32, 32, seed=20)
    opt = torch.optim.Adam(m.trainable_parameters(), lr=2e-3)
    loss_fn = StyleTransferLoss()
    losses = []
    for _ in range(25):
        o = m(c, s, train_outputs=True)
        loss = loss_fn(o["output_feats"], o["content_target"], o["style_feats"])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.grad is None for p in m.encoder.parameters())  # VGG stays frozen
    assert min(losses[-5:]) < 0.65 * losses[0], losses


def test_model_trained_on_random_vgg_says_so(tmp_path):
    m = AdaINStyleTransfer(vgg_weights="random", **TINY)
    m.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["encoder_weights"] == "random"
    with pytest.warns(UserWarning, match="pipeline check"):
        m2 = load_style_transfer_model(tmp_path / "m")
    m2.save_pretrained(tmp_path / "m2")  # the provenance survives a re-save
    assert json.loads((tmp_path / "m2" / "config.json").read_text())["encoder_weights"] == "random"
