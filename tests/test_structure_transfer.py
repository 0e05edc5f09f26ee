"""benchmarks/structure_transfer.py: the filters, the metrics, the split and the training, each
against an independent computation (tiny settings, seconds)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from adaconv_gen.errors import UserInputError

REPO = Path(__file__).resolve().parents[1]


def _load():
    name = "structure_transfer_bench"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "structure_transfer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


st = _load()


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize("angle", [0.0, 180.0])
def test_motion_blur_horizontal_is_a_row_average(angle):
    expected = np.zeros((11, 11))
    expected[5, 3:8] = 1 / 5  # 5 px along the centre row
    np.testing.assert_allclose(st.motion_blur_kernel(5, angle), expected, atol=1e-12)


@pytest.mark.parametrize("angle", [90.0, 270.0])
def test_motion_blur_vertical_is_a_column_average(angle):
    expected = np.zeros((11, 11))
    expected[1:10, 5] = 1 / 9  # 9 px along the centre column
    np.testing.assert_allclose(st.motion_blur_kernel(9, angle), expected, atol=1e-12)


@pytest.mark.parametrize("length,angle,tol", [(9, 37.0, 1.0), (9, 163.0, 1.0), (7, 81.0, 1.5),
                                              (5, 123.0, 2.5), (3, 300.0, 6.0)])
def test_motion_blur_spreads_along_its_angle(length, angle, tol):
    """The kernel's principal axis (second moments, eigen-decomposition) is the angle, counter-
    clockwise from the x axis as displayed (row index grows downward)."""
    k = st.motion_blur_kernel(length, angle)
    rows, cols = np.mgrid[0:11, 0:11]
    x, y = cols - 5.0, 5.0 - rows
    m = np.array([[(k * x * x).sum(), (k * x * y).sum()], [(k * x * y).sum(), (k * y * y).sum()]])
    _, vecs = np.linalg.eigh(m)
    got = math.degrees(math.atan2(vecs[1, 1], vecs[0, 1])) % 180
    diff = abs(got - angle % 180)
    assert min(diff, 180 - diff) < tol
    assert k.sum() == pytest.approx(1.0)


def _ramp(angle: float, size: int = 24) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    t = math.radians(angle)
    return cols * math.cos(t) + (-rows) * math.sin(t)


@pytest.mark.parametrize("angle", [0.0, 30.0, 135.0, 250.0])
def test_relief_adds_the_derivative_along_its_angle(angle):
    """relief(f) = f + strength * df/du: a ramp rising along u gains exactly `strength`, a ramp
    across u is unchanged (interior pixels, away from the padding)."""
    strength = 1.7
    k = torch.from_numpy(st.relief_kernel(strength, angle))[None]
    for ramp_angle, gain in ((angle, strength), (angle + 90, 0.0)):
        f = _ramp(ramp_angle)
        x = torch.from_numpy(f)[None, None].expand(1, 3, -1, -1).contiguous()
        out = st.apply_filters(x, k)[0, :, 5:-5, 5:-5].numpy()
        np.testing.assert_allclose(out, np.broadcast_to(f[5:-5, 5:-5] + gain, out.shape), atol=1e-9)


def test_sharpen_is_identity_plus_strength_times_detail():
    s, a = 1.3, 20.0
    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    blur = st.motion_blur_kernel(5.0, a)
    np.testing.assert_allclose(st.sharpen_kernel(s, a), delta + s * (delta - blur), atol=1e-12)
    # sharpening along x leaves a pattern constant along x unchanged, and changes one along x
    k = torch.from_numpy(st.sharpen_kernel(s, 0.0))[None]
    for pattern_angle, changes in ((90.0, False), (0.0, True)):
        f = np.sin(0.7 * _ramp(pattern_angle))
        x = torch.from_numpy(f)[None, None].repeat(1, 3, 1, 1)
        out = st.apply_filters(x, k)[0, 0].numpy()
        assert (np.abs(out - f).max() > 0.1) == changes


def test_apply_filters_equals_scipy_correlate():
    """Per-sample kernels against scipy.ndimage.correlate (mode "mirror" = torch "reflect")."""
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 20, 17))
    kernels = np.stack([st.make_kernel(f, 0.3, 40.0 * i + 5) for i, f in enumerate(st.FAMILIES)])
    out = st.apply_filters(torch.from_numpy(x), torch.from_numpy(kernels)).numpy()
    for b in range(3):
        for c in range(3):
            ref = ndimage.correlate(x[b, c], kernels[b], mode="mirror")
            np.testing.assert_allclose(out[b, c], ref, atol=1e-12)


def test_held_out_filters_never_drawn_in_training():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        fam, s, a = st.sample_filter(rng, held_out=False)
        assert not st.is_held_out(s, a)
        lo, hi = st.STRENGTH_HELD_OUT
        assert not (lo <= s <= hi) and not (20 <= a % 30 < 30)
        fam, s, a = st.sample_filter(rng, held_out=True)
        assert lo <= s <= hi and 20 <= a % 30 < 30 and 0 <= a < 360


def test_target_has_the_reference_statistics_and_the_content_filtered():
    rng = np.random.default_rng(1)
    photos = {"a": rng.random((40, 40, 3)).astype(np.float32),
              "b": rng.random((40, 40, 3)).astype(np.float32) * 0.5}
    batch = st.make_batch(rng, photos, 4, 24, held_out_filters=True)
    t, r = batch.target.double(), batch.reference.double()
    torch.testing.assert_close(t.mean((2, 3)), r.mean((2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.std((2, 3), unbiased=False), r.std((2, 3), unbiased=False),
                               atol=1e-4, rtol=1e-4)
    # the target is an affine map per channel of F(content): correlation 1 with it
    for i, f in enumerate(batch.filters):
        fc = st.apply_filters(batch.content[i:i + 1].double(), torch.from_numpy(st.make_kernel(*f))[None])
        for c in range(3):
            corr = np.corrcoef(fc[0, c].flatten().numpy(), t[i, c].flatten().numpy())[0, 1]
            assert corr == pytest.approx(1.0, abs=1e-5)
    assert all(p != "" for p in batch.photos)


# ----------------------------------------------------------------------------- metrics


def test_psnr_is_from_the_mse_over_all_pixels():
    rng = np.random.default_rng(2)
    a, b = rng.random((5, 3, 16, 16)), rng.random((5, 3, 16, 16))
    b[0] = a[0]  # an exact example (infinite PSNR on its own) must not break the pooled value
    mse = st.per_example_mse(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    expected = 10 * np.log10(1.0 / np.mean((a - b) ** 2))
    assert st.psnr_from_mse(float(mse.mean())) == pytest.approx(expected, abs=1e-10)
    res = st.bootstrap(mse, np.ones(5), ["p", "p", "q", "q", "r"], n_boot=50)
    assert res["psnr"] == pytest.approx(expected, abs=1e-10)
    assert res["psnr_ci95"][0] <= res["psnr_ci95"][1]


def test_ssim_matches_skimage():
    rng = np.random.default_rng(3)
    x = rng.random((3, 3, 32, 32))
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), -0.2, 1.2)
    y[1] = ndimage.uniform_filter(x[1], size=(1, 3, 3))
    ours = st.ssim(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    for i in range(3):
        ref = structural_similarity(x[i], y[i], channel_axis=0, data_range=1.0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert ours[i] == pytest.approx(ref, abs=1e-10)


def test_bootstrap_resamples_photographs_not_examples():
    """Two photographs, one perfect and one not: every resample is all-p, all-q or both, so the
    interval's ends are the single-photo values."""
    mse = np.array([0.01, 0.01, 0.04, 0.04])
    res = st.bootstrap(mse, np.array([1.0, 1.0, 0.5, 0.5]), ["p", "p", "q", "q"], n_boot=400)
    assert res["psnr_ci95"] == pytest.approx([st.psnr_from_mse(0.04), st.psnr_from_mse(0.01)])
    assert res["ssim_ci95"] == pytest.approx([0.5, 1.0])


