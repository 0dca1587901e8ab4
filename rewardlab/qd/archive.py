"""The novelty archive of the reward term: behaviour descriptors added by threshold, bounded in size.

Rules (tested in ``tests/test_qd_novelty.py``):

* **novelty** ``ρ(x) = (1/k)·Σ‖x − μ_i‖`` over the k nearest stored descriptors (all of
  them when fewer than k are stored); an empty archive gives ``threshold``, as pyribs'
  ``ProximityArchive`` does;
* **growth**: a batch is scored against the archive as it was before the batch, then
  every descriptor with ``ρ ≥ threshold`` is added (descriptors of one batch are not
  compared with each other, as in ``ProximityArchive.add``); with ``max_size=None``
  the archive grows without bound;
* **bound / eviction**: when an addition would take the archive past ``max_size``,
  the oldest entries are dropped in one go, down to ``evict_to × max_size`` (0.9 by
  default) before the new ones go in: first in, first out, in chunks, so the k-d
  tree is rebuilt once per chunk rather than on every addition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.qd.knn import KNNIndex


class NoveltyArchive:
    """Descriptors of dimension ``dim``; see the module docstring for the rules.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.qd import NoveltyArchive
        >>> archive = NoveltyArchive(2, k=1, threshold=0.1)
        >>> archive.add(np.array([[0.0, 0.0], [1.0, 1.0]]))
        >>> archive.novelty(np.array([[0.0, 0.1], [0.5, 0.5]])).round(3)
        array([0.1  , 0.707])
    """

    def __init__(
        self,
        dim: int,
        *,
        k: int = 15,
        threshold: float = 0.0,
        max_size: int | None = None,
        evict_to: float = 0.9,
        capacity: int = 1024,
        source_dim: int | None = None,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be an integer >= 1 or null, got {max_size!r}")
        if not 0 <= evict_to < 1:
            raise ValueError(f"evict_to must be in [0, 1), got {evict_to!r}")
        self.dim, self.k, self.threshold = int(dim), k, float(threshold)
        self.max_size, self.evict_to = max_size, float(evict_to)
        self.data = np.zeros((max(1, capacity if max_size is None else min(capacity, max_size)), self.dim))
        #: what each descriptor was computed from (rows aligned with ``data``), kept when a learned
        #: descriptor must be recomputed after retraining; ``None`` when not needed
        self.sources = None if source_dim is None else np.zeros((len(self.data), source_dim), dtype=np.float32)
        self.size = 0
        self.added_total = 0
        self.evicted_total = 0
        self.index = KNNIndex()

    def __len__(self) -> int:
        return self.size

    @property
    def descriptors(self) -> np.ndarray:
        """The stored descriptors, oldest first (a view)."""
        return self.data[: self.size]

    def novelty(self, x: np.ndarray) -> np.ndarray:
        """``ρ`` of each row of ``x`` (shape ``(n, dim)``) against the archive; it is not changed."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        return self.index.novelty(self.data, self.size, x, self.k, empty_value=self.threshold)

    def add(self, x: np.ndarray, sources: np.ndarray | None = None) -> None:
        """Store the rows of ``x`` (copied), evicting the oldest first when ``max_size`` would be passed."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        if len(x) == 0:
            return
        if self.sources is not None:
            if sources is None:
                raise ValueError("this archive keeps the source of each descriptor: pass sources=")
            sources = np.asarray(sources, dtype=np.float32).reshape(len(x), -1)
        if self.max_size is not None:
            x = x[-self.max_size :]
            sources = None if sources is None else sources[-self.max_size :]
            if self.size + len(x) > self.max_size:
                keep = min(int(self.evict_to * self.max_size), self.max_size - len(x))
                drop = self.size - keep
                self.data[:keep] = self.data[drop : self.size]
                if self.sources is not None:
                    self.sources[:keep] = self.sources[drop : self.size]
                self.size = keep
                self.evicted_total += drop
                self.index.invalidate()
        need = self.size + len(x)
        if need > len(self.data):
            grown = max(need, 2 * len(self.data))
            if self.max_size is not None:
                grown = min(grown, self.max_size)
            data = np.zeros((grown, self.dim))
            data[: self.size] = self.data[: self.size]
            self.data = data
            if self.sources is not None:
                src = np.zeros((grown, self.sources.shape[1]), dtype=np.float32)
                src[: self.size] = self.sources[: self.size]
                self.sources = src
        self.data[self.size : need] = x
        if self.sources is not None:
            self.sources[self.size : need] = sources
        self.size = need
        self.added_total += len(x)

    def score_and_grow(
        self, x: np.ndarray, *, sources: np.ndarray | None = None, grow: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Novelty of each row, then add the rows with ``ρ ≥ threshold``; returns ``(novelty, added mask)``."""
        rho = self.novelty(x)
        added = rho >= self.threshold
        if grow and added.any():
            self.add(
                np.asarray(x, dtype=np.float64).reshape(-1, self.dim)[added],
                None if sources is None else np.asarray(sources)[added],
            )
        return rho, added

    def state_dict(self) -> dict[str, Any]:
        return {
            "descriptors": self.descriptors.copy(),
            "sources": None if self.sources is None else self.sources[: self.size].copy(),
            "added_total": self.added_total,
            "evicted_total": self.evicted_total,
            "threshold": self.threshold,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        stored = np.asarray(state["descriptors"], dtype=np.float64).reshape(-1, self.dim)
        self.data = np.zeros((max(len(self.data), len(stored), 1), self.dim))
        self.size = 0
        self.index.invalidate()
        self.data[: len(stored)] = stored
        if self.sources is not None:
            src = np.asarray(state["sources"], dtype=np.float32)
            self.sources = np.zeros((len(self.data), src.shape[1]), dtype=np.float32)
            self.sources[: len(src)] = src
        self.size = len(stored)
        self.added_total = int(state["added_total"])
        self.evicted_total = int(state["evicted_total"])
        self.threshold = float(state["threshold"])

    def replace_descriptors(self, x: np.ndarray) -> None:
        """Swap every stored descriptor for a recomputed one (same order): a learned descriptor was retrained."""
        x = np.asarray(x, dtype=np.float64).reshape(self.size, self.dim)
        self.data[: self.size] = x
        self.index.invalidate()
