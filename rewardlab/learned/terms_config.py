"""YAML registration of the learned rewards (family ``learned``).

::

    reward:
      - term: preference
        teacher: oracle                      # or human, or {oracle: {beta: 1.0, mistake: 0.1}}
        budget: 200                          # pairs asked over the run
        queries_per_update: 10
        segment_length: 25
        selection: disagreement              # uniform | disagreement | entropy
        pseudo_labels: 1.0                   # SURF: confident pseudo-labels on unlabelled pairs (0: off)
        crop: 5                              # SURF: temporal cropping by up to 5 steps (0: off)
"""

from __future__ import annotations

from typing import Any, Literal

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm


@TERMS.register("preference", family="learned")
def preference(
    teacher: Any = "oracle",
    segment_length: int = 25,
    queries_per_update: int = 10,
    budget: int = 200,
    selection: Literal["uniform", "disagreement", "entropy"] = "disagreement",
    candidates: int = 5,
    features: list[str] = ["obs", "action"],  # noqa: B006 -- read-only default shown in `rewardlab rewards`
    members: int = 3,
    hidden: int = 64,
    layers: int = 2,
    lr: float = 1e-3,
    epochs: int = 20,
    batch_size: int = 64,
    bootstrap: bool = True,
    early_stop: bool = True,
    pseudo_labels: float = 0.0,
    pseudo_threshold: float = 0.99,
    pseudo_ratio: int = 4,
    crop: int = 0,
    normalize: Literal["scale", "center", "none"] = "scale",
    store: str | None = None,
    seed: int = 0,
) -> RewardTerm:
    """Reward learned online from a teacher's preferences between segment pairs (Bradley–Terry ensemble)."""
    from rewardlab.learned.preference.term import PreferenceReward

    return PreferenceReward(
        teacher=teacher, segment_length=segment_length, queries_per_update=queries_per_update, budget=budget,
        selection=selection, candidates=candidates, features=features, members=members, hidden=hidden,
        layers=layers, lr=lr, epochs=epochs, batch_size=batch_size, bootstrap=bootstrap, early_stop=early_stop,
        pseudo_labels=pseudo_labels, pseudo_threshold=pseudo_threshold, pseudo_ratio=pseudo_ratio, crop=crop,
        normalize=normalize,
        store=store, seed=seed,
    )  # fmt: skip
