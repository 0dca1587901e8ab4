"""Adversarial rewards from demonstrations: with and without a Lipschitz constraint, side by side.

For each env: train an expert on the true reward (``rewardlab.train``), collect
demonstrations from it (``collect_demos``), then train agents on the
adversarial reward alone -- no true reward -- for each variant and seed, plus
the same algorithm on the true reward at the same budget as a baseline. The
score of a run is its deterministic evaluation return normalised between a
random policy and the expert's demonstrations,
``(R − R_random) / (R_expert − R_random)`` (Pendulum's returns are negative,
so a plain ratio would mean nothing). Means carry 95% percentile-bootstrap
intervals over seeds. For each adversarial run the measured Lipschitz constant
of its final discriminator logit is reported: max and 95th percentile of
``‖∇ℓ‖`` (normalised inputs) over demonstrations, perturbed demonstrations and
their interpolates.

Finished runs (``summary.json`` present) are reused, so a killed benchmark resumes.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_adversarial_learning.py --seeds 3
    ... --envs cartpole --seeds 3
    ... --tag stress --override epochs=32 lr=0.001   # a discriminator trained harder (overfits sooner)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from rewardlab.learned.adversarial import collect_demos, load_demos
from rewardlab.train import RunConfig, train

HERE = Path(__file__).parent
ROOT = HERE.parent

SAC_SMALL = {"learning_starts": 500, "batch_size": 128, "policy_kwargs": {"net_arch": [64, 64]}}
SETTINGS = {
    "pendulum": {
        "env": "Pendulum-v1",
        "algo": "sac",
        "hp": SAC_SMALL,
        "expert_steps": 8000,
        "steps": 5000,
        "config": "configs/adversarial_pendulum.yaml",
        "variants": {
            "GAIL, no constraint": {"lipschitz": "none"},
            "GAIL + gradient penalty (one-sided)": {"lipschitz": "gp"},
            "GAIL + spectral norm": {"lipschitz": "spectral"},
            "GAIL + WGAN-GP two-sided penalty": {"lipschitz": "gp", "gp_one_sided": False},
        },
    },
    "cartpole": {
        "env": "CartPole-v1",
        "algo": "ppo",
        "hp": {},
        "expert_steps": 40000,
        "steps": 40000,
        "config": "configs/adversarial_cartpole.yaml",
        "variants": {
            "AIRL, no constraint": {"lipschitz": "none"},
            "AIRL + gradient penalty (one-sided)": {"lipschitz": "gp"},
            "AIRL + spectral norm": {"lipschitz": "spectral"},
        },
    },
}
TRUE = "true reward (baseline)"


def bootstrap_ci(values: list[float], *, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()), float(x.mean())
    means = x[np.random.default_rng(seed).integers(0, len(x), (n, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def random_return(env_id: str, episodes: int = 10, seed: int = 123) -> float:
    from rewardlab.make import make_vec_env

    venv = make_vec_env(env_id, 1, seed=seed)
    venv.action_space.seed(seed)
    returns, obs = [], venv.reset()
    while len(returns) < episodes:
        obs, _, done, infos = venv.step(np.array([venv.action_space.sample()]))
        if done[0]:
            returns.append(float(infos[0]["episode"]["r"]))
    venv.close()
    return float(np.mean(returns))


def measured_lipschitz(run_dir: Path, demos_path: Path, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Max and 95th percentile of ‖∇ℓ‖ of the run's final discriminator around the demonstrations."""
    from rewardlab.runs import load_run

    term = next(t for t in load_run(run_dir, model=False).reward.leaves() if t.learns)
    demos = load_demos(demos_path)
    rng = np.random.default_rng(seed)
    obs, acts, next_obs, _ = demos.sample(n, rng)
    std = demos.obs.std(axis=0) + 1e-3
    far = [obs + 2 * std * rng.normal(size=obs.shape), next_obs + 2 * std * rng.normal(size=obs.shape)]
    if np.issubdtype(acts.dtype, np.integer):
        far_acts = rng.integers(0, int(acts.max()) + 1, acts.shape)
    else:
        far_acts = np.clip(acts + rng.normal(size=acts.shape), -2, 2)
    eps = rng.uniform(size=(n, 1))
    mixed = [eps * obs + (1 - eps) * far[0], far_acts, eps * next_obs + (1 - eps) * far[1]]
    norms = np.concatenate(
        [
            term.gradient_norms(obs, acts, next_obs),
            term.gradient_norms(far[0], far_acts, far[1]),
            term.gradient_norms(*mixed),
        ]
    )
    return float(norms.max()), float(np.percentile(norms, 95))


