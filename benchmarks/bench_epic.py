"""Reward analysis speed and accuracy: EPIC at 4096 x 4096 samples, and landscape evaluation.

1. EPIC distance matrix of three MountainCar rewards at evaluating-rewards' default size
   (4096 transitions x 4096 samples of (A, S') per expectation, 50 M reward calls per reward,
   evaluated in chunks of 2^18 transitions), and its agreement with a 4x larger run (16384 samples).
2. Sampled EPIC (4096 x 4096) against the exact tabular EPIC distance on a random 32-state MDP.
3. Landscape of a batched reward on a 200 x 200 grid: batched evaluation vs a per-point loop
   (chunk_size=1, timed on the first 2,000 points), points per second and their ratio.

Run: nice -n 10 .venv/bin/python benchmarks/bench_epic.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

import rewardlab as rl
from rewardlab.analysis import Coverage, epic_matrix, tabular
from rewardlab.analysis.landscape import landscape

torch.set_num_threads(1)


def mountaincar_rewards() -> dict[str, rl.RewardTerm]:
    height = rl.function(lambda next_obs: 0.45 * np.sin(3 * next_obs[:, 0]) + 0.55, name="height")
    # depends on s and s' together, so the expectations E[R(s, A, S')] differ from state to state
    accel = rl.function(lambda obs, next_obs: np.abs(next_obs[:, 1] - obs[:, 1]) * 100 + obs[:, 0], name="accel")
    energy = rl.shaping.potential("mountaincar_energy", gamma=0.99)
    return {"height": height, "height+energy": 2.0 * (height + energy), "accel": accel}


def bench_epic_size() -> None:
    rewards = mountaincar_rewards()
    kw = {"env": "MountainCar-v0", "n_transitions": 4096, "bootstrap": 1000, "seed": 0}
    epic_matrix(rewards, env="MountainCar-v0", n_transitions=64, n_samples=64, bootstrap=0)  # compile numba kernels
    start = time.perf_counter()
    m = epic_matrix(rewards, n_samples=4096, **kw)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    ref = epic_matrix(rewards, n_samples=16384, **kw)
    ref_seconds = time.perf_counter() - start
    print(
        f"EPIC 4096 x 4096, 3 rewards: {seconds:.1f} s ({seconds / 3:.1f} s per reward); "
        f"16384 samples: {ref_seconds:.1f} s"
    )
    for a, b in [("height", "height+energy"), ("height", "accel"), ("height+energy", "accel")]:
        d, r = m[a, b], ref[a, b]
        print(
            f"  {a} vs {b}: {d.value:.4f} [{d.low:.4f}, {d.high:.4f}]  16384 samples: {r.value:.4f}  "
            f"|diff| {abs(d.value - r.value):.4f}"
        )


def bench_tabular_agreement() -> None:
    rng = np.random.default_rng(0)
    n_s, n_a, gamma = 32, 4, 0.99
    tables = [rng.normal(size=(n_s, n_a, n_s)) for _ in range(2)]
    tables[1] = 0.6 * tables[0] + 0.8 * tables[1]  # correlated, distance well inside (0, 1)
    exact = tabular.epic_distance_tabular(tables[0], tables[1], gamma)
    terms = {
        f"r{i}": rl.function(lambda obs, action, next_obs, t=t: t[obs, action, next_obs]) for i, t in enumerate(tables)
    }
    coverage = Coverage(np.arange(n_s), np.arange(n_a))
    start = time.perf_counter()
    m = epic_matrix(terms, coverage=coverage, gamma=gamma, n_transitions=4096, n_samples=4096, bootstrap=1000)
    seconds = time.perf_counter() - start
    d = m["r0", "r1"]
    print(
        f"random {n_s}-state MDP: exact EPIC {exact:.4f}; sampled 4096 x 4096 {d.value:.4f} [{d.low:.4f}, {d.high:.4f}]"
        f" |diff| {abs(d.value - exact):.4f} ({seconds:.1f} s)"
    )


def bench_landscape() -> None:
    height = rl.function(lambda next_obs: 0.45 * np.sin(3 * next_obs[:, 0]) + 0.55, name="height")
    reward = rl.extrinsic() + height + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    landscape(reward, env="MountainCar-v0", resolution=10)  # warm up
    start = time.perf_counter()
    landscape(reward, env="MountainCar-v0", resolution=200)
    batched = 200 * 200 / (time.perf_counter() - start)
    n_loop = 2000
    start = time.perf_counter()
    landscape(reward, env="MountainCar-v0", resolution=(n_loop, 1), chunk_size=1)
    loop = n_loop / (time.perf_counter() - start)
    print(
        f"landscape 200 x 200: batched {batched:,.0f} points/s; per-point loop {loop:,.0f} points/s; "
        f"ratio {batched / loop:.0f}x"
    )


if __name__ == "__main__":
    bench_landscape()
    bench_tabular_agreement()
    bench_epic_size()
