"""Batched QD rollouts: the same numbers as a plain loop, a start per evaluation, several episodes, backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rewardlab.envs import make_env

from rewardlab.qd.policies import FlatPolicy, evaluation_seed, rollout_many
from rewardlab.qd.search import Evaluator, SearchConfig, run_search

CONT = "MountainCarContinuous-v0"


def policy_for(env_id: str, hidden: int = 0) -> FlatPolicy:
    env = make_env(env_id)
    return FlatPolicy.for_spaces(env.observation_space, env.action_space, hidden=hidden)


def plain_loop(env_id: str, policy: FlatPolicy, solution: np.ndarray, seed: int, max_steps: int) -> tuple:
    """The reference: one env, one policy, FlatPolicy.act per step."""
    env = make_env(env_id)
    obs, _ = env.reset(seed=seed)
    observations, total = [obs], 0.0
    for _ in range(max_steps):
        obs, reward, terminated, truncated, _ = env.step(policy.act(solution, obs))
        observations.append(obs)
        total += float(reward)
        if terminated or truncated:
            break
    return total, np.array(observations, dtype=np.float32)


@pytest.mark.parametrize(("env_id", "hidden"), [(CONT, 0), ("MountainCar-v0", 4)])
def test_batched_rollouts_equal_a_plain_loop_per_solution(env_id, hidden):
    policy = policy_for(env_id, hidden)
    solutions = np.random.default_rng(0).normal(0, 1.0, (7, policy.n_params))
    # 3 envs for 7 solutions: slots take new solutions as their episodes end, with the new solution's weights
    batched = rollout_many(env_id, policy, solutions, seed=4, first_index=10, n_envs=3, max_steps=80)
    for i, (solution, got) in enumerate(zip(solutions, batched)):
        ret, observations = plain_loop(env_id, policy, solution, evaluation_seed(4, 10 + i, 0), 80)
        assert got.ret == pytest.approx(ret, rel=1e-9, abs=1e-9)
        np.testing.assert_array_equal(got.episodes[0].observations, observations)
        assert got.steps == len(observations) - 1 == got.episodes[0].length


def test_every_evaluation_starts_from_its_own_seed_and_fixed_starts_repeat():
    policy = policy_for(CONT)
    same = np.zeros((4, policy.n_params))  # one solution evaluated four times
    each = rollout_many(CONT, policy, same, seed=0, max_steps=5)
    starts = {float(e.episodes[0].observations[0, 0]) for e in each}
    assert len(starts) == 4  # four draws from the task's start distribution
    fixed = rollout_many(CONT, policy, same, seed=0, max_steps=5, starts="fixed")
    assert len({float(e.episodes[0].observations[0, 0]) for e in fixed}) == 1
    # the seed is a function of (run seed, evaluation index, episode), not of the batching
    again = rollout_many(CONT, policy, same[:2], seed=0, max_steps=5, first_index=2, n_envs=1)
    np.testing.assert_array_equal(again[1].episodes[0].observations, each[3].episodes[0].observations)
    assert evaluation_seed(0, 3, 0) == int(np.random.SeedSequence([0, 3, 0]).generate_state(1)[0])
    assert evaluation_seed(0, 3, 0) != evaluation_seed(1, 3, 0) != evaluation_seed(0, 3, 1)


def test_several_episodes_per_evaluation_average_the_return_and_record_actions():
    policy = policy_for("MountainCar-v0")
    solutions = np.random.default_rng(1).normal(0, 1.0, (2, policy.n_params))
    out = rollout_many("MountainCar-v0", policy, solutions, seed=2, episodes=3, max_steps=20, record_actions=True)
    for evaluation in out:
        assert len(evaluation.episodes) == 3 and evaluation.steps == 60
        assert evaluation.ret == pytest.approx(np.mean([e.rewards.sum() for e in evaluation.episodes]))
        assert {len(e.actions) for e in evaluation.episodes} == {20}
        assert len({float(e.observations[0, 0]) for e in evaluation.episodes}) == 3


def test_a_search_with_several_episodes_describes_each_evaluation_by_the_mean(tmp_path):
    config = SearchConfig(env_id=CONT, descriptor="minmax:position", batch_size=4, episodes=2, max_steps=30, seed=0)
    search = run_search(config, tmp_path, iterations=1, progress=False, plot_every=0)
    assert search.evaluations == 4 and search.env_steps == 4 * 2 * 30


def test_ray_backend_gives_the_same_search_as_one_process(tmp_path):
    pytest.importorskip("ray")
    config = SearchConfig(env_id=CONT, descriptor="minmax:position", batch_size=6, max_steps=25, seed=3)
    one = run_search(config, tmp_path / "one", iterations=2, progress=False, plot_every=0)
    ray = run_search(config, tmp_path / "ray", iterations=2, workers=2, backend="ray", progress=False, plot_every=0)
    pd.testing.assert_frame_equal(one.result.data(return_type="pandas"), ray.result.data(return_type="pandas"))


def test_evaluator_names_bad_backends_in_one_line():
    from rewardlab.config.registry import ConfigError

    policy = policy_for(CONT)
    with pytest.raises(ConfigError, match=r"unknown backend 'rey' \(did you mean 'ray'\?\); valid: \['local', 'ray'\]"):
        Evaluator(CONT, policy, backend="rey")
    with pytest.raises(ConfigError, match="--address is for a Ray cluster"):
        Evaluator(CONT, policy, address="auto")
