"""The vector wrapper's fast paths (issue 22 §5): the terms' step kernels on bare arrays, then one fused call.

Three paths must give the same step bit for bit: ``process`` on a :class:`Transitions` batch (the reference,
forced here by switching the others off), the terms' step kernels called one by one, and the fused step the
engine compiles after ``fuse_after`` steps. Compared: the rewards SB3 gets, every ``info["rewardlab"]`` and
``info["rewardlab_episode"]``, and the terms' state (the count tables), over runs with episode ends, time
limits, weights other than 1, a growing count table and a switch to evaluation mode.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper

import rewardlab as rl
from rewardlab.bonus.keys import GridKey, SimHashKey
from rewardlab.wrappers import RewardEngine
from rewardlab.wrappers.fused import FusedStep

PATHS = ("process", "kernels", "fused")


def cartpole_reward(cell: float = 0.2) -> rl.RewardTerm:
    key = GridKey(dims=["cart_position", "pole_angle"], cell=[cell, cell / 10])
    return (
        0.5 * rl.extrinsic()
        + rl.shaping.potential("cartpole_upright", gamma=0.99)
        + 0.01 * rl.bonus.count(key)
        + rl.constant(-0.25)
    )


def wrapped(
    reward: rl.RewardTerm, path: str, *, n_envs: int = 4, env: str = "CartPole-v1", **options: Any
) -> rl.RewardVecWrapper:
    if env == "CartPole-v1":  # short time limit: truncations as well as terminations
        venv = rl.make_vec_env("CartPole-v1", n_envs=n_envs, seed=3, env_kwargs={"max_episode_steps": 30})
    else:
        venv = rl.make_vec_env(env, n_envs=n_envs, seed=3)
    wrapper = rl.RewardVecWrapper(venv, reward, **options)
    if path == "process":
        wrapper.engine._ask_kernels = lambda obs: None  # no kernel path: a Transitions batch and process()
    wrapper.engine.fuse_after = 1 if path == "fused" else None
    return wrapper


def run(wrapper: rl.RewardVecWrapper, steps: int, *, seed: int = 0, eval_at: int | None = None) -> dict:
    rng = np.random.default_rng(seed)
    space = wrapper.action_space
    wrapper.reset()
    rewards, steps_info, episodes = [], [], []
    for t in range(steps):
        if t == eval_at:
            wrapper.reward.eval()
        if hasattr(space, "n"):
            action = rng.integers(space.n, size=wrapper.num_envs)
        else:
            action = rng.uniform(space.low, space.high, size=(wrapper.num_envs, *space.shape)).astype(np.float32)
        _, reward, _, infos = wrapper.step(action)
        rewards.append(reward.copy())
        steps_info.append([dict(info["rewardlab"]) for info in infos])
        episodes.append([info.get("rewardlab_episode") for info in infos])
    return {"rewards": np.array(rewards), "info": steps_info, "episodes": episodes}


def count_table(reward: rl.RewardTerm) -> tuple[np.ndarray, int]:
    (count,) = [t for t in reward.leaves() if isinstance(t, rl.bonus.CountBonus)]
    return count.global_counts.slots.copy(), count.global_counts.size


def assert_same_runs(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["rewards"], b["rewards"])  # bit for bit
    assert a["info"] == b["info"]
    assert a["episodes"] == b["episodes"]


def test_three_paths_give_the_same_steps_episodes_and_counts():
    runs, tables, wrappers = {}, {}, {}
    for path in PATHS:
        reward = cartpole_reward(cell=0.02)  # small cells: new keys on most steps, so the table grows
        wrappers[path] = wrapper = wrapped(reward, path)
        runs[path] = run(wrapper, 300)
        tables[path] = count_table(reward)
    assert wrappers["process"].engine._plan is None
    assert isinstance(wrappers["kernels"].engine._plan, FusedStep) and wrappers["kernels"].engine._plan.fn is None
    assert isinstance(wrappers["fused"].engine._plan, FusedStep) and wrappers["fused"].engine._plan.fn is not None
    assert sum(e is not None for step in runs["process"]["episodes"] for e in step) > 20  # many episode ends
    truncated = [e for step in runs["process"]["episodes"] for e in step if e is not None and not e["terminated"]]
    assert truncated  # time limits too
    assert tables["process"][0].shape[0] > 1024  # the count table grew past its first capacity
    for path in ("kernels", "fused"):
        assert_same_runs(runs["process"], runs[path])
        np.testing.assert_array_equal(tables["process"][0], tables[path][0])
        assert tables["process"][1] == tables[path][1]


def simhash_reward() -> rl.RewardTerm:
    return (
        rl.extrinsic()
        + rl.shaping.potential("forward_progress", gamma=0.99)
        + 0.01 * rl.bonus.count(SimHashKey(bits=32))
    )


def test_simhash_on_mujoco_through_the_three_paths():
    runs, tables, plans = {}, {}, {}
    for path in PATHS:
        r = simhash_reward()
        wrapper = wrapped(r, path, n_envs=2, env="HalfCheetah-v5")
        runs[path] = run(wrapper, 60)
        tables[path] = count_table(r)
        plans[path] = wrapper.engine._plan
    assert isinstance(plans["kernels"], FusedStep) and plans["kernels"].fn is None  # the kernels, from step 1
    assert isinstance(plans["fused"], FusedStep) and plans["fused"].fn is not None
    for path in ("kernels", "fused"):
        assert_same_runs(runs["process"], runs[path])
        np.testing.assert_array_equal(tables["process"][0], tables[path][0])


def test_evaluation_mode_leaves_the_fused_step_and_counts_are_looked_up():
    runs, tables, wrappers = {}, {}, {}
    for path in PATHS:
        reward = cartpole_reward()
        wrappers[path] = wrapper = wrapped(reward, path)
        runs[path] = run(wrapper, 80, eval_at=40)
        tables[path] = count_table(reward)
    assert wrappers["fused"].engine._plan is None  # left at the switch to eval()
    for path in ("kernels", "fused"):
        assert_same_runs(runs["process"], runs[path])
        assert tables["process"][1] == tables[path][1]


@pytest.mark.parametrize("ends_often", [False, True], ids=["the compiled step checks", "the wrapper checks first"])
def test_the_common_step_and_the_long_way_agree_whoever_checks_for_episode_ends(ends_often: bool):
    """The fused common step (``step_fast``) returns at once when an episode ended, and the long way books it;
    where episodes end often the wrapper checks ``dones`` first. Either way, the same steps as ``process``."""
    runs, tables, calls = {}, {}, {"done": 0, "none": 0}
    for path in ("process", "fused"):
        reward = cartpole_reward(cell=0.02)
        wrapper = wrapped(reward, path)
        if path == "fused":
            wrapper._count_ends = lambda: None  # keep the setting under test
            wrapper._ends_often = ends_often
            step_fast = wrapper.engine.step_fast

            def counted(*args, step_fast=step_fast):
                total = step_fast(*args)
                calls["done" if total is not None else "none"] += 1
                return total

            wrapper.engine.step_fast = counted
        runs[path] = run(wrapper, 200)
        tables[path] = count_table(reward)
    assert_same_runs(runs["process"], runs["fused"])
    np.testing.assert_array_equal(tables["process"][0], tables["fused"][0])
    assert calls["done"] > 50  # the common step ran, and the long way too
    assert sum(e is not None for step in runs["fused"]["episodes"] for e in step) > 20
    if ends_often:  # the wrapper's check kept episode ends from the compiled step (it is asked only before fusing)
        assert calls["none"] <= 2


class _PassOn(VecEnvWrapper):
    """A vector env wrapper that changes nothing, but is not one whose arrays the reward wrapper knows."""

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


@pytest.mark.parametrize("env", ["CartPole-v1", "HalfCheetah-v5"])
def test_over_a_dummy_vec_env_the_common_step_skips_numbas_dispatcher_and_gives_the_same_steps(env: str):
    """Over SB3's DummyVecEnv (its arrays keep their types) the common step calls numba's compiled entry point
    for the types of its first call; over any other vector env, numba's dispatcher. The same steps bit for bit,
    through a count table's growth (new arrays: the types are found again)."""
    runs, wrappers = {}, {}
    for how in ("process", "pinned", "dispatched"):
        reward = cartpole_reward(cell=0.02) if env == "CartPole-v1" else simhash_reward()
        wrapper = wrappers[how] = wrapped(reward, "process" if how == "process" else "fused", env=env)
        if how == "dispatched":
            wrapper = wrappers[how] = rl.RewardVecWrapper(_PassOn(wrapper.venv), reward)
            wrapper.engine.fuse_after = 1
        runs[how] = run(wrapper, 150)
    pinned, dispatched = wrappers["pinned"].engine._fast, wrappers["dispatched"].engine._fast
    assert pinned.steady and pinned.call not in (pinned.fast, pinned._first_call)  # the entry point
    assert pinned.call == pinned.fast.overloads[pinned.fast.signatures[0]].entry_point
    assert not dispatched.steady and dispatched.call == dispatched.fast
    assert_same_runs(runs["process"], runs["pinned"])
    assert_same_runs(runs["process"], runs["dispatched"])


