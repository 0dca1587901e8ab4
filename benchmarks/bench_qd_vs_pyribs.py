"""rewardlab's QD search beside pyribs' own MAP-Elites and CMA-ME loops, in pyribs' MountainCar setting.

Setting: MountainCarContinuous-v0, a linear policy (the observation scaled to [-1, 1] plus a bias, through
tanh to the force: 3 parameters), a 20×20 ``GridArchive`` over (minimum position, maximum position) reached in
the episode, ``--evals`` evaluations per run (one episode each, every one from its own start), QD score
``Σ (return − offset)`` over filled cells with the fixed offset ``--offset`` (-100: the lowest return a
999-step episode can have). The same batch per iteration (``--batch``) for everyone.

* ``pyribs_me``: pyribs' ``GridArchive`` + ``GaussianEmitter`` (σ = ``--sigma``) + ``Scheduler``, each
  solution rolled out in a plain single-process loop (``env.reset()``, policy, ``env.step`` until the episode
  ends), the env seeded once with the run seed (the archive's seed too: its start draws and the archive's
  parent draws come from one PCG64 stream); ``pyribs_me_apart``: the same with the env seeded apart (seed + 1000);
* ``pyribs_cma_me``: pyribs' CMA-ME, ``--cma-emitters`` ``EvolutionStrategyEmitter`` (``2imp`` ranking,
  ``filter`` selection, restart on no improvement) sharing the batch, same loop;
* ``rl_map_elites``, ``rl_cma_me``, ``rl_cma_mae``, ``rl_novelty``, ``rl_serene``: ``rewardlab.qd.search`` with the
  ``minmax:position`` descriptor (scaled by the observation bounds [-1.2, 0.6]: the same grid), batched
  rollouts (``n_envs`` envs stepping their own policies together), a start per evaluation;
* ``rl_map_elites`` is rewardlab's default MAP-Elites: parents by curiosity score (``selection="curiosity"``,
  Cully & Demiris 2018); ``rl_map_elites_uniform``: parents uniform over the elites (``selection="uniform"``:
  pyribs' own ``GaussianEmitter``, the default before), i.e. pyribs' MAP-Elites up to the start draws;
* ``rl_map_elites_iso_line``: rewardlab's MAP-Elites with the Iso+LineDD operator (``mutation="iso_line"``,
  iso σ = ``--sigma``, line σ = 0.2) and uniform parents (pyribs' ``IsoLineEmitter``);
  ``rl_map_elites_curiosity_iso_line``: the same operator with curiosity parents;
* ``rl_map_elites_fixed``: uniform parents and ``starts="fixed"`` (every evaluation from the run
  seed's one start: the behaviour before this benchmark), to show what a start per evaluation changes.

``--first-seed`` starts the seeds elsewhere (``--first-seed 3 --seeds 5``: seeds 3-7).

Reported per algorithm: mean and 95% t-interval over seeds of coverage, QD score, best return and evals/s
(wall time of the whole search: ask, rollouts, tell). Runs of one seed go one after the other in one
process, so evals/s ratios are side by side. The first seed's archives are drawn side by side.
``--summarize DIR [DIR ...]`` runs nothing: it pools the ``runs.json`` of result folders (seeds run in chunks)
and prints each algorithm's mean ± 95% t-interval and its differences to ``--base`` (``pyribs_me``) paired by
seed, with the p-values of the paired t-test and of the Wilcoxon signed-rank test.
``--speed-rounds N`` times only the rollouts (the same 200 solutions, pyribs' plain loop and rewardlab's batched
rollouts alternating for N rounds: the median ratio is robust to the load of a shared machine).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_qd_vs_pyribs.py --seeds 3 --evals 4000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_qd_vs_pyribs.py --speed-rounds 7
    .venv/bin/python benchmarks/bench_qd_vs_pyribs.py --summarize benchmarks/results/qd_vs_pyribs_fresh/seeds*
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

ENV_ID = "MountainCarContinuous-v0"
RANGES = [(-1.2, 0.6), (-1.2, 0.6)]
HERE = Path(__file__).parent
# rewardlab MAP-Elites variants: SearchConfig settings on top of the defaults (curiosity parents, Gaussian mutation)
VARIANTS = {
    "rl_map_elites_uniform": {"selection": "uniform"},
    "rl_map_elites_fixed": {"selection": "uniform", "starts": "fixed"},
    "rl_map_elites_iso_line": {"selection": "uniform", "mutation": "iso_line"},
    "rl_map_elites_curiosity_iso_line": {"mutation": "iso_line"},
}
ALGOS = (
    "pyribs_me",
    "pyribs_me_apart",
    "pyribs_cma_me",
    "rl_map_elites",
    "rl_map_elites_uniform",
    "rl_map_elites_fixed",
    "rl_map_elites_iso_line",
    "rl_map_elites_curiosity_iso_line",
    "rl_cma_me",
    "rl_cma_mae",
    "rl_novelty",
    "rl_serene",
)


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    """Paired by seed: mean of ``d = a − b``, half-width of its 95% t-interval and the two-sided p-values of the
    paired t-test (H0: mean d = 0) and of the Wilcoxon signed-rank test (ties and zeros: ``zsplit``)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean, half = ci95(list(d))
    if len(d) < 2:
        return {"n": len(d), "mean": mean, "ci95": half, "p_t": float("nan"), "p_wilcoxon": float("nan")}
    p_t = float(stats.ttest_rel(a, b).pvalue) if d.std(ddof=1) > 0 else (1.0 if mean == 0 else 0.0)
    p_w = float(stats.wilcoxon(d, zero_method="zsplit").pvalue) if np.any(d != 0) else 1.0
    return {"n": len(d), "mean": mean, "ci95": half, "p_t": p_t, "p_wilcoxon": p_w}


