"""Novelty search vs MAP-Elites vs SERENE vs random search at equal env steps on a deceptive sparse task.

Each algorithm (``rewardlab.qd.search``, linear policies, batches of 16) runs until it has taken ``--budget``
env steps (it stops at the first iteration past it, so budgets overshoot by less than one batch), for
``--seeds`` seeds. Reported per algorithm: coverage of the 20×20 grid over the scaled (position, velocity)
final state, best return, and how many seeds found the goal (MountainCar-v0: a return above -200, i.e. the
flag within 200 steps; MountainCarContinuous-v0: a positive return, i.e. the +100 flag bonus). Means with
95% t-intervals over seeds; the heatmaps of seed 0 go to ``--out``/heatmaps.png.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_qd_mountaincar.py --seeds 5 --budget 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from rewardlab.qd.policies import rollout_many
from rewardlab.qd.search import QDSearch, SearchConfig, plot_archive

HERE = Path(__file__).parent
SUCCESS = {"MountainCar-v0": -200.0, "MountainCarContinuous-v0": 0.0}  # a best return above it found the goal


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def run_one(env_id: str, descriptor: str, algo: str, seed: int, budget: int, batch_size: int) -> dict:
    config = SearchConfig(env_id=env_id, descriptor=descriptor, algo=algo, batch_size=batch_size, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        search = QDSearch(config, tmp)

        def evaluate(solutions: np.ndarray, first_index: int) -> list:
            return rollout_many(env_id, search.policy, solutions, seed=seed, first_index=first_index)

        start, first_success = time.perf_counter(), None
        while search.env_steps < budget:
            row = search.step(evaluate)
            if first_success is None and row["best_return"] > SUCCESS[env_id]:
                first_success = row["env_steps"]
        row = search.metrics("done")
        return {
            "algo": algo,
            "seed": seed,
            "env_steps": row["env_steps"],
            "evaluations": row["evaluations"],
            "coverage": row["coverage"],
            "best_return": row["best_return"],
            "found_goal": row["best_return"] > SUCCESS[env_id],
            "first_success_steps": first_success,
            "seconds": time.perf_counter() - start,
            "search": search if seed == 0 else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MountainCar-v0", choices=sorted(SUCCESS))
    parser.add_argument("--descriptor", default="final:position,velocity")
    parser.add_argument("--algos", default="random,novelty,map_elites,serene")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", default=None, help="results folder (default: benchmarks/results/qd_<env>)")
    args = parser.parse_args()
    out = Path(args.out or HERE / "results" / f"qd_{args.env.split('-')[0].lower()}")
    out.mkdir(parents=True, exist_ok=True)
    algos = args.algos.split(",")
    runs = []
    for seed in range(args.seeds):
        for algo in algos:
            r = run_one(args.env, args.descriptor, algo, seed, args.budget, args.batch_size)
            print(
                f"{algo:<11} seed {seed}: coverage {r['coverage']:.3f}  best {r['best_return']:8.1f}  "
                f"steps {r['env_steps']}  ({r['seconds']:.0f} s)",
                flush=True,
            )
            runs.append(r)
    print(f"\n{args.env}, descriptor {args.descriptor}, budget {args.budget} env steps, {args.seeds} seeds")
    print(
        "| algorithm | coverage (mean ± 95% CI) | best return (mean ± 95% CI) | seeds at the goal "
        "| env steps to the goal (median) | env steps |"
    )
    print("|---|---|---|---|---|---|")
    summary = {}
    for algo in algos:
        mine = [r for r in runs if r["algo"] == algo]
        cov, cov_ci = ci95([r["coverage"] for r in mine])
        best, best_ci = ci95([r["best_return"] for r in mine])
        found = sum(r["found_goal"] for r in mine)
        steps = int(np.mean([r["env_steps"] for r in mine]))
        first = [r["first_success_steps"] for r in mine if r["first_success_steps"] is not None]
        median_first = f"{np.median(first):,.0f}" if first else "-"
        summary[algo] = {"coverage": [cov, cov_ci], "best_return": [best, best_ci], "found_goal": found}
        print(
            f"| {algo} | {cov:.3f} ± {cov_ci:.3f} | {best:.1f} ± {best_ci:.1f} | {found}/{len(mine)} "
            f"| {median_first} | {steps} |"
        )
    (out / "results.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "summary": summary,
                "runs": [{k: v for k, v in r.items() if k != "search"} for r in runs],
            },
            indent=1,
        )
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    firsts = [r for r in runs if r["search"] is not None]
    fig, axes = plt.subplots(1, len(firsts), figsize=(4.2 * len(firsts), 3.4))
    for ax, r in zip(np.atleast_1d(axes), firsts):
        plot_archive(r["search"], ax=ax)
        ax.set_title(f"{r['algo']} (seed 0)")
    fig.tight_layout()
    fig.savefig(out / "heatmaps.png", dpi=70)
    print(f"saved {out / 'results.json'} and {out / 'heatmaps.png'}")


if __name__ == "__main__":
    main()
