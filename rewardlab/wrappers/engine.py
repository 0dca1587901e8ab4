"""What both wrappers share: evaluate the reward, guard it, log it, feed learners.

The engine turns a batch of transitions into the reward the agent sees. It

* evaluates every component in one pass and checks the total is finite
  (a NaN or infinite reward never reaches the agent silently);
* writes the extrinsic reward and each component into ``info["rewardlab"]``
  and, at the end of an episode, the episode sums of every component and the
  true (extrinsic) return into ``info["rewardlab_episode"]``;
* resets episodic state of finished envs;
* buffers transitions for terms that learn and calls their ``update`` every
  ``update_every`` steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Literal

import numpy as np

from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.wrappers.kernels import accumulate_step

NAN_POLICIES = ("raise", "zero", "clip")
NanPolicy = Literal["raise", "zero", "clip"]
STEP_KEY = "rewardlab"
EPISODE_KEY = "rewardlab_episode"


class NonFiniteRewardError(FloatingPointError):
    """A reward term produced NaN or ±inf; the message names the term and envs."""


class StepRewards(Mapping):
    """``info["rewardlab"]`` of one env: each component's value, ``extrinsic_reward`` and ``total``.

    A read-only mapping over the step's arrays, built without copying: the
    wrapper makes one per env per step, so it must cost next to nothing.
    """

    __slots__ = ("_index", "_values", "_extrinsic", "_total", "_i")

    def __init__(
        self, index: dict[str, int], values: np.ndarray, extrinsic: np.ndarray, total: np.ndarray, i: int
    ) -> None:
        self._index, self._values, self._extrinsic, self._total, self._i = index, values, extrinsic, total, i

    def __getitem__(self, key: str) -> float:
        if key == "extrinsic_reward":
            return float(self._extrinsic[self._i])
        if key == "total":
            return float(self._total[self._i])
        return float(self._values[self._index[key], self._i])

    def __iter__(self) -> Iterator[str]:
        yield from self._index
        yield "extrinsic_reward"
        yield "total"

    def __len__(self) -> int:
        return len(self._index) + 2

    def __repr__(self) -> str:
        return f"StepRewards({dict(self)})"


class RewardEngine:
    """Evaluate ``reward`` on batches from ``n_envs`` envs and keep episode sums.

    Args:
        reward: the reward term (usually a weighted sum).
        n_envs: number of envs in each batch.
        nan_policy: on a non-finite component, ``"raise"`` (default) stops
            with :class:`NonFiniteRewardError`; ``"zero"`` warns and replaces it
            with 0; ``"clip"`` warns, maps NaN to 0 and ±inf to ±``clip_value``.
        clip_value: bound used by ``nan_policy="clip"``.
        update_every: steps between ``update`` calls of learning terms.
        step_info: write per-step values into ``info`` (episode sums are always written).
    """

    def __init__(
        self,
        reward: RewardTerm,
        n_envs: int,
        *,
        nan_policy: NanPolicy = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
        step_info: bool = True,
    ) -> None:
        if not isinstance(reward, RewardTerm):
            raise TypeError(f"reward must be a RewardTerm (build one with rewardlab), got {type(reward).__name__}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"unknown nan_policy {nan_policy!r}; valid: {list(NAN_POLICIES)}")
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        self.reward = reward
        self.n_envs = n_envs
        self.nan_policy = nan_policy
        self.clip_value = float(clip_value)
        self.update_every = update_every
        self.step_info = step_info
        self.names = reward.component_names()
        self._index = {name: k for k, name in enumerate(self.names)}
        self._learns = reward.learns
        # frames are large: buffer them for learners only when a learning term reads them
        self._buffer_frames = any(t.learns and t.needs_frames for t in reward.leaves())
        self._sums = np.zeros((len(self.names), n_envs))
        self._true_return = np.zeros(n_envs)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self._buffer: list[Transitions] = []
        self.last_update_metrics: dict[str, float] = {}
        self._warned: set[str] = set()

    def reset(self, env_indices: np.ndarray | None = None) -> None:
        """Start new episodes in ``env_indices`` (all envs when None)."""
        idx = np.arange(self.n_envs) if env_indices is None else env_indices
        self._sums[:, idx] = 0.0
        self._true_return[idx] = 0.0
        self._lengths[idx] = 0
        self.reward.reset(idx)

    def process(self, batch: Transitions) -> np.ndarray:
        """Reward for ``batch``; annotates ``batch.infos`` and resets finished envs."""
        values = np.empty((len(self.names), batch.n))
        self.reward.components_into(batch, values)
        total = np.empty(batch.n)
        if not accumulate_step(values, batch.reward, self._sums, self._true_return, self._lengths, total):
            values = self._handle_non_finite(values)
            accumulate_step(values, batch.reward, self._sums, self._true_return, self._lengths, total)
        infos = batch.infos
        if self.step_info:
            index, extrinsic = self._index, batch.reward
            for i, info in enumerate(infos):
                info[STEP_KEY] = StepRewards(index, values, extrinsic, total, i)
        done = batch.done
        if np.count_nonzero(done):
            finished = np.flatnonzero(done)
            for i in finished:
                episode = dict(zip(self.names, self._sums[:, i].tolist()))
                episode["true_return"] = float(self._true_return[i])
                episode["total"] = float(self._sums[:, i].sum())
                episode["length"] = int(self._lengths[i])
                episode["terminated"] = bool(batch.terminated[i])
                infos[i][EPISODE_KEY] = episode
            self.reset(finished)
        if self._learns and self.reward.training:
            if batch.frames is not None and not self._buffer_frames:
                batch = batch.without_frames()
            self._buffer.append(batch)
            if len(self._buffer) >= self.update_every:
                self.last_update_metrics = self.reward.update(Transitions.concatenate(self._buffer))
                self._buffer.clear()
        return total

    def _handle_non_finite(self, values: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(values)
        culprits = {self.names[k]: np.flatnonzero(bad[k]).tolist() for k in range(len(self.names)) if bad[k].any()}
        detail = "; ".join(f"{name!r} in envs {envs}" for name, envs in culprits.items())
        if self.nan_policy == "raise":
            raise NonFiniteRewardError(
                f"non-finite reward from {detail}. Fix the term, or pass nan_policy='zero' or 'clip' "
                "to the wrapper to replace such values (with a warning)."
            )
        key = ",".join(culprits)
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(
                f"non-finite reward from {detail}; replaced ({self.nan_policy})", RuntimeWarning, stacklevel=3
            )
        if self.nan_policy == "zero":
            return np.where(bad, 0.0, values)
        return np.nan_to_num(values, nan=0.0, posinf=self.clip_value, neginf=-self.clip_value)
