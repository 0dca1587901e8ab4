"""Helpers of the ONI tests: a tiny env whose observation carries a NetHack-style ``message``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

MESSAGES = [
    "",
    "It's a wall.",
    "You see here 7 gold pieces.",
    "You kill the newt!",
    "Hello Agent, welcome to NetHack!",
    "You find a hidden passage.",
    "The kitten picks up a gold piece.",
    "You hear some noises in the distance.",
    "There is a staircase down here.",
    "You are hit by the jackal.",
]


def encode(text: str) -> np.ndarray:
    out = np.zeros(256, dtype=np.uint8)
    data = text.encode("latin-1")[:256]
    out[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return out


class MessageEnv(gym.Env):
    """Each step shows message ``messages[(t * stride + offset) % len]``; episodes of ``length`` steps; reward 0."""

    metadata = {"render_modes": []}

    def __init__(self, messages: list[str] | None = None, length: int = 20, offset: int = 0, stride: int = 1) -> None:
        self.messages = list(messages or MESSAGES)
        self.length, self.offset, self.stride = length, offset, stride
        self.observation_space = gym.spaces.Dict(
            {"message": gym.spaces.Box(0, 255, (256,), np.uint8), "x": gym.spaces.Box(-1, 1, (1,), np.float32)}
        )
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def _obs(self) -> dict:
        text = self.messages[(self.t * self.stride + self.offset) % len(self.messages)]
        return {"message": encode(text), "x": np.zeros(1, dtype=np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, False, self.t >= self.length, {}


def message_batch(texts: list[str]):
    """A Transitions batch whose next observations show ``texts``."""
    from rewardlab.core.transitions import Transitions

    obs = {"message": np.stack([encode(t) for t in texts]), "x": np.zeros((len(texts), 1), dtype=np.float32)}
    return Transitions.from_arrays(obs, np.zeros(len(texts), dtype=np.int64), obs)
