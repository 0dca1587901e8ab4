"""The environment's own reward as a function of ``(s, a, s')``, for known envs.

Landscapes and distances evaluate rewards on transitions that no environment
produced (grid points, samples from the spaces). A term that reads the
extrinsic reward (``rl.extrinsic()``) then needs that reward computed from the
states: these models give it, with the termination flag, for the classic
control presets. Unknown envs get ``None`` and the extrinsic reward reads 0
(with a warning from the caller).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``model(obs, action, next_obs) -> (reward, terminated)``, all batched with a leading axis.
EnvRewardModel = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _mountain_car(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    terminated = (next_obs[:, 0] >= 0.5) & (next_obs[:, 1] >= 0.0)
    return np.full(len(next_obs), -1.0), terminated


def _mountain_car_continuous(
    obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    terminated = (next_obs[:, 0] >= 0.45) & (next_obs[:, 1] >= 0.0)
    force = np.clip(np.asarray(action, dtype=np.float64).reshape(len(next_obs), -1)[:, 0], -1.0, 1.0)
    return 100.0 * terminated - 0.1 * force**2, terminated


def _cartpole(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    terminated = (np.abs(next_obs[:, 0]) > 2.4) | (np.abs(next_obs[:, 2]) > 12 * 2 * np.pi / 360)
    return np.ones(len(next_obs)), terminated


def _acrobot(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1, s1, c2, s2 = (next_obs[:, i] for i in range(4))
    terminated = -c1 - (c1 * c2 - s1 * s2) > 1.0
    return np.where(terminated, 0.0, -1.0), terminated


def _pendulum(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta = np.arctan2(obs[:, 1], obs[:, 0])
    torque = np.clip(np.asarray(action, dtype=np.float64).reshape(len(obs), -1)[:, 0], -2.0, 2.0)
    cost = theta**2 + 0.1 * obs[:, 2] ** 2 + 0.001 * torque**2
    return -cost, np.zeros(len(obs), dtype=bool)


ENV_REWARDS: dict[str, EnvRewardModel] = {
    "MountainCar-v0": _mountain_car,
    "MountainCarContinuous-v0": _mountain_car_continuous,
    "CartPole-v1": _cartpole,
    "Acrobot-v1": _acrobot,
    "Pendulum-v1": _pendulum,
}


def env_reward_model(env_id: str | None) -> EnvRewardModel | None:
    """The reward model of ``env_id``, or ``None`` when rewardlab has none.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> model = rl.analysis.env_reward_model("MountainCar-v0")
        >>> reward, terminated = model(np.zeros((2, 2)), np.zeros(2), np.array([[0.0, 0.0], [0.5, 0.01]]))
        >>> reward.tolist(), terminated.tolist()     # −1 per step; the flag at position ≥ 0.5
        ([-1.0, -1.0], [False, True])
        >>> rl.analysis.env_reward_model("NoSuchEnv-v0") is None
        True
    """
    return ENV_REWARDS.get(env_id) if env_id else None
