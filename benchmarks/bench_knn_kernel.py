"""The shared k-NN scan (``rewardlab.bonus.kernels.knn_merge``) against the two scans it replaced, side by side.

Before, ``rewardlab/qd/knn.py`` (novelty archive) and ``rewardlab/bonus/kernels.py`` (NGU episodic memory) each
held their own copy of the scan. This loads both files as they were at ``--before`` (a git revision, read with
``git show``, never copied into the tree) and times them beside today's kernels on the same data, in rounds that
alternate old and new (median over rounds of the best of ``--repeats``); results must be equal first.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_knn_kernel.py --before d051e3b
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from rewardlab.bonus import kernels

ROOT = Path(__file__).resolve().parents[1]


def load_old(revision: str, path: str, name: str, folder: Path) -> object:
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
    file = folder / f"{name}.py"
    file.write_bytes(source.replace(b"cache=True", b"cache=False"))
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def side_by_side(old: Callable[[], np.ndarray], new: Callable[[], np.ndarray], rounds: int, repeats: int) -> tuple:
    np.testing.assert_allclose(old(), new(), rtol=1e-5)
    o, n = [], []
    for _ in range(rounds):
        o.append(best(old, repeats))
        n.append(best(new, repeats))
    return float(np.median(o)), float(np.median(n))


def novelty_scan(module: object, entries: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    top, found = np.zeros((len(queries), k)), np.zeros(len(queries), dtype=np.int64)
    module.scan_knn(entries, queries, top, found)  # type: ignore[attr-defined]
    return top


def ngu_scan(module: object, memory: np.ndarray, emb: np.ndarray, k: int) -> np.ndarray:
    n_envs, capacity = memory.shape[:2]
    mem, sizes = memory.copy(), np.full(n_envs, capacity - 1, dtype=np.int64)
    dists, found = np.empty((n_envs, k)), np.zeros(n_envs, dtype=np.int64)
    module.knn_then_insert(mem, sizes, emb, k, dists, found)  # type: ignore[attr-defined]
    return dists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision holding the two separate scans")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old_qd = load_old(args.before, "rewardlab/qd/knn.py", "old_qd_knn", Path(tmp))
        old_bonus = load_old(args.before, "rewardlab/bonus/kernels.py", "old_bonus_kernels", Path(tmp))
        for n in (1_000, 20_000):
            data = (rng.random((n, 2)), rng.random((64, 2)), 15)
            old, new = partial(novelty_scan, old_qd, *data), partial(novelty_scan, kernels, *data)
            rows.append((f"novelty scan, {n:,} x 2-d, 64 queries", *side_by_side(old, new, args.rounds, args.repeats)))
        for capacity in (500, 2_000):
            data = (rng.random((16, capacity, 32)).astype(np.float32), rng.random((16, 32)).astype(np.float32), 10)
            old, new = partial(ngu_scan, old_bonus, *data), partial(ngu_scan, kernels, *data)
            rows.append(
                (f"NGU memory, 16 envs x {capacity:,} x 32-d", *side_by_side(old, new, args.rounds, args.repeats))
            )
    print(f"{'scan':<40} {'before':>10} {'shared':>10} {'shared/before':>14}")
    for name, old_s, new_s in rows:
        print(f"{name:<40} {old_s * 1e6:8.1f}us {new_s * 1e6:8.1f}us {new_s / old_s:14.3f}")


if __name__ == "__main__":
    main()
