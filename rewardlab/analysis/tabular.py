"""Exact canonicalisations and distances for rewards given as tables ``R[s, a, s']``.

The reference the sample-based estimators are tested against, and the only
place value-adjusted levelling (STARC's canonicalisation that needs the
transition dynamics) can be computed exactly.

**Shapes.** A table has shape ``(S, A, S)`` or broadcasts to it: ``(S, 1, S)``
for a reward that ignores the action, ``(S, A, 1)`` for one that ignores the
next state, ``(S, 1, 1)`` for a reward of the state. The tables compared, the
distributions, the transition tensor and the policy must agree on ``S`` and
``A``; when they do not, a ``ValueError`` names the shapes.

**Terminal states** (``terminal``, a boolean mask over states): entering one
ends the episode, like Gymnasium's ``terminated``. It is treated as moving to
an absorbing state with zero reward and zero potential: the agent never acts
in a terminal state, so a table's rows ``R[t]`` are ignored, canonical forms
are 0 there and distances weigh only transitions from non-terminal states.
Potential shaping ``γ(1 − terminated)Φ(s') − Φ(s)`` and positive scaling stay
at distance 0; a constant step cost is no longer equivalent to the zero reward
(it is equivalent to a bonus for ending the episode). Without ``terminal`` the
MDP is continuing and every formula is the usual one.

Zero canonical forms follow :func:`rewardlab.analysis.distances.zero_negligible`,
the rule the sampled estimators use too.
"""

from __future__ import annotations

import numpy as np

from rewardlab.analysis.distances import pearson_distance, starc_norm_distance, zero_negligible

SHAPES = "(S, A, S), or a shape that broadcasts to it: (S, 1, S), (S, A, 1), (S, 1, 1)"


def _uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def _tables(named: dict[str, np.ndarray], *, n_actions: int | None = None) -> list[np.ndarray]:
    """The tables broadcast to one ``(S, A, S)`` shape (read-only views), or a ``ValueError`` naming the shapes."""
    arrays = {name: np.asarray(t, dtype=np.float64) for name, t in named.items()}
    for name, a in arrays.items():
        if a.ndim != 3:
            raise ValueError(f"{name} must have shape {SHAPES}; got shape {a.shape}")
    listing = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
    states = {d for a in arrays.values() for d in (a.shape[0], a.shape[2]) if d != 1}
    if len(states) > 1:
        raise ValueError(f"tables must have the same number of states on both state axes; got {listing}")
    actions = {a.shape[1] for a in arrays.values() if a.shape[1] != 1}
    if len(actions) > 1:
        raise ValueError(f"{', '.join(arrays)} do not broadcast to one (S, A, S) shape: {listing}")
    n_states = states.pop() if states else 1
    n_act = actions.pop() if actions else (n_actions or 1)
    if n_actions is not None and n_act != n_actions:
        raise ValueError(f"action_dist has {n_actions} entries, but the tables have {n_act} actions ({listing})")
    return [np.broadcast_to(a, (n_states, n_act, n_states)) for a in arrays.values()]


def _distribution(dist: np.ndarray | None, n: int, name: str, what: str) -> np.ndarray:
    if dist is None:
        return _uniform(n)
    d = np.asarray(dist, dtype=np.float64).ravel()
    if len(d) != n:
        raise ValueError(f"{name} has {len(d)} entries, but the tables have {n} {what}")
    if (d < 0).any() or not np.isclose(d.sum(), 1.0):
        raise ValueError(f"{name} must be a probability distribution (non-negative, sum 1); got sum {d.sum():.6g}")
    return d


def _live_states(terminal: np.ndarray | None, n_states: int) -> np.ndarray:
    """Mask of non-terminal states (all ``True`` without ``terminal``)."""
    if terminal is None:
        return np.ones(n_states, dtype=bool)
    mask = np.asarray(terminal)
    if mask.shape != (n_states,) or mask.dtype != bool:
        raise ValueError(f"terminal must be a boolean mask of shape ({n_states},); got {mask.dtype} {mask.shape}")
    if mask.all():
        raise ValueError("every state is terminal: there is no transition to compare rewards on")
    return ~mask


