"""``rewardlab plot landscape|decomposition|curves``: look at a reward or a run from the shell."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.cli.common import examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="plot reward landscapes, decompositions and learning curves",
        description="Draw a reward or a run into a PNG: 'landscape' (a reward over two state dims, one panel per "
        "term, visited states on top), 'decomposition' (each term over an episode) or 'curves' (each term's "
        "learning curve across seeds). 'rewardlab plot KIND --help' lists each kind's options.",
        **examples(
            "rewardlab plot landscape --run runs/demo --axes position velocity --out landscape.png",
            "rewardlab plot decomposition --run runs/demo --out decomposition.png",
            "rewardlab plot curves runs/demo-seed0 runs/demo-seed1 --out curves.png",
        ),
    )
    kinds = p.add_subparsers(dest="plot_kind", metavar="KIND")
    kinds.required = True

    land = kinds.add_parser(
        "landscape",
        help="heatmap of a reward (one panel per component) over two state dims",
        description="Heatmap of a reward over two state dims (the others at their reset values), one panel per "
        "term, with the states a rollout visits drawn on top (the run's policy, or random).",
        **examples(
            "rewardlab plot landscape --run runs/demo --axes position velocity --out landscape.png",
            'rewardlab plot landscape --env MountainCar-v0 --reward "[{term: potential, potential: '
            'mountaincar_energy}]" --axes position velocity --out energy.png',
        ),
    )
    land.add_argument("--reward", action="append", default=[], help="reward YAML file or inline YAML (repeatable)")
    land.add_argument(
        "--run", default=None, help="run folder: its trained reward (counts, networks restored), env, visited states"
    )
    land.add_argument("--env", default=None, help="env id (default: the run's)")
    land.add_argument("--axes", nargs=2, default=["0", "1"], metavar=("X", "Y"), help="two dims, names or indices")
    land.add_argument("--resolution", type=int, default=100, help="grid points per axis (default: 100)")
    land.add_argument(
        "--steps", type=int, default=1000, help="rollout steps for the visited-state overlay (default: 1000)"
    )
    land.add_argument("--out", required=True, help="PNG file to write")
    land.set_defaults(func=run_landscape)

    dec = kinds.add_parser(
        "decomposition",
        help="each term over an episode and its share of the return",
        description="Each reward term along one episode, one panel per term on its own scale (a 0.1%% shaping "
        "term stays visible beside a -1 per step cost), and each term's share of the return.",
        **examples(
            "rewardlab plot decomposition --run runs/demo --out decomposition.png",
            "rewardlab plot decomposition --env MountainCar-v0 --reward configs/mountaincar_shaped.yaml "
            "--out decomposition.png",
        ),
    )
    dec.add_argument("--run", default=None, help="run folder (its trained reward, env and trained policy)")
    dec.add_argument("--reward", default=None, help="reward YAML (with --env; the policy is random)")
    dec.add_argument("--env", default=None, help="env id (default: the run's)")
    dec.add_argument("--steps", type=int, default=1000, help="rollout steps (default: 1000)")
    dec.add_argument("--episode", type=int, default=0, help="episode to stack (default: 0)")
    dec.add_argument("--seed", type=int, default=0, help="env seed of the rollout (default: 0)")
    dec.add_argument("--out", required=True, help="PNG file to write")
    dec.set_defaults(func=run_decomposition)

    cur = kinds.add_parser(
        "curves",
        help="learning curves of each term across run folders (seeds), with bands",
        description="Learning curve of each term (per-episode sums in reward_terms.csv) across run folders: "
        "the mean over the folders (seeds) with a band.",
        **examples(
            "rewardlab plot curves runs/demo-seed0 runs/demo-seed1 runs/demo-seed2 --out curves.png",
            "rewardlab plot curves runs/demo-seed* --terms true_return count --smooth 50 --out curves.png",
        ),
    )
    cur.add_argument("runs", nargs="+", help="run folders holding reward_terms.csv")
    cur.add_argument("--terms", nargs="+", default=None, help="only these columns (default: every term)")
    cur.add_argument("--smooth", type=int, default=20, help="moving-average window in episodes (default: 20)")
    cur.add_argument("--out", required=True, help="PNG file to write")
    cur.set_defaults(func=run_curves)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Analysis functions raise ``ValueError`` for inputs that do not fit (axes, spaces): one CLI line."""
    try:
        yield
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(" ".join(str(err).split())) from err


