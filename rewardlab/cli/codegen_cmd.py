"""``rewardlab codegen``: an LLM writes, trains and refines reward programs for an env (Eureka / ICPL)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rewardlab.cli.common import examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "codegen",
        help="let an LLM write reward programs, train them, pick the best and refine (Eureka, ICPL)",
        description=(
            "Each round asks the LLM for --candidates reward programs, checks them and runs them in a sandbox, "
            "trains each briefly, picks one (--select metric: the best score; human: you watch the videos and "
            "choose; synthetic: the highest true return) and feeds its statistics back for the next round. "
            "Without --llm-url the answers come from the generation store (offline replay)."
        ),
        **examples(
            'rewardlab codegen --env Hopper-v5 --task "hop forward" --llm-url http://127.0.0.1:8000/v1 --model qwen',
            'rewardlab codegen --env CartPole-v1 --task "balance the pole" --model qwen --rounds 1 --steps 20k'
            "  # offline: replay the stored answers of that model",
        ),
    )
    p.add_argument("--env", required=True, help="a classic-control or MuJoCo preset, e.g. Hopper-v5")
    p.add_argument("--task", required=True, help='what the agent should do, e.g. "hop forward as fast as possible"')
    p.add_argument("--llm-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", default=None, help="model name (default: the client's; needed to replay offline)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable with the API key")
    p.add_argument("--rounds", type=int, default=3, help="generate-train-feedback rounds (default: 3)")
    p.add_argument("--candidates", type=int, default=4, help="programs per round, K (default: 4)")
    p.add_argument("--select", default="metric", help="metric, human or synthetic (default: metric)")
    p.add_argument("--metric", default="eval_true_return", help="summary value to maximise with --select metric")
    p.add_argument("--prompt", default="zero_shot", help="zero_shot or few_shot (built-in example programs)")
    p.add_argument("--steps", default="50k", help="training steps per candidate (default: 50k)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per candidate (default: 1)")
    p.add_argument(
        "--algo",
        default="ppo",
        choices=["ppo", "a2c", "dqn", "sac", "td3"],
        help="SB3 algorithm that trains each candidate (default: ppo)",
    )
    p.add_argument("--n-envs", type=int, default=None, help="envs per training run (default: the preset's)")
    p.add_argument(
        "--hp", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter override (YAML; repeatable)"
    )
    p.add_argument(
        "--eval-episodes", type=int, default=5, help="evaluation episodes per trained candidate (default: 5)"
    )
    p.add_argument("--fix-attempts", type=int, default=1, help="retries of a rejected program with its error")
    p.add_argument("--temperature", type=float, default=1.0, help="LLM sampling temperature (default: 1.0)")
    p.add_argument("--max-tokens", type=int, default=2048, help="longest LLM answer in tokens (default: 2048)")
    p.add_argument(
        "--videos",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="render a video of each candidate (default: on for --select human and synthetic)",
    )
    p.add_argument("--video-steps", type=int, default=150, help="frames per candidate video")
    p.add_argument("--out", default=None, help="loop folder (default: runs/codegen/<env>)")
    p.add_argument("--store", default=None, help="generation store (default: $REWARDLAB_CODEGEN_STORE or ~/.local/...)")
    p.add_argument("--workers", type=int, default=None, help="candidates trained at once")
    p.add_argument("--backend", default="local", help="local, ray, or inline (one run after the other, no spawn)")
    p.add_argument(
        "--allow-unfenced-code",
        action="store_true",
        help="run generated programs even on a machine where the sandbox cannot fence off the filesystem "
        "(no Landlock, no mount namespace); refused by default",
    )
    p.set_defaults(func=run)


def ask_terminal(rnd: object) -> tuple[int, int | None]:
    """Show where the videos are and read the choice from stdin: ``best`` or ``best,worst``."""
    trained = [c.index for c in rnd.trained]  # type: ignore[attr-defined]
    print(f"\nround {rnd.index}: watch the candidates side by side: {rnd.side_by_side}")  # type: ignore[attr-defined]
    for c in rnd.trained:  # type: ignore[attr-defined]
        print(f"  candidate {c.index}: {c.video}")
    while True:
        print(f"Which candidate behaves best? {trained} (or 'best,worst'): ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("--select human: no choice on standard input")
        try:
            parts = [int(x) for x in line.replace(" ", "").split(",") if x]
        except ValueError:
            parts = []
        if 1 <= len(parts) <= 2 and all(x in trained for x in parts):
            return parts[0], parts[1] if len(parts) == 2 else None
        print(f"  please answer with one of {trained}, or two separated by a comma")


def run(args: argparse.Namespace) -> int:
    from rewardlab.cli.train_cmd import parse_overrides
    from rewardlab.codegen.loop import CodegenLoop, LoopConfig
    from rewardlab.codegen.store import GenerationStore

    config = LoopConfig(
        env=args.env,
        task=args.task,
        rounds=args.rounds,
        candidates=args.candidates,
        steps=args.steps,
        algo=args.algo,
        seeds=args.seeds,
        n_envs=args.n_envs,
        eval_episodes=args.eval_episodes,
        select=args.select,
        metric=args.metric,
        prompt=args.prompt,
        fix_attempts=args.fix_attempts,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        hyperparams=parse_overrides(args.hp),
        videos=args.videos,
        video_steps=args.video_steps,
    )
    client = None
    if args.llm_url:
        from rewardlab.llm import LLMClient, LLMConfig, LLMError

        settings = {"base_url": args.llm_url, "api_key_env": args.api_key_env, "max_tokens": args.max_tokens}
        if args.model:
            settings["model"] = args.model
        client = LLMClient(LLMConfig.from_config(settings, where="--llm-url"))
        try:
            client.check()
        except LLMError as err:
            raise ConfigError(str(err)) from None
    out = Path(args.out or f"runs/codegen/{args.env.replace('/', '_')}")
    loop = CodegenLoop(
        config,
        out,
        client=client,
        store=GenerationStore(args.store),
        model=args.model,
        workers=args.workers,
        backend=args.backend,
        allow_unfenced=args.allow_unfenced_code,
    )
    best = loop.run(chooser=ask_terminal if args.select == "human" else None)
    print(json.dumps({k: v for k, v in best.items() if k != "rounds"}, indent=2))
    for r in best["rounds"]:
        print(f"round {r['round']}: valid {r['valid_rate']:.0%} (first try {r['valid_first_rate']:.0%}), "
              f"scores {r['scores']}, chose {r['chosen']}")  # fmt: skip
    print(f"loop folder: {out}")
    return 0 if best.get("program_id") else 1
