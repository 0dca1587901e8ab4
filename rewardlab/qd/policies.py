"""Small policy networks as flat parameter vectors (what QD emitters mutate), and their batched rollouts.

A :class:`FlatPolicy` is a linear map (``hidden=0``) or a one-hidden-layer tanh
MLP from the scaled observation to action logits: ``argmax`` for discrete
actions, ``tanh`` squashed into the action bounds for boxes. Observations are
scaled to ``[-1, 1]`` by the observation bounds where they are finite, so the
same parameter scale (``sigma``) suits every env.

**Rollouts are batched** (:func:`rollout_many`): a pool of envs (one per slot, kept
between calls) steps many policies together, each env with its own policy, so
the policies of all slots are one batched matrix product per step instead of one
small product per env step; a slot whose episode ends takes the next
(evaluation, episode) pair at once.

**Start states** (``starts``), reproducible whatever the batching, the worker
processes, the Ray tasks or a resume:

* ``"each"`` (default): episode ``j`` of the evaluation with global index ``i``
  (counted from 0 over the whole search) resets its env with
  ``seed = evaluation_seed(run_seed, i, j)``, the first word of
  ``numpy.random.SeedSequence([run_seed, i, j])``: every evaluation sees its own
  draw from the task's start distribution, as a plain pyribs loop does;
* ``"fixed"``: episode ``j`` of every evaluation resets with ``run_seed + j``, a
  fixed set of starts (a solution then keeps its return and descriptor, but the
  archive only sees those starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

STARTS = ("each", "fixed")


def evaluation_seed(run_seed: int, evaluation: int, episode: int = 0) -> int:
    """Reset seed of episode ``episode`` of evaluation ``evaluation`` (``SeedSequence([run_seed, i, j])``)."""
    return int(np.random.SeedSequence([int(run_seed), int(evaluation), int(episode)]).generate_state(1)[0])


@dataclass(frozen=True)
class FlatPolicy:
    """Shapes of a flat-vector policy for one env (picklable: it travels to worker processes)."""

    obs_dim: int
    n_actions: int  # discrete actions, or the size of a box action
    discrete: bool
    obs_low: tuple[float, ...]
    obs_span: tuple[float, ...]
    act_low: tuple[float, ...] = ()
    act_high: tuple[float, ...] = ()
    hidden: int = 0

    @classmethod
    def for_spaces(cls, observation_space: Any, action_space: Any, *, hidden: int = 0) -> FlatPolicy:
        from gymnasium import spaces

        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"QD policies read flat Box observations; got {observation_space}")
        low = np.asarray(observation_space.low, dtype=np.float64)
        high = np.asarray(observation_space.high, dtype=np.float64)
        finite = np.isfinite(low) & np.isfinite(high)
        obs_low = np.where(finite, low, -1.0)
        obs_span = np.where(finite, np.maximum(high - low, 1e-12), 2.0)
        if isinstance(action_space, spaces.Discrete):
            return cls(len(low), int(action_space.n), True, tuple(obs_low), tuple(obs_span), hidden=hidden)
        if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            return cls(
                len(low),
                action_space.shape[0],
                False,
                tuple(obs_low),
                tuple(obs_span),
                tuple(map(float, action_space.low)),
                tuple(map(float, action_space.high)),
                hidden,
            )
        raise ValueError(f"QD policies act in Discrete or 1-d Box action spaces; got {action_space}")

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        if self.hidden:
            return (self.obs_dim + 1) * self.hidden + (self.hidden + 1) * self.n_actions
        return (self.obs_dim + 1) * self.n_actions

    def layers(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Weights ``(n, out, in)`` and biases ``(n, out)`` of each layer for a batch of flat vectors ``(n, P)``."""
        p = np.asarray(params, dtype=np.float64).reshape(-1, self.n_params)
        sizes = [self.obs_dim, self.hidden, self.n_actions] if self.hidden else [self.obs_dim, self.n_actions]
        out, start = [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = p[:, start : start + (n_in + 1) * n_out].reshape(len(p), n_out, n_in + 1)
            out.append((np.ascontiguousarray(w[:, :, :-1]), np.ascontiguousarray(w[:, :, -1])))
            start += (n_in + 1) * n_out
        return out

    def scale(self, obs: np.ndarray) -> np.ndarray:
        """Observations ``(n, D)`` scaled to ``[-1, 1]`` by the observation bounds."""
        return 2.0 * (np.asarray(obs, dtype=np.float64) - self.obs_low) / self.obs_span - 1.0

    def forward(self, layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
        """Actions of ``n`` policies for their ``n`` observations: ``(n,)`` ints or ``(n, A)`` float32 boxes."""
        x = self.scale(obs)
        for depth, (w, b) in enumerate(layers):
            x = np.matmul(w, x[:, :, None])[:, :, 0] + b
            if depth < len(layers) - 1:
                x = np.tanh(x)
        if self.discrete:
            return np.argmax(x, axis=1)
        low, high = np.asarray(self.act_low), np.asarray(self.act_high)
        return (low + (np.tanh(x) + 1.0) * 0.5 * (high - low)).astype(np.float32)

    def act(self, params: np.ndarray, obs: np.ndarray) -> Any:
        """The action of one policy for one observation."""
        action = self.forward(self.layers(params), np.asarray(obs, dtype=np.float64).reshape(1, -1))[0]
        return int(action) if self.discrete else action


@dataclass
class Episode:
    """One episode: observations ``(T+1, D)`` float32 (reset first), actions ``(T, ...)`` (or ``None`` when not
    recorded) and rewards ``(T,)``; what a descriptor callable receives."""

    observations: np.ndarray
    actions: np.ndarray | None
    rewards: np.ndarray

    @property
    def length(self) -> int:
        return len(self.rewards)


@dataclass
class Evaluation:
    """One solution's rollouts: the mean return over its episodes, the episodes and the env steps taken."""

    ret: float
    episodes: list[Episode]
    steps: int


_ENVS: dict[str, list[Any]] = {}


def env_pool(env_id: str, n: int) -> list[Any]:
    """``n`` envs of ``env_id`` kept in this process between calls (made on first use)."""
    from rewardlab.envs import make_env

    pool = _ENVS.setdefault(env_id, [])
    while len(pool) < n:
        pool.append(make_env(env_id))
    return pool[:n]


class _History:
    """Rows ``t`` of every slot at once, ``(T, n_slots, ...)``, doubled when full: one array write per step for all
    slots (the rows are copies, so an env that reuses its observation buffer cannot change them)."""

    def __init__(self, shape: tuple[int, ...], dtype: Any, capacity: int) -> None:
        self.data = np.empty((max(capacity, 2), *shape), dtype=dtype)

    def put(self, t: int, row: Any) -> None:
        if t >= len(self.data):
            self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.data[t] = row


def rollout_many(
    env_id: str,
    policy: FlatPolicy,
    solutions: np.ndarray,
    *,
    seed: int,
    episodes: int = 1,
    max_steps: int | None = None,
    first_index: int = 0,
    starts: str = "each",
    n_envs: int = 64,
    record_actions: bool = False,
) -> list[Evaluation]:
    """Evaluate each row of ``solutions`` (evaluation indices ``first_index, first_index + 1, ...``) on
    ``min(n_envs, rows × episodes)`` envs stepping together; see the module docstring for the start seeds."""
    if starts not in STARTS:
        raise ValueError(f"unknown starts {starts!r}; valid: {list(STARTS)}")
    solutions = np.asarray(solutions, dtype=np.float64).reshape(-1, policy.n_params)
    jobs = [(i, j) for i in range(len(solutions)) for j in range(episodes)]
    if not jobs:
        return []
    n_slots = min(n_envs, len(jobs))
    envs = env_pool(env_id, n_slots)
    all_layers = policy.layers(solutions)
    slot_layers = [(np.zeros((n_slots, *w.shape[1:])), np.zeros((n_slots, *b.shape[1:]))) for w, b in all_layers]
    horizon = max_steps or getattr(envs[0].spec, "max_episode_steps", None) or 1000
    # row t: each slot's observation at loop step t, the reward and action of the step from t to t + 1
    observations = _History((n_slots, policy.obs_dim), np.float32, horizon + 1)
    rewards = _History((n_slots,), np.float64, horizon)
    actions_seen: _History | None = None
    slot_job: list[tuple[int, int]] = [(0, 0)] * n_slots
    first_row = [0] * n_slots  # the row where each slot's episode started
    now: list[Any] = [None] * n_slots  # each slot's latest observation (stacked into a row once per step)
    got: list[float] = [0.0] * n_slots
    done: dict[tuple[int, int], Episode] = {}
    next_job = 0

    def start(s: int, row: int) -> None:
        nonlocal next_job
        i, j = slot_job[s] = jobs[next_job]
        next_job += 1
        for (w, b), (w_all, b_all) in zip(slot_layers, all_layers):
            w[s], b[s] = w_all[i], b_all[i]
        reset_seed = evaluation_seed(seed, first_index + i, j) if starts == "each" else seed + j
        now[s], _ = envs[s].reset(seed=reset_seed)
        first_row[s] = row

    for s in range(n_slots):
        start(s, 0)
    observations.put(0, now)
    active = list(range(n_slots))
    t = 0
    while active:
        actions = policy.forward(slot_layers, observations.data[t])
        if record_actions:
            if actions_seen is None:
                actions_seen = _History(actions.shape, actions.dtype, horizon)
            actions_seen.put(t, actions)
        step_actions = actions.tolist() if policy.discrete else actions
        finished = []
        for s in active:
            obs, reward, terminated, truncated, _ = envs[s].step(step_actions[s])
            now[s], got[s] = obs, reward
            if terminated or truncated or (max_steps is not None and t + 1 - first_row[s] >= max_steps):
                t0 = first_row[s]
                episode_obs = np.concatenate([observations.data[t0 : t + 1, s], np.asarray(obs, np.float32)[None]])
                episode_rewards = np.append(rewards.data[t0:t, s], reward)
                acts = actions_seen.data[t0 : t + 1, s].copy() if actions_seen is not None else None
                done[slot_job[s]] = Episode(episode_obs, acts, episode_rewards)
                if next_job < len(jobs):
                    start(s, t + 1)
                else:
                    finished.append(s)
        rewards.put(t, got)
        t += 1
        observations.put(t, now)
        if finished:
            active = [s for s in active if s not in finished]
    results = []
    for i in range(len(solutions)):
        eps = [done[(i, j)] for j in range(episodes)]
        total = sum(float(e.rewards.sum()) for e in eps)
        results.append(Evaluation(total / episodes, eps, sum(e.length for e in eps)))
    return results


def rollout(
    env_id: str, policy: FlatPolicy, params: np.ndarray, *, seed: int, episodes: int = 1, **kwargs: Any
) -> Evaluation:
    """:func:`rollout_many` of one solution."""
    return rollout_many(env_id, policy, np.asarray(params)[None], seed=seed, episodes=episodes, **kwargs)[0]
