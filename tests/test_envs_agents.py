"""Env presets build seeded vector envs; sparse MuJoCo variants pay only past the goal; agent presets merge."""

from __future__ import annotations

import numpy as np
import pytest
from rewardlab.agents import hyperparams
from rewardlab.envs import get_preset, presets

import rewardlab as rl


def test_make_vec_env_is_seeded():
    a = rl.make_vec_env("CartPole-v1", n_envs=3, seed=7).reset()
    b = rl.make_vec_env("CartPole-v1", n_envs=3, seed=7).reset()
    c = rl.make_vec_env("CartPole-v1", n_envs=3, seed=8).reset()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_presets_cover_classic_control_and_mujoco():
    table = presets()
    for env_id in [
        "CartPole-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
        "Acrobot-v1",
        "HalfCheetah-v5",
        "Hopper-v5",
        "Walker2d-v5",
        "Ant-v5",
        "Humanoid-v5",
    ]:
        assert env_id in table
    assert get_preset("MountainCar-v0").obs_index("velocity") == 1
    with pytest.raises(ValueError, match="did you mean 'position'"):
        get_preset("MountainCar-v0").obs_index("positon")
    with pytest.raises(ValueError, match="unknown environment 'CartPole-v2' \\(did you mean 'CartPole-v1'"):
        get_preset("CartPole-v2")


@pytest.mark.parametrize("env_id", ["rewardlab/SparseHalfCheetah-v5", "rewardlab/SparseHopper-v5"])
def test_sparse_mujoco_pays_only_past_goal(env_id):
    venv = rl.make_vec_env(env_id, n_envs=1, seed=0)
    obs = venv.reset()
    assert abs(obs[0, 0]) < 0.2  # x position at the start
    _, rew, _, infos = venv.step(np.zeros((1, venv.action_space.shape[0])))
    assert rew[0] == 0.0 and "dense_reward" in infos[0]
    inner = venv.envs[0].unwrapped
    inner.data.qpos[0] = 100.0  # teleport past the goal
    obs, rew, _, infos = venv.step(np.zeros((1, venv.action_space.shape[0])))
    assert rew[0] == 1.0 and infos[0]["is_success"] and obs[0, 0] > 50


def test_mujoco_shaping_with_forward_progress_runs():
    reward = rl.extrinsic() + rl.shaping.potential("forward_progress", index=0, gamma=0.99)
    venv = rl.RewardVecWrapper(rl.make_vec_env("rewardlab/SparseHalfCheetah-v5", n_envs=2), reward)
    venv.reset()
    _, rew, _, infos = venv.step(np.zeros((2, 6)))
    assert np.all(np.isfinite(rew)) and "shaping" in infos[0]["rewardlab"]


def test_agent_presets_merge_default_family_env():
    hp = hyperparams("ppo", "MountainCar-v0", "classic_control")
    assert hp["n_envs"] == 16 and hp["normalize"] is True and hp["policy"] == "MlpPolicy"
    assert hyperparams("ppo", "HalfCheetah-v5", "mujoco")["n_steps"] == 512
    assert hyperparams("sac", "Pendulum-v1")["learning_rate"] == 0.001
    with pytest.raises(ValueError, match="unknown algorithm 'ppo3'"):
        hyperparams("ppo3", "CartPole-v1")
