"""Regressions of issue 15: reused observation buffers, NLE's blank last screen, overflow, shared terms,
the count table's empty slot, NetHack presets rebuilt from their spec (fault 4 is tested in the analysis tests)."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from fake_envs import ReusingEnv, positions
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import rewardlab as rl
from rewardlab.bonus.counts import CountTable, EpisodicCountTable
from rewardlab.bonus.keys import GridKey, Key
from rewardlab.core.term import RewardTerm
from rewardlab.wrappers.observations import CopyObservations, copy_observation

INT64_MIN = np.iinfo(np.int64).min
STAIRS_DOWN = 2359 + 24  # nle.nethack.GLYPH_CMAP_OFF + S_dnstair


class Recorder(RewardTerm):
    """Records copies of what it is given (at compute and at update) to compare with the truth afterwards."""

    name = "recorder"
    learns = True

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple] = []
        self.updates: list[tuple] = []

    def compute(self, batch):
        self.steps.append((copy_observation(batch.obs), copy_observation(batch.next_obs)))
        return np.zeros(batch.n)

    def update(self, batch):
        self.updates.append((copy_observation(batch.obs), copy_observation(batch.next_obs)))
        return {}


# -- fault 1: observations are never aliased -------------------------------------------------------------


@pytest.mark.parametrize("dict_obs", [False, True])
def test_reward_wrapper_keeps_copies_of_reused_observation_buffers(dict_obs):
    recorder = Recorder()
    env = rl.RewardWrapper(ReusingEnv(lengths=(50,), dict_obs=dict_obs), recorder, update_every=4)
    env.reset()
    for a in [2, 2, 0, 2, 1, 2, 2, 0]:
        env.step(a)
    path = [0, 1, 2, 1, 2, 2, 3, 4, 3]  # positions the walk went through
    assert [positions(obs)[0] for obs, _ in recorder.steps] == path[:-1]  # was the next position (a view)
    assert [positions(nxt)[0] for _, nxt in recorder.steps] == path[1:]
    for k, (obs, nxt) in enumerate(recorder.updates):  # the update buffer held views too
        np.testing.assert_array_equal(positions(obs), path[4 * k : 4 * k + 4])
        np.testing.assert_array_equal(positions(nxt), path[4 * k + 1 : 4 * k + 5])


def test_vec_wrapper_keeps_copies_when_the_vec_env_reuses_its_buffers():
    from fake_envs import BufferReusingVecEnv

    recorder = Recorder()
    venv = rl.RewardVecWrapper(BufferReusingVecEnv([lambda: ReusingEnv(lengths=(50,))]), recorder, update_every=3)
    venv.reset()
    for a in [2, 2, 0, 2, 1, 2]:
        venv.step(np.array([a]))
    path = [0, 1, 2, 1, 2, 2, 3]
    assert [positions(obs)[0] for obs, _ in recorder.steps] == path[:-1]
    assert [positions(obs)[0] for obs, _ in recorder.updates] == [0, 1]  # first row of each update batch
    np.testing.assert_array_equal(positions(recorder.updates[1][1]), path[4:7])


def test_copy_observations_gives_sb3_the_true_terminal_observation():
    """DummyVecEnv stores the env's array as terminal_observation, then resets the env, which overwrote it."""
    for wrap, expect_right in ((lambda e: e, False), (CopyObservations, True)):
        venv = DummyVecEnv([lambda wrap=wrap: wrap(ReusingEnv(lengths=(2,)))])
        venv.reset()
        venv.step(np.array([2]))
        _, _, dones, infos = venv.step(np.array([2]))
        assert dones[0]
        assert bool(infos[0]["terminal_observation"][0] == 2.0) is expect_right  # reset puts the walker at 1


