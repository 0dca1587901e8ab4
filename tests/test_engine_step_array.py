"""The lean engine (issue 22 §5): one step array reused every step, its copies, and the one-call count bonus.

The engine writes each step's components, extrinsic reward and total into one array it reuses; the per-step
``info["rewardlab"]`` views read a copy made once per step, so they must keep their step's values however many
steps follow. The global count bonus counts a grid or SimHash key in one compiled call, also across the
table's growth.
"""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest

import rewardlab as rl
from rewardlab.bonus.counts import CountTable
from rewardlab.bonus.keys import GridKey, SimHashKey
from rewardlab.core.env_info import EnvInfo
from rewardlab.wrappers import RewardEngine
from rewardlab.wrappers import engine as engine_module


def three_terms() -> rl.RewardTerm:
    key = GridKey(dims=["cart_position", "pole_angle"], cell=[0.2, 0.02])
    return rl.extrinsic() + rl.shaping.potential("cartpole_upright", gamma=0.99) + 0.01 * rl.bonus.count(key)


def test_step_info_views_keep_their_step_values_after_later_steps():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=3, seed=0), three_terms())
    venv.reset()
    kept, seen, rewards = [], [], []
    for t in range(40):
        _, r, _, infos = venv.step(np.array([t % 2, 1, 0]))
        kept.append(infos)
        seen.append([dict(info["rewardlab"]) for info in infos])  # read at once
        rewards.append(r)
    for infos, values, r in zip(kept, seen, rewards):  # read again, 40 steps later
        assert [dict(info["rewardlab"]) for info in infos] == values
        np.testing.assert_allclose([info["rewardlab"]["total"] for info in infos], r, rtol=1e-6)
    counts = [v[1]["count"] for v in seen]
    assert len(set(counts)) > 1  # the bonus changed over the steps, so equal reads are not a coincidence


@pytest.mark.parametrize("fused", [False, True])
def test_a_view_nobody_holds_is_handed_out_again_and_a_held_one_keeps_its_values(fused: bool, monkeypatch):
    """The engine hands out the views of the step before last again when nothing else holds them (their
    reference count says so); a view a caller kept, without its info dict, is left alone and keeps its step."""
    made = []

    class Counted(engine_module.StepRewards):
        __slots__ = ()

        def __init__(self, step: tuple | None, env: int) -> None:
            made.append(env)
            super().__init__(step, env)

    monkeypatch.setattr(engine_module, "StepRewards", Counted)
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=3, seed=0), three_terms())
    venv.engine.fuse_after = 1 if fused else None  # the compiled common step, or the kernels one by one
    venv.reset()
    kept, seen, views = [], [], []
    for t in range(60):
        _, _, _, infos = venv.step(np.array([t % 2, 1, 0]))
        kept.append(infos[0]["rewardlab"])  # env 0's view only, not the info dicts
        seen.append(dict(infos[0]["rewardlab"]))
        views.append(infos[2]["rewardlab"])
        del infos
        if len(views) > 1:
            views.pop(0)  # env 2's view of the step before is held no more
    assert [dict(view) for view in kept] == seen  # every kept view still reads its own step
    assert len({id(view) for view in kept}) == len(kept)  # ... so none was handed out again
    engine = venv.engine
    made.clear()
    for _ in range(6):  # no view is kept any more
        _, _, _, infos = venv.step(np.array([0, 1, 0]))
        assert [info["rewardlab"]["total"] for info in infos] == engine.last_total.tolist()
        del infos
    # new views only where the one handed out two steps before was still held: env 0 (in `kept`) at the first
    # two steps, env 2 (the last one in `views`) at the second; every other time, the same two objects in turn
    assert made == [0, 0, 2]
    views.clear()
    if fused:
        assert engine._fast is not None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_views_read_their_own_step_whoever_holds_what_and_for_how_long(seed: int):
    """Random holders: some steps' info lists, some single views, some single info dicts, each kept for a random
    number of steps and then dropped. Every view read at any later time gives the values it gave at its step."""
    rng = np.random.default_rng(seed)
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=3, seed=seed), three_terms())
    venv.engine.fuse_after = 5
    venv.reset()
    held: list[tuple[int, object, list]] = []  # (until step, what is held, its views' values at their step)
    for t in range(150):
        _, _, _, infos = venv.step(rng.integers(2, size=3))
        values = [dict(info["rewardlab"]) for info in infos]
        kind, until = rng.integers(4), t + int(rng.integers(1, 6))
        if kind == 1:
            held.append((until, infos, values))
        elif kind == 2:
            i = int(rng.integers(3))
            held.append((until, [infos[i]["rewardlab"]], [values[i]]))
        elif kind == 3:
            i = int(rng.integers(3))
            held.append((until, [infos[i]], [values[i]]))
        del infos
        for _, thing, want in held:
            views = [x["rewardlab"] if isinstance(x, dict) else x for x in thing]
            assert [dict(view) for view in views] == want
        held = [h for h in held if h[0] > t]


