"""adaptive_conv2d (batched, composed) against the plain per-sample loop, in float64."""

import pytest
import torch

from adaconv_gen.nn.functional import PADDING_MODES, adaptive_conv2d, adaptive_conv2d_reference

# (C_in, C_out, groups): groups from 1 to C, C_out != C_in
CHANNELS = [(4, 4, 1), (4, 4, 2), (4, 4, 4), (6, 9, 3), (8, 4, 4), (3, 6, 1)]


def _inputs(b, c_in, c_out, g, k, h=7, w=9, pointwise=True, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    kw = {"dtype": torch.float64, "generator": gen}
    x = torch.randn(b, c_in, h, w, **kw).requires_grad_()
    s = torch.randn(b, c_out, c_in // g, k, k, **kw).requires_grad_()
    p = torch.randn(b, c_out, c_out // g, 1, 1, **kw).requires_grad_() if pointwise else None
    bb = torch.randn(b, c_out, **kw).requires_grad_() if bias else None
    return x, s, p, bb


def _values_and_grads(fn, x, s, p, b, g, mode, **kw):
    out = fn(x, s, p, b, groups=g, padding_mode=mode, **kw)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    leaves = [t for t in (x, s, p, b) if t is not None]
    grads = torch.autograd.grad((out * weights).sum(), leaves)
    return out, grads


@pytest.mark.parametrize("impl", ["folded", "per_sample"])
@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("b,chans", [(1, CHANNELS[0]), (2, CHANNELS[1]), (3, CHANNELS[2]),
                                     (4, CHANNELS[3]), (2, CHANNELS[4]), (3, CHANNELS[5])])
def test_matches_per_sample_loop(impl, mode, k, b, chans):
    c_in, c_out, g = chans
    x, s, p, bb = _inputs(b, c_in, c_out, g, k)
    out, grads = _values_and_grads(adaptive_conv2d, x, s, p, bb, g, mode, impl=impl)
    ref, ref_grads = _values_and_grads(adaptive_conv2d_reference, x, s, p, bb, g, mode)
    assert out.shape == (b, c_out, 7, 9)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pointwise,bias", [(False, True), (True, False), (False, False)])
def test_optional_pointwise_and_bias(pointwise, bias):
    x, s, p, bb = _inputs(2, 4, 6, 2, 3, pointwise=pointwise, bias=bias)
    for impl in ("folded", "per_sample"):
        out, grads = _values_and_grads(adaptive_conv2d, x, s, p, bb, 2, "reflect", impl=impl)
        ref, ref_grads = _values_and_grads(adaptive_conv2d_reference, x, s, p, bb, 2, "reflect")
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        for got, want in zip(grads, ref_grads):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_auto_picks_per_sample_for_large_cpu_inputs():
    # big enough for the per-sample path: still equal to the reference
    x, s, p, bb = _inputs(2, 16, 16, 4, 3, h=64, w=64)
    out = adaptive_conv2d(x, s, p, bb, groups=4)
    torch.testing.assert_close(out, adaptive_conv2d_reference(x, s, p, bb, groups=4), rtol=1e-12, atol=1e-12)


def test_gradcheck_fast_path():
    x, s, p, bb = _inputs(2, 4, 4, 2, 3, h=5, w=4)
    assert torch.autograd.gradcheck(lambda *a: adaptive_conv2d(*a, groups=2, impl="folded"), (x, s, p, bb))


@pytest.mark.parametrize("bad,match", [
    ("x3d", r"x must be \(B, C_in, H, W\), got shape \(4, 7, 9\)"),
    ("spatial_batch", r"spatial shape \(3, 4, 2, 3, 3\) does not fit x \(2, 4, 7, 9\)"),
    ("groups", r"groups=3 must be a positive divisor"),
    ("pointwise", r"pointwise shape \(2, 4, 4, 1, 1\) != expected \(2, 4, 2, 1, 1\)"),
    ("bias", r"bias shape \(2, 5\) != expected \(2, 4\)"),
    ("even_k", r"odd size, got 2x2"),
    ("mode", r"padding_mode must be one of"),
])
def test_bad_shapes_raise_value_error_naming_them(bad, match):
    x, s, p, bb = _inputs(2, 4, 4, 2, 3)
    g, mode = 2, "reflect"
    if bad == "x3d":
        x = x[0]
    elif bad == "spatial_batch":
        s = torch.randn(3, 4, 2, 3, 3, dtype=torch.float64)
    elif bad == "groups":
        g = 3
    elif bad == "pointwise":
        p = torch.randn(2, 4, 4, 1, 1, dtype=torch.float64)
    elif bad == "bias":
        bb = torch.randn(2, 5, dtype=torch.float64)
    elif bad == "even_k":
        s = torch.randn(2, 4, 2, 2, 2, dtype=torch.float64)
    elif bad == "mode":
        mode = "mirror"
    with pytest.raises(ValueError, match=match):
        adaptive_conv2d(x, s, p, bb, groups=g, padding_mode=mode)
