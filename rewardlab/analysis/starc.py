"""STARC distances (Skalse et al. 2023): canonicalise, normalise, measure.

``D(R_a, R_b) = ½·‖s(R_a) − s(R_b)‖`` with ``s(R) = c(R)/‖c(R)‖``. On sampled
transitions ``c`` is the EPIC canonicalisation (the value-adjusted levelling
needs the dynamics: see :func:`rewardlab.analysis.tabular.value_canonical_tabular`)
and the norms are Lp norms averaged over the transitions. Halved so that the
distance lies in [0, 1] with 1 for negation. Termination is handled as in
:mod:`rewardlab.analysis.epic` (absorbing by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab.analysis.canonical import epic_canonicalize
from rewardlab.analysis.distances import Distance, DistanceMatrix, pairwise
from rewardlab.analysis.env_rewards import EnvRewardModel
from rewardlab.analysis.epic import named_rewards
from rewardlab.analysis.sampling import Coverage, comparison_data
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions


def starc_matrix(
    rewards: Mapping[str, RewardTerm] | Sequence[RewardTerm],
    *,
    env: str | Any | None = None,
    transitions: Transitions | None = None,
    coverage: Coverage | None = None,
    gamma: float = 0.99,
    termination: str = "absorbing",
    p: float = 2.0,
    n_transitions: int = 4096,
    n_samples: int | None = 4096,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    env_reward: EnvRewardModel | None = None,
    progress: bool = False,
) -> DistanceMatrix:
    """STARC distances (EPIC canonicalisation, Lp normalisation) between every pair; arguments as ``epic_matrix``.

    Examples:
        >>> import rewardlab as rl
        >>> rewards = {"task": rl.extrinsic(), "scaled": 3.0 * rl.extrinsic(),
        ...            "height": rl.function(lambda next_obs: next_obs[:, 0])}
        >>> m = rl.analysis.starc_matrix(rewards, env="MountainCar-v0", n_transitions=256, n_samples=256, bootstrap=50)
        >>> round(float(m["task", "scaled"]), 6), float(m["task", "height"]) > 0     # scaling is invisible to STARC
        (0.0, True)
    """
    names, terms = named_rewards(rewards)
    batch, cov = comparison_data(
        env, transitions, coverage, n_transitions=n_transitions, seed=seed, env_reward=env_reward
    )
    canonical, _ = epic_canonicalize(
        terms,
        batch,
        cov,
        env=env,
        env_reward=env_reward,
        gamma=gamma,
        termination=termination,
        n_samples=n_samples,
        seed=seed,
        progress=progress,
    )
    return pairwise(
        canonical, names, f"STARC-L{p:g}", metric="starc", p=p, bootstrap=bootstrap, confidence=confidence, seed=seed
    )


def starc_distance(reward_a: RewardTerm, reward_b: RewardTerm, **kwargs: Any) -> Distance:
    """STARC distance of two rewards with its bootstrap interval; keyword arguments as :func:`starc_matrix`.

    Examples:
        >>> import rewardlab as rl
        >>> d = rl.analysis.starc_distance(rl.extrinsic(), 2.0 * rl.extrinsic(), env="MountainCar-v0",
        ...                                n_transitions=256, bootstrap=20)
        >>> round(d.value, 3)       # positive scaling keeps the task
        0.0
    """
    return starc_matrix({"a": reward_a, "b": reward_b}, **kwargs)["a", "b"]