def load_runs(folders: list[str | Path]) -> list[dict]:
    """The runs of several result folders (each a ``runs.json``, written after every run, so a cut-short folder
    counts what it finished), one per (algorithm, seed): a pair seen twice must agree (the runs are
    deterministic), else it is an error."""
    seen: dict[tuple[str, int], dict] = {}
    for folder in folders:
        path = Path(folder) / "runs.json"
        if not path.exists():
            raise SystemExit(f"no runs.json in {folder}")
        for run in json.loads(path.read_text())["runs"]:
            key = (run["algo"], run["seed"])
            if key in seen and (seen[key]["coverage"], seen[key]["qd_score"]) != (run["coverage"], run["qd_score"]):
                raise SystemExit(f"{key} appears twice with different results ({folder})")
            seen.setdefault(key, run)
    return list(seen.values())


def summarize(runs: list[dict], base: str = "pyribs_me") -> dict:
    """Per algorithm mean ± 95% t-interval of filled cells, coverage and QD score over its seeds; per algorithm
    other than ``base``, the differences to ``base`` paired by seed (seeds both ran), see :func:`paired`."""
    algos = sorted({r["algo"] for r in runs}, key=lambda a: (a != base, a))
    by = {a: {r["seed"]: r for r in runs if r["algo"] == a} for a in algos}
    out: dict = {"base": base, "algos": {}}
    for algo in algos:
        mine = by[algo]
        row: dict = {"seeds": sorted(mine)}
        row["cells"] = ci95([round(r["coverage"] * 400) for r in mine.values()])
        row["coverage"] = ci95([r["coverage"] for r in mine.values()])
        row["qd_score"] = ci95([r["qd_score"] for r in mine.values()])
        if algo != base and base in by:
            both = sorted(set(mine) & set(by[base]))
            row["paired"] = {
                "seeds": both,
                "cells": paired(
                    [round(mine[s]["coverage"] * 400) for s in both],
                    [round(by[base][s]["coverage"] * 400) for s in both],
                ),
                "qd_score": paired([mine[s]["qd_score"] for s in both], [by[base][s]["qd_score"] for s in both]),
            }
        out["algos"][algo] = row
    return out


