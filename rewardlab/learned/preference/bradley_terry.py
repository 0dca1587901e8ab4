"""The Bradley–Terry preference model over segment returns, for whole batches of pairs.

Christiano et al. (2017) model a teacher's choice between segments σ¹ and σ²
with the returns of the learned reward::

    P(σ¹ ≻ σ²) = exp Σₜ r̂(σ¹ₜ) / (exp Σₜ r̂(σ¹ₜ) + exp Σₜ r̂(σ²ₜ)) = sigmoid(R̂¹ − R̂²)

and train ``r̂`` with the cross-entropy to the label ``y`` (1: first preferred,
0: second, 0.5: equal)::

    L = −[y log P(σ¹ ≻ σ²) + (1 − y) log P(σ² ≻ σ¹)]

Everything here is tensor ops over a ``(members, pairs, steps)`` block: no
Python loop over pairs (imitation loops over pairs, which is what makes its
preference training slow). ``mask`` marks the steps of a segment that exist:
steps after a termination inside a segment are absorbing and count nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def segment_returns(rewards: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``Σₜ r̂ₜ`` over the last axis (steps), counting only steps where ``mask`` is 1.

    Examples:
        >>> import torch
        >>> from rewardlab.learned.preference import segment_returns
        >>> segment_returns(torch.ones(2, 3), mask=torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
        tensor([3., 1.])
    """
    return (rewards if mask is None else rewards * mask).sum(dim=-1)


def preference_logits(returns_1: torch.Tensor, returns_2: torch.Tensor) -> torch.Tensor:
    """``logit P(σ¹ ≻ σ²) = R̂¹ − R̂²`` (any matching shapes)."""
    return returns_1 - returns_2


def preference_probability(returns_1: torch.Tensor, returns_2: torch.Tensor) -> torch.Tensor:
    """``P(σ¹ ≻ σ²) = sigmoid(R̂¹ − R̂²)``.

    Examples:
        >>> import torch
        >>> from rewardlab.learned.preference import preference_probability
        >>> preference_probability(torch.tensor([1.0]), torch.tensor([1.0]))
        tensor([0.5000])
    """
    return torch.sigmoid(returns_1 - returns_2)


def bradley_terry_loss(
    returns_1: torch.Tensor,
    returns_2: torch.Tensor,
    labels: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean Bradley–Terry cross-entropy over pairs, summed over leading (member) axes.

    Args:
        returns_1, returns_2: segment returns, shape ``(..., pairs)`` (e.g. ``(members, pairs)``).
        labels: ``P(first preferred)`` per pair: 1, 0, or 0.5 for equal; shape ``(pairs,)``.
        weights: optional per-pair weights broadcastable to the returns (bootstrap counts);
            the loss is then ``Σ w·ℓ / Σ w`` per member.

    Returns the scalar loss (a sum over members of each member's mean loss).

    Examples:
        >>> import torch
        >>> from rewardlab.learned import bradley_terry_loss
        >>> returns_1, returns_2 = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])   # one member, two pairs
        >>> round(float(bradley_terry_loss(returns_1, returns_2, torch.tensor([1.0, 0.5]))), 4)
        0.41
    """
    logits = preference_logits(returns_1, returns_2)
    target = labels.to(logits.dtype).expand_as(logits)
    losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weights is None:
        per_member = losses.mean(dim=-1)
    else:
        w = weights.to(logits.dtype).expand_as(logits)
        per_member = (losses * w).sum(dim=-1) / w.sum(dim=-1).clamp_min(1e-12)
    return per_member.sum()


def preference_accuracy(returns_1: torch.Tensor, returns_2: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of strict labels (not 0.5) whose preferred segment has the higher predicted return.

    Examples:
        >>> import torch
        >>> from rewardlab.learned.preference import preference_accuracy
        >>> preference_accuracy(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))
        0.5
    """
    strict = labels != 0.5
    if not bool(strict.any()):
        return float("nan")
    predicted = (returns_1 > returns_2).to(labels.dtype)
    return float((predicted == labels)[..., strict].float().mean())
