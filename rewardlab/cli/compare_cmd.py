"""``rewardlab compare a.yaml b.yaml ...``: distances between rewards, as a matrix PNG and a CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="EPIC / STARC / ERC distances between rewards (matrix PNG and CSV)",
        description="How different are these rewards really? 0: same optimal policies (shaping, scaling); 1: opposite.",
        **examples(
            "rewardlab compare extrinsic configs/mountaincar_shaped.yaml --env MountainCar-v0 --out runs/compare",
            "rewardlab compare --run runs/a --run runs/b --method starc --out runs/compare_ab",
        ),
    )
    p.add_argument("rewards", nargs="*", help="reward YAML files (or inline YAML); with --run, at least two in all")
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN",
        help="a run folder: its reward with the trained state (counts, networks) restored (repeatable)",
    )
    p.add_argument("--env", default=None, help="env id (see 'rewardlab envs'; default: the runs' env)")
    p.add_argument("--method", default="epic", choices=["epic", "starc", "erc"], help="distance (default: epic)")
    p.add_argument("--samples", type=int, default=4096, help="samples per canonicalisation expectation (default: 4096)")
    p.add_argument("--transitions", type=int, default=4096, help="transitions compared on (default: 4096)")
    p.add_argument(
        "--coverage",
        default="spaces",
        choices=["spaces", "rollouts"],
        help="where transitions come from: uniform over the spaces, or random-policy rollouts (default: spaces)",
    )
    p.add_argument("--gamma", type=float, default=0.99, help="discount of the canonicalisation (default: 0.99)")
    p.add_argument(
        "--termination",
        default="absorbing",
        choices=["absorbing", "ignore"],
        help="EPIC/STARC: a terminating transition moves to an absorbing state with zero reward and potential "
        "(default), or every transition continues (the EPIC paper's setting)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled transitions and bootstrap (default: 0)")
    p.add_argument("--out", required=True, help="folder for distances.png and distances.csv")
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import rewardlab as rl
    from rewardlab.cli.plot_cmd import check_env, reward_name, user_errors
    from rewardlab.config.reward_config import load_reward

    if len(args.rewards) + len(args.run) < 2:
        raise ConfigError("compare needs at least two rewards (reward files, inline YAML or --run folders)")
    runs = {Path(r).name or str(r): rl.load_run(r, model=False) for r in args.run}
    if len(runs) < len(args.run):
        raise ConfigError(f"run folder names must be unique; got {args.run}")
    env = args.env or next((r.env_id for r in runs.values()), None)
    if env is None:
        raise ConfigError("give --env (or --run folders, whose env is used)")
    other = sorted({f"{name} ({r.env_id})" for name, r in runs.items() if r.env_id != env})
    if other:
        raise ConfigError(f"compare evaluates every reward on {env}, but runs {other} trained on another env")
    names = [*runs, *(reward_name(s, i) for i, s in enumerate(args.rewards))]
    rewards = {name: r.reward for name, r in runs.items()}
    rewards.update({reward_name(s, i): load_reward(s) for i, s in enumerate(args.rewards)})
    if len(rewards) < len(names):
        raise ConfigError(f"reward names must be unique; got {names}")
    check_env(env)
    args.env = env
    kwargs = {"env": args.env, "bootstrap": args.bootstrap, "seed": args.seed}
    if args.method == "erc":
        kwargs.update(n_steps=max(args.transitions // 4, 1000), gamma=1.0)
    else:
        kwargs.update(gamma=args.gamma, n_samples=args.samples, n_transitions=args.transitions, progress=args.progress)
        kwargs["termination"] = args.termination
        if args.coverage == "rollouts":
            n_envs = 8
            data = rl.analysis.rollout(
                args.env, n_steps=max(1, args.transitions // n_envs), n_envs=n_envs, seed=args.seed
            )
            kwargs["transitions"] = data.transitions
    with user_errors():
        matrix = rl.analysis.distance_matrix(rewards, method=args.method, **kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    matrix.to_csv(out / "distances.csv")
    size = 1.2 + 0.9 * len(rewards)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    rl.plot.distance_matrix(matrix, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "distances.png", dpi=110)
    plt.close(fig)
    import pandas as pd

    print(pd.DataFrame(matrix.values, index=matrix.names, columns=matrix.names).round(3).to_string())
    print(f"wrote {out / 'distances.png'} and {out / 'distances.csv'}")
    off_diagonal = matrix.values[~np.eye(len(matrix.names), dtype=bool)]
    if args.method != "erc" and (np.isnan(off_diagonal).any() or (off_diagonal == 0).any()):
        blind = "a constant step cost or " if args.termination == "ignore" else ""
        print(
            "note: a distance of 0 or n/a can mean a reward has nothing left after canonicalisation: "
            f"{blind}pure shaping canonicalises to 0, and a reward with nothing left is at n/a (EPIC) or 0.5 "
            "(STARC) from the others (stateful bonuses are evaluated frozen, as they stand now)."
        )
    return 0