# ----------------------------------------------------------------------------- the split


def test_default_split_keeps_photographs_apart():
    train, evals = st.split_photos()
    assert not set(train) & set(evals)
    assert set(train) | set(evals) == set(st.SKIMAGE_PHOTOS)
    assert {"motorcycle_left", "motorcycle_right"} <= set(train)
    assert all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.float32 for p in train.values())


def test_same_folder_on_both_sides_is_refused(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((40, 40, 3)) * 255).astype(np.uint8)).save(
            tmp_path / f"{i}.png")
    with pytest.raises(UserInputError, match="also in the training set"):
        st.split_photos(tmp_path, tmp_path)


def test_eval_batch_content_photographs_are_the_held_out_ones():
    rng = np.random.default_rng(4)
    photos = {n: rng.random((36, 36, 3)).astype(np.float32) for n in ("x", "y", "z")}
    batch = st.make_eval_batch(photos, 2, 24)
    assert batch.photos == ["x", "x", "y", "y", "z", "z"]


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("variant", st.VARIANTS)
def test_each_variant_learns(variant):
    """A few steps on one batch: finite losses, every parameter changed, loss below step 0's.
    At step 0 every variant is the colour-only baseline exactly."""
    rng = np.random.default_rng(5)
    photos = {n: rng.random((30, 30, 3)).astype(np.float32) ** (i + 1)
              for i, n in enumerate(("a", "b"))}
    batch = st.make_batch(rng, photos, 4, 16, held_out_filters=False)
    cfg = st.NetConfig(width=8, depth=2, style_dim=16, adain_wide_width=12,
                       adaconv_style_channels=4)
    torch.manual_seed(0)
    model = st.TransferNet(variant, cfg)
    with torch.no_grad():
        torch.testing.assert_close(model(batch.content, batch.reference),
                                   st.baseline_output("colour-only", batch.content, batch.reference))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    hist = st.train(model, photos, st.TrainConfig(steps=12, batch_size=4, crop=16, lr=3e-3),
                    batches=lambda step: batch)
    losses = hist["losses"]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged


