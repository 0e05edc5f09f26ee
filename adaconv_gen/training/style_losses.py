"""Content and style losses of arbitrary style transfer (Huang & Belongie, ICCV 2017), which
AdaConv reuses unchanged (Chandran et al., CVPR 2021, section 3.2: "the same content and style
losses as AdaIN").

* content: MSE between the relu4_1 features of the output and a target (the content image's
  relu4_1 features for AdaConv; AdaIN's own ``t`` for Huang's baseline);
* style: sum over relu1_1, relu2_1, relu3_1, relu4_1 of ``MSE(mean) + MSE(std)`` of the channel
  statistics over space (not Gram matrices).

Statistics use the population variance plus ``eps`` under the square root. Each MSE is a mean
over its elements (batch x channels), so the default weights (content 1, style 10) follow the
public PyTorch ports; the AdaIN Lua code's 1e-2 applies to summed squared errors instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.functional import channel_mean_std

__all__ = ["channel_mean_std", "content_loss", "style_loss", "StyleTransferLoss"]


def content_loss(output_feat: torch.Tensor, target_feat: torch.Tensor) -> torch.Tensor:
    """MSE between relu4_1 features of the stylised output and the content target."""
    return F.mse_loss(output_feat, target_feat)


def style_loss(output_feats: Sequence[torch.Tensor], style_feats: Sequence[torch.Tensor],
               eps: float = 1e-5) -> torch.Tensor:
    """Sum over layers of MSE of channel means plus MSE of channel stds."""
    total = output_feats[0].new_zeros(())
    for fo, fs in zip(output_feats, style_feats, strict=True):
        mo, so = channel_mean_std(fo, eps)
        ms, ss = channel_mean_std(fs, eps)
        total = total + F.mse_loss(mo, ms) + F.mse_loss(so, ss)
    return total


class StyleTransferLoss(nn.Module):
    """Weighted content + style loss on a frozen encoder's taps.

    Args:
        content_weight: weight of the content term.
        style_weight: weight of the style term.
        eps: variance epsilon of the style statistics.
    """

    def __init__(self, content_weight: float = 1.0, style_weight: float = 10.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.eps = eps

    def forward(self, output_feats: Sequence[torch.Tensor], content_target: torch.Tensor,
                style_feats: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Compute the losses.

        Args:
            output_feats: encoder taps of the stylised output (last one is relu4_1).
            content_target: relu4_1 target for the content term.
            style_feats: encoder taps of the style images.

        Returns:
            ``{"loss", "content", "style"}`` (unweighted terms, weighted total).
        """
        lc = content_loss(output_feats[-1], content_target)
        ls = style_loss(output_feats, style_feats, self.eps)
        return {"loss": self.content_weight * lc + self.style_weight * ls, "content": lc, "style": ls}