def test_step_rewards_copies_pickles_and_reads_like_a_dict():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), rl.extrinsic() - 0.5)
    venv.reset()
    _, _, _, infos = venv.step(np.array([0, 1]))
    view = infos[1]["rewardlab"]
    for twin in (copy.deepcopy(view), pickle.loads(pickle.dumps(view)), copy.copy(view)):
        assert twin == view and dict(twin) == dict(view) and repr(twin) == repr(view)


def test_step_rewards_is_a_read_only_mapping_in_order():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), rl.extrinsic() - 0.5)
    venv.reset()
    _, _, _, infos = venv.step(np.array([0, 1]))
    view = infos[1]["rewardlab"]
    assert list(view) == ["extrinsic", "constant", "extrinsic_reward", "total"]
    assert len(view) == 4 and "total" in view and "length" not in view
    assert view == {"extrinsic": 1.0, "constant": -0.5, "extrinsic_reward": 1.0, "total": 0.5}
    with pytest.raises(KeyError):
        view["nope"]
    with pytest.raises(TypeError):
        view["total"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize("step_info", [True, False])
def test_last_values_and_totals_match_the_step(step_info):
    engine = RewardEngine(rl.extrinsic() + rl.constant(-0.5), n_envs=2, step_info=step_info)
    assert engine.last_values is None and engine.last_total is None
    first = engine.process(rl.Transitions.fake(reward=[1.0, 0.0]))
    np.testing.assert_array_equal(engine.last_values, [[1.0, 0.0], [-0.5, -0.5]])
    np.testing.assert_array_equal(engine.last_total, first)
    kept = engine.last_total
    second = engine.process(rl.Transitions.fake(reward=[3.0, 2.0]))
    np.testing.assert_array_equal(engine.last_total, second)
    np.testing.assert_array_equal(first, [0.5, -0.5])  # process returns a new array every step
    # with step info the last step's arrays are its own copy; without, the engine's array (copy it to keep it)
    np.testing.assert_array_equal(kept, first if step_info else second)


def test_process_gives_totals_in_the_asked_dtype():
    reward = rl.extrinsic() + rl.constant(0.1)
    wide, narrow = RewardEngine(reward, n_envs=3), RewardEngine(reward, n_envs=3)
    batch = rl.Transitions.fake(reward=[1.0, -2.5, 1e20])
    a = wide.process(batch)
    b = narrow.process(batch, dtype=np.float32)
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_array_equal(b, a.astype(np.float32))


def test_vector_wrapper_rewards_are_float32_and_new_each_step():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), three_terms())
    venv.reset()
    _, r1, _, _ = venv.step(np.array([0, 1]))
    kept = r1.copy()
    _, r2, _, _ = venv.step(np.array([0, 1]))
    assert r1.dtype == np.float32 and r1 is not r2
    np.testing.assert_array_equal(r1, kept)


