"""Does the StarGAN v2 demo translate? Four numbers a person can read, on held-out demo images.

For reference-guided translations ``G(x_src, E(x_ref, y_ref))`` of every held-out source into
every other domain (the target is the reference's domain), measured in [0, 1] pixel units:

* ``domain``: the fraction of outputs that a pattern classifier, fitted on the demo's training
  images, assigns to the target domain (:class:`PatternClassifier`: the image's main colour
  axis, its Fourier magnitude pooled by radius and by sorted orientation, nearest class mean);
* ``colour``: the Pearson correlation, across (source, reference) pairs, between the output's
  and the reference's mean colour, per RGB channel, averaged over the three channels;
* ``source``: how much of the source's layout survives: the absolute Pearson correlation between
  the low-pass (``pool`` x ``pool`` average) main-colour-axis images of output and source,
  averaged over pairs (absolute, because a translation may swap which colour is the light one);
* ``diversity``: the mean L1 distance between the outputs of one source under different
  references of one target domain, averaged over sources and target domains
  (``diversity_latent``: the same under different latent codes, for the model only).

The same numbers for three trivial outputs (a copy of the source, a copy of the reference,
uniform noise) show what each number means. StarGAN v2: Choi et al., CVPR 2020.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..files import atomic_save_json

__all__ = [
    "TARGETS",
    "main_axis",
    "pattern_features",
    "PatternClassifier",
    "colour_correlation",
    "layout_similarity",
    "mean_pairwise_l1",
    "translation_scores",
    "evaluate_demo",
    "format_demo_report",
]

# fixed before tuning the demo (issue: "A demo that visibly works")
TARGETS = {"domain": 0.8, "colour": 0.5}


def main_axis(x: Tensor) -> Tensor:
    """Project ``(N, 3, H, W)`` images on each image's main colour axis (first principal
    component of its pixels), mean removed: ``(N, H, W)``. Its sign is arbitrary."""
    x = x.double()
    n, c, h, w = x.shape
    p = x.reshape(n, c, h * w)
    p = p - p.mean(dim=2, keepdim=True)
    cov = p @ p.transpose(1, 2) / (h * w)  # (N, 3, 3)
    _, vecs = torch.linalg.eigh(cov)
    axis = vecs[:, :, -1]  # (N, 3), largest eigenvalue
    return torch.einsum("nc,ncp->np", axis, p).reshape(n, h, w)


def pattern_features(x: Tensor, radial_bins: int = 8, angle_bins: int = 24) -> Tensor:
    """Colour-blind, rotation-blind pattern features of ``(N, 3, H, W)`` images: the Fourier
    magnitude of the standardised main-colour-axis image, summed into radius bins and into
    orientation bins (each with its two neighbours) sorted by energy (so stripes at any angle look alike), each normalised to
    sum 1. Returns ``(N, radial_bins + angle_bins)``."""
    a = main_axis(x)
    n, h, w = a.shape
    a = a / a.flatten(1).std(dim=1).clamp_min(1e-8)[:, None, None]
    mag = torch.fft.fftshift(torch.fft.fft2(a).abs(), dim=(-2, -1))
    fy = torch.arange(h, dtype=torch.float64) - h // 2
    fx = torch.arange(w, dtype=torch.float64) - w // 2
    yy, xx = torch.meshgrid(fy / (h / 2), fx / (w / 2), indexing="ij")
    r = torch.hypot(yy, xx)
    keep = (r > 0) & (r <= 1)
    r_idx = (r * radial_bins).long().clamp(max=radial_bins - 1)
    ang = torch.remainder(torch.atan2(yy, xx), torch.pi)
    a_idx = (ang / torch.pi * angle_bins).long().clamp(max=angle_bins - 1)
    m = mag.flatten(1)[:, keep.flatten()]  # (N, K)
    radial = torch.zeros(n, radial_bins, dtype=torch.float64).index_add_(1, r_idx[keep], m)
    angular = torch.zeros(n, angle_bins, dtype=torch.float64).index_add_(1, a_idx[keep], m)
    # energy within +-1 bin of each orientation (so an angle on a bin edge is not split), sorted
    angular = angular + angular.roll(1, dims=1) + angular.roll(-1, dims=1)
    angular = angular.sort(dim=1, descending=True).values
    norm = lambda v: v / v.sum(dim=1, keepdim=True).clamp_min(1e-12)  # noqa: E731
    return torch.cat([norm(radial), norm(angular)], dim=1)


class PatternClassifier:
    """Nearest class mean on :func:`pattern_features`, standardised with the training statistics.

    Args:
        radial_bins, angle_bins: see :func:`pattern_features`.
    """

    def __init__(self, radial_bins: int = 8, angle_bins: int = 24) -> None:
        self.radial_bins, self.angle_bins = radial_bins, angle_bins
        self.mean = self.std = self.centroids = None

    def _features(self, x: Tensor) -> Tensor:
        return pattern_features(x, self.radial_bins, self.angle_bins)

    def fit(self, x: Tensor, y: Tensor) -> PatternClassifier:
        """Fit on images ``x`` in [0, 1] with integer labels ``y`` (every label 0..K-1 present)."""
        f = self._features(x)
        self.mean, self.std = f.mean(0), f.std(0).clamp_min(1e-8)
        z = (f - self.mean) / self.std
        k = int(y.max()) + 1
        self.centroids = torch.stack([z[y == i].mean(0) for i in range(k)])
        return self

    def predict(self, x: Tensor) -> Tensor:
        """Labels of images ``x`` in [0, 1]."""
        if self.centroids is None:
            raise RuntimeError("fit the classifier first")
        z = (self._features(x) - self.mean) / self.std
        return torch.cdist(z, self.centroids).argmin(dim=1)


def _pearson(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    a = a - a.mean(dim=dim, keepdim=True)
    b = b - b.mean(dim=dim, keepdim=True)
    den = (a.square().sum(dim) * b.square().sum(dim)).sqrt()
    return torch.where(den > 0, (a * b).sum(dim) / den.clamp_min(1e-300), torch.zeros_like(den))


def colour_correlation(out: Tensor, ref: Tensor) -> float:
    """Mean over RGB of the Pearson correlation, across images, of output and reference mean colours."""
    mo, mr = out.double().mean(dim=(2, 3)), ref.double().mean(dim=(2, 3))  # (N, 3)
    return _pearson(mo.T, mr.T).mean().item()


def layout_similarity(out: Tensor, src: Tensor, pool: int = 2) -> float:
    """Mean |Pearson correlation| of the ``pool``-averaged main-colour-axis images of output and source."""
    lo = F.avg_pool2d(main_axis(out)[:, None], pool).flatten(1)
    ls = F.avg_pool2d(main_axis(src)[:, None], pool).flatten(1)
    return _pearson(lo, ls).abs().mean().item()


def mean_pairwise_l1(images: Tensor) -> float:
    """Mean L1 distance (per pixel and channel) over all pairs of ``(K, 3, H, W)`` images, K >= 2."""
    k = images.size(0)
    flat = images.double().flatten(1)
    d = [(flat[i] - flat[j]).abs().mean() for i in range(k) for j in range(i + 1, k)]
    return torch.stack(d).mean().item()


def translation_scores(outputs: Tensor, x: Tensor, y: Tensor, classifier: PatternClassifier,
                       pool: int = 2) -> dict[str, float]:
    """The four numbers for translations ``outputs[i, j]`` of source ``x[i]`` with reference ``x[j]``.

    Args:
        outputs: ``(N, N, 3, H, W)`` in [0, 1]; only pairs with ``y[i] != y[j]`` are read.
        x: the ``N`` held-out images in [0, 1], used both as sources and as references.
        y: their domains.
        classifier: a fitted :class:`PatternClassifier`.
        pool: low-pass size of :func:`layout_similarity`.

    Returns:
        ``domain``, ``colour``, ``source``, ``diversity`` (see the module docstring).
    """
    i, j = torch.nonzero(y[:, None] != y[None, :], as_tuple=True)
    out = outputs[i, j]
    pred = classifier.predict(out)
    div = []
    for s in range(len(x)):
        for d in y.unique().tolist():
            refs = torch.nonzero(y == d).flatten()
            if d != y[s] and len(refs) >= 2:
                div.append(mean_pairwise_l1(outputs[s, refs]))
    return {
        "domain": (pred == y[j]).double().mean().item(),
        "colour": colour_correlation(out, x[j]),
        "source": layout_similarity(out, x[i], pool),
        "diversity": sum(div) / len(div),
    }


@torch.no_grad()
def evaluate_demo(nets: Any, train_dir: str | os.PathLike, val_dir: str | os.PathLike, img_size: int,
                  output: str | os.PathLike | None = None, *, num_latent: int = 4, seed: int = 0,
                  device: torch.device | str = "cpu") -> dict[str, Any]:
    """Score a StarGAN v2 model on held-out images of a domain dataset (the demo's), with trivial outputs.

    Args:
        nets: a ``StarGANv2`` (e.g. the EMA networks): ``generator``, ``style_encoder``,
            ``mapping_network`` and ``config['latent_dim']``.
        train_dir: ``<domain>/*`` images the pattern classifier is fitted on.
        val_dir: held-out ``<domain>/*`` images: every one is a source and a reference.
        img_size: the model's image size.
        output: where to write the result as JSON (None: nowhere).
        num_latent: latent codes per (source, target domain) for ``diversity_latent``.
        seed: seeds the latent codes and the noise output.
        device: where the networks are.

    Returns:
        ``{"model": {...}, "copy of source": {...}, "copy of reference": {...}, "noise": {...},
        "classifier_accuracy": .., "num_sources": .., "targets": ...}``.
    """
    from ..data.domains import DomainDataset, check_domains, eval_transform

    domains = check_domains(train_dir, val_dir)
    tf = eval_transform(img_size)

    def load(root):
        ds = DomainDataset(root, tf, domains, check=False)
        xs, ys = zip(*(ds[k] for k in range(len(ds))))
        return torch.stack(xs), torch.tensor(ys)

    x_tr, y_tr = load(train_dir)
    x_va, y_va = load(val_dir)
    unit = lambda t: ((t.double() + 1) / 2).clamp(0, 1)  # noqa: E731  [-1, 1] -> [0, 1]
    clf = PatternClassifier().fit(unit(x_tr), y_tr)
    acc = (clf.predict(unit(x_va)) == y_va).double().mean().item()

    n = len(x_va)
    xd, yd = x_va.to(device), y_va.to(device)
    for m in (nets.generator, nets.style_encoder, nets.mapping_network):
        m.eval()
    s_ref = nets.style_encoder(xd, yd)  # (N, style_dim)
    rows = []
    for s in range(n):
        rows.append(nets.generator(xd[s:s + 1].expand(n, -1, -1, -1), s_ref).cpu())
    model_out = unit(torch.stack(rows))  # (N, N, 3, H, W)
    x01 = unit(x_va)
    g = torch.Generator().manual_seed(seed)
    trivial = {
        "copy of source": x01[:, None].expand(-1, n, -1, -1, -1),
        "copy of reference": x01[None].expand(n, -1, -1, -1, -1),
        "noise": torch.rand(model_out.shape, generator=g, dtype=torch.float64),
    }
    result: dict[str, Any] = {"model": translation_scores(model_out, x01, y_va, clf)}
    for name, o in trivial.items():
        result[name] = translation_scores(o, x01, y_va, clf)

    z = torch.randn(num_latent, nets.config["latent_dim"], generator=g).to(device)
    lat = []
    for s in range(n):
        for d in range(len(domains)):
            if d == y_va[s]:
                continue
            yy = torch.full((num_latent,), d, dtype=torch.long, device=device)
            o = nets.generator(xd[s:s + 1].expand(num_latent, -1, -1, -1), nets.mapping_network(z, yy))
            lat.append(mean_pairwise_l1(unit(o.cpu())))
    result["model"]["diversity_latent"] = sum(lat) / len(lat)
    result.update(classifier_accuracy=acc, num_sources=n, num_latent=num_latent, domains=list(domains),
                  num_pairs=int((y_va[:, None] != y_va[None, :]).sum()), targets=dict(TARGETS))
    if output is not None:
        atomic_save_json(result, output)
    return result


def format_demo_report(result: dict[str, Any]) -> list[str]:
    """Lines of a small table: the model's four numbers, the trivial outputs', the targets."""
    cols: Sequence[str] = ("domain", "colour", "source", "diversity")
    lines = [f"demo scores on {result['num_sources']} held-out images, {result['num_pairs']} cross-domain "
             f"reference pairs (pattern classifier: {result['classifier_accuracy']:.2f} accuracy on them)",
             f"  {'':18s}" + "".join(f"{c:>10s}" for c in cols)]
    for name in ("model", "copy of source", "copy of reference", "noise"):
        lines.append(f"  {name:18s}" + "".join(f"{result[name][c]:10.3f}" for c in cols))
    ref_src = result["copy of reference"]["source"]
    lines.append(f"  {'target':18s}{'>= ' + str(TARGETS['domain']):>10s}{'>= ' + str(TARGETS['colour']):>10s}"
                 f"{'> ' + format(ref_src, '.3f'):>10s}{'> 0':>10s}")
    lines.append(f"  diversity under {result['num_latent']} latent codes: {result['model']['diversity_latent']:.3f}")
    return lines

