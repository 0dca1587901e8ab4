"""``rewardlab annotate``: label a corpus of NetHack messages ahead of training, into an ONI label store.

The corpus is a text file (one message a line) or the messages a random policy
meets on a preset in ``--steps`` env steps. Labels go to the same SQLite store
the ONI term reads (``{term: oni, store: PATH}``), so training starts with
them; messages already labelled there are not asked again. Every query is
pending in the store before it is sent and every answer is stored as it
arrives, so a run killed at any moment is resumed by running it again.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "annotate",
        help="label NetHack messages for ONI (LLM or rules) into a label store, ahead of training",
        description="Label a corpus of messages (--messages FILE, one a line, or --env PRESET --steps N with a "
        "random policy) with an LLM on any OpenAI-compatible server (--annotator llm --llm-url ... --model ...; "
        "API key from $OPENAI_API_KEY) or the rule-based annotator (--annotator rules), into --store.",
        **examples(
            "rewardlab annotate --env NetHackScore-v0 --steps 2000 --store oni_labels.sqlite",
            "rewardlab annotate --messages messages.txt --annotator llm --llm-url http://127.0.0.1:8000/v1 "
            "--model Qwen2.5-7B-Instruct",
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--messages", metavar="FILE", help="text file with one message a line")
    source.add_argument("--env", help="collect messages with a random policy on this preset, e.g. NetHackScore-v0")
    p.add_argument("--steps", default="2000", help="env steps of the random policy (default: 2000)")
    p.add_argument("--n-envs", type=int, default=4, help="envs of the random policy (default: 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy and of rank pairs (default: 0)")
    p.add_argument("--store", default="oni_labels.sqlite", help="label store file (default: oni_labels.sqlite)")
    p.add_argument("--annotator", default="rules", choices=["rules", "llm"], help="who labels (default: rules)")
    p.add_argument("--llm-url", default="http://127.0.0.1:8000/v1", help="OpenAI-compatible server (llm)")
    p.add_argument("--model", default=None, help="model name on the server (llm)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable with the API key (llm)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (llm, default: 8)")
    p.add_argument("--batching", default="auto", choices=["auto", "prompt_list", "concurrent"],
                   help="llm: a list of --batch-size prompts per /v1/completions request (prompt_list), one chat "
                   "request per message (concurrent), or a list with a fall-back to chat when the server refuses "
                   "lists (auto, default)")
    p.add_argument("--goal", default="default", help="default/score, gold, stairs/descend or combat")
    p.add_argument("--queries", default="classify", choices=["classify", "rank"],
                   help="classify each message (retrieval/classification models) or rank pairs (ranking)")
    p.add_argument("--pairs", type=int, default=2, help="rank: pairs per message (default: 2)")
    p.add_argument(
        "--batch-size", type=int, default=16, help="messages sent to the annotator in one request (default: 16)"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds (default: 1 h)")
    add_progress_flag(p)
    p.set_defaults(func=run)


def collect_messages(env_id: str, steps: int, n_envs: int, seed: int) -> collections.Counter:
    """Messages (text → times seen) a uniform random policy meets in ``steps`` env steps on ``env_id``."""
    import numpy as np

    from rewardlab.make import make_vec_env
    from rewardlab.oni.messages import decode

    venv = make_vec_env(env_id, n_envs, seed=seed)
    try:
        if "message" not in getattr(venv.observation_space, "spaces", {}):
            raise ConfigError(f"{env_id} has no 'message' observation; use a NetHack or MiniHack preset")
        rng = np.random.default_rng(seed)
        counts: collections.Counter = collections.Counter()
        venv.reset()
        for _ in range(max(1, steps // n_envs)):
            actions = rng.integers(0, venv.action_space.n, size=n_envs)
            obs, _, _, _ = venv.step(actions)
            counts.update(t for t in (decode(m) for m in obs["message"]) if t)
        return counts
    finally:
        venv.close()


def run(args: argparse.Namespace) -> int:
    from rewardlab.oni.annotators import make_annotator
    from rewardlab.oni.messages import message_hash, pair_key
    from rewardlab.oni.service import AnnotationService
    from rewardlab.oni.store import LabelStore, Query
    from rewardlab.train import parse_steps

    if args.messages:
        path = Path(args.messages)
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        counts = collections.Counter(line for line in lines if line)
    else:
        counts = collect_messages(args.env, parse_steps(args.steps), args.n_envs, args.seed)
    texts = [t for t, _ in counts.most_common()]
    if not texts:
        raise ConfigError("no messages to label: the corpus is empty")
    if args.annotator == "llm":
        if not args.model:
            raise ConfigError("--annotator llm needs --model (the model name the server serves)")
        config = {"kind": "llm", "base_url": args.llm_url, "model": args.model, "api_key_env": args.api_key_env,
                  "concurrency": args.concurrency, "goal": args.goal, "batching": args.batching}  # fmt: skip
    else:
        config = {"kind": "rules", "goal": args.goal}
    try:
        annotator = make_annotator(config)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    if args.queries == "rank":
        import numpy as np

        rng = np.random.default_rng(args.seed)
        queries = []
        for i, a in enumerate(texts[1:], start=1):
            for j in rng.choice(i, size=min(args.pairs, i), replace=False):
                queries.append(Query("rank", pair_key(a, texts[j]), (a, texts[j])))
    else:
        queries = [Query("classify", message_hash(t), (t,)) for t in texts]
    store = LabelStore(args.store, prompt_version=annotator.prompt_version, model=annotator.model,
                       goal=annotator.goal)  # fmt: skip
    service = AnnotationService(annotator, store, batch_size=args.batch_size,
                                failure_note="unanswered messages stay pending; run the command again to ask them")
    reused = sum(q.key in service.values for q in queries)
    start = time.monotonic()
    service.start()
    service.submit(queries)
    total = len(queries)
    done = reused
    bar = None
    if args.progress:
        from rewardlab.progress import progress_bar

        bar = progress_bar(total=total, initial=reused, unit="label", desc=f"annotate ({annotator.model})")
    try:
        while time.monotonic() - start < args.timeout:
            now = sum(q.key in service.values for q in queries)
            if bar is not None:
                bar.update(now - done)
                bar.set_postfix(errors=service.stats["errors"], malformed=service.stats["malformed"])
            done = now
            if done >= total:
                break
            time.sleep(0.2)
    finally:
        if bar is not None:
            bar.close()
        service.close()
    labels = [service.values[q.key] for q in queries if q.key in service.values]
    in_store = store.counts()
    report = {
        "store": str(args.store),
        "annotator": annotator.model,
        "prompt_version": annotator.prompt_version,
        "goal": annotator.goal,
        "messages": len(texts),
        "queries": total,
        "reused": reused,
        "labelled": len(labels) - reused,
        "still_pending": total - len(labels),
        "store_labels": in_store["labels"],
        "store_pending": in_store["pending"],
        "positive": int(sum(v > 0.5 for v in labels)),
        "errors": service.stats["errors"],
        "malformed": service.stats["malformed"],
        "seconds": round(time.monotonic() - start, 2),
    }
    store.close()
    print(json.dumps(report, indent=2))
    if report["still_pending"]:
        print(f"{report['still_pending']} queries are still pending in {args.store}; run the command again to "
              "ask them (answers already stored are never asked again)")  # fmt: skip
        return 1
    return 0
