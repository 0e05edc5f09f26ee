"""Folders written by the first model format (hand-written config.json + model.safetensors, no
model card) still load, and compute what they computed when they were written.

``tests/fixtures/format_v0/`` was written by that code: a tiny StarGAN v2 (AdaConv) and a tiny
StyleGAN generator, with ``expected_outputs.safetensors`` holding their outputs on fixed inputs
at the time. The style-transfer model embeds the 14 MB VGG-19 encoder, so only its
``config.json`` is kept; its weights file (whose layout did not change) is written by the test.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.models.style_transfer import AdaConvStyleTransfer, load_style_transfer_model
from adaconv_gen.models.stylegan import Generator

V0 = Path(__file__).parent / "fixtures" / "format_v0"


@pytest.fixture(scope="module")
def expected():
    return load_file(str(V0 / "expected_outputs.safetensors"))


def _same_state(module, path):
    sd, file = module.state_dict(), load_file(str(path))
    assert sd.keys() == file.keys()
    assert all(torch.equal(sd[k], file[k]) for k in sd)


def test_stargan_v2_v0_folder_loads(expected):
    nets = sg.from_pretrained(V0 / "stargan_v2")
    assert nets.config["modulation"] == "adaconv" and nets.discriminator is None
    e = expected
    with torch.no_grad():
        s = nets.mapping_network(e["z"], e["y"])
        assert torch.equal(s, e["stargan_style"])
        assert torch.equal(nets.generator(e["x"], s), e["stargan_image"])
        assert torch.equal(nets.style_encoder(e["x"], e["y"]), e["stargan_encoded"])


def test_stylegan_v0_folder_loads(expected):
    G = Generator.from_pretrained(V0 / "stylegan")
    _same_state(G, V0 / "stylegan" / "model.safetensors")
    with torch.no_grad():
        assert torch.equal(G(expected["zg"], truncation_psi=0.7, noise_mode="const"), expected["stylegan_image"])


def test_style_transfer_v0_config_loads(tmp_path):
    cfg = json.loads((V0 / "style_transfer" / "config.json").read_text())
    kw = {k: v for k, v in cfg.items() if k not in ("model_type", "encoder_weights")}
    torch.manual_seed(0)
    m = AdaConvStyleTransfer(vgg_weights="random", **kw).eval()
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(V0 / "style_transfer" / "config.json", folder / "config.json")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(folder / "model.safetensors"))
    with pytest.warns(UserWarning, match="pipeline check"):
        m2 = load_style_transfer_model(folder)
    assert type(m2) is AdaConvStyleTransfer
    _same_state(m2, folder / "model.safetensors")
    g = torch.Generator().manual_seed(3)
    c, s = torch.rand(1, 3, 24, 24, generator=g) * 2 - 1, torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        assert torch.equal(m2(c, s), m(c, s))


def test_v0_folder_saved_again_is_in_the_hub_format(tmp_path, expected):
    G = Generator.from_pretrained(V0 / "stylegan")
    G.save_pretrained(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    assert "architecture" not in cfg and cfg["modulation"] == "adaconv"
    assert (tmp_path / "g" / "README.md").read_text().startswith("---\nlibrary_name: adaconv-gen\n")
    with torch.no_grad():
        assert torch.equal(Generator.from_pretrained(tmp_path / "g")(expected["zg"], truncation_psi=0.7,
                                                                       noise_mode="const"),
                           expected["stylegan_image"])
    nets = sg.from_pretrained(V0 / "stargan_v2")
    nets.save_pretrained(tmp_path / "s")
    same = json.loads((V0 / "stargan_v2" / "config.json").read_text())  # the same hyper-parameters
    assert json.loads((tmp_path / "s" / "config.json").read_text()) == same
