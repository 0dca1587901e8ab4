"""Property-based test of the reward engine against a plain-Python reference of the same semantics.

Hypothesis draws a reward tree (weighted sums, clip, products over extrinsic,
constants, position rewards, potential shaping, global/episodic counts, a
learning term and a term that emits huge or non-finite values, with term
objects shared between places), a ``nan_policy``, an ``update_every``, episode
patterns (lengths, terminated or truncated) and actions. Envs reuse their
observation buffers the way NLE does. Every step is checked against the
reference, which evaluates each term object once per step, applies the
non-finite policy to components and to the total, keeps episode sums, resets
episodic state and trains learners once per update batch, all in plain
Python on copies of the true observations: through ``RewardWrapper``,
``RewardVecWrapper`` over ``DummyVecEnv``, over a vec env that hands out its
own buffers, and over ``SubprocVecEnv``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fake_envs import BufferReusingVecEnv, ReusingEnv, positions, times
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import rewardlab as rl
from rewardlab.bonus.keys import GridKey
from rewardlab.core.term import RewardTerm, WeightedSum
from rewardlab.wrappers.observations import CopyObservations

FLOAT32_MAX = float(np.finfo(np.float32).max)
BIG_VALUES = [0.0, 1.0, 1e308, -1e308, 3e38, 1e300, math.nan, math.inf, -math.inf]


# -- the reward tree, as data ------------------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    """One term object of the drawn tree; the same Node in two places is one shared term."""

    kind: str
    param: Any = None
    children: list = field(default_factory=list)  # sum: [(weight, Node)], clip: [Node], product: [Node, Node]


LEAF_PARAMS = {
    "extrinsic": st.none(),
    "const": st.sampled_from([-1.0, 0.25, 2.0]),
    "pos": st.sampled_from([1.0, -0.5]),
    "shaping": st.sampled_from([0.9, 1.0]),
    "count": st.sampled_from(["global", "episodic"]),
    "learner": st.sampled_from([0.01, 1.0]),
    "big": st.lists(st.sampled_from(BIG_VALUES), min_size=1, max_size=5).map(tuple),
    "reuse": st.integers(0, 30),
}
# stateful, learning and shared terms drawn more often than the others: they are what the engine can get wrong
LEAF_KINDS = [*["reuse"] * 4, *["count", "learner", "big"] * 2, "shaping", "pos", "const", "extrinsic"]
leaves = st.sampled_from(LEAF_KINDS).flatmap(lambda kind: LEAF_PARAMS[kind].map(lambda p: (kind, p)))
weights = st.sampled_from([1.0, 0.05, -2.0, 3.0])
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.tuples(st.just("sum"), st.lists(st.tuples(weights, kids), min_size=1, max_size=3)),
        st.tuples(st.just("clip"), kids, st.sampled_from([(-1.0, 1.0), (0.0, 0.5)])),
        st.tuples(st.just("product"), kids, kids),
    ),
    max_leaves=6,
)
# the root is a sum of a few subtrees (as rewards usually are), or now and then a single tree
roots = st.one_of(st.tuples(st.just("sum"), st.lists(st.tuples(weights, trees), min_size=2, max_size=4)), trees)


def build_nodes(spec: tuple, pool: list[Node]) -> Node:
    """Nodes from a drawn spec; ``("reuse", k)`` is an already built node (shared)."""
    kind = spec[0]
    if kind == "reuse":
        return pool[spec[1] % len(pool)] if pool else build_nodes(("extrinsic", None), pool)
    if kind == "sum":
        node = Node("sum", children=[(w, build_nodes(s, pool)) for w, s in spec[1]])
    elif kind == "clip":
        node = Node("clip", param=spec[2], children=[build_nodes(spec[1], pool)])
    elif kind == "product":
        node = Node("product", children=[build_nodes(spec[1], pool), build_nodes(spec[2], pool)])
    else:
        node = Node(kind, param=spec[1])
    pool.append(node)
    return node


# -- the same tree as rewardlab terms -----------------------------------------------------------------------


class Learner(RewardTerm):
    """Its value grows with the rows it trained on, so a second update per batch shows; records its batches."""

    name = "learner"
    learns = True

    def __init__(self, coef: float) -> None:
        super().__init__()
        self.coef, self.rows, self.seen = coef, 0, []

    def compute(self, batch: rl.Transitions) -> np.ndarray:
        return self.coef * self.rows + 0.1 * positions(batch.next_obs)

    def update(self, batch: rl.Transitions) -> dict[str, float]:
        self.seen.append(
            np.stack([positions(batch.obs), times(batch.obs), positions(batch.next_obs), times(batch.next_obs)], 1)
        )
        self.rows += batch.n
        return {}


class Big(RewardTerm):
    """``values[t % len(values)]`` at the next observation's step ``t``: huge, infinite or NaN on some steps."""

    name = "big"

    def __init__(self, values: tuple[float, ...]) -> None:
        super().__init__()
        self.values = np.array(values)

    def compute(self, batch: rl.Transitions) -> np.ndarray:
        return self.values[times(batch.next_obs).astype(np.int64) % len(self.values)]


