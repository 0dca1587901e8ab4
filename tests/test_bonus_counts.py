"""Count bonuses: hash tables, global/episodic/product/sum, resets, checkpoints, YAML, auto-reset."""

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.bonus import CountBonus, CountTable, EpisodicCountTable
from rewardlab.bonus.keys import GridKey
from rewardlab.core import Transitions
from rewardlab.wrappers.engine import RewardEngine


def batch_of(next_obs):
    next_obs = np.asarray(next_obs, dtype=np.float64)
    return Transitions.from_arrays(next_obs, np.zeros(len(next_obs), dtype=np.int64), next_obs)


def test_count_table_matches_a_python_counter_and_grows():
    table = CountTable(capacity=5)  # rounded up to a power of two
    keys = np.random.default_rng(0).integers(-50, 50, size=2000)
    keys[:3] = np.iinfo(np.int64).min  # the EMPTY sentinel is still a valid key
    counts = table.visit(keys)
    seen: dict[int, int] = {}
    expected = []
    for k in keys.tolist():
        seen[k] = seen.get(k, 0) + 1
        expected.append(seen[k])
    np.testing.assert_array_equal(counts, expected)
    assert len(table) == len(seen)
    np.testing.assert_array_equal(table.lookup(np.array([keys[0], 10**12])), [seen[int(keys[0])], 0])


@pytest.mark.parametrize(
    "key", [GridKey(dims=[0, 1], cell=0.05), rl.bonus.keys.simhash(bits=32)], ids=["grid", "simhash"]
)
def test_the_tally_the_kernels_keep_is_the_tables_size_through_growth_and_copies(key):
    """The one-call kernels add new keys to ``tally[0]`` in place: ``len(table)`` is the number of stored keys
    and ``tally[1]`` the limit, through growth, ``load_state_dict`` and pickling."""
    import pickle

    term = rl.bonus.count(key)
    rng = np.random.default_rng(0)
    for _ in range(300):
        term(batch_of(rng.normal(size=(8, 12))))
    table = term.global_counts
    assert len(table) == np.count_nonzero(table.counts) > 1024  # grew past its first capacity
    assert table.tally[1] == table.limit == (table.slots.shape[0] - 1) // 2
    assert table.tally.base is table.slots  # the table's last row
    copy = pickle.loads(pickle.dumps(table))
    assert len(copy) == len(table) and copy.limit == table.limit and copy.tally.base is copy.slots
    fresh = CountTable()
    fresh.load_state_dict(table.state_dict())
    assert len(fresh) == len(table) and fresh.limit == table.limit


def test_a_table_pickled_before_its_tally_row_loads_and_grows():
    table = CountTable()
    table.visit(np.arange(100))
    old = CountTable.__new__(CountTable)
    old.__setstate__({"slots": table.slots[:-1].copy(), "size": 100})  # the (capacity, 2) layout of before
    assert len(old) == 100 and old.limit == 512 and old.slots.shape == (1025, 2)
    np.testing.assert_array_equal(old.lookup(np.arange(101)), [1] * 100 + [0])
    np.testing.assert_array_equal(old.visit(np.arange(1000))[98:102], [2, 2, 1, 1])
    assert len(old) == 1000 and old.limit == 2048  # room for 100 + 1000 keys


def test_episodic_table_counts_per_env_and_resets_one_env():
    table = EpisodicCountTable(2, capacity=3)
    for _ in range(3):
        out = table.visit(np.array([7, 7]))
    np.testing.assert_array_equal(out, [3, 3])  # envs do not share counts
    table.reset(np.array([1]))
    np.testing.assert_array_equal(table.visit(np.array([7, 7])), [4, 1])
    for k in range(100):  # growth keeps counts
        table.visit(np.array([k + 100, k + 100]))
    np.testing.assert_array_equal(table.visit(np.array([7, 7])), [5, 2])


CELL = GridKey(dims=[0], cell=1.0)
A, B = [0.5], [1.5]


