"""NovelD (Zhang et al. 2021): reward crossing from familiar into novel states.

``b = max(n(s') − α·n(s), 0) · 1[N_e(s') = 1]`` with ``n`` the RND novelty
(divided by its running std) and ``N_e`` the episodic count of the key of
``s'``: only the first visit in an episode pays, and only when ``s'`` is
clearly more novel than ``s``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.bonus.counts import EpisodicCounter
from rewardlab.bonus.keys import KeySpec, as_key
from rewardlab.bonus.rnd import RND
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions, _concat_obs


class NovelD(RewardTerm):
    """NovelD bonus.

    Args:
        alpha: α, how much more novel ``s'`` must be than ``s`` (0.1 in the paper).
        key: key for the episodic first-visit indicator (``"obs"``: the exact
            observation; use a grid or SimHash key for continuous states).
        rnd: the novelty estimator; a default :class:`RND` with ``normalize="std"``.

    Examples:
        >>> import rewardlab as rl
        >>> term = rl.bonus.NovelD(alpha=0.1, key={"grid": {"dims": [0, 1], "cell": [0.1, 0.01]}})
        >>> (rl.extrinsic() + 0.1 * term).component_names()
        ['extrinsic', 'noveld']
    """

    name = "noveld"
    learns = True

    def __init__(
        self, *, alpha: float = 0.1, key: KeySpec = "obs", rnd: RND | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.key = as_key(key)
        self.rnd = rnd if rnd is not None else RND(normalize="std")
        self.episodic_counts = EpisodicCounter()

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self.key.bind(env)
        self.rnd.bind(env)
        self.episodic_counts.bind(env)

    def compute(self, batch: Transitions) -> np.ndarray:
        errors = self.rnd.novelty(_concat_obs([batch.next_obs, batch.obs]))  # one forward pass for s' and s
        n = batch.n
        if self.training:
            self.rnd.stats.update(errors[:n])
        novelty = self.rnd.scale(errors)
        first_visit = self.episodic_counts.visit(self.key(batch.next_obs)) == 1
        return np.maximum(novelty[:n] - self.alpha * novelty[n:], 0.0) * first_visit

    def reset(self, env_indices: np.ndarray) -> None:
        self.episodic_counts.reset(env_indices)

    def update(self, batch: Transitions) -> dict[str, float]:
        return self.rnd.update(batch)

    def train(self, mode: bool = True) -> NovelD:
        super().train(mode)
        self.rnd.train(mode)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"rnd": self.rnd.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rnd.load_state_dict(state["rnd"])

    def __repr__(self) -> str:
        return f"NovelD(alpha={self.alpha:g}, key={self.key!r})"


def noveld(**kwargs: Any) -> NovelD:
    """A NovelD bonus (see :class:`NovelD` for the keyword arguments).

    Examples:
        >>> import rewardlab as rl
        >>> rl.bonus.noveld(alpha=0.1).name
        'noveld'
    """
    return NovelD(**kwargs)
