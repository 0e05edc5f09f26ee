"""Adaptive convolution with per-sample kernels, the pure math (no parameters, no normalisation).

Chandran et al., *Adaptive Convolutions for Structure-Aware Style Transfer*, CVPR 2021: the
style predicts, per sample, a depthwise-separable kernel ``{spatial, pointwise, bias}``.

Two facts make it fast (docs/paper.md, section 1.3):

* there is no nonlinearity between the grouped spatial conv and the grouped pointwise conv,
  so they compose exactly into one grouped kernel per sample, ``K_g = P_g @ S_g``;
* per-sample kernels are one grouped conv when the batch is folded into the groups:
  ``x.view(1, B*C_in, H, W)`` with weights ``(B*C_out, C_in/g, k, k)`` and ``groups = B*g``.

Which is fastest depends on the device (measured, ``benchmarks/adaconv_layer.py``): on GPUs the
folded call wins by far (one launch instead of ``2B``); on CPUs oneDNN's backward of a grouped
conv with ``B*g`` groups is slower than ``B`` convs with ``g`` groups, so there the composed
kernel is applied per sample (over ``unbind``, whose backward is a cheap ``stack``, unlike the
slicing loop's zero-filled gradients) once a sample is large enough to amortise the loop.

:func:`adaptive_conv2d_reference` is the plain per-sample loop every public port uses; it is
the documented reference the fast path is tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "channel_mean_std",
    "PADDING_MODES",
    "IMPLEMENTATIONS",
    "adaptive_conv2d",
    "adaptive_conv2d_reference",
    "compose_kernels",
    "check_kernels",
    "check_layer_args",
]

PADDING_MODES = ("reflect", "zeros", "replicate", "circular")
IMPLEMENTATIONS = ("auto", "folded", "per_sample")
# On CPU, samples with at least this many input values (C_in*H*W) take the per-sample path.
_PER_SAMPLE_MIN_NUMEL = 1 << 16


def check_layer_args(in_channels: int, out_channels: int, kernel_size: int, groups: int) -> None:
    """Raise ``ValueError`` for layer arguments no kernel could fit (used by the constructors)."""
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                         f"out_channels={out_channels}")
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")


def check_kernels(x: Tensor, spatial: Tensor, pointwise: Tensor | None, bias: Tensor | None,
                  groups: int, padding_mode: str) -> None:
    """Raise ``ValueError`` naming the shapes when they do not fit together."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C_in, H, W), got shape {tuple(x.shape)}")
    if spatial.dim() != 5:
        raise ValueError(f"spatial must be (B, C_out, C_in/groups, k, k), got shape {tuple(spatial.shape)}")
    b, c_in = x.shape[:2]
    sb, c_out, cig, kh, kw = spatial.shape
    if not isinstance(groups, int) or groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups!r} must be a positive divisor of C_in={c_in} and C_out={c_out}")
    if sb != b or cig != c_in // groups:
        raise ValueError(
            f"spatial shape {tuple(spatial.shape)} does not fit x {tuple(x.shape)} with groups={groups}: "
            f"expected ({b}, C_out, {c_in // groups}, k, k)")
    if kh != kw or kh % 2 == 0:
        raise ValueError(f"spatial kernels must be square with odd size, got {kh}x{kw}")
    if pointwise is not None and tuple(pointwise.shape) != (b, c_out, c_out // groups, 1, 1):
        raise ValueError(f"pointwise shape {tuple(pointwise.shape)} != expected "
                         f"{(b, c_out, c_out // groups, 1, 1)} (B, C_out, C_out/groups, 1, 1)")
    if bias is not None and tuple(bias.shape) != (b, c_out):
        raise ValueError(f"bias shape {tuple(bias.shape)} != expected {(b, c_out)} (B, C_out)")
    if padding_mode == "reflect" and kh // 2 >= min(x.shape[-2:]):
        raise ValueError(f"reflect padding of {kh // 2} needs H and W > {kh // 2}, got {tuple(x.shape[-2:])}")


def compose_kernels(spatial: Tensor, pointwise: Tensor, groups: int) -> Tensor:
    """Fold the grouped pointwise kernel into the grouped spatial one, exactly.

    Args:
        spatial: ``(B, C_out, C_in/g, k, k)``.
        pointwise: ``(B, C_out, C_out/g, 1, 1)``.
        groups: ``g``, shared by both convolutions.

    Returns:
        ``(B, C_out, C_in/g, k, k)``: per group ``K_g = P_g @ S_g``.
    """
    b, c_out, cig, k, _ = spatial.shape
    cog = c_out // groups
    s = spatial.reshape(b, groups, cog, cig * k * k)  # (B, g, C_out/g, C_in/g*k*k)
    p = pointwise.reshape(b, groups, cog, cog)  # (B, g, C_out/g, C_out/g)
    return torch.matmul(p, s).reshape(b, c_out, cig, k, k)


def _pad(x: Tensor, pad: int, padding_mode: str) -> Tensor:
    if pad == 0 or padding_mode == "zeros":
        return x
    return F.pad(x, (pad, pad, pad, pad), mode=padding_mode)


def adaptive_conv2d(x: Tensor, spatial: Tensor, pointwise: Tensor | None = None,
                    bias: Tensor | None = None, *, groups: int,
                    padding_mode: str = "reflect", impl: str = "auto") -> Tensor:
    """Apply per-sample depthwise-separable kernels: grouped ``k x k`` conv, grouped 1x1 conv, bias.

    Equal (values and gradients, to round-off) to :func:`adaptive_conv2d_reference`, but one
    convolution call for the whole batch: the pointwise kernel is composed into the spatial
    one and the batch is folded into the groups.

    Args:
        x: input ``(B, C_in, H, W)``; no normalisation is applied here.
        spatial: ``(B, C_out, C_in/groups, k, k)`` with odd ``k``.
        pointwise: ``(B, C_out, C_out/groups, 1, 1)`` or None (skip the pointwise conv).
        bias: ``(B, C_out)`` or None.
        groups: number of groups ``n_g`` of both convolutions.
        padding_mode: "reflect", "zeros", "replicate" or "circular"; "same" output size.
        impl: "folded" (one conv call, batch folded into the groups), "per_sample" (the
            composed kernel applied sample by sample), or "auto": folded on GPUs and for
            small samples, per-sample for large samples on CPU.

    Returns:
        ``(B, C_out, H, W)``.

    Raises:
        ValueError: shapes that do not fit, naming them.
    """
    check_kernels(x, spatial, pointwise, bias, groups, padding_mode)
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")
    b, c_in, h, w = x.shape
    c_out, k = spatial.shape[1], spatial.shape[-1]
    weight = spatial if pointwise is None else compose_kernels(spatial, pointwise, groups)
    pad = k // 2
    conv_pad = pad if padding_mode == "zeros" else 0
    xp = _pad(x, pad, padding_mode)
    if impl == "auto":
        per_sample = x.device.type == "cpu" and b > 1 and x[0].numel() >= _PER_SAMPLE_MIN_NUMEL
        impl = "per_sample" if per_sample else "folded"
    if impl == "per_sample":
        biases = [None] * b if bias is None else bias.unbind(0)
        return torch.stack([
            F.conv2d(xi.unsqueeze(0), wi, bi, padding=conv_pad, groups=groups).squeeze(0)
            for xi, wi, bi in zip(xp.unbind(0), weight.unbind(0), biases)
        ])
    out = F.conv2d(
        xp.reshape(1, b * c_in, *xp.shape[-2:]),  # fold the batch into the channels
        weight.reshape(b * c_out, c_in // groups, k, k),  # (B*C_out, C_in/g, k, k)
        None if bias is None else bias.reshape(b * c_out),
        padding=conv_pad,
        groups=b * groups,
    )
    return out.reshape(b, c_out, h, w)


def adaptive_conv2d_reference(x: Tensor, spatial: Tensor, pointwise: Tensor | None = None,
                              bias: Tensor | None = None, *, groups: int,
                              padding_mode: str = "reflect") -> Tensor:
    """The plain per-sample loop (what every public port does): the definition we test against.

    ``conv2d(pad(x_b), spatial_b, groups) -> conv2d(., pointwise_b, bias_b, groups)`` per sample.
    """
    check_kernels(x, spatial, pointwise, bias, groups, padding_mode)
    pad = spatial.shape[-1] // 2
    outs = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        if padding_mode == "zeros":
            y = F.conv2d(xi, spatial[i], padding=pad, groups=groups)
        else:
            y = F.conv2d(F.pad(xi, (pad,) * 4, mode=padding_mode), spatial[i], groups=groups)
        bi = None if bias is None else bias[i]
        if pointwise is not None:
            y = F.conv2d(y, pointwise[i], bi, groups=groups)
        elif bi is not None:
            y = y + bi.view(1, -1, 1, 1)
        outs.append(y)
    return torch.cat(outs, dim=0)


def channel_mean_std(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and std over space of ``(B, C, H, W)``: two ``(B, C)``."""
    flat = x.flatten(2)  # (B, C, H*W)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    return mean, std
