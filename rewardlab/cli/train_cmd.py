"""``rewardlab train``: one run from the shell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from rewardlab.config.registry import ConfigError
from rewardlab.config.reward_config import build_reward, load_reward_spec


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an SB3 agent on an env with an injected reward",
        description="Train an SB3 agent with a reward from a YAML file or inline YAML, into a run folder.",
    )
    p.add_argument("--env", required=True, help="env id (see 'rewardlab envs')")
    p.add_argument(
        "--reward",
        default="extrinsic",
        help='reward YAML file, or inline YAML such as "[extrinsic, {term: potential, potential: mountaincar_energy}]"',
    )
    p.add_argument("--algo", default="ppo", help="ppo, a2c, dqn, sac or td3 (default: ppo)")
    p.add_argument("--steps", default="50k", help="environment steps, e.g. 50000, 200k, 1M (default: 50k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=None, help="override the preset's number of envs")
    p.add_argument(
        "--hp", action="append", default=[], metavar="KEY=VALUE", help="override a hyper-parameter (YAML value)"
    )
    p.add_argument(
        "--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="gymnasium.make argument (YAML value)"
    )
    p.add_argument("--nan-policy", default="raise", choices=["raise", "zero", "clip"], help="on NaN/inf rewards")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--out", default=None, help="run folder (default: runs/<env>-<algo>-seed<seed>)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def parse_overrides(pairs: list[str], flag: str = "--hp") -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from rewardlab.train import RunConfig, train

    spec = load_reward_spec(args.reward)
    build_reward(spec)  # validate before building envs
    config = RunConfig(
        env=args.env,
        reward=spec,
        algo=args.algo,
        steps=args.steps,
        seed=args.seed,
        n_envs=args.n_envs,
        hyperparams=parse_overrides(args.hp),
        env_kwargs=parse_overrides(args.env_kwarg, flag="--env-kwarg"),
        nan_policy=args.nan_policy,
        eval_episodes=args.eval_episodes,
    )
    config.validate()
    out = Path(args.out or f"runs/{args.env.replace('/', '_')}-{config.algo}-seed{args.seed}")
    summary = train(config, out, progress_bar=not args.no_progress)
    print(json.dumps(summary, indent=2))
    print(f"run folder: {out}  (tensorboard --logdir {out / 'tb'})")
    return 0
