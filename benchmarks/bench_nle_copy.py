"""The cost of owning NLE's observations: preset vector envs with and without ``NLEObservationCopy``, side by side.

Two SB3 ``DummyVecEnv`` stacks of 8 envs each, built from the same preset, one
with the preset's first wrapper (:class:`rewardlab.envs.nethack.NLEObservationCopy`:
a copy of every observation, the true last state at episode ends) and one
without it. Both step the same pre-drawn random actions; rounds alternate
between the stacks and time CPU time of this process (NLE runs in-process), so
load from other jobs hits both alike; the ratio is the median over rounds.

    nice -n 10 .venv/bin/python benchmarks/bench_nle_copy.py [--rounds 7] [--steps 600]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import time

import gymnasium as gym
import numpy as np
from rewardlab.envs import get_preset
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

ENVS = ("NetHackScore-v0", "MiniHack-Room-Random-15x15-v0")
COPY_WRAPPER = "rewardlab.envs.nethack:NLEObservationCopy"


def make(env_id: str, with_copy: bool) -> gym.Env:
    """The preset env (as ``rewardlab.envs.make_env`` builds it), optionally without the copying wrapper."""
    preset = get_preset(env_id)
    importlib.import_module(preset.module)
    env = gym.make(env_id, **preset.kwargs)
    for path in preset.wrappers:
        if with_copy or path != COPY_WRAPPER:
            module, _, attr = path.partition(":")
            env = getattr(importlib.import_module(module), attr)(env)
    return Monitor(env)


def time_steps(venv: DummyVecEnv, actions: np.ndarray) -> float:
    start = time.process_time()
    for a in actions:
        venv.step(a)
    return time.process_time() - start


def bench(env_id: str, n_envs: int, steps: int, rounds: int) -> dict[str, float]:
    stacks = {}
    for with_copy in (False, True):
        venv = DummyVecEnv([functools.partial(make, env_id, with_copy)] * n_envs)
        venv.seed(0)
        venv.reset()
        stacks[with_copy] = venv
    actions = np.random.default_rng(0).integers(stacks[True].action_space.n, size=(steps, n_envs))
    time_steps(stacks[True], actions[:50])
    time_steps(stacks[False], actions[:50])
    times: dict[bool, list[float]] = {False: [], True: []}
    ratios = []
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for with_copy in order:
            times[with_copy].append(time_steps(stacks[with_copy], actions))
        ratios.append(times[False][-1] / times[True][-1])  # speed with copy / speed without
    for venv in stacks.values():
        venv.close()
    return {
        "without": steps * n_envs / statistics.median(times[False]),
        "with": steps * n_envs / statistics.median(times[True]),
        "ratio": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=600, help="vector steps per timed round")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    args = parser.parse_args()
    print(f"{args.n_envs} envs (DummyVecEnv), {args.steps} vector steps per round, median of {args.rounds} rounds")
    print(f"{'env':<32} {'without copy, steps/s':>22} {'with copy, steps/s':>20} {'with/without':>13} {'target':>7}")
    for env_id in args.envs:
        res = bench(env_id, args.n_envs, args.steps, args.rounds)
        ok = "ok" if res["ratio"] >= 0.97 else "MISSED"
        print(f"{env_id:<32} {res['without']:>22,.0f} {res['with']:>20,.0f} {res['ratio']:>13.3f} {'>=0.97':>7} {ok}")


if __name__ == "__main__":
    main()
