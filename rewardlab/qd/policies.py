"""Small policy networks as flat parameter vectors (what QD emitters mutate), and their rollouts.

A :class:`FlatPolicy` is a linear map (``hidden=0``) or a one-hidden-layer tanh
MLP from the scaled observation to action logits: ``argmax`` for discrete
actions, ``tanh`` squashed into the action bounds for boxes. Observations are
scaled to ``[-1, 1]`` by the observation bounds where they are finite, so the
same parameter scale (``sigma``) suits every env.

Rollouts are deterministic given the parameters: episode ``j`` of every
evaluation resets the env with ``seed + j`` (a fixed set of start states), so a
solution keeps its return and descriptor across iterations, resumes and workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FlatPolicy:
    """Shapes of a flat-vector policy for one env (picklable: it travels to worker processes)."""

    obs_dim: int
    n_actions: int  # discrete actions, or the size of a box action
    discrete: bool
    obs_low: tuple[float, ...]
    obs_span: tuple[float, ...]
    act_low: tuple[float, ...] = ()
    act_high: tuple[float, ...] = ()
    hidden: int = 0

    @classmethod
    def for_spaces(cls, observation_space: Any, action_space: Any, *, hidden: int = 0) -> FlatPolicy:
        from gymnasium import spaces

        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"QD policies read flat Box observations; got {observation_space}")
        low = np.asarray(observation_space.low, dtype=np.float64)
        high = np.asarray(observation_space.high, dtype=np.float64)
        finite = np.isfinite(low) & np.isfinite(high)
        obs_low = np.where(finite, low, -1.0)
        obs_span = np.where(finite, np.maximum(high - low, 1e-12), 2.0)
        if isinstance(action_space, spaces.Discrete):
            return cls(len(low), int(action_space.n), True, tuple(obs_low), tuple(obs_span), hidden=hidden)
        if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            return cls(
                len(low),
                action_space.shape[0],
                False,
                tuple(obs_low),
                tuple(obs_span),
                tuple(map(float, action_space.low)),
                tuple(map(float, action_space.high)),
                hidden,
            )
        raise ValueError(f"QD policies act in Discrete or 1-d Box action spaces; got {action_space}")

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        if self.hidden:
            return (self.obs_dim + 1) * self.hidden + (self.hidden + 1) * self.n_actions
        return (self.obs_dim + 1) * self.n_actions

    def act(self, params: np.ndarray, obs: np.ndarray) -> Any:
        """The action for one observation."""
        x = 2.0 * (np.asarray(obs, dtype=np.float64) - self.obs_low) / self.obs_span - 1.0
        p = np.asarray(params, dtype=np.float64)
        if self.hidden:
            n1 = (self.obs_dim + 1) * self.hidden
            w1 = p[:n1].reshape(self.hidden, self.obs_dim + 1)
            x = np.tanh(w1[:, :-1] @ x + w1[:, -1])
            p = p[n1:]
        w = p.reshape(self.n_actions, -1)
        out = w[:, :-1] @ x + w[:, -1]
        if self.discrete:
            return int(np.argmax(out))
        low, high = np.asarray(self.act_low), np.asarray(self.act_high)
        return (low + (np.tanh(out) + 1.0) * 0.5 * (high - low)).astype(np.float32)


_ENVS: dict[str, Any] = {}


def rollout(
    env_id: str, policy: FlatPolicy, params: np.ndarray, *, seed: int, episodes: int = 1, max_steps: int | None = None
) -> tuple[float, list[np.ndarray], int]:
    """Mean return over ``episodes``, each episode's observations ``(T+1, D)`` (float32) and the env steps taken."""
    from rewardlab.envs import make_env

    env = _ENVS.get(env_id)
    if env is None:
        env = _ENVS[env_id] = make_env(env_id)
    total, steps, trajectories = 0.0, 0, []
    for j in range(episodes):
        obs, _ = env.reset(seed=seed + j)
        traj = [np.array(obs, dtype=np.float32)]
        t = 0
        while True:
            obs, reward, terminated, truncated, _ = env.step(policy.act(params, obs))
            traj.append(np.array(obs, dtype=np.float32))
            total += float(reward)
            t += 1
            if terminated or truncated or (max_steps is not None and t >= max_steps):
                break
        steps += t
        trajectories.append(np.stack(traj))
    return total / episodes, trajectories, steps


def rollout_many(
    env_id: str, policy: FlatPolicy, solutions: np.ndarray, *, seed: int, episodes: int, max_steps: int | None
) -> list[tuple[float, list[np.ndarray], int]]:
    """:func:`rollout` of each row of ``solutions`` (the unit of work a worker process gets)."""
    return [rollout(env_id, policy, s, seed=seed, episodes=episodes, max_steps=max_steps) for s in solutions]
