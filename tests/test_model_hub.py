"""The Hugging Face Hub model format (adaconv_gen.models.hub) for the three model families:
round trips, strict loading, the model card, atomic folders and modes, Hub ids from the cache.

Nothing here touches the network: conftest sets ``HF_HUB_OFFLINE=1`` and an empty ``HF_HOME``;
the Hub-id tests lay out a cache folder the way the Hub client does and run in a subprocess
whose environment points at it before huggingface_hub is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file
from torch import nn

from adaconv_gen.errors import UserInputError
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.models.hub import resolve_model_source
from adaconv_gen.models.style_transfer import (
    AdaConvStyleTransfer,
    AdaINStyleTransfer,
    StyleTransferModel,
)
from adaconv_gen.models.stylegan import Generator
from adaconv_gen.models.vgg import write_random_vgg19_weights

REPO = Path(__file__).resolve().parents[1]
STARGAN = dict(img_size=16, w_hpf=0, num_domains=2, base_dim=4, max_conv_dim=8, style_dim=4,
               latent_dim=4, hidden_dim=8)
TRAINING = {"command": "accelerate launch recipes/stylegan.py --train_dir data/ffhq --max_train_steps 300",
            "step": 300}


def _perturb(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))


def _stargan(modulation: str = "adaconv", **kw) -> sg.StarGANv2:
    torch.manual_seed(0)
    extra = {"style_channels": 4} if modulation == "adaconv" else {}
    nets = sg.build(**STARGAN, modulation=modulation, **{"discriminator": False, **extra, **kw})
    _perturb(nets.generator)  # non-trivial predicted kernels
    return nets.eval()


def _stylegan(modulation: str = "adaconv") -> Generator:
    torch.manual_seed(1)
    G = Generator(8, style_dim=8, n_mlp=2, channels=4, modulation=modulation)
    G.mapping.w_avg.normal_()
    return G.eval()


def _style(kind: str = "adaconv") -> StyleTransferModel:
    torch.manual_seed(2)
    if kind == "adaconv":
        m = AdaConvStyleTransfer(vgg_weights="random", channels=(512, 8, 4, 4), style_channels=4, style_hidden=8)
    else:
        m = AdaINStyleTransfer(vgg_weights="random", channels=(512, 8, 4, 4))
    _perturb(m, 3)
    return m.eval()


def _load_style(folder, cls=StyleTransferModel):
    with pytest.warns(UserWarning, match="pipeline check"):  # these tiny models use a random VGG
        return cls.from_pretrained(folder)


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("modulation", ["adain", "adaconv"])
def test_stargan_v2_round_trip_same_outputs_in_float64(tmp_path, modulation):
    nets = _stargan(modulation)
    nets.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    back = sg.StarGANv2.from_pretrained(tmp_path / "m")
    assert isinstance(back, sg.StarGANv2) and not back.training
    assert back.discriminator is None and back.fan is None
    assert back.config == nets.config
    _same_weights(back.state_dict(), nets.state_dict())
    nets, back = nets.double(), back.double()
    x, z, y = _rand(2, 3, 16, 16).double(), torch.randn(2, 4, dtype=torch.float64), torch.tensor([0, 1])
    with torch.no_grad():
        s = nets.mapping_network(z, y)
        assert torch.equal(back.mapping_network(z, y), s)
        assert torch.equal(back.generator(x, s), nets.generator(x, s))
        assert torch.equal(back.style_encoder(x, y), nets.style_encoder(x, y))


def test_stargan_v2_saves_the_discriminator_when_asked(tmp_path):
    nets = _stargan("adain", discriminator=True)
    sg.save_pretrained(nets, tmp_path / "m", names=("generator", "mapping_network", "style_encoder", "discriminator"))
    back = sg.from_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["networks"][-1] == "discriminator"
    _same_weights(back.discriminator.state_dict(), nets.discriminator.state_dict())


@pytest.mark.parametrize("modulation", ["modconv", "adain", "adaconv"])
def test_stylegan_round_trip_same_outputs_in_float64(tmp_path, modulation):
    G = _stylegan(modulation)
    G.save_pretrained(tmp_path / "g")
    H = Generator.from_pretrained(tmp_path / "g")
    assert H.config == G.config
    _same_weights(H.state_dict(), G.state_dict())
    z = torch.randn(2, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(H.double()(z, truncation_psi=0.7, noise_mode="const"),
                           G.double()(z, truncation_psi=0.7, noise_mode="const"))


@pytest.mark.parametrize("kind", ["adaconv", "adain"])
def test_style_transfer_round_trip_same_outputs(tmp_path, kind):
    m = _style(kind)
    m.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model_type"] == kind and cfg["encoder_weights"] == "random"
    m2 = _load_style(tmp_path / "m")
    assert type(m2) is type(m)
    _same_weights(m2.state_dict(), m.state_dict())
    c, s = _rand(1, 3, 21, 30, seed=1), _rand(1, 3, 16, 16, seed=2)
    with torch.no_grad():
        assert torch.equal(m2(c, s), m(c, s))
    # the concrete class loads its own kind, and says so for the other
    assert type(_load_style(tmp_path / "m", type(m))) is type(m)
    other = AdaINStyleTransfer if kind == "adaconv" else AdaConvStyleTransfer
    with pytest.raises(UserInputError, match=f"model_type {kind!r}, not {other.model_type!r}"):
        other.from_pretrained(tmp_path / "m")


def test_config_holds_no_local_paths(tmp_path):
    vgg_file = write_random_vgg19_weights(tmp_path / "weights" / "vgg19-dcbb9e9d.pth")
    m = AdaINStyleTransfer(vgg_weights=vgg_file, channels=(512, 8, 4, 4))
    m.save_pretrained(tmp_path / "m")
    text = (tmp_path / "m" / "config.json").read_text()
    assert str(Path(vgg_file).parent) not in text and Path(vgg_file).name not in text
    assert json.loads(text)["encoder_weights"] == "vgg19"
    back = StyleTransferModel.from_pretrained(tmp_path / "m")  # no warning: a real encoder
    back.save_pretrained(tmp_path / "m2")
    assert json.loads((tmp_path / "m2" / "config.json").read_text())["encoder_weights"] == "vgg19"


# ---------------------------------------------------------------------------- strict loading
def _rewrite_weights(folder: Path, drop: str, add: str) -> None:
    t = load_file(str(folder / "model.safetensors"))
    t.pop(drop)
    t[add] = torch.zeros(1)
    save_file(t, str(folder / "model.safetensors"))


@pytest.mark.parametrize("family", ["stargan_v2", "stylegan", "style_transfer"])
def test_missing_or_unexpected_keys_are_named(tmp_path, family):
    model = {"stargan_v2": _stargan, "stylegan": _stylegan, "style_transfer": _style}[family]()
    model.save_pretrained(tmp_path / "m")
    drop = sorted(load_file(str(tmp_path / "m" / "model.safetensors")))[-1]
    _rewrite_weights(tmp_path / "m", drop, "extra.weight")
    cls = type(model)
    with pytest.raises(UserInputError) as e, pytest.warns(UserWarning) if family == "style_transfer" else _no_warning():
        cls.from_pretrained(tmp_path / "m")
    msg = str(e.value)
    assert f"missing keys: {drop}" in msg and "unexpected keys: extra.weight" in msg
    assert "model.safetensors" in msg and "\n" not in msg


class _no_warning:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_wrong_shapes_and_missing_files_are_named(tmp_path):
    G = _stylegan()
    G.save_pretrained(tmp_path / "g")
    t = load_file(str(tmp_path / "g" / "model.safetensors"))
    t["mapping.w_avg"] = torch.zeros(3)
    save_file(t, str(tmp_path / "g" / "model.safetensors"))
    with pytest.raises(UserInputError, match=r"shape mismatch: mapping.w_avg file \(3,\) vs model \(8,\)"):
        Generator.from_pretrained(tmp_path / "g")
    (tmp_path / "g" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="cannot read weights .*model.safetensors"):
        Generator.from_pretrained(tmp_path / "g")
    (tmp_path / "g" / "model.safetensors").unlink()
    with pytest.raises(UserInputError, match="not a saved StyleGAN generator: model.safetensors missing"):
        Generator.from_pretrained(tmp_path / "g")
    (tmp_path / "h").mkdir()
    with pytest.raises(UserInputError, match="config.json missing"):
        sg.StarGANv2.from_pretrained(tmp_path / "h")


# ---------------------------------------------------------------------------- the model card
def _card(folder: Path) -> tuple[dict, str]:
    card = ModelCard.load(folder / "README.md")
    return card.data.to_dict(), card.text


def test_card_metadata_config_training_and_project_license(tmp_path):
    G = _stylegan("modconv")
    evaluation = {"data": "FFHQ 64 px, 1000 real images", "metrics": {"FID (1000 samples)": 42.5}}
    G.save_pretrained(tmp_path / "g", training=TRAINING, evaluation=evaluation)
    meta, text = _card(tmp_path / "g")
    assert meta["library_name"] == "adaconv-gen" and meta["license"] == "mit"
    assert {"adaconv-gen", "stylegan", "modconv"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert meta["adaconv_gen"]["training"] == TRAINING
    assert TRAINING["command"] in text and "- step: 300" in text
    assert "| FID (1000 samples) | 42.5 |" in text and "FFHQ 64 px, 1000 real images" in text
    assert json.dumps(G.config, indent=2, sort_keys=True) in text  # the config, as stored
    assert "## License\n\nMIT" in text and "CC BY-NC" not in text
    assert 'Generator.from_pretrained("user/name")' in text


def test_card_without_recipe_says_so(tmp_path):
    m = _style("adain")
    m.save_pretrained(tmp_path / "m")
    meta, text = _card(tmp_path / "m")
    assert meta["license"] == "mit" and {"style-transfer", "adain"} <= set(meta["tags"])
    assert text.lstrip().startswith("# AdaIN style transfer") and "pipeline check (random VGG-19" in text
    assert "adaconv_gen" not in meta
    assert "Not recorded: this folder was not written by a training recipe." in text
    assert "No evaluation recorded." in text


def test_official_weights_make_the_folder_cc_by_nc(tmp_path):
    src = _stargan("adain")
    ckpt = {name: getattr(src, name).state_dict() for name in ("generator", "mapping_network", "style_encoder")}
    torch.save(ckpt, tmp_path / "100000_nets_ema.ckpt")
    nets = sg.build(**STARGAN, modulation="adaconv", style_channels=4, discriminator=False)
    with pytest.warns(UserWarning, match="CC BY-NC"):
        sg.load_official_checkpoint(nets, tmp_path / "100000_nets_ema.ckpt")
    assert nets.config["initialized_from"] == "clovaai/stargan-v2"
    nets.save_pretrained(tmp_path / "m", training={"command": "accelerate launch recipes/stargan_v2.py "
                                                   "--init_from_official 100000_nets_ema.ckpt", "step": 50})
    meta, text = _card(tmp_path / "m")
    assert meta["license"] == "cc-by-nc-4.0" and {"stargan-v2", "adaconv"} <= set(meta["tags"])
    assert "CC BY-NC 4.0" in text and "official StarGAN v2 weights" in text and "--init_from_official" in text
    # the provenance travels with the folder: loaded and saved again, still CC BY-NC
    back = sg.StarGANv2.from_pretrained(tmp_path / "m")
    assert back.config["initialized_from"] == "clovaai/stargan-v2"
    back.save_pretrained(tmp_path / "m2")
    meta2, text2 = _card(tmp_path / "m2")
    assert meta2["license"] == "cc-by-nc-4.0" and "--init_from_official" in text2
    # trained from scratch: the project's license
    _stargan("adain").save_pretrained(tmp_path / "scratch")
    assert _card(tmp_path / "scratch")[0]["license"] == "mit"


def test_folder_holding_the_fan_is_cc_by_nc(tmp_path):
    nets = _stargan("adain")
    nets.fan = nn.Linear(2, 2)  # stands in for the FAN: what matters is that its weights are saved
    nets.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["networks"][-1] == "fan"
    assert any(k.startswith("fan.") for k in load_file(str(tmp_path / "m" / "model.safetensors")))
    meta, text = _card(tmp_path / "m")
    assert meta["license"] == "cc-by-nc-4.0" and "`wing.ckpt`" in text and "official StarGAN" not in text


def test_resave_rewrites_the_card(tmp_path):
    G = _stylegan()
    G.save_pretrained(tmp_path / "g", training={**TRAINING, "step": 100})
    assert "- step: 100" in _card(tmp_path / "g")[1]
    G.save_pretrained(tmp_path / "g", training={**TRAINING, "step": 200})
    meta, text = _card(tmp_path / "g")
    assert "- step: 200" in text and "- step: 100" not in text and meta["adaconv_gen"]["training"]["step"] == 200
    # loaded and saved elsewhere without new information, the training record is kept
    H = Generator.from_pretrained(tmp_path / "g")
    H.save_pretrained(tmp_path / "h")
    assert _card(tmp_path / "h")[0]["adaconv_gen"]["training"]["step"] == 200


# ---------------------------------------------------------------------------- atomic folders, modes, stdout
def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        _stylegan().save_pretrained(tmp_path / "g")
    finally:
        os.umask(old)
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o755
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "g").iterdir()}
    assert modes == {"README.md": 0o644, "config.json": 0o644, "model.safetensors": 0o644}


def test_save_is_atomic_and_refuses_non_model_folders(tmp_path, monkeypatch):
    G = _stylegan()
    G.save_pretrained(tmp_path / "g", training=TRAINING)
    before = {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()}

    def boom(self, save_directory):
        (Path(save_directory) / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Generator, "_save_pretrained", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        G.save_pretrained(tmp_path / "g")
    assert {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # no temporary folder left
    monkeypatch.undo()
    run = tmp_path / "run"
    (run / "checkpoint-10").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    with pytest.raises(UserInputError, match="is not a model folder"):
        G.save_pretrained(run)
    assert (run / "checkpoint-10").is_dir()


def test_loading_a_local_folder_prints_nothing(tmp_path, capfd):
    _stargan().save_pretrained(tmp_path / "s")
    _stylegan().save_pretrained(tmp_path / "g")
    _style().save_pretrained(tmp_path / "t")
    capfd.readouterr()
    sg.StarGANv2.from_pretrained(tmp_path / "s")
    Generator.from_pretrained(tmp_path / "g")
    _load_style(tmp_path / "t")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------------------- Hub ids
def test_missing_folder_or_id_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    assert hc.is_offline_mode()  # conftest: never the network
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(UserInputError) as e:
        resolve_model_source("runs/modle")
    assert str(e.value) == "--model runs/modle: no such folder, and not a Hub id in the local cache"
    with pytest.raises(UserInputError) as e:
        resolve_model_source(str(tmp_path / "no" / "such" / "folder"), flag="--checkpoint")
    assert str(e.value) == f"--checkpoint {tmp_path}/no/such/folder: no such folder, and not a Hub id in the local cache"
    with pytest.raises(UserInputError, match="^user/nothing: no such folder, and not a Hub id in the local cache$"):
        Generator.from_pretrained("user/nothing")
    with pytest.raises(UserInputError, match="^--checkpoint user/nothing: no such folder"):
        sg.load_for_inference("user/nothing")
    assert resolve_model_source(tmp_path) == tmp_path  # a folder is returned as is


def _lay_out_cache(hub_cache: Path, repo_id: str, folder: Path) -> Path:
    """What ``snapshot_download`` leaves in the cache: blobs, a snapshot of links, refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for i, f in enumerate(sorted(folder.iterdir())):
        blob = repo / "blobs" / f"{i:040x}"
        shutil.copy(f, blob)
        (snap / f.name).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snap


