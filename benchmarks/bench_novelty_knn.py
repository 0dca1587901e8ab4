"""Novelty k-NN throughput: the term's index vs a numba scan vs a rebuilt cKDTree vs ribs' ProximityArchive.

Same data for every method: an archive pre-filled with N uniform descriptors in ``[0, 1]^d``, then ``--steps``
steps of the reward term's loop: score a batch of B new descriptors (k=15 neighbours), then add some of them
(``--add`` per batch: the archive keeps growing, as it does early in training). Methods:

* ``term``: :class:`rewardlab.qd.archive.NoveltyArchive` (k-d tree over settled entries + numba scan of the
  entries added since, tree rebuilt when those pile up);
* ``numba scan``: the brute-force loop NGU's episodic memory uses, over the whole archive;
* ``cKDTree``: SciPy's tree, rebuilt whenever the archive changed;
* ``ribs``: ``ProximityArchive.compute_novelty`` then ``add`` (it rebuilds its tree on every add).

A second table scores batches against a fixed archive (no additions): pure query speed. Every method's novelty
is checked against the numba scan. Times are medians of 3 repeats; ratios are against the term's index.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_novelty_knn.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial import cKDTree

from rewardlab.qd.archive import NoveltyArchive
from rewardlab.qd.knn import brute_force_novelty

K = 15


def run_term(base: np.ndarray, batches: np.ndarray, add: int) -> np.ndarray:
    archive = NoveltyArchive(base.shape[1], k=K, threshold=0.0, max_size=None, capacity=len(base))
    archive.add(base)
    out = []
    for x in batches:
        out.append(archive.novelty(x))
        if add:
            archive.add(x[:add])
    return np.concatenate(out)


def run_scan(base: np.ndarray, batches: np.ndarray, add: int) -> np.ndarray:
    data = np.empty((len(base) + len(batches) * add, base.shape[1]))
    data[: len(base)] = base
    size, out = len(base), []
    for x in batches:
        out.append(brute_force_novelty(data[:size], x, K))
        data[size : size + add] = x[:add]
        size += add
    return np.concatenate(out)


def run_kdtree(base: np.ndarray, batches: np.ndarray, add: int) -> np.ndarray:
    data = np.empty((len(base) + len(batches) * add, base.shape[1]))
    data[: len(base)] = base
    size, out, tree = len(base), [], None
    for x in batches:
        if tree is None:
            tree = cKDTree(data[:size])
        d, _ = tree.query(x, k=K)
        out.append(d.mean(axis=1))
        if add:
            data[size : size + add] = x[:add]
            size += add
            tree = None
    return np.concatenate(out)


def run_ribs(base: np.ndarray, batches: np.ndarray, add: int) -> np.ndarray:
    from ribs.archives import ProximityArchive

    dim = base.shape[1]
    archive = ProximityArchive(
        solution_dim=1, measure_dim=dim, k_neighbors=K, novelty_threshold=0.0, initial_capacity=len(base) * 2
    )
    archive.add(np.zeros((len(base), 1)), None, base)
    out = []
    for x in batches:
        out.append(archive.compute_novelty(x))
        if add:
            archive.add(np.zeros((add, 1)), None, x[:add])
    return np.concatenate(out)


METHODS = {"term": run_term, "numba scan": run_scan, "cKDTree": run_kdtree, "ribs": run_ribs}


def timed(fn, *args, repeats: int = 3) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batches", default="8,64")
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--add", type=int, default=2, help="descriptors added per batch in the growing setting")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    run_term(rng.random((100, args.dim)), rng.random((2, 8, args.dim)), 1)  # compile the numba kernels
    for add, title in ((args.add, f"growing archive (+{args.add} per batch)"), (0, "fixed archive")):
        print(f"\n{title}: {args.steps} batches, k={K}, d={args.dim}; novelty queries per second (ratio vs term)")
        print("| entries | batch | " + " | ".join(METHODS) + " |")
        print("|---|---|" + "---|" * len(METHODS))
        for n in map(int, args.sizes.split(",")):
            base = rng.random((n, args.dim))
            for b in map(int, args.batches.split(",")):
                batches = rng.random((args.steps, b, args.dim))
                results = {name: timed(fn, base, batches, add) for name, fn in METHODS.items()}
                reference = results["numba scan"][1]
                for name, (_, values) in results.items():
                    np.testing.assert_allclose(values, reference, rtol=1e-6, err_msg=name)
                qps = {name: args.steps * b / t for name, (t, _) in results.items()}
                cells = [f"{qps[name]:,.0f} ({qps[name] / qps['term']:.2f}×)" for name in METHODS]
                print(f"| {n:,} | {b} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