def to_term(node: Node, made: dict[int, RewardTerm], dict_obs: bool) -> RewardTerm:
    if id(node) in made:
        return made[id(node)]
    kind, p = node.kind, node.param
    if kind == "extrinsic":
        term: RewardTerm = rl.extrinsic()
    elif kind == "const":
        term = rl.constant(p)
    elif kind == "pos":
        term = rl.function(lambda next_obs, c=p: c * positions(next_obs), name="pos")
    elif kind == "shaping":
        term = rl.shaping.potential(lambda obs: positions(obs).astype(np.float64), gamma=p)
    elif kind == "count":
        term = rl.bonus.count(GridKey(dims=[0], cell=1.0, field="pos" if dict_obs else None), mode=p)
    elif kind == "learner":
        term = Learner(p)
    elif kind == "big":
        term = Big(p)
    elif kind == "sum":
        term = WeightedSum([(w, to_term(c, made, dict_obs)) for w, c in node.children])
    elif kind == "clip":
        term = rl.transforms.clip(to_term(node.children[0], made, dict_obs), *p)
    else:
        term = rl.bonus.product(*(to_term(c, made, dict_obs) for c in node.children))
    made[id(node)] = term
    return term


# -- the reference: plain Python on copies of the true observations ------------------------------------------


@dataclass
class Row:
    pos: float
    t: float
    next_pos: float
    next_t: float
    reward: float
    terminated: bool
    truncated: bool


RAISE = "raise"


def merged(children: list[tuple[float, Node]]) -> list[list]:
    """A sum's children with the weights of one object added up, in first-seen order."""
    out: list[list] = []
    for w, c in children:
        for item in out:
            if item[1] is c:
                item[0] += w
                break
        else:
            out.append([w, c])
    return out


def n_components(node: Node) -> int:
    """How many components a term logs: a sum keeps those of its children (each weighted), others one."""
    return sum(n_components(c) for _, c in merged(node.children)) if node.kind == "sum" else 1


def flat_components(node: Node) -> list[list]:
    """A sum's components as ``[weights, term]``: a child sum with several components is opened up, its
    weights applied innermost first."""
    out: list[list] = []
    for w, child in merged(node.children):
        if child.kind == "sum" and n_components(child) > 1:
            out.extend([[(*inner, w), term] for inner, term in flat_components(child)])
        else:
            out.append([(w,), child])
    return out


