"""Wall-time cost of PPO on a learned preference reward, as a ratio to PPO on the true reward, before and after.

Paired rounds: for each seed, PPO on the true reward, then the preference run
with the code of a *before* commit (default ``9d5e188``: a Python loop over the
ensemble's members, 20 epochs on all labels at every training call), then the
preference run with this tree's code (members as one batched MLP, both segments
in one pass, early stopping), each in a fresh interpreter
(``OMP_NUM_THREADS=1``, one torch thread), one after the other, so the three see
the same machine load. The *before* and *now* (default ``HEAD``) code are
extracted with ``git archive`` into temporary folders and put first on
``PYTHONPATH`` (the true-reward runs use *now*). A run's cost is its
``wall_seconds`` (``rewardlab.train``: build, learning and the final
evaluation); the ratio of each preference run to the true-reward run of the
same round is reported per seed, with the median and the mean. Beside it, the
ratio of the runs' CPU time (user + system of the interpreter during
``train``): on a shared machine a run's wall time also counts the time it waited
for a core, its CPU time does not. Quality: the
true return of 10 deterministic evaluation episodes (Pendulum's normalised by a
random policy's return, as in ``bench_preference_learning.py``). Finished runs
(``summary.json`` under ``--runs``) are read back, and the report is written
after every round, so a stopped benchmark keeps its finished rounds.

Settings (issue 22): CartPole-v1, 50k steps, 500 comparisons; Pendulum-v1,
1000 comparisons (``--steps`` sets the budget of steps: fewer steps for the
same comparisons give a *higher*, conservative ratio). 20 queries per update,
segments of 25 steps, disagreement selection, oracle teacher.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_cost.py --env CartPole-v1 --seeds 3
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_cost.py --env Pendulum-v1 \
        --steps 50k --seeds 3

``--no-before`` runs only the true reward and this tree (a third of the time on Pendulum, where the old code
takes several times longer than either).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
SETTINGS = {"CartPole-v1": {"budget": 500, "steps": "50k"}, "Pendulum-v1": {"budget": 1000, "steps": "100k"}}
RUNNER = """
import json, os, sys, torch
for name, module in list(sys.modules.items()):  # an editable install maps rewardlab.envs/agents to its checkout
    if name.startswith("__editable___rewardlab") and isinstance(getattr(module, "MAPPING", None), dict):
        module.MAPPING.update({"rewardlab.envs": os.getcwd() + "/envs", "rewardlab.agents": os.getcwd() + "/agents"})
torch.set_num_threads(1)
from rewardlab.train import RunConfig, train
cfg = json.loads(sys.argv[1])
import resource, pathlib
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start = cpu()
summary = train(RunConfig(**cfg["config"]), cfg["out"], progress_bar=False, checkpoint_every=0, overwrite=True)
result = {k: summary[k] for k in ("wall_seconds", "eval_true_return", "train_true_return")}
result["cpu_seconds"] = cpu() - start
pathlib.Path(cfg["out"], "cpu_seconds.json").write_text(json.dumps(result["cpu_seconds"]))
print("SUMMARY " + json.dumps(result))
"""


def extract(commit: str, where: Path) -> Path:
    """The tree of ``commit`` (the ``rewardlab`` package and its data) in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    archive = where / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    return where


