"""Env descriptions for code generation: each one checked against the real observation layout."""

from __future__ import annotations

import numpy as np
import pytest
from rewardlab.envs import get_preset, make_env, presets

from rewardlab.codegen.describe import describe_env, supported_envs

ENVS = supported_envs()


def test_every_classic_control_and_mujoco_preset_is_described():
    families = {p.id for p in presets().values() if p.family in ("classic_control", "mujoco")}
    assert set(ENVS) == families
    assert {"CartPole-v1", "Pendulum-v1", "Hopper-v5", "Humanoid-v5", "rewardlab/SparseHopper-v5"} <= families


@pytest.mark.parametrize("env_id", ENVS)
def test_description_matches_the_real_observation(env_id):
    d = describe_env(env_id)
    env = make_env(env_id)
    env.action_space.seed(1)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (d.obs_dim,)
    covered = np.zeros(d.obs_dim, dtype=int)
    for e in d.obs:
        covered[e.start : e.stop] += 1
    assert (covered == 1).all(), "every observation dim is described exactly once"
    for _ in range(15):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        np.testing.assert_allclose(d.expected_observation(env), obs, rtol=1e-5, atol=1e-5)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    names = get_preset(env_id).obs_names
    if names:  # the preset's names are the description's names
        assert [e.name for e in d.obs] == list(names)
    text = d.render()
    assert f"(n, {d.obs_dim}) float64" in text and "# episode:" in text and "terminated" in text


def test_descriptions_read_numbers_from_the_env():
    cartpole = describe_env("CartPole-v1").render()
    assert "|pole_angle| > 0.2094 rad" in cartpole and "truncated after 500 steps" in cartpole
    assert "action == 1: push the cart right (10 N)" in cartpole
    hopper = describe_env("Hopper-v5")
    assert hopper.constants == {"dt": pytest.approx(0.008)}
    text = hopper.render()
    assert "5  rootx_vel" in text and "forward velocity of the torso (clipped to +-10) [m/s]" in text
    assert "the torso height leaves (0.7, inf)" in text and "torque on joint thigh_joint (gear 200)" in text
    ant = describe_env("Ant-v5").render()
    assert "27:105  cfrc_ext" in ant and "clipped to [-1, 1]" in ant and "root_qw" in ant
    cheetah = describe_env("HalfCheetah-v5").render()
    assert "never terminates" in cheetah and "8  rootx_vel" in cheetah


def test_unsupported_envs_are_refused_with_the_list():
    with pytest.raises(ValueError, match="classic-control and MuJoCo presets.*Supported: CartPole-v1"):
        describe_env("FrozenLake-v1")