class Reference:
    def __init__(self, root: Node, n: int, *, nan_policy: str, clip_value: float, update_every: int) -> None:
        self.root, self.n = root, n
        self.nan_policy, self.clip_value, self.update_every = nan_policy, clip_value, update_every
        self.global_counts: dict[int, dict[int, int]] = {}
        self.episodic_counts: dict[int, list[dict[int, int]]] = {}
        self.trained: dict[int, int] = {}
        self.learners: list[Node] = []
        self._collect(root, set())
        self.components = flat_components(root) if root.kind == "sum" else [[(), root]]
        self.sums = [[0.0] * n for _ in self.components]
        self.true_return, self.lengths = [0.0] * n, [0] * n
        self.buffer: list[Row] = []
        self.repairs = 0
        self.updates: dict[int, list[list[tuple]]] = {id(node): [] for node in self.learners}

    def _collect(self, node: Node, seen: set[int]) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if node.kind == "learner":
            self.learners.append(node)
            self.trained[id(node)] = 0
        for child in node.children:
            self._collect(child[1] if isinstance(child, tuple) else child, seen)

    def value(self, node: Node, rows: list[Row], memo: dict[int, list[float]]) -> list[float]:
        """Each term object once per step: its value is remembered for the step."""
        if id(node) in memo:
            return memo[id(node)]
        kind, p = node.kind, node.param
        if kind == "extrinsic":
            out = [r.reward for r in rows]
        elif kind == "const":
            out = [p] * len(rows)
        elif kind == "pos":
            out = [p * r.next_pos for r in rows]
        elif kind == "shaping":
            out = [p * (0.0 if r.terminated else r.next_pos) - r.pos for r in rows]
        elif kind == "count":
            table = self.global_counts.setdefault(id(node), {})
            episodic = self.episodic_counts.setdefault(id(node), [{} for _ in range(self.n)])
            out = []
            for i, r in enumerate(rows):  # envs in order: a key seen twice in one batch counts twice
                counts = table if p == "global" else episodic[i]
                key = math.floor(r.next_pos)
                counts[key] = counts.get(key, 0) + 1
                out.append(1.0 / math.sqrt(counts[key]))
        elif kind == "learner":
            out = [p * self.trained[id(node)] + 0.1 * r.next_pos for r in rows]
        elif kind == "big":
            out = [p[int(r.next_t) % len(p)] for r in rows]
        elif kind == "sum":
            out = [0.0] * len(rows)
            for w, child in merged(node.children):
                v = self.value(child, rows, memo)
                for i in range(len(rows)):
                    out[i] += v[i] if w == 1.0 else v[i] * w
        elif kind == "clip":
            low, high = p
            out = [min(max(v, low), high) if not math.isnan(v) else v for v in self.value(node.children[0], rows, memo)]
        else:
            out = [1.0] * len(rows)
            for child in node.children:
                v = self.value(child, rows, memo)
                for i in range(len(rows)):
                    out[i] *= v[i]
        memo[id(node)] = out
        return out

    def _repair(self, vals: list[float]) -> list[float] | str:
        if any(not math.isfinite(v) for v in vals) or not abs(sum(vals)) <= FLOAT32_MAX:
            self.repairs += 1
        if any(not math.isfinite(v) for v in vals):
            if self.nan_policy == "raise":
                return RAISE
            c = self.clip_value
            if self.nan_policy == "zero":
                vals = [v if math.isfinite(v) else 0.0 for v in vals]
            else:
                vals = [0.0 if math.isnan(v) else (c if v == math.inf else (-c if v == -math.inf else v)) for v in vals]
        total = 0.0
        for v in vals:
            total += v
        if not abs(total) <= FLOAT32_MAX:
            if self.nan_policy == "raise":
                return RAISE
            c = self.clip_value
            vals = [0.0] * len(vals) if self.nan_policy == "zero" else [min(max(v, -c), c) for v in vals]
        return vals

    def step(self, rows: list[Row]) -> Any:
        memo: dict[int, list[float]] = {}
        comps = []
        for chain, node in self.components:
            v = self.value(node, rows, memo)
            for w in chain:
                v = [x if w == 1.0 else x * w for x in v]
            comps.append(v)
        repaired = [self._repair([c[i] for c in comps]) for i in range(self.n)]
        if any(r is RAISE for r in repaired):
            return RAISE
        totals, episodes = [], {}
        for i, vals in enumerate(repaired):
            total = 0.0
            for j, v in enumerate(vals):
                total += v
                self.sums[j][i] += v
            totals.append(total)
            self.true_return[i] += rows[i].reward
            self.lengths[i] += 1
        values = [[vals[j] for vals in repaired] for j in range(len(self.components))]
        for i, r in enumerate(rows):
            if r.terminated or r.truncated:
                episodes[i] = {
                    "sums": [self.sums[j][i] for j in range(len(self.components))],
                    "true_return": self.true_return[i],
                    "length": self.lengths[i],
                    "terminated": r.terminated,
                }
                for j in range(len(self.components)):
                    self.sums[j][i] = 0.0
                self.true_return[i], self.lengths[i] = 0.0, 0
                for tables in self.episodic_counts.values():
                    tables[i] = {}
        if self.learners:
            self.buffer.extend(rows)
            if len(self.buffer) >= self.update_every * self.n:
                batch = [(r.pos, r.t, r.next_pos, r.next_t) for r in self.buffer]
                for node in self.learners:  # each learning object once
                    self.updates[id(node)].append(batch)
                    self.trained[id(node)] += len(batch)
                self.buffer = []
        return totals, values, episodes