def run(tree: Path, config: dict, out: Path) -> dict:
    """One run in a fresh interpreter on ``tree``'s code (a finished one in ``out`` is read back, not rerun)."""
    done = out / "summary.json"
    if done.exists():
        summary = json.loads(done.read_text())
        result = {k: summary[k] for k in ("wall_seconds", "eval_true_return", "train_true_return")}
        cpu = out / "cpu_seconds.json"
        result["cpu_seconds"] = json.loads(cpu.read_text()) if cpu.exists() else float("nan")
        return result
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps({"config": config, "out": str(out)})],
        env=env, cwd=tree, capture_output=True, text=True,
    )  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"run in {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("SUMMARY ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", default=None, help="steps per run (default: the issue's setting)")
    parser.add_argument("--before", default="9d5e188", help="commit of the code to compare with")
    parser.add_argument(
        "--now", default="HEAD", help="commit of the code to measure (a snapshot: edits do not leak in)"
    )
    parser.add_argument("--no-before", action="store_true", help="only the true reward and now (no before runs)")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/rewardlab_bench_preference_cost"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from rewardlab.train import parse_steps

    s = SETTINGS[args.env]
    steps = parse_steps(args.steps or s["steps"])
    term = {"term": "preference", "teacher": "oracle", "budget": s["budget"], "queries_per_update": 20,
            "segment_length": 25, "selection": "disagreement"}  # fmt: skip
    variants = {"true reward": ("now", "extrinsic"), "before": ("before", [term]), "now": ("now", [term])}
    if args.no_before:
        del variants["before"]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": extract(args.before, Path(tmp) / "before"), "now": extract(args.now, Path(tmp) / "now")}
        rows: dict[str, list[dict]] = {k: [] for k in variants}
        for seed in range(args.seeds):
            for label, (tree, reward) in variants.items():
                config = {"env": args.env, "algo": "ppo", "reward": reward, "steps": steps, "seed": seed,
                          "eval_episodes": 10}  # fmt: skip
                out = args.runs / args.env / str(steps) / label.replace(" ", "_") / f"seed{seed}"
                result = run(trees[tree], config, out)
                rows[label].append(result)
                wall, ret, cpu = result["wall_seconds"], result["eval_true_return"], result["cpu_seconds"]
                print(f"{label:12s} seed {seed}: {wall:7.1f} s, cpu {cpu:7.1f} s, eval {ret:7.1f}", flush=True)
            write_report(args, s, steps, rows, seed + 1)  # after every round: a stopped benchmark keeps its rounds


def write_report(args: argparse.Namespace, s: dict, steps: int, rows: dict[str, list[dict]], rounds: int) -> None:
    """Print and write the ratios of the finished rounds."""
    from bench_preference_learning import random_return

    zero = random_return(args.env) if args.env == "Pendulum-v1" else 0.0
    base_wall = np.array([r["wall_seconds"] for r in rows["true reward"]])
    base_cpu = np.array([r.get("cpu_seconds", np.nan) for r in rows["true reward"]])
    base_eval = np.mean([r["eval_true_return"] for r in rows["true reward"]])
    lines = [
        f"{args.env}, PPO, {steps} steps, {s['budget']} comparisons, {rounds} paired rounds (before = {args.before})",
        f"{'variant':12s} {'wall s (mean)':>13s} {'ratio per seed':>24s} {'median':>7s} {'mean':>6s} "
        f"{'eval return':>12s} {'fraction of true':>17s} {'cpu ratio per seed':>24s} {'median':>7s}",
    ]
    report: dict = {"env": args.env, "steps": steps, "budget": s["budget"], "before": args.before, "variants": {}}
    for label, runs in rows.items():
        wall = np.array([r["wall_seconds"] for r in runs])
        ratios = wall / base_wall
        cpu_ratios = np.array([r.get("cpu_seconds", np.nan) for r in runs]) / base_cpu
        ev = np.mean([r["eval_true_return"] for r in runs])
        fraction = (ev - zero) / (base_eval - zero)
        report["variants"][label] = {"runs": runs, "ratios": ratios.tolist(), "cpu_ratios": cpu_ratios.tolist(),
                                     "fraction": float(fraction)}  # fmt: skip
        lines.append(
            f"{label:12s} {wall.mean():13.1f} {' '.join(f'{r:.2f}' for r in ratios):>24s} {np.median(ratios):7.2f} "
            f"{ratios.mean():6.2f} {ev:12.1f} {fraction:17.2f} {' '.join(f'{r:.2f}' for r in cpu_ratios):>24s} "
            f"{np.median(cpu_ratios):7.2f}"
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"preference_cost_{args.env}_{steps}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (args.out / f"{stem}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
