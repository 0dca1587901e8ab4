"""NetHack / MiniHack presets build, time limits become truncations, positions and visits are counted right."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from rewardlab.envs import get_preset, make_env, presets
from rewardlab.envs.nethack import (
    ABORTED,
    TASK_SUCCESSFUL,
    NLESeeding,
    NLETimeLimit,
    PositionVisits,
    agent_positions,
)

import rewardlab as rl

NETHACK_IDS = sorted(k for k, p in presets().items() if p.family in ("nethack", "minihack"))


def test_presets_list_nle_and_minihack_tasks():
    assert {"NetHackScore-v0", "NetHackOracle-v0", "MiniHack-Room-Random-15x15-v0", "MiniHack-KeyRoom-S5-v0"} <= set(
        NETHACK_IDS
    )
    for env_id in NETHACK_IDS:
        preset = get_preset(env_id)
        assert preset.module in ("nle", "minihack")
        assert preset.wrappers == (
            "rewardlab.envs.nethack:NLEObservationCopy",  # first: owns NLE's reused arrays before anyone keeps one
            "rewardlab.envs.nethack:NLESeeding",
            "rewardlab.envs.nethack:NLETimeLimit",
        )
        assert {"blstats", "message"} <= set(preset.kwargs["observation_keys"]), env_id
        assert preset.description


@pytest.mark.parametrize("env_id", NETHACK_IDS)
def test_every_preset_builds_a_dict_vec_env(env_id):
    venv = rl.make_vec_env(env_id, n_envs=1, seed=0)
    obs = venv.reset()
    keys = set(get_preset(env_id).kwargs["observation_keys"])
    assert set(obs) == keys
    assert obs["blstats"].shape == (1, 27) and obs["message"].shape == (1, 256)
    assert obs["glyphs"].shape == (1, 21, 79)
    assert venv.observation_space.contains({k: v[0] for k, v in obs.items()})
    venv.close()


class FakeNLE(gym.Env):
    """Ends after ``length`` steps the way NLE does: terminated=True and an end_status."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, length: int, status: int) -> None:
        self.length, self.status, self.t = length, status, 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return 0, float(done and self.status == TASK_SUCCESSFUL), done, False, {"end_status": self.status * done}


@pytest.mark.parametrize(
    ("status", "terminated", "truncated", "success"),
    [(ABORTED, False, True, False), (TASK_SUCCESSFUL, True, False, True), (1, True, False, False)],  # 1 = death
)
def test_nle_time_limit_turns_aborts_into_truncations(status, terminated, truncated, success):
    env = NLETimeLimit(FakeNLE(3, status))
    env.reset()
    for _ in range(2):
        _, _, te, tr, info = env.step(0)
        assert (te, tr) == (False, False) and "is_success" not in info
    _, _, te, tr, info = env.step(0)
    assert (te, tr, info["is_success"]) == (terminated, truncated, success)


def test_minihack_step_limit_is_a_truncation():
    # Walking west into the wall of a 5x5 room never reaches the stairs (seed 1 puts them elsewhere):
    # MiniHack ends the episode at its own 100-step limit, which the wrapper reports as a truncation.
    env = make_env("MiniHack-Room-Random-5x5-v0")
    env.reset(seed=1)
    west = 3  # nle CompassDirection.W in MiniHack's 8 move actions
    for step in range(1, 101):  # noqa: B007  (the step count is checked after the loop)
        _, _, terminated, truncated, info = env.step(west)
        if terminated or truncated:
            break
    assert step == 100
    assert (terminated, truncated, info["is_success"]) == (False, True, False)
    env.close()


def test_agent_positions_read_row_and_column_from_blstats():
    blstats = np.zeros((2, 27), dtype=np.int64)
    blstats[0, :2] = [40, 10]  # x (column) 40, y (row) 10
    blstats[1, :2] = [3, 7]
    np.testing.assert_array_equal(agent_positions({"blstats": blstats}), [[10, 40], [7, 3]])
    with pytest.raises(KeyError, match="needs the 'blstats'"):
        agent_positions({"glyphs": np.zeros((1, 21, 79))})


def test_position_visits_counts_every_env_step():
    callback = PositionVisits()
    blstats = np.zeros((3, 27), dtype=np.int64)
    blstats[:, :2] = [[5, 2], [5, 2], [6, 2]]
    callback.locals = {"new_obs": {"blstats": blstats}}
    callback._on_step()
    callback._on_step()
    assert callback.counts.sum() == 6
    assert callback.counts[2, 5] == 4 and callback.counts[2, 6] == 2


def rollout_glyphs(seed: int, steps: int = 130) -> np.ndarray:
    venv = rl.make_vec_env("MiniHack-Room-Random-5x5-v0", n_envs=2, seed=seed)
    frames = [venv.reset()["glyphs"]]
    actions = np.random.default_rng(0).integers(0, 8, size=(steps, 2))
    for a in actions:  # crosses at least one episode end (100-step limit)
        frames.append(venv.step(a)[0]["glyphs"])
    venv.close()
    return np.stack(frames)


def test_seeded_vec_envs_replay_the_same_games_across_episodes():
    first, again, other = rollout_glyphs(3), rollout_glyphs(3), rollout_glyphs(4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[:, 0], other[:, 0])
    assert not np.array_equal(first[:, 0], first[:, 1])  # the two envs of one vec env play different games


def test_nle_seeding_draws_new_nethack_seeds_every_episode():
    env = NLESeeding(make_env("MiniHack-Room-Random-5x5-v0").unwrapped)
    env.reset(seed=5)
    first = env.unwrapped.get_seeds()[:2]
    env.reset()
    second = env.unwrapped.get_seeds()[:2]
    env.reset(seed=5)
    assert env.unwrapped.get_seeds()[:2] == first != second
    env.close()