def minihack_truth_check(make_venv, n_envs=2, steps=120):
    """Terms through RewardVecWrapper see the true obs/next_obs (recorded by a deep copy above the preset)."""
    import copy

    class Truth(gym.Wrapper):
        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            self.prev = copy.deepcopy(obs)
            return obs, info

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            info["true"] = (self.prev, copy.deepcopy(obs))
            self.prev = info["true"][1]
            return obs, reward, terminated, truncated, info

    wrong = {"obs": 0, "next_obs": 0, "end_next_obs": 0, "blank_end": 0, "ends": 0}

    class Probe(RewardTerm):
        def compute(self, batch):
            for i, info in enumerate(batch.infos):
                prev, nxt = info["true"]
                wrong["obs"] += not all(np.array_equal(batch.obs[k][i], prev[k]) for k in prev)
                same_next = all(np.array_equal(batch.next_obs[k][i], nxt[k]) for k in nxt)
                wrong["next_obs"] += not same_next
                if batch.terminated[i] or batch.truncated[i]:
                    wrong["ends"] += 1
                    wrong["end_next_obs"] += not same_next
                    wrong["blank_end"] += not batch.next_obs["blstats"][i].any()
            return np.zeros(batch.n)

    venv = rl.RewardVecWrapper(make_venv(Truth, n_envs), Probe())
    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        venv.step(rng.integers(8, size=n_envs))
    venv.close()
    return wrong


def _minihack(truth):
    from rewardlab.envs import make_env

    return truth(make_env("MiniHack-Room-Random-5x5-v0"))


@pytest.mark.parametrize("vec_cls", [DummyVecEnv, SubprocVecEnv])
def test_minihack_preset_terms_see_true_observations_and_terminal_observations(vec_cls):
    import functools

    kwargs = {"start_method": "fork"} if vec_cls is SubprocVecEnv else {}
    wrong = minihack_truth_check(lambda truth, n: vec_cls([functools.partial(_minihack, truth)] * n, **kwargs))
    assert wrong["ends"] >= 2
    assert wrong == {**wrong, "obs": 0, "next_obs": 0, "end_next_obs": 0, "blank_end": 0}


def test_nle_env_without_the_copy_wrapper_under_reward_wrapper_is_read_right():
    """Even on a raw NLE env the single-env wrapper's previous observation and update rows are copies."""
    pytest.importorskip("minihack")
    import minihack  # noqa: F401

    recorder = Recorder()
    env = rl.RewardWrapper(gym.make("MiniHack-Room-Random-5x5-v0", observation_keys=("blstats",)), recorder)
    obs, _ = env.reset(seed=0)
    truth = [obs["blstats"].copy()]
    rng = np.random.default_rng(0)
    for _ in range(40):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(8)))
        if terminated or truncated:
            break
        truth.append(obs["blstats"].copy())
    got = [o["blstats"][0] for o, _ in recorder.steps[: len(truth) - 1]]
    np.testing.assert_array_equal(np.array(got), np.array(truth[:-1]))
    env.close()


# -- fault 2: the last observation of an episode is the real last state, not NLE's blank screen ---------------


def _run_until_end(env, rng, max_steps=400):
    obs, _ = env.reset(seed=0)
    for _ in range(max_steps):
        prev = copy_observation(obs)  # on an env that reuses its arrays, obs changes under a plain reference
        obs, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            return prev, obs, terminated, truncated, info
    raise AssertionError("no episode end")


def test_solving_step_returns_the_hero_on_the_stairs_not_a_blank_screen():
    from rewardlab.envs import make_env

    env = make_env("MiniHack-Room-Random-5x5-v0")
    rng = np.random.default_rng(0)
    for _ in range(3):
        prev, last, terminated, _, info = _run_until_end(env, rng)
        assert terminated and info["is_success"]
        x, y = last["blstats"][:2]
        assert last["blstats"].any() and len(np.unique(last["glyphs"])) > 1  # NLE's quit blanks both
        assert prev["glyphs"][y, x] == STAIRS_DOWN  # the hero stands where the stairs were
        assert abs(int(x) - int(prev["blstats"][0])) <= 1 and abs(int(y) - int(prev["blstats"][1])) <= 1
        assert (last["glyphs_crop"] != 2359).any()  # MiniHack's crop is cut from the real map too
    env.close()


