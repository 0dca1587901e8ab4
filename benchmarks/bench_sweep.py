"""Wall time of a small sweep: one process in a loop vs the local pool vs Ray, measured side by side.

The sweep is 2 rewards (sparse, energy shaping) × 3 seeds of PPO on MountainCar-v0.
The baseline trains the same runs one after another in this process with
``rewardlab.train.train``; each backend then runs them through
:func:`rewardlab.sweep.run_sweep` (worker start-up, status files, Ray start-up
and transfer of the run folders included, the report excluded). Ratios are
backend time / baseline time: with 1 worker they are the pure overhead, with
more workers they also include the parallel speed-up the machine allows.

    nice -n 10 .venv/bin/python benchmarks/bench_sweep.py --steps 20k --workers 1 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from rewardlab.sweep import parse_spec, run_sweep
from rewardlab.train import train


def make_spec(out: Path, steps: str, seeds: int):  # noqa: ANN201 -- SweepSpec
    return parse_spec(
        {
            "name": "bench",
            "out": str(out),
            "envs": ["MountainCar-v0"],
            "rewards": {
                "sparse": "extrinsic",
                "energy": ["extrinsic", {"term": "potential", "potential": "mountaincar_energy", "gamma": 0.99}],
            },
            "algos": {"ppo": {}},
            "seeds": seeds,
            "steps": steps,
            "eval_episodes": 2,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="20k")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backends", nargs="+", default=["local", "ray"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        runs = make_spec(root / "x", args.steps, args.seeds).runs()
        print(f"{len(runs)} runs of {runs[0].config.steps} steps on {runs[0].env}")
        start = time.perf_counter()
        for run in runs:
            train(run.config, root / "sequential" / run.run_id, progress_bar=False)
        baseline = time.perf_counter() - start
        rows = [("one process, sequential", baseline)]
        for backend in args.backends:
            for workers in args.workers:
                spec = make_spec(root / f"{backend}{workers}", args.steps, args.seeds)
                start = time.perf_counter()
                outcome = run_sweep(spec, backend=backend, workers=workers, progress=False, report=False)
                assert not outcome.failed, [r.error for r in outcome.failed]
                rows.append((f"{backend}, {workers} worker(s)", time.perf_counter() - start))
        print("\n| how | wall s | ratio to sequential |\n|---|---|---|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} | {seconds / baseline:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
