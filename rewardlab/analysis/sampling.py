"""Where analysis looks: transitions sampled from the spaces or from rollouts.

EPIC and STARC compare rewards under a *coverage distribution*: states ``S``
and actions ``A`` drawn independently from pools (:class:`Coverage`). A pool
comes either from rollouts (the states a policy visits: the comparison that
matters for training) or uniformly from the observation and action spaces
(every state counts the same; unbounded dimensions are clipped to ``±bound``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.analysis.env_rewards import EnvRewardModel, env_reward_model
from rewardlab.analysis.evaluation import resolve_env
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.transitions import Observation, Transitions, _concat_obs, _index_obs


def sample_space(space: gym.Space, n: int, rng: np.random.Generator, *, bound: float = 10.0) -> Any:
    """``n`` uniform samples of ``space`` as one array (a dict of arrays for Dict spaces), vectorised.

    Infinite Box bounds are replaced by ``±bound``.

    Examples:
        >>> import gymnasium as gym, numpy as np, rewardlab as rl
        >>> space = gym.spaces.Box(low=np.array([-1.0, -np.inf]), high=np.array([1.0, np.inf]), dtype=np.float64)
        >>> x = rl.analysis.sample_space(space, 1000, np.random.default_rng(0))
        >>> x.shape, bool(np.abs(x[:, 0]).max() <= 1), bool(np.abs(x[:, 1]).max() <= 10)
        ((1000, 2), True, True)
    """
    if isinstance(space, gym.spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -bound).astype(np.float64)
        high = np.where(np.isfinite(space.high), space.high, bound).astype(np.float64)
        if np.issubdtype(space.dtype, np.integer):
            return rng.integers(low, high + 1, size=(n, *space.shape)).astype(space.dtype)
        return rng.uniform(low, high, size=(n, *space.shape)).astype(space.dtype)
    if isinstance(space, gym.spaces.Discrete):
        return (space.start + rng.integers(0, space.n, size=n)).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (space.start + rng.integers(0, space.nvec, size=(n, *space.nvec.shape))).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiBinary):
        return rng.integers(0, 2, size=(n, *np.atleast_1d(space.n))).astype(space.dtype)
    if isinstance(space, gym.spaces.Dict):
        return {k: sample_space(s, n, rng, bound=bound) for k, s in space.spaces.items()}
    raise TypeError(
        f"cannot sample {type(space).__name__} spaces; supported: Box, Discrete, MultiDiscrete, MultiBinary, Dict. "
        "Sample from rollouts instead (Coverage.from_transitions)."
    )


def space_transitions(
    env: str | EnvInfo | Any, n: int, *, seed: int = 0, bound: float = 10.0, env_reward: EnvRewardModel | None = None
) -> Transitions:
    """``n`` transitions with ``obs``, ``action`` and ``next_obs`` drawn independently and uniformly from the spaces.

    The extrinsic reward and termination come from ``env_reward`` or the
    env's known model (zeros and ``False`` without one).

    Examples:
        >>> import rewardlab as rl
        >>> batch = rl.analysis.space_transitions("MountainCar-v0", 256, seed=0)
        >>> batch.obs.shape, batch.action.shape, float(batch.reward.max())   # MountainCar's known −1 per step
        ((256, 2), (256,), -1.0)
    """
    info = resolve_env(env)
    rng = np.random.default_rng(seed)
    obs = sample_space(info.observation_space, n, rng, bound=bound)
    action = sample_space(info.action_space, n, rng, bound=bound)
    next_obs = sample_space(info.observation_space, n, rng, bound=bound)
    return with_env_reward(obs, action, next_obs, env=info, env_reward=env_reward)


def with_env_reward(
    obs: Observation,
    action: np.ndarray,
    next_obs: Observation,
    *,
    env: str | EnvInfo | None = None,
    env_reward: EnvRewardModel | None = None,
) -> Transitions:
    """Transitions whose extrinsic reward and termination come from ``env_reward`` or ``env``'s known model."""
    info = resolve_env(env)
    model = env_reward or env_reward_model(info.env_id if info else None)
    reward, terminated = model(obs, action, next_obs) if model is not None else (None, None)
    return Transitions.from_arrays(obs, action, next_obs, reward, terminated)


