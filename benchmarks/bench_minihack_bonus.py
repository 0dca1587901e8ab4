"""Learning benchmark: exploration bonuses with PPO on a sparse MiniHack task.

Variants (each added to the extrinsic reward, position keys from blstats):

* ``none`` -- the task reward only;
* ``global`` -- ``β·1/√N(pos)`` over all of training;
* ``episodic`` -- ``β·1/√N_e(pos)`` within the episode;
* ``product`` -- ``β·1/√N(pos)·1/√N_e(pos)`` (Henaff et al. 2023);
* ``e3b`` -- ``β_e3b·E3B/std(E3B)`` on a NetHackExtractor embedding trained by inverse dynamics
  (divided by its running std: the raw bonus is hundreds per step).

Each run records every training episode (step, success, length) and, for the
first seed, how often the hero stood on each square. Results go to
``--out`` (one JSON per run, so ``--resume`` skips finished runs), then the
script writes ``curves.png`` (success rate against steps, mean ± std over
seeds), ``visits.png`` (first seed of each variant) and prints a markdown
table for ``benchmarks/README.md``.

    nice -n 10 .venv/bin/python benchmarks/bench_minihack_bonus.py --steps 50000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rewardlab.wrappers.engine import EPISODE_KEY

VARIANTS = ("none", "global", "episodic", "product", "e3b")
DEFAULT_ENV = "MiniHack-Room-Dark-15x15-v0"
DEFAULT_STEPS = 50_000


def make_reward(variant: str, observation_space: Any, *, beta: float, beta_e3b: float, seed: int) -> Any:
    """The reward term of ``variant``."""
    import rewardlab as rl
    from rewardlab.bonus import count
    from rewardlab.bonus.e3b import E3B
    from rewardlab.policies.nethack import NetHackExtractor

    if variant == "none":
        return rl.extrinsic()
    if variant in ("global", "episodic", "product"):
        return rl.extrinsic() + beta * count("position", mode=variant, name=f"count_{variant}")
    if variant == "e3b":
        import torch

        torch.manual_seed(seed)
        encoder = NetHackExtractor(observation_space, glyph_keys=["glyphs_crop"], features_dim=32, glyph_dim=64)
        # raw φᵀC⁻¹φ runs to hundreds per step with this encoder: divide by its running std first
        return rl.extrinsic() + beta_e3b * rl.transforms.normalize(E3B(encoder=encoder, embed_dim=32, seed=seed))
    raise ValueError(f"unknown variant {variant!r}; valid: {list(VARIANTS)}")


class EpisodeLog(BaseCallback):
    """SB3 callback: every finished training episode as ``(step, success, length, bonus sum)``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, bool, int, float]] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done and "episode" in info:
                sums = info[EPISODE_KEY]
                bonus = sums["total"] - sums["true_return"]
                self.rows.append(
                    (self.num_timesteps, bool(info.get("is_success", False)), int(info["episode"]["l"]), bonus)
                )
        return True


