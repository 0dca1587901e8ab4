"""NGU's episodic novelty (Badia et al. 2020) and its global × episodic combination.

Each env keeps an episodic memory of embeddings. For the embedding ``e`` of
``s'``, take its ``k`` nearest neighbours in the memory (squared distances
``d²``), normalise by ``d̄²``, the running mean of k-NN squared distances,
and sum the kernel ``K = ε/(max(d²/d̄² − ξ, 0) + ε)``. ``s'`` counts as its
own neighbour (``K = 1``), like counts that include the current visit, so
the bonus ``1/(√ΣK + c)`` is about ``1/√(number of similar states)``:
``≈1`` for a new state, ``0`` past ``max_similarity``. The k-NN search and
the kernel run for all envs in two numba calls.

:func:`ngu` multiplies it with a lifelong novelty ``α`` (RND by default,
``α = 1 + (e − μ)/σ``) clipped to ``[1, L]``, as NGU does.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rewardlab.bonus.combine import Product
from rewardlab.bonus.kernels import knn_then_insert, ngu_similarity_bonus
from rewardlab.core.checks import check_at_least, check_positive
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.running import RunningMeanStd
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions

EMBEDDINGS = ("raw", "inverse_dynamics")


class EpisodicMemory:
    """Per-env memories of embeddings, ``(n_envs, capacity, d)``, grown up to ``max_size`` then overwritten."""

    def __init__(self, n_envs: int, dim: int, *, capacity: int = 256, max_size: int = 30_000) -> None:
        self.max_size = max_size
        self.data = np.zeros((n_envs, min(capacity, max_size), dim), dtype=np.float32)
        self.sizes = np.zeros(n_envs, dtype=np.int64)

    def knn_then_insert(self, emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances to each env's ``k`` nearest stored embeddings (sorted), then store ``emb``."""
        n, dim = self.data.shape[0], self.data.shape[2]
        capacity = self.data.shape[1]
        if self.sizes.max() >= capacity and capacity < self.max_size:
            grown = np.zeros((n, min(2 * capacity, self.max_size), dim), dtype=np.float32)
            grown[:, :capacity] = self.data
            self.data = grown
        dists = np.empty((n, k))
        found = np.empty(n, dtype=np.int64)
        knn_then_insert(self.data, self.sizes, np.ascontiguousarray(emb, dtype=np.float32), k, dists, found)
        return dists, found

    def reset(self, env_indices: np.ndarray) -> None:
        self.sizes[env_indices] = 0


