"""The wrappers' running state (episode sums, previous observations, update schedule) saves and restores exactly."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from fake_envs import ReusingEnv, positions
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl


class Learner(rl.RewardTerm):
    """Its value grows with the rows it trained on: a missed or extra update shows in the reward."""

    name = "learner"
    learns = True

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def compute(self, batch: rl.Transitions) -> np.ndarray:
        return 0.01 * self.rows + 0.1 * positions(batch.next_obs)

    def update(self, batch: rl.Transitions) -> dict[str, float]:
        self.rows += int(positions(batch.obs).sum() + 100)  # depends on the buffered batches, not only their count
        return {}


def reward() -> rl.RewardTerm:
    shaping = rl.shaping.potential(lambda obs: positions(obs).astype(np.float64), gamma=0.9)
    return rl.extrinsic() + shaping + Learner()


def vec_stack() -> rl.RewardVecWrapper:
    envs = [lambda k=k: ReusingEnv(lengths=(4, 7), kinds=("terminated", "truncated"), start=k) for k in range(2)]
    return rl.RewardVecWrapper(DummyVecEnv(envs), reward(), update_every=3)


def gym_stack() -> rl.RewardWrapper:
    return rl.RewardWrapper(ReusingEnv(lengths=(4, 7), kinds=("terminated", "truncated")), reward(), update_every=3)


def run(env, actions) -> list:
    """Rewards, step values and episode sums of each step (the gym wrapper resets at episode ends)."""
    out = []
    for a in actions:
        if isinstance(env, gym.Env):
            _, r, terminated, truncated, info = env.step(int(a[0]))
            if terminated or truncated:
                env.reset()
            rewards, infos = [r], [info]
        else:
            _, rewards, _, infos = env.step(a)
        out.append(
            (
                np.asarray(rewards).tolist(),
                [dict(i["rewardlab"]) for i in infos],
                [i.get("rewardlab_episode") for i in infos],
            )
        )
    return out


def scramble(env) -> None:
    """Lose the wrapper's running state (as a process restarted from the env's state would)."""
    env.engine.reset()
    env.engine.set_state({**env.engine.get_state(), "steps_since_update": 0, "buffer": []})
    env._last_obs = rl.wrappers.observations.copy_observation(env._last_obs) * 0 + 5


@pytest.mark.parametrize("make", [vec_stack, gym_stack], ids=["vec", "gym"])
@pytest.mark.parametrize("restore", [True, False])
def test_state_round_trip_continues_exactly(make, restore):
    actions = np.random.default_rng(0).integers(0, 3, size=(25, 2))
    a, b = make(), make()
    for env in (a, b):
        env.reset()
        run(env, actions[:8])  # mid-episode in every env, with batches buffered for the learner
    state = pickle.loads(pickle.dumps(a.get_state()))
    assert state["engine"]["episode_sums"].shape == (5, 1 if make is gym_stack else 2) and state["engine"]["buffer"]
    scramble(b)
    if restore:
        b.set_state(state)
    want, got = run(a, actions[8:]), run(b, actions[8:])
    if restore:
        assert got == want
    else:  # the test can fail: without the state the continuation differs
        assert got != want


def test_set_state_refuses_another_reward():
    a = vec_stack()
    a.reset()
    other = rl.RewardVecWrapper(DummyVecEnv([lambda: ReusingEnv()] * 2), rl.extrinsic())
    with pytest.raises(ValueError, match=r"components \['extrinsic', 'shaping', 'learner'\]"):
        other.set_state(a.get_state())