def test_time_limit_step_returns_the_real_last_state():
    from rewardlab.envs import make_env

    env = make_env("MiniHack-Room-Random-5x5-v0")
    obs, _ = env.reset(seed=1)
    for _ in range(100):  # west into the wall until MiniHack's 100-step limit (stairs elsewhere for seed 1)
        prev = copy_observation(obs)
        obs, _, terminated, truncated, _ = env.step(3)
    assert truncated and not terminated
    np.testing.assert_array_equal(obs["blstats"][:2], prev["blstats"][:2])  # still against the wall
    np.testing.assert_array_equal(obs["glyphs"], prev["glyphs"])
    env.close()


def test_death_returns_the_state_where_the_hero_died():
    pytest.importorskip("minihack")
    import minihack  # noqa: F401
    from rewardlab.envs.nethack import NLEObservationCopy, NLESeeding

    env = NLESeeding(NLEObservationCopy(gym.make("MiniHack-River-Lava-v0", observation_keys=("glyphs", "blstats"))))
    rng = np.random.default_rng(0)
    deaths = 0
    for _ in range(4):
        prev, last, terminated, _, info = _run_until_end(env, rng, max_steps=350)
        if int(info["end_status"]) != 1:  # 1 = death
            continue
        deaths += 1
        assert terminated and last["blstats"].any()
        assert abs(int(last["blstats"][0]) - int(prev["blstats"][0])) <= 1  # one step from where it was
    assert deaths >= 1
    env.close()


# -- fault 3: overflow is handled like NaN ------------------------------------------------------------------


def huge(value, envs=(0,), name="huge"):
    return rl.function(lambda reward: np.where(np.isin(np.arange(len(reward)), envs), value, 0.0), name=name)


def test_overflowing_sum_of_finite_terms_raises_naming_terms_and_values():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), huge(1e308, name="a") + huge(1e308, name="b"))
    venv.reset()
    with pytest.raises(rl.NonFiniteRewardError, match=r"env 0: 'a' = 1e\+308 \+ 'b' = 1e\+308 = inf"):
        venv.step(np.zeros(2, dtype=int))


def test_total_beyond_float32_raises_although_finite():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), rl.extrinsic() + huge(1e300))
    venv.reset()
    with pytest.raises(rl.NonFiniteRewardError, match="out of range.*float32"):
        venv.step(np.zeros(2, dtype=int))


@pytest.mark.parametrize("policy", ["zero", "clip"])
def test_overflow_is_repaired_only_where_it_happens_and_episode_sums_stay_right(policy):
    n = 8
    reward = rl.extrinsic() + huge(1e308, envs=(0, 3), name="a") + huge(1e308, envs=(0, 3), name="b")
    venv = rl.RewardVecWrapper(
        rl.make_vec_env("CartPole-v1", n_envs=n, seed=0), reward, nan_policy=policy, clip_value=5.0
    )
    venv.reset()
    expected_bad = 0.0 if policy == "zero" else 1.0 + 5.0 + 5.0  # clip: every component of the env to ±5
    sums, lengths, episodes = np.zeros(n), np.zeros(n, dtype=int), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(60):
            _, rew, dones, infos = venv.step(np.ones(n, dtype=int))
            np.testing.assert_array_equal(rew[[1, 2, 4, 5, 6, 7]], 1.0)  # healthy envs: exactly the extrinsic 1.0
            np.testing.assert_array_equal(rew[[0, 3]], expected_bad)
            sums += rew
            lengths += 1
            for i in np.flatnonzero(dones):
                ep = infos[i]["rewardlab_episode"]
                assert ep["total"] == pytest.approx(sums[i]) and ep["length"] == lengths[i]
                assert ep["true_return"] == ep["length"] == infos[i]["episode"]["l"]
                episodes.append(i)
                sums[i], lengths[i] = 0.0, 0
    assert {0, 3} <= set(episodes)
    assert sum("out of range" in str(w.message) for w in caught) == 1  # warned once


def test_non_finite_component_message_names_values():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), rl.extrinsic() + huge(np.nan, name="bad"))
    venv.reset()
    with pytest.raises(rl.NonFiniteRewardError, match=r"'bad' in envs \[0\] \(values \[nan\]\)"):
        venv.step(np.zeros(2, dtype=int))


def test_clip_value_must_keep_the_total_within_float32():
    with pytest.raises(ValueError, match="clip_value"):
        rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1), rl.extrinsic(), clip_value=1e38)


