"""Does AdaConv carry structure that AdaIN cannot? A controlled experiment on real photographs.

Reference-guided filter transfer (the task of Chandran et al., CVPR 2021, reduced to one with
ground truth). Each example draws a linear spatial filter ``F`` from a family with orientation
and scale (oriented motion blur 3-9 px, oriented relief, directional sharpening). The
reference is ``F(r)`` for one photograph ``r``; the input is another photograph ``c``; the
target is ``F(c)`` with its per-channel mean and standard deviation set to the reference's.
A style has exactly the two parts the paper separates: per-channel statistics (what AdaIN
carries) and structure (the filter, which AdaConv should add).

Every learned variant is the same network (style encoder, encoder, ``depth`` modulated 3x3
blocks at full resolution, 1x1 output) and differs only in the modulation layers:

* ``adain``: AdaIN (Huang & Belongie, 2017) before each block's convolution;
* ``adain-wide``: the same, with the width raised to about AdaConv's parameter count;
* ``adaconv``: AdaConv (Chandran et al., 2021) before each block's convolution;
* ``modconv``: StyleGAN2's weight modulation/demodulation (Karras et al., 2020) of each block's
  convolution.

The output is ``match_stats(IN(c) + delta, F(r))``: a zero-initialised residual on the
standardised content, re-normalised to the reference's per-channel statistics. At step 0 every
variant computes the ``colour-only`` baseline exactly, so anything it gains is structure.
Baselines without learning: ``identity`` (the content) and ``colour-only``.

Photographs: those scikit-image ships (``pip install -e ".[bench]"``), split by photograph
(never crops of one photograph on both sides; the stereo pair in one split), or any folders.
Held-out filters too: angles and strengths from bands never drawn in training.

    OMP_NUM_THREADS=2 python benchmarks/structure_transfer.py --json st.json --figure st.png
    OMP_NUM_THREADS=2 python benchmarks/structure_transfer.py --full --json st_full.json
    python benchmarks/structure_transfer.py --quick      # under a minute, a smoke run
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adaconv_gen.data.images import list_images, load_rgb, save_image_grid  # noqa: E402
from adaconv_gen.errors import UserInputError  # noqa: E402
from adaconv_gen.files import atomic_save_json  # noqa: E402
from adaconv_gen.models.stylegan.layers import ModulatedConv2d, modulated_conv2d  # noqa: E402
from adaconv_gen.nn import AdaConv, AdaIN  # noqa: E402

KERNEL_SIZE = 11  # every filter of the family fits in 11 x 11 (radius 5)
FAMILIES = ("blur", "relief", "sharpen")
VARIANTS = ("adain", "adain-wide", "adaconv", "modconv")
BASELINES = ("identity", "colour-only")
# Held-out filters: angles with (angle mod 30) in [20, 30) and strengths in the middle band.
ANGLE_PERIOD, ANGLE_HELD_OUT = 30.0, (20.0, 30.0)
STRENGTH_HELD_OUT = (0.4, 0.6)  # of the family's range, [0, 1]
RANGES = {"blur": (3.0, 9.0), "relief": (1.0, 3.0), "sharpen": (0.5, 2.0)}

# ----------------------------------------------------------------------------- the filters


def _grid(size: int = KERNEL_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets ``(x, y)`` of a ``size x size`` kernel: x to the right, y *up*."""
    r = np.arange(size) - size // 2
    x = np.broadcast_to(r[None, :], (size, size)).astype(np.float64)
    y = -np.broadcast_to(r[:, None], (size, size)).astype(np.float64)  # row index grows down
    return x, y