def _action_count(action_dist: np.ndarray | None) -> int | None:
    return None if action_dist is None else len(np.ravel(action_dist))


def epic_canonical_tabular(
    reward: np.ndarray,
    gamma: float,
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
    *,
    terminal: np.ndarray | None = None,
) -> np.ndarray:
    """EPIC canonical form of ``reward`` under ``D_S`` and ``D_A`` (uniform by default); shape ``(S, A, S)``.

    Continuing MDP (Gleave et al. 2021):
    ``C(R)(s,a,s') = R(s,a,s') + γ·m(s') − m(s) − γ·E[m(S)]``, ``m(x) = E[R(x, A, S')]``
    with ``S, S' ~ D_S`` and ``A ~ D_A`` independent.

    With ``terminal`` states (absorbing, zero reward and potential), the canonical
    form is ``R`` shaped by the potential ``Ψ = m − μ`` on non-terminal states and
    ``Ψ = 0`` on terminal ones: ``C(R)(s,a,s') = R(s,a,s') + γΨ(s') − Ψ(s)``, where
    ``μ = −g·q/(1 − g)``, ``g = γ·P_{D_S}(S' non-terminal)`` and ``q = E[m(S) | S
    non-terminal]``. This ``μ`` is the one constant for which every shaping with
    ``Φ = 0`` at terminal states canonicalises to 0; without terminal states the
    formula is the continuing one above. The value at a terminal ``s'`` does not
    depend on ``s'`` beyond ``R`` itself: the episode ends there.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    (r,) = _tables({"reward": reward}, n_actions=_action_count(action_dist))
    n_states, n_actions, _ = r.shape
    d_s = _distribution(state_dist, n_states, "state_dist", "states")
    d_a = _distribution(action_dist, n_actions, "action_dist", "actions")
    live = _live_states(terminal, n_states)
    mean_from = np.einsum("xay,a,y->x", r, d_a, d_s)  # m(x) = E[R(x, A, S')]
    if live.all():
        canonical = r + gamma * mean_from[None, None, :] - mean_from[:, None, None] - gamma * float(d_s @ mean_from)
    else:
        live_mass = float(d_s[live].sum())
        g = gamma * live_mass
        if g >= 1.0:
            raise ValueError("with gamma = 1, state_dist must give the terminal states some probability")
        q = float(d_s[live] @ mean_from[live]) / live_mass if live_mass > 0 else 0.0
        psi = np.where(live, mean_from + g * q / (1.0 - g), 0.0)
        canonical = r + gamma * psi[None, None, :] - psi[:, None, None]
        canonical[~live] = 0.0
    scale = max(np.abs(r[live]).max(initial=0.0), np.abs(mean_from[live]).max(initial=0.0))
    return zero_negligible(canonical.reshape(1, -1), scale).reshape(r.shape)


def policy_values(
    reward: np.ndarray,
    transition: np.ndarray,
    gamma: float,
    policy: np.ndarray,
    *,
    terminal: np.ndarray | None = None,
) -> np.ndarray:
    """``V^π`` of ``policy`` (shape ``(S, A)``) for ``reward`` under ``transition`` (``(S, A, S)``), exactly.

    Terminal states have value 0 (the episode ends on entering them); with
    terminal states ``gamma = 1`` is allowed when the policy reaches one from
    every state.
    """
    r, p = _tables({"reward": reward, "transition": transition})
    live = _live_states(terminal, r.shape[0])
    if gamma >= 1.0 and live.all():
        raise ValueError(f"exact values of a continuing MDP need gamma < 1, got {gamma}")
    pi = np.asarray(policy, dtype=np.float64)
    if pi.shape != r.shape[:2]:
        raise ValueError(f"policy must have shape (S, A) = {r.shape[:2]}; got {pi.shape}")
    r_pi = np.einsum("sa,say,say->s", pi, p, r)[live]
    p_pi = np.einsum("sa,say->sy", pi, p)[np.ix_(live, live)]
    values = np.zeros(r.shape[0])
    try:
        values[live] = np.linalg.solve(np.eye(int(live.sum())) - gamma * p_pi, r_pi)
    except np.linalg.LinAlgError:
        raise ValueError(
            "values are infinite: with gamma = 1 the policy must reach a terminal state from every state"
        ) from None
    return values


def value_canonical_tabular(
    reward: np.ndarray,
    transition: np.ndarray,
    gamma: float,
    policy: np.ndarray | None = None,
    *,
    terminal: np.ndarray | None = None,
) -> np.ndarray:
    """Value-adjusted levelling (STARC): ``E_{S'~τ(s,a)}[R(s,a,S') − V^π(s) + γV^π(S')]``, broadcast over ``s'``.

    Unlike EPIC's, this canonical form depends only on ``(s, a)`` and the
    dynamics, so rewards that differ by shaping or by how they spread over
    next states of the same ``(s, a)`` coincide. ``policy`` defaults to uniform.
    Terminal states have ``V = 0`` and a canonical form of 0 (their rows of
    ``transition`` and ``reward`` are ignored).
    """
    r, p = _tables({"reward": reward, "transition": transition})
    if not np.allclose(p.sum(axis=2), 1.0, atol=1e-6) or (p < 0).any():
        raise ValueError("transition[s, a] must be a probability distribution over next states for every (s, a)")
    n_states, n_actions, _ = r.shape
    live = _live_states(terminal, n_states)
    pi = np.full((n_states, n_actions), 1.0 / n_actions) if policy is None else np.asarray(policy, dtype=np.float64)
    values = policy_values(r, p, gamma, pi, terminal=terminal)
    r_sa = np.einsum("say,say->sa", p, r)
    canonical = r_sa - values[:, None] + gamma * p @ values
    canonical[~live] = 0.0
    scale = max(np.abs(r_sa[live]).max(initial=0.0), np.abs(values).max(initial=0.0))
    canonical = zero_negligible(canonical.reshape(1, -1), scale).reshape(n_states, n_actions)
    return np.broadcast_to(canonical[:, :, None], r.shape).copy()


def epic_distance_tabular(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    gamma: float,
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
    *,
    terminal: np.ndarray | None = None,
) -> float:
    """EPIC distance: Pearson distance of the canonical forms over ``D_S × D_A × D_S`` (non-terminal ``s``)."""
    ra, rb = _tables({"reward_a": reward_a, "reward_b": reward_b}, n_actions=_action_count(action_dist))
    n_states, n_actions, _ = ra.shape
    d_s = _distribution(state_dist, n_states, "state_dist", "states")
    d_a = _distribution(action_dist, n_actions, "action_dist", "actions")
    live = _live_states(terminal, n_states)
    weights = np.einsum("x,a,y->xay", d_s * live, d_a, d_s).ravel()
    kw = {"terminal": terminal}
    ca = epic_canonical_tabular(ra, gamma, d_s, d_a, **kw).ravel()
    cb = epic_canonical_tabular(rb, gamma, d_s, d_a, **kw).ravel()
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
    terminal: np.ndarray | None = None,
) -> float:
    """STARC distance with ``canonical="epic"`` or ``"value"`` (needs ``transition``), Lp norm.

    Uniform weights over the transitions from non-terminal states.
    """
    ra, rb = _tables({"reward_a": reward_a, "reward_b": reward_b})
    if canonical == "epic":
        ca = epic_canonical_tabular(ra, gamma, terminal=terminal)
        cb = epic_canonical_tabular(rb, gamma, terminal=terminal)
    elif canonical == "value":
        if transition is None:
            raise ValueError("canonical='value' needs the transition tensor (S, A, S)")
        ca = value_canonical_tabular(ra, transition, gamma, policy, terminal=terminal)
        cb = value_canonical_tabular(rb, transition, gamma, policy, terminal=terminal)
    else:
        raise ValueError(f"unknown canonical {canonical!r}; valid: 'epic', 'value'")
    live = _live_states(terminal, ca.shape[0])
    weights = np.broadcast_to(live[:, None, None], ca.shape).ravel().astype(np.float64)
    return starc_norm_distance(ca.ravel(), cb.ravel(), p=p, weights=weights)