# -- fault 5: one term object, one evaluation per step ---------------------------------------------------------


@pytest.mark.parametrize("build", [lambda c: 0.05 * c + 0.05 * c, lambda c: c + rl.transforms.clip(c, 0.0, 0.5)])
def test_a_term_used_twice_is_computed_once_per_step(build):
    count = rl.bonus.count(GridKey(dims=[0, 2], cell=[0.5, 0.1]), mode="global")
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), build(count))
    venv.reset()
    for _ in range(300):
        _, _, _, infos = venv.step(np.ones(2, dtype=int))
    keys, counts = count.global_counts.items()
    assert counts.sum() == 600  # one table visit per env-step
    values = [dict(info["rewardlab"]) for info in infos]
    if len(venv.engine.names) == 1:  # 0.05*c + 0.05*c is one component of weight 0.1
        assert venv.engine.names == ["count"]
    else:
        assert values[0]["count_2"] == pytest.approx(min(max(values[0]["count"], 0.0), 0.5))


def test_same_object_in_a_sum_is_one_component_and_distinct_objects_stay_two():
    c = rl.bonus.count("obs")
    assert (0.05 * c + 0.05 * c).items() == [("count", pytest.approx(0.1), c)]
    d = rl.bonus.count("obs")
    assert (c + d).component_names() == ["count", "count_2"]
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), c + d)
    venv.reset()
    venv.step(np.ones(2, dtype=int))
    assert len(c.global_counts) == len(d.global_counts) == 2  # each counted the two next observations once


class TwoParts(RewardTerm):
    """A term with two components of its own (as a generated reward program has); counts its evaluations."""

    name = "parts"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def component_names(self):
        return ["parts/speed", "parts/cost"]

    def components_into(self, batch, out):
        self.calls += 1
        out[0] = batch.next_obs[:, 0]
        out[1] = -0.5

    def compute(self, batch):
        out = np.empty((2, batch.n))
        self.components_into(batch, out)
        return out.sum(axis=0)


def test_a_multi_component_term_used_twice_is_computed_once_per_step():
    g = TwoParts()
    reward = rl.extrinsic() + g + rl.transforms.clip(g, -0.1, 0.1)
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), reward)
    obs = venv.reset()
    for _ in range(20):
        next_obs, _, dones, infos = venv.step(np.ones(2, dtype=int))
        step = dict(infos[0]["rewardlab"])
        if not dones[0]:
            assert step["parts/speed"] == pytest.approx(next_obs[0, 0]) and step["parts/cost"] == -0.5
            assert step["parts_2"] == pytest.approx(np.clip(next_obs[0, 0] - 0.5, -0.1, 0.1))
    assert venv.engine.names == ["extrinsic", "parts/speed", "parts/cost", "parts_2"]  # the clip is named after g
    assert g.calls == 20  # once per step, although the sum and the clip both read it
    del obs


class Trainee(RewardTerm):
    name = "trainee"
    learns = True

    def __init__(self):
        super().__init__()
        self.updates = []

    def compute(self, batch):
        return np.zeros(batch.n)

    def update(self, batch):
        self.updates.append(batch.n)
        return {"loss": float(len(self.updates))}


def test_a_learning_term_used_twice_trains_once_per_batch():
    t = Trainee()
    reward = rl.extrinsic() + t + rl.transforms.clip(t) + rl.bonus.product(t, rl.constant(2.0))
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), reward, update_every=5)
    venv.reset()
    for _ in range(10):
        venv.step(np.zeros(2, dtype=int))
    assert t.updates == [10, 10]


class LabelLearner(Trainee):
    """Learns from somewhere else (like ONI's annotation service): its update() does not read the batch."""

    name = "label_learner"
    update_reads_batch = False


