"""StarGAN v2 training (Choi et al., CVPR 2020): the losses and one iteration as named phases.

Per iteration, as in the paper and its reference code:

* ``D/latent``: discriminator step against images translated with a latent style (mapping network);
* ``D/ref``: discriminator step against images translated with a reference style (style encoder);
  both use the non-saturating loss and R1 = 0.5 E|grad_x D(x)|^2 on real images;
* ``G/latent``: adversarial + style reconstruction - lambda_ds * diversity + cycle losses,
  updating the generator, the mapping network and the style encoder;
* ``G/ref``: the same with reference styles, updating the generator only;
* EMA (0.999) of generator, mapping network and style encoder, parameters and buffers.

``lambda_ds`` decays linearly to 0 over ``ds_iter`` iterations; it is a function of the step,
so a resumed run continues from the right value (the reference code restarts it).
Gradient accumulation: each phase sums gradients over the micro-batches before its step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .ema import update_ema
from .gan_losses import r1_penalty

__all__ = [
    "LossWeights",
    "adv_loss",
    "lambda_ds_at",
    "d_loss",
    "g_loss",
    "make_optimizers",
    "StarGANv2Trainer",
]


@dataclass
class LossWeights:
    """Loss weights and schedule (official defaults; AFHQ used ``lambda_ds=2``)."""

    lambda_reg: float = 1.0
    lambda_sty: float = 1.0
    lambda_ds: float = 1.0
    lambda_cyc: float = 1.0
    ds_iter: int = 100_000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def adv_loss(logits: Tensor, target: int) -> Tensor:
    """Non-saturating GAN loss: binary cross-entropy of the logits against all-``target`` labels."""
    if target not in (0, 1):
        raise ValueError(f"target must be 0 or 1, got {target}")
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def lambda_ds_at(step: int, initial: float, ds_iter: int) -> float:
    """Diversity-loss weight at (0-based) iteration ``step``: linear from ``initial`` to 0."""
    if ds_iter <= 0:
        return 0.0
    return float(initial) * max(0.0, 1.0 - step / ds_iter)


def d_loss(nets: Any, x_real: Tensor, y_org: Tensor, y_trg: Tensor, *, z_trg: Tensor | None = None,
           x_ref: Tensor | None = None, masks: Any = None, lambda_reg: float = 1.0
           ) -> tuple[Tensor, dict[str, Tensor]]:
    """Discriminator loss: real -> 1, translated (latent or reference style) -> 0, plus R1 on reals."""
    if (z_trg is None) == (x_ref is None):
        raise ValueError("give exactly one of z_trg (latent style) or x_ref (reference style)")
    x_real = x_real.detach().requires_grad_(True)
    out = nets.discriminator(x_real, y_org)
    loss_real = adv_loss(out, 1)
    loss_reg = 0.5 * r1_penalty(out, x_real)
    with torch.no_grad():
        s_trg = nets.mapping_network(z_trg, y_trg) if z_trg is not None else nets.style_encoder(x_ref, y_trg)
        x_fake = nets.generator(x_real.detach(), s_trg, masks=masks)
    loss_fake = adv_loss(nets.discriminator(x_fake, y_trg), 0)
    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, {"real": loss_real.detach(), "fake": loss_fake.detach(), "reg": loss_reg.detach()}


def g_loss(nets: Any, x_real: Tensor, y_org: Tensor, y_trg: Tensor, *,
           z_trgs: Sequence[Tensor] | None = None, x_refs: Sequence[Tensor] | None = None,
           masks: Any = None, lambda_sty: float = 1.0, lambda_ds: float = 1.0, lambda_cyc: float = 1.0,
           fan_masks: Callable[[Tensor], Any] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Generator loss: adversarial + sty * style recon. - ds * diversity + cyc * cycle (all L1).

    Args:
        nets: has ``generator``, ``mapping_network``, ``style_encoder``, ``discriminator``.
        x_real, y_org: source images and their domains.
        y_trg: target domains.
        z_trgs: two latent codes (latent mode), or
        x_refs: two reference images of the target domains (reference mode).
        masks: FAN masks of ``x_real`` (``w_hpf > 0``) or None.
        fan_masks: computes the masks of the translated images for the cycle (``w_hpf > 0``).
    """
    if (z_trgs is None) == (x_refs is None):
        raise ValueError("give exactly one of z_trgs (latent styles) or x_refs (reference images)")

    def style(i: int) -> Tensor:
        if z_trgs is not None:
            return nets.mapping_network(z_trgs[i], y_trg)
        return nets.style_encoder(x_refs[i], y_trg)

    s_trg = style(0)
    x_fake = nets.generator(x_real, s_trg, masks=masks)
    loss_adv = adv_loss(nets.discriminator(x_fake, y_trg), 1)
    loss_sty = torch.mean(torch.abs(nets.style_encoder(x_fake, y_trg) - s_trg))
    x_fake2 = nets.generator(x_real, style(1), masks=masks).detach()
    loss_ds = torch.mean(torch.abs(x_fake - x_fake2))
    masks_fake = fan_masks(x_fake) if fan_masks is not None else None
    s_org = nets.style_encoder(x_real, y_org)
    x_rec = nets.generator(x_fake, s_org, masks=masks_fake)
    loss_cyc = torch.mean(torch.abs(x_rec - x_real))
    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    parts = {"adv": loss_adv, "sty": loss_sty, "ds": loss_ds, "cyc": loss_cyc}
    return loss, {k: v.detach() for k, v in parts.items()}


