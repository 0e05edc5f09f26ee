"""The StarGAN v2 demo's four numbers (adaconv_gen.evaluation.demo) on inputs with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adaconv_gen.data.synthetic import pattern_image, write_domain_dataset
from adaconv_gen.evaluation.demo import (
    PatternClassifier,
    colour_correlation,
    evaluate_demo,
    format_demo_report,
    layout_similarity,
    main_axis,
    mean_pairwise_l1,
    translation_scores,
)

DOMAINS = ("dots", "rings", "stripes")


def _two_colour(mask: np.ndarray, a, b) -> torch.Tensor:
    """(3, H, W) image: colour a where mask, else b."""
    m = torch.as_tensor(mask, dtype=torch.float64)[None]
    return torch.as_tensor(a, dtype=torch.float64)[:, None, None] * m + \
        torch.as_tensor(b, dtype=torch.float64)[:, None, None] * (1 - m)


def _patterns(n_per: int, seed: int, size: int = 32):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for d, kind in enumerate(DOMAINS):
        for _ in range(n_per):
            xs.append(torch.from_numpy(pattern_image(kind, size, rng)).permute(2, 0, 1).double() / 255)
            ys.append(d)
    return torch.stack(xs), torch.tensor(ys)


def test_main_axis_of_a_two_colour_image_is_the_mask():
    mask = np.zeros((8, 8))
    mask[:, :3] = 1
    a, b = np.array([0.9, 0.2, 0.1]), np.array([0.1, 0.3, 0.8])
    p = main_axis(_two_colour(mask, a, b)[None])[0]
    expected = np.linalg.norm(a - b) * (mask - mask.mean())
    got = p.numpy() * np.sign(p.numpy()[0, 0] * expected[0, 0])  # the axis' sign is arbitrary
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_colour_correlation_equals_numpy_corrcoef_per_channel():
    g = torch.Generator().manual_seed(0)
    ref_means = torch.rand(7, 3, generator=g, dtype=torch.float64)
    out_means = torch.rand(7, 3, generator=g, dtype=torch.float64)
    ref = ref_means[:, :, None, None].expand(-1, -1, 4, 4)
    out = out_means[:, :, None, None].expand(-1, -1, 4, 4)
    expected = np.mean([np.corrcoef(out_means[:, c], ref_means[:, c])[0, 1] for c in range(3)])
    assert colour_correlation(out, ref) == pytest.approx(expected, abs=1e-12)
    assert colour_correlation(ref, ref) == pytest.approx(1.0, abs=1e-12)
    assert colour_correlation(0.2 + 0.5 * ref, ref) == pytest.approx(1.0, abs=1e-12)
    assert colour_correlation(1 - ref, ref) == pytest.approx(-1.0, abs=1e-12)


def test_layout_similarity_known_values():
    t = np.arange(32)
    vertical = ((t[None, :] // 4) % 2 == 0).repeat(32, 0).astype(float)  # period 8 along x
    horizontal = vertical.T
    src = _two_colour(vertical, [1, 0, 0], [0, 0, 1])[None]
    swapped = _two_colour(vertical, [0.2, 0.9, 0.3], [0.9, 0.1, 0.6])[None]  # other colours, same layout
    other = _two_colour(horizontal, [1, 0, 0], [0, 0, 1])[None]
    assert layout_similarity(src, src) == pytest.approx(1.0, abs=1e-12)
    assert layout_similarity(swapped, src) == pytest.approx(1.0, abs=1e-12)
    assert layout_similarity(other, src) == pytest.approx(0.0, abs=1e-12)  # x-only vs y-only: uncorrelated
    flat = torch.full_like(src, 0.5)
    assert layout_similarity(flat, src) == 0.0


def test_mean_pairwise_l1():
    imgs = torch.stack([torch.full((3, 4, 4), v, dtype=torch.float64) for v in (0.0, 0.5, 1.0)])
    assert mean_pairwise_l1(imgs) == pytest.approx((0.5 + 1.0 + 0.5) / 3, abs=1e-15)
    assert mean_pairwise_l1(imgs[:1].expand(4, -1, -1, -1)) == 0.0


def test_pattern_classifier_ignores_colour_and_rotation():
    x_tr, y_tr = _patterns(12, seed=0)
    x_te, y_te = _patterns(20, seed=1)
    clf = PatternClassifier().fit(x_tr, y_tr)
    pred = clf.predict(x_te)
    assert (pred == y_te).double().mean() >= 0.95  # held-out patterns with new colours and angles
    assert torch.equal(clf.predict(x_te[:, [2, 0, 1]]), pred)  # channels permuted
    assert torch.equal(clf.predict(1 - x_te), pred)  # colours inverted
    assert torch.equal(clf.predict(x_te.transpose(2, 3)), pred)  # transposed (stripes at other angles)


def test_translation_scores_of_trivial_outputs():
    x, y = _patterns(3, seed=2)
    clf = PatternClassifier().fit(*_patterns(12, seed=0))
    assert torch.equal(clf.predict(x), y)
    n = len(x)
    ref_copy = translation_scores(x[None].expand(n, -1, -1, -1, -1), x, y, clf)
    src_copy = translation_scores(x[:, None].expand(-1, n, -1, -1, -1), x, y, clf)
    assert ref_copy["domain"] == 1.0 and src_copy["domain"] == 0.0
    assert ref_copy["colour"] == pytest.approx(1.0, abs=1e-12)
    assert src_copy["source"] == pytest.approx(1.0, abs=1e-12)
    assert src_copy["diversity"] == 0.0
    # the reference copy's diversity: mean over (source, other domain) of the refs' pairwise L1
    per_domain = {d: np.mean([(x[i] - x[j]).abs().mean().item() for i in range(n) for j in range(i + 1, n)
                              if y[i] == y[j] == d]) for d in range(3)}
    expected = np.mean([per_domain[d] for s in range(n) for d in range(3) if d != y[s]])
    assert ref_copy["diversity"] == pytest.approx(expected, abs=1e-12)
    # the source copy's colour: sources' mean colours against the references', over cross-domain pairs
    i, j = zip(*[(a, b) for a in range(n) for b in range(n) if y[a] != y[b]])
    ms, mr = x[list(i)].mean(dim=(2, 3)).numpy(), x[list(j)].mean(dim=(2, 3)).numpy()
    expected = np.mean([np.corrcoef(ms[:, c], mr[:, c])[0, 1] for c in range(3)])
    assert src_copy["colour"] == pytest.approx(expected, abs=1e-12)


def test_evaluate_demo_writes_json_and_report(tmp_path):
    from adaconv_gen.models import stargan_v2 as sg

    root = write_domain_dataset(tmp_path / "d", DOMAINS, n_train=6, n_val=2, size=16, seed=0)
    torch.manual_seed(0)
    nets = sg.build(16, 8, 4, 3, 0, 16, 8, "adaconv", hidden_dim=8, style_channels=8)
    res = evaluate_demo(nets, root / "train", root / "val", 16, tmp_path / "scores.json", num_latent=2)
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["model"] == pytest.approx(res["model"])
    assert res["num_sources"] == 6 and res["num_pairs"] == 6 * 4
    for name in ("model", "copy of source", "copy of reference", "noise"):
        assert set(res[name]) >= {"domain", "colour", "source", "diversity"}
    assert res["copy of source"]["source"] == pytest.approx(1.0) and res["copy of source"]["diversity"] == 0.0
    assert res["copy of reference"]["colour"] == pytest.approx(1.0)
    assert res["noise"]["diversity"] == pytest.approx(1 / 3, abs=0.01)  # E|u - v| for uniform noise
    lines = format_demo_report(res)
    assert lines[2].split()[0] == "model" and len(lines) == 8