def test_a_learner_that_does_not_read_its_batch_is_updated_on_schedule_and_nothing_is_kept():
    learner = LabelLearner()
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), rl.extrinsic() + learner, update_every=5)
    assert not venv.engine.keeps_batches  # the wrapper makes no copies for it
    venv.reset()
    for _ in range(10):
        venv.step(np.zeros(2, dtype=int))
    assert learner.updates == [2, 2] and venv.engine.updates == 2  # the last step's batch, every 5 steps
    assert venv.engine._buffer == []

    learner, reader = LabelLearner(), Trainee()  # beside a term that reads its batch: that one gets all of it
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), learner + reader, update_every=5)
    assert venv.engine.keeps_batches
    venv.reset()
    for _ in range(10):
        venv.step(np.zeros(2, dtype=int))
    assert learner.updates == reader.updates == [10, 10]


def test_component_named_like_a_bookkeeping_key_keeps_its_own_value():
    inner = rl.WeightedSum([(1.0, rl.constant(2.0))], name="total")  # a nested sum named like the step total
    reward = rl.WeightedSum([(1.0, rl.extrinsic()), (1.0, inner)])
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1), reward)
    venv.reset()
    _, rew, _, infos = venv.step(np.zeros(1, dtype=int))
    step = infos[0]["rewardlab"]
    assert venv.engine.names == ["extrinsic", "total_2"]
    assert step["total_2"] == 2.0 and step["total"] == rew[0] == 3.0
    assert rl.WeightedSum(
        [(1.0, rl.extrinsic()), (1.0, rl.WeightedSum([(1.0, rl.constant(2.0))]))]
    ).component_names() == [
        "extrinsic",
        "sum",
    ]


# -- fault 6: SimHash keys cannot collide with the count table's empty slot -----------------------------------------


def test_int64_min_and_its_neighbour_are_two_keys():
    table = CountTable()
    np.testing.assert_array_equal(table.visit(np.array([INT64_MIN, INT64_MIN + 1])), [1, 1])
    assert len(table) == 2
    np.testing.assert_array_equal(table.visit(np.array([INT64_MIN])), [2])
    episodic = EpisodicCountTable(2)
    for _ in range(2):
        out = episodic.visit(np.array([INT64_MIN, INT64_MIN + 1]))
    np.testing.assert_array_equal(out, [2, 2])
    restored = CountTable()
    restored.load_state_dict(table.state_dict())
    np.testing.assert_array_equal(restored.lookup(np.array([INT64_MIN, INT64_MIN + 1, 0])), [2, 1, 0])


def test_state_dict_of_the_old_table_layout_still_loads():
    """Count tables saved before this fix held the same ``keys``/``counts`` arrays."""
    table = CountTable()
    table.load_state_dict({"keys": np.array([5, -7, 2**62]), "counts": np.array([3, 1, 2])})
    np.testing.assert_array_equal(table.lookup(np.array([5, -7, 2**62, 6])), [3, 1, 2, 0])
    assert len(table) == 3


class FixedKeys(Key):
    """The SimHash keys of the issue: INT64_MIN and its neighbour."""

    def __call__(self, obs):
        return np.array([INT64_MIN, INT64_MIN + 1])[: len(obs)]


def test_count_bonus_on_sentinel_keys_pays_one_each():
    bonus = rl.bonus.count(FixedKeys())
    batch = rl.Transitions.from_arrays(np.zeros((2, 1)), np.zeros(2), np.zeros((2, 1)))
    np.testing.assert_allclose(bonus(batch), [1.0, 1.0])


# -- fault 7: NetHack / MiniHack presets rebuild from their spec ----------------------------------------------


def test_minihack_preset_rebuilds_from_its_spec_and_a_pickled_spec():
    from rewardlab.envs import make_env

    env = make_env("MiniHack-Room-Random-5x5-v0")
    spec = env.spec
    assert [w.name for w in spec.additional_wrappers][-3:] == ["NLEObservationCopy", "NLESeeding", "NLETimeLimit"]
    for again in (gym.make(spec), gym.make(pickle.loads(pickle.dumps(spec)))):
        obs, _ = again.reset(seed=3)
        assert set(obs) == set(env.observation_space.spaces)
        assert again.spec.additional_wrappers == spec.additional_wrappers
        again.close()
    venv = SubprocVecEnv([lambda: gym.make(spec)] * 2)
    venv.seed(0)
    venv.reset()
    _, _, _, infos = venv.step(np.zeros(2, dtype=int))
    assert len(infos) == 2
    venv.close()
    env.close()