def check_env(env: str | None) -> None:
    """An unknown env id fails in one line, with the presets to choose from."""
    from rewardlab.envs import get_preset

    if env is not None:
        try:
            get_preset(env)
        except ValueError as err:
            raise ConfigError(str(err)) from err


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _figure(**kwargs: Any) -> Any:
    _use_agg()
    import matplotlib.pyplot as plt

    return plt.figure(**kwargs)


def _save(fig: Any, out: str) -> None:
    import matplotlib.pyplot as plt

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out}")


def _axis(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def reward_name(source: str, index: int) -> str:
    """A label for a reward given on the command line: the file's stem, or ``reward<i>`` for inline YAML."""
    path = Path(source)
    return path.stem if path.suffix in (".yaml", ".yml") else f"reward{index}"


def _run_reward_env(run: str | None, env: str | None) -> tuple[Any, str | None, Any, Any]:
    """``(trained reward, env, model, obs_normalizer)`` of a run folder (``None``s without one)."""
    if run is None:
        return None, env, None, None
    from rewardlab.runs import load_run

    loaded = load_run(run)
    normalizer = loaded.normalize_obs if loaded.vecnormalize is not None else None
    return loaded.reward, env or loaded.env_id, loaded.model, normalizer


def run_landscape(args: argparse.Namespace) -> int:
    import rewardlab as rl
    from rewardlab.config.reward_config import load_reward

    run_reward, env, model, normalizer = _run_reward_env(args.run, args.env)
    rewards = {reward_name(s, i): load_reward(s) for i, s in enumerate(args.reward)}
    if run_reward is not None and not rewards:
        rewards = {Path(args.run).name: run_reward}
    if not rewards:
        raise ConfigError("give --reward (a YAML file or inline YAML) or --run (a run folder)")
    if env is None:
        raise ConfigError("give --env (or --run, whose env is used)")
    check_env(env)
    with user_errors():
        visited = None
        if args.run is not None:
            visited = rl.analysis.rollout(
                env, run_reward, model=model, obs_normalizer=normalizer, n_steps=args.steps
            ).transitions.next_obs
        common = {"env": env, "axes": tuple(_axis(a) for a in args.axes), "resolution": args.resolution}
        _use_agg()  # landscapes sizes its own figure
        target = next(iter(rewards.values())) if len(rewards) == 1 else rewards
        fig = rl.plot.landscapes(target, visited=visited, **common)[0].figure
    _save(fig, args.out)
    return 0


def run_decomposition(args: argparse.Namespace) -> int:
    import rewardlab as rl
    from rewardlab.analysis.decomposition import episode_terms
    from rewardlab.config.reward_config import load_reward

    reward, env, model, normalizer = _run_reward_env(args.run, args.env)
    if args.reward is not None:
        reward = load_reward(args.reward)
    if reward is None or env is None:
        raise ConfigError("give --run (a run folder), or --reward with --env")
    check_env(env)
    with user_errors():
        data = rl.analysis.rollout(
            env, reward, model=model, obs_normalizer=normalizer, n_steps=args.steps, seed=args.seed
        )
    n_panels = len(episode_terms(data, args.episode).columns) + 1
    fig = _figure(figsize=(12, max(4.0, 1.5 * n_panels)))
    grid = fig.add_gridspec(n_panels, 2, width_ratios=[2, 1])
    first = fig.add_subplot(grid[0, 0])
    panels = [first] + [fig.add_subplot(grid[i, 0], sharex=first) for i in range(1, n_panels)]
    rl.plot.episode_term_panels(data, args.episode, axes=panels)  # each term on its own scale
    rl.plot.term_shares(data, ax=fig.add_subplot(grid[:, 1]))
    fig.tight_layout()
    _save(fig, args.out)
    return 0


def run_curves(args: argparse.Namespace) -> int:
    import rewardlab as rl

    missing = [run for run in args.runs if not (Path(run) / "reward_terms.csv").exists()]
    if missing:
        raise ConfigError(f"no reward_terms.csv (no finished episode yet?) in run folder(s) {missing}")
    fig = _figure(figsize=(8, 4.5))
    rl.plot.learning_curves(args.runs, terms=args.terms, smooth=args.smooth, ax=fig.subplots())
    fig.tight_layout()
    _save(fig, args.out)
    return 0