@pytest.mark.parametrize(
    ("mode", "episodic", "expected"),
    [
        # step 1: env0 A, env1 A; step 2: env0 A, env1 B.  global N(A) = 1, 2, 3; N(B) = 1
        ("global", "inverse_sqrt", [[1, 2**-0.5], [3**-0.5, 1]]),
        ("episodic", "inverse_sqrt", [[1, 1], [2**-0.5, 1]]),
        ("episodic", "first_visit", [[1, 1], [0, 1]]),
        ("product", "inverse_sqrt", [[1, 2**-0.5], [3**-0.5 * 2**-0.5, 1]]),
        ("sum", "first_visit", [[1 + 0.5, 2**-0.5 + 0.5], [3**-0.5, 1 + 0.5]]),
    ],
)
def test_count_modes_hand_computed(mode, episodic, expected):
    term = CountBonus(key=CELL, mode=mode, episodic=episodic, episodic_weight=0.5)
    out = [term(batch_of([A, A])), term(batch_of([A, B]))]
    np.testing.assert_allclose(out, expected)


def test_episode_reset_clears_only_episodic_counts():
    term = rl.bonus.count(CELL, mode="product")
    term(batch_of([A, A]))
    term.reset(np.array([0]))
    # global N(A) = 3, 4; episodic: env0 restarted (1), env1 second visit (2)
    np.testing.assert_allclose(term(batch_of([A, A])), [3**-0.5, 4**-0.5 * 2**-0.5])


def test_eval_mode_reads_global_counts_without_changing_them():
    term = rl.bonus.count(CELL)
    term(batch_of([A]))
    term.eval()
    np.testing.assert_allclose([term(batch_of([A]))[0], term(batch_of([A]))[0]], [2**-0.5, 2**-0.5])
    term.train()
    np.testing.assert_allclose(term(batch_of([A])), [2**-0.5])


def test_global_counts_round_trip_through_state_dict():
    term = rl.bonus.count(CELL)
    for _ in range(3):
        term(batch_of([A, B]))
    fresh = rl.bonus.count(CELL)
    fresh.load_state_dict(term.state_dict())
    np.testing.assert_allclose(fresh(batch_of([A, B, [9.5]])), term(batch_of([A, B, [9.5]])))
    np.testing.assert_allclose(fresh(batch_of([A])), [5**-0.5])


def test_yaml_count_with_grid_key_builds_and_binds_names():
    reward = rl.build_reward(
        [
            "extrinsic",
            {
                "term": "count",
                "weight": 0.1,
                "mode": "episodic",
                "key": {"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}},
            },
        ]
    )
    assert reward.component_names() == ["extrinsic", "count"]
    venv = rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0)
    wrapped = rl.RewardVecWrapper(venv, reward)
    wrapped.reset()
    _, rew, _, infos = wrapped.step(np.array([0, 2]))
    np.testing.assert_allclose(rew, -1.0 + 0.1)  # first visit of every cell
    assert infos[0]["rewardlab"]["count"] == pytest.approx(0.1)


def test_yaml_count_errors_name_valid_choices():
    with pytest.raises(rl.ConfigError, match="must be one of"):
        rl.build_reward({"term": "count", "mode": "episodc"})
    with pytest.raises(rl.ConfigError, match="unknown count key 'gird'"):
        rl.build_reward({"term": "count", "key": "gird"})


def test_yaml_normalize_and_clip_wrap_the_bonus():
    term = rl.build_reward({"term": "count", "key": {"grid": {"dims": [0], "cell": 1.0}}, "clip": 0.5})
    np.testing.assert_allclose(term(batch_of([A])), [0.5])


