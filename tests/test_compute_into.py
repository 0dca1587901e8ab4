"""``compute_into``: the compiled per-step paths write exactly ``weight × compute(batch)`` and change state alike."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rewardlab as rl
from rewardlab.bonus.keys import GridKey
from rewardlab.core.env_info import EnvInfo


def batches(n_envs: int = 4, steps: int = 30, dims: int = 4):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs = rng.integers(-3, 3, size=(n_envs, dims)).astype(np.float64) * 0.1
        nxt = rng.integers(-3, 3, size=(n_envs, dims)).astype(np.float64) * 0.1
        yield rl.Transitions.from_arrays(
            obs, np.zeros(n_envs), nxt, reward=rng.normal(size=n_envs), terminated=rng.random(n_envs) < 0.2
        )


TERMS = {
    "extrinsic": lambda: rl.extrinsic(),
    "constant": lambda: rl.constant(-0.5),
    "shaping (compiled potential)": lambda: rl.shaping.potential("cartpole_upright", gamma=0.9),
    "count global grid": lambda: rl.bonus.count(GridKey(dims=[0, 2], cell=0.1), mode="global"),
    "count global simhash": lambda: rl.bonus.count(rl.bonus.keys.simhash(bits=8), mode="global"),
    "count episodic": lambda: rl.bonus.count(GridKey(dims=[1], cell=0.1), mode="episodic"),
    "count first visit": lambda: rl.bonus.count(GridKey(dims=[1], cell=0.1), mode="episodic", episodic="first_visit"),
    "count product (plain path)": lambda: rl.bonus.count(GridKey(dims=[1], cell=0.1), mode="product"),
}


@pytest.mark.parametrize("weight", [1.0, 0.01, -2.0])
@pytest.mark.parametrize("make", list(TERMS.values()), ids=list(TERMS))
def test_compute_into_equals_weighted_compute(make, weight):
    plain, fast = make(), make()
    space = gym.spaces.Box(-1.0, 1.0, shape=(4,))
    names = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    info = EnvInfo("CartPole-v1", space, gym.spaces.Discrete(2), 4, names)
    plain.bind(info)
    fast.bind(info)
    out = np.empty(4)
    for step, batch in enumerate(batches()):
        expected = weight * plain(batch)
        fast.compute_into(batch, out, weight)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0, err_msg=f"step {step}")
        if step % 7 == 6:  # episode ends in envs 0 and 2: episodic state resets alike
            plain.reset(np.array([0, 2]))
            fast.reset(np.array([0, 2]))
    assert plain.state_dict().keys() == fast.state_dict().keys()
    for key, value in plain.state_dict().items():
        for k in value:
            np.testing.assert_array_equal(np.sort(value[k]), np.sort(fast.state_dict()[key][k]))