@pytest.mark.parametrize("make_key", [lambda: GridKey(dims=[0, 1], cell=0.01), lambda: SimHashKey(bits=24)])
def test_one_call_global_count_matches_plain_counts_across_table_growth(make_key):
    fast, plain = rl.bonus.count(make_key()), rl.bonus.count(make_key())
    space = gym.spaces.Box(-10.0, 10.0, shape=(3,))
    for term in (fast, plain):
        term.bind(EnvInfo(None, space, gym.spaces.Discrete(2), 16))
    fast.global_counts = CountTable(capacity=8)  # grows many times below
    rng = np.random.default_rng(0)
    out = np.empty(16)
    for step in range(120):
        nxt = rng.normal(size=(16, 3)) * (1.0 if step % 3 else 0.01)  # new cells, and revisits
        batch = rl.Transitions.fake(reward=np.zeros(16), next_obs=nxt)
        fast.compute_into(batch, out, 0.5)
        np.testing.assert_array_equal(out, 0.5 * plain(batch), err_msg=f"step {step}")
    table = fast.global_counts
    assert table.keys.base is table.slots and table.counts.base is table.slots  # a key beside its count
    assert len(table) == len(plain.global_counts) > 8 * 16
    keys, counts = table.items()
    np.testing.assert_array_equal(table.lookup(keys), counts)
    np.testing.assert_array_equal(plain.global_counts.lookup(keys), counts)


def test_episode_ends_reset_only_terms_with_episodic_state():
    calls = []

    class Episodic(rl.RewardTerm):
        name = "episodic"

        def compute(self, batch):
            return np.zeros(batch.n)

        def reset(self, env_indices):
            calls.append(env_indices.tolist())

    reward = rl.extrinsic() + Episodic()
    engine = RewardEngine(reward, n_envs=3)
    engine.process(rl.Transitions.fake(reward=[1.0, 1.0, 1.0], terminated=[False, True, False]))
    engine.process(rl.Transitions.fake(reward=[1.0, 1.0, 1.0], truncated=[True, False, True]))
    assert calls == [[1], [0, 2]]


@pytest.mark.parametrize("copy", ["pickle", "deepcopy"])
def test_a_copied_count_table_keeps_keys_and_counts_as_views_of_its_slots(copy):
    import copy as copying
    import pickle

    term = rl.bonus.count(GridKey(dims=[0, 1], cell=0.1))
    term.bind(EnvInfo(None, gym.spaces.Box(-1.0, 1.0, shape=(2,)), gym.spaces.Discrete(2), 4))
    batch = rl.Transitions.fake(reward=np.zeros(4), next_obs=np.random.default_rng(0).normal(size=(4, 2)))
    out = np.empty(4)
    term.compute_into(batch, out)  # the checked path, then the one-call path below
    term.compute_into(batch, out)
    twin = pickle.loads(pickle.dumps(term)) if copy == "pickle" else copying.deepcopy(term)
    table = twin.global_counts
    assert table.keys.base is table.slots and table.counts.base is table.slots
    twin.compute_into(batch, out)  # counts in slots; read back through keys and counts
    keys, counts = table.items()
    np.testing.assert_array_equal(np.sort(counts), np.sort(term.global_counts.items()[1]) * 3 // 2)  # 2 visits, +1
    np.testing.assert_array_equal(table.lookup(keys), counts)
    np.testing.assert_allclose(out, 1 / np.sqrt(table.lookup(twin.key(batch.next_obs))))


@pytest.mark.parametrize("step_info", [True, False])
def test_a_copied_engine_writes_through_its_own_views(step_info):
    import copy

    engine = RewardEngine(three_terms(), n_envs=2, step_info=step_info)
    engine.reward.bind(EnvInfo("CartPole-v1", gym.spaces.Box(-5.0, 5.0, (4,)), gym.spaces.Discrete(2), 2,
                               ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")))  # fmt: skip
    rng = np.random.default_rng(0)

    def batch():
        obs, nxt = rng.normal(size=(2, 4)) * 0.05, rng.normal(size=(2, 4)) * 0.05
        return rl.Transitions.fake(reward=[1.0, 1.0], obs=obs, next_obs=nxt, terminated=rng.random(2) < 0.3)

    for _ in range(5):
        engine.process(batch())
    twin = copy.deepcopy(engine)
    assert twin._step.base is twin._state and twin._row_calls[0][0].base is twin._state
    np.testing.assert_array_equal(twin.last_total, engine.last_total)
    for _ in range(20):
        b = batch()
        np.testing.assert_array_equal(twin.process(b), engine.process(b))
        np.testing.assert_array_equal(twin.last_values, engine.last_values)
        np.testing.assert_array_equal(twin.get_state()["episode_sums"], engine.get_state()["episode_sums"])
