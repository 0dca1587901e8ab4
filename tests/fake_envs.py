"""Fake envs for the engine tests: observation buffers reused the way NLE reuses them."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.util import dict_to_obs


class ReusingEnv(gym.Env):
    """A walk on a line that writes every observation into the same arrays and follows a scripted episode pattern.

    Observation: ``[pos, t]`` (Box) or ``{"pos": [pos], "t": [t]}`` (Dict), returned as
    the same array objects every time (overwritten by the next ``step``/``reset``).
    Action 0/1/2 moves the walker by -1/0/+1 (within ±6). Episode ``e`` (counted
    from 0) starts at ``start + e % 3``, lasts ``lengths[e % len(lengths)]`` steps and
    ends with ``kinds[...]`` (``"terminated"`` or ``"truncated"``); the reward of step
    ``t`` is ``rewards[(t + e) % len(rewards)]``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        lengths: tuple[int, ...] = (5,),
        kinds: tuple[str, ...] = ("terminated",),
        rewards: tuple[float, ...] = (0.0, 1.0),
        dict_obs: bool = False,
        start: int = 0,
    ) -> None:
        self.lengths, self.kinds, self.rewards = tuple(lengths), tuple(kinds), tuple(rewards)
        self.dict_obs, self.start = dict_obs, start
        box = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float64)
        if dict_obs:
            self.observation_space = gym.spaces.Dict({"pos": box, "t": box})
            self._buf: Any = {"pos": np.zeros(1), "t": np.zeros(1)}
        else:
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
            self._buf = np.zeros(2)
        self.action_space = gym.spaces.Discrete(3)
        self.episode, self.pos, self.t = -1, 0, 0

    def _write(self) -> Any:
        if self.dict_obs:
            self._buf["pos"][0], self._buf["t"][0] = self.pos, self.t
        else:
            self._buf[0], self._buf[1] = self.pos, self.t
        return self._buf

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.episode += 1
        self.pos, self.t = self.start + self.episode % 3, 0
        return self._write(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        reward = self.rewards[(self.t + self.episode) % len(self.rewards)]
        self.pos = int(np.clip(self.pos + int(action) - 1, -6, 6))
        self.t += 1
        end = self.t >= self.lengths[self.episode % len(self.lengths)]
        kind = self.kinds[self.episode % len(self.kinds)]
        return self._write(), float(reward), end and kind == "terminated", end and kind == "truncated", {}


class BufferReusingVecEnv(DummyVecEnv):
    """A DummyVecEnv that returns its own observation buffers every step instead of copies."""

    def _obs_from_buf(self) -> Any:
        return dict_to_obs(self.observation_space, self.buf_obs)


def positions(obs: Any) -> np.ndarray:
    """The walker positions of a batch of ReusingEnv observations."""
    return np.asarray(obs["pos"])[:, 0] if isinstance(obs, dict) else np.asarray(obs)[:, 0]


def times(obs: Any) -> np.ndarray:
    """The step counters of a batch of ReusingEnv observations."""
    return np.asarray(obs["t"])[:, 0] if isinstance(obs, dict) else np.asarray(obs)[:, 1]
