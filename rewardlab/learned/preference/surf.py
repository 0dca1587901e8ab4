"""Semi-supervised reward learning (SURF, Park et al. 2022): pseudo-labels and temporal cropping.

Two ways to get more out of few preference labels:

* **pseudo-labels** on unlabelled segment pairs (the agent's latest rollouts):
  each member ``k`` predicts ``p_k = P_k(σ¹ ≻ σ²) = σ(R̂¹_k − R̂²_k)``; where it is
  confident, ``max(p_k, 1 − p_k) > τ``, its own prediction ``ŷ_k = 1[p_k > ½]``
  becomes a label, and the Bradley–Terry loss on those pairs is added with a
  weight ``λ``::

      L = L_BT(labelled) + λ · mean_{confident} L_BT(ŷ_k)

* **temporal cropping** (data augmentation): both segments of a pair are cut to
  a common random length ``H' ∈ [H − c, H]`` at independent random offsets
  (segments here have a fixed length with masks, so a crop is a mask).
  A preference between two segments is assumed to hold between their
  slightly shorter windows.

Both act on masks and labels only, batched over members and pairs.
"""

from __future__ import annotations

import numpy as np
import torch


def temporal_crop(mask_1: np.ndarray, mask_2: np.ndarray, *, cut: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Masks ``(pairs, H)`` with each pair cut to a common length ``H − u``, ``u ~ U{0..cut}``, at random offsets."""
    pairs, h = mask_1.shape
    cut = int(min(cut, h - 1))
    if cut <= 0:
        return mask_1, mask_2
    length = h - rng.integers(0, cut + 1, pairs)  # (pairs,)
    steps = np.arange(h)[None, :]
    out = []
    for mask in (mask_1, mask_2):
        start = rng.integers(0, h - length + 1)  # per pair, in [0, H − H']
        window = (steps >= start[:, None]) & (steps < (start + length)[:, None])
        out.append(mask * window.astype(mask.dtype))
    return out[0], out[1]


def pseudo_label_loss(returns_1: torch.Tensor, returns_2: torch.Tensor, *, threshold: float) -> torch.Tensor:
    """Bradley–Terry loss of each member on its own confident predictions, summed over members.

    Args:
        returns_1, returns_2: predicted segment returns ``(members, pairs)`` of unlabelled pairs.
        threshold: ``τ``; a member's pair counts when ``max(p, 1 − p) > τ``.

    Members without a confident pair contribute 0.
    """
    with torch.no_grad():
        p = torch.sigmoid(returns_1 - returns_2)
        confident = (torch.maximum(p, 1 - p) > threshold).to(returns_1.dtype)
        labels = (p > 0.5).to(returns_1.dtype)
    if not bool(confident.any()):
        return returns_1.sum() * 0.0
    logits = returns_1 - returns_2
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return ((losses * confident).sum(dim=-1) / confident.sum(dim=-1).clamp_min(1.0)).sum()
