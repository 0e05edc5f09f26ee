"""FID core: the exact Frechet distance, statistics, KID, the network layout, and parity with
the real pytorch-fid package on calibrated random weights."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import linalg
from test_fid_support import FID_FILE, fid_weights_file, write_images

from adaconv_gen.errors import UserInputError
from adaconv_gen.metrics import (
    compute_statistics,
    frechet_distance,
    kid_score,
    load_statistics,
    save_statistics,
)
from adaconv_gen.metrics.features import build_extractor, extract
from adaconv_gen.metrics.inception import FIDInceptionV3, load_fid_inception
from adaconv_gen.metrics.presets import get_preset, list_preset_files
from adaconv_gen.metrics.stats import RunningStatistics


def _spd(d, n, rng, scale=1.0):
    x = rng.standard_normal((n, d)) * scale
    return x.mean(0), np.cov(x, rowvar=False)


def _sqrtm_reference(mu1, s1, mu2, s2):
    """The sqrtm formulation pytorch-fid uses, written plainly in float64."""
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# ----------------------------------------------------------------------- Frechet distance

def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, s = _spd(64, 500, rng)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-9 * np.trace(s)


def test_closed_form_congruent_covariance():
    # S2 = A S1 A^T with A symmetric PD: sqrt(S1 S2) = S1 A, so tr sqrt(S1 S2) = tr(S1 A).
    rng = np.random.default_rng(1)
    d = 96
    mu1, s1 = _spd(d, 400, rng)
    b = rng.standard_normal((d, d)) / np.sqrt(d)
    a = b @ b.T + 0.5 * np.eye(d)
    s2 = a @ s1 @ a.T
    mu2 = mu1 + rng.standard_normal(d)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(s1 @ a))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n1,n2", [(1200, 900), (60, 900), (60, 40)])
def test_matches_sqrtm_reference(n1, n2):
    rng = np.random.default_rng(n1 + n2)
    d = 256
    mu1, s1 = _spd(d, n1, rng)
    mu2, s2 = _spd(d, n2, rng, scale=1.3)
    ref = _sqrtm_reference(mu1, s1, mu2, s2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(got, float) and np.isfinite(got)
    assert abs(got - ref) <= max(1e-6 * abs(ref), 1e-9)
    singular = n1 <= d
    assert any("singular" in str(x.message) for x in w) == singular


def test_rank_deficient_real_and_finite():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 32))
    mu, s = x.mean(0), np.cov(x, rowvar=False)  # rank 4
    with pytest.warns(RuntimeWarning, match="singular"):
        v = frechet_distance(mu, s, mu + 1.0, s * 2)
    assert isinstance(v, float) and np.isfinite(v) and v > 0


def test_frechet_rejects_mismatched_dims():
    with pytest.raises(UserInputError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ----------------------------------------------------------------------- statistics, files

def test_running_statistics_equal_numpy_for_any_batching():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((37, 16)) * 3 + 5
    for sizes in ([37], [1] * 37, [10, 10, 10, 7], [2, 35]):
        rs = RunningStatistics()
        start = 0
        for s in sizes:
            rs.update(torch.from_numpy(x[start:start + s]))
            start += s
        mu, sigma = rs.finalize()
        np.testing.assert_allclose(mu, x.mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=0, atol=1e-12)


def test_npz_round_trip_and_pytorch_fid_interop(tmp_path):
    from pytorch_fid.fid_score import compute_statistics_of_path

    rng = np.random.default_rng(5)
    mu, s = _spd(8, 50, rng)
    p = save_statistics(tmp_path / "ours.npz", mu, s, num_images=50, preset="pytorch-fid")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["ours.npz"]  # no temp file left
    m2, s2, meta = load_statistics(p, with_metadata=True)
    assert np.array_equal(m2, mu) and np.array_equal(s2, s)
    assert meta == {"num_images": 50, "preset": "pytorch-fid"}
    m3, s3 = compute_statistics_of_path(str(p), None, 1, 8, "cpu")  # pytorch-fid reads ours
    assert np.array_equal(m3, mu) and np.array_equal(s3, s)
    np.savez_compressed(tmp_path / "theirs.npz", mu=mu, sigma=s)  # and we read theirs
    m4, s4 = load_statistics(tmp_path / "theirs.npz")
    assert np.array_equal(m4, mu) and np.array_equal(s4, s)
    np.savez(tmp_path / "bad.npz", x=mu)
    with pytest.raises(UserInputError, match="bad.npz.*no 'mu'"):
        load_statistics(tmp_path / "bad.npz")


# ----------------------------------------------------------------------- KID

def _kid_plain(x, y):
    """Unbiased MMD^2, polynomial kernel, with per-pair Python loops."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_equals_plain_unbiased_mmd():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((12, 5))
    y = rng.standard_normal((12, 5)) + 0.3
    # subsets as large as the sets are permutations of them: KID = the full-set estimate
    got = kid_score(x, y, num_subsets=3, subset_size=1000)
    assert got == pytest.approx(_kid_plain(x, y), rel=1e-10)
    a = kid_score(rng.standard_normal((30, 5)), y, num_subsets=5, subset_size=8, seed=1)
    b = kid_score(rng.standard_normal((30, 5)), y, num_subsets=5, subset_size=8, seed=1)
    assert a != b  # different data
    z = rng.standard_normal((30, 5))
    assert kid_score(z, y, subset_size=8, seed=2) == kid_score(z, y, subset_size=8, seed=2)


