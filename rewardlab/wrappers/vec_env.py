"""Inject a reward into an SB3 vector env: the main path for training."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper, VecMonitor

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.wrappers.engine import NanPolicy, RewardEngine
from rewardlab.wrappers.frames import MISSING_FRAMES, RenderFrames, pop_frames
from rewardlab.wrappers.observations import copy_observation

_F32 = np.dtype(np.float32)  # what SB3 stores rewards as
_BOOL = np.dtype(bool)
#: the share of steps where some episode ends above which the wrapper checks ``dones`` before the compiled step
#: (right after a MuJoCo step, a compiled call that returns at once cost about 5 µs, the check here about 0.7)
ENDS_OFTEN = 0.15


class RewardVecWrapper(VecEnvWrapper):
    """Replace a vector env's reward with ``reward`` (any SB3 algorithm can train on it).

    The environment's own reward stays available as ``info["rewardlab"]["extrinsic_reward"]``
    and per-episode sums of each term and the true return come in
    ``info["rewardlab_episode"]`` (log them with :class:`rewardlab.RewardLogger`).
    Place this wrapper directly on the raw vector env (inside ``VecNormalize``)
    so terms see raw observations; ``Monitor``/``VecMonitor`` below it keep
    logging the true return.

    The wrapper copies each step's observations and actions before keeping them
    (as the next step's previous observation and in learners' batches). It
    cannot repair ``info["terminal_observation"]`` of an env that reuses its
    observation arrays: SB3 stores that array and then resets the env, which
    overwrites it. Put :class:`~rewardlab.wrappers.CopyObservations` on such
    envs (the NetHack and MiniHack presets do that for you).

    Args:
        venv: the SB3 vector env.
        reward: the reward term.
        nan_policy, clip_value, update_every, step_info: see :class:`RewardEngine`.
        run_dir: the run folder, handed to terms in :class:`~rewardlab.core.env_info.EnvInfo`.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), rl.extrinsic() - 0.5)
        >>> _ = venv.reset()
        >>> obs, rewards, dones, infos = venv.step(np.array([0, 1]))
        >>> rewards, infos[0]["rewardlab"]["extrinsic_reward"]
        (array([0.5, 0.5], dtype=float32), 1.0)
    """

    def __init__(
        self,
        venv: VecEnv,
        reward: RewardTerm,
        *,
        nan_policy: NanPolicy = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
        step_info: bool = True,
        run_dir: str | None = None,
    ) -> None:
        super().__init__(venv)
        self.engine = RewardEngine(
            reward,
            venv.num_envs,
            nan_policy=nan_policy,
            clip_value=clip_value,
            update_every=update_every,
            step_info=step_info,
        )
        reward.bind(EnvInfo.from_env(venv, run_dir=run_dir))
        self._frames = reward.needs_frames
        if self._frames and not all(_env_is_wrapped(venv, RenderFrames)):
            raise ValueError(MISSING_FRAMES)
        # over SB3's DummyVecEnv: arrays of fixed types, and a fresh reward array each step the totals can go in
        self.engine.steady_inputs = self.engine.totals_in_reward = _steady(venv)
        self._no_truncation = np.zeros(venv.num_envs, dtype=bool)
        self._no_truncation.flags.writeable = False
        self._last_obs: Any = None
        self._actions: np.ndarray | None = None
        self._keeps = False  # this step's batch outlives it (engine.keeps_batches, asked at step_async)
        self._may_keep = self.engine.buffers_batches  # fixed by the reward: False spares the question every step
        self._mean_length: float | None = None  # a running mean of the episodes' lengths, whether they end often
        self._ends_often = False  # (see _count_ends)
        self._countdown = 1
        #: whether step_wait may take its lean path (after reset() or set_state()): over SB3's DummyVecEnv (under
        #: VecMonitor at most) the observations are arrays when the space is a Box, the dones a bool array, all
        #: fresh copies; and a reward that never keeps a batch needs no copy of them
        self._lean_ok = self.engine.steady_inputs and isinstance(venv.observation_space, Box) and not self._may_keep
        self._lean = False

    @property
    def reward(self) -> RewardTerm:
        return self.engine.reward

    def reset(self) -> Any:
        obs = self.venv.reset()
        self._last_obs = copy_observation(obs)
        self.engine.reset()
        self._lean = self._lean_ok
        return obs

    def get_state(self) -> dict[str, Any]:
        """The wrapper's running state, copied: the engine's (:meth:`RewardEngine.get_state`) and the previous
        observations the next step's reward reads."""
        return {"engine": self.engine.get_state(), "last_obs": copy_observation(self._last_obs)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned; then step on from the env state it was taken at."""
        self.engine.set_state(state["engine"])
        self._last_obs = copy_observation(state["last_obs"])
        self.engine.inputs_changed()  # the restored observations' type may not be the env's
        self._lean = self._lean_ok

    def step_async(self, actions: np.ndarray) -> None:
        if self._may_keep:  # a learning term may keep this step's batch: then an owned copy of the actions
            self._keeps = keeps = self.engine.keeps_batches
            self._actions = np.array(actions) if keeps else np.asarray(actions)
        else:  # the reward never keeps a batch: the actions as they come (the long way makes them an array)
            self._actions = actions
        self.venv.step_async(actions)

    def step(self, actions: np.ndarray) -> Any:
        """:meth:`step_async` then :meth:`step_wait`, the first inlined (one Python call fewer per step): keep
        the two alike."""
        if self._may_keep:
            self._keeps = keeps = self.engine.keeps_batches
            self._actions = np.array(actions) if keeps else np.asarray(actions)
        else:  # the reward never keeps a batch: the actions as they come (the long way makes them an array)
            self._actions = actions
        self.venv.step_async(actions)
        return self.step_wait()

    def close(self) -> None:
        """Close the reward's terms (their worker threads, files), then the wrapped env."""
        try:
            self.engine.close()
        finally:
            self.venv.close()

    def step_wait(self) -> Any:
        lean = self._lean  # over SB3's DummyVecEnv with array observations, after reset(): nothing to check
        if not lean and self._last_obs is None:
            raise RuntimeError("call reset() before step() on RewardVecWrapper")
        obs, rewards, dones, infos = self.venv.step_wait()
        # the next step's previous observation outlives the env's next step: keep a copy
        if lean:
            owned, arrays = obs.copy(), True
        else:
            owned = obs.copy() if type(obs) is np.ndarray else copy_observation(obs)
            if type(dones) is not np.ndarray or dones.dtype is not _BOOL:
                dones = np.asarray(dones, dtype=bool)
            if self._keeps:
                dones = dones.copy()
            arrays = type(owned) is np.ndarray
        engine = self.engine
        # the common step (no episode ended) in one compiled call, which checks for ends itself; None: it ran
        # nothing (an episode ended, or the reward has no such call yet) and the long way below follows. Where
        # episodes end on many steps, the check here first (faster than .any() on small arrays) spares that
        # call on those steps (see _count_ends)
        ended = dones.tobytes().count(1) if self._ends_often or not arrays else 0
        if arrays and not ended:
            total = engine.step_fast(self._last_obs, owned, rewards, dones, infos, _F32)
            if total is not None:
                self._last_obs = owned
                return obs, total, dones, infos
            ended = dones.tobytes().count(1)
        if ended:
            next_obs, terminated, truncated = self._episode_ends(owned, dones, infos)
        else:  # the common step: nothing ended
            next_obs, terminated, truncated = owned, dones, self._no_truncation
        total = None
        actions = np.asarray(self._actions)  # kept as they came (see step)
        if self._frames:
            frames = pop_frames(infos, self.num_envs)
        elif arrays:  # the terms' step kernels on the bare arrays, when they all have one
            total = engine.step_arrays(self._last_obs, actions, next_obs, rewards, terminated, dones, infos, _F32)
            frames = None
        else:
            frames = None
        if total is None:
            batch = Transitions(
                self._last_obs, actions, next_obs, rewards.astype(np.float64), terminated, truncated, infos,
                frames=frames,
            )
            total = engine.process(batch, dones, dtype=np.float32)
        self._last_obs = owned
        if ended:
            self._count_ends()
        return obs, total, dones, infos

    def _count_ends(self) -> None:
        """After a step where episodes ended: keep :attr:`_ends_often`, whether episodes end on more than
        :data:`ENDS_OFTEN` of the steps, from a running mean ``L`` of the ended episodes' lengths (``n`` envs end
        some episode on about ``n / L`` of the steps). Then the wrapper checks ``dones`` itself before the
        compiled step, whose own check would cost a wasted call (about 5 µs right after an env step) on each
        of those steps; elsewhere (MuJoCo's 1000-step episodes, a trained agent) the wrapper's check is the
        waste."""
        self._countdown -= 1
        if self._countdown > 0:  # one such step in 8 is sample enough
            return
        self._countdown = 8
        episodes = self.engine.last_episodes
        if episodes:
            length = episodes[0]["length"]
            mean = self._mean_length
            self._mean_length = mean = length if mean is None else mean + 0.25 * (length - mean)
            self._ends_often = self.num_envs > ENDS_OFTEN * mean

    def _episode_ends(self, obs: Any, dones: np.ndarray, infos: list[dict]) -> tuple[Any, np.ndarray, np.ndarray]:
        """``(next_obs, terminated, truncated)`` of a step where episodes ended: ``next_obs`` a copy of ``obs``
        where those envs hold their ``terminal_observation``; a time limit (``TimeLimit.truncated``) truncates."""
        array = not isinstance(obs, dict)
        next_obs = obs.copy() if array else {k: v.copy() for k, v in obs.items()}
        cut = []
        for i in dones.nonzero()[0].tolist():
            info = infos[i]
            terminal = info.get("terminal_observation")
            if terminal is not None:
                if array:
                    next_obs[i] = terminal
                else:
                    for k, v in next_obs.items():
                        v[i] = terminal[k]
            if info.get("TimeLimit.truncated", False):
                cut.append(i)
        if not cut:
            return next_obs, dones, self._no_truncation
        terminated, truncated = dones.copy(), np.zeros(len(dones), dtype=bool)
        terminated[cut], truncated[cut] = False, True
        return next_obs, terminated, truncated


def _steady(venv: VecEnv) -> bool:
    """Whether ``venv.step_wait``'s observations, rewards and dones keep their types from step to step whatever the
    env does: SB3's ``DummyVecEnv`` copies them out of buffers made once (float32 rewards, bool dones, the
    observation space's dtype and shape), and ``VecMonitor`` passes them on. Other vector envs (subprocesses
    stack what each env returned) need numba's dispatcher on every step. The copies are fresh on every step
    and nobody else holds the rewards, so the engine may write the totals into them."""
    while type(venv) is VecMonitor:
        venv = venv.venv
    return type(venv) is DummyVecEnv


def _env_is_wrapped(venv: VecEnv, wrapper: type) -> list[bool]:
    try:
        return list(venv.env_is_wrapped(wrapper))
    except (AttributeError, NotImplementedError):  # a VecEnv that cannot tell: check frames at the first step
        return [True] * venv.num_envs