def snapshot(obs: Any) -> tuple[float, float]:
    """``(pos, t)`` of one ReusingEnv observation, read now."""
    if isinstance(obs, dict):
        return float(obs["pos"][0]), float(obs["t"][0])
    return float(obs[0]), float(obs[1])


def reference_run(root: Node, cfgs: list[dict], actions: np.ndarray, **options: Any) -> tuple[list, Reference]:
    envs = [ReusingEnv(**c) for c in cfgs]
    obs = [snapshot(e.reset()[0]) for e in envs]
    ref = Reference(root, len(envs), **options)
    steps: list = []
    for a in actions:
        rows = []
        for i, env in enumerate(envs):
            o, r, te, tr, _ = env.step(int(a[i]))
            nxt = snapshot(o)
            rows.append(Row(*obs[i], *nxt, r, te, tr))
        result = ref.step(rows)
        steps.append(result)
        if result is RAISE:
            break
        obs = [
            snapshot(envs[i].reset()[0]) if r.terminated or r.truncated else (r.next_pos, r.next_t)
            for i, r in enumerate(rows)
        ]
    return steps, ref


# -- the run through rewardlab ------------------------------------------------------------------------------


def make_stack(stack: str, cfgs: list[dict], term: RewardTerm, **options: Any) -> Any:
    if stack == "gym":
        return rl.RewardWrapper(ReusingEnv(**cfgs[0]), term, **options)  # no copying wrapper: the wrapper copies
    factories = [lambda c=c: CopyObservations(ReusingEnv(**c)) for c in cfgs]
    if stack == "dummy":
        venv = DummyVecEnv(factories)
    elif stack == "reusing":
        venv = BufferReusingVecEnv(factories)
    else:
        venv = SubprocVecEnv(factories, start_method="fork")
    return rl.RewardVecWrapper(venv, term, **options)


