"""StarGAN v2 networks against a plain restatement of the official layer layout.

The reference below is written from the structure of clovaai/stargan-v2 ``core/model.py``
(read, not copied): key names and shapes by plain loops, and a functional forward over a dict
of tensors. Random weights are saved in the official file format (``torch.save`` of
``{name: state_dict}``, ``{step:06d}_nets_ema.ckpt``) and loaded through the real loader.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from adaconv_gen.errors import UserInputError
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.models.stargan_v2.fan import FAN, heatmaps_to_masks, load_fan

# --------------------------------------------------------------------------- plain reference


def _levels(img_size):
    return int(math.log2(img_size))


def _resblk_keys(p, din, dout, normalize):
    k = {f"{p}.conv1.weight": (din, din, 3, 3), f"{p}.conv1.bias": (din,),
         f"{p}.conv2.weight": (dout, din, 3, 3), f"{p}.conv2.bias": (dout,)}
    if normalize:
        k.update({f"{p}.norm1.weight": (din,), f"{p}.norm1.bias": (din,),
                  f"{p}.norm2.weight": (din,), f"{p}.norm2.bias": (din,)})
    if din != dout:
        k[f"{p}.conv1x1.weight"] = (dout, din, 1, 1)
    return k


def _adain_blk_keys(p, din, dout, sd):
    k = {f"{p}.conv1.weight": (dout, din, 3, 3), f"{p}.conv1.bias": (dout,),
         f"{p}.conv2.weight": (dout, dout, 3, 3), f"{p}.conv2.bias": (dout,),
         f"{p}.norm1.fc.weight": (2 * din, sd), f"{p}.norm1.fc.bias": (2 * din,),
         f"{p}.norm2.fc.weight": (2 * dout, sd), f"{p}.norm2.fc.bias": (2 * dout,)}
    if din != dout:
        k[f"{p}.conv1x1.weight"] = (dout, din, 1, 1)
    return k


def gen_layout(img_size, sd, maxd, w_hpf, d0=None):
    """(keys -> shapes, encoder specs, decoder specs) of the official generator."""
    d = d0 or 2 ** 14 // img_size
    keys = {"from_rgb.weight": (d, 3, 3, 3), "from_rgb.bias": (d,),
            "to_rgb.0.weight": (d,), "to_rgb.0.bias": (d,),
            "to_rgb.2.weight": (3, d, 1, 1), "to_rgb.2.bias": (3,)}
    enc, dec = [], []
    n = _levels(img_size) - 4 + (1 if w_hpf > 0 else 0)
    din = d
    for _ in range(n):
        dout = min(din * 2, maxd)
        enc.append((din, dout, True))
        dec.insert(0, (dout, din, True))
        din = dout
    for _ in range(2):
        enc.append((din, din, False))
        dec.insert(0, (din, din, False))
    for i, (a, b, _) in enumerate(enc):
        keys.update(_resblk_keys(f"encode.{i}", a, b, True))
    for i, (a, b, _) in enumerate(dec):
        keys.update(_adain_blk_keys(f"decode.{i}", a, b, sd))
    return keys, enc, dec


def map_layout(latent, sd, nd, hidden=512):
    keys = {"shared.0.weight": (hidden, latent), "shared.0.bias": (hidden,)}
    for j in (2, 4, 6):
        keys.update({f"shared.{j}.weight": (hidden, hidden), f"shared.{j}.bias": (hidden,)})
    for i in range(nd):
        for j in (0, 2, 4):
            keys.update({f"unshared.{i}.{j}.weight": (hidden, hidden), f"unshared.{i}.{j}.bias": (hidden,)})
        keys.update({f"unshared.{i}.6.weight": (sd, hidden), f"unshared.{i}.6.bias": (sd,)})
    return keys


def trunk_layout(prefix, img_size, maxd, d0=None):
    d = d0 or 2 ** 14 // img_size
    keys = {f"{prefix}.0.weight": (d, 3, 3, 3), f"{prefix}.0.bias": (d,)}
    specs = []
    din = d
    for i in range(_levels(img_size) - 2):
        dout = min(din * 2, maxd)
        keys.update(_resblk_keys(f"{prefix}.{i + 1}", din, dout, False))
        specs.append((din, dout))
        din = dout
    j = len(specs) + 2  # after the LeakyReLU
    keys.update({f"{prefix}.{j}.weight": (din, din, 4, 4), f"{prefix}.{j}.bias": (din,)})
    return keys, specs, din, j


def enc_layout(img_size, sd, nd, maxd, d0=None):
    keys, specs, dout, j = trunk_layout("shared", img_size, maxd, d0)
    for i in range(nd):
        keys.update({f"unshared.{i}.weight": (sd, dout), f"unshared.{i}.bias": (sd,)})
    return keys


def disc_layout(img_size, nd, maxd, d0=None):
    keys, specs, dout, j = trunk_layout("main", img_size, maxd, d0)
    keys.update({f"main.{j + 2}.weight": (nd, dout, 1, 1), f"main.{j + 2}.bias": (nd,)})
    return keys


def fan_layout():
    keys = {}

    def bn(p, c):
        keys.update({f"{p}.weight": (c,), f"{p}.bias": (c,), f"{p}.running_mean": (c,),
                     f"{p}.running_var": (c,), f"{p}.num_batches_tracked": ()})

    def block(p, i, o):
        bn(f"{p}.bn1", i)
        keys[f"{p}.conv1.weight"] = (o // 2, i, 3, 3)
        bn(f"{p}.bn2", o // 2)
        keys[f"{p}.conv2.weight"] = (o // 4, o // 2, 3, 3)
        bn(f"{p}.bn3", o // 4)
        keys[f"{p}.conv3.weight"] = (o // 4, o // 4, 3, 3)
        if i != o:
            bn(f"{p}.downsample.0", i)
            keys[f"{p}.downsample.2.weight"] = (o, i, 1, 1)

    keys.update({"conv1.conv.weight": (64, 6, 7, 7), "conv1.conv.bias": (64,)})
    bn("bn1", 64)
    block("conv2", 64, 128)
    block("conv3", 128, 128)
    block("conv4", 128, 256)
    keys.update({"m0.coordconv.conv.weight": (256, 259, 1, 1), "m0.coordconv.conv.bias": (256,)})
    for lvl in range(1, 5):
        for b in ("b1", "b2", "b3"):
            block(f"m0.{b}_{lvl}", 256, 256)
    block("m0.b2_plus_1", 256, 256)
    block("top_m_0", 256, 256)
    keys.update({"conv_last0.weight": (256, 256, 1, 1), "conv_last0.bias": (256,)})
    bn("bn_end0", 256)
    keys.update({"l0.weight": (99, 256, 1, 1), "l0.bias": (99,)})
    return keys


def random_weights(layout, gen):
    out = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            out[k] = torch.rand(shape, generator=gen) + 0.5
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 4
            out[k] = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
    return out


def _lrelu(x):
    return F.leaky_relu(x, 0.2)


def ref_resblk(P, p, x, normalize, down):
    sc = x
    if f"{p}.conv1x1.weight" in P:
        sc = F.conv2d(sc, P[f"{p}.conv1x1.weight"])
    if down:
        sc = F.avg_pool2d(sc, 2)
    h = x
    if normalize:
        h = F.instance_norm(h, weight=P[f"{p}.norm1.weight"], bias=P[f"{p}.norm1.bias"])
    h = F.conv2d(_lrelu(h), P[f"{p}.conv1.weight"], P[f"{p}.conv1.bias"], padding=1)
    if down:
        h = F.avg_pool2d(h, 2)
    if normalize:
        h = F.instance_norm(h, weight=P[f"{p}.norm2.weight"], bias=P[f"{p}.norm2.bias"])
    h = F.conv2d(_lrelu(h), P[f"{p}.conv2.weight"], P[f"{p}.conv2.bias"], padding=1)
    return (sc + h) / math.sqrt(2)


def ref_adain(P, p, x, s):
    h = s @ P[f"{p}.fc.weight"].T + P[f"{p}.fc.bias"]
    c = x.shape[1]
    gamma, beta = h[:, :c, None, None], h[:, c:, None, None]
    return (1 + gamma) * F.instance_norm(x) + beta


def ref_adain_blk(P, p, x, s, up, w_hpf):
    h = _lrelu(ref_adain(P, f"{p}.norm1", x, s))
    if up:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
    h = F.conv2d(h, P[f"{p}.conv1.weight"], P[f"{p}.conv1.bias"], padding=1)
    h = _lrelu(ref_adain(P, f"{p}.norm2", h, s))
    h = F.conv2d(h, P[f"{p}.conv2.weight"], P[f"{p}.conv2.bias"], padding=1)
    if w_hpf != 0:
        return h
    sc = F.interpolate(x, scale_factor=2, mode="nearest") if up else x
    if f"{p}.conv1x1.weight" in P:
        sc = F.conv2d(sc, P[f"{p}.conv1x1.weight"])
    return (h + sc) / math.sqrt(2)


def ref_generator(P, enc, dec, x, s, w_hpf, masks=None):
    x = F.conv2d(x, P["from_rgb.weight"], P["from_rgb.bias"], padding=1)
    cache = {}
    for i, (_, _, down) in enumerate(enc):
        if masks is not None and x.shape[2] in (32, 64, 128):
            cache[x.shape[2]] = x
        x = ref_resblk(P, f"encode.{i}", x, True, down)
    hp = torch.tensor([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]) / w_hpf if w_hpf else None
    for i, (_, _, up) in enumerate(dec):
        x = ref_adain_blk(P, f"decode.{i}", x, s, up, w_hpf)
        size = x.shape[2]
        if masks is not None and size in (32, 64, 128):
            m = masks[0] if size == 32 else masks[1]
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
            feat = m * cache[size]
            # the high-pass filter, one channel at a time
            x = x + torch.cat([F.conv2d(feat[:, c:c + 1], hp[None, None], padding=1)
                               for c in range(feat.shape[1])], dim=1)
    x = _lrelu(F.instance_norm(x, weight=P["to_rgb.0.weight"], bias=P["to_rgb.0.bias"]))
    return F.conv2d(x, P["to_rgb.2.weight"], P["to_rgb.2.bias"])


def ref_mapping(P, z, y, nd):
    h = z
    for j in (0, 2, 4, 6):
        h = F.relu(h @ P[f"shared.{j}.weight"].T + P[f"shared.{j}.bias"])
    outs = []
    for b in range(z.shape[0]):
        g = h[b]
        d = int(y[b])
        for j in (0, 2, 4):
            g = F.relu(g @ P[f"unshared.{d}.{j}.weight"].T + P[f"unshared.{d}.{j}.bias"])
        outs.append(g @ P[f"unshared.{d}.6.weight"].T + P[f"unshared.{d}.6.bias"])
    return torch.stack(outs)


def ref_trunk(P, prefix, x, img_size):
    x = F.conv2d(x, P[f"{prefix}.0.weight"], P[f"{prefix}.0.bias"], padding=1)
    n = _levels(img_size) - 2
    for i in range(n):
        x = ref_resblk(P, f"{prefix}.{i + 1}", x, False, True)
    j = n + 2
    x = _lrelu(F.conv2d(_lrelu(x), P[f"{prefix}.{j}.weight"], P[f"{prefix}.{j}.bias"]))
    return x, j


def ref_style_encoder(P, x, y, img_size):
    h, _ = ref_trunk(P, "shared", x, img_size)
    h = h.flatten(1)
    return torch.stack([h[b] @ P[f"unshared.{int(y[b])}.weight"].T + P[f"unshared.{int(y[b])}.bias"]
                        for b in range(x.shape[0])])


def ref_discriminator(P, x, y, img_size):
    h, j = ref_trunk(P, "main", x, img_size)
    out = F.conv2d(h, P[f"main.{j + 2}.weight"], P[f"main.{j + 2}.bias"]).flatten(1)
    return torch.stack([out[b, int(y[b])] for b in range(x.shape[0])])


# --------------------------------------------------------------------------- tests

CONFIGS = {
    "celeba-hq": (dict(w_hpf=1, num_domains=2), (43_467_395, 2_438_272, 20_916_928, 20_852_290)),
    "afhq": (dict(w_hpf=0, num_domains=3), (33_892_995, 3_259_072, 20_949_760, 20_852_803)),
}


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_official_parameter_counts_and_keys(name):
    cfg, counts = CONFIGS[name]
    nets = sg.build(**cfg, device="meta")
    got = tuple(sum(p.numel() for p in getattr(nets, n).parameters()) for n in sg.NETWORK_NAMES)
    assert got == counts
    g_keys, _, _ = gen_layout(256, 64, 512, cfg["w_hpf"])
    assert _shapes(nets.generator) == g_keys
    assert _shapes(nets.mapping_network) == map_layout(16, 64, cfg["num_domains"])
    assert _shapes(nets.style_encoder) == enc_layout(256, 64, cfg["num_domains"], 512)
    assert _shapes(nets.discriminator) == disc_layout(256, cfg["num_domains"], 512)
    # the restatement itself reproduces the published counts
    for layout, n in zip((g_keys, map_layout(16, 64, cfg["num_domains"]),
                          enc_layout(256, 64, cfg["num_domains"], 512),
                          disc_layout(256, cfg["num_domains"], 512)), counts):
        assert sum(math.prod(s) for s in layout.values()) == n


def test_fan_count_and_keys():
    with torch.device("meta"):
        fan = FAN()
    assert sum(p.numel() for p in fan.parameters()) == 6_333_603
    assert _shapes(fan) == fan_layout()


SMALL = {  # (build kwargs, img_size) with small widths for forward passes
    "hpf": dict(img_size=64, w_hpf=1, num_domains=2, base_dim=8, max_conv_dim=32, style_dim=16, hidden_dim=32),
    "nohpf": dict(img_size=32, w_hpf=0, num_domains=3, base_dim=8, max_conv_dim=32, style_dim=16, hidden_dim=32),
}


def _official_file(tmp_path, kw, prefix_module=False, with_filter=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    g_layout, enc, dec = gen_layout(kw["img_size"], kw["style_dim"], kw["max_conv_dim"], kw["w_hpf"], kw["base_dim"])
    P = {
        "generator": random_weights(g_layout, gen),
        "mapping_network": random_weights(map_layout(16, kw["style_dim"], kw["num_domains"], kw["hidden_dim"]), gen),
        "style_encoder": random_weights(enc_layout(kw["img_size"], kw["style_dim"], kw["num_domains"],
                                                   kw["max_conv_dim"], kw["base_dim"]), gen),
        "discriminator": random_weights(disc_layout(kw["img_size"], kw["num_domains"], kw["max_conv_dim"],
                                                    kw["base_dim"]), gen),
    }
    on_disk = {k: dict(v) for k, v in P.items()}
    if with_filter:
        on_disk["generator"]["hpf.filter"] = torch.tensor([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    if prefix_module:
        on_disk = {k: {"module." + kk: vv for kk, vv in v.items()} for k, v in on_disk.items()}
    path = tmp_path / "000010_nets.ckpt"
    torch.save(on_disk, path)
    return path, P, enc, dec


def _inputs(kw, seed=1):
    gen = torch.Generator().manual_seed(seed)
    n, s = 3, kw["img_size"]
    x = torch.rand(n, 3, s, s, generator=gen) * 2 - 1
    y = torch.tensor([1, 0, kw["num_domains"] - 1])
    z = torch.randn(n, 16, generator=gen)
    sty = torch.randn(n, kw["style_dim"], generator=gen)
    masks = (torch.rand(n, 1, 256, 256, generator=gen), torch.rand(n, 1, 256, 256, generator=gen))
    return x, y, z, sty, masks


@pytest.mark.parametrize("variant", ["hpf", "nohpf"])
@pytest.mark.parametrize("quirks", [False, True])
def test_official_file_loads_and_matches_reference(tmp_path, variant, quirks):
    kw = SMALL[variant]
    path, P, enc, dec = _official_file(tmp_path, kw, prefix_module=quirks, with_filter=quirks)
    nets = sg.build(**kw).eval()
    sg.load_official_checkpoint(nets, path)
    x, y, z, sty, masks = _inputs(kw)
    with torch.no_grad():
        m = masks if kw["w_hpf"] else None
        torch.testing.assert_close(nets.generator(x, sty, masks=m),
                                   ref_generator(P["generator"], enc, dec, x, sty, kw["w_hpf"], m),
                                   rtol=1e-5, atol=1e-5)
        if kw["w_hpf"]:  # without masks the skip is off
            torch.testing.assert_close(nets.generator(x, sty),
                                       ref_generator(P["generator"], enc, dec, x, sty, kw["w_hpf"]),
                                       rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(nets.mapping_network(z, y), ref_mapping(P["mapping_network"], z, y,
                                                                           kw["num_domains"]))
        torch.testing.assert_close(nets.style_encoder(x, y), ref_style_encoder(P["style_encoder"], x, y,
                                                                               kw["img_size"]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(nets.discriminator(x, y), ref_discriminator(P["discriminator"], x, y,
                                                                               kw["img_size"]), rtol=1e-5, atol=1e-5)


def test_license_is_noted_once(tmp_path, monkeypatch):
    import warnings

    from adaconv_gen.models.stargan_v2 import files as stargan_v2_files

    monkeypatch.setattr(stargan_v2_files, "_LICENSE_NOTED", False)
    kw = SMALL["nohpf"]
    path, _, _, _ = _official_file(tmp_path, kw)
    with pytest.warns(UserWarning, match="CC BY-NC 4.0"):
        sg.load_official_checkpoint(sg.build(**kw), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sg.load_official_checkpoint(sg.build(**kw), path)


@pytest.mark.parametrize("variant", ["hpf", "nohpf"])
def test_adaconv_loading_is_lossless(tmp_path, variant):
    kw = SMALL[variant]
    path, P, enc, dec = _official_file(tmp_path, kw)
    nets = sg.build(**kw, modulation="adaconv", style_channels=16).eval()
    g_before = nets.generator
    sg.load_official_checkpoint(nets, path)
    assert nets.generator is g_before  # loaded in place: optimisers built earlier stay valid
    from adaconv_gen.nn import AdaConv

    n_adaconv = sum(isinstance(m, AdaConv) for m in nets.generator.modules())
    assert n_adaconv == 2 * len(dec)
    # the non-modulation keys stay official
    g_layout, _, _ = gen_layout(kw["img_size"], kw["style_dim"], kw["max_conv_dim"], kw["w_hpf"], kw["base_dim"])
    assert set(g_layout) <= set(nets.generator.state_dict())
    x, y, z, sty, masks = _inputs(kw)
    m = masks if kw["w_hpf"] else None
    with torch.no_grad():
        ref = ref_generator(P["generator"], enc, dec, x, sty, kw["w_hpf"], m)
        out = nets.generator(x, sty, masks=m)
    assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_loader_reports_mismatches_clearly(tmp_path):
    kw = SMALL["nohpf"]
    path, P, _, _ = _official_file(tmp_path, kw)
    wrong = sg.build(**{**kw, "num_domains": 2})
    with pytest.raises(UserInputError, match="unexpected keys.*unshared.2"):
        sg.load_official_checkpoint(wrong, path)
    bad = tmp_path / "bad.ckpt"
    torch.save({"generator": P["generator"], "optimizer": {}}, bad)
    with pytest.raises(UserInputError, match="unexpected entries.*optimizer"):
        sg.load_official_checkpoint(sg.build(**kw), bad)
    extra = tmp_path / "extra.ckpt"
    torch.save({"generator": {**P["generator"], "decode.0.norm1.fc.scale": torch.zeros(1)}}, extra)
    with pytest.raises(UserInputError, match=r"generator weights.*unexpected keys \(1\): decode.0.norm1.fc.scale"):
        sg.load_official_checkpoint(sg.build(**kw), extra)


def test_ema_file_leaves_discriminator_and_loads_fan(tmp_path):
    kw = SMALL["hpf"]
    _, P, _, _ = _official_file(tmp_path, kw)
    fan_sd = random_weights(fan_layout(), torch.Generator().manual_seed(3))
    path = tmp_path / "000010_nets_ema.ckpt"
    torch.save({"generator": P["generator"], "mapping_network": P["mapping_network"],
                "style_encoder": P["style_encoder"], "fan": fan_sd}, path)
    nets = sg.build(**kw)
    d_before = {k: v.clone() for k, v in nets.discriminator.state_dict().items()}
    sg.load_official_checkpoint(nets, path)
    for k, v in nets.discriminator.state_dict().items():
        torch.testing.assert_close(v, d_before[k], rtol=0, atol=0)
    assert nets.fan is not None
    for k, v in nets.fan.state_dict().items():
        torch.testing.assert_close(v, fan_sd[k], rtol=0, atol=0)


def test_load_fan_from_wing_file(tmp_path, monkeypatch):
    sd = random_weights(fan_layout(), torch.Generator().manual_seed(4))
    path = tmp_path / "wing.ckpt"
    torch.save({"state_dict": {**sd, "extra.unused": torch.zeros(2)}, "epoch": 3}, path)
    monkeypatch.setenv("ADACONV_WING_WEIGHTS", str(path))
    fan = load_fan()
    assert not fan.training
    for k, v in fan.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)
    m1, m2 = fan.get_heatmap(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert m1.shape == m2.shape == (1, 1, 256, 256)
    assert 0 <= float(m1.min()) and float(m1.max()) <= 1 and 0 <= float(m2.min()) and float(m2.max()) <= 1
    torch.save({"state_dict": {"conv1.conv.weight": sd["conv1.conv.weight"]}}, tmp_path / "half.ckpt")
    with pytest.raises(UserInputError, match="missing"):
        load_fan(tmp_path / "half.ckpt")
    monkeypatch.delenv("ADACONV_WING_WEIGHTS")
    with pytest.raises(UserInputError, match="wing.ckpt"):
        load_fan()


def _ref_masks(hm):
    """The heatmap post-processing restated with explicit row permutations."""
    x = torch.where(hm < 0.1, torch.zeros_like(hm), hm).clone()
    n, c, h, w = x.shape
    for b in range(n):
        for ch in range(c):
            v = x[b, ch]
            x[b, ch] = (v - v.min()) / (v.max() - v.min() + 1e-6)

    def shift(t, k):  # rows i <- (i + k) mod H
        return t[:, :, [(i + k) % h for i in range(h)], :]

    for (s, e), k, p in (((8, 25), 0, 3), ((33, 51), -7, 2), ((55, 60), 8, 4), ((77, 82), -8, 4),
                         ((83, 88), 8, 4), ((88, 96), -2, 3)):
        x[:, s:e] = shift(x[:, s:e], k) ** p
    for ch in list(range(0, 8)) + list(range(25, 33)) + [33, 46, 76, 82]:
        x[:, ch] = 0
    x[:, 52:55] = shift(x[:, 52:55], 4)
    x[:, 60:76] = shift(x[:, 60:76], -8) ** 3 + shift(x[:, 60:76], -24)
    x2 = x.clone()
    x2[:, 8:25] = 0
    x2[:, 76:96] = 0
    x2[:, 33:51] = 0
    return x.sum(1, keepdim=True).clamp(0, 1), x2.sum(1, keepdim=True).clamp(0, 1)


def test_heatmaps_to_masks_matches_plain_restatement():
    hm = torch.rand(2, 98, 256, 256, generator=torch.Generator().manual_seed(5)) ** 4
    for a, b in zip(heatmaps_to_masks(hm), _ref_masks(hm)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("modulation", ["adain", "adaconv"])
def test_save_and_from_pretrained_round_trip(tmp_path, modulation):
    kw = SMALL["nohpf"]
    extra = {"style_channels": 16} if modulation == "adaconv" else {}
    nets = sg.build(**kw, modulation=modulation, **extra).eval()
    if modulation == "adaconv":  # make the predicted kernels non-trivial
        with torch.no_grad():
            for p in nets.generator.parameters():
                p.add_(0.01 * torch.randn_like(p))
    sg.save_pretrained(nets, tmp_path / "m")
    back = sg.from_pretrained(tmp_path / "m")
    assert back.discriminator is None and back.config["modulation"] == modulation
    x, y, z, sty, _ = _inputs(kw)
    with torch.no_grad():
        torch.testing.assert_close(back.generator(x, sty), nets.generator(x, sty), rtol=0, atol=0)
        torch.testing.assert_close(back.mapping_network(z, y), nets.mapping_network(z, y), rtol=0, atol=0)
        torch.testing.assert_close(back.style_encoder(x, y), nets.style_encoder(x, y), rtol=0, atol=0)
    with pytest.raises(UserInputError, match="config.json missing"):
        sg.from_pretrained(tmp_path)


def test_build_rejects_unknown_modulation():
    with pytest.raises(ValueError, match="'adain', 'adaconv'"):
        sg.build(img_size=32, modulation="spade", device="meta")


def test_he_init_before_swap_keeps_adaconv_identity():
    nets = sg.build(**SMALL["nohpf"], modulation="adaconv", style_channels=16)
    from adaconv_gen.nn import AdaConv

    for m in nets.generator.modules():
        if isinstance(m, AdaConv):
            for p in m.predictor.parameters():
                assert torch.count_nonzero(p) == 0


@pytest.mark.parametrize("name", list(sg.OFFICIAL_CONFIGS))
def test_config_inferred_from_official_file(name):
    cfg = sg.OFFICIAL_CONFIGS[name]
    nets = sg.build(**cfg, device="meta", init=False)
    ckpt = {n: getattr(nets, n).state_dict() for n in ("generator", "mapping_network", "style_encoder")}
    got = sg.config_from_official_file(ckpt)
    assert got == {**cfg, "hidden_dim": 512, "max_conv_dim": 512}
