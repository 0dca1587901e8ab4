"""EPIC canonicalisation of rewards on sampled transitions, batched and chunked.

``C(R)(s,a,s') = R(s,a,s') + γ·E[R(s',A,S')] − E[R(s,A,S')] − γ·E[R(S,A,S')]``
with ``S, S' ~ D_S`` and ``A ~ D_A`` independent (Gleave et al. 2021). It
removes every potential shaping ``γΦ(s') − Φ(s)``: two rewards that differ by
shaping have the same canonical form.

**Termination** (``termination="absorbing"``, the default): a transition that
terminates moves to an absorbing state with zero reward and zero potential, as
in :mod:`rewardlab.analysis.tabular`. The canonical form is then ``R`` shaped by
``Ψ = m − μ`` (``m(x) = E[R(x,A,S')]``) with ``Ψ = 0`` after termination:
``C(R)(s,a,s') = R(s,a,s') + γ(1 − terminated)Ψ(s') − Ψ(s)``, where ``μ`` is the
constant that makes every shaping with ``Φ = 0`` at termination canonicalise to
0 (``μ = −g·q/(1 − g)``, ``g = γ·P(S' does not terminate)``, ``q`` = the mean of
``m`` over non-terminal states). So shaping ``γ(1 − terminated)Φ(s') − Φ(s)``
and positive scaling stay at distance 0, while "−1 per step until the goal" no
longer collapses onto the zero reward: it is equivalent to a bonus for reaching
the goal. Without terminating transitions this is exactly the formula above.
Whether a sampled transition ``(x, A, S')`` terminates is read from the env's
reward model as a property of the state entered, ``S'`` (as for every Gymnasium
classic-control env); transitions compared on keep their own flags (rollouts'
real ones). ``termination="ignore"`` treats every transition as continuing
(EPIC's original setting): a reward whose whole signal is when episodes end
then canonicalises to 0.

The expectation ``m(x) = E[R(x,A,S')]`` is estimated with ``M`` pairs
``(A_j, S'_j)`` for every state ``x`` that appears (each ``s``, each ``s'`` and
the ``M`` states ``S'_j`` again for the constant term), so a reward is called
on ``(2N + M)·M`` transitions: 50 M for the customary ``N = M = 4096``. They are
built and evaluated ``chunk_size`` rows at a time, and duplicate states are
evaluated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.analysis.distances import zero_negligible
from rewardlab.analysis.env_rewards import EnvRewardModel
from rewardlab.analysis.evaluation import DEFAULT_CHUNK, RewardEvaluator
from rewardlab.analysis.sampling import Coverage
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Observation, Transitions, _concat_obs, _index_obs
from rewardlab.progress import progress_bar

TERMINATION = ("absorbing", "ignore")


def epic_canonicalize(
    rewards: Sequence[RewardTerm],
    batch: Transitions,
    coverage: Coverage,
    *,
    env: str | EnvInfo | Any | None = None,
    env_reward: EnvRewardModel | None = None,
    gamma: float = 0.99,
    termination: str = "absorbing",
    n_samples: int | None = 4096,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical and raw values of each reward on ``batch``: two arrays of shape ``(k, batch.n)``.

    Args:
        rewards: the reward terms (frozen copies are evaluated).
        batch: the transitions ``(s, a, s')`` to canonicalise, with their ``terminated`` flags.
        coverage: pools that ``S``, ``A`` and ``S'`` are drawn from.
        env, env_reward: see :class:`RewardEvaluator`; the reward model also says
            which sampled states end an episode.
        gamma: discount of the MDP the rewards are compared in.
        termination: ``"absorbing"`` (termination moves to a zero-reward,
            zero-potential absorbing state) or ``"ignore"`` (every transition
            continues); see the module notes.
        n_samples: ``M``, pairs ``(A, S')`` and states ``S`` per expectation;
            ``None`` takes every pair of the pools (exact for enumerable MDPs).
        chunk_size: transitions per reward call.
        progress: show a progress bar.

    A canonical reward that is 0 up to rounding (a potential shaping alone, and
    without termination a constant step cost) is returned as exactly 0
    (:func:`~rewardlab.analysis.distances.zero_negligible`).

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> shaping = rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> batch = rl.analysis.space_transitions("MountainCar-v0", 64, seed=0)
        >>> coverage = rl.analysis.Coverage.from_spaces("MountainCar-v0", 512, seed=1)
        >>> canonical, raw = rl.analysis.epic_canonicalize([shaping], batch, coverage, env="MountainCar-v0",
        ...                                                termination="ignore", n_samples=256)
        >>> bool(np.abs(raw).max() > 0), bool(np.all(canonical == 0))   # shaping alone canonicalises to 0
        (True, True)
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if termination not in TERMINATION:
        raise ValueError(f"unknown termination {termination!r}; valid: {', '.join(TERMINATION)}")
    absorbing = termination == "absorbing"
    evaluators = [
        RewardEvaluator(r, env=env, env_reward=env_reward, ignore_termination=not absorbing, chunk_size=chunk_size)
        for r in rewards
    ]
    rng = np.random.default_rng(seed)
    if n_samples is None:
        n_obs, n_act = _length(coverage.obs), len(coverage.actions)
        pair_obs = _index_obs(coverage.obs, np.tile(np.arange(n_obs), n_act))
        pair_act = coverage.actions[np.repeat(np.arange(n_act), n_obs)]
        start_obs = coverage.obs
    else:
        pair_act = coverage.sample_actions(n_samples, rng)
        pair_obs = coverage.sample_obs(n_samples, rng)
        # the constant term's states are the pairs' own next states: then γ·E[Φ(S')] and γ·E[Φ(S)] of a
        # shaping cancel exactly in the sample too (not only in expectation), which STARC's norms need
        start_obs = pair_obs
    if absorbing:  # which pairs (A_j, S'_j) end the episode, and which start states are terminal
        pair_end = _entered_terminal(evaluators[0], pair_obs, pair_act)
        start_end = pair_end if n_samples is not None else _entered_terminal(evaluators[0], start_obs, pair_act)
    else:
        pair_end, start_end = np.zeros(len(pair_act), dtype=bool), np.zeros(_length(start_obs), dtype=bool)
    states = _concat_obs([batch.obs, batch.next_obs, start_obs])
    unique, inverse = _unique_rows(states)
    means = _mean_rewards(evaluators, unique, pair_act, pair_obs, pair_end, chunk_size, progress)[:, inverse]
    n = batch.n
    mean_s, mean_next, mean_start = means[:, :n], means[:, n : 2 * n], means[:, 2 * n :]
    raw = np.stack([ev.on_batch(batch) for ev in evaluators])
    ends = np.asarray(batch.terminated, dtype=bool) if absorbing else np.zeros(n, dtype=bool)
    start_live = ~start_end
    q = mean_start[:, start_live].mean(axis=1, keepdims=True) if start_live.any() else np.zeros((len(rewards), 1))
    g = gamma * (1.0 - float(pair_end.mean()))  # γ·P(S' does not end the episode)
    if g >= 1.0 and ends.any():
        raise ValueError(
            "gamma = 1 with transitions that terminate but no sampled state that does: the canonical form is "
            "undefined; use gamma < 1 or termination='ignore'"
        )
    # C = R + γ(1 − end)(m(s') − μ) − (m(s) − μ) with μ = −g·q/(1 − g): rows that end add μ, the others
    # (1 − γ)μ, which is −γq (EPIC's constant term) when nothing ends (g = γ), also at γ = 1
    live_offset = -gamma * q if g >= 1.0 or not pair_end.any() else -(1.0 - gamma) * g * q / (1.0 - g)
    end_offset = -g * q / (1.0 - g) if g < 1.0 else np.zeros_like(q)
    canonical = np.where(ends, raw - mean_s + end_offset, raw + gamma * mean_next - mean_s + live_offset)
    scale = np.maximum(np.abs(raw).max(axis=1, initial=0.0), np.abs(means).max(axis=1, initial=0.0))
    return zero_negligible(canonical, scale), raw


def _entered_terminal(evaluator: RewardEvaluator, states: Observation, actions: np.ndarray) -> np.ndarray:
    """Whether entering each state ends the episode, by the env's reward model (all ``False`` without one)."""
    n = _length(states)
    action = actions[np.arange(n) % len(actions)]
    return np.asarray(evaluator.transitions(states, action, states).terminated, dtype=bool)


