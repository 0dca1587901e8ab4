"""NetHack / MiniHack helpers: owned observations, seeding, honest time limits, success flags, where the hero went.

NLE returns its observations as views of buffers that the next ``step`` or
``reset`` overwrites, and when an episode ends by a solved task or NLE's own
step limit, its quit sequence blanks those buffers (blstats all 0, every
glyph 2359) before ``step`` returns; a death blanks them the same way.
:class:`NLEObservationCopy` hands out copies and, at the end of an episode,
the last real state, snapshot just before NLE's quit or game-over sequence.
NLE ends an episode that reaches its own ``max_episode_steps`` with
``terminated=True`` (``info["end_status"] == ABORTED``), so SB3 would not
bootstrap the value there and potential shaping would zero the next
potential. :class:`NLETimeLimit` turns those ends into truncations and adds
``info["is_success"]`` (the task was solved), which SB3 logs as
``rollout/success_rate``. :class:`NLESeeding` makes ``reset(seed=...)`` seed
NetHack's own RNGs. This module does not import ``nle``: the presets
name it as a wrapper, and ``nle`` / ``minihack`` are imported by the preset's
``module``. Every wrapper here records its constructor arguments, so a preset
env is rebuilt from its spec (``gymnasium.make(env.spec)``, a pickled spec, a
``SubprocVecEnv`` worker).
"""

from __future__ import annotations

import weakref
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rewardlab.wrappers.observations import copy_observation

# nle.nethack.NLE.StepStatus values (kept as ints so this module does not import nle)
ABORTED = -1
TASK_SUCCESSFUL = 2
# blstats indices of the hero's map column and row (nle.nethack.NLE_BL_X / NLE_BL_Y)
BLSTATS_X, BLSTATS_Y = 0, 1
MAP_SHAPE = (21, 79)  # rows, columns of the NetHack map (glyphs)


class _LastState:
    """Snapshots the real last observation inside NLE's ``step`` before its end-of-game sequence blanks it.

    Installed on the NLE env object in place of two of its methods:
    ``_quit_game`` (called when a task is solved or NLE's step limit is hit)
    and ``_perform_known_steps`` (called on every step; when the game is
    over, that is a death, before the final questions are answered). The
    first snapshot of a step wins; :meth:`take` hands it out once.
    """

    def __init__(self, nle_env: Any) -> None:
        self._env = weakref.ref(nle_env)  # no reference cycle: NLE closes its game when the env is collected
        cls = type(nle_env)
        self._quit_game, self._known_steps = cls._quit_game, cls._perform_known_steps
        self._program_state = nle_env._program_state_index
        self.snapshot: dict[str, np.ndarray] | None = None
        nle_env._quit_game = self.quit_game
        nle_env._perform_known_steps = self.perform_known_steps

    @classmethod
    def install(cls, nle_env: Any) -> _LastState | None:
        """The hook of ``nle_env`` (installed once however many wrappers ask); None if it is not an NLE env."""
        if not all(hasattr(nle_env, a) for a in ("_quit_game", "_perform_known_steps", "_program_state_index")):
            return None
        hook = getattr(nle_env, "_rewardlab_last_state", None)
        if hook is None:
            hook = nle_env._rewardlab_last_state = cls(nle_env)
        return hook

    def _take_snapshot(self, env: Any, observation: tuple) -> None:
        if self.snapshot is None:
            self.snapshot = copy_observation(env._get_observation(observation))

    def quit_game(self, observation: tuple, done: bool) -> Any:
        env = self._env()
        self._take_snapshot(env, observation)
        return self._quit_game(env, observation, done)

    def perform_known_steps(self, observation: tuple, done: bool, exceptions: bool = True) -> Any:
        if observation[self._program_state][0] == 1:  # program_state.game_over: the hero just died
            self._take_snapshot(self._env(), observation)
        return self._known_steps(self._env(), observation, done, exceptions)

    def take(self) -> dict[str, np.ndarray] | None:
        snapshot, self.snapshot = self.snapshot, None
        return snapshot


class NLEObservationCopy(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observations the caller owns, and the true last state of every episode.

    Every observation is a copy (NLE overwrites its arrays on the next call,
    so SB3's ``terminal_observation``, a reward's previous observation or a
    learner's batch would otherwise change under them). At the step that ends
    an episode (task solved, NLE's step limit, death) the observation is the
    state that step reached, taken before NLE's quit or game-over sequence
    blanks the screen. Put it directly on the NLE env (the presets do).
    On an env without NLE's methods it only copies.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self._last_state = _LastState.install(env.unwrapped)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if self._last_state is not None:
            self._last_state.take()
        return copy_observation(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        hook = self._last_state
        if hook is not None and hook.snapshot is not None:  # NLE ended the game inside this step
            last = hook.take()
            if terminated or truncated:
                return last, reward, terminated, truncated, info
        if type(obs) is dict:  # NLE's observation: a dict of arrays
            return {k: v.copy() for k, v in obs.items()}, reward, terminated, truncated, info
        return copy_observation(obs), reward, terminated, truncated, info


class NLETimeLimit(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Report NLE's step-limit ends as truncations and flag solved tasks in ``info["is_success"]``."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        status = int(info.get("end_status", 0))
        if terminated and status == ABORTED:
            terminated, truncated = False, True
        if terminated or truncated:
            info["is_success"] = status == TASK_SUCCESSFUL
        return obs, reward, terminated, truncated, info


class NLESeeding(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Make ``reset(seed=s)`` seed NetHack itself, so seeded runs replay the same dungeons.

    NLE's ``reset(seed)`` only seeds Gymnasium's ``np_random``; NetHack's own
    core and display RNGs (which generate the levels) get fresh system
    entropy. This wrapper draws both NetHack seeds for every episode from a
    generator seeded at ``reset(seed=s)`` (NetHack's own reseeding is turned
    off), so episode ``k`` after seed ``s`` is always the same game.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
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
