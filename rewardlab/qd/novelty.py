"""The novelty reward term: a bonus for behaviour far from what an archive has seen (Lehman & Stanley 2011).

``ρ(x) = (1/k)·Σ_{i≤k} ‖x − μ_i‖`` over the k nearest descriptors ``μ_i`` of a
:class:`~rewardlab.qd.archive.NoveltyArchive`; descriptors with ``ρ ≥ threshold``
join the archive (growth, bound and eviction rules in :mod:`rewardlab.qd.archive`).
The k-NN is a k-d tree over the settled entries plus a numba scan of the recent ones
(:mod:`rewardlab.qd.knn` says why: on a growing archive it beats rebuilding a tree,
as pyribs' ``ProximityArchive`` does, by 3-100× from 1k to 100k entries).

Two modes:

* ``step``: every transition is rewarded with the novelty of its next state's
  descriptor (``final`` or ``learned`` descriptors, which describe one state);
* ``episode``: the bonus comes once, at the last step of each episode, for the
  descriptor of the whole episode (any descriptor: final state, positions at fixed
  times, visitation histogram, learned code); other steps get 0. This is the
  novelty-search fitness turned into a sparse terminal reward for SB3 agents.

A caution measured in ``benchmarks/README.md``: the per-step bonus stays positive on
every step (a well-covered state is still about ``threshold`` from its neighbours),
so where reaching the goal ends the episode it also pays for *not* ending it
(PPO on MountainCarContinuous-v0 learns to keep moving instead of reaching the
flag); ``mode: episode`` pays once per episode and does not.

In eval mode (``term.eval()``) the archive is read, not grown. With a ``learned``
descriptor the term learns: each :meth:`update` trains the autoencoder on the
archive's sources plus the update batch's states, then recomputes every stored
descriptor (TAXONS).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.qd.archive import NoveltyArchive
from rewardlab.qd.descriptors import Descriptor, LearnedDescriptor, parse_descriptor

MODES = ("step", "episode")


class NoveltyTerm(RewardTerm):
    """Novelty bonus over a growing archive of behaviour descriptors.

    Args:
        descriptor: a :class:`~rewardlab.qd.descriptors.Descriptor` or its string
            (``"final:position,velocity"``, ``"times:position@50,100"``, ``"learned@2"``).
        k: neighbours averaged (15 in Lehman & Stanley).
        threshold: novelty needed to enter the archive (descriptor units: ``[0, 1]`` per dim).
        max_size: archive bound (``None``: unbounded); the oldest entries go first.
        mode: ``"step"`` (per-step bonus) or ``"episode"`` (terminal bonus).
        evict_to: fraction of ``max_size`` kept when the bound is hit.
        ae_samples: most update-batch states the learned descriptor trains on per update.
        seed: initialisation of a learned descriptor's autoencoder.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.qd.NoveltyTerm(descriptor="final:position,velocity", k=5, mode="step")
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), term)
        >>> _ = venv.reset()
        >>> _, rewards, _, _ = venv.step(np.array([0, 2]))
        >>> rewards.shape
        (2,)
    """

    name = "novelty"

    def __init__(
        self,
        *,
        descriptor: str | Descriptor | Callable[..., Any] = "final",
        k: int = 15,
        threshold: float = 0.05,
        max_size: int | None = 10_000,
        mode: Literal["step", "episode"] = "step",
        evict_to: float = 0.9,
        ae_samples: int = 2048,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if mode not in MODES:
            raise ValueError(f"unknown novelty mode {mode!r}; valid: {list(MODES)}")
        self.descriptor = parse_descriptor(descriptor, seed=seed)  # a string, a Descriptor or a function
        if mode == "step" and not self.descriptor.per_step:
            raise ValueError(
                f"the {self.descriptor.kind} descriptor describes whole episodes; use mode: episode "
                "(per-step descriptors: final, learned)"
            )
        self.mode = mode
        self.learns = self.descriptor.learns
        self.archive_args = {"k": k, "threshold": threshold, "max_size": max_size, "evict_to": evict_to}
        NoveltyArchive(1, **self.archive_args)  # check the arguments now, not at bind
        self.ae_samples = int(ae_samples)
        self.archive: NoveltyArchive | None = None
        self.episodes: list[list[np.ndarray]] = []

    # -- life cycle ---------------------------------------------------------------
    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self.descriptor.bind(observation_space=env.observation_space, obs_names=env.obs_names, env_id=env.env_id)
        if self.archive is None:
            source_dim = len(self.descriptor.dims) if self.descriptor.learns else None  # type: ignore[arg-type]
            self.archive = NoveltyArchive(self.descriptor.dim, source_dim=source_dim, **self.archive_args)
        self.episodes = [[] for _ in range(env.n_envs)]

    def _check(self) -> NoveltyArchive:
        if self.archive is None:
            raise ConfigError(f"reward term {self.name!r} used before bind(env_info): wrap the env first")
        return self.archive

    def compute(self, batch: Transitions) -> np.ndarray:
        archive = self._check()
        if isinstance(batch.next_obs, dict):
            raise ConfigError(f"reward term {self.name!r} reads array observations, got dict observations")
        states = np.asarray(batch.next_obs, dtype=np.float64).reshape(batch.n, -1)
        grow = self.training
        if self.mode == "step":
            desc = self.descriptor.of_states(states)
            sources = self.descriptor.scaled(states) if self.descriptor.learns else None
            rho, _ = archive.score_and_grow(desc, sources=sources, grow=grow)
            return rho
        out = np.zeros(batch.n)
        if len(self.episodes) < batch.n:
            self.episodes.extend([] for _ in range(batch.n - len(self.episodes)))
        for i in range(batch.n):
            self.episodes[i].append(states[i].copy())
        done = np.flatnonzero(batch.done)
        if len(done):
            trajectories = [np.stack(self.episodes[i]) for i in done]
            desc = self.descriptor.of_trajectories(trajectories)
            rho, _ = archive.score_and_grow(desc, sources=self.descriptor.sources(trajectories), grow=grow)
            out[done] = rho
            for i in done:
                self.episodes[i] = []
        return out

    def reset(self, env_indices: np.ndarray) -> None:
        for i in np.asarray(env_indices, dtype=np.int64).reshape(-1):
            if i < len(self.episodes):
                self.episodes[i] = []

    def update(self, batch: Transitions) -> dict[str, float]:
        """Learned descriptor: train the autoencoder, then recompute the stored descriptors from their sources."""
        descriptor = self.descriptor
        archive = self._check()
        if not isinstance(descriptor, LearnedDescriptor) or not self.training:
            return {}
        states = np.asarray(batch.next_obs, dtype=np.float64).reshape(batch.n, -1)
        if len(states) > self.ae_samples:
            states = states[np.linspace(0, len(states) - 1, self.ae_samples).astype(np.int64)]
        fresh = descriptor.scaled(states)
        stored = archive.sources[: archive.size] if archive.sources is not None else np.zeros((0, fresh.shape[1]))
        metrics = descriptor.fit(np.concatenate([stored, fresh]))
        if archive.size:
            archive.replace_descriptors(descriptor.encode(stored))
        metrics["archive_size"] = float(archive.size)
        return metrics

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "archive": self.archive.state_dict() if self.archive is not None else None,
            "descriptor": self.descriptor.state_dict(),
            "episodes": [[s.copy() for s in ep] for ep in self.episodes],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["archive"] is not None:
            if self.archive is None:
                raise ConfigError(f"reward term {self.name!r}: bind it to the env before load_state_dict")
            self.archive.load_state_dict(state["archive"])
        self.descriptor.load_state_dict(copy.deepcopy(state["descriptor"]))
        self.episodes = [[np.array(s) for s in ep] for ep in state["episodes"]]

    def __repr__(self) -> str:
        a = self.archive_args
        return (
            f"NoveltyTerm(descriptor={self.descriptor.spec!r}, k={a['k']}, threshold={a['threshold']}, "
            f"mode={self.mode!r})"
        )


def novelty(**kwargs: Any) -> NoveltyTerm:
    """The novelty reward term (see :class:`NoveltyTerm` for the keyword arguments).

    Examples:
        >>> import rewardlab as rl
        >>> (rl.extrinsic() + 10.0 * rl.qd.novelty(descriptor="final", mode="episode")).component_names()
        ['extrinsic', 'novelty']
    """
    return NoveltyTerm(**kwargs)
