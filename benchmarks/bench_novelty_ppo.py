"""PPO with and without a novelty bonus at equal env steps, several seeds (deceptive sparse MountainCar tasks).

Each run goes through ``rewardlab.train`` with the env's PPO preset (``--hp`` overrides it); the variants are
the extrinsic reward alone and extrinsic + the per-step novelty bonus of ``--novelty`` (default
``configs/novelty_<env>.yaml``). Reported per variant: seeds that reached the goal in any training or
evaluation episode, the deterministic evaluation return (mean ± 95% t-interval over seeds), the goal rate of
the last 100 training episodes and the env step of the first training episode at the goal. Finished runs are
reused (a killed benchmark resumes).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_novelty_ppo.py --env MountainCarContinuous-v0 \\
        --seeds 3 --steps 20k
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from rewardlab.cli.train_cmd import parse_overrides
from rewardlab.config import load_reward_spec
from rewardlab.train import RunConfig, train

HERE = Path(__file__).parent
ROOT = HERE.parent
NOVELTY = {
    "MountainCar-v0": "configs/novelty_mountaincar.yaml",
    "MountainCarContinuous-v0": "configs/novelty_mountaincarcontinuous.yaml",
}


def first_goal_step(run_dir: Path) -> int | None:
    terms = pd.read_csv(run_dir / "reward_terms.csv")
    steps = terms.loc[terms["terminated"].astype(bool), "timestep"]
    return int(steps.min()) if len(steps) else None


def ci95(values: list[float]) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MountainCarContinuous-v0", choices=sorted(NOVELTY))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1")
    parser.add_argument("--steps", default="20k")
    parser.add_argument("--novelty", default=None, help="reward YAML with the novelty bonus")
    parser.add_argument("--weights", default="1.0", help="novelty weights to compare, e.g. 1.0,0.1")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="PPO hyper-parameter override")
    parser.add_argument("--out", default="runs/bench_novelty_ppo", help="run folders")
    args = parser.parse_args()
    torch.set_num_threads(1)
    hyperparams = parse_overrides(args.hp)
    variants = {"extrinsic only": load_reward_spec("extrinsic")}
    for weight in map(float, args.weights.split(",")):
        spec = load_reward_spec(str(ROOT / (args.novelty or NOVELTY[args.env])))
        for item in spec:
            if isinstance(item, dict) and item.get("term") == "novelty":
                item["weight"] = weight
        label = "extrinsic + novelty" if weight == 1.0 else f"extrinsic + {weight:g} novelty"
        variants[label + (f" ({Path(args.novelty).stem})" if args.novelty else "")] = spec
    results: dict[str, list[dict]] = {label: [] for label in variants}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        for label, reward in variants.items():
            name = label.replace(" ", "_").replace("+", "plus").replace("(", "").replace(")", "")
            run_dir = Path(args.out) / args.env / name / f"seed{seed}"
            config = RunConfig(env=args.env, reward=reward, steps=args.steps, seed=seed, hyperparams=hyperparams)
            start = time.perf_counter()
            summary = train(config, run_dir, progress_bar=False, resume=(run_dir / "config.yaml").exists())
            first = first_goal_step(run_dir)
            row = {"seed": seed, "first_goal_step": first, **summary}
            row["reached_goal"] = first is not None or summary.get("eval_terminated_rate", 0) > 0
            results[label].append(row)
            print(
                f"{label:<20} seed {seed}: eval return {summary['eval_true_return']:8.2f}  "
                f"eval goal rate {summary['eval_terminated_rate']:.2f}  first goal step {first}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    print(f"\n{args.env}, PPO preset {dict(hyperparams) or ''}, {args.steps} steps, seeds {list(seeds)}")
    print("| reward | seeds reaching the goal | eval return (mean ± 95% CI) | train goal rate (last 100 ep.) |")
    print("|---|---|---|---|")
    for label, rows in results.items():
        mean, half = ci95([r["eval_true_return"] for r in rows])
        rate = ", ".join(f"{r['train_terminated_rate']:.2f}" for r in rows)
        reached = sum(r["reached_goal"] for r in rows)
        print(f"| {label} | {reached}/{len(rows)} | {mean:.1f} ± {half:.1f} | {rate} |")
    suffix = f"_{Path(args.novelty).stem}" if args.novelty else ""
    suffix += f"_from_seed{args.first_seed}" if args.first_seed else ""
    report = HERE / "results" / f"novelty_ppo_{args.env.split('-')[0].lower()}{suffix}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    print(f"saved {report}")


if __name__ == "__main__":
    main()
