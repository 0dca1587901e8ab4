"""The cost of exact resume: checkpoint size and time with the run state (run_state.pkl) vs without it.

A checkpoint without the run state is what rewardlab wrote before exact resume (model, replay buffer,
VecNormalize, reward state). Both are written alternately from the same trained run, ``--rounds`` times each;
the script prints the median wall time of each, their ratio and the sizes on disk.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_checkpoint_cost.py --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rewardlab.runs.checkpoint import save_checkpoint
from rewardlab.runs.exact import RUN_STATE_FILE, capture
from rewardlab.train import RunConfig, build_run

COUNT = {"term": "count", "key": {"grid": {"dims": [0, 1], "cell": 0.1}}, "weight": 0.01}
CASES = {
    "CartPole-v1 PPO, 8 envs": dict(env="CartPole-v1", reward=["extrinsic", COUNT], n_envs=8, steps=4096),
    "Pendulum-v1 SAC, 4 envs": dict(env="Pendulum-v1", reward=["extrinsic", COUNT], algo="sac", n_envs=4,
                                    steps=2000, hyperparams={"learning_starts": 200, "buffer_size": 100_000}),
    "HalfCheetah-v5 PPO, 8 envs": dict(env="HalfCheetah-v5", reward=["extrinsic", COUNT], n_envs=8, steps=4096),
}  # fmt: skip


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(name: str, config: dict, rounds: int) -> dict:
    model, venv, _ = build_run(RunConfig(eval_episodes=0, **config))
    model.learn(config["steps"], progress_bar=False)
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for kind in ("before", "after"):
                start = time.perf_counter()
                state = capture(model, venv, []) if kind == "after" else None
                checkpoint = save_checkpoint(Path(tmp) / kind, model, venv, run_state=state)
                times[kind].append(time.perf_counter() - start)
        sizes = {kind: _size(Path(tmp) / kind / "checkpoint") for kind in times}
        state_size = (checkpoint.path / RUN_STATE_FILE).stat().st_size
    venv.close()
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    return dict(name=name, before_ms=1e3 * before, after_ms=1e3 * after, ratio=after / before,
                before_kb=sizes["before"] / 1e3, after_kb=sizes["after"] / 1e3, state_kb=state_size / 1e3)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", default=None, help="measure only the runs whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| run | checkpoint before | with run state | time after/before | size before | size after | run_state.pkl |")
    print("|---|---|---|---|---|---|---|")
    for name, config in CASES.items():
        if args.only is not None and args.only not in name:
            continue
        r = measure(name, config, args.rounds)
        print(f"| {r['name']} | {r['before_ms']:.1f} ms | {r['after_ms']:.1f} ms | {r['ratio']:.2f} | "
              f"{r['before_kb']:.0f} kB | {r['after_kb']:.0f} kB | {r['state_kb']:.0f} kB |")  # fmt: skip


if __name__ == "__main__":
    main()
