"""Built-in potentials and keys check the observation layout when bound: every preset they do not fit is refused."""

from __future__ import annotations

import functools

import pytest
from rewardlab.envs import make_env, presets

from rewardlab.config.registry import ConfigError
from rewardlab.config.reward_config import build_reward
from rewardlab.core.env_info import EnvInfo

NETHACK = {k for k, p in presets().items() if p.family in ("nethack", "minihack")}
ARRAY = set(presets()) - NETHACK
MOUNTAINCAR = {"MountainCar-v0", "MountainCarContinuous-v0"}

#: built-in → (reward spec, presets it fits, what every refusal names besides the env: alternatives split by |)
POTENTIALS = {
    "mountaincar_height": ({"potential": "mountaincar_height"}, MOUNTAINCAR, "'position'|flat array"),
    "mountaincar_energy": ({"potential": "mountaincar_energy"}, MOUNTAINCAR, "'position'|flat array"),
    "cartpole_upright": ({"potential": "cartpole_upright"}, {"CartPole-v1"}, "'cart_position'|flat array"),
    "pendulum_upright": ({"potential": "pendulum_upright"}, {"Pendulum-v1"}, "'cos_theta'|flat array"),
    "acrobot_height": ({"potential": "acrobot_height"}, {"Acrobot-v1"}, "'cos_theta1'|flat array"),
    "goal_distance": ({"potential": {"name": "goal_distance", "goal": [0.5]}}, ARRAY, "flat array observations"),
    "goal_distance_dim7": (
        {"potential": {"name": "goal_distance", "goal": [0.5], "dims": [7]}},
        {k for k in ARRAY if k not in MOUNTAINCAR | {"CartPole-v1", "Pendulum-v1", "Acrobot-v1"}},
        "reads observation dimension 7|flat array",
    ),
    "forward_progress": ({"potential": "forward_progress"}, ARRAY, "flat array observations"),
}
KEYS = {
    "grid": ("grid", ARRAY, "set field to one of"),
    "grid_named": ({"grid": {"dims": ["position", "velocity"]}}, MOUNTAINCAR, "dimension 'position'|set field"),
    "simhash": ("simhash", ARRAY, "set field to one of"),
    "obs": ("obs", ARRAY, "set field to one of"),
    "position": ("position", NETHACK, "blstats"),
    "message": ("message", NETHACK, "'message'"),
    "glyphs": ("glyphs", NETHACK, "'glyphs'"),
}


@functools.cache
def env_info(env_id: str) -> EnvInfo:
    env = make_env(env_id)
    try:
        return EnvInfo.from_env(env)
    finally:
        env.close()


def _check(spec: dict, fits: set[str], named: str) -> None:
    for env_id in sorted(presets()):
        reward = build_reward(spec)
        if env_id in fits:
            reward.bind(env_info(env_id))
            continue
        with pytest.raises(ConfigError) as err:
            reward.bind(env_info(env_id))
        message = str(err.value)
        assert env_id in message and any(n in message for n in named.split("|")) and "\n" not in message, message


@pytest.mark.parametrize("name", list(POTENTIALS))
def test_potential_refuses_every_preset_it_does_not_fit(name):
    spec, fits, named = POTENTIALS[name]
    _check({"term": "potential", **spec}, fits, named)


@pytest.mark.parametrize("name", list(KEYS))
def test_key_refuses_every_preset_it_does_not_fit(name):
    key, fits, named = KEYS[name]
    _check({"term": "count", "key": key}, fits, named)


def test_messages_name_the_dimension_and_the_valid_names():
    with pytest.raises(ConfigError, match=r"reads 'cart_position' at observation dimension 0, but MountainCar-v0 has "
                       r"2-dim observations \(position, velocity\); it is made for CartPole-v1"):  # fmt: skip
        build_reward({"term": "potential", "potential": "cartpole_upright"}).bind(env_info("MountainCar-v0"))
    with pytest.raises(ConfigError, match=r"dimension 7 but MountainCar-v0 has 2-dim .*; valid: 0..1"):
        spec = {"term": "potential", "potential": {"name": "goal_distance", "goal": [0.5], "dims": [7]}}
        build_reward(spec).bind(env_info("MountainCar-v0"))
    with pytest.raises(ConfigError, match=r"grid dims \[5\] are out of range: CartPole-v1 observations have 4"):
        build_reward({"term": "count", "key": {"grid": {"dims": [0, 5]}}}).bind(env_info("CartPole-v1"))
    with pytest.raises(ConfigError, match=r"reads all 4 dims of CartPole-v1 but has 2 cell sizes"):
        build_reward({"term": "count", "key": {"grid": {"cell": [0.1, 0.2]}}}).bind(env_info("CartPole-v1"))
    build_reward({"term": "count", "key": {"grid": {"cell": 0.1}}}).bind(env_info("CartPole-v1"))  # one number: all


def test_a_cell_list_shorter_than_dims_is_an_error_but_one_number_broadcasts():
    with pytest.raises(ConfigError, match=r"grid has 2 dims \['position', 'velocity'\] but 1 cell sizes \[0.1\]"):
        build_reward({"term": "count", "key": {"grid": {"dims": ["position", "velocity"], "cell": [0.1]}}})
    key = build_reward({"term": "count", "key": {"grid": {"dims": ["position", "velocity"], "cell": 0.1}}}).key
    key.bind(env_info("MountainCar-v0"))
    assert key.cell.tolist() == [0.1]  # broadcast to both dims on the first batch