def _mean_rewards(
    evaluators: list[RewardEvaluator],
    states: Observation,
    actions: np.ndarray,
    next_states: Observation,
    ends: np.ndarray,
    chunk_size: int,
    progress: bool,
) -> np.ndarray:
    """``m(x) = mean_j R(x, A_j, S'_j)`` for every state ``x`` and reward: shape ``(k, n_states)``.

    The pair ``j`` terminates when ``ends[j]``, whatever ``x`` is.
    """
    m = len(actions)
    n_states = _length(states)
    per_chunk = max(1, chunk_size // m)
    out = np.empty((len(evaluators), n_states))
    starts = range(0, n_states, per_chunk)
    for start in progress_bar(starts, desc="EPIC expectations", unit="chunk", enabled=progress, leave=False):
        idx = np.arange(start, min(n_states, start + per_chunk))
        obs = _index_obs(states, np.repeat(idx, m))
        act = np.tile(actions, (len(idx),) + (1,) * (actions.ndim - 1))
        nxt = _index_obs(next_states, np.tile(np.arange(m), len(idx)))
        batch = evaluators[0].transitions(obs, act, nxt)
        batch.terminated = np.tile(ends, len(idx))
        for k, ev in enumerate(evaluators):
            values = sum(ev.reward.components(batch).values())
            out[k, idx] = np.asarray(values, dtype=np.float64).reshape(len(idx), m).mean(axis=1)
    return out


def _unique_rows(states: Observation) -> tuple[Observation, np.ndarray]:
    """Distinct states and the index of each original row among them (dict observations are not deduplicated)."""
    if isinstance(states, dict):
        n = _length(states)
        return states, np.arange(n)
    flat = np.ascontiguousarray(states).reshape(len(states), -1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    return states[first], inverse.reshape(-1)


def _length(obs: Observation) -> int:
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
