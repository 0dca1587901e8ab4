"""YAML registration of the novelty bonus (family ``novelty``).

::

    reward:
      - extrinsic
      - {term: novelty, descriptor: "final:position,velocity", k: 15, threshold: 0.05, max_size: 10000,
         mode: step, weight: 0.1}
      - {term: novelty, descriptor: "times:position@50,100,150", mode: episode, weight: 1.0}

Descriptors: see :mod:`rewardlab.qd.descriptors`; growth, bound and eviction:
:mod:`rewardlab.qd.archive`.
"""

from __future__ import annotations

from typing import Literal

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm


@TERMS.register("novelty", family="novelty")
def novelty(
    descriptor: str = "final",
    k: int = 15,
    threshold: float = 0.05,
    max_size: int | None = 10_000,
    mode: Literal["step", "episode"] = "step",
    evict_to: float = 0.9,
    seed: int = 0,
) -> RewardTerm:
    """Novelty (1/k)·Σ‖x − μᵢ‖ of a behaviour descriptor vs its k nearest in an archive grown by threshold."""
    from rewardlab.qd.novelty import NoveltyTerm

    return NoveltyTerm(
        descriptor=descriptor, k=k, threshold=threshold, max_size=max_size, mode=mode, evict_to=evict_to, seed=seed
    )