def test_restored_observations_of_another_dtype_are_read_right_after_a_pinned_step():
    """``set_state`` with previous observations of another dtype than the env's (float64 on CartPole's float32):
    the next common step goes through numba's dispatcher, which reads them right; then the step pins again."""
    rewards = {}
    for how in ("process", "pinned"):
        reward = cartpole_reward(cell=0.02)
        wrapper = wrapped(reward, "process" if how == "process" else "fused")
        wrapper._ends_often = True  # episode ends in Python: only the common step runs compiled
        wrapper._count_ends = lambda: None
        run(wrapper, 40)
        state = wrapper.get_state()
        state["last_obs"] = state["last_obs"].astype(np.float64)
        wrapper.set_state(state)
        rng = np.random.default_rng(1)
        out = []
        for _ in range(20):
            out.append(wrapper.step(rng.integers(2, size=wrapper.num_envs))[1].copy())
        rewards[how] = np.array(out)
    np.testing.assert_array_equal(rewards["process"], rewards["pinned"])
    fast = wrapper.engine._fast
    assert fast.call not in (fast.fast, fast._first_call)  # pinned again, to the env's float32


def test_the_lean_step_is_taken_only_over_a_dummy_vec_env_of_arrays_after_reset():
    """``step_wait`` skips its checks of the env's arrays only where SB3's DummyVecEnv vouches for them (array
    observations) and the reward keeps no batch, and only once reset() gave it previous observations."""
    plain = wrapped(cartpole_reward(), "fused")
    assert not plain._lean
    with pytest.raises(RuntimeError, match="call reset"):
        plain.step(np.zeros(4, dtype=np.int64))
    plain.reset()
    assert plain._lean
    plain.set_state(plain.get_state())
    assert plain._lean
    behind = rl.RewardVecWrapper(_PassOn(rl.make_vec_env("CartPole-v1", n_envs=2)), cartpole_reward())
    behind.reset()
    assert not behind._lean


    class Keyed(gym.ObservationWrapper):  # dict observations, which a DummyVecEnv hands on as a dict of arrays
        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.observation_space = gym.spaces.Dict({"x": env.observation_space})

        def observation(self, obs: np.ndarray) -> dict:
            return {"x": obs}

    keyed = rl.RewardVecWrapper(DummyVecEnv([lambda: Keyed(gym.make("CartPole-v1"))]), rl.extrinsic())
    keyed.reset()
    assert not keyed._lean
    assert keyed.step(np.array([0]))[1].tolist() == [1.0]