def run_env(name: str, args: argparse.Namespace) -> dict:
    s = SETTINGS[name]
    out = Path(args.out) / name
    expert_dir = out / "expert"
    t0 = time.perf_counter()
    expert = train(
        RunConfig(env=s["env"], algo=s["algo"], steps=s["expert_steps"], seed=100, hyperparams=s["hp"]),
        expert_dir,
        progress_bar=False,
        resume=expert_dir.exists(),
        checkpoint_every=0,
    )
    demos_path = out / "demos.npz"
    if not demos_path.exists():
        collect_demos(expert_dir, episodes=args.demo_episodes).save(demos_path)
    demos = load_demos(demos_path)
    r_expert, r_random = float(demos.returns.mean()), random_return(s["env"])
    print(
        f"{s['env']}: expert eval {expert['eval_true_return']:.1f}, demos {r_expert:.1f} "
        f"({demos.n_episodes} episodes), random {r_random:.1f}",
        flush=True,
    )
    base = yaml.safe_load((ROOT / s["config"]).read_text())["reward"][0]
    base.update(args.override)
    variants = {TRUE: "extrinsic"}
    variants.update({label: {**base, "demos": str(demos_path), **v} for label, v in s["variants"].items()})
    if args.only:
        variants = {k: v for k, v in variants.items() if any(o.lower() in k.lower() for o in args.only)}
    rows = {}
    for label, reward in variants.items():
        runs = []
        for seed in range(args.seeds):
            tag = f"_{args.tag}" if args.tag and reward != "extrinsic" else ""
            run_dir = out / f"{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}{tag}_seed{seed}"
            config = RunConfig(
                env=s["env"], algo=s["algo"], reward=reward, steps=s["steps"], seed=seed, hyperparams=s["hp"]
            )
            start = time.perf_counter()
            summary = train(config, run_dir, progress_bar=False, resume=run_dir.exists(), checkpoint_every=0)
            ret = summary["eval_true_return"]
            row = {
                "seed": seed,
                "eval_true_return": ret,
                "score": (ret - r_random) / (r_expert - r_random),
                "train_true_return": summary.get("train_true_return"),
                "wall_s": time.perf_counter() - start,
            }
            if reward != "extrinsic":
                row["lipschitz_max"], row["lipschitz_p95"] = measured_lipschitz(run_dir, demos_path)
            runs.append(row)
            print(
                f"  {label} seed {seed}: return {ret:.1f}, score {row['score']:.2f}"
                + (f", ‖∇ℓ‖ max {row['lipschitz_max']:.2f}" if "lipschitz_max" in row else ""),
                flush=True,
            )
        scores = [r["score"] for r in runs]
        rows[label] = {
            "runs": runs,
            "score_mean": float(np.mean(scores)),
            "score_ci95": bootstrap_ci(scores),
            "return_mean": float(np.mean([r["eval_true_return"] for r in runs])),
        }
    return {
        "env": s["env"],
        "algo": s["algo"],
        "steps": s["steps"],
        "expert_steps": s["expert_steps"],
        "expert_eval_return": expert["eval_true_return"],
        "demo_return": r_expert,
        "random_return": r_random,
        "demo_episodes": demos.n_episodes,
        "wall_s": time.perf_counter() - t0,
        "variants": rows,
    }


def report(result: dict) -> str:
    lines = [
        f"{result['env']} ({result['algo']}, {result['steps']} steps per run; expert {result['expert_steps']} steps, "
        f"demos {result['demo_return']:.1f} over {result['demo_episodes']} episodes, "
        f"random {result['random_return']:.1f})",
        f"{'variant':40s} {'score mean [95% CI]':>24s} {'return':>9s} {'max ‖∇ℓ‖':>9s} {'p95 ‖∇ℓ‖':>9s}"
        "  per-seed scores",
    ]
    for label, row in result["variants"].items():
        lo, hi = row["score_ci95"]
        lip = [r.get("lipschitz_max") for r in row["runs"]]
        p95 = [r.get("lipschitz_p95") for r in row["runs"]]
        lip_s = f"{np.mean(lip):9.2f}" if lip[0] is not None else f"{'-':>9s}"
        p95_s = f"{np.mean(p95):9.2f}" if p95[0] is not None else f"{'-':>9s}"
        per = " ".join(f"{r['score']:.2f}" for r in row["runs"])
        lines.append(
            f"{label:40s} {row['score_mean']:6.2f} [{lo:5.2f}, {hi:5.2f}]      {row['return_mean']:9.1f} "
            f"{lip_s} {p95_s}  {per}"
        )
    lines.append(f"wall time {result['wall_s'] / 60:.1f} min")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["pendulum"], choices=sorted(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--demo-episodes", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "results" / "adversarial_learning"))
    parser.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE", help="adversarial term options")
    parser.add_argument("--only", nargs="*", default=[], help="run only variants whose label contains one of these")
    parser.add_argument("--tag", default="", help="suffix of the result files and adversarial run folders")
    args = parser.parse_args()
    args.override = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in args.override)}
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.envs:
        result = run_env(name, args)
        text = report(result)
        print(text, flush=True)
        result["override"] = args.override
        stem = f"{name}_{args.tag}" if args.tag else name
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
        (out / f"{stem}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
