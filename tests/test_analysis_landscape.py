"""Landscapes: values equal the term at the grid points, axes by name, fixed/background dims, no side effects."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.analysis import landscape, position_map
from rewardlab.analysis.env_rewards import env_reward_model
from rewardlab.core.term import RewardTerm


def height_term() -> RewardTerm:
    return rl.function(lambda next_obs: 0.45 * np.sin(3 * next_obs[:, 0]) + 0.55, name="height")


def test_values_equal_the_terms_at_the_grid_points():
    reward = rl.extrinsic() + height_term() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    land = landscape(reward, env="MountainCar-v0", axes=("position", "velocity"), resolution=(7, 5))
    assert land.labels == ("position", "velocity") and land.dims == (0, 1)
    assert land.x[0] == pytest.approx(-1.2) and land.x[-1] == pytest.approx(0.6) and len(land.y) == 5
    model = env_reward_model("MountainCar-v0")
    phi = rl.shaping.potential("mountaincar_energy").potential
    for j, i in [(0, 0), (2, 3), (4, 6)]:
        point = np.array([[land.x[i], land.y[j]]], dtype=np.float32)
        r, term = model(point, np.array([0]), point)
        batch = rl.Transitions.from_arrays(point, np.array([0]), point, r, term)
        expected = reward.components(batch)
        for name, value in expected.items():
            assert land[name][j, i] == pytest.approx(value[0], rel=1e-6, abs=1e-9), name
        assert land["total"][j, i] == pytest.approx(sum(v[0] for v in expected.values()))
        assert land["Φ shaping"][j, i] == pytest.approx(phi(point)[0])
    # the goal corner terminates: the shaping term there is -Φ(s), not (γ-1)Φ(s)
    assert land["shaping"][4, 6] == pytest.approx(-phi(np.array([[0.6, 0.07]], dtype=np.float32))[0], rel=1e-5)
    assert land.panels() == ["extrinsic", "height", "Φ shaping", "total"]


def test_batched_and_point_by_point_evaluation_agree():
    reward = height_term() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    a = landscape(reward, env="MountainCar-v0", resolution=6)
    b = landscape(reward, env="MountainCar-v0", resolution=6, chunk_size=1)
    for name in a.values:
        np.testing.assert_allclose(a[name], b[name])


def test_other_dimensions_fixed_by_name_or_averaged_over_background():
    speed = rl.function(lambda obs: obs[:, 2], name="angular_velocity")
    land = landscape(speed, env="Pendulum-v1", axes=("cos_theta", "sin_theta"), fixed={"angular_velocity": 0.5})
    np.testing.assert_allclose(land["angular_velocity"], 0.5)
    background = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    land = landscape(speed, env="Pendulum-v1", axes=(0, 1), background=background, resolution=4)
    np.testing.assert_allclose(land["angular_velocity"], 2.0)
    with pytest.raises(ValueError, match="did you mean 'sin_theta'"):
        landscape(speed, env="Pendulum-v1", axes=("cos_theta", "sin_thta"))
    with pytest.raises(ValueError, match="grid axis"):
        landscape(speed, env="Pendulum-v1", axes=(0, 1), fixed={"sin_theta": 0.0})


def test_one_step_model_gives_the_shaping_of_a_move():
    shaping = rl.shaping.potential(lambda o: o[:, 0], gamma=1.0)
    land = landscape(shaping, env="MountainCar-v0", resolution=5, next_obs_fn=lambda o: o + np.array([0.1, 0.0]))
    np.testing.assert_allclose(land["shaping"][:, :-1], 0.1, rtol=1e-5)  # Φ(s') − Φ(s) = 0.1 away from the goal


class Counting(RewardTerm):
    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.modes: list[bool] = []

    def compute(self, batch):
        self.modes.append(self.training)
        if self.training:
            self.seen += batch.n
        return np.zeros(batch.n)


def test_landscape_does_not_count_grid_points():
    term = Counting()
    land = landscape(term, env="MountainCar-v0", resolution=10)
    assert term.seen == 0 and term.modes == [] and term.training
    assert land["counting"].shape == (10, 10)


def test_unbounded_dims_need_bounds():
    term = rl.function(lambda obs: obs[:, 0], name="x")
    with pytest.raises(ValueError, match="unbounded"):
        landscape(term, env="CartPole-v1", axes=("cart_velocity", "pole_angular_velocity"))
    land = landscape(term, env="CartPole-v1", axes=(1, 3), bounds=((-1, 1), (-2, 2)), resolution=3)
    assert land.y.tolist() == [-2.0, 0.0, 2.0]


def test_position_map_by_hand():
    x, y = np.array([1, 1, 78, 0]), np.array([2, 2, 20, 0])
    values = np.array([1.0, 3.0, -1.0, 5.0])
    mean = position_map(x, y, values)
    assert mean.shape == (21, 79)
    assert mean[2, 1] == 2.0 and mean[20, 78] == -1.0 and mean[0, 0] == 5.0
    assert np.isnan(mean).sum() == 21 * 79 - 3
    assert position_map(x, y, values, reduce="count")[2, 1] == 2
    assert position_map(x, y, values, reduce="max")[2, 1] == 3.0
    assert position_map(x, y, values, reduce="sum")[2, 1] == 4.0
    with pytest.raises(ValueError, match="outside the 21x79 map"):
        position_map(np.array([79]), np.array([0]), np.array([1.0]))
