"""ONI's reward network: one fit's cost with torch against the compiled steps, and what a fitting thread costs the env.

Part ``fit``: the same 10 Adam steps (a fit) on the same batches, through torch autograd and ``torch.optim.Adam``
(the steps ONI's models took before, ``tests/test_oni_fit_kernel.py``'s reference) and through
:func:`rewardlab.oni.fit_kernel.train_steps`, taking turns; CPU time per fit (``thread_time``), median over
``--rounds`` fits each, for the classification and the ranking loss at several batch sizes.

Part ``env``: NetHackScore-v0, 8 envs, random actions, the extrinsic reward only, while a second thread fits the
classification network back to back (torch or the compiled steps) or nothing does; wall and CPU time of the env
loop per vector step, and the fits the thread finished. The stacks take turns in blocks of 200 steps, ``--rounds``
blocks each.

    env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_oni_fit.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_oni_fit_kernel import TEXTS, batches, torch_steps  # noqa: E402

import rewardlab as rl  # noqa: E402
from rewardlab.oni.fit_kernel import CLASSIFY, RANK  # noqa: E402
from rewardlab.oni.models import ClassificationModel, RankingModel  # noqa: E402


def bench_fit(rounds: int) -> None:
    print("one fit (10 Adam steps), CPU ms, median over rounds; torch / compiled")
    print("| loss | batch | torch ms | compiled ms | torch / compiled |")
    print("|---|---|---|---|---|")
    for kind, model_class in ((CLASSIFY, ClassificationModel), (RANK, RankingModel)):
        for size in (16, 64, 256):
            compiled, reference = model_class(seed=0), model_class(seed=0)
            compiled._train(TEXTS, *batches(kind, 10, size, 0), kind)  # compiled (or loaded) before timing
            times: dict[str, list[float]] = {"torch": [], "compiled": []}
            for r in range(rounds):
                rows, targets = batches(kind, 10, size, r + 1)
                for name in ("torch", "compiled") if r % 2 == 0 else ("compiled", "torch"):
                    start = time.thread_time()
                    if name == "torch":
                        torch_steps(reference, TEXTS, rows, targets, kind)
                    else:
                        compiled._train(TEXTS, rows, targets, kind)
                    times[name].append(time.thread_time() - start)
            t, c = (statistics.median(times[n]) * 1e3 for n in ("torch", "compiled"))
            ratio = statistics.median(a / b for a, b in zip(times["torch"], times["compiled"]))
            pairs = "pairs" if kind == RANK else "rows"
            print(f"| {'ranking' if kind == RANK else 'classification'} | {size} {pairs} | {t:.2f} | {c:.2f} | "
                  f"{ratio:.1f}× |")  # fmt: skip


def fitting(stop: threading.Event, kind: str, done: list[int]) -> None:
    """Fit the classification network back to back until ``stop``; count the fits in ``done[0]``."""
    model = ClassificationModel(seed=0)
    k = 0
    while not stop.is_set():
        rows, targets = batches(CLASSIFY, 10, 64, k)
        if kind == "torch":
            torch_steps(model, TEXTS, rows, targets, CLASSIFY)
        else:
            model._train(TEXTS, rows, targets, CLASSIFY)
        k += 1
        done[0] = k


def bench_env(rounds: int, block: int = 200) -> None:
    venv = rl.RewardVecWrapper(rl.make_vec_env("NetHackScore-v0", n_envs=8, seed=0), rl.extrinsic())
    venv.reset()
    rng = np.random.default_rng(0)
    for a in rng.integers(0, venv.action_space.n, size=(100, 8)):
        venv.step(a)
    ClassificationModel(seed=0)._train(TEXTS, *batches(CLASSIFY, 1, 8, 0), CLASSIFY)  # compile before timing
    names = ("no fitting thread", "torch fits", "compiled fits")
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    fits: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            stop, done = threading.Event(), [0]
            thread = None
            if name != names[0]:
                thread = threading.Thread(target=fitting, args=(stop, name.split()[0], done))
                thread.start()
            actions = rng.integers(0, venv.action_space.n, size=(block, 8))
            start, start_cpu = time.perf_counter(), time.thread_time()
            for a in actions:
                venv.step(a)
            seconds = time.perf_counter() - start
            wall[name].append(seconds / block * 1e6)
            cpu[name].append((time.thread_time() - start_cpu) / block * 1e6)
            stop.set()
            if thread is not None:
                thread.join()
            fits[name].append(done[0] / seconds)
    venv.close()
    base = wall[names[0]]
    print(f"\nNetHackScore-v0, 8 envs, random actions; {rounds} blocks of {block} vector steps per stack, medians")
    print("| beside the env loop | wall µs per vector step | env loop CPU µs | wall / alone (paired) | fits per s |")
    print("|---|---|---|---|---|")
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(wall[name], base))
        print(f"| {name} | {statistics.median(wall[name]):.0f} | {statistics.median(cpu[name]):.0f} | {ratio:.2f} | "
              f"{statistics.median(fits[name]):.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["fit", "env", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part in ("fit", "all"):
        bench_fit(args.rounds)
    if args.part in ("env", "all"):
        bench_env(args.rounds)


if __name__ == "__main__":
    main()