def test_the_common_step_changes_nothing_when_an_episode_ended():
    reward = cartpole_reward(cell=0.02)
    wrapper = wrapped(reward, "fused")
    run(wrapper, 20)
    engine, table = wrapper.engine, reward.terms[2].global_counts
    before = engine._state.copy(), table.slots.copy(), table.tally.copy(), engine.last_info
    obs = wrapper._last_obs
    done = np.array([False, True, False, False])
    # the wrapper's types (float32 totals): over a DummyVecEnv its engine calls the compiled step without numba's
    # dispatcher, for the types of its first call
    assert engine.step_fast(obs, obs + 0.5, np.ones(4, np.float32), done, [{} for _ in range(4)], np.float32) is None
    np.testing.assert_array_equal(engine._state, before[0])
    np.testing.assert_array_equal(table.slots, before[1])
    np.testing.assert_array_equal(table.tally, before[2])
    assert engine.last_info is before[3]


def test_the_wrapper_learns_whether_episodes_end_often():
    wrapper = wrapped(cartpole_reward(), "fused")  # random actions: episodes of about 20 steps, 4 envs
    assert not wrapper._ends_often  # until episodes are seen: the compiled step checks
    run(wrapper, 300)
    assert wrapper._ends_often and wrapper._mean_length < 30


def test_a_term_without_step_kernel_keeps_the_batch_path():
    seen = []

    def speed(next_obs: np.ndarray) -> np.ndarray:
        seen.append(next_obs.shape)
        return np.abs(next_obs[:, 1])

    reward = rl.extrinsic() + rl.function(speed, name="speed")
    wrapper = wrapped(reward, "fused")
    run(wrapper, 5)
    assert wrapper.engine._plan is None
    assert len(seen) == 5


def test_learning_and_shared_terms_keep_the_batch_path():
    count = rl.bonus.count(GridKey(dims=["cart_position"], cell=[0.1]))
    shared = wrapped(count + 0.5 * rl.transforms.clip(count, low=0.0, high=0.5), "fused")
    run(shared, 3)
    assert shared.engine._plan is None


