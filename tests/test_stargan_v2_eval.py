"""The StarGAN v2 evaluation protocol and the translate tool, on a tiny model with random weights files."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
import torchvision

from adaconv_gen.data.domains import eval_transform
from adaconv_gen.data.images import list_images, load_rgb
from adaconv_gen.data.synthetic import write_domain_dataset
from adaconv_gen.models import stargan_v2 as sg

KW = dict(img_size=32, w_hpf=0, num_domains=2, base_dim=8, max_conv_dim=16, style_dim=8, hidden_dim=16,
          latent_dim=4)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sg_eval")
    data = write_domain_dataset(tmp / "d", domains=("dots", "stripes"), n_train=3, n_val=3, size=32, seed=2)
    from adaconv_gen.metrics.random_weights import random_fid_inception

    random_fid_inception(tmp / "inception.pth", seed=0)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp / "alexnet.pth")
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))},
               tmp / "alex.pth")
    torch.manual_seed(1)
    nets = sg.build(**KW, modulation="adaconv", style_channels=8).eval()
    nets.config["domains"] = ["dots", "stripes"]
    sg.save_pretrained(nets, tmp / "model")
    return tmp, data, nets


def test_protocol_through_the_cli(setup):
    from adaconv_gen.cli.eval_stargan import main
    from adaconv_gen.metrics import LPIPS, fid_from_sources

    tmp, data, nets = setup
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(tmp / "model"), "--train-dir", str(data / "train"), "--val_dir",
              str(data / "val"), "--mode", "both", "--num-outs", "2", "--device", "cpu", "--seed", "5",
              "--images-dir", str(tmp / "imgs"), "--batch-size", "2",
              "--inception-weights", str(tmp / "inception.pth"), "--lpips-weights", str(tmp / "alex.pth"),
              "--alexnet-weights", str(tmp / "alexnet.pth")])
    assert e.value.code == 0
    res = json.loads((tmp / "model" / "eval_both.json").read_text())
    tasks = ["stripes2dots", "dots2stripes"]
    assert set(res) == {"preset", "num_outs"} | {f"{m}_{mode}/{t}" for m in ("FID", "LPIPS")
                                                 for mode in ("latent", "reference") for t in tasks + ["mean"]}
    for t in tasks:
        assert len(list((tmp / "imgs" / "latent" / t).glob("*.png"))) == 3 * 2  # 3 val images x 2 outputs
    # FID of a task against the *training* images of its target domain; means over tasks
    fid = fid_from_sources(data / "train" / "stripes", tmp / "imgs" / "reference" / "dots2stripes",
                           weights=tmp / "inception.pth", device="cpu", progress=False)
    assert res["FID_reference/dots2stripes"] == pytest.approx(fid, rel=1e-6)
    for m in ("FID_latent", "LPIPS_reference"):
        assert res[f"{m}/mean"] == pytest.approx((res[f"{m}/stripes2dots"] + res[f"{m}/dots2stripes"]) / 2)
    assert res["LPIPS_reference/mean"] > 0
    # LPIPS diversity restated: same seed, target-major order, batches of 2, one fresh z per output
    lp = LPIPS.from_files(tmp / "alexnet.pth", tmp / "alex.pth")
    tf = eval_transform(32)
    g = torch.Generator().manual_seed(5)
    names = ["dots", "stripes"]
    with torch.no_grad():
        for trg, src in ((0, 1), (1, 0)):
            xs = torch.stack([tf(load_rgb(p)) for p in list_images(data / "val" / names[src])])
            vals = []
            for b0 in (0, 2):
                x = xs[b0:b0 + 2]
                y = torch.full((x.size(0),), trg)
                outs = [nets.generator(x, nets.mapping_network(torch.randn(x.size(0), 4, generator=g), y))
                        for _ in range(2)]
                vals.append(torch.stack([lp(a, b).mean() for a, b in itertools.combinations(outs, 2)]).mean().item())
            assert res[f"LPIPS_latent/{names[src]}2{names[trg]}"] == pytest.approx(sum(vals) / 2, rel=1e-5)


def test_lpips_only(setup):
    from adaconv_gen.evaluation.stargan_v2 import evaluate

    tmp, data, nets = setup
    res = evaluate(nets, data / "train", data / "val", mode="latent", num_outs=3, device="cpu", fid=False,
                   lpips_weights=tmp / "alex.pth", alexnet_weights=tmp / "alexnet.pth", seed=5)
    assert set(res) == {"preset", "num_outs", "LPIPS_latent/stripes2dots", "LPIPS_latent/dots2stripes",
                        "LPIPS_latent/mean"}
    assert res["preset"] is None and res["LPIPS_latent/mean"] > 0


def test_translate_tool(setup, capsys):
    from adaconv_gen.cli.stargan_translate import main

    tmp, data, nets = setup
    out = tmp / "tr"
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(tmp / "model"), "--src", str(data / "val" / "dots"), "--latent", "3",
              "--domain", "stripes", "--output-dir", str(out / "lat"), "--device", "cpu"])
    assert e.value.code == 0
    assert len(list((out / "lat").glob("*__stripes__seed0-z*.png"))) == 3 * 3
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(tmp / "model"), "--src", str(data / "val" / "dots"),
              "--ref", str(data / "val" / "stripes"), "--output-dir", str(out / "ref"), "--device", "cpu"])
    assert e.value.code == 0
    files = sorted((out / "ref").glob("*.png"))
    assert len(files) == 3 * 3
    # the written image is the generator's output for that source and reference
    tf = eval_transform(32)
    src, ref = list_images(data / "val" / "dots")[0], list_images(data / "val" / "stripes")[1]
    with torch.no_grad():
        y = nets.generator(tf(load_rgb(src))[None], nets.style_encoder(tf(load_rgb(ref))[None], torch.tensor([1])))
    want = ((y[0].clamp(-1, 1) + 1) * 127.5).round()
    got = torchvision.io.read_image(str(out / "ref" / f"{src.stem}__stripes__{ref.stem}.png")).float()
    assert (got - want).abs().max() <= 1
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(tmp / "model"), "--src", str(src), "--latent", "1", "--domain", "cats",
              "--output-dir", str(out / "x")])
    assert e.value.code == 2
    assert "unknown domain 'cats'" in capsys.readouterr().err
