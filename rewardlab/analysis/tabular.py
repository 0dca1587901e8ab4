"""Exact canonicalisations and distances for rewards given as tables ``R[s, a, s']``.

The reference the sample-based estimators are tested against, and the only
place value-adjusted levelling (STARC's canonicalisation that needs the
transition dynamics) can be computed exactly.
"""

from __future__ import annotations

import numpy as np

from rewardlab.analysis.distances import pearson_distance, starc_norm_distance


def _uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def epic_canonical_tabular(
    reward: np.ndarray, gamma: float, state_dist: np.ndarray | None = None, action_dist: np.ndarray | None = None
) -> np.ndarray:
    """EPIC canonical form of ``reward`` (shape ``(S, A, S)``) under ``D_S`` and ``D_A`` (uniform by default)."""
    n_states, n_actions, _ = reward.shape
    d_s = _uniform(n_states) if state_dist is None else np.asarray(state_dist, dtype=np.float64)
    d_a = _uniform(n_actions) if action_dist is None else np.asarray(action_dist, dtype=np.float64)
    mean_from = np.einsum("xay,a,y->x", reward, d_a, d_s)  # E[R(x, A, S')]
    return reward + gamma * mean_from[None, None, :] - mean_from[:, None, None] - gamma * float(d_s @ mean_from)


def policy_values(reward: np.ndarray, transition: np.ndarray, gamma: float, policy: np.ndarray) -> np.ndarray:
    """``V^π`` of ``policy`` (shape ``(S, A)``) for ``reward`` under ``transition`` (shape ``(S, A, S)``), exactly."""
    if gamma >= 1.0:
        raise ValueError(f"exact values need gamma < 1, got {gamma}")
    r_sa = np.einsum("say,say->sa", transition, reward)
    r_pi = np.einsum("sa,sa->s", policy, r_sa)
    p_pi = np.einsum("sa,say->sy", policy, transition)
    return np.linalg.solve(np.eye(len(r_pi)) - gamma * p_pi, r_pi)


def value_canonical_tabular(
    reward: np.ndarray, transition: np.ndarray, gamma: float, policy: np.ndarray | None = None
) -> np.ndarray:
    """Value-adjusted levelling (STARC): ``E_{S'~τ(s,a)}[R(s,a,S') − V^π(s) + γV^π(S')]``, broadcast over ``s'``.

    Unlike EPIC's, this canonical form depends only on ``(s, a)`` and the
    dynamics, so rewards that differ by shaping or by how they spread over
    next states of the same ``(s, a)`` coincide. ``policy`` defaults to uniform.
    """
    n_states, n_actions, _ = reward.shape
    pi = np.full((n_states, n_actions), 1.0 / n_actions) if policy is None else np.asarray(policy, dtype=np.float64)
    values = policy_values(reward, transition, gamma, pi)
    r_sa = np.einsum("say,say->sa", transition, reward)
    canonical = r_sa - values[:, None] + gamma * transition @ values
    return np.broadcast_to(canonical[:, :, None], reward.shape).copy()


def epic_distance_tabular(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    gamma: float,
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
) -> float:
    """EPIC distance: Pearson distance of the canonical forms over ``D_S × D_A × D_S``."""
    n_states, n_actions, _ = reward_a.shape
    d_s = _uniform(n_states) if state_dist is None else np.asarray(state_dist, dtype=np.float64)
    d_a = _uniform(n_actions) if action_dist is None else np.asarray(action_dist, dtype=np.float64)
    weights = np.einsum("x,a,y->xay", d_s, d_a, d_s).ravel()
    ca = epic_canonical_tabular(reward_a, gamma, d_s, d_a).ravel()
    cb = epic_canonical_tabular(reward_b, gamma, d_s, d_a).ravel()
    return pearson_distance(ca, cb, weights=weights)


def starc_distance_tabular(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    gamma: float,
    *,
    canonical: str = "epic",
    transition: np.ndarray | None = None,
    policy: np.ndarray | None = None,
    p: float = 2.0,
) -> float:
    """STARC distance with ``canonical="epic"`` or ``"value"`` (needs ``transition``), uniform weights, Lp norm."""
    if canonical == "epic":
        ca, cb = epic_canonical_tabular(reward_a, gamma), epic_canonical_tabular(reward_b, gamma)
    elif canonical == "value":
        if transition is None:
            raise ValueError("canonical='value' needs the transition tensor (S, A, S)")
        ca = value_canonical_tabular(reward_a, transition, gamma, policy)
        cb = value_canonical_tabular(reward_b, transition, gamma, policy)
    else:
        raise ValueError(f"unknown canonical {canonical!r}; valid: 'epic', 'value'")
    return starc_norm_distance(ca.ravel(), cb.ravel(), p=p)
