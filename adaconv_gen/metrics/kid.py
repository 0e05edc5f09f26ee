"""Kernel Inception Distance (Binkowski et al., "Demystifying MMD GANs", ICLR 2018).

KID is the unbiased estimate of the squared MMD between the two feature sets with the
polynomial kernel k(x, y) = (x . y / d + 1)^3, averaged over random subsets: 100 subsets of
up to 1000 features from each set (the convention of the reference TF code, clean-fid and
torch-fidelity), drawn with a seeded generator so a number can be reproduced.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError

__all__ = ["kid_score"]


def kid_score(feats1, feats2, *, num_subsets: int = 100, subset_size: int = 1000,
              seed: int = 0, return_std: bool = False):
    """Unbiased KID between two feature sets.

    Args:
        feats1: (N1, d) features of the first set.
        feats2: (N2, d) features of the second set.
        num_subsets: number of random subsets averaged.
        subset_size: features per subset (capped at ``min(N1, N2)``).
        seed: seed of the subset sampler.
        return_std: also return the standard deviation over subsets.

    Returns:
        The mean over subsets (a float), or ``(mean, std)`` when ``return_std``.

    Raises:
        UserInputError: fewer than 2 features in a set, or different dimensions.
    """
    x = np.asarray(feats1, dtype=np.float64)
    y = np.asarray(feats2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise UserInputError(f"KID needs (N, d) features of equal d; got {x.shape} and {y.shape}")
    m = min(len(x), len(y), subset_size)
    if m < 2:
        raise UserInputError(f"KID needs at least 2 images per set, got {len(x)} and {len(y)}")
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[i] = within - 2 * kxy.mean()
    mean = float(values.mean())
    return (mean, float(values.std())) if return_std else mean
