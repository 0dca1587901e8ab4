"""Sparse-reward MuJoCo variants: reward only past a goal distance.

Dense locomotion rewards pay forward velocity every step; these variants pay
``1`` per step only while the x position is beyond ``goal_distance``, the
classic hard-exploration setting for bonuses and shaping. The x position is
kept as ``obs[0]`` so potentials and count keys can use it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class SparseProgressReward(gym.Wrapper):
    """Replace the reward by ``1[x_position > goal_distance]``; keep the dense one in info."""

    def __init__(self, env: gym.Env, goal_distance: float) -> None:
        super().__init__(env)
        self.goal_distance = float(goal_distance)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["dense_reward"] = float(reward)
        sparse = float(info["x_position"] > self.goal_distance)
        info["is_success"] = bool(sparse)
        return obs, sparse, terminated, truncated, info


def make_sparse(base_id: str, goal_distance: float, **kwargs: Any) -> gym.Env:
    """Build ``base_id`` with the x position in the observation and a sparse reward."""
    kwargs.setdefault("exclude_current_positions_from_observation", False)
    return SparseProgressReward(gym.make(base_id, **kwargs), goal_distance)


SPARSE_VARIANTS = {
    "rewardlab/SparseHalfCheetah-v5": ("HalfCheetah-v5", 5.0),
    "rewardlab/SparseHopper-v5": ("Hopper-v5", 2.0),
}


def register() -> None:
    """Register the sparse variants with Gymnasium (idempotent)."""
    for env_id, (base_id, goal) in SPARSE_VARIANTS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=make_sparse,
                kwargs={"base_id": base_id, "goal_distance": goal},
                max_episode_steps=1000,
            )
