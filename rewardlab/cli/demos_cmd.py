"""``rewardlab demos collect RUN``: expert trajectories from a trained run; ``rewardlab demos show FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rewardlab.cli.common import examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demos",
        help="demonstrations for adversarial rewards: collect them from a trained run, show a file",
        description="Collect expert demonstrations (an .npz trajectory file) from a trained run, or describe one.",
        **examples("rewardlab demos collect runs/expert --episodes 20", "rewardlab demos show runs/expert/demos.npz"),
    )
    sub = p.add_subparsers(dest="demos_command", metavar="ACTION")
    sub.required = True
    c = sub.add_parser(
        "collect",
        help="roll out a trained run's policy and write its episodes",
        description="Roll out a trained run's policy on its env (true reward) and write whole episodes to an .npz "
        "file that {term: adversarial, demos: FILE} reads.",
        **examples(
            "rewardlab demos collect runs/expert --episodes 20",
            "rewardlab demos collect runs/expert --episodes 50 --n-envs 4 --out demos/cartpole.npz",
        ),
    )
    c.add_argument("run", help="run folder (finished, or an unfinished one with a checkpoint)")
    c.add_argument("--episodes", type=int, default=10, help="episodes to collect (default: 10)")
    c.add_argument("--out", default=None, help="file to write (default: RUN/demos.npz)")
    c.add_argument("--n-envs", type=int, default=1, help="envs rolled out side by side (default: 1)")
    c.add_argument("--seed", type=int, default=None, help="env seed (default: the run's seed + 20000)")
    c.add_argument("--stochastic", action="store_true", help="sample actions instead of the most likely one")
    c.set_defaults(func=run_collect)
    s = sub.add_parser(
        "show",
        help="describe a demonstrations file",
        description="Describe a demonstrations file: env, episodes, steps, returns.",
        **examples("rewardlab demos show runs/expert/demos.npz", "rewardlab demos show demos/cartpole.npz"),
    )
    s.add_argument("file", help="an .npz file written by 'rewardlab demos collect'")
    s.set_defaults(func=run_show)


def run_collect(args: argparse.Namespace) -> int:
    from rewardlab.learned.adversarial.demos import collect_demos

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    demos = collect_demos(
        args.run, episodes=args.episodes, n_envs=args.n_envs, seed=args.seed, deterministic=not args.stochastic
    )
    out = demos.save(Path(args.out) if args.out else Path(args.run) / "demos.npz")
    print(f"wrote {out}: {_describe(demos)}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rewardlab.learned.adversarial.demos import load_demos

    print(f"{args.file}: {_describe(load_demos(args.file))}")
    return 0


def _describe(demos: object) -> str:
    returns, lengths = demos.returns, demos.episode_lengths  # type: ignore[attr-defined]
    return (
        f"{demos.n_episodes} episodes of {demos.env_id}, {len(demos)} transitions, "  # type: ignore[attr-defined]
        f"return {returns.mean():.4g} ± {returns.std():.3g} (min {returns.min():.4g}, max {returns.max():.4g}), "
        f"length {lengths.mean():.4g}"
    )
