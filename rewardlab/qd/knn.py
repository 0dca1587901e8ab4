"""k-nearest-neighbour novelty over a growing archive: a k-d tree over the settled entries plus a numba scan.

Novelty (Lehman & Stanley 2011) of a behaviour descriptor ``x`` against an
archive ``{μ_i}``::

    ρ(x) = (1/k) · Σ_{i=1..k} ‖x − μ_i‖    over the k nearest μ_i (fewer when the archive holds fewer)

Why this split (measured in ``benchmarks/bench_novelty_knn.py``, results in
``benchmarks/README.md``): a brute-force scan (the numba loop NGU's episodic
memory uses) costs O(N·d) per query, fine at 1k entries but about 1 ms per
8 queries at 100k; a SciPy ``cKDTree`` answers a batch of 64 queries at 100k
entries in well under a millisecond but costs ~25 ms to rebuild, so
rebuilding it on every addition (what a k-d tree archive does when it
changes) loses to the scan as soon as entries keep arriving. Here the
tree covers the first ``tree_size`` entries and is rebuilt only when the
entries added since (scanned by numba, at most ``max(min_pending,
tree_size / rebuild_ratio)``) pile up, so the rebuild cost is amortised
over many batches and both parts stay small.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.spatial import cKDTree

from rewardlab.bonus.kernels import scan_knn  # the one k-NN scan, shared with NGU's episodic memory


@numba.njit(cache=True, nogil=True)
def mean_root(top: np.ndarray, found: np.ndarray, empty_value: float, out: np.ndarray) -> None:
    """``out[i]`` = mean of ``√top[i, :found[i]]`` (``empty_value`` when nothing was found)."""
    for i in range(top.shape[0]):
        f = found[i]
        if f == 0:
            out[i] = empty_value
            continue
        acc = 0.0
        for j in range(f):
            acc += math.sqrt(top[i, j])
        out[i] = acc / f


def brute_force_novelty(archive: np.ndarray, queries: np.ndarray, k: int, *, empty_value: float = 0.0) -> np.ndarray:
    """Novelty by scanning every entry (the NGU-style numba loop); the reference the tree path must match."""
    queries = np.ascontiguousarray(queries, dtype=np.float64)
    top = np.zeros((len(queries), k))
    found = np.zeros(len(queries), dtype=np.int64)
    scan_knn(np.ascontiguousarray(archive, dtype=np.float64), queries, top, found)
    out = np.empty(len(queries))
    mean_root(top, found, empty_value, out)
    return out


class KNNIndex:
    """k-NN novelty over rows ``data[:size]`` of a growing array: tree over a prefix, numba scan over the rest.

    The owner appends rows to ``data`` and calls :meth:`invalidate` when it
    removes or reorders rows (the tree is then rebuilt on the next query).
    """

    def __init__(self, *, min_pending: int = 512, rebuild_ratio: float = 8.0) -> None:
        self.min_pending = int(min_pending)
        self.rebuild_ratio = float(rebuild_ratio)
        self.tree: cKDTree | None = None
        self.tree_size = 0
        self.rebuilds = 0

    def invalidate(self) -> None:
        self.tree, self.tree_size = None, 0

    def _maybe_rebuild(self, data: np.ndarray, size: int) -> None:
        pending = size - self.tree_size
        if pending > max(self.min_pending, self.tree_size / self.rebuild_ratio):
            self.tree = cKDTree(data[:size].copy())
            self.tree_size = size
            self.rebuilds += 1

    def novelty(self, data: np.ndarray, size: int, queries: np.ndarray, k: int, *, empty_value: float) -> np.ndarray:
        """Mean distance of each query to its ``k`` nearest among ``data[:size]``."""
        queries = np.ascontiguousarray(queries, dtype=np.float64)
        n = len(queries)
        self._maybe_rebuild(data, size)
        top = np.zeros((n, k))
        found = np.zeros(n, dtype=np.int64)
        if self.tree is not None and self.tree_size > 0:
            kk = min(k, self.tree_size)
            dists, _ = self.tree.query(queries, k=kk)
            dists = dists.reshape(n, kk)
            top[:, :kk] = dists * dists
            found[:] = kk
        if size > self.tree_size:
            scan_knn(np.ascontiguousarray(data[self.tree_size : size]), queries, top, found)
        out = np.empty(n)
        mean_root(top, found, empty_value, out)
        return out
