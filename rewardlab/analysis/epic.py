"""EPIC: Equivalent-Policy Invariant Comparison of rewards (Gleave et al. 2021).

``D(R_a, R_b) = sqrt((1 − ρ(C(R_a), C(R_b)))/2)`` with ``C`` the EPIC
canonicalisation (:mod:`rewardlab.analysis.canonical`) and ``ρ`` the Pearson
correlation over transitions. 0 when the rewards differ by potential shaping
and positive scaling (same optimal policies in every MDP with these states
and actions), 1 for a negated reward.

Rewards are compared as functions of ``(s, a, s')``; by default a transition
that terminates moves to an absorbing state with zero reward and potential
(``termination="absorbing"``, see :mod:`rewardlab.analysis.canonical`), so a
reward whose information lies in when episodes end (MountainCar's −1 per step)
keeps it. ``termination="ignore"`` compares them as rewards of a continuing
MDP, as in the EPIC paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab.analysis.canonical import epic_canonicalize
from rewardlab.analysis.distances import Distance, DistanceMatrix, pairwise
from rewardlab.analysis.env_rewards import EnvRewardModel
from rewardlab.analysis.sampling import Coverage, comparison_data
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions


def named_rewards(rewards: Mapping[str, RewardTerm] | Sequence[RewardTerm]) -> tuple[list[str], list[RewardTerm]]:
    """Names and terms from a mapping, or from a sequence (named by ``repr``, made unique)."""
    if isinstance(rewards, Mapping):
        return list(rewards), list(rewards.values())
    names: list[str] = []
    for r in rewards:
        base = repr(r) if len(repr(r)) <= 40 else r.name
        name, i = base, 2
        while name in names:
            name, i = f"{base} ({i})", i + 1
        names.append(name)
    return names, list(rewards)


def epic_matrix(
    rewards: Mapping[str, RewardTerm] | Sequence[RewardTerm],
    *,
    env: str | Any | None = None,
    transitions: Transitions | None = None,
    coverage: Coverage | None = None,
    gamma: float = 0.99,
    termination: str = "absorbing",
    n_transitions: int = 4096,
    n_samples: int | None = 4096,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    env_reward: EnvRewardModel | None = None,
    progress: bool = False,
) -> DistanceMatrix:
    """EPIC distances between every pair of ``rewards``.

    Args:
        rewards: a mapping ``name -> term`` or a sequence of terms.
        env: env id or env: its spaces give the transitions when none are
            given, and its reward model the extrinsic reward.
        transitions: transitions to compare on (e.g. ``rollout(...).transitions``).
        coverage: pools of ``S``, ``A`` for the expectations (default: the
            transitions' own states and actions, or the spaces).
        gamma: discount of the MDP the rewards are compared in.
        termination: ``"absorbing"`` (default: termination moves to a zero-reward,
            zero-potential absorbing state) or ``"ignore"`` (a continuing MDP).
        n_transitions: transitions drawn when ``transitions`` is not given.
        n_samples: samples per expectation (``None``: every pair of the pools).
        bootstrap, confidence: percentile bootstrap over transitions.

    Examples:
        >>> import rewardlab as rl
        >>> m = rl.analysis.epic_matrix({"task": rl.extrinsic(), "negated": -1.0 * rl.extrinsic()},
        ...                             env="MountainCar-v0", n_transitions=256, bootstrap=20)
        >>> m.values.round(3)       # negation is as far as it gets
        array([[0., 1.],
               [1., 0.]])
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
    return pairwise(canonical, names, "EPIC", metric="pearson", bootstrap=bootstrap, confidence=confidence, seed=seed)


def epic_distance(reward_a: RewardTerm, reward_b: RewardTerm, **kwargs: Any) -> Distance:
    """EPIC distance of two rewards with its bootstrap interval; keyword arguments as :func:`epic_matrix`.

    Examples:
        >>> import rewardlab as rl
        >>> shaped = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> d = rl.analysis.epic_distance(rl.extrinsic(), shaped, env="MountainCar-v0", n_transitions=256, bootstrap=20)
        >>> round(d.value, 3)       # potential shaping keeps the task: distance 0
        0.0
    """
    return epic_matrix({"a": reward_a, "b": reward_b}, **kwargs)["a", "b"]
