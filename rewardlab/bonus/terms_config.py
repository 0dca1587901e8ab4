"""YAML registrations of the exploration bonuses (family ``bonus``).

Every bonus takes the same optional post-processing, so configs can write::

    - {term: count, key: {grid: {dims: [position, velocity], cell: [0.1, 0.01]}}, mode: episodic, weight: 0.1}
    - {term: rnd, normalize: std, clip: 5}

``normalize`` divides by a running std (``"std"``) or centres first
(``"center"``), ``clip`` bounds the result to ``[-clip, clip]``; both reuse
:mod:`rewardlab.shaping.transforms`.
"""

from __future__ import annotations

from typing import Literal

from rewardlab.bonus.counts import CountBonus
from rewardlab.bonus.keys import Key
from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm
from rewardlab.shaping.transforms import Clip, Normalize

Normalization = Literal["none", "std", "center"]


def post_process(term: RewardTerm, normalize: Normalization = "none", clip: float | None = None) -> RewardTerm:
    """Wrap ``term`` in running normalisation and/or clipping."""
    if normalize not in ("none", "std", "center"):
        raise ValueError(f"unknown normalize {normalize!r}; valid: ['none', 'std', 'center']")
    if normalize != "none":
        term = Normalize(term, center=normalize == "center")
    if clip is not None:
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        term = Clip(term, -clip, clip)
    return term


@TERMS.register("count", family="bonus")
def count(
    key: Key = "obs",  # type: ignore[assignment]  (built from its config form)
    mode: Literal["global", "episodic", "product", "sum"] = "global",
    episodic: Literal["inverse_sqrt", "first_visit"] = "inverse_sqrt",
    episodic_weight: float = 1.0,
    normalize: Normalization = "none",
    clip: float | None = None,
) -> RewardTerm:
    """Count bonus 1/√N (global), 1/√N_e or 1[N_e=1] (episodic), or their product/sum, on a key."""
    term = CountBonus(key=key, mode=mode, episodic=episodic, episodic_weight=episodic_weight)
    return post_process(term, normalize, clip)
