"""One entry point for every reward distance: ``distance_matrix(rewards, method=...)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab.analysis.distances import DistanceMatrix
from rewardlab.analysis.epic import epic_matrix
from rewardlab.analysis.erc import erc_matrix
from rewardlab.analysis.starc import starc_matrix
from rewardlab.core.term import RewardTerm

METHODS = {"epic": epic_matrix, "starc": starc_matrix, "erc": erc_matrix}


def distance_matrix(
    rewards: Mapping[str, RewardTerm] | Sequence[RewardTerm], *, method: str = "epic", **kwargs: Any
) -> DistanceMatrix:
    """Pairwise distances between rewards by ``method`` (``"epic"``, ``"starc"`` or ``"erc"``).

    Keyword arguments go to :func:`~rewardlab.analysis.epic.epic_matrix`,
    :func:`~rewardlab.analysis.starc.starc_matrix` or :func:`~rewardlab.analysis.erc.erc_matrix`.

    Examples:
        >>> import rewardlab as rl
        >>> rewards = {"task": rl.extrinsic(), "shaped": rl.extrinsic() + rl.shaping.potential("mountaincar_energy",
        ...                                                                                   gamma=0.99)}
        >>> m = rl.analysis.distance_matrix(rewards, method="epic", env="MountainCar-v0", n_transitions=256,
        ...                                 n_samples=256, bootstrap=50)
        >>> round(float(m["task", "shaped"]), 6)    # potential shaping does not change the reward's meaning
        0.0
    """
    if method not in METHODS:
        raise ValueError(f"unknown distance method {method!r}; valid: {list(METHODS)}")
    return METHODS[method](rewards, **kwargs)