def test_over_a_dummy_vec_env_the_totals_go_into_the_envs_own_reward_array():
    """DummyVecEnv hands over a fresh reward array each step: the common step writes the totals into it."""
    wrapper = wrapped(cartpole_reward(), "fused")
    run(wrapper, 20)
    engine, obs = wrapper.engine, wrapper._last_obs
    assert engine.totals_in_reward
    assert not rl.RewardVecWrapper(_PassOn(wrapper.venv), rl.extrinsic()).engine.totals_in_reward
    rewards = np.ones(4, np.float32)
    infos, f32 = [{} for _ in range(4)], np.dtype(np.float32)  # the wrapper's dtype
    total = engine.step_fast(obs, obs.copy(), rewards, np.zeros(4, bool), infos, f32)
    assert total is rewards
    np.testing.assert_array_equal(engine._step[-2], 1.0)  # the env's rewards, read before the totals went in
    np.testing.assert_array_equal(engine._step[-1].astype(np.float32), rewards)


@pytest.mark.parametrize("policy", ["zero", "clip"])
def test_a_total_out_of_range_is_repaired_from_the_steps_extrinsic_row_when_the_totals_overwrote_the_rewards(
    policy: str,
):
    """An infinite component on the common step: the totals (in the env's reward array) are written, then
    repaired; the repair reads the env's rewards from the step's extrinsic row, so the step's values and the
    episode sums are those of ``process``."""
    runs = {}
    for path in ("process", "fused"):
        reward = 0.5 * rl.extrinsic() + rl.shaping.potential("cartpole_upright", gamma=0.99) + rl.constant(np.inf)
        runs[path] = run(wrapped(reward, path, nan_policy=policy), 80)
    assert_same_runs(runs["process"], runs["fused"])
    assert any(e is not None for step in runs["fused"]["episodes"] for e in step)


def test_non_finite_values_are_caught_on_the_fast_paths():
    for path in PATHS:
        wrapper = wrapped(rl.extrinsic() + rl.constant(float("inf")), path)
        wrapper.reset()
        with pytest.raises(rl.NonFiniteRewardError, match="'constant'"):
            wrapper.step(np.zeros(4, dtype=np.int64))


def test_fused_engine_pickles_and_refuses_after_a_reset():
    reward = cartpole_reward()
    wrapper = wrapped(reward, "fused")
    run(wrapper, 10)
    fused = wrapper.engine._plan
    assert isinstance(fused, FusedStep) and fused.fn is not None
    engine = pickle.loads(pickle.dumps(wrapper.engine))
    assert engine._plan is False  # asked again at its first step
    assert copy.deepcopy(wrapper.engine)._plan is False
    wrapper.reset()  # a new start asks the terms again (state may have been loaded) ...
    wrapper.step(np.zeros(4, dtype=np.int64))
    refused = wrapper.engine._plan
    assert isinstance(refused, FusedStep) and refused is not fused
    assert refused.fn is fused.fn and refused.fast is fused.fast  # ... and reuses the compiled functions at once


@pytest.mark.parametrize("reset", [True, False], ids=["then a reset", "mid-run"])
def test_state_loaded_into_a_fused_wrapper_is_what_the_next_steps_count_in(reset: bool):
    """A count table loaded into a fused wrapper (new arrays), with or without a reset after it, is what the
    next steps count in, as on the batch path."""
    totals, tables = {}, {}
    for path in ("process", "fused"):
        reward = cartpole_reward(cell=0.02)
        wrapper = wrapped(reward, path)
        run(wrapper, 50)
        donor = cartpole_reward(cell=0.02)
        run(wrapped(donor, "process"), 120, seed=5)
        reward.load_state_dict(donor.state_dict())  # the donor's counts, in new arrays
        if reset:
            totals[path] = run(wrapper, 50, seed=1)["rewards"]  # run() resets first
        else:
            totals[path] = [wrapper.step(np.ones(4, dtype=np.int64))[1] for _ in range(30)]
        tables[path] = count_table(reward)
    np.testing.assert_array_equal(totals["process"], totals["fused"])
    np.testing.assert_array_equal(tables["process"][0], tables["fused"][0])


def test_fused_source_applies_weights_the_kernels_do_not_take():
    wrapper = wrapped(cartpole_reward(), "fused")
    run(wrapper, 2)
    source = wrapper.engine._plan.source
    assert "row[i] *= " not in source  # the potential's weight is 1
    assert "0.5, state[0]" in source  # the extrinsic kernel takes its weight
    wrapper = wrapped(rl.extrinsic() + 2.0 * rl.shaping.potential("cartpole_upright", gamma=0.99), "fused")
    run(wrapper, 2)
    assert "row[i] *= 2.0" in wrapper.engine._plan.source


def test_engine_default_fuses_only_after_a_warm_up():
    assert RewardEngine.fuse_after == 500
    wrapper = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), cartpole_reward())
    wrapper.reset()
    for _ in range(10):
        wrapper.step(np.zeros(2, dtype=np.int64))
    assert wrapper.engine._plan.fn is None and wrapper.engine._kernel_steps == 10
