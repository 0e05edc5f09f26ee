"""``recipes/stargan_v2.py`` as a user runs it (two processes through the launcher, then a resume
through ``python recipes/stargan_v2.py``): checkpoints, resume, EMA, samples."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from adaconv_gen.data.synthetic import write_domain_dataset

TINY = ["--img_size", "32", "--base_dim", "8", "--max_conv_dim", "16", "--hidden_dim", "16",
        "--style_dim", "8", "--latent_dim", "4", "--style_channels", "8", "--batch_size", "2",
        "--num_workers", "0", "--cpu_threads", "1", "--modulation", "adaconv", "--lambda_ds", "2",
        "--ds_iter", "4", "--ema_decay", "0.5", "--logging_steps", "1", "--sample_steps", "1",
        "--checkpointing_steps", "1", "--seed", "3"]


@pytest.fixture
def data(tmp_path):
    root = write_domain_dataset(tmp_path / "d", domains=("dots", "stripes"), n_train=4, n_val=2, size=32, seed=1)
    (root / "train" / "dots" / "broken.png").write_bytes(b"not a png")
    return root


def _logs(out):
    return [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_train_checkpoint_resume(recipe, data, tmp_path):
    from adaconv_gen.models import stargan_v2 as sg

    out = tmp_path / "run"
    # start from a file in the official format (random weights, AdaIN), converted to AdaConv on load
    torch.manual_seed(7)
    official = sg.build(img_size=32, base_dim=8, max_conv_dim=16, hidden_dim=16, style_dim=8, latent_dim=4,
                        num_domains=2, w_hpf=0)
    torch.save({n: getattr(official, n).state_dict() for n in sg.NETWORK_NAMES}, tmp_path / "000005_nets.ckpt")
    common = ["--train_dir", str(data / "train"), "--val_dir", str(data / "val"), "--output_dir", str(out), *TINY]
    res = recipe("stargan_v2.py", *common, "--max_train_steps", "2",
                 "--init_from_official", str(tmp_path / "000005_nets.ckpt"), processes=2)
    # one iteration of Adam (lr 1e-4, two steps per network at most) moved every weight by < 5e-4
    g1 = load_file(str(out / "checkpoint-1" / "model.safetensors"))
    d1 = load_file(str(out / "checkpoint-1" / "model_3.safetensors"))
    for mine, ref in ((g1, official.generator.state_dict()), (d1, official.discriminator.state_dict())):
        for k, v in ref.items():
            assert (mine[k] - v).abs().max() < 5e-4, k
    assert "broken.png" in res.stderr  # skipped with a warning naming it
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert all((out / f"checkpoint-{i}" / "COMPLETE").is_file() for i in (1, 2))
    for step in (1, 2):
        for kind in ("latent", "reference"):
            assert (out / "samples" / f"step-{step:07d}-{kind}.png").stat().st_size > 100
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["flags"]["modulation"] == "adaconv" and cfg["flags"]["max_train_steps"] == 2
    assert cfg["flags"]["dataloader_num_workers"] == 0  # given as the official --num_workers
    assert cfg["num_processes"] == 2  # two processes really ran, each saved its random state
    assert sorted(p.name for p in (out / "checkpoint-2").glob("random_states_*.pkl")) == [
        "random_states_0.pkl", "random_states_1.pkl"]

    res = recipe("stargan_v2.py", *common, "--max_train_steps", "3", "--resume_from_checkpoint", "latest")
    assert "resuming from" in res.stdout + res.stderr
    logs = _logs(out)
    assert [r["step"] for r in logs] == [1, 2, 3]  # no step repeated
    # lambda_ds of iteration k (0-based) is 2 * (1 - k / 4): restored from the step, not restarted
    assert [r["G/lambda_ds"] for r in logs] == pytest.approx([2.0, 1.5, 1.0])
    # EMA restored: ema_3 = 0.5 * ema_2 + 0.5 * generator_3
    ema2 = load_file(str(out / "checkpoint-2" / "ema" / "model.safetensors"))
    ema3 = load_file(str(out / "checkpoint-3" / "ema" / "model.safetensors"))
    g3 = load_file(str(out / "checkpoint-3" / "model.safetensors"))
    params = [k for k in g3 if not k.startswith("hpf")]
    assert params
    for k in params:
        torch.testing.assert_close(ema3[f"generator.{k}"], 0.5 * ema2[f"generator.{k}"] + 0.5 * g3[k],
                                   rtol=1e-5, atol=1e-6)
    assert (out / "model" / "config.json").is_file() and (out / "checkpoint-3" / "ema" / "config.json").is_file()


def test_domain_mismatch_is_an_error(data):
    from adaconv_gen.data.domains import check_domains
    from adaconv_gen.errors import UserInputError

    assert check_domains(data / "train", data / "val") == ["dots", "stripes"]
    (data / "val" / "rings").mkdir()
    with pytest.raises(UserInputError, match=r"train and val domains differ.*\['dots', 'rings', 'stripes'\]"):
        check_domains(data / "train", data / "val")


def test_empty_domain_is_an_error(data):
    from adaconv_gen.data.domains import DomainDataset
    from adaconv_gen.errors import UserInputError

    (data / "train" / "rings").mkdir()
    (data / "train" / "rings" / "bad.jpg").write_bytes(b"xx")
    with pytest.warns(UserWarning, match="bad.jpg"), pytest.raises(UserInputError, match="'rings' has no readable"):
        DomainDataset(data / "train")


def test_reference_pairs_stay_within_their_domain(data):
    from adaconv_gen.data.domains import DomainDataset, ReferencePairDataset, train_transform

    with pytest.warns(UserWarning, match="broken.png"):
        ds = DomainDataset(data / "train", train_transform(32))
    pairs = ReferencePairDataset.from_dataset(ds, seed=0)
    assert pairs.paths == ds.paths and len(pairs.partners) == len(ds.paths)
    assert all(a.parent == b.parent for a, b in zip(pairs.paths, pairs.partners))
    assert sorted(pairs.partners) == sorted(ds.paths)  # a permutation within each domain
    x, x2, y = pairs[0]
    assert x.shape == x2.shape == (3, 32, 32) and y == 0
    assert -1 <= float(x.min()) and float(x.max()) <= 1


def test_balanced_sampling(tmp_path):
    from adaconv_gen.data.domains import balanced_sampler

    labels = [0] * 90 + [1] * 10
    idx = list(balanced_sampler(labels, torch.Generator().manual_seed(0), num_samples=4000))
    frac = sum(labels[i] for i in idx) / len(idx)
    assert 0.45 < frac < 0.55


DDP_SCRIPT = r'''
import json, sys
from types import SimpleNamespace
import torch
from accelerate import Accelerator
from adaconv_gen.models import stargan_v2 as sg
from adaconv_gen.training.stargan_v2 import LossWeights, StarGANv2Trainer, make_optimizers

torch.set_num_threads(1)
acc = Accelerator(cpu=True)
torch.manual_seed(0)  # same initial weights on every rank
nets = sg.build(img_size=32, base_dim=8, max_conv_dim=16, hidden_dim=16, style_dim=8, latent_dim=4,
                num_domains=2, w_hpf=0, modulation="adaconv", style_channels=8)
ema = SimpleNamespace(**{n: sg.copy_for_ema(getattr(nets, n)) for n in ("generator", "mapping_network", "style_encoder")})
opts = make_optimizers(nets)
names = sg.NETWORK_NAMES
prep = acc.prepare(*[getattr(nets, n) for n in names], *[opts[n] for n in names])
live = SimpleNamespace(**dict(zip(names, prep[:4])))
tr = StarGANv2Trainer(live, ema, dict(zip(names, prep[4:])), LossWeights(), acc)
g = torch.Generator().manual_seed(100 + acc.process_index)  # different data on each rank
def batch(n=2):
    r = lambda *s: torch.randn(*s, generator=g)
    return dict(x_src=r(n, 3, 32, 32), y_src=torch.tensor([0, 1]), x_ref=r(n, 3, 32, 32), x_ref2=r(n, 3, 32, 32),
                y_ref=torch.tensor([1, 0]), z_trg=r(n, 4), z_trg2=r(n, 4))
losses = [tr.step([batch(), batch()], i)["G/latent_cyc"].item() for i in range(2)]  # accumulation over 2
out = {"wrapped": type(live.generator).__name__, "losses": losses,
       "params": {n: [float(p.double().sum()) for p in acc.unwrap_model(getattr(live, n)).parameters()] for n in names}}
json.dump(out, open(sys.argv[1] + f"/rank{acc.process_index}.json", "w"))
'''


@pytest.mark.slow
def test_ddp_two_processes_keep_networks_identical(tmp_path):
    """DDP through accelerate: two CPU processes (gloo), different data, gradient accumulation."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["wrapped"] == r1["wrapped"] == "DistributedDataParallel"
    assert r0["losses"] != r1["losses"]  # the ranks saw different data ...
    for n in r0["params"]:  # ... and still hold the same weights: gradients were averaged
        assert r0["params"][n] == pytest.approx(r1["params"][n], rel=1e-6, abs=1e-9), n


