"""``rewardlab train``: one run from the shell; ``--resume RUN`` continues an interrupted one."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

import yaml

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.hyperparams import parse_number
from rewardlab.config.registry import ConfigError
from rewardlab.config.reward_config import build_reward, load_reward_spec

#: options that define a new run; --resume takes them from the run folder instead
RUN_OPTIONS = ("env", "reward", "algo", "steps", "seed", "n_envs", "hp", "env_kwarg", "nan_policy", "eval_episodes",
               "llm_url", "llm_model")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an SB3 agent on an env with an injected reward",
        description="Train an SB3 agent with a reward from a YAML file or inline YAML, into a run folder. "
        "An existing run folder is refused unless --resume (continue it from its last checkpoint) or "
        "--overwrite (delete it and start over) is given.",
        **examples(
            "rewardlab train --env CartPole-v1 --steps 20k",
            "rewardlab train --env MountainCar-v0 --reward configs/mountaincar_shaped.yaml --steps 200k --seed 1",
            "rewardlab train --env Hopper-v5 --algo sac --hp learning_rate=lin_0.001 --steps 1M  # a zoo schedule",
        ),
    )
    p.add_argument("--env", default=None, help="env id (see 'rewardlab envs')")
    p.add_argument(
        "--reward",
        default=None,
        help='reward YAML file, or inline YAML such as "[extrinsic, {term: potential, potential: mountaincar_energy}]"'
        " (default: extrinsic)",
    )
    p.add_argument("--algo", default=None, help="SB3 algorithm: ppo, a2c, dqn, sac or td3 (default: ppo)")
    p.add_argument("--steps", default=None, help="environment steps, e.g. 50000, 200k, 1M (default: 50k)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the envs and the agent (default: 0)")
    p.add_argument("--n-envs", type=int, default=None, help="override the preset's number of envs")
    p.add_argument(
        "--hp", action="append", default=None, metavar="KEY=VALUE",
        help="override a hyper-parameter (YAML value; zoo schedules such as learning_rate=lin_0.001 work; repeatable)",
    )
    p.add_argument(
        "--env-kwarg", action="append", default=None, metavar="KEY=VALUE", help="gymnasium.make argument (YAML value)"
    )
    p.add_argument("--nan-policy", default=None, choices=["raise", "zero", "clip"], help="on NaN/inf rewards")
    p.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        help="evaluation episodes at the end (default: 10; 2 on NetHack; 0: none)",
    )
    p.add_argument("--llm-url", default=None, help="LLM server for the reward's ONI terms, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--llm-model", default=None, help="model name on that server (API key from $OPENAI_API_KEY)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<env>-<algo>-seed<seed>)")
    p.add_argument(
        "--checkpoint-every",
        default=None,
        metavar="STEPS",
        help="env steps between checkpoints, e.g. 10k (default: a tenth of the run, at least 10k; 0: none)",
    )
    p.add_argument("--resume", default=None, metavar="RUN", help="continue the run in this folder from its checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run already in --out and start over (label stores and demos in it are kept)",
    )
    add_progress_flag(p)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, fastest for the small networks of RL policies; 0: torch's default)",
    )
    p.set_defaults(func=run)


def parse_overrides(pairs: list[str], flag: str = "--hp") -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"{flag} {key.strip()}: cannot read {value!r} as a YAML value") from err
        out[key.strip()] = parse_number(parsed)
    return out


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: the run is marked interrupted and can be resumed."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _new_config(args: argparse.Namespace):  # noqa: ANN202 -- RunConfig, imported lazily
    from rewardlab.runs.evaluate import default_eval_episodes
    from rewardlab.train import RunConfig

    if args.env is None:
        raise ConfigError("give --env (see 'rewardlab envs'), or --resume RUN to continue a run")
    spec = load_reward_spec("extrinsic" if args.reward is None else args.reward)
    if args.llm_url is not None or args.llm_model is not None:
        from rewardlab.oni.terms_config import with_llm_server

        spec = with_llm_server(spec, base_url=args.llm_url, model=args.llm_model)
    build_reward(spec)  # validate before building envs
    config = RunConfig(
        env=args.env,
        reward=spec,
        algo=args.algo or "ppo",
        steps=args.steps if args.steps is not None else "50k",
        seed=0 if args.seed is None else args.seed,
        n_envs=args.n_envs,
        hyperparams=parse_overrides(args.hp or []),
        env_kwargs=parse_overrides(args.env_kwarg or [], flag="--env-kwarg"),
        nan_policy=args.nan_policy or "raise",
        eval_episodes=default_eval_episodes(args.env) if args.eval_episodes is None else args.eval_episodes,
    )
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    from rewardlab.runs.checkpoint import latest_checkpoint
    from rewardlab.runs.folder import SUMMARY_FILE, is_finished, kept_on_clear, read_json
    from rewardlab.train import parse_steps, read_config, train

    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    every = None if args.checkpoint_every is None else parse_steps(args.checkpoint_every)
    if every is not None and every < 0:
        raise ConfigError(f"--checkpoint-every must be >= 0 env steps (0: no checkpoints), got {every}")
    if args.resume is not None:
        given = [f"--{name.replace('_', '-')}" for name in RUN_OPTIONS if getattr(args, name) is not None]
        if given or args.out is not None or args.overwrite:
            extra = given + (["--out"] if args.out is not None else []) + (["--overwrite"] if args.overwrite else [])
            raise ConfigError(
                f"--resume continues the run as configured in {args.resume}/config.yaml; drop {', '.join(extra)}"
            )
        out = Path(args.resume)
        config = read_config(out)
        if is_finished(out):
            summary = read_json(out / SUMMARY_FILE)
            print(
                f"{out} is a finished run ({summary.get('timesteps', '?')} steps): nothing to do "
                f"(to train it again: rewardlab train ... --out {out} --overwrite)"
            )
            return 0
        checkpoint = latest_checkpoint(out)
        kept = [p.name for p in sorted(out.iterdir()) if kept_on_clear(p.name)]
        print(
            f"resuming {out} from step {checkpoint.step}"
            if checkpoint is not None
            else f"{out} has no checkpoint: training it from the start"
            + (f" (keeping {', '.join(kept)})" if kept else "")
        )
    else:
        config = _new_config(args)
        out = Path(args.out or f"runs/{args.env.replace('/', '_')}-{config.algo}-seed{config.seed}")
    _interrupt_on_sigterm()
    try:
        summary = train(
            config,
            out,
            progress_bar=args.progress,
            checkpoint_every=every,
            resume=args.resume is not None,
            overwrite=args.overwrite,
        )
    except KeyboardInterrupt:
        checkpoint = latest_checkpoint(out)
        where = f"step {checkpoint.step}" if checkpoint is not None else "the start (no checkpoint yet)"
        print(f"interrupted; 'rewardlab train --resume {out}' continues from {where}")
        raise
    except ConfigError:
        raise
    except Exception as err:
        raise TrainingFailed(out, err) from err
    print(json.dumps(summary, indent=2))
    if summary.get("oni_pending"):
        print(f"ONI: {summary['oni_pending']} messages still pending in the label store; the next run on it (or "
              "'rewardlab annotate --store ...') asks them first")  # fmt: skip
    print(f"run folder: {out}  (tensorboard --logdir {out / 'tb'})")
    return 0


class TrainingFailed(RuntimeError):
    """Training stopped with an error; the run folder is marked failed (traceback in error.txt)."""

    exit_code = 1

    def __init__(self, out: Path, err: BaseException) -> None:
        from rewardlab.runs.folder import ERROR_FILE, read_status

        message = " ".join(str(err).split())
        marked = (read_status(out) or {}).get("state") == "failed" and (out / ERROR_FILE).exists()
        where = f"run marked failed; traceback in {out / ERROR_FILE}" if marked else "--debug shows the traceback"
        super().__init__(f"training failed: {type(err).__name__}: {message} ({where})")
