"""LPIPS parity with the ``lpips`` package (real v0.1 linear weights, random AlexNet backbone)."""

from __future__ import annotations

import itertools
from pathlib import Path

import lpips as lpips_pkg
import pytest
import torch
import torchvision

from adaconv_gen.errors import UserInputError, WeightsNotFoundError
from adaconv_gen.metrics import LPIPS, lpips_diversity

SHIPPED = Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / "alex.pth"


@pytest.fixture(scope="module")
def reference_and_files(tmp_path_factory):
    torch.manual_seed(0)
    ref = lpips_pkg.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()  # no download
    # the random backbone, saved as a torchvision AlexNet state dict (alexnet-owt-*.pth layout)
    sd = torchvision.models.alexnet(weights=None).state_dict()
    for k, v in ref.net.state_dict().items():  # slice<k>.<index>.<param> -> features.<index>.<param>
        _, idx, param = k.split(".")
        sd[f"features.{idx}.{param}"] = v.clone()
    path = tmp_path_factory.mktemp("alex") / "alexnet-owt-7be5be79.pth"
    torch.save(sd, path)
    return ref, path


def test_lpips_matches_package(reference_and_files):
    ref, alex = reference_and_files
    ours = LPIPS.from_files(alexnet_weights=alex, lpips_weights=SHIPPED)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(4, 3, 64, 64, generator=g)).clamp(-1, 1)
    want = ref(x, y).flatten()
    got = ours(x, y)
    assert got.shape == (4,)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert want.abs().min() > 1e-3  # a real signal, not zeros
    torch.testing.assert_close(ours(x, x), torch.zeros(4), rtol=0, atol=1e-7)


def test_lpips_resolves_files_and_shipped_fallback(reference_and_files, monkeypatch):
    ref, alex = reference_and_files
    monkeypatch.setenv("ADACONV_ALEXNET_WEIGHTS", str(alex))
    ours = LPIPS.from_files()  # alex.pth from the installed lpips package
    assert ours.paths["lpips"] == str(SHIPPED)
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    y = torch.rand(2, 3, 48, 48) * 2 - 1
    torch.testing.assert_close(ours(x, y), ref(x, y).flatten(), rtol=0, atol=1e-5)


def test_lpips_diversity_is_mean_pairwise(reference_and_files):
    ref, alex = reference_and_files
    ours = LPIPS.from_files(alex, SHIPPED)
    imgs = torch.rand(4, 3, 32, 32) * 2 - 1
    pairs = [ref(imgs[i:i + 1], imgs[j:j + 1]).item() for i, j in itertools.combinations(range(4), 2)]
    assert lpips_diversity(imgs, ours) == pytest.approx(sum(pairs) / len(pairs), abs=1e-6)
    # StarGAN v2 form: K outputs for each of B inputs, pairs across K, mean over B too
    groups = [torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3)]
    vals = [ref(a, b).mean().item() for a, b in itertools.combinations(groups, 2)]
    assert lpips_diversity(groups, ours) == pytest.approx(sum(vals) / len(vals), abs=1e-6)


def test_lpips_missing_and_bad_files(reference_and_files, tmp_path, monkeypatch):
    _, alex = reference_and_files
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(WeightsNotFoundError, match="alexnet-owt-7be5be79.pth"):
        LPIPS.from_files()
    bad = tmp_path / "alex.pth"
    torch.save({"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}, bad)
    with pytest.raises(UserInputError, match="not the torchvision AlexNet weights; it seems to hold the LPIPS v0.1 linear layers: 10 keys missing"):
        LPIPS.from_files(bad, SHIPPED)
    with pytest.raises(UserInputError, match="does not match the LPIPS v0.1 linear layers weights: 4 keys missing"):
        LPIPS.from_files(alex, bad)