# ----------------------------------------------------------------------- the network

def _pytorch_fid_reference_layout():
    import pytorch_fid.inception as pi

    ref = pi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    ref.Mixed_5b = pi.FIDInceptionA(192, pool_features=32)
    ref.Mixed_5c = pi.FIDInceptionA(256, pool_features=64)
    ref.Mixed_5d = pi.FIDInceptionA(288, pool_features=64)
    ref.Mixed_6b = pi.FIDInceptionC(768, channels_7x7=128)
    ref.Mixed_6c = pi.FIDInceptionC(768, channels_7x7=160)
    ref.Mixed_6d = pi.FIDInceptionC(768, channels_7x7=160)
    ref.Mixed_6e = pi.FIDInceptionC(768, channels_7x7=192)
    ref.Mixed_7b = pi.FIDInceptionE_1(1280)
    ref.Mixed_7c = pi.FIDInceptionE_2(2048)
    return ref


def test_state_dict_layout_equals_standard_file(tmp_path):
    ours = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    ref = {k: tuple(v.shape) for k, v in _pytorch_fid_reference_layout().state_dict().items()}
    assert ours == ref
    # the file we write loads strictly into pytorch-fid's layout, and ours from it
    path = fid_weights_file()
    sd = torch.load(path, weights_only=True)
    _pytorch_fid_reference_layout().load_state_dict(sd, strict=True)
    model, used = load_fid_inception(path)
    assert used == str(path) and not model.training
    del sd["fc.bias"]
    torch.save(sd, tmp_path / FID_FILE)
    with pytest.raises(UserInputError, match=f"{FID_FILE}.*does not match.*fc.bias"):
        load_fid_inception(tmp_path / FID_FILE)


def _pytorch_fid_stats(folder_or_files, torch_home, monkeypatch, batch_size):
    from pytorch_fid import fid_score
    from pytorch_fid.inception import InceptionV3

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    model = InceptionV3([3]).eval()  # loads <TORCH_HOME>/hub/checkpoints/<file>, offline
    if isinstance(folder_or_files, list):
        return fid_score.calculate_activation_statistics(folder_or_files, model, batch_size,
                                                         2048, "cpu", 0)
    return fid_score.compute_statistics_of_path(str(folder_or_files), model, batch_size, 2048,
                                                "cpu", 0)


@pytest.fixture
def torch_home(tmp_path):
    """A TORCH_HOME whose hub cache holds the random FID weights (how pytorch-fid finds them)."""
    ckpt = tmp_path / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / FID_FILE).symlink_to(fid_weights_file())
    return tmp_path / "torch_home"