def print_summary(summary: dict) -> None:
    base = summary["base"]
    print("| algorithm | seeds | filled cells | coverage | QD score |")
    print("|---|---|---|---|---|")
    for algo, row in summary["algos"].items():
        c, v, q = row["cells"], row["coverage"], row["qd_score"]
        print(
            f"| {algo} | {len(row['seeds'])} | {c[0]:.2f} ± {c[1]:.2f} | {v[0]:.4f} ± {v[1]:.4f} | "
            f"{q[0]:.0f} ± {q[1]:.0f} |"
        )
    print(f"\npaired by seed, algorithm − {base} (mean ± 95% t-interval; p: paired t-test, Wilcoxon signed-rank)")
    print("| algorithm | pairs | Δ cells | p (t) | p (Wilcoxon) | Δ QD score | p (t) | p (Wilcoxon) |")
    print("|---|---|---|---|---|---|---|---|")
    for algo, row in summary["algos"].items():
        if "paired" not in row:
            continue
        c, q = row["paired"]["cells"], row["paired"]["qd_score"]
        print(
            f"| {algo} | {c['n']} | {c['mean']:+.2f} ± {c['ci95']:.2f} | {c['p_t']:.3f} | {c['p_wilcoxon']:.3f} | "
            f"{q['mean']:+.0f} ± {q['ci95']:.0f} | {q['p_t']:.3f} | {q['p_wilcoxon']:.3f} |"
        )


