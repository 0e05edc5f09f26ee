"""StyleGAN2 training: losses and the named phases G, G_reg, D, D_reg with their intervals.

Karras et al., *Analyzing and Improving the Image Quality of StyleGAN* (CVPR 2020): the
non-saturating logistic loss, lazy R1 on reals every 16 steps (``gamma / 2 * interval``),
optional path-length regularisation every 4 steps, style mixing, Adam with the lazy
regularisation correction of ``lr`` and ``betas``. Used to train the AdaConv generator of
Chandran et al., CVPR 2021, section 4.2 (:mod:`adaconv_gen.models.stylegan`).

The phases take already ``accelerator.prepare``-d networks and optimisers; losses are averaged
across ranks with ``accelerator.gather`` for logging only.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .gan_losses import r1_penalty

__all__ = [
    "StyleGANLossConfig",
    "g_nonsaturating_loss",
    "d_logistic_loss",
    "path_length_penalty",
    "lazy_adam",
    "StyleGANPhases",
    "generator_fid",
    "real_fid_statistics",
]


@dataclass
class StyleGANLossConfig:
    """Loss weights and phase intervals (StyleGAN2 defaults).

    Attributes:
        r1_gamma: R1 weight ``gamma`` (penalty ``gamma / 2 * E|grad D(x)|^2`` on reals).
        r1_interval: run D_reg every this many steps (lazy regularisation); 0 disables R1.
        pl_weight: path-length weight; 0 disables G_reg.
        pl_interval: run G_reg every this many steps.
        pl_decay: decay of the running mean path length.
        pl_batch_shrink: G_reg uses ``batch // pl_batch_shrink`` samples.
        mixing_prob: probability of style mixing in each generated batch.
    """

    r1_gamma: float = 10.0
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    mixing_prob: float = 0.9


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """``E[softplus(-D(G(z)))]``."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``E[softplus(D(G(z)))] + E[softplus(-D(x))]``."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def path_length_penalty(img: Tensor, ws: Tensor, mean_path_length: Tensor | float,
                        decay: float = 0.01) -> tuple[Tensor, Tensor, Tensor]:
    """StyleGAN2 path-length penalty.

    Args:
        img: generated images ``(B, 3, H, W)`` computed from ``ws``.
        ws: per-layer styles ``(B, num_ws, w_dim)`` in the graph of ``img``.
        mean_path_length: running mean ``a``.
        decay: update rate of the running mean.

    Returns:
        ``(penalty, new_mean, lengths)``: ``mean((|J^T y| - a)^2)`` with ``y ~ N(0, I) / sqrt(HW)``,
        the updated mean (detached), and the per-sample lengths (detached).
    """
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()  # (B,)
    mean = torch.as_tensor(mean_path_length, dtype=lengths.dtype, device=lengths.device)
    new_mean = mean + decay * (lengths.detach().mean() - mean)
    return (lengths - new_mean).square().mean(), new_mean.detach(), lengths.detach()