def test_episodic_counts_reset_at_sb3_auto_reset():
    """Every state shares one key, so the episodic bonus is 1/√t within each 5-step episode."""
    reward = rl.bonus.count(GridKey(cell=1e9), mode="episodic")
    venv = rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 5})
    venv = rl.RewardVecWrapper(venv, reward)
    venv.reset()
    got = []
    for _ in range(12):
        _, rew, dones, _ = venv.step(np.array([0, 2]))
        got.append(rew.copy())
    t = np.arange(12) % 5 + 1
    np.testing.assert_allclose(np.stack(got), np.repeat((1 / np.sqrt(t))[:, None], 2, axis=1), rtol=1e-6)


def test_position_counts_on_nethack_dict_observations():
    def obs(*xy):
        bl = np.zeros((len(xy), 27), dtype=np.int64)
        bl[:, :2] = xy
        return {"blstats": bl, "glyphs": np.zeros((len(xy), 21, 79), dtype=np.int16)}

    term = rl.bonus.count("position", mode="product")
    step = lambda nxt: term(Transitions.from_arrays(nxt, np.zeros(2, dtype=np.int64), nxt))  # noqa: E731
    np.testing.assert_allclose(step(obs((1, 1), (1, 1))), [1.0, 2**-0.5])  # env1 shares the global count
    np.testing.assert_allclose(step(obs((1, 1), (2, 1))), [3**-0.5 * 2**-0.5, 1.0])


class _Spy(rl.RewardTerm):
    """Records the env indices of each ``reset``; ``resets_episodes`` as given."""

    def __init__(self, resets: bool, name: str) -> None:
        super().__init__(name=name)
        self.calls: list[list[int]] = []
        self._resets = resets

    def compute(self, batch):
        return np.zeros(batch.n)

    def reset(self, env_indices):
        self.calls.append(np.asarray(env_indices).tolist())

    @property
    def resets_episodes(self):
        return self._resets


def test_which_terms_reset_at_episode_ends():
    """``resets_episodes``: a global count bonus's ``reset`` does nothing, so the engine does not call it; the
    episodic modes, any term that overrides ``reset``, and a composite holding one of them do reset."""
    key = GridKey(dims=[0], cell=1.0)
    assert not rl.bonus.count(key, mode="global").resets_episodes
    for mode in ("episodic", "product", "sum"):
        assert rl.bonus.count(key, mode=mode).resets_episodes
    assert not rl.extrinsic().resets_episodes
    assert not (rl.extrinsic() + 0.1 * rl.bonus.count(key)).resets_episodes
    assert (rl.extrinsic() + 0.1 * rl.bonus.count(key, mode="episodic")).resets_episodes
    assert _Spy(True, "a").resets_episodes and not _Spy(False, "b").resets_episodes

    quiet, loud = _Spy(False, "quiet"), _Spy(True, "loud")
    for reward in (quiet + loud, rl.shaping.transforms.clip(quiet + loud, -1, 1)):
        for spy in (quiet, loud):
            spy.calls.clear()
        engine = RewardEngine(reward, 3)
        batch = Transitions.fake([0.0, 0.0, 0.0], terminated=[False, True, False])
        engine.process(batch, np.array([False, True, False]))
        # a plain sum's terms, or a composite that forwards to its children: only those that say so
        assert quiet.calls == [] and loud.calls == [[1]]


def test_a_global_count_bonus_gives_the_same_rewards_without_resets():
    """Skipping a global count bonus's no-op reset changes nothing: the same rewards as the term called alone."""
    venv = rl.make_vec_env("CartPole-v1", n_envs=4, seed=0)
    wrapped = rl.RewardVecWrapper(venv, rl.bonus.count(GridKey(dims=[0, 2], cell=[0.5, 0.05])))
    alone = rl.bonus.count(GridKey(dims=[0, 2], cell=[0.5, 0.05]))
    wrapped.reset()
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(200):
        next_obs, rewards, dones, infos = wrapped.step(rng.integers(2, size=4))
        truth = next_obs.copy()
        for i in np.flatnonzero(dones):
            truth[i] = infos[i]["terminal_observation"]
        np.testing.assert_allclose(rewards, alone(batch_of(truth)), rtol=1e-6)
        ended += int(dones.sum())
    assert ended > 10
