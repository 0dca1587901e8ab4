"""Owning observations: some envs (NLE, MiniHack, many C++ envs) return views of buffers they overwrite.

NLE's ``step`` and ``reset`` write into the same numpy arrays every time (its
source: "By default we re-use Numpy arrays, so copy before!"). Anything that
keeps an observation past the next call (the previous observation a reward
needs, a learner's replay of transitions, SB3's ``terminal_observation``)
must keep a copy. The reward wrappers copy what they keep themselves;
:class:`CopyObservations` makes an env hand out copies, so that SB3's vector
envs store a correct ``terminal_observation`` too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def copy_observation(obs: Any) -> Any:
    """A copy of ``obs`` (an array, a number, or a dict/tuple of them) that shares no memory with it.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.wrappers import copy_observation
        >>> buffer = {"glyphs": np.zeros(3)}
        >>> kept = copy_observation(buffer)
        >>> buffer["glyphs"][:] = 7          # the env overwrites its buffer on the next step
        >>> kept["glyphs"]
        array([0., 0., 0.])
    """
    if isinstance(obs, np.ndarray):
        return obs.copy()
    if isinstance(obs, dict):
        return {k: copy_observation(v) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(copy_observation(v) for v in obs)
    return np.array(obs)  # numbers, lists


class CopyObservations(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Return a fresh copy of every observation from ``reset`` and ``step``.

    Put it directly on an env that reuses its observation buffers, below
    anything that keeps observations (SB3's ``DummyVecEnv`` and
    ``SubprocVecEnv`` keep the last one as ``info["terminal_observation"]``
    while the env resets). The NetHack and MiniHack presets use
    :class:`rewardlab.envs.nethack.NLEObservationCopy`, which also keeps the
    true last observation of an episode.

    Examples:
        >>> import gymnasium as gym
        >>> from rewardlab.wrappers import CopyObservations
        >>> env = CopyObservations(gym.make("CartPole-v1"))
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape
        (4,)
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        return copy_observation(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return copy_observation(obs), reward, terminated, truncated, info