def test_training_augmentation_is_the_official_one():
    from PIL import Image
    from torchvision.transforms import v2 as T

    from adaconv_gen.data.domains import eval_transform, train_transform

    tf = train_transform(48, prob=0.5)
    kinds = [type(t) for t in tf.transforms]
    apply = next(t for t in tf.transforms if isinstance(t, T.RandomApply))
    crop = apply.transforms[0]
    assert apply.p == 0.5 and isinstance(crop, T.RandomResizedCrop)
    assert tuple(crop.scale) == (0.8, 1.0) and tuple(crop.ratio) == (0.9, 1.1)
    resize = next(t for t in tf.transforms if isinstance(t, T.Resize))
    assert list(resize.size) == [48, 48]
    assert T.RandomHorizontalFlip in kinds
    assert kinds.index(T.RandomApply) < kinds.index(T.Resize) < kinds.index(T.RandomHorizontalFlip)
    img = Image.fromarray((torch.rand(40, 70, 3) * 255).to(torch.uint8).numpy())
    x = tf(img)
    assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and -1 <= float(x.min()) and float(x.max()) <= 1
    # evaluation: resize only; a white image maps to exactly 1
    w = eval_transform(16)(Image.new("RGB", (30, 20), (255, 255, 255)))
    assert w.shape == (3, 16, 16) and torch.equal(w, torch.ones_like(w))