def motion_blur_kernel(length: float, angle: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Average along a segment of ``length`` px through the centre at ``angle`` degrees
    (counter-clockwise from the x axis, as the image is displayed), anti-aliased: each
    pixel's weight is ``max(0, 1 - distance to the segment)``, then the kernel sums to 1."""
    x, y = _grid(size)
    t = math.radians(angle)
    u = np.array([math.cos(t), math.sin(t)])
    half = (length - 1) / 2
    along = np.clip(x * u[0] + y * u[1], -half, half)
    dist = np.hypot(x - along * u[0], y - along * u[1])
    k = np.maximum(0.0, 1.0 - dist)
    return k / k.sum()


def directional_derivative_kernel(angle: float, sigma: float = 1.0,
                                  size: int = KERNEL_SIZE) -> np.ndarray:
    """Correlation kernel whose output is the derivative of a Gaussian-smoothed image along
    ``angle`` (on the ramp ``f = x cos a + y sin a`` it gives 1; it sums to 0)."""
    x, y = _grid(size)
    t = math.radians(angle)
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g /= g.sum()
    d = (x * math.cos(t) + y * math.sin(t)) * g
    return d / (d * (x * math.cos(t) + y * math.sin(t))).sum()


def _delta(size: int = KERNEL_SIZE) -> np.ndarray:
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def relief_kernel(strength: float, angle: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Oriented relief (emboss): ``f + strength * df/du`` with ``u`` at ``angle``."""
    return _delta(size) + strength * directional_derivative_kernel(angle, 1.0, size)


def sharpen_kernel(strength: float, angle: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Directional unsharp mask: ``f + strength * (f - motion_blur_5px(f, angle))``."""
    return _delta(size) + strength * (_delta(size) - motion_blur_kernel(5.0, angle, size))


def make_kernel(family: str, strength01: float, angle: float) -> np.ndarray:
    """The family's kernel for a strength in [0, 1] of its range and an angle in degrees."""
    lo, hi = RANGES[family]
    s = lo + strength01 * (hi - lo)
    if family == "blur":
        return motion_blur_kernel(s, angle)
    if family == "relief":
        return relief_kernel(s, angle)
    if family == "sharpen":
        return sharpen_kernel(s, angle)
    raise ValueError(f"unknown filter family {family!r}; valid: {', '.join(FAMILIES)}")


def is_held_out(strength01: float, angle: float) -> bool:
    """Held-out filters: the angle band OR the strength band is never drawn in training."""
    a = angle % ANGLE_PERIOD
    return (ANGLE_HELD_OUT[0] <= a < ANGLE_HELD_OUT[1]
            or STRENGTH_HELD_OUT[0] <= strength01 <= STRENGTH_HELD_OUT[1])


def sample_filter(rng: np.random.Generator, held_out: bool) -> tuple[str, float, float]:
    """``(family, strength01, angle)``: training draws avoid both held-out bands; held-out
    draws fall in both (an unseen angle at an unseen strength)."""
    family = FAMILIES[rng.integers(len(FAMILIES))]
    if held_out:
        angle = ANGLE_PERIOD * rng.integers(12) + rng.uniform(*ANGLE_HELD_OUT)
        strength = rng.uniform(*STRENGTH_HELD_OUT)
        return family, float(strength), float(angle % 360)
    while True:
        angle, strength = rng.uniform(0, 360), rng.uniform(0, 1)
        if not is_held_out(strength, angle):
            return family, float(strength), float(angle)


def apply_filters(x: Tensor, kernels: Tensor) -> Tensor:
    """Correlate each sample's channels with its own kernel, reflect padding (same size).

    Args:
        x: ``(B, C, H, W)``.
        kernels: ``(B, k, k)``, one kernel per sample, shared by its channels.
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    xp = F.pad(x.reshape(1, b * c, h, w), (k // 2,) * 4, mode="reflect")
    weight = kernels.to(x).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, k, k)
    return F.conv2d(xp, weight, groups=b * c).reshape(b, c, h, w)


def match_stats(x: Tensor, ref: Tensor, eps: float = 1e-6) -> Tensor:
    """``x`` with each channel's mean and standard deviation set to ``ref``'s (per sample)."""
    mx, sx = x.mean((2, 3), keepdim=True), x.std((2, 3), unbiased=False, keepdim=True)
    mr, sr = ref.mean((2, 3), keepdim=True), ref.std((2, 3), unbiased=False, keepdim=True)
    return (x - mx) / (sx + eps) * sr + mr


def standardise(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-sample, per-channel zero mean and unit standard deviation."""
    return (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), unbiased=False, keepdim=True) + eps)


# ----------------------------------------------------------------------------- photographs

# Photographs shipped with scikit-image (no download). Synthetic images (binary_blobs,
# checkerboard, colorwheel, horse, logo, shepp_logan_phantom) are left out; `cat` is `chelsea`.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins",
                  "grass", "gravel", "hubble_deep_field", "immunohistochemistry",
                  "microaneurysms", "moon", "page", "retina", "rocket", "text",
                  "motorcycle_left", "motorcycle_right")
# Held out by photograph; the stereo pair stays together (in training).
SKIMAGE_EVAL = ("camera", "chelsea", "coffee", "coins", "gravel", "immunohistochemistry")
MAX_SIDE = 256  # photographs are downscaled (never up) so the short side is at most this