@dataclass
class Coverage:
    """Pools of states and actions that the expectations of a canonicalisation draw from.

    ``obs`` holds states (an array, or a dict of arrays), ``actions`` holds
    actions; rows are drawn uniformly with replacement, states and actions
    independently.

    Examples:
        >>> import rewardlab as rl
        >>> coverage = rl.analysis.Coverage.from_spaces("MountainCar-v0", 1024, seed=0)
        >>> coverage.obs.shape, coverage.actions.shape
        ((1024, 2), (1024,))
    """

    obs: Observation
    actions: np.ndarray

    @classmethod
    def from_transitions(cls, batch: Transitions) -> Coverage:
        """States visited in ``batch`` (both ``obs`` and ``next_obs``) and its actions."""
        return cls(_concat_obs([batch.obs, batch.next_obs]), np.asarray(batch.action))

    @classmethod
    def from_spaces(cls, env: str | EnvInfo | Any, n: int = 16_384, *, seed: int = 0, bound: float = 10.0) -> Coverage:
        """Uniform pools of ``n`` states and ``n`` actions from the env's spaces."""
        info = resolve_env(env)
        rng = np.random.default_rng(seed)
        return cls(
            sample_space(info.observation_space, n, rng, bound=bound),
            sample_space(info.action_space, n, rng, bound=bound),
        )

    def transitions(
        self, n: int, *, seed: int = 0, env: str | EnvInfo | None = None, env_reward: EnvRewardModel | None = None
    ) -> Transitions:
        """``n`` transitions with ``s``, ``a`` and ``s'`` drawn independently from the pools.

        The extrinsic reward and termination come from ``env_reward`` or from
        ``env``'s known reward model.
        """
        rng = np.random.default_rng(seed)
        obs, action, next_obs = self.sample_obs(n, rng), self.sample_actions(n, rng), self.sample_obs(n, rng)
        return with_env_reward(obs, action, next_obs, env=env, env_reward=env_reward)

    def sample_obs(self, m: int, rng: np.random.Generator) -> Observation:
        """``m`` states drawn with replacement."""
        n = len(next(iter(self.obs.values()))) if isinstance(self.obs, dict) else len(self.obs)
        return _index_obs(self.obs, rng.integers(0, n, size=m))

    def sample_actions(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` actions drawn with replacement."""
        return self.actions[rng.integers(0, len(self.actions), size=m)]


def comparison_data(
    env: str | EnvInfo | Any | None,
    transitions: Transitions | None,
    coverage: Coverage | None,
    *,
    n_transitions: int = 4096,
    seed: int = 0,
    bound: float = 10.0,
    env_reward: EnvRewardModel | None = None,
) -> tuple[Transitions, Coverage]:
    """The transitions to compare rewards on and the coverage pools, from what the caller gave.

    * ``transitions`` given (e.g. ``rollout(...).transitions``): compare on them,
      coverage = their states and actions unless ``coverage`` is given;
    * only ``coverage``: ``n_transitions`` transitions drawn from its pools;
    * neither: both uniform over ``env``'s spaces.
    """
    if transitions is not None:
        return transitions, coverage or Coverage.from_transitions(transitions)
    if coverage is not None:
        return coverage.transitions(n_transitions, seed=seed, env=env, env_reward=env_reward), coverage
    if env is None:
        raise ValueError("give env (to sample from its spaces), transitions (e.g. from a rollout) or a coverage")
    batch = space_transitions(env, n_transitions, seed=seed, bound=bound, env_reward=env_reward)
    return batch, Coverage.from_spaces(env, max(n_transitions, 4096), seed=seed + 1, bound=bound)
