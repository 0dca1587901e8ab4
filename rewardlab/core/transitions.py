"""A batch of transitions, one per environment: what every reward term reads.

The batch is the unit of work in rewardlab. Terms compute one float per env
from it, in one vectorised call, so that numba kernels and neural networks see
the whole batch at once instead of a Python loop over envs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

Observation = Union[np.ndarray, dict[str, np.ndarray]]


def _index_obs(obs: Observation, idx: Any) -> Observation:
    if isinstance(obs, Mapping):
        return {k: v[idx] for k, v in obs.items()}
    return obs[idx]


def _concat_obs(parts: Sequence[Observation]) -> Observation:
    if isinstance(parts[0], Mapping):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


class Transitions:
    """Transitions ``(obs, action, next_obs, reward, terminated, truncated, infos)``.

    Every array has a leading env axis of length ``n``. ``next_obs`` is the true
    next observation: at an SB3 auto-reset it is the ``terminal_observation``,
    not the first observation of the next episode. ``reward`` is the extrinsic
    reward of the environment. Dict observations stay dicts of arrays.

    ``frames`` holds rendered RGB frames of ``next_obs`` (``uint8``, shape
    ``(n, height, width, 3)``) when a term asks for them (``needs_frames``)
    and the envs render (see :mod:`rewardlab.wrappers.frames`); otherwise ``None``.

    ``memo`` is the wrapper's per-step cache: when a term object appears more
    than once in a reward, the engine puts it there so that the term is
    computed (and updated) once per batch; ``None`` everywhere else.

    Examples:
        >>> import numpy as np
        >>> from rewardlab import Transitions
        >>> batch = Transitions(np.zeros((2, 2)), np.zeros(2), np.ones((2, 2)), np.array([1.0, 0.0]),
        ...                     np.array([False, True]), np.array([False, False]))
        >>> batch.n, batch.done
        (2, array([False,  True]))
    """

    __slots__ = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "infos", "frames", "memo")

    def __init__(
        self,
        obs: Observation,
        action: np.ndarray,
        next_obs: Observation,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        infos: Sequence[dict] | None = None,
        *,
        frames: np.ndarray | None = None,
    ) -> None:
        self.obs = obs
        self.action = action
        self.next_obs = next_obs
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
        self.infos = infos if infos is not None else [{} for _ in range(len(reward))]
        self.frames = frames
        self.memo: dict | None = None

    @classmethod
    def fake(
        cls,
        reward: Sequence[float],
        *,
        obs: Any = None,
        next_obs: Any = None,
        action: Any = None,
        terminated: Sequence[bool] | None = None,
        truncated: Sequence[bool] | None = None,
    ) -> Transitions:
        """A small hand-made batch for examples and tests: one env per entry of ``reward``.

        Observations default to zeros of shape ``(n, 2)`` (``next_obs`` to ``obs``),
        actions to zeros, ``terminated`` and ``truncated`` to all false.

        Examples:
            >>> batch = Transitions.fake(reward=[1.0, 0.0], next_obs=[[0.5, 0.0], [-0.3, 0.01]])
            >>> batch.n, batch.next_obs.shape
            (2, (2, 2))
        """
        r = np.asarray(reward, dtype=np.float64)
        n = len(r)
        o = np.zeros((n, 2)) if obs is None else np.asarray(obs, dtype=np.float64)
        o2 = o.copy() if next_obs is None else np.asarray(next_obs, dtype=np.float64)
        a = np.zeros(n, dtype=np.int64) if action is None else np.asarray(action)
        term = np.zeros(n, bool) if terminated is None else np.asarray(terminated, bool)
        trunc = np.zeros(n, bool) if truncated is None else np.asarray(truncated, bool)
        return cls(o, a, o2, r, term, trunc)

    @property
    def n(self) -> int:
        """Number of transitions (envs) in the batch."""
        return len(self.reward)

    @property
    def done(self) -> np.ndarray:
        """``terminated | truncated``: the episode ended at this step."""
        return self.terminated | self.truncated

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: Any) -> Transitions:
        """Select a subset of transitions with an index array, slice or mask."""
        idx_arr = np.arange(self.n)[idx]
        return Transitions(
            _index_obs(self.obs, idx_arr),
            self.action[idx_arr],
            _index_obs(self.next_obs, idx_arr),
            self.reward[idx_arr],
            self.terminated[idx_arr],
            self.truncated[idx_arr],
            [self.infos[i] for i in np.atleast_1d(idx_arr)],
            frames=None if self.frames is None else self.frames[idx_arr],
        )

    def without_frames(self) -> Transitions:
        """The same transitions (shared arrays) without ``frames``."""
        return Transitions(
            self.obs, self.action, self.next_obs, self.reward, self.terminated, self.truncated, self.infos
        )

    @staticmethod
    def concatenate(batches: Sequence[Transitions]) -> Transitions:
        """Stack batches along the env axis (used to hand learners bigger batches)."""
        if not batches:
            raise ValueError("Transitions.concatenate needs at least one batch")
        return Transitions(
            _concat_obs([b.obs for b in batches]),
            np.concatenate([b.action for b in batches]),
            _concat_obs([b.next_obs for b in batches]),
            np.concatenate([b.reward for b in batches]),
            np.concatenate([b.terminated for b in batches]),
            np.concatenate([b.truncated for b in batches]),
            [info for b in batches for info in b.infos],
            frames=np.concatenate([b.frames for b in batches]) if all(b.frames is not None for b in batches) else None,
        )

    @staticmethod
    def from_arrays(
        obs: Observation,
        action: Any,
        next_obs: Observation,
        reward: Any = None,
        terminated: Any = None,
        truncated: Any = None,
        infos: Sequence[dict] | None = None,
        *,
        frames: Any = None,
    ) -> Transitions:
        """Build a batch from array-likes, filling missing fields with zeros/False.

        Handy for evaluating a term outside an environment (landscapes, tests,
        reward comparison).
        """
        obs_a = {k: np.asarray(v) for k, v in obs.items()} if isinstance(obs, Mapping) else np.asarray(obs)
        next_a = (
            {k: np.asarray(v) for k, v in next_obs.items()} if isinstance(next_obs, Mapping) else np.asarray(next_obs)
        )
        n = len(next(iter(obs_a.values()))) if isinstance(obs_a, dict) else len(obs_a)
        rew = np.zeros(n) if reward is None else np.asarray(reward, dtype=np.float64)
        term = np.zeros(n, dtype=bool) if terminated is None else np.asarray(terminated, dtype=bool)
        trunc = np.zeros(n, dtype=bool) if truncated is None else np.asarray(truncated, dtype=bool)
        frames_a = None if frames is None else np.asarray(frames, dtype=np.uint8)
        return Transitions(obs_a, np.asarray(action), next_a, rew, term, trunc, infos, frames=frames_a)
