"""Evaluate a reward on transitions no environment produced, without side effects.

Analysis must not change the reward it looks at: a count bonus must not count
grid points, a running normaliser must not absorb them, a learned model must
not train on them. :func:`frozen` hands out a deep copy in evaluation mode;
:class:`RewardEvaluator` builds the transition batches (filling the extrinsic
reward and termination from the env's reward model when there is one) and
evaluates every component in chunks that bound memory.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from rewardlab.analysis.env_rewards import EnvRewardModel, env_reward_model
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import Extrinsic, RewardTerm
from rewardlab.core.transitions import Transitions

#: rows evaluated per call of a term; bounds the memory of large grids and EPIC samples
DEFAULT_CHUNK = 1 << 18


@cache
def env_info(env_id: str) -> EnvInfo:
    """Spaces and observation names of a preset or Gymnasium env id (the env is made once and closed)."""
    from rewardlab.envs import get_preset, make_env

    preset = get_preset(env_id)
    env = make_env(env_id)
    try:
        return EnvInfo(env_id, env.observation_space, env.action_space, 1, preset.obs_names)
    finally:
        env.close()


def resolve_env(env: str | EnvInfo | Any | None) -> EnvInfo | None:
    """An :class:`EnvInfo` from an env id, an EnvInfo, a Gymnasium env or an SB3 VecEnv."""
    if env is None or isinstance(env, EnvInfo):
        return env
    if isinstance(env, str):
        return env_info(env)
    return EnvInfo.from_env(env)


def frozen(reward: RewardTerm, env: EnvInfo | None = None) -> RewardTerm:
    """A deep copy of ``reward`` in evaluation mode, bound to ``env`` if the original never was.

    The copy carries the learned and running state of the original (counts,
    normalisers, networks) but nothing done to it reaches the original.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + 0.1 * rl.bonus.count("obs", mode="global")
        >>> copy = rl.analysis.frozen(reward)
        >>> copy is reward, copy.component_names() == reward.component_names()
        (False, True)
    """
    if not isinstance(reward, RewardTerm):
        raise TypeError(f"expected a RewardTerm, got {type(reward).__name__}")
    out = copy.deepcopy(reward)
    if env is not None and all(leaf.env_info is None for leaf in out.leaves()):
        out.bind(env)
    return out.train(False)


class RewardEvaluator:
    """Evaluate a reward's components on arrays of ``(obs, action, next_obs)``.

    Args:
        reward: the reward term; a frozen copy is evaluated (see :func:`frozen`).
        env: env id, :class:`EnvInfo` or env, used to bind the copy and to pick
            the env's reward model.
        env_reward: ``model(obs, action, next_obs) -> (reward, terminated)``
            overriding the env's known model; the extrinsic reward and the
            termination flag of synthetic transitions come from it.
        ignore_termination: mark every transition non-terminal (what EPIC and
            STARC assume: they compare rewards of continuing MDPs, and potential
            shaping is only exactly ``γΦ(s') − Φ(s)`` there).
        chunk_size: rows per call of the reward.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> height = rl.function(lambda next_obs: next_obs[:, 0])
        >>> evaluator = rl.analysis.RewardEvaluator(rl.extrinsic() + height, env="MountainCar-v0")
        >>> obs = np.array([[-0.5, 0.0], [0.0, 0.0]])
        >>> {k: v.tolist() for k, v in evaluator.components(obs, np.array([1, 1]), obs).items()}
        {'extrinsic': [-1.0, -1.0], 'function': [-0.5, 0.0]}
    """

    def __init__(
        self,
        reward: RewardTerm,
        *,
        env: str | EnvInfo | Any | None = None,
        env_reward: EnvRewardModel | None = None,
        ignore_termination: bool = False,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.env = resolve_env(env)
        self.reward = frozen(reward, self.env)
        self.names = self.reward.component_names()
        self.env_reward = env_reward or env_reward_model(self.env.env_id if self.env else None)
        self.ignore_termination = ignore_termination
        self.chunk_size = chunk_size
        if self.env_reward is None and any(isinstance(leaf, Extrinsic) for leaf in self.reward.leaves()):
            env_name = self.env.env_id if self.env else "no env"
            warnings.warn(
                f"reward {reward!r} reads the extrinsic reward, but rewardlab has no reward model for {env_name}; "
                "it reads 0 on synthetic transitions. Pass env_reward=fn(obs, action, next_obs) -> (reward, "
                "terminated), or evaluate on rollout transitions.",
                UserWarning,
                stacklevel=2,
            )

    def transitions(self, obs: Any, action: Any, next_obs: Any) -> Transitions:
        """A batch of synthetic transitions with the env's reward and termination filled in."""
        reward = terminated = None
        if self.env_reward is not None:
            reward, terminated = self.env_reward(obs, action, next_obs)
        if self.ignore_termination:
            terminated = None
        return Transitions.from_arrays(obs, action, next_obs, reward, terminated)

    def components(self, obs: Any, action: Any, next_obs: Any) -> dict[str, np.ndarray]:
        """Each component's value on every row, computed ``chunk_size`` rows at a time."""
        return self.components_of(
            lambda sl: self.transitions(_rows(obs, sl), _rows(action, sl), _rows(next_obs, sl)), _length(next_obs)
        )

    def components_of(self, make_batch: Callable[[slice], Transitions], n: int) -> dict[str, np.ndarray]:
        """Components over ``n`` rows whose batches ``make_batch(slice)`` builds lazily (saves memory)."""
        out = {name: np.empty(n) for name in self.names}
        for start in range(0, n, self.chunk_size):
            sl = slice(start, min(n, start + self.chunk_size))
            for name, values in self.reward.components(make_batch(sl)).items():
                out[name][sl] = values
        return out

    def total(self, obs: Any, action: Any, next_obs: Any) -> np.ndarray:
        """The reward (sum of the components) on every row."""
        return sum(self.components(obs, action, next_obs).values())

    def on_batch(self, batch: Transitions) -> np.ndarray:
        """The reward of existing transitions (from rollouts), honouring ``ignore_termination``."""
        if self.ignore_termination:
            batch = Transitions(
                batch.obs,
                batch.action,
                batch.next_obs,
                batch.reward,
                np.zeros(batch.n, dtype=bool),
                batch.truncated,
                batch.infos,
            )
        return sum(self.components_of(lambda sl: batch[sl], batch.n).values())


def _rows(x: Any, sl: slice) -> Any:
    if isinstance(x, dict):
        return {k: v[sl] for k, v in x.items()}
    return x[sl]


def _length(x: Any) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
