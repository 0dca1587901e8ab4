"""NetHack / MiniHack helpers: seeding, honest time limits, success flags, where the hero went.

NLE ends an episode that reaches its own ``max_episode_steps`` with
``terminated=True`` (``info["end_status"] == ABORTED``), so SB3 would not
bootstrap the value there and potential shaping would zero the next
potential. :class:`NLETimeLimit` turns those ends into truncations and adds
``info["is_success"]`` (the task was solved), which SB3 logs as
``rollout/success_rate``. :class:`NLESeeding` makes ``reset(seed=...)`` seed
NetHack's own RNGs. This module does not import ``nle``: the presets
name it as a wrapper, and ``nle`` / ``minihack`` are imported by the preset's
``module``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

# nle.nethack.NLE.StepStatus values (kept as ints so this module does not import nle)
ABORTED = -1
TASK_SUCCESSFUL = 2
# blstats indices of the hero's map column and row (nle.nethack.NLE_BL_X / NLE_BL_Y)
BLSTATS_X, BLSTATS_Y = 0, 1
MAP_SHAPE = (21, 79)  # rows, columns of the NetHack map (glyphs)


class NLETimeLimit(gym.Wrapper):
    """Report NLE's step-limit ends as truncations and flag solved tasks in ``info["is_success"]``."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        status = int(info.get("end_status", 0))
        if terminated and status == ABORTED:
            terminated, truncated = False, True
        if terminated or truncated:
            info["is_success"] = status == TASK_SUCCESSFUL
        return obs, reward, terminated, truncated, info


class NLESeeding(gym.Wrapper):
    """Make ``reset(seed=s)`` seed NetHack itself, so seeded runs replay the same dungeons.

    NLE's ``reset(seed)`` only seeds Gymnasium's ``np_random``; NetHack's own
    core and display RNGs (which generate the levels) get fresh system
    entropy. This wrapper draws both NetHack seeds for every episode from a
    generator seeded at ``reset(seed=s)`` (NetHack's own reseeding is turned
    off), so episode ``k`` after seed ``s`` is always the same game.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._seeds: np.random.Generator | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        if self._seeds is not None:
            core, disp = (int(x) for x in self._seeds.integers(1, 2**62, size=2))
            self.env.unwrapped.seed(core, disp, reseed=False)
        return self.env.reset(seed=seed, options=options)


def agent_positions(obs: dict[str, np.ndarray]) -> np.ndarray:
    """The hero's ``(row, column)`` on the map for a batch of observations, shape ``(n, 2)``.

    Reads ``blstats`` (x is the column, y the row), so the observation must
    hold that key; raises a :class:`KeyError` naming the keys it has otherwise.
    """
    if "blstats" not in obs:
        raise KeyError(f"agent_positions needs the 'blstats' observation key; got {sorted(obs)}")
    blstats = np.asarray(obs["blstats"]).reshape(-1, np.shape(obs["blstats"])[-1])
    return np.stack([blstats[:, BLSTATS_Y], blstats[:, BLSTATS_X]], axis=1).astype(np.int64)


class PositionVisits(BaseCallback):
    """SB3 callback: count how often the hero stood on each map square during training.

    ``counts`` is a ``(21, 79)`` array (rows, columns) summed over all envs and
    dungeon levels; plot it with :func:`rewardlab.plot.visit_map`.
    """

    def __init__(self, shape: tuple[int, int] = MAP_SHAPE) -> None:
        super().__init__()
        self.counts = np.zeros(shape, dtype=np.int64)

    def _on_step(self) -> bool:
        rows, cols = agent_positions(self.locals["new_obs"]).T
        np.add.at(self.counts, (rows, cols), 1)
        return True