SUBPROCESS = textwrap.dedent('''
    import json, sys
    import torch
    from adaconv_gen.errors import UserInputError
    from adaconv_gen.models.hub import resolve_model_source
    from adaconv_gen.models.stylegan import Generator
    from adaconv_gen.models import stargan_v2 as sg
    out = {"snapshot": str(resolve_model_source("user/tiny-stylegan"))}
    G = Generator.from_pretrained("user/tiny-stylegan")
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out["image"] = G(z, noise_mode="const").flatten().tolist()
    nets = sg.load_for_inference("user/tiny-stargan")
    out["stargan_license_config"] = nets.config.get("initialized_from")
    try:
        resolve_model_source("user/not-cached")
    except UserInputError as e:
        out["error"] = str(e)
    print(json.dumps(out))
''')


@pytest.mark.parametrize("layout", ["HF_HUB_CACHE", "HF_HOME"])
def test_hub_id_resolves_offline_from_the_cache(tmp_path, layout):
    G = _stylegan()
    G.save_pretrained(tmp_path / "g")
    _stargan().save_pretrained(tmp_path / "s")
    hub_cache = tmp_path / "cache" if layout == "HF_HUB_CACHE" else tmp_path / "home" / "hub"
    snap = _lay_out_cache(hub_cache, "user/tiny-stylegan", tmp_path / "g")
    _lay_out_cache(hub_cache, "user/tiny-stargan", tmp_path / "s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env[layout] = str(tmp_path / "cache" if layout == "HF_HUB_CACHE" else tmp_path / "home")
    r = subprocess.run([sys.executable, "-c", SUBPROCESS], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["snapshot"]) == snap.resolve() or Path(out["snapshot"]) == snap
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert out["image"] == G(z, noise_mode="const").flatten().tolist()
    assert out["stargan_license_config"] is None
    assert out["error"] == "--model user/not-cached: no such folder, and not a Hub id in the local cache"


def test_push_to_hub_uploads_the_saved_folder_with_its_card(tmp_path, monkeypatch):
    """push_to_hub goes through save_pretrained (card included); the Hub API is replaced by a
    recorder, so nothing leaves the machine."""
    import huggingface_hub.hub_mixin as hm

    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            folder = Path(folder_path)
            uploads.append((repo_id, {p.name: p.read_bytes() for p in folder.iterdir()}))
            return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(hm, "HfApi", FakeApi)
    G = _stylegan()
    G.save_pretrained(tmp_path / "g", training=TRAINING)
    H = Generator.from_pretrained(tmp_path / "g")
    assert H.push_to_hub("user/tiny").endswith("/commit/0")
    (repo_id, files), = uploads
    assert repo_id == "user/tiny" and sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert files["config.json"] == (tmp_path / "g" / "config.json").read_bytes()
    assert files["model.safetensors"] == (tmp_path / "g" / "model.safetensors").read_bytes()
    assert TRAINING["command"].encode() in files["README.md"]  # the training record travels
    assert b'from_pretrained("user/tiny")' in files["README.md"]