def lazy_adam(params, lr: float = 0.002, betas: tuple[float, float] = (0.0, 0.99),
              reg_interval: int = 0, eps: float = 1e-8, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam corrected for lazy regularisation: ``lr * c``, ``betas ** c``, ``c = k / (k + 1)``."""
    c = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps,
                            weight_decay=weight_decay)


def _requires_grad(model: nn.Module, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


class StyleGANPhases:
    """The four StyleGAN2 phases over prepared networks; :meth:`step` runs those due.

    Args:
        accelerator: the ``accelerate.Accelerator``.
        G, D: prepared generator and discriminator.
        opt_G, opt_D: prepared optimisers (see :func:`lazy_adam`).
        cfg: :class:`StyleGANLossConfig`.
        state: object with a float attribute ``pl_mean`` (e.g. ``TrainState``); checkpointed.
    """

    def __init__(self, accelerator, G, D, opt_G, opt_D, cfg: StyleGANLossConfig, state) -> None:
        self.acc, self.G, self.D, self.opt_G, self.opt_D = accelerator, G, D, opt_G, opt_D
        self.cfg, self.state = cfg, state
        g = accelerator.unwrap_model(G)
        self.z_dim, self.num_ws = g.style_dim, g.num_ws

    def due(self, step: int) -> list[str]:
        """Names of the phases that run at (1-based) ``step``."""
        names = ["G"]
        if self.cfg.pl_weight > 0 and self.cfg.pl_interval > 0 and step % self.cfg.pl_interval == 0:
            names.append("G_reg")
        names.append("D")
        if self.cfg.r1_gamma > 0 and self.cfg.r1_interval > 0 and step % self.cfg.r1_interval == 0:
            names.append("D_reg")
        return names

    def _latents(self, n: int) -> dict:
        dev = self.acc.device
        z = torch.randn(n, self.z_dim, device=dev)
        if self.cfg.mixing_prob > 0 and random.random() < self.cfg.mixing_prob:
            return {"z": z, "z2": torch.randn(n, self.z_dim, device=dev),
                    "mixing_cutoff": random.randint(1, self.num_ws - 1)}
        return {"z": z}

    def _mean(self, t: Tensor) -> float:
        return self.acc.gather(t.detach().reshape(1)).float().mean().item()

    def g_main(self, n: int) -> dict[str, float]:
        _requires_grad(self.D, False)
        lat = self._latents(n)
        fake = self.G(lat.pop("z"), update_w_avg=True, **lat)
        loss = g_nonsaturating_loss(self.D(fake))
        self.opt_G.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.opt_G.step()
        _requires_grad(self.D, True)
        return {"loss/G": self._mean(loss)}

    def g_reg(self, n: int) -> dict[str, float]:
        lat = self._latents(max(1, n // self.cfg.pl_batch_shrink))
        img, ws = self.G(lat.pop("z"), return_ws=True, **lat)
        pen, new_mean, lengths = path_length_penalty(img, ws, self.state.pl_mean, self.cfg.pl_decay)
        loss = pen * self.cfg.pl_weight * self.cfg.pl_interval + 0 * img[0, 0, 0, 0]
        self.opt_G.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.opt_G.step()
        self.state.pl_mean = self._mean(new_mean)
        return {"loss/G_pl": self._mean(pen), "pl_mean": self.state.pl_mean,
                "pl_length": self._mean(lengths.mean())}

    def d_main(self, real: Tensor) -> dict[str, float]:
        with torch.no_grad():
            lat = self._latents(real.shape[0])
            fake = self.G(lat.pop("z"), **lat)
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = d_logistic_loss(real_logits, fake_logits)
        self.opt_D.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.opt_D.step()
        return {"loss/D": self._mean(loss), "D/real": self._mean(real_logits.mean()),
                "D/fake": self._mean(fake_logits.mean())}

    def d_reg(self, real: Tensor) -> dict[str, float]:
        real = real.detach().requires_grad_(True)
        logits = self.D(real)
        pen = r1_penalty(logits, real)
        loss = pen * (self.cfg.r1_gamma / 2) * self.cfg.r1_interval + 0 * logits[0, 0]
        self.opt_D.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        self.opt_D.step()
        return {"loss/D_r1": self._mean(pen)}

    def step(self, real: Tensor, step: int) -> dict[str, float]:
        """Run every phase due at ``step`` (1-based) on one batch of reals; returns scalars."""
        logs: dict[str, float] = {}
        for name in self.due(step):
            if name == "G":
                logs.update(self.g_main(real.shape[0]))
            elif name == "G_reg":
                logs.update(self.g_reg(real.shape[0]))
            elif name == "D":
                logs.update(self.d_main(real))
            else:
                logs.update(self.d_reg(real))
        return logs

    def config_dict(self) -> dict:
        """The loss configuration, for ``config.json``."""
        return asdict(self.cfg)


@torch.no_grad()
def generator_fid(G: nn.Module, real_stats: tuple, num_samples: int, *, batch_size: int = 32,
                  weights=None, device=None, seed: int = 123, noise_mode: str = "random") -> float:
    """FID of ``num_samples`` images of ``G`` (fixed latents of ``seed``) against ``real_stats``.

    Uses :mod:`adaconv_gen.metrics` (pytorch-fid preset; ``weights`` is the FID Inception file).
    """
    from ..metrics import compute_statistics, frechet_distance

    was_training = G.training
    G.eval()
    z_all = torch.randn(num_samples, G.style_dim, generator=torch.Generator().manual_seed(seed))
    dev = device or next(G.parameters()).device

    def batches():
        for z in z_all.split(batch_size):
            yield ((G(z.to(dev), noise_mode=noise_mode).clamp(-1, 1) + 1) / 2).cpu()

    try:
        mu, sigma = compute_statistics(batches(), weights=weights, batch_size=batch_size,
                                       device=dev, progress=False)
    finally:
        G.train(was_training)
    return float(frechet_distance(mu, sigma, *real_stats))


@torch.no_grad()
def real_fid_statistics(paths, img_size: int, *, weights=None, batch_size: int = 32, device=None,
                        num_workers: int = 0) -> tuple:
    """FID statistics of the training images as the generator sees them (resized and centre
    cropped to ``img_size``, no flip), so that real and generated images match in resolution."""
    from torch.utils.data import DataLoader

    from ..data import ImageFolderDataset, default_transform
    from ..metrics import compute_statistics

    ds = ImageFolderDataset(list(paths), default_transform(img_size, train=False), check=False)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    return compute_statistics(((x + 1) / 2 for x in loader), weights=weights, batch_size=batch_size,
                              device=device, progress=False)
