"""Descriptor functions that the QD tests name as ``module:function`` (YAML / CLI)."""

from __future__ import annotations

import numpy as np


def position_range(episode) -> np.ndarray:
    """(lowest, highest) position of the episode, in the env's units."""
    x = episode.observations[:, 0]
    return np.array([x.min(), x.max()])


position_range.ranges = [(-1.2, 0.6), (-1.2, 0.6)]


def mean_action(episode) -> float:
    """The mean discrete action of the episode, in [0, 2] (MountainCar-v0)."""
    return float(np.mean(episode.actions)) / 2.0


mean_action.needs_actions = True
mean_action.dim = 1


def unsized(episode) -> float:
    return 0.0
