"""A user reward module, imported by 'function' terms in config tests."""

import numpy as np


def height(next_obs: np.ndarray) -> np.ndarray:
    """The car's position as a reward."""
    return next_obs[:, 0]


def boom(next_obs: np.ndarray) -> np.ndarray:
    """A reward function with a bug."""
    return next_obs[:, 0] / 0 if next_obs.dtype == object else 1 // 0


def nan_reward(next_obs: np.ndarray) -> np.ndarray:
    """NaN on every step."""
    return np.full(len(next_obs), np.nan)


def wrong_shape(next_obs: np.ndarray) -> np.ndarray:
    """One value too many."""
    return np.zeros(len(next_obs) + 1)


def slow(next_obs: np.ndarray) -> np.ndarray:
    """Zero, after 2 ms: paces a training run so a test can kill it between checkpoints."""
    import time

    time.sleep(0.002)
    return np.zeros(len(next_obs))