def check_run(stack: str, data: dict[str, Any]) -> None:
    root = build_nodes(data["tree"], [])
    made: dict[int, RewardTerm] = {}
    term = to_term(root, made, data["dict_obs"])
    cfgs = data["cfgs"]
    n = len(cfgs)
    actions = np.random.default_rng(data["seed"]).integers(0, 3, size=(data["steps"], n))
    options = {"nan_policy": data["nan_policy"], "clip_value": data["clip_value"], "update_every": data["update_every"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, ref = reference_run(root, cfgs, actions, **options)
        describe(root, expected, ref)
        env = make_stack(stack, cfgs, term, **options)
        try:
            env.reset()
            names = env.engine.names
            running = np.zeros((n, len(names)))  # each env's per-step values added up: the episode sums to expect
            for t, (a, exp) in enumerate(zip(actions, expected)):
                if exp is RAISE:
                    with pytest.raises(rl.NonFiniteRewardError):
                        step(env, stack, a)
                    return
                rewards, infos, dones = step(env, stack, a)
                totals, values, episodes = exp
                if stack == "gym":
                    assert rewards[0] == pytest.approx(totals[0], rel=1e-9, abs=1e-12), f"step {t}"
                else:
                    np.testing.assert_allclose(rewards, np.float32(totals), rtol=1e-6, atol=1e-9, err_msg=f"step {t}")
                for i, info in enumerate(infos):
                    got = [info["rewardlab"][name] for name in names]
                    want = [values[j][i] for j in range(len(names))]
                    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"step {t} env {i}")
                    # independent of the reference: what the agent got is the breakdown's sum
                    assert float(rewards[i]) == pytest.approx(float(np.float32(sum(got))), rel=1e-6, abs=1e-9)
                    running[i] += got
                    assert bool(dones[i]) == (i in episodes), f"step {t} env {i}"
                    if i in episodes:
                        ep, want_ep = info["rewardlab_episode"], episodes[i]
                        np.testing.assert_allclose([ep[name] for name in names], want_ep["sums"], rtol=1e-9, atol=1e-9)
                        # and each episode sum adds up the values the agent was given at each step
                        np.testing.assert_allclose([ep[name] for name in names], running[i], rtol=1e-9, atol=1e-9)
                        running[i] = 0.0
                        assert ep["true_return"] == pytest.approx(want_ep["true_return"])
                        assert ep["total"] == pytest.approx(sum(want_ep["sums"]), rel=1e-9, abs=1e-9)
                        assert (ep["length"], ep["terminated"]) == (want_ep["length"], want_ep["terminated"])
        finally:
            env.close()
    for node in ref.learners:
        learner = made[id(node)]
        want = ref.updates[id(node)]
        assert len(learner.seen) == len(want), "each learning term trains once per update batch"
        for got_batch, want_batch in zip(learner.seen, want):
            np.testing.assert_array_equal(got_batch, np.array(want_batch).reshape(-1, 4))


def describe(root: Node, expected: list, ref: Reference) -> None:
    """Label the example for ``--hypothesis-show-statistics``: which features of the engine it exercised."""
    from rewardlab.core.term import shared_terms

    made: dict[int, RewardTerm] = {}
    if shared_terms(to_term(root, made, False)):
        event("a term object is shared")
    if expected and expected[-1] is RAISE:
        event("the engine raised")
    if any(ref.updates.values()):
        event("a learner trained")
    if any(e is not RAISE and e[2] for e in expected):
        event("an episode ended")
    if ref.repairs:
        event("a bad value or overflow was repaired")


def step(env: Any, stack: str, action: np.ndarray) -> tuple[np.ndarray, list[dict], np.ndarray]:
    if stack == "gym":
        _, reward, terminated, truncated, info = env.step(int(action[0]))
        if terminated or truncated:
            env.reset()
        return np.array([reward]), [info], np.array([terminated or truncated])
    _, rewards, dones, infos = env.step(action)
    return rewards, infos, dones


def env_configs(n_envs: st.SearchStrategy[int]) -> st.SearchStrategy[list[dict]]:
    one = st.fixed_dictionaries(
        {
            "lengths": st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
            "kinds": st.lists(st.sampled_from(["terminated", "truncated"]), min_size=1, max_size=3).map(tuple),
            "rewards": st.lists(st.sampled_from([0.0, 1.0, -0.5]), min_size=1, max_size=3).map(tuple),
            "start": st.integers(-2, 2),
        }
    )
    return n_envs.flatmap(lambda n: st.lists(one, min_size=n, max_size=n))


def runs(n_envs: st.SearchStrategy[int]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "tree": roots,
            "cfgs": env_configs(n_envs),
            "dict_obs": st.booleans(),
            "steps": st.integers(10, 30),
            "seed": st.integers(0, 2**16),
            "nan_policy": st.sampled_from(["raise", "zero", "clip"]),
            "clip_value": st.sampled_from([1.0, 50.0]),
            "update_every": st.integers(1, 4),
        }
    ).map(lambda d: {**d, "cfgs": [{**c, "dict_obs": d["dict_obs"]} for c in d["cfgs"]]})


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@FAST
@given(data=runs(st.just(1)))
def test_gym_wrapper_matches_reference(data):
    check_run("gym", data)


@FAST
@given(data=runs(st.integers(1, 3)))
def test_dummy_vec_wrapper_matches_reference(data):
    check_run("dummy", data)


@FAST
@given(data=runs(st.integers(1, 3)))
def test_vec_wrapper_on_a_vec_env_that_reuses_its_buffers_matches_reference(data):
    check_run("reusing", data)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(data=runs(st.integers(2, 3)))
def test_subproc_vec_wrapper_matches_reference(data):
    check_run("subproc", data)
