"""``rewardlab qd``: novelty search, MAP-Elites or SERENE over small policy networks, with pyribs archives."""

from __future__ import annotations

import argparse
import json

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    from rewardlab.qd.policies import STARTS
    from rewardlab.qd.search import ALGOS, BACKENDS, MUTATIONS, SELECTIONS

    p = subparsers.add_parser(
        "qd",
        help="quality-diversity search (novelty search, MAP-Elites, SERENE) over small policies",
        description=(
            "Evolve flat parameter vectors of a linear (or --hidden tanh MLP) policy; each iteration evaluates a "
            "batch (--n-envs envs stepping together, in --workers processes or Ray tasks, each evaluation from its "
            "own start), describes each rollout (--descriptor) and adds it to pyribs archives. "
            "Writes metrics.csv (coverage, QD score, best return per iteration), heatmap.png, archive.csv and "
            "state.pkl (resumable with --resume) into --out."
        ),
        **examples(
            "rewardlab qd --env MountainCarContinuous-v0 --algo map_elites --iterations 50",
            "rewardlab qd --env MountainCarContinuous-v0 --algo novelty --descriptor final:position,velocity",
            "rewardlab qd --env MountainCarContinuous-v0 --iterations 100 --resume  # continue to 100 iterations",
        ),
    )
    p.add_argument("--env", required=True, help="a preset or Gymnasium id with flat Box observations")
    p.add_argument(
        "--descriptor",
        default="final",
        help="final:DIMS, times:DIMS@T1,T2, histogram:DIMS@BINS, minmax:DIMS, learned[:DIMS]@CODE (dims by the "
        "preset's obs_names; default: final, all dims) or your own module:function[@SIZE] over an episode",
    )
    p.add_argument("--algo", default="map_elites", choices=ALGOS, help="search algorithm (default: map_elites)")
    p.add_argument("--iterations", type=int, default=50, help="total iterations (a resume continues to this count)")
    p.add_argument("--batch-size", type=int, default=32, help="solutions evaluated per iteration")
    p.add_argument("--workers", type=int, default=1, help="worker processes (or Ray CPUs) for rollouts (1: in-process)")
    p.add_argument("--backend", default="local", choices=BACKENDS, help="where workers run: local processes or Ray")
    p.add_argument(
        "--address", default=None, help="Ray cluster to join (auto, ray://host:10001); default: a private one"
    )
    p.add_argument("--emitters", type=int, default=1, help="emitters (map_elites, cma_me, cma_mae), each --batch-size")
    p.add_argument("--n-envs", type=int, default=64, help="envs stepping their policies together in each process")
    p.add_argument("--hidden", type=int, default=0, help="hidden units of the policy (0: linear)")
    p.add_argument("--sigma", type=float, default=0.5, help="mutation / initial step size of the emitters")
    p.add_argument(
        "--mutation", default="gaussian", choices=MUTATIONS, help="map_elites: gaussian or iso_line (Iso+LineDD)"
    )
    p.add_argument(
        "--selection",
        default=None,
        choices=SELECTIONS,
        help="map_elites' parents: curiosity (by a score per cell: +1 when an offspring entered the archive, "
        "-0.5 when not; Cully & Demiris 2018; default) or uniform (pyribs' emitters); --resume keeps the saved one",
    )
    p.add_argument("--cells", type=int, default=20, help="cells per descriptor dim (CVT: centroids)")
    p.add_argument("--k", type=int, default=15, help="neighbours of the novelty archive")
    p.add_argument("--novelty-threshold", type=float, default=0.05, help="novelty to enter the novelty archive")
    p.add_argument("--episodes", type=int, default=1, help="episodes per evaluation (return and descriptor: means)")
    p.add_argument(
        "--starts",
        default="each",
        choices=STARTS,
        help="each: every episode its own start (seed from the run seed and the evaluation index); fixed: the same",
    )
    p.add_argument(
        "--qd-offset",
        type=float,
        default=None,
        help="QD score = sum of (return - offset) over cells "
        "(default: the lowest return of the first batch; cma_mae needs it as its threshold_min)",
    )
    p.add_argument("--learning-rate", type=float, default=0.01, help="cma_mae: archive learning rate")
    p.add_argument("--max-steps", type=int, default=None, help="cut episodes at this many steps")
    p.add_argument("--reward-threshold", type=float, default=None, help="serene: a return above it is a reward")
    p.add_argument("--exploit-patience", type=int, default=5, help="serene: exploit iterations without progress")
    p.add_argument("--seed", type=int, default=0, help="seed of the emitters and the rollouts (default: 0)")
    p.add_argument("--out", default=None, help="output folder (default: runs/qd/<env>-<algo>)")
    p.add_argument("--resume", action="store_true", help="continue the search saved in --out")
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rewardlab.qd.search import SearchConfig, run_search, saved_config

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    out = args.out or f"runs/qd/{args.env.replace('/', '_')}-{args.algo}"
    selection = args.selection
    if selection is None:  # a resumed search keeps the parents it was started with (older saves: uniform)
        saved = saved_config(out) if args.resume else None
        selection = saved.selection if saved is not None else "curiosity"
    config = SearchConfig(
        env_id=args.env,
        descriptor=args.descriptor,
        algo=args.algo,
        batch_size=args.batch_size,
        policy_hidden=args.hidden,
        sigma=args.sigma,
        cells=args.cells,
        k=args.k,
        novelty_threshold=args.novelty_threshold,
        episodes=args.episodes,
        starts=args.starts,
        mutation=args.mutation,
        selection=selection,
        emitters=args.emitters,
        n_envs=args.n_envs,
        qd_offset=args.qd_offset,
        learning_rate=args.learning_rate,
        max_steps=args.max_steps,
        seed=args.seed,
        reward_threshold=args.reward_threshold,
        exploit_patience=args.exploit_patience,
    )
    search = run_search(
        config,
        out,
        iterations=args.iterations,
        workers=args.workers,
        backend=args.backend,
        address=args.address,
        resume=args.resume,
        progress=args.progress,
    )
    summary = {k: v for k, v in search.metrics("done").items() if k != "phase"}
    print(json.dumps({"out": str(search.out), **summary}, indent=2))
    return 0
