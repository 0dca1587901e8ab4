"""``rewardlab eval RUN``: evaluation episodes of a trained run with its trained reward, a table and a video."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained run: true return and every reward term per episode, and a video",
        description="Play evaluation episodes of a trained run with the reward it trained on (state restored, "
        "frozen); print the true return and each term per episode, write episodes.csv, summary.json and an "
        "MP4 (GIF without imageio-ffmpeg) of the first episodes.",
        **examples(
            "rewardlab eval runs/CartPole-v1-ppo-seed0",
            "rewardlab eval runs/demo --episodes 3 --video-episodes 0 --no-progress",
            "rewardlab eval logs/ppo/CartPole-v1_1  # a run trained with rl-baselines3-zoo (see docs/zoo.md)",
        ),
    )
    p.add_argument("run", help="run folder (finished, or an unfinished one with a checkpoint)")
    p.add_argument(
        "--episodes", type=int, default=None, help="evaluation episodes (default: 10; 2 on NetHack: long games)"
    )
    p.add_argument("--seed", type=int, default=None, help="env seed (default: the run's seed + 10000)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of the most likely one")
    p.add_argument("--video-episodes", type=int, default=1, help="episodes to record (default: 1; 0: no video)")
    p.add_argument("--video-length", type=int, default=1000, help="at most this many frames (default: 1000)")
    p.add_argument("--out", default=None, help="folder for the results (default: RUN/eval)")
    add_progress_flag(p, "a bar over the episodes in a terminal, a line per episode otherwise")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from rewardlab.progress import LineProgress, progress_bar
    from rewardlab.runs import evaluate_run, load_run
    from rewardlab.runs.evaluate import default_eval_episodes

    if args.episodes is not None and args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    if args.video_episodes < 0 or args.video_length < 1:
        raise ConfigError(
            f"--video-episodes must be >= 0 and --video-length >= 1, got {args.video_episodes} and {args.video_length}"
        )
    loaded = load_run(args.run)
    out = Path(args.out) if args.out else loaded.path / "eval"
    episodes = default_eval_episodes(loaded.env_id) if args.episodes is None else args.episodes
    limit = _time_limit(loaded.env_id)
    video = f", recording {args.video_episodes} for the video" if args.video_episodes else ""
    print(
        f"evaluating {loaded.path}: {episodes} episode{'s' * (episodes != 1)} of {loaded.env_id}"
        f"{f' (up to {limit} steps each)' if limit else ''}{video}",
        file=sys.stderr,
        flush=True,
    )
    bar = progress_bar(total=episodes, desc="eval", unit="episode", enabled=args.progress, lines=0)

    def on_episode(row: dict[str, Any]) -> None:
        shown = f"true return {_cell(row['true_return'])}, reward {_cell(row['total'])}, {row['length']} steps"
        if isinstance(bar, LineProgress):  # a log file, or --no-progress: one line per episode
            bar.write(f"episode {row['episode'] + 1}/{episodes}: {shown}")
        else:
            bar.set_postfix_str(shown)
        bar.update()

    with bar:
        result = evaluate_run(
            loaded,
            episodes=episodes,
            seed=args.seed,
            deterministic=not args.stochastic,
            video_episodes=args.video_episodes,
            video_length=args.video_length,
            out=out,
            on_episode=on_episode,
        )
    origin = f"checkpoint at step {loaded.step}" if loaded.from_checkpoint else f"step {loaded.step}"
    n = len(result.episodes)
    table = Table(title=f"{loaded.path} ({loaded.env_id}, {origin}): {n} episode{'s' * (n != 1)}")
    columns = list(result.episodes.columns)
    for col in columns:
        table.add_column(col, justify="right")
    for _, row in result.episodes.iterrows():
        table.add_row(*(_cell(row[c]) for c in columns))
    means = result.episodes.drop(columns=["episode"]).astype(float).mean()
    table.add_row("mean", *(_cell(means[c]) for c in columns[1:]), style="bold")
    console = Console(width=max(100, 14 * len(columns)))
    console.print(table)
    files = [out / "episodes.csv", out / "summary.json"] + ([result.video] if result.video else [])
    print("wrote " + ", ".join(str(f) for f in files))
    if result.note and args.video_episodes > 0:
        print(result.note)
    return 0


def _time_limit(env_id: str) -> int | None:
    """The env's registered step limit, for the message (``None`` when unknown)."""
    import gymnasium as gym

    try:
        return gym.spec(env_id).max_episode_steps
    except Exception:  # noqa: BLE001 -- only for a message
        return None


def _cell(value: object) -> str:
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, float) or hasattr(value, "dtype"):
        number = float(value)  # type: ignore[arg-type]
        return f"{number:.0f}" if number.is_integer() and abs(number) >= 1000 else f"{number:.3g}"
    return str(value)