def _assert_parity(ours, ref):
    for a, b in zip(ours, ref):
        assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_parity_with_pytorch_fid_folder(tmp_path, torch_home, monkeypatch):
    folder = tmp_path / "imgs"
    write_images(folder, 3, size=40, seed=1)
    write_images(folder, 1, size=40, seed=2, ext="jpg", start=3)
    # files pytorch-fid's rules skip: an upper-case extension and a nested folder
    write_images(folder, 1, size=40, seed=3, start=4)[0].rename(folder / "upper.PNG")
    write_images(folder / "nested", 1, size=40, seed=4)
    ref = _pytorch_fid_stats(folder, torch_home, monkeypatch, batch_size=3)
    # ours finds the same weights through the resolver's torch-hub step
    mu, sigma = compute_statistics(folder, batch_size=2, progress=False)
    _assert_parity((mu, sigma), ref)
    preset = get_preset("pytorch-fid")
    assert [p.name for p in list_preset_files(folder, preset)] == [
        "img_000.png", "img_001.png", "img_002.png", "img_003.jpg"]
    assert len(list_preset_files(folder, preset, recursive=True)) == 6
    assert len(list_preset_files(folder, get_preset("clean-fid"))) == 6


def test_parity_with_pytorch_fid_mixed_sizes(tmp_path, torch_home, monkeypatch):
    files = write_images(tmp_path, 3, size=[(40, 30), (25, 50), 299], seed=5)
    ref = _pytorch_fid_stats(files, torch_home, monkeypatch, batch_size=1)  # it cannot batch them
    mu, sigma = compute_statistics(files, batch_size=4, progress=False, weights=fid_weights_file())
    _assert_parity((mu, sigma), ref)


def test_features_independent_of_batch_size_and_source_kind(tmp_path):
    files = write_images(tmp_path, 4, size=36, seed=7)
    ex = build_extractor(weights=fid_weights_file())
    one = extract(files, ex, batch_size=1, progress=False, keep_features=True)
    four = extract(files, ex, batch_size=4, progress=False, keep_features=True)
    scale = np.abs(one.features).max()
    assert scale > 1e-2  # calibrated weights: O(1) features, not 1e-8
    np.testing.assert_allclose(four.features, one.features, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(four.mu, one.features.astype(np.float64).mean(0), atol=1e-5 * scale)
    # the same images as a uint8 tensor and as an iterator of generated batches (mixed dtypes)
    from PIL import Image

    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p))).permute(2, 0, 1) for p in files])
    t = extract(x, ex, batch_size=3, progress=False, keep_features=True)
    g = extract(iter([x[:3], x[3:].float() / 255]), ex, progress=False, keep_features=True)
    np.testing.assert_allclose(t.features, one.features, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(g.features, one.features, rtol=0, atol=1e-5 * scale)
    assert (t.num_images, g.num_images) == (4, 4)


def test_statistics_cache(tmp_path, monkeypatch):
    import os

    import adaconv_gen.metrics.fid as fid_mod

    folder = tmp_path / "imgs"
    files = write_images(folder, 2, size=32, seed=8)
    cache = tmp_path / "cache"
    kw = dict(weights=fid_weights_file(), progress=False, cache_dir=cache)
    mu, sigma = compute_statistics(folder, **kw)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_extraction(*a, **k):
        raise AssertionError("extraction ran despite a cached entry")

    monkeypatch.setattr(fid_mod, "extract", no_extraction)
    mu2, sigma2 = compute_statistics(folder, **kw)  # served from the cache
    assert np.array_equal(mu, mu2) and np.array_equal(sigma, sigma2)
    st = files[0].stat()
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a changed file
    with pytest.raises(AssertionError, match="extraction ran"):
        compute_statistics(folder, **kw)
    with pytest.raises(AssertionError, match="extraction ran"):  # another preset
        compute_statistics(folder, preset="clean-fid", **kw)
