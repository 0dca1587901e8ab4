"""Unsupervised pre-training before the first preference query (PEBBLE, Lee et al. 2021).

For its first ``N`` env steps PEBBLE trains the agent on an intrinsic reward that
raises the entropy of its state distribution, so that the first segments a
teacher compares show more than a random policy's jitter around the start
state. The entropy is estimated with particles (Singh et al. 2003; APT, Liu &
Abbeel 2021): a state far from its k-th nearest neighbour in a buffer of
recent states lies where the distribution is thin::

    r_int(s') = log(c + ‖s' − s'^(k)‖₂) / σ_int

with ``s'^(k)`` the k-th nearest of the buffer's states to the reached state
``s'``, ``c = 1``, and ``σ_int`` the running standard deviation of the
unscaled ``log(c + ‖·‖)`` values (PEBBLE's implementation divides by it, so the
reward has a scale that does not depend on the observation's units). The k-NN
search is the numba scan behind NGU's episodic memory and the novelty archive
(:func:`rewardlab.bonus.kernels.scan_knn`).

PEBBLE's other half, relabelling the replay buffer with the newest reward model,
is what ``rewardlab train`` does for off-policy algorithms anyway; with an
on-policy algorithm (PPO) only the pre-training and the diverse first queries
apply.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.bonus.kernels import scan_knn
from rewardlab.core.running import RunningMeanStd


class StateEntropy:
    """Particle estimate of state entropy over a ring buffer of the last ``capacity`` states.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.preference.pebble import StateEntropy
        >>> ent = StateEntropy(dim=1, k=1, capacity=100)
        >>> _ = ent.add(np.zeros((10, 1)))                  # ten visits to 0
        >>> near, far = ent.raw(np.array([[0.1], [3.0]]))
        >>> bool(far > near), round(float(near), 4)         # log(1 + 0.1)
        (True, 0.0953)
    """

    def __init__(self, *, dim: int, k: int = 5, capacity: int = 10_000, c: float = 1.0) -> None:
        self.dim, self.k, self.capacity, self.c = int(dim), int(k), int(capacity), float(c)
        self.data = np.zeros((self.capacity, self.dim))
        self.size = 0
        self.pos = 0
        self.stats = RunningMeanStd(epsilon=0.0)  # running moments of the unscaled values

    def raw(self, states: np.ndarray) -> np.ndarray:
        """``log(c + d_k)`` per state (``d_k`` the distance to the k-th nearest stored state; 0 when empty)."""
        states = np.ascontiguousarray(states, dtype=np.float64).reshape(len(states), self.dim)
        if self.size == 0:
            return np.zeros(len(states))
        top = np.zeros((len(states), self.k))
        found = np.zeros(len(states), dtype=np.int64)
        scan_knn(self.data[: self.size], states, top, found)
        kth = top[np.arange(len(states)), found - 1]  # fewer stored than k: the farthest of them
        return np.log(self.c + np.sqrt(kth))

    @property
    def std(self) -> float:
        """``σ_int``: the running standard deviation of :meth:`raw` (1 until two values were seen)."""
        var = self.stats.var if self.stats.count > 1 else 0.0
        return float(np.sqrt(var)) if var > 1e-12 else 1.0

    def reward(self, states: np.ndarray) -> np.ndarray:
        """``r_int``: :meth:`raw` over its running standard deviation."""
        return self.raw(states) / self.std

    def add(self, states: np.ndarray) -> float:
        """Score ``states`` against the buffer (updating the running moments), then store them; return their mean."""
        states = np.asarray(states, dtype=np.float64).reshape(len(states), self.dim)
        values = self.raw(states)
        if self.size > 0:  # the first states have no neighbours: their 0 would bias σ_int
            self.stats.update(values)
        states = states[-self.capacity :]
        idx = (self.pos + np.arange(len(states))) % self.capacity
        self.data[idx] = states
        self.pos = int((self.pos + len(states)) % self.capacity)
        self.size = min(self.capacity, self.size + len(states))
        return float(values.mean()) if len(values) else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"data": self.data[: self.size].copy(), "pos": self.pos, "stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        data = np.asarray(state["data"], dtype=np.float64).reshape(-1, self.dim)[: self.capacity]
        self.data[:] = 0.0
        self.data[: len(data)] = data
        self.size = len(data)
        self.pos = int(state["pos"]) % self.capacity
        self.stats.load_state_dict(state["stats"])
