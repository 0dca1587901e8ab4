"""Products of bonuses: global × episodic combinations (NGU, Henaff et al. 2023)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.shaping.combine import KRC

Bounds = tuple[float | None, float | None] | None


class Product(KRC):
    """``∏ᵢ clip(termᵢ, lowᵢ, highᵢ)``: one factor near zero switches the bonus off.

    Typical use: an episodic bonus times a global novelty (NGU multiplies its
    episodic bonus by RND's ``α`` clipped to ``[1, L]``). Life cycle (bind,
    reset, update, checkpoints) reaches every factor, as in :class:`KRC`.

    Args:
        terms: two or more factors.
        bounds: per factor ``(low, high)`` (either may be None) or None for no clipping.

    Examples:
        >>> import rewardlab as rl
        >>> both = rl.bonus.Product([rl.constant(0.5), rl.extrinsic()], bounds=[None, (1.0, 5.0)])
        >>> both(rl.Transitions.fake(reward=[0.2, 3.0]))       # 0.5 × clip(r, 1, 5)
        array([0.5, 1.5])
    """

    name = "product"

    def __init__(
        self, terms: list[RewardTerm], *, bounds: Sequence[Bounds] | None = None, name: str | None = None
    ) -> None:
        super().__init__(terms, sign="product", name=name)
        bounds = list(bounds) if bounds is not None else [None] * len(self.terms)
        if len(bounds) != len(self.terms):
            raise ValueError(f"product has {len(self.terms)} factors but {len(bounds)} bounds; give one per factor")
        self.bounds = [(None, None) if b is None else (b[0], b[1]) for b in bounds]

    def compute(self, batch: Transitions) -> np.ndarray:
        out = np.ones(batch.n)
        for term, (low, high) in zip(self.terms, self.bounds):
            value = term(batch)
            if low is not None or high is not None:
                value = np.clip(value, low, high)
            out *= value
        return out

    def __repr__(self) -> str:
        return " × ".join(repr(t) for t in self.terms)


def product(*terms: RewardTerm, bounds: Sequence[Bounds] | None = None, name: str | None = None) -> Product:
    """Multiply bonuses (see :class:`Product`).

    Examples:
        >>> import rewardlab as rl
        >>> rl.bonus.product(rl.bonus.count("obs", mode="global"), rl.bonus.count("obs", mode="episodic")).name
        'product'
    """
    return Product(list(terms), bounds=bounds, name=name)