def _to_float_rgb(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    return (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-8)


def _downscale(img: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    s = max_side / min(h, w)
    if s >= 1:
        return img
    pil = Image.fromarray((img * 255).round().astype(np.uint8))
    pil = pil.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return np.asarray(pil).astype(np.float32) / 255.0


def skimage_photos() -> dict[str, np.ndarray]:
    """The photographs scikit-image ships, as float RGB ``(H, W, 3)`` in [0, 1] (grey -> RGB)."""
    try:
        from skimage import data
    except ImportError as e:  # pragma: no cover - the [bench] and [test] extras install it
        raise UserInputError("the default photographs need scikit-image: "
                             "pip install -e \".[bench]\" or pass --train-images/--eval-images") from e
    out = {}
    for name in SKIMAGE_PHOTOS:
        if name.startswith("motorcycle_"):
            left, right, _ = data.stereo_motorcycle()
            arr = left if name.endswith("left") else right
        else:
            arr = getattr(data, name)()
        out[name] = _downscale(_to_float_rgb(arr), MAX_SIDE)
    return out


def folder_photos(folder: str | Path, flag: str) -> dict[str, np.ndarray]:
    """Every image under ``folder`` as float RGB, keyed by its path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{flag} {folder}: not a folder")
    paths = list_images(folder)
    if not paths:
        raise UserInputError(f"{flag} {folder}: no images (.png, .jpg, .jpeg, .webp, .bmp)")
    return {str(Path(p).resolve()): _downscale(np.asarray(load_rgb(p)).astype(np.float32) / 255.0,
                                               MAX_SIDE) for p in paths}


def split_photos(train_dir=None, eval_dir=None) -> tuple[dict, dict]:
    """``(train, eval)`` photographs; raises ``UserInputError`` when a photograph is on both sides."""
    default = None
    if train_dir is None or eval_dir is None:
        default = skimage_photos()
    train = folder_photos(train_dir, "--train-images") if train_dir else {
        k: v for k, v in default.items() if k not in SKIMAGE_EVAL}
    evals = folder_photos(eval_dir, "--eval-images") if eval_dir else {
        k: v for k, v in default.items() if k in SKIMAGE_EVAL}
    both = set(train) & set(evals)
    if both:
        raise UserInputError(f"--eval-images: {len(both)} photograph(s) also in the training set, "
                             f"e.g. {sorted(both)[0]}")
    for name, photos in (("training", train), ("held-out", evals)):
        if len(photos) < 2:
            raise UserInputError(f"the {name} set needs at least 2 photographs (content and "
                                 f"reference come from different ones), got {len(photos)}")
    return train, evals


# ----------------------------------------------------------------------------- examples

FLAT_STD = 0.03  # crops whose grey level varies less than this are skipped (flat)


def random_crop(rng: np.random.Generator, photo: np.ndarray, size: int,
                tries: int = 50) -> np.ndarray | None:
    """A ``(size, size, 3)`` crop that is not flat, or None after ``tries`` flat ones."""
    h, w = photo.shape[:2]
    if h < size or w < size:
        return None
    for _ in range(tries):
        i, j = rng.integers(h - size + 1), rng.integers(w - size + 1)
        crop = photo[i:i + size, j:j + size]
        if crop.mean(axis=2).std() >= FLAT_STD:
            return crop
    return None


@dataclass
class Batch:
    content: Tensor  # (B, 3, H, W) in [0, 1]
    reference: Tensor  # (B, 3, H, W): F(r), then the reference itself
    target: Tensor  # (B, 3, H, W): match_stats(F(c), F(r))
    filters: list = field(default_factory=list)  # (family, strength01, angle) per sample
    photos: list = field(default_factory=list)  # content photograph names


def make_batch(rng: np.random.Generator, photos: dict[str, np.ndarray], n: int, size: int,
               held_out_filters: bool, content_names: list[str] | None = None) -> Batch:
    """``n`` examples: content and reference crops from two different photographs."""
    names = sorted(photos)
    contents, refs, kernels, filters, used = [], [], [], [], []
    while len(contents) < n:
        cname = content_names[len(contents)] if content_names else names[rng.integers(len(names))]
        others = [m for m in names if m != cname]
        rname = others[rng.integers(len(others))]
        c, r = random_crop(rng, photos[cname], size), random_crop(rng, photos[rname], size)
        if c is None or r is None:
            if content_names and c is None:
                raise UserInputError(f"photograph {cname}: no non-flat {size}x{size} crop")
            continue
        f = sample_filter(rng, held_out_filters)
        contents.append(c)
        refs.append(r)
        kernels.append(make_kernel(*f))
        filters.append(f)
        used.append(cname)
    c = torch.from_numpy(np.stack(contents)).permute(0, 3, 1, 2).float()
    r = torch.from_numpy(np.stack(refs)).permute(0, 3, 1, 2).float()
    k = torch.from_numpy(np.stack(kernels)).float()
    fr = apply_filters(r, k)
    return Batch(c, fr, match_stats(apply_filters(c, k), fr), filters, used)


# ----------------------------------------------------------------------------- the network


class StyleEncoder(nn.Module):
    """Reference -> style vector: three convolutions, then mean and std pooling (what a
    filter changes is in the gradients' energy per orientation)."""

    def __init__(self, style_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.mlp = nn.Sequential(nn.Linear(4 * width, style_dim), nn.LeakyReLU(0.2),
                                 nn.Linear(style_dim, style_dim))

    def forward(self, ref: Tensor) -> Tensor:
        h = self.convs(standardise(ref))
        return self.mlp(torch.cat([h.mean((2, 3)), h.std((2, 3))], dim=1))


class ModConv(nn.Module):
    """StyleGAN2's :class:`ModulatedConv2d` (modulation + demodulation) with reflect padding."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.mod = ModulatedConv2d(channels, channels, 3, style_dim)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        styles = self.mod.affine(s)  # (B, C_in)
        out = modulated_conv2d(F.pad(x, (1,) * 4, mode="reflect"), self.mod.weight * self.mod.scale,
                               styles, padding=0)
        return out + self.bias.view(1, -1, 1, 1)


class Block(nn.Module):
    """One modulated 3x3 block: ``act(conv(mod(h, s)))``; for ``modconv`` the modulation is
    the convolution's own weight (StyleGAN2), at the same place."""

    def __init__(self, modulation: str, channels: int, style_dim: int, **adaconv_kwargs) -> None:
        super().__init__()
        self.modulation = modulation
        if modulation == "modconv":
            self.conv = ModConv(channels, style_dim)
            return
        if modulation == "adain":
            self.mod = AdaIN(style_dim, channels)
        elif modulation == "adaconv":
            self.mod = AdaConv(style_dim, channels, **adaconv_kwargs)
        else:
            raise ValueError(f"unknown modulation {modulation!r}; valid: adain, adaconv, modconv")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")

    def forward(self, h: Tensor, s: Tensor) -> Tensor:
        h = self.conv(h, s) if self.modulation == "modconv" else self.conv(self.mod(h, s))
        return F.leaky_relu(h, 0.2)


@dataclass
class NetConfig:
    width: int = 32
    depth: int = 4
    style_dim: int = 64
    adain_wide_width: int = 64
    adaconv_kernel_size: int = 3
    adaconv_group_size: int = 4
    adaconv_style_channels: int = 8
    modulated_blocks: int | None = None  # modulate only the first N blocks (None: all)


class TransferNet(nn.Module):
    """``match_stats(IN(c) + delta(IN(c), s), ref)`` with ``s = StyleEncoder(ref)``.

    ``delta``: a 3x3 stem, ``depth`` blocks (the first ``modulated_blocks`` modulated by
    ``modulation``, the rest plain), and a zero-initialised 1x1 output, so the network starts
    out as the colour-only baseline.
    """

    def __init__(self, modulation: str, cfg: NetConfig) -> None:
        super().__init__()
        base = "adain" if modulation == "adain-wide" else modulation
        width = cfg.adain_wide_width if modulation == "adain-wide" else cfg.width
        self.modulation = modulation
        self.style = StyleEncoder(cfg.style_dim)
        self.stem = nn.Conv2d(3, width, 3, padding=1, padding_mode="reflect")
        kw = {}
        if base == "adaconv":
            kw = {"kernel_size": cfg.adaconv_kernel_size,
                  "groups": width // cfg.adaconv_group_size,
                  "style_channels": cfg.adaconv_style_channels}
        n_mod = cfg.depth if cfg.modulated_blocks is None else cfg.modulated_blocks
        self.blocks = nn.ModuleList(
            Block(base, width, cfg.style_dim, **kw) if i < n_mod else PlainBlock(width)
            for i in range(cfg.depth))
        self.out = nn.Conv2d(width, 3, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, content: Tensor, reference: Tensor) -> Tensor:
        s = self.style(reference)
        z = standardise(content)
        h = F.leaky_relu(self.stem(z), 0.2)
        for block in self.blocks:
            h = block(h, s)
        return match_stats(z + self.out(h), reference)


class PlainBlock(nn.Module):
    """An unmodulated block (for the depth ablation): ``act(conv(h))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")

    def forward(self, h: Tensor, s: Tensor) -> Tensor:
        return F.leaky_relu(self.conv(h), 0.2)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def baseline_output(name: str, content: Tensor, reference: Tensor) -> Tensor:
    """``identity``: the content; ``colour-only``: the content with the reference's statistics."""
    if name == "identity":
        return content
    if name == "colour-only":
        return match_stats(content, reference)
    raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")


# ----------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 8
    crop: int = 32
    lr: float = 2e-3
    final_lr_fraction: float = 0.05  # cosine decay to this fraction of lr
    grad_clip: float = 1.0
    seed: int = 0


def train(model: nn.Module, photos: dict, cfg: TrainConfig, log_every: int = 0,
          batches=None) -> dict:
    """Adam + cosine decay on the MSE to the target; the same batches for every model (seeded).

    ``batches``: optional ``step -> Batch`` replacing the random training batches (tests).

    Returns ``{"losses": [...per step...], "seconds": wall, "cpu_seconds": process CPU time}``
    (on a shared machine the CPU time is what the run would take alone, per thread).
    """
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    lo = cfg.final_lr_fraction

    def lr_at(step):
        return cfg.lr * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * step / max(1, cfg.steps))))

    losses = []
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(cfg.steps):
        batch = (batches(step) if batches is not None else
                 make_batch(rng, photos, cfg.batch_size, cfg.crop, held_out_filters=False))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = F.mse_loss(model(batch.content, batch.reference), batch.target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"    step {step + 1}/{cfg.steps}  loss {np.mean(losses[-log_every:]):.5f}  "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
    return {"losses": losses, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


def plateau(losses: list[float], window: float = 0.2, tol: float = 0.02) -> tuple[bool, float]:
    """Whether the loss has plateaued: the mean over the last ``window`` of the steps is less
    than ``tol`` (relative) below the mean over the ``window`` before it.

    Returns ``(plateaued, relative decrease)``.
    """
    n = max(1, int(len(losses) * window))
    if len(losses) < 2 * n:
        return False, float("nan")
    last, prev = float(np.mean(losses[-n:])), float(np.mean(losses[-2 * n:-n]))
    rel = (prev - last) / prev if prev > 0 else 0.0
    return rel < tol, rel


# ----------------------------------------------------------------------------- metrics


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR in dB from a mean squared error."""
    return 10.0 * math.log10(data_range ** 2 / mse)


def per_example_mse(output: Tensor, target: Tensor) -> Tensor:
    """``(B,)`` mean squared error over each example's pixels and channels."""
    return (output.double() - target.double()).square().flatten(1).mean(1)


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> Tensor:
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-r * r / (2 * sigma * sigma))
    return g / g.sum()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11,
         sigma: float = 1.5) -> Tensor:
    """Per-example SSIM (Wang et al., 2004) of ``(B, C, H, W)`` images, averaged over channels.

    Gaussian-weighted local statistics (``win_size`` taps, ``sigma``; 11 and 1.5 as in the
    paper), population covariances, ``K1 = 0.01``, ``K2 = 0.03``, the map averaged over the
    interior (a border of ``win_size // 2`` left out, so padding never enters): the conventions
    of ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.
    """
    x, y = x.double(), y.double()
    b, c = x.shape[:2]
    g = _gaussian_window(win_size, sigma).to(x.device)
    pad = win_size // 2

    def blur(t):  # separable Gaussian (the border it pads is cropped from the map below)
        t = t.reshape(b * c, 1, *t.shape[-2:])
        t = F.conv2d(F.pad(t, (pad, pad, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
        t = F.conv2d(F.pad(t, (0, 0, pad, pad), mode="reflect"), g.view(1, 1, -1, 1))
        return t.reshape(b, c, *t.shape[-2:])

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s[..., pad:-pad, pad:-pad].mean((2, 3)).mean(1)


def bootstrap(mse: np.ndarray, ssims: np.ndarray, groups: list[str], n_boot: int = 2000,
              seed: int = 0) -> dict:
    """PSNR (from the pooled MSE) and mean SSIM with 95% intervals, resampling photographs.

    Each resample draws as many held-out photographs as there are, with replacement, and
    pools all examples whose content is one of them (a photograph drawn twice counts twice).
    """
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    idx = {n: np.array([i for i, g in enumerate(groups) if g == n]) for n in names}
    ps, ss = [], []
    for _ in range(n_boot):
        pick = np.concatenate([idx[names[j]] for j in rng.integers(len(names), size=len(names))])
        ps.append(psnr_from_mse(float(mse[pick].mean())))
        ss.append(float(ssims[pick].mean()))
    return {"psnr": psnr_from_mse(float(mse.mean())), "ssim": float(ssims.mean()),
            "psnr_ci95": [float(np.percentile(ps, 2.5)), float(np.percentile(ps, 97.5))],
            "ssim_ci95": [float(np.percentile(ss, 2.5)), float(np.percentile(ss, 97.5))]}


def paired_gain(a: dict, b: dict, groups: list[str], n_boot: int = 2000, seed: int = 0) -> dict:
    """PSNR and SSIM of ``a`` minus those of ``b`` on the same examples, with 95% intervals from
    the same photograph resamples (paired: the photographs' own difficulty cancels)."""
    rng = np.random.default_rng(seed)
    ma, mb = np.asarray(a["mse_per_example"]), np.asarray(b["mse_per_example"])
    sa, sb = np.asarray(a["ssim_per_example"]), np.asarray(b["ssim_per_example"])
    names = sorted(set(groups))
    idx = {n: np.array([i for i, g in enumerate(groups) if g == n]) for n in names}
    dp, ds = [], []
    for _ in range(n_boot):
        pick = np.concatenate([idx[names[j]] for j in rng.integers(len(names), size=len(names))])
        dp.append(psnr_from_mse(float(ma[pick].mean())) - psnr_from_mse(float(mb[pick].mean())))
        ds.append(float(sa[pick].mean() - sb[pick].mean()))
    return {"psnr": psnr_from_mse(float(ma.mean())) - psnr_from_mse(float(mb.mean())),
            "ssim": float(sa.mean() - sb.mean()),
            "psnr_ci95": [float(np.percentile(dp, 2.5)), float(np.percentile(dp, 97.5))],
            "ssim_ci95": [float(np.percentile(ds, 2.5)), float(np.percentile(ds, 97.5))]}


@torch.no_grad()
def evaluate(outputs: Tensor, batch: Batch) -> dict:
    """Metrics of ``outputs`` against the batch's targets (intervals over content photographs),
    with the per-example values (for paired comparisons)."""
    mse = per_example_mse(outputs, batch.target).numpy()
    ss = ssim(outputs, batch.target).numpy()
    return {**bootstrap(mse, ss, batch.photos), "mse_per_example": mse.tolist(),
            "ssim_per_example": ss.tolist()}


def predict(model: nn.Module, batch: Batch, chunk: int = 32) -> Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(batch.content[i:i + chunk], batch.reference[i:i + chunk])
                          for i in range(0, len(batch.content), chunk)])


def make_eval_batch(photos: dict, n_per_photo: int, size: int, seed: int = 1234) -> Batch:
    """A fixed held-out set: ``n_per_photo`` contents from each photograph, held-out filters."""
    names = [n for n in sorted(photos) for _ in range(n_per_photo)]
    return make_batch(np.random.default_rng(seed), photos, len(names), size,
                      held_out_filters=True, content_names=names)


# ----------------------------------------------------------------------------- the run

SETTINGS = {
    "quick": dict(steps=40, width=8, adain_wide_width=16, depth=2, eval_per_photo=4, crop=32),
    "default": dict(steps=1000, width=32, adain_wide_width=64, depth=4, eval_per_photo=16, crop=32),
    "full": dict(steps=3000, width=32, adain_wide_width=64, depth=4, eval_per_photo=32, crop=32),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--train-images", "--train_images", default=None,
                   help="folder of training photographs (default: scikit-image's, split by photo)")
    p.add_argument("--eval-images", "--eval_images", default=None,
                   help="folder of held-out photographs (default: scikit-image's held-out ones)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per variant (default: 1000; --full 3000; --quick 40)")
    p.add_argument("--full", action="store_true",
                   help="longer training, more held-out examples, and the ablation")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (under a minute)")
    p.add_argument("--ablation", action="store_true",
                   help="also run the ablation (AdaConv with 1x1 kernels; AdaIN/AdaConv "
                        "modulating only the first block)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated learned variants among {', '.join(VARIANTS)}, "
                        "or none (baselines and ablation only)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (every variant)")
    p.add_argument("--batch-size", "--batch_size", type=int, default=8, help="batch size")
    p.add_argument("--seed", type=int, default=0, help="seed (data order and initialisation)")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument("--figure", default=None, help="write a PNG grid of held-out examples here")
    p.add_argument("--figure-rows", "--figure_rows", type=int, default=4,
                   help="held-out examples in the figure")
    p.add_argument("--log-every", "--log_every", type=int, default=0,
                   help="print the mean training loss every N steps (0: never)")
    args = p.parse_args(argv)
    if args.full and args.quick:
        raise UserInputError("--full and --quick: choose one")
    if args.steps is not None and args.steps < 1:
        raise UserInputError(f"--steps {args.steps}: must be at least 1")
    if args.lr <= 0:
        raise UserInputError(f"--lr {args.lr}: must be positive")
    if args.batch_size < 1:
        raise UserInputError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.figure_rows < 1:
        raise UserInputError(f"--figure-rows {args.figure_rows}: must be at least 1")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.variants = [] if names == ["none"] else names
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad or not names:
        raise UserInputError(f"--variants {','.join(names)}: valid are {', '.join(VARIANTS)} or none")
    for flag, value in (("--json", args.json), ("--figure", args.figure)):
        if value is not None and Path(value).is_dir():
            raise UserInputError(f"{flag} {value}: is a folder, expected a file")
    return args


def _fmt_ci(d: dict, key: str, digits: int) -> str:
    lo, hi = d[f"{key}_ci95"]
    return f"{d[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_table(results: dict) -> str:
    """A markdown table, one row per variant (gains: paired, over the colour-only baseline)."""
    rows = ["| variant | PSNR dB [95% CI] | SSIM [95% CI] | PSNR gain over colour-only [95% CI] "
            "| SSIM gain [95% CI] | params | train s | loss plateaued |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        plateau_s = "-" if r.get("plateaued") is None else (
            f"{'yes' if r['plateaued'] else 'no'} ({100 * r['last_window_decrease']:.1f}%)")
        g = r.get("gain_vs_colour_only")
        gains = (f"{_fmt_ci(g, 'psnr', 2)} | {_fmt_ci(g, 'ssim', 4)}" if g else "- | -")
        rows.append(f"| {name} | {_fmt_ci(r, 'psnr', 2)} | {_fmt_ci(r, 'ssim', 3)} | {gains} | "
                    f"{r['params']:,} | {r.get('train_seconds', 0):.0f} | {plateau_s} |")
    return "\n".join(rows)


PAIRS = (("adaconv", "adain"), ("adaconv", "adain-wide"), ("modconv", "adain"),
         ("adain-wide", "adain"))


def compare_variants(results: dict, groups: list[str]) -> dict:
    """Paired differences ``a - b`` (:func:`paired_gain`) for the pairs in ``PAIRS`` present."""
    return {f"{a} - {b}": paired_gain(results[a], results[b], groups)
            for a, b in PAIRS if a in results and b in results}


def run_variant(name: str, net_cfg: NetConfig, train_cfg: TrainConfig, train_photos: dict,
                eval_batch: Batch, log_every: int = 0) -> tuple[dict, Tensor]:
    torch.manual_seed(train_cfg.seed)
    modulation = name.split(":")[0]
    model = TransferNet(modulation, net_cfg)
    hist = train(model, train_photos, train_cfg, log_every)
    out = predict(model, eval_batch)
    res = evaluate(out, eval_batch)
    colour = evaluate(baseline_output("colour-only", eval_batch.content, eval_batch.reference),
                      eval_batch)
    res["gain_vs_colour_only"] = paired_gain(res, colour, eval_batch.photos)
    plat, rel = plateau(hist["losses"])
    n = max(1, len(hist["losses"]) // 20)
    res.update(params=count_params(model), train_seconds=hist["seconds"],
               train_cpu_seconds=hist["cpu_seconds"], plateaued=plat,
               last_window_decrease=rel, loss_first=float(np.mean(hist["losses"][:n])),
               loss_last=float(np.mean(hist["losses"][-n:])),
               loss_curve=[float(np.mean(hist["losses"][i:i + n]))
                           for i in range(0, len(hist["losses"]), n)])
    return res, out


def main(argv=None) -> dict:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    st = SETTINGS[mode]
    steps = args.steps or st["steps"]
    train_photos, eval_photos = split_photos(args.train_images, args.eval_images)
    net_cfg = NetConfig(width=st["width"], depth=st["depth"], adain_wide_width=st["adain_wide_width"])
    train_cfg = TrainConfig(steps=steps, batch_size=args.batch_size, crop=st["crop"], lr=args.lr,
                            seed=args.seed)
    eval_batch = make_eval_batch(eval_photos, st["eval_per_photo"], st["crop"])
    print(f"structure transfer: {len(train_photos)} training photographs, {len(eval_photos)} "
          f"held-out photographs, {len(eval_batch.content)} held-out examples "
          f"({st['crop']} px, held-out filters); {steps} steps x batch {args.batch_size}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    results, outputs = {}, {}
    for name in BASELINES:
        out = baseline_output(name, eval_batch.content, eval_batch.reference)
        results[name] = {**evaluate(out, eval_batch), "params": 0, "train_seconds": 0.0,
                         "plateaued": None}
        outputs[name] = out

    def train(key: str, modulation: str, cfg: NetConfig, ssim: bool = True):
        """Train one variant and print its one-line summary."""
        print(f"  training {key} ...", flush=True)
        r, out = run_variant(modulation, cfg, train_cfg, train_photos, eval_batch, args.log_every)
        shown = f"  SSIM {_fmt_ci(r, 'ssim', 3)}" if ssim else ""
        print(f"  {key}: PSNR {_fmt_ci(r, 'psnr', 2)}{shown}  gain over colour-only "
              f"{_fmt_ci(r['gain_vs_colour_only'], 'psnr', 2)} dB  "
              f"{r['params']:,} params  {r['train_seconds']:.0f} s", flush=True)
        return r, out

    for name in args.variants:
        results[name], outputs[name] = train(name, name, net_cfg)
    print()
    print(format_table(results))
    paired = compare_variants(results, eval_batch.photos)
    for key, g in paired.items():
        print(f"  {key} (paired): PSNR {_fmt_ci(g, 'psnr', 2)} dB  SSIM {_fmt_ci(g, 'ssim', 4)}")

    ablation = {}
    if args.full or args.ablation:
        print("\nablation (where the difference lives):", flush=True)
        ab_cfgs = {
            "adaconv 1x1 kernels": (("adaconv",), {"adaconv_kernel_size": 1}),
            "first block modulated only": (("adain", "adaconv"), {"modulated_blocks": 1}),
        }
        for title, (mods, change) in ab_cfgs.items():
            for mod in mods:
                cfg = NetConfig(**{**net_cfg.__dict__, **change})
                key = f"{mod} ({title})"
                ablation[key], _ = train(key, mod, cfg, ssim=False)
        print()
        print(format_table(ablation))

    report = {
        "variants": results,
        "paired": paired,
        "ablation": ablation,
        "settings": {"mode": mode, "steps": steps, "batch_size": args.batch_size,
                     "crop": st["crop"], "lr": args.lr, "optimizer": "Adam(0.9, 0.99), cosine "
                     f"decay to {train_cfg.final_lr_fraction} x lr, grad-norm clip "
                     f"{train_cfg.grad_clip}", "net": net_cfg.__dict__, "seed": args.seed,
                     "held_out_filters": {"angle_mod_30_deg": ANGLE_HELD_OUT,
                                          "strength_fraction": STRENGTH_HELD_OUT,
                                          "ranges": RANGES}},
        "split": {"train_photos": sorted(train_photos), "eval_photos": sorted(eval_photos),
                  "n_eval_photos": len(eval_photos), "n_eval_examples": len(eval_batch.content)},
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "command": "python benchmarks/structure_transfer.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
    }
    if args.json:
        atomic_save_json(report, args.json)
        print(f"wrote {args.json}")
    if args.figure:
        save_figure(args.figure, eval_batch, outputs, args.figure_rows)
        print(f"wrote {args.figure}")
    return report


def save_figure(path, batch: Batch, outputs: dict, rows: int, scale: int = 3) -> None:
    """Rows of held-out examples: content, reference, target, then each variant's output.

    The rows are the examples where structure matters most, chosen without looking at any
    learned output: the largest colour-only error, one per held-out photograph (then the
    next largest). Values clipped to [0, 1], cells enlarged ``scale`` x (nearest neighbour).
    """
    colour = per_example_mse(baseline_output("colour-only", batch.content, batch.reference),
                             batch.target)
    ranked = torch.argsort(colour, descending=True).tolist()
    order, seen = [], set()
    for i in ranked:
        if batch.photos[i] not in seen:
            seen.add(batch.photos[i])
            order.append(i)
    order += [i for i in ranked if i not in order]
    cols = [batch.content, batch.reference, batch.target] + [
        outputs[k] for k in outputs if k != "identity"]
    cells = [col[i] for i in order[:rows] for col in cols]
    grid = torch.stack(cells).clamp(0, 1)
    if scale > 1:
        grid = F.interpolate(grid, scale_factor=scale, mode="nearest")
    save_image_grid(grid, path, nrow=len(cols), value_range=(0.0, 1.0))


if __name__ == "__main__":
    try:
        main()
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
