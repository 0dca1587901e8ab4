"""The demo's claim, measured: CartPole-v1 PPO with and without ``cartpole_upright`` shaping, 5 seeds.

Runs ``sweeps/demo.yaml`` (the spec ``make demo`` runs) on the local sweep runner, by default with its own
seeds and budget, or with the seeds and step budgets given here, and prints the mean evaluation return (10
deterministic episodes of the true reward per run) with its 95 % bootstrap CI per reward, and the difference
of the means with its CI. Finished runs are reused, so a killed benchmark resumes.

    nice -n 10 .venv/bin/python benchmarks/bench_demo.py                          # the demo's 5 seeds
    nice -n 10 .venv/bin/python benchmarks/bench_demo.py --first-seed 5           # 5 other seeds
    nice -n 10 .venv/bin/python benchmarks/bench_demo.py --steps 6k 10k 20k       # other budgets
    nice -n 10 .venv/bin/python benchmarks/bench_demo.py --scale 1 --steps 6k     # a weaker potential
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import rewardlab as rl
from rewardlab.train import parse_steps

HERE = Path(__file__).parent
SPEC = HERE.parent / "sweeps" / "demo.yaml"


def difference_ci(a: np.ndarray, b: np.ndarray, *, n: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``b`` minus mean of ``a`` with a percentile bootstrap CI (each group resampled on its own)."""
    rng = np.random.default_rng(seed)
    boot = b[rng.integers(0, len(b), (n, len(b)))].mean(1) - a[rng.integers(0, len(a), (n, len(a)))].mean(1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(b.mean() - a.mean()), float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the spec's)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", nargs="+", default=None, help="step budgets, one sweep each (default: the spec's)")
    parser.add_argument("--scale", type=float, default=None, help="cartpole_upright's scale (default: the spec's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/bench_demo", help="sweep folders go under it")
    parser.add_argument("--report", default=str(HERE / "results" / "demo"), help="results.json")
    args = parser.parse_args()
    results = {}
    base = rl.sweep.load_spec(SPEC)
    n_seeds = args.seeds or len(base.seeds)
    seeds = list(range(args.first_seed, args.first_seed + n_seeds))
    for steps in args.steps or [str(base.steps)]:
        spec = rl.sweep.load_spec(SPEC)
        spec.seeds = seeds
        spec.steps = parse_steps(steps)
        label = f"steps_{steps}_seeds_{seeds[0]}-{seeds[-1]}"
        if args.scale is not None:
            spec.rewards["upright_shaping"][1]["potential"]["scale"] = args.scale
            label += f"_scale_{args.scale:g}"
        spec.out = Path(args.out) / label
        rl.sweep.run_sweep(spec, workers=args.workers, resume=True, progress=False)
        runs = rl.sweep.load_runs(spec.out)
        table = rl.sweep.aggregate(runs)
        scores = {r: g["eval_true_return"].to_numpy(dtype=float) for r, g in runs.groupby("reward", sort=False)}
        scale = spec.rewards["upright_shaping"][1]["potential"]["scale"]
        print(f"\nCartPole-v1, PPO preset, {steps} steps, seeds {seeds}, Φ scale {scale:g}")
        print(f"{'reward':<18}{'eval return: mean [95% CI]':>28}{'IQM':>9}  per seed (10 deterministic episodes)")
        for _, row in table.iterrows():
            per_seed = ", ".join(f"{v:.0f}" for v in scores[row["reward"]])
            print(
                f"{row['reward']:<18}{row['mean']:>10.1f} [{row['mean_low']:6.1f}, {row['mean_high']:6.1f}]"
                f"{row['iqm']:>9.1f}  {per_seed}"
            )
        names = list(scores)
        diff = difference_ci(scores[names[0]], scores[names[1]])
        print(f"{names[1]} − {names[0]}: {diff[0]:+.1f} [{diff[1]:+.1f}, {diff[2]:+.1f}]")
        results[label] = {
            "per_seed": {k: v.tolist() for k, v in scores.items()},
            "mean_ci": {r["reward"]: [r["mean"], r["mean_low"], r["mean_high"]] for _, r in table.iterrows()},
            "difference_ci": list(diff),
            "wall_seconds_per_run": {r["reward"]: r.get("wall_seconds") for _, r in table.iterrows()},
        }
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    name = f"results_seeds_{seeds[0]}-{seeds[-1]}{'' if args.scale is None else f'_scale_{args.scale:g}'}.json"
    path = report / name
    earlier = json.loads(path.read_text()) if path.exists() else {}  # other budgets of the same seeds stay
    path.write_text(json.dumps({**earlier, **results}, indent=2))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
