"""Inject a reward into a single Gymnasium env: a thin adapter over the batched engine."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.wrappers.engine import NanPolicy, RewardEngine
from rewardlab.wrappers.frames import FRAME_KEY, MISSING_FRAMES, RenderFrames
from rewardlab.wrappers.observations import copy_observation


def _batch_of_one(obs: Any) -> Any:
    """``obs`` with a leading env axis of 1, copied: the wrapper keeps it past the env's next step."""
    if isinstance(obs, dict):
        return {k: np.array(v)[None] for k, v in obs.items()}
    return np.array(obs)[None]


class RewardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replace a Gymnasium env's reward with ``reward``, evaluated as a batch of one.

    Same info keys and options as :class:`~rewardlab.RewardVecWrapper`.
    Observations are copied before the wrapper keeps them (as the previous
    observation of the next step and in learners' batches), so envs that
    reuse their observation arrays (NLE, MiniHack) are read right.

    Examples:
        >>> import gymnasium as gym, rewardlab as rl
        >>> env = rl.RewardWrapper(gym.make("CartPole-v1"), rl.extrinsic() + rl.constant(1.0))
        >>> _ = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> reward, info["rewardlab"]["constant"]
        (2.0, 1.0)
    """

    def __init__(
        self,
        env: gym.Env,
        reward: RewardTerm,
        *,
        nan_policy: NanPolicy = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
        step_info: bool = True,
        run_dir: str | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, reward=reward, nan_policy=nan_policy, clip_value=clip_value, update_every=update_every
        )
        gym.Wrapper.__init__(self, env)
        self.engine = RewardEngine(
            reward, 1, nan_policy=nan_policy, clip_value=clip_value, update_every=update_every, step_info=step_info
        )
        reward.bind(EnvInfo.from_env(env, run_dir=run_dir))
        self._frames = reward.needs_frames
        if self._frames and not _is_wrapped(env, RenderFrames):
            raise ValueError(MISSING_FRAMES)
        self._last_obs: Any = None

    @property
    def reward_term(self) -> RewardTerm:
        return self.engine.reward

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = _batch_of_one(obs)
        self.engine.reset()
        return obs, info

    def get_state(self) -> dict[str, Any]:
        """The wrapper's running state, copied: the engine's and the previous observation (as a batch of one)."""
        return {"engine": self.engine.get_state(), "last_obs": copy_observation(self._last_obs)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned; then step on from the env state it was taken at."""
        self.engine.set_state(state["engine"])
        self._last_obs = copy_observation(state["last_obs"])

    def close(self) -> None:
        """Close the reward's terms (their worker threads, files), then the wrapped env."""
        try:
            self.engine.close()
        finally:
            self.env.close()

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        if self._last_obs is None:
            raise RuntimeError("call reset() before step() on RewardWrapper")
        obs, reward, terminated, truncated, info = self.env.step(action)
        next_obs = _batch_of_one(obs)
        terminated_, truncated_ = np.array([bool(terminated)]), np.array([bool(truncated)])
        batch = Transitions(
            self._last_obs,
            np.array(action)[None],
            next_obs,
            np.array([float(reward)]),
            terminated_,
            truncated_,
            [info],
            frames=info.pop(FRAME_KEY)[None] if self._frames else None,
        )
        total = self.engine.process(batch, terminated_ | truncated_)
        self._last_obs = next_obs
        return obs, float(total[0]), terminated, truncated, info


def _is_wrapped(env: gym.Env, wrapper: type) -> bool:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, wrapper):
            return True
        env = env.env
    return False