class NGUEpisodic(RewardTerm):
    """NGU episodic bonus from k nearest neighbours in the episode's memory.

    Args:
        k: neighbours (10 in NGU).
        embedding: ``"raw"`` flattened observation, or ``"inverse_dynamics"``
            (an encoder trained online, as in NGU; ``encoder`` replaces its MLP).
        epsilon, cluster_distance, c, max_similarity: ε, ξ, c and s_max of the
            paper (1e-3, 8e-3, 1e-3, 8).
        field: dict-observation field the raw embedding / built-in MLP reads.
        embed_dim, hidden, lr, batch_size, epochs, seed: encoder settings.
        max_memory: entries kept per env; past it the oldest are overwritten.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.bonus.NGUEpisodic(k=5)
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), term)
        >>> _ = venv.reset()
        >>> _, rewards, _, _ = venv.step(np.array([0, 1]))
        >>> rewards.shape
        (2,)
    """

    name = "ngu_episodic"

    def __init__(
        self,
        *,
        k: int = 10,
        embedding: Literal["raw", "inverse_dynamics"] = "raw",
        encoder: Any = None,
        epsilon: float = 1e-3,
        cluster_distance: float = 8e-3,
        c: float = 1e-3,
        max_similarity: float = 8.0,
        field: str | None = None,
        embed_dim: int = 32,
        hidden: int = 64,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        seed: int = 0,
        max_memory: int = 30_000,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if embedding not in EMBEDDINGS:
            raise ValueError(f"unknown NGU embedding {embedding!r}; valid: {list(EMBEDDINGS)}")
        check_at_least(1, k=k, max_memory=max_memory)
        check_positive(epsilon=epsilon, c=c, max_similarity=max_similarity)
        if not cluster_distance >= 0:
            raise ValueError(f"cluster_distance must be >= 0, got {cluster_distance!r}")
        self.k = k
        self.epsilon, self.cluster_distance, self.c = float(epsilon), float(cluster_distance), float(c)
        self.max_similarity = float(max_similarity)
        self.field = field
        self.max_memory = max_memory
        self.features = None
        if embedding == "inverse_dynamics" or encoder is not None:
            from rewardlab.bonus.networks import InverseDynamicsEncoder

            self.features = InverseDynamicsEncoder(
                embed_dim=embed_dim,
                hidden=hidden,
                encoder=encoder,
                field=field,
                lr=lr,
                batch_size=batch_size,
                epochs=epochs,
                seed=seed,
            )
        self.learns = self.features is not None
        self.sq_dist_stats = RunningMeanStd(epsilon=0.0)
        self.memory: EpisodicMemory | None = None

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        if self.features is not None:
            self.features.bind(env, who=f"reward term {self.name!r}")
        else:
            env.field_space(self.field, who=f"reward term {self.name!r}")
        if self.memory is not None and self.memory.data.shape[0] != env.n_envs:
            self.memory = None  # other envs (a loaded run evaluated with more envs): their episodes start fresh

    def embed(self, obs: Any) -> np.ndarray:
        """The embedding the memory stores, ``(n, d)``."""
        if self.features is not None:
            return self.features.embed(obs)
        from rewardlab.bonus.networks import flat_obs

        return flat_obs(obs, self.field)

    def compute(self, batch: Transitions) -> np.ndarray:
        emb = self.embed(batch.next_obs)
        n, dim = emb.shape
        if self.memory is None or self.memory.data.shape[0] != n or self.memory.data.shape[2] != dim:
            self.memory = EpisodicMemory(n, dim, max_size=self.max_memory)
        dists, found = self.memory.knn_then_insert(emb, self.k)
        if self.training:
            self.sq_dist_stats.update(dists[np.arange(self.k) < found[:, None]])
        out = np.empty(n)
        ngu_similarity_bonus(
            dists,
            found,
            self.sq_dist_stats.mean,
            self.epsilon,
            self.cluster_distance,
            self.c,
            self.max_similarity,
            out,
        )
        return out

    def reset(self, env_indices: np.ndarray) -> None:
        if self.memory is not None:
            self.memory.reset(env_indices)

    def update(self, batch: Transitions) -> dict[str, float]:
        return self.features.update(batch) if self.features is not None else {}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"sq_dist_stats": self.sq_dist_stats.state_dict()}
        if self.features is not None:
            state["features"] = self.features.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sq_dist_stats.load_state_dict(state["sq_dist_stats"])
        if self.features is not None:
            self.features.load_state_dict(state["features"])

    def __repr__(self) -> str:
        return f"NGUEpisodic(k={self.k})"


def ngu_episodic(**kwargs: Any) -> NGUEpisodic:
    """NGU's episodic bonus (see :class:`NGUEpisodic` for the keyword arguments).

    Examples:
        >>> import rewardlab as rl
        >>> rl.bonus.ngu_episodic(k=10, embedding="raw").name
        'ngu_episodic'
    """
    return NGUEpisodic(**kwargs)


def ngu(
    episodic: RewardTerm | None = None,
    lifelong: RewardTerm | None = None,
    *,
    max_scale: float = 5.0,
    name: str = "ngu",
) -> Product:
    """NGU's intrinsic reward ``r_episodic · min(max(α, 1), L)``.

    ``episodic`` defaults to :class:`NGUEpisodic`, ``lifelong`` to RND with
    ``normalize="ngu"`` (``α = 1 + (e − μ)/σ``); ``L = max_scale``.

    Args:
        episodic: the episodic factor (default: :class:`NGUEpisodic` with its defaults).
        lifelong: the life-long novelty ``α`` (default: RND with ``normalize="ngu"``).
        max_scale: ``L``, the upper clip of the life-long factor (5 in NGU).

    Examples:
        >>> import rewardlab as rl
        >>> rl.bonus.ngu().name
        'ngu'
    """
    from rewardlab.bonus.rnd import RND

    episodic = episodic if episodic is not None else NGUEpisodic()
    lifelong = lifelong if lifelong is not None else RND(normalize="ngu")
    return Product([episodic, lifelong], bounds=[None, (1.0, max_scale)], name=name)
