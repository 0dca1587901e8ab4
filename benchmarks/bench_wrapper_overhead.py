"""Wrapper overhead: raw SB3 DummyVecEnv vs the same env under RewardVecWrapper, side by side.

The wrapped env carries a three-term reward: extrinsic + potential shaping
(numba kernel) + a count bonus (numba hash table). Both stacks step the same
pre-drawn random actions; runs alternate raw/wrapped and time CPU time of
this process (not wall time), so other load on the machine hits
both alike, and the reported ratio is the median over rounds.

    .venv/bin/python benchmarks/bench_wrapper_overhead.py [--rounds 7] [--steps 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

import rewardlab as rl  # noqa: E402

CASES = {
    "CartPole-v1": {
        "potential": "cartpole_upright",
        "key": rl.bonus.keys.grid(dims=["cart_position", "pole_angle"], cell=[0.2, 0.02]),
        "target": 1.15,
    },
    "HalfCheetah-v5": {"potential": "forward_progress", "key": rl.bonus.keys.simhash(bits=32), "target": 1.03},
}


def three_term_reward(case: dict) -> rl.RewardTerm:
    return (
        rl.extrinsic()
        + rl.shaping.potential(case["potential"], gamma=0.99)
        + 0.01 * rl.bonus.count(case["key"], mode="global")
    )


def time_steps(venv, actions: np.ndarray) -> float:
    venv.reset()
    start = time.process_time()
    for a in actions:
        venv.step(a)
    return time.process_time() - start


def bench(env_id: str, n_envs: int, steps: int, rounds: int) -> dict[str, float]:
    case = CASES[env_id]
    raw = rl.make_vec_env(env_id, n_envs=n_envs, seed=0)
    wrapped = rl.RewardVecWrapper(rl.make_vec_env(env_id, n_envs=n_envs, seed=0), three_term_reward(case))
    rng = np.random.default_rng(0)
    space = raw.action_space
    if hasattr(space, "n"):
        actions = rng.integers(space.n, size=(steps, n_envs))
    else:
        actions = rng.uniform(space.low, space.high, size=(steps, n_envs, *space.shape)).astype(np.float32)
    time_steps(wrapped, actions[:200])  # compile the numba kernels before timing
    raw_t, wrapped_t, ratios = [], [], []
    for _ in range(rounds):
        r = time_steps(raw, actions)
        w = time_steps(wrapped, actions)
        raw_t.append(r)
        wrapped_t.append(w)
        ratios.append(w / r)
    return {
        "raw_steps_per_s": steps * n_envs / statistics.median(raw_t),
        "wrapped_steps_per_s": steps * n_envs / statistics.median(wrapped_t),
        "ratio": statistics.median(ratios),
        "target": case["target"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3000, help="vector steps per timed round")
    parser.add_argument("--n-envs", type=int, default=8)
    args = parser.parse_args()
    print(f"{'env':<16} {'raw env-steps/s':>16} {'wrapped env-steps/s':>20} {'wrapped/raw':>12} {'target':>8}")
    for env_id in CASES:
        steps = args.steps if env_id == "CartPole-v1" else max(args.steps // 5, 200)
        res = bench(env_id, args.n_envs, steps, args.rounds)
        ok = "ok" if res["ratio"] <= res["target"] else "MISSED"
        print(
            f"{env_id:<16} {res['raw_steps_per_s']:>16,.0f} {res['wrapped_steps_per_s']:>20,.0f} "
            f"{res['ratio']:>12.3f} {res['target']:>7.2f} {ok}"
        )


if __name__ == "__main__":
    main()
