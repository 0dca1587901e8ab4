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

from typing import Any, Literal

import numpy as np

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm, as_term
from rewardlab.core.transitions import Transitions

SIGN_RULES = ("all_positive", "product")


class KRC(RewardTerm):
    """Geometric-mean combination of terms with a selectable sign rule."""

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

    @property
    def learns(self) -> bool:  # type: ignore[override]
        return any(t.learns for t in self.terms)

    def leaves(self):
        for t in self.terms:
            yield from t.leaves()

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

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        for t in self.terms:
            t.bind(env)

    def reset(self, env_indices: np.ndarray) -> None:
        for t in self.terms:
            t.reset(env_indices)

    def update(self, batch: Transitions) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for t in self.terms:
            if t.learns and t.training:
                metrics.update(t.update(batch))
        return metrics

    def train(self, mode: bool = True) -> KRC:
        super().train(mode)
        for t in self.terms:
            t.train(mode)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {str(i): t.state_dict() for i, t in enumerate(self.terms)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for i, t in enumerate(self.terms):
            t.load_state_dict(state[str(i)])


def krc(*terms: RewardTerm, sign: Literal["all_positive", "product"] = "all_positive", name: str | None = None) -> KRC:
    """Combine ``terms`` multiplicatively (see module docs for the sign rules)."""
    return KRC(list(terms), sign=sign, name=name)
