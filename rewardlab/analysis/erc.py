"""ERC: episode-return correlation of rewards over the same rollouts.

The cheapest comparison: evaluate every reward on the transitions of the same
episodes, sum each over every episode, and take the Pearson distance
``sqrt((1 − ρ)/2)`` of the returns. It only sees the policy that collected the
episodes and is not invariant to shaping (a potential shaping changes the
return by ``γ^T Φ(s_T) − Φ(s_0)``), which is why EPIC exists; but it needs no
coverage distribution and reads the real termination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardlab.analysis.distances import Distance, DistanceMatrix, pairwise
from rewardlab.analysis.epic import named_rewards
from rewardlab.analysis.evaluation import RewardEvaluator
from rewardlab.analysis.rollout import Rollout, rollout
from rewardlab.core.term import RewardTerm


def episode_returns(
    rewards: Sequence[RewardTerm], data: Rollout, *, gamma: float = 1.0, env: str | Any | None = None
) -> np.ndarray:
    """Return of each reward on each episode of ``data``: shape ``(k, n_episodes)`` (frozen copies are evaluated).

    Examples:
        >>> import rewardlab as rl
        >>> data = rl.analysis.rollout("MountainCar-v0", rl.extrinsic(), n_steps=400, seed=0)   # 2 cut-off episodes
        >>> returns = rl.analysis.episode_returns([rl.extrinsic(), rl.constant(1.0)], data, env="MountainCar-v0")
        >>> returns.shape, returns[:, 0].tolist()
        ((2, 2), [-200.0, 200.0])
    """
    return np.stack(
        [data.episode_returns(RewardEvaluator(r, env=env).on_batch(data.transitions), gamma) for r in rewards]
    )


def erc_matrix(
    rewards: Mapping[str, RewardTerm] | Sequence[RewardTerm],
    *,
    env: str | Any | None = None,
    rollouts: Rollout | None = None,
    n_steps: int = 2_000,
    n_envs: int = 4,
    model: Any = None,
    gamma: float = 1.0,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DistanceMatrix:
    """ERC distances between every pair of ``rewards``, on ``rollouts`` or on a fresh rollout of ``model`` in ``env``.

    The bootstrap resamples episodes.

    Examples:
        >>> import rewardlab as rl
        >>> rewards = {"task": rl.extrinsic(), "doubled": 2.0 * rl.extrinsic(), "minus": -1.0 * rl.extrinsic()}
        >>> m = rl.analysis.erc_matrix(rewards, env="CartPole-v1", n_steps=200, bootstrap=100)
        >>> round(float(m["task", "doubled"]), 6), round(float(m["task", "minus"]), 6)   # same order; reversed
        (0.0, 1.0)
    """
    names, terms = named_rewards(rewards)
    if rollouts is None:
        if env is None:
            raise ValueError("give rollouts, or env (and optionally model) to collect them")
        rollouts = rollout(env, model=model, n_steps=n_steps, n_envs=n_envs, seed=seed, complete_only=True)
    if rollouts.n_episodes < 3:
        raise ValueError(
            f"ERC needs at least 3 complete episodes, the rollout has {rollouts.n_episodes}; roll out longer"
        )
    returns = episode_returns(terms, rollouts, gamma=gamma, env=env)
    return pairwise(returns, names, "ERC", metric="pearson", bootstrap=bootstrap, confidence=confidence, seed=seed)


def erc_distance(reward_a: RewardTerm, reward_b: RewardTerm, **kwargs: Any) -> Distance:
    """ERC distance of two rewards with its bootstrap interval; keyword arguments as :func:`erc_matrix`.

    Examples:
        >>> import rewardlab as rl
        >>> d = rl.analysis.erc_distance(rl.extrinsic(), rl.constant(1.0), env="CartPole-v1", n_steps=200,
        ...                              bootstrap=100)
        >>> d.method, round(d.value, 6)    # CartPole pays 1 per step: the same episode returns
        ('ERC', 0.0)
    """
    return erc_matrix({"a": reward_a, "b": reward_b}, **kwargs)["a", "b"]