def test_widened_adain_has_about_adaconv_parameters():
    cfg = st.NetConfig()
    n = {v: st.count_params(st.TransferNet(v, cfg)) for v in st.VARIANTS}
    assert 0.8 < n["adain-wide"] / n["adaconv"] < 1.5
    assert n["adaconv"] > n["adain"]


def test_plateau_detection():
    assert st.plateau([1.0] * 100) == (True, 0.0)
    plat, rel = st.plateau(list(np.linspace(1.0, 0.5, 100)))
    assert not plat and rel > 0.02


def test_bad_flags_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="--steps"):
        st.parse_args(["--steps", "0"])
    with pytest.raises(UserInputError, match="--variants"):
        st.parse_args(["--variants", "adain,nope"])
    with pytest.raises(UserInputError, match="--json"):
        st.parse_args(["--json", str(tmp_path)])


def test_paired_gain_against_a_plain_computation():
    a = {"mse_per_example": [0.01, 0.02, 0.03, 0.04], "ssim_per_example": [0.9, 0.8, 0.7, 0.6]}
    b = {"mse_per_example": [0.02, 0.02, 0.06, 0.04], "ssim_per_example": [0.8, 0.8, 0.6, 0.6]}
    g = st.paired_gain(a, b, ["p", "p", "q", "q"], n_boot=300)
    assert g["psnr"] == pytest.approx(10 * np.log10(0.035 / 0.025))
    assert g["ssim"] == pytest.approx(0.05)
    # resamples: all-p, all-q, or both; the interval's ends are the single-photograph gains
    assert g["psnr_ci95"] == pytest.approx([10 * np.log10(0.02 / 0.015), 10 * np.log10(0.05 / 0.035)])


def test_main_writes_the_json_shape_and_the_figure(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(6)
    for folder, n in (("train", 3), ("eval", 2)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            arr = (rng.random((40, 44, 3)) ** (i + 1) * 255).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / folder / f"{i}.png")
    out, fig = tmp_path / "st.json", tmp_path / "st.png"
    report = st.main(["--quick", "--steps", "3", "--train-images", str(tmp_path / "train"),
                      "--eval-images", str(tmp_path / "eval"), "--json", str(out),
                      "--figure", str(fig), "--figure-rows", "2"])
    import json

    saved = json.loads(out.read_text())
    assert set(saved["variants"]) == {*st.VARIANTS, *st.BASELINES}
    for v in saved["variants"].values():
        assert {"psnr", "ssim", "params"} <= set(v) and math.isfinite(v["psnr"])
    assert saved["split"]["n_eval_photos"] == 2 and saved["variants"]["identity"]["params"] == 0
    assert report["variants"]["adain"]["params"] == saved["variants"]["adain"]["params"] > 0
    with Image.open(fig) as im:  # 2 rows x 8 columns of 32 px cells, 3x, 2 px gaps
        assert im.size == (8 * 96 + 9 * 2, 2 * 96 + 3 * 2)
    assert "| adaconv |" in capsys.readouterr().out
