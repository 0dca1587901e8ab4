"""MAP-Elites with curiosity-scored parent selection (Cully & Demiris 2018), as a pyribs emitter.

Plain MAP-Elites picks the parents of a batch uniformly among the elites. Curiosity
selection keeps a score ``c`` per archive cell (0 at the start) and credits the cell of
each parent with what its offspring did (Cully & Demiris 2018, "Quality and Diversity
Optimization: A Unifying Modular Framework", IEEE TEVC):

* ``c ← c + reward`` (1) when the offspring entered the archive (a new cell or a better
  elite), ``c ← c − penalty`` (0.5) when it did not;
* parents are drawn with probability ``p_i ∝ c_i − min_j c_j + 1`` over the filled cells
  (uniform while all scores are equal), so the search keeps returning to the elites whose
  offspring still find something: the frontier of the filled region, and cells next to a
  behaviour boundary whose neighbours are thin in parameter space.

The variation is MAP-Elites' own: ``x' = x_i + σ·N(0, I)``, plus ``line_sigma·(x_j −
x_i)·N(0, 1)`` (Iso+LineDD, Vassiliades & Mouret 2018) towards a second elite ``x_j`` (also
drawn by curiosity) when ``line_sigma > 0``. While the archive is empty, the batch is
``x0 + σ·N(0, I)``, the same draws as pyribs' ``GaussianEmitter`` with the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ribs.emitters import EmitterBase


class CuriosityEmitter(EmitterBase):
    """Gaussian (or Iso+LineDD) mutation of elites picked by curiosity score; see the module docstring.

    Examples:
        >>> import numpy as np
        >>> from ribs.archives import GridArchive
        >>> from rewardlab.qd.emitters import CuriosityEmitter
        >>> archive = GridArchive(solution_dim=2, dims=[4], ranges=[(0.0, 1.0)], seed=0)
        >>> emitter = CuriosityEmitter(archive, sigma=0.1, x0=np.zeros(2), batch_size=3, seed=0)
        >>> x = emitter.ask()                                  # archive empty: x0 + σ·N(0, I)
        >>> add_info = archive.add(x, np.zeros(3), np.array([[0.1], [0.1], [0.9]]))
        >>> emitter.tell(x, np.zeros(3), np.zeros((3, 1)), add_info)   # no parents yet: nothing credited
        >>> _ = emitter.ask()                                  # parents drawn among the 2 filled cells
        >>> emitter.tell(x, np.zeros(3), np.zeros((3, 1)), {"status": np.array([2, 0, 0])})
        >>> float(emitter.curiosity.sum())                     # +1 for one added offspring, -0.5 for two others
        0.0
    """

    def __init__(
        self,
        archive: Any,
        *,
        sigma: float,
        x0: np.ndarray,
        batch_size: int,
        seed: int | None = None,
        line_sigma: float = 0.0,
        reward: float = 1.0,
        penalty: float = 0.5,
    ) -> None:
        super().__init__(archive, solution_dim=archive.solution_dim, bounds=None, lower_bounds=None, upper_bounds=None)
        if not sigma > 0 or line_sigma < 0:
            raise ValueError(f"sigma must be > 0 and line_sigma >= 0, got {sigma!r}, {line_sigma!r}")
        self._rng = np.random.default_rng(seed)
        self.sigma, self.line_sigma = float(sigma), float(line_sigma)
        self.reward, self.penalty = float(reward), float(penalty)
        self.x0 = np.asarray(x0, dtype=archive.dtypes["solution"])
        self._batch_size = int(batch_size)
        #: curiosity score of each archive cell
        self.curiosity = np.zeros(archive.cells)
        self._parents: np.ndarray | None = None  # cell of the first parent of each solution of the last ask()

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def _pick(self, index: np.ndarray, n: int) -> np.ndarray:
        """``n`` positions into ``index`` (the filled cells), drawn with ``p ∝ c − min c + 1``."""
        score = self.curiosity[index]
        weight = score - score.min() + 1.0
        return self._rng.choice(len(index), size=n, p=weight / weight.sum())

    def ask(self) -> np.ndarray:
        """``batch_size`` offspring of curiosity-picked elites (``x0 + σ·N(0, I)`` while the archive is empty)."""
        shape = (self._batch_size, self.solution_dim)
        dtype = self.archive.dtypes["solution"]
        if self.archive.empty:
            self._parents = None
            return self.x0 + self._rng.normal(scale=self.sigma, size=shape).astype(dtype)
        data = self.archive.data(["solution", "index"])
        first = self._pick(data["index"], self._batch_size)
        self._parents = data["index"][first]
        parents = data["solution"][first]
        offspring = parents + self._rng.normal(scale=self.sigma, size=shape).astype(dtype)
        if self.line_sigma:
            others = data["solution"][self._pick(data["index"], self._batch_size)]
            offspring += self._rng.normal(scale=self.line_sigma, size=(self._batch_size, 1)) * (others - parents)
        return offspring

    def tell(
        self, solution: np.ndarray, objective: np.ndarray, measures: np.ndarray, add_info: Any, **fields: Any
    ) -> None:
        """Credit each parent's cell: ``+reward`` when its offspring entered the archive, ``−penalty`` otherwise."""
        if self._parents is None:
            return
        added = np.asarray(add_info["status"]) > 0
        np.add.at(self.curiosity, self._parents, np.where(added, self.reward, -self.penalty))
        self._parents = None