def plain_loop(env: object, solutions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """pyribs' way: one env, each solution's episode in turn (the same policy as ``FlatPolicy``)."""
    space = env.observation_space  # type: ignore[attr-defined]
    low, span = space.low.astype(np.float64), (space.high - space.low).astype(np.float64)
    act_low, act_high = float(env.action_space.low[0]), float(env.action_space.high[0])  # type: ignore[attr-defined]
    objectives, measures, steps = np.empty(len(solutions)), np.empty((len(solutions), 2)), 0
    for i, w in enumerate(solutions):
        obs, _ = env.reset()  # type: ignore[attr-defined]
        total, lowest, highest = 0.0, obs[0], obs[0]
        while True:
            x = 2.0 * (obs - low) / span - 1.0
            force = act_low + (np.tanh(w[0] * x[0] + w[1] * x[1] + w[2]) + 1.0) * 0.5 * (act_high - act_low)
            obs, reward, terminated, truncated, _ = env.step(np.array([force], dtype=np.float32))  # type: ignore
            total += reward
            steps += 1
            lowest, highest = min(lowest, obs[0]), max(highest, obs[0])
            if terminated or truncated:
                break
        objectives[i], measures[i] = total, (lowest, highest)
    return objectives, measures, steps


def speed_rounds(rounds: int, n: int, batch: int) -> None:
    """Rollouts alone, alternating: pyribs' plain loop vs rewardlab's batched rollouts (``batch`` envs) of the same
    ``n`` solutions (σ = 0.5 around 0, as early in a search), each from its own start; median ratio of rounds."""
    import gymnasium as gym

    from rewardlab.qd.descriptors import parse_descriptor
    from rewardlab.qd.policies import FlatPolicy, rollout_many

    env = gym.make(ENV_ID)
    env.reset(seed=0)
    policy = FlatPolicy.for_spaces(env.observation_space, env.action_space)
    descriptor = parse_descriptor("minmax:position")
    descriptor.bind(observation_space=env.observation_space, obs_names=("position", "velocity"))
    solutions = np.random.default_rng(0).normal(0.0, 0.5, (n, 3))
    rollout_many(ENV_ID, policy, solutions[:batch], seed=0, n_envs=batch)  # make the envs
    plain, batched = [], []
    for r in range(rounds):
        start = time.perf_counter()
        plain_loop(env, solutions)
        plain.append(n / (time.perf_counter() - start))
        start = time.perf_counter()
        results = rollout_many(ENV_ID, policy, solutions, seed=0, first_index=r * n, n_envs=batch)
        descriptor.of_episodes([e for res in results for e in res.episodes])
        batched.append(n / (time.perf_counter() - start))
        print(
            f"round {r}: plain loop {plain[-1]:6.1f} evals/s, rewardlab batched {batched[-1]:6.1f} evals/s "
            f"({batched[-1] / plain[-1]:.2f}x)",
            flush=True,
        )
    ratio = np.asarray(batched) / np.asarray(plain)
    print(
        f"rollouts alone, {n} solutions x {rounds} rounds, {batch} envs: median ratio {np.median(ratio):.2f}x "
        f"(min {ratio.min():.2f}, max {ratio.max():.2f}); medians {np.median(plain):.1f} vs "
        f"{np.median(batched):.1f} evals/s"
    )


def pyribs_run(algo: str, seed: int, args: argparse.Namespace) -> tuple[dict, object]:
    """pyribs' own loop: ask a batch, roll each solution out in one env, tell."""
    import gymnasium as gym
    from ribs.archives import GridArchive
    from ribs.emitters import EvolutionStrategyEmitter, GaussianEmitter
    from ribs.schedulers import Scheduler

    env = gym.make(ENV_ID)
    archive = GridArchive(solution_dim=3, dims=[20, 20], ranges=RANGES, qd_score_offset=args.offset, seed=seed)
    x0 = np.zeros(3)
    if algo.startswith("pyribs_me"):
        emitters = [GaussianEmitter(archive, sigma=args.sigma, x0=x0, batch_size=args.batch, seed=seed + 1)]
    else:
        per = args.batch // args.cma_emitters
        emitters = [
            EvolutionStrategyEmitter(archive, x0=x0, sigma0=args.sigma, ranker="2imp", batch_size=per, seed=seed + e)
            for e in range(1, args.cma_emitters + 1)
        ]
    scheduler = Scheduler(archive, emitters)
    # pyribs' way seeds the env with the run seed, as the archive: both draw from the same PCG64 stream;
    # pyribs_me_apart seeds the env apart (seed + 1000)
    env.reset(seed=seed + 1000 if algo.endswith("_apart") else seed)
    evals = steps = 0
    start = time.perf_counter()
    while evals < args.evals:
        solutions = scheduler.ask()
        objectives, measures, taken = plain_loop(env, solutions)
        steps += taken
        scheduler.tell(objectives, measures)
        evals += len(solutions)
    seconds = time.perf_counter() - start
    return summarise(algo, seed, archive, evals, steps, seconds, args.offset), archive


def rewardlab_run(algo: str, seed: int, args: argparse.Namespace) -> tuple[dict, object]:
    """rewardlab's search driven iteration by iteration (no files written per iteration)."""
    from rewardlab.qd.search import QDSearch, SearchConfig

    name = "map_elites" if algo in VARIANTS else algo.removeprefix("rl_")
    config = SearchConfig(
        env_id=ENV_ID,
        descriptor="minmax:position",
        algo=name,
        batch_size=args.batch // args.cma_emitters if name.startswith("cma") else args.batch,
        emitters=args.cma_emitters if name.startswith("cma") else 1,
        sigma=args.sigma,
        cells=20,
        seed=seed,
        qd_offset=args.offset,
        n_envs=args.batch,
        **VARIANTS.get(algo, {}),
    )
    with tempfile.TemporaryDirectory() as tmp:
        search = QDSearch(config, tmp)
        evaluator = search.evaluator()
        start = time.perf_counter()
        while search.evaluations < args.evals:
            search.step(evaluator)
        seconds = time.perf_counter() - start
        evaluator.close()
    archive = in_positions(search.result)
    return summarise(algo, seed, archive, search.evaluations, search.env_steps, seconds, args.offset), archive


def in_positions(result: object) -> object:
    """rewardlab's [0, 1]-scaled archive as a GridArchive in position units (for plotting beside pyribs')."""
    from ribs.archives import GridArchive

    data = result.data(["solution", "objective", "measures"])  # type: ignore[attr-defined]
    archive = GridArchive(solution_dim=3, dims=[20, 20], ranges=RANGES)
    if len(data["objective"]):
        archive.add(data["solution"], data["objective"], data["measures"] * 1.8 - 1.2)
    return archive


def summarise(algo: str, seed: int, archive: object, evals: int, steps: int, seconds: float, offset: float) -> dict:
    objectives = archive.data("objective")  # type: ignore[attr-defined]
    return {
        "algo": algo,
        "seed": seed,
        "coverage": len(objectives) / 400,
        "qd_score": float(np.sum(objectives - offset)),
        "best_return": float(objectives.max()) if len(objectives) else float("nan"),
        "evals": evals,
        "env_steps": steps,
        "seconds": seconds,
        "evals_per_s": evals / seconds,
        "steps_per_s": steps / seconds,
    }


def plot(archives: dict[str, object], path: Path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ribs.visualize import grid_archive_heatmap

    fig, axes = plt.subplots(1, len(archives), figsize=(4.0 * len(archives), 3.6))
    for ax, (algo, archive) in zip(np.atleast_1d(axes), archives.items()):
        grid_archive_heatmap(archive, ax=ax, vmin=-100, vmax=100)
        ax.set_title(f"{algo} (seed {seed})")
        ax.set_xlabel("min position")
        ax.set_ylabel("max position")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def warm_up() -> None:
    """Compile ribs' numba CMA-ES once before any timing (both sides use it; the first would pay alone)."""
    from ribs.archives import GridArchive
    from ribs.emitters import EvolutionStrategyEmitter

    archive = GridArchive(solution_dim=3, dims=[2, 2], ranges=RANGES)
    emitter = EvolutionStrategyEmitter(archive, x0=np.zeros(3), sigma0=0.5, batch_size=4, seed=0)
    solutions = emitter.ask()
    emitter.tell(solutions, np.zeros(4), np.zeros((4, 2)), archive.add(solutions, np.zeros(4), np.zeros((4, 2))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--evals", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=40, help="evaluations per iteration")
    parser.add_argument("--cma-emitters", type=int, default=5, help="CMA-ME emitters sharing the batch")
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--offset", type=float, default=-100.0)
    parser.add_argument("--out", default=str(HERE / "results" / "qd_vs_pyribs"))
    parser.add_argument("--speed-rounds", type=int, default=0, help="only time the rollouts, in this many rounds")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="DIR",
        help="run nothing: pool the runs.json of these result folders, print each algorithm's mean ± 95%% CI and "
        "its differences to --base paired by seed (t-interval, paired t-test and Wilcoxon p-values); with --out, "
        "write them to OUT/summary.json",
    )
    parser.add_argument("--base", default="pyribs_me", help="--summarize: the algorithm the others are paired with")
    args = parser.parse_args()
    if args.summarize:
        summary = summarize(load_runs(args.summarize), args.base)
        summary["folders"] = args.summarize
        print_summary(summary)
        if args.out != parser.get_default("out"):
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1))
        return
    if args.speed_rounds:
        speed_rounds(args.speed_rounds, 200, args.batch)
        return
    algos = args.algos.split(",")
    unknown = sorted(set(algos) - set(ALGOS))
    if unknown:
        parser.error(f"unknown algorithms {unknown}; valid: {list(ALGOS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warm_up()
    runs, archives = [], {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for algo in algos:
            run = pyribs_run if algo.startswith("pyribs") else rewardlab_run
            row, archive = run(algo, seed, args)
            runs.append(row)
            if seed == args.first_seed:
                archives[algo] = archive
            print(
                f"{algo:<20} seed {seed}: coverage {row['coverage']:.3f}  QD {row['qd_score']:9.1f}  "
                f"best {row['best_return']:6.1f}  {row['evals_per_s']:6.1f} evals/s  {row['steps_per_s']:7.0f} "
                f"steps/s",
                flush=True,
            )
            (out / "runs.json").write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))
    base = "pyribs_me" if "pyribs_me" in algos else algos[0]
    print(
        f"\n{ENV_ID}, 20x20 over (min, max position), {args.evals} evaluations, {args.seeds} seeds, offset "
        f"{args.offset}: mean ± 95% CI; speed ratio = evals/s over {base}'s in the same seed's run"
    )
    print("| algorithm | coverage | QD score | best return | evals/s | evals/s ÷ " + base + " |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for algo in algos:
        mine = [r for r in runs if r["algo"] == algo]
        ratio = [
            r["evals_per_s"] / b["evals_per_s"]
            for r in mine
            for b in runs
            if b["algo"] == base and b["seed"] == r["seed"]
        ]
        cells = {key: ci95([r[key] for r in mine]) for key in ("coverage", "qd_score", "best_return", "evals_per_s")}
        cells["ratio"] = ci95(ratio)
        summary[algo] = cells
        c = cells
        print(
            f"| {algo} | {c['coverage'][0]:.3f} ± {c['coverage'][1]:.3f} | {c['qd_score'][0]:.0f} ± "
            f"{c['qd_score'][1]:.0f} | {c['best_return'][0]:.1f} ± {c['best_return'][1]:.1f} | "
            f"{c['evals_per_s'][0]:.1f} ± {c['evals_per_s'][1]:.1f} | {c['ratio'][0]:.2f} ± {c['ratio'][1]:.2f} |"
        )
    (out / "results.json").write_text(json.dumps({"args": vars(args), "summary": summary, "runs": runs}, indent=1))
    plot(archives, out / "archives.png", args.first_seed)
    print(f"saved {out / 'results.json'} and {out / 'archives.png'}")


if __name__ == "__main__":
    main()