def run_one(env_id: str, variant: str, seed: int, steps: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one PPO run and return its record."""
    import torch
    from rewardlab.envs.nethack import PositionVisits

    from rewardlab.make import make_vec_env
    from rewardlab.train import RunConfig, build_run

    torch.set_num_threads(1)
    probe = make_vec_env(env_id, 1, seed=seed)
    reward = make_reward(variant, probe.observation_space, beta=args.beta, beta_e3b=args.beta_e3b, seed=seed)
    probe.close()
    model, venv, _ = build_run(RunConfig(env=env_id, reward=reward, steps=steps, seed=seed))
    episodes, visits = EpisodeLog(), PositionVisits()
    start = time.perf_counter()
    model.learn(steps, callback=[episodes, visits])
    wall = time.perf_counter() - start
    venv.close()
    return {
        "env": env_id,
        "variant": variant,
        "seed": seed,
        "steps": steps,
        "wall_seconds": round(wall, 1),
        "episodes": episodes.rows,
        "visits": visits.counts.tolist(),
    }


def success_curve(record: dict[str, Any], bins: np.ndarray) -> np.ndarray:
    """Success rate of the training episodes that ended in each step bin (NaN where none did)."""
    rows = np.asarray(record["episodes"], dtype=np.float64).reshape(-1, 4)
    which = np.digitize(rows[:, 0], bins[1:-1])
    out = np.full(len(bins) - 1, np.nan)
    for b in range(len(out)):
        hit = rows[which == b, 1]
        if hit.size:
            out[b] = hit.mean()
    return out


def final_stats(record: dict[str, Any], fraction: float = 0.2) -> tuple[float, float, float]:
    """Success rate, mean length and mean bonus sum of the episodes in the last ``fraction`` of training steps."""
    rows = np.asarray(record["episodes"], dtype=np.float64).reshape(-1, 4)
    tail = rows[rows[:, 0] > (1 - fraction) * record["steps"]]
    if not len(tail):
        return float("nan"), float("nan"), float("nan")
    return float(tail[:, 1].mean()), float(tail[:, 2].mean()), float(tail[:, 3].mean())


def visit_spread(counts: np.ndarray) -> float:
    """Coefficient of variation of the visit counts over visited squares (0 = every square equally often)."""
    visited = counts[counts > 0]
    return float(visited.std() / visited.mean())


def random_success(env_id: str, episodes: int = 300, seed: int = 0) -> float:
    """Success rate of uniformly random actions: the level a policy must beat."""
    from rewardlab.envs import make_env

    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    wins: list[bool] = []
    env.reset(seed=seed)
    while len(wins) < episodes:
        _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            wins.append(info["is_success"])
            env.reset()
    env.close()
    return float(np.mean(wins))


def report(records: list[dict[str, Any]], out: Path, n_bins: int = 10) -> str:
    """Write curves.png and visits.png; return the markdown table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rewardlab.plot import visit_map

    variants = [v for v in VARIANTS if any(r["variant"] == v for r in records)]
    steps = max(r["steps"] for r in records)
    bins = np.linspace(0, steps, n_bins + 1)
    centres = (bins[:-1] + bins[1:]) / 2
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = [
        "| variant | seeds | success rate, last 20% of steps (mean ± std) | episode length | "
        "weighted bonus / episode | success rate, all training | visit spread (CV) | wall s / run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in variants:
        runs = [r for r in records if r["variant"] == variant]
        curves = np.stack([success_curve(r, bins) for r in runs])
        mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
        ax.plot(centres, mean, label=variant)
        ax.fill_between(centres, mean - std, mean + std, alpha=0.2)
        final = np.array([final_stats(r) for r in runs])
        overall = np.array([np.mean([row[1] for row in r["episodes"]]) for r in runs])
        spread = np.mean([visit_spread(np.asarray(r["visits"])) for r in runs])
        wall = np.mean([r["wall_seconds"] for r in runs])
        lines.append(
            f"| {variant} | {len(runs)} | {final[:, 0].mean():.2f} ± {final[:, 0].std():.2f} | "
            f"{final[:, 1].mean():.0f} | {final[:, 2].mean():.2f} | "
            f"{overall.mean():.2f} ± {overall.std():.2f} | {spread:.2f} | {wall:.0f} |"
        )
    baseline = random_success(records[0]["env"])
    ax.axhline(baseline, color="grey", linestyle="--", label="random actions")
    lines.append(f"| random actions (300 episodes) | - | {baseline:.2f} | - | - | - | - | - |")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("training success rate")
    ax.set_title(f"PPO on {records[0]['env']} ({len(records)} runs)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    first_seed = min(r["seed"] for r in records)
    shown = [r for v in variants for r in records if r["variant"] == v and r["seed"] == first_seed]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.2), squeeze=False)
    for ax, r in zip(axes[0], shown):
        visit_map(np.asarray(r["visits"]), ax=ax, title=f"{r['variant']} (seed {r['seed']})")
    fig.tight_layout()
    fig.savefig(out / "visits.png", dpi=110)
    plt.close("all")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default=DEFAULT_ENV)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--beta", type=float, default=0.01, help="weight of the count bonuses")
    parser.add_argument("--beta-e3b", type=float, default=0.01, help="weight of E3B")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/minihack_bonus"))
    parser.add_argument("--resume", action="store_true", help="skip runs whose JSON exists")
    parser.add_argument("--report-only", action="store_true", help="only redraw from the runs already saved")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    jobs = [(v, s) for s in args.seeds for v in args.variants]
    records = []
    for variant, seed in tqdm(jobs, desc="runs"):
        path = args.out / f"{variant}_seed{seed}.json"
        if (args.resume or args.report_only) and path.exists():
            records.append(json.loads(path.read_text()))
            continue
        if args.report_only:
            continue
        record = run_one(args.env, variant, seed, args.steps, args)
        path.write_text(json.dumps(record))
        records.append(record)
        tqdm.write(f"{variant} seed {seed}: success(last 20%) {final_stats(record)[0]:.2f}, {record['wall_seconds']} s")
    table = report(records, args.out)
    print(f"\n{args.env}, PPO, {args.steps} steps, β={args.beta}, β_e3b={args.beta_e3b}\n")
    print(table)


if __name__ == "__main__":
    main()
