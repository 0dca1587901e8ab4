"""Multiplicative combination of reward components (KRC, from Lucy-SKG).

``R = sgn · (∏ᵢ |Rᵢ|)^{1/n}``: the geometric mean of the magnitudes, so one
component near zero pulls the whole reward down (a soft AND), unlike a sum
where a large component can hide a failing one.

Sources disagree on the sign, so it is a choice:

* ``"all_positive"``: +1 when every component is > 0, else −1 (Lucy-SKG's
  rule: any failing component makes the step bad);
* ``"product"``: the sign of the product.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rewardlab.core.term import CompositeTerm, RewardTerm, as_term
from rewardlab.core.transitions import Transitions

SIGN_RULES = ("all_positive", "product")


class KRC(CompositeTerm):
    """Geometric-mean combination ``sgn · (∏ᵢ |Rᵢ|)^{1/n}`` of terms with a selectable sign rule (Lucy-SKG).

    Args:
        terms: two or more terms to combine.
        sign: ``"all_positive"`` (+1 only when every component is > 0) or ``"product"`` (the product's sign).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.shaping.combine import KRC
        >>> KRC([rl.extrinsic(), rl.constant(4.0)])(rl.Transitions.fake(reward=[1.0, -1.0]))
        array([ 2., -2.])
    """

    name = "krc"

    def __init__(
        self,
        terms: list[RewardTerm],
        *,
        sign: Literal["all_positive", "product"] = "all_positive",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if len(terms) < 2:
            raise ValueError(f"KRC combines at least two terms, got {len(terms)}")
        if sign not in SIGN_RULES:
            raise ValueError(f"unknown KRC sign rule {sign!r}; valid: {list(SIGN_RULES)}")
        self.terms = [as_term(t) for t in terms]
        self.sign = sign

    def compute(self, batch: Transitions) -> np.ndarray:
        values = np.stack([t(batch) for t in self.terms])  # (k, n)
        mags = np.abs(values)
        with np.errstate(divide="ignore"):
            magnitude = np.exp(np.log(mags).mean(axis=0))  # 0 where any component is 0
        if self.sign == "all_positive":
            sgn = np.where((values > 0).all(axis=0), 1.0, -1.0)
        else:
            sgn = np.prod(np.sign(values), axis=0)
        return sgn * magnitude


def krc(*terms: RewardTerm, sign: Literal["all_positive", "product"] = "all_positive", name: str | None = None) -> KRC:
    """Combine ``terms`` multiplicatively (see module docs for the sign rules).

    Examples:
        >>> import rewardlab as rl
        >>> rl.transforms.krc(rl.extrinsic(), rl.constant(9.0))(rl.Transitions.fake(reward=[1.0, -1.0]))
        array([ 3., -3.])
    """
    return KRC(list(terms), sign=sign, name=name)