def make_optimizers(nets: Any, lr: float = 1e-4, f_lr: float = 1e-6, betas: tuple[float, float] = (0.0, 0.99),
                    weight_decay: float = 1e-4) -> dict[str, torch.optim.Optimizer]:
    """Adam per network, as in the reference code (the mapping network at ``f_lr``)."""
    return {
        name: torch.optim.Adam(getattr(nets, name).parameters(), lr=f_lr if name == "mapping_network" else lr,
                               betas=betas, weight_decay=weight_decay)
        for name in ("generator", "mapping_network", "style_encoder", "discriminator")
    }


class _Plain:
    """Stand-in for an ``accelerate.Accelerator`` (tests, notebooks): plain backward, no autocast."""

    def backward(self, loss: Tensor) -> None:
        loss.backward()

    def no_sync(self, model: nn.Module):
        return contextlib.nullcontext()

    def autocast(self):
        return contextlib.nullcontext()

    def unwrap_model(self, model: nn.Module) -> nn.Module:
        return model


class StarGANv2Trainer:
    """Runs StarGAN v2 iterations; holds the (possibly DDP-wrapped) networks, EMA copies and optimisers.

    Args:
        nets: object with ``generator``, ``mapping_network``, ``style_encoder``, ``discriminator``
            (as returned by ``accelerator.prepare``) and optionally ``masks(x)`` giving FAN masks.
        ema: object with ``generator``, ``mapping_network``, ``style_encoder`` (plain modules).
        optimizers: name -> optimiser, see :func:`make_optimizers`.
        weights: loss weights and ``ds_iter``.
        accelerator: an ``accelerate.Accelerator`` (None: plain single-process training).
        ema_decay: EMA decay (0.999 officially).
    """

    def __init__(self, nets: Any, ema: Any, optimizers: Mapping[str, torch.optim.Optimizer],
                 weights: LossWeights | None = None, accelerator: Any = None, ema_decay: float = 0.999) -> None:
        self.nets = nets
        self.ema = ema
        self.optimizers = dict(optimizers)
        self.weights = weights or LossWeights()
        self.acc = accelerator if accelerator is not None else _Plain()
        self.ema_decay = ema_decay

    def _masks(self, x: Tensor) -> Any:
        fn = getattr(self.nets, "masks", None)
        return fn(x) if fn is not None else None

    def _phase(self, update: Sequence[str], micro: Sequence[Mapping[str, Tensor]],
               loss_fn: Callable[[int, Mapping[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]) -> dict[str, Tensor]:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        k = len(micro)
        sums: dict[str, Tensor] = {}
        models = [getattr(self.nets, n) for n in ("generator", "mapping_network", "style_encoder", "discriminator")]
        for i, mb in enumerate(micro):
            with contextlib.ExitStack() as stack:
                if i < k - 1:  # no gradient all-reduce until the last micro-batch
                    for m in models:
                        stack.enter_context(self.acc.no_sync(m))
                with self.acc.autocast():
                    loss, parts = loss_fn(i, mb)
                self.acc.backward(loss / k)
            for name, v in parts.items():
                sums[name] = sums.get(name, 0.0) + v.float() / k
        for name in update:
            self.optimizers[name].step()
        return sums

    def step(self, micro: Sequence[Mapping[str, Tensor]], step: int) -> dict[str, Tensor]:
        """One iteration (4 phases + EMA) on micro-batches; returns the losses by ``phase/name``.

        Each micro-batch is a mapping with ``x_src, y_src, x_ref, x_ref2, y_ref, z_trg, z_trg2``.
        ``step`` is the 0-based iteration index, which sets ``lambda_ds``.
        """
        w = self.weights
        lam_ds = lambda_ds_at(step, w.lambda_ds, w.ds_iter)
        nets = self.nets
        masks = [self._masks(mb["x_src"]) for mb in micro]
        fan_masks = self._masks if masks[0] is not None else None

        def dl(mode: str) -> Callable:
            def fn(i, mb):
                kw = {"z_trg": mb["z_trg"]} if mode == "latent" else {"x_ref": mb["x_ref"]}
                return d_loss(nets, mb["x_src"], mb["y_src"], mb["y_ref"], masks=masks[i],
                              lambda_reg=w.lambda_reg, **kw)
            return fn

        def gl(mode: str) -> Callable:
            def fn(i, mb):
                if mode == "latent":
                    kw = {"z_trgs": (mb["z_trg"], mb["z_trg2"])}
                else:
                    kw = {"x_refs": (mb["x_ref"], mb["x_ref2"])}
                return g_loss(nets, mb["x_src"], mb["y_src"], mb["y_ref"], masks=masks[i],
                              lambda_sty=w.lambda_sty, lambda_ds=lam_ds, lambda_cyc=w.lambda_cyc,
                              fan_masks=fan_masks, **kw)
            return fn

        logs: dict[str, Tensor] = {}
        for prefix, update, fn in (
            ("D/latent_", ("discriminator",), dl("latent")),
            ("D/ref_", ("discriminator",), dl("reference")),
            ("G/latent_", ("generator", "mapping_network", "style_encoder"), gl("latent")),
            ("G/ref_", ("generator",), gl("reference")),
        ):
            for k, v in self._phase(update, micro, fn).items():
                logs[prefix + k] = v
        self.update_ema()
        logs["G/lambda_ds"] = torch.tensor(lam_ds)
        return logs

    @torch.no_grad()
    def update_ema(self) -> None:
        """EMA of generator, mapping network and style encoder (parameters lerped, buffers copied)."""
        for name in ("generator", "mapping_network", "style_encoder"):
            update_ema(getattr(self.ema, name), self.acc.unwrap_model(getattr(self.nets, name)), self.ema_decay)
