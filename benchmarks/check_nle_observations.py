"""Do reward terms see the true observations on NetHack/MiniHack? Counts wrong steps, episode ends and rows.

A recorder on top of the preset env deep-copies every observation the moment
the env returns it (that copy is the truth) and passes the previous and the
new one in ``info``. A learning probe term then compares what it receives
(``obs``, ``next_obs`` at ``compute``; every row of the ``update`` batches)
with the truth, through ``RewardWrapper``, ``DummyVecEnv`` + ``RewardVecWrapper``
and ``SubprocVecEnv`` + ``RewardVecWrapper``. It also counts episode ends whose
last observation is NLE's blank screen (blstats all 0).

    .venv/bin/python benchmarks/check_nle_observations.py [--env MiniHack-Room-Random-5x5-v0] [--steps 400]
        [--without-copy]   # the preset without its first wrapper, NLEObservationCopy
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import gymnasium as gym
import numpy as np

import rewardlab as rl
from rewardlab.core.term import RewardTerm

TRUE_PREV, TRUE_NEXT = "check/true_obs", "check/true_next_obs"


class Recorder(gym.Wrapper):
    """Deep-copies each observation as it comes out of the env; hands the truth to the probe in ``info``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._prev: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        self._prev = copy.deepcopy(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        now = copy.deepcopy(obs)
        info[TRUE_PREV], info[TRUE_NEXT] = self._prev, now
        self._prev = now
        return obs, reward, terminated, truncated, info


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray], i: int) -> bool:
    return all(np.array_equal(a[k][i], b[k]) for k in b)


class Probe(RewardTerm):
    """Compares the observations it receives with the recorder's truth; learns, so the engine buffers."""

    name = "probe"
    learns = True

    def __init__(self) -> None:
        super().__init__()
        self.steps = self.changed = self.wrong_obs = self.wrong_next = 0
        self.rows = self.wrong_rows = 0
        self.ends = self.wrong_end_next = self.blank_ends = 0

    def compute(self, batch: rl.Transitions) -> np.ndarray:
        for i, info in enumerate(batch.infos):
            self.steps += 1
            prev, nxt = info[TRUE_PREV], info[TRUE_NEXT]
            self.changed += not all(np.array_equal(prev[k], nxt[k]) for k in nxt)
            self.wrong_obs += not _same(batch.obs, prev, i)
            self.wrong_next += not _same(batch.next_obs, nxt, i)
            if batch.terminated[i] or batch.truncated[i]:
                self.ends += 1
                self.wrong_end_next += not _same(batch.next_obs, nxt, i)
                self.blank_ends += not np.any(batch.next_obs["blstats"][i])
        return np.zeros(batch.n)

    def update(self, batch: rl.Transitions) -> dict[str, float]:
        for i, info in enumerate(batch.infos):
            self.rows += 1
            self.wrong_rows += not (_same(batch.obs, info[TRUE_PREV], i) and _same(batch.next_obs, info[TRUE_NEXT], i))
        return {}

    def report(self) -> str:
        return (
            f"{self.steps} steps ({self.changed} where the observation changed), {self.ends} episode ends | "
            f"wrong obs {self.wrong_obs}, wrong next_obs {self.wrong_next} (at episode ends {self.wrong_end_next}), "
            f"blank last observations {self.blank_ends}/{self.ends} | update rows wrong {self.wrong_rows}/{self.rows}"
        )


def make(env_id: str, without_copy: bool = False) -> gym.Env:
    import importlib

    from rewardlab.envs import get_preset, make_env

    if not without_copy:
        return Recorder(make_env(env_id))
    preset = get_preset(env_id)
    importlib.import_module(preset.module)
    env = gym.make(env_id, **preset.kwargs)
    for path in preset.wrappers:
        if not path.endswith(":NLEObservationCopy"):
            module, _, attr = path.partition(":")
            env = getattr(importlib.import_module(module), attr)(env)
    return Recorder(env)


def main() -> None:
    import functools

    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MiniHack-Room-Random-5x5-v0")
    parser.add_argument("--steps", type=int, default=400, help="env steps per wrapper (vector steps × n_envs)")
    parser.add_argument("--n-envs", type=int, default=2)
    parser.add_argument("--without-copy", action="store_true", help="leave out the preset's NLEObservationCopy")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    probe = Probe()
    env = rl.RewardWrapper(make(args.env, args.without_copy), probe, update_every=32)
    env.reset(seed=0)
    for _ in range(args.steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()
    print(f"RewardWrapper:                   {probe.report()}")

    for name, cls in (("DummyVecEnv", DummyVecEnv), ("SubprocVecEnv", SubprocVecEnv)):
        probe = Probe()
        venv = cls([functools.partial(make, args.env, args.without_copy)] * args.n_envs)
        venv.seed(0)
        wrapped = rl.RewardVecWrapper(venv, probe, update_every=16)
        wrapped.reset()
        for _ in range(args.steps // args.n_envs):
            wrapped.step(rng.integers(venv.action_space.n, size=args.n_envs))
        wrapped.close()
        print(f"{name + ' + RewardVecWrapper:':<32} {probe.report()}")


if __name__ == "__main__":
    main()
