"""Shared fixtures: tiny deterministic envs and batches."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # two xdist workers on two cores: no oversubscription

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.core.transitions import Transitions

torch.set_num_threads(1)


@pytest.fixture
def one_torch_thread():
    """One torch thread inside the test, whatever an earlier test in this worker set (``train --threads``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ChainEnv(gym.Env):
    """Walk on a line: obs = [position], action 1 = right, 0 = left.

    Terminates at ``goal`` with reward 1; every other step pays 0. Used to
    check terminal observations, truncation and episode bookkeeping exactly.
    """

    metadata = {"render_modes": []}

    def __init__(self, goal: int = 5) -> None:
        self.goal = goal
        self.observation_space = gym.spaces.Box(-100.0, 100.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.pos = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = 0
        return np.array([self.pos], dtype=np.float32), {}

    def step(self, action):
        self.pos += 1 if int(action) == 1 else -1
        terminated = self.pos >= self.goal
        return np.array([self.pos], dtype=np.float32), float(terminated), terminated, False, {}


@pytest.fixture
def chain_factory():
    def make(goal: int = 5, max_steps: int | None = None) -> gym.Env:
        env = ChainEnv(goal)
        if max_steps is not None:
            env = gym.wrappers.TimeLimit(env, max_steps)
        return env

    return make


@pytest.fixture
def batch() -> Transitions:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(4, 2))
    return Transitions.from_arrays(
        obs=obs,
        action=np.array([0, 1, 2, 1]),
        next_obs=obs + 0.1,
        reward=np.array([1.0, -1.0, 0.5, 0.0]),
        terminated=np.array([False, True, False, False]),
        truncated=np.array([False, False, True, False]),
    )
