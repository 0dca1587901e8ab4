"""MountainCar-v0 with PPO: several rewards side by side over several seeds.

By default: the extrinsic reward alone, + a count bonus (``configs/mountaincar_count.yaml``)
and + energy potential shaping (``configs/mountaincar_shaped.yaml``); ``--variant LABEL=REWARD``
(a YAML file or inline YAML, repeatable) replaces them. Each run goes through
``rewardlab.train`` (PPO preset for MountainCar-v0); success is reaching the flag
(``terminated``): ``eval_terminated_rate`` of the deterministic evaluation,
``train_terminated_rate`` of the last 100 training episodes, and the step of the
first training episode that reached it. Finished runs (``summary.json`` present)
are reused, so a killed benchmark resumes. A heatmap of where each final policy
goes (stochastic rollouts, seed 0) is saved next to the results.

    nice -n 10 .venv/bin/python benchmarks/bench_mountaincar_learning.py --seeds 5 --steps 200k
    nice -n 10 .venv/bin/python benchmarks/bench_mountaincar_learning.py --hp normalize=false   # no VecNormalize
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rewardlab.cli.train_cmd import parse_overrides
from rewardlab.config import load_reward_spec
from rewardlab.train import RunConfig, train

HERE = Path(__file__).parent
DEFAULTS = [
    "extrinsic only=extrinsic",
    "extrinsic + count bonus=configs/mountaincar_count.yaml",
    "extrinsic + energy shaping=configs/mountaincar_shaped.yaml",
]


def parse_variant(text: str) -> tuple[str, str]:
    label, sep, source = text.partition("=")
    if not sep or not label.strip() or not source.strip():
        raise SystemExit(f"--variant expects LABEL=REWARD, got {text!r}")
    return label.strip(), source.strip()


def rollout_states(run_dir: Path, episodes: int = 10, seed: int = 123) -> np.ndarray:
    """(position, velocity) visited by the run's final policy in stochastic rollouts."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from rewardlab.make import make_vec_env

    env = make_vec_env("MountainCar-v0", 1, seed=seed)
    raw = env
    if (run_dir / "vecnormalize.pkl").exists():
        env = VecNormalize.load(str(run_dir / "vecnormalize.pkl"), env)
        env.training, env.norm_reward = False, False
    model = PPO.load(run_dir / "model.zip", device="cpu")
    model.set_random_seed(seed)
    states, done_episodes = [], 0
    obs = env.reset()
    while done_episodes < episodes:
        states.append(np.array(raw.envs[0].unwrapped.state, dtype=np.float64))
        action, _ = model.predict(obs, deterministic=False)
        obs, _, done, _ = env.step(action)
        done_episodes += int(done[0])
    env.close()
    return np.array(states)


def first_flag_step(run_dir: Path) -> int | None:
    """Timestep of the first training episode that reached the flag (None if none did)."""
    import pandas as pd

    terms = pd.read_csv(run_dir / "reward_terms.csv")
    steps = terms.loc[terms["terminated"].astype(bool), "timestep"]
    return int(steps.min()) if len(steps) else None


def plot_visits(visits: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(visits), figsize=(5 * len(visits), 4), sharey=True)
    for ax, (label, states) in zip(np.atleast_1d(axes), visits.items()):
        ax.hist2d(states[:, 0], states[:, 1], bins=[36, 28], range=[[-1.2, 0.6], [-0.07, 0.07]], cmin=1, cmap="viridis")
        ax.axvline(0.5, color="red", linestyle="--", label="flag")
        ax.set(title=label, xlabel="position", xlim=(-1.2, 0.6), ylim=(-0.07, 0.07))
        ax.legend(loc="upper left")
    np.atleast_1d(axes)[0].set_ylabel("velocity")
    fig.suptitle("MountainCar-v0: states visited by the final PPO policy (10 stochastic episodes, seed 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", default="200k")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="LABEL=REWARD", help="reward YAML file or inline YAML"
    )
    parser.add_argument("--out", default="runs/bench_mountaincar_learning", help="run folders")
    parser.add_argument(
        "--report", default=str(HERE / "results" / "mountaincar_learning"), help="results.json, visits.png"
    )
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="PPO hyper-parameter override")
    args = parser.parse_args()
    hyperparams = parse_overrides(args.hp)
    torch.set_num_threads(1)
    out = Path(args.out)
    variants = {label: load_reward_spec(source) for label, source in map(parse_variant, args.variant or DEFAULTS)}
    results: dict[str, list[dict]] = {}
    with tqdm(total=len(variants) * args.seeds, desc="runs") as bar:
        for label, reward in variants.items():
            results[label] = []
            for seed in range(args.seeds):
                run_dir = out / label.replace(" ", "_").replace("+", "plus") / f"seed{seed}"
                config = RunConfig(
                    env="MountainCar-v0", reward=reward, steps=args.steps, seed=seed, hyperparams=hyperparams
                )
                # a run killed earlier continues from its checkpoint; a finished one returns its summary
                summary = train(config, run_dir, progress_bar=False, resume=(run_dir / "config.yaml").exists())
                results[label].append(
                    {"seed": seed, "dir": str(run_dir), "first_flag_step": first_flag_step(run_dir), **summary}
                )
                bar.update()
    print(f"\nMountainCar-v0, PPO, {args.steps} steps per run, overrides {hyperparams or 'none'}\n")
    print(
        f"{'reward':<30}{'seed':>5}{'eval flag rate':>16}{'train flag rate':>17}{'eval return':>13}{'first flag':>12}"
    )
    for label, rows in results.items():
        for r in rows:
            print(
                f"{label:<30}{r['seed']:>5}{r['eval_terminated_rate']:>16.2f}"
                f"{r.get('train_terminated_rate', 0.0):>17.2f}{r['eval_true_return']:>13.1f}"
                f"{r['first_flag_step'] or '-':>12}"
            )
        solved = sum(r["eval_terminated_rate"] > 0 or r.get("train_terminated_rate", 0) > 0 for r in rows)
        print(f"{label:<30} seeds reaching the flag: {solved}/{len(rows)}\n")
    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    keep = (
        "seed",
        "first_flag_step",
        "train_episodes",
        "train_terminated_rate",
        "eval_true_return",
        "eval_terminated_rate",
    )
    table = {label: [{k: r.get(k) for k in keep} for r in rows] for label, rows in results.items()}
    (report / "results.json").write_text(
        json.dumps({"steps": args.steps, "hyperparams": hyperparams, **table}, indent=2)
    )
    visits = {label: rollout_states(Path(rows[0]["dir"])) for label, rows in results.items()}
    plot_visits(visits, report / "visits.png")
    print(f"results: {report / 'results.json'}  heatmap: {report / 'visits.png'}  runs: {out}")


if __name__ == "__main__":
    main()
