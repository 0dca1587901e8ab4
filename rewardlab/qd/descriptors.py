"""Behaviour descriptors: what a rollout did, as a short vector in ``[0, 1]^m``.

Written as one string (YAML ``descriptor:``, ``rewardlab qd --descriptor``)::

    final:position,velocity          final state, dims by the preset's obs_names (or indices; empty: all)
    times:position@50,100,150        those dims at fixed steps (the last state if the episode ended first)
    histogram:position,velocity@6    visitation histogram: fraction of steps in each of 6×6 cells
    learned:position,velocity@2      TAXONS-style: a 2-d autoencoder code of the final state, trained as we go
    minmax:position                  lowest and highest value of each dim over the episode (pyribs' MountainCar
                                     setting: the (minimum, maximum) position reached)
    mypkg.behaviour:reach@2          your own ``module:function``, called on each episode

Each observation dimension is scaled to ``[0, 1]`` by the observation space's bounds
(``[-10, 10]`` where the space is unbounded), so thresholds and grid ranges are in
the same units for every env: the bounds of every descriptor are ``[0, 1]`` per dim.

``final`` and ``learned`` describe a single state too (``per_step``), which the
novelty reward term uses for per-step bonuses; ``times`` and ``histogram`` need
the whole episode. The learned descriptor (Paolo et al. 2020, TAXONS) encodes its
source (the scaled final state) with the encoder of a small autoencoder whose
code passes through a sigmoid; :meth:`LearnedDescriptor.fit` trains it on the
sources seen so far, after which descriptors stored elsewhere must be recomputed
from their sources.

**Your own descriptor** (:class:`EpisodeFunction`): any callable
``fn(episode) -> m values`` over an :class:`~rewardlab.qd.policies.Episode`
(``observations (T+1, D)``, ``actions``, ``rewards``). Its values are scaled to
``[0, 1]`` by ``ranges`` (a ``(low, high)`` per value: the ``ranges=`` argument or
the function's own ``ranges`` attribute); without ranges give the size ``dim``
(``module:function@m``) and return values already in ``[0, 1]``. In YAML or on the
command line name it ``module:function`` (imported at bind time).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError, suggest

KINDS = ("final", "times", "histogram", "learned", "minmax")
UNBOUNDED = 10.0  # the range assumed for an unbounded observation dimension: [-10, 10]


class Descriptor:
    """Base: resolve dims by name at :meth:`bind`, then map states or trajectories to ``(n, dim)``.

    Examples:
        >>> import gymnasium as gym, numpy as np
        >>> from rewardlab.qd import parse_descriptor
        >>> env = gym.make("MountainCar-v0")
        >>> d = parse_descriptor("final:position,velocity")
        >>> d.bind(observation_space=env.observation_space, obs_names=("position", "velocity"))
        >>> d.dim, d.of_states(np.array([[-1.2, -0.07], [0.6, 0.07]])).round(3)   # scaled to [0, 1] per dim
        (2, array([[0., 0.],
               [1., 1.]]))
    """

    kind = "descriptor"
    per_step = False
    learns = False

    def __init__(self, dims: list[str | int] | None = None) -> None:
        self.dims_spec = list(dims or [])
        self.dims: np.ndarray | None = None
        self.low: np.ndarray | None = None
        self.span: np.ndarray | None = None
        self.obs_names: tuple[str, ...] | None = None

    # -- binding ---------------------------------------------------------------
    def bind(self, *, observation_space: Any, obs_names: tuple[str, ...] | None, env_id: str | None = None) -> None:
        """Resolve dimension names against the env (one-line ``ConfigError`` listing valid names)."""
        shape = getattr(observation_space, "shape", None)
        if shape is None or len(shape) != 1:
            raise ConfigError(
                f"{self.kind} descriptors read flat vector observations; {env_id or 'this env'} has {observation_space}"
            )
        size = shape[0]
        names = list(obs_names or [])
        dims = []
        for d in self.dims_spec or list(range(size)):
            if isinstance(d, str) and d.lstrip("-").isdigit():
                d = int(d)
            if isinstance(d, int):
                if not 0 <= d < size:
                    raise ConfigError(f"descriptor dimension {d} out of range for {size}-dim observations")
                dims.append(d)
            elif d in names:
                dims.append(names.index(d))
            else:
                raise ConfigError(
                    f"{env_id or 'this env'} has no observation dimension {d!r}{suggest(str(d), names)}; "
                    f"valid: {names or f'indices 0..{size - 1}'}"
                )
        self.dims = np.asarray(dims, dtype=np.int64)
        low = np.asarray(observation_space.low, dtype=np.float64)[self.dims]
        high = np.asarray(observation_space.high, dtype=np.float64)[self.dims]
        low = np.where(np.isfinite(low), low, -UNBOUNDED)
        high = np.where(np.isfinite(high), high, UNBOUNDED)
        self.low, self.span = low, np.maximum(high - low, 1e-12)
        self.obs_names = tuple(names) if names else None

    def _check_bound(self) -> None:
        if self.dims is None:
            raise RuntimeError(f"{self.kind} descriptor used before bind(observation_space=..., obs_names=...)")

    def scaled(self, states: np.ndarray) -> np.ndarray:
        """The chosen dims of ``states`` (``(n, D)``) scaled to ``[0, 1]`` by the observation bounds."""
        self._check_bound()
        x = np.asarray(states, dtype=np.float64).reshape(len(states), -1)
        return (x[:, self.dims] - self.low) / self.span

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def labels(self) -> list[str]:
        """A name per descriptor dimension (axis labels of heatmaps)."""
        return [f"d{i}" for i in range(self.dim)]

    def dim_names(self) -> list[str]:
        names = self.obs_names
        return [names[d] if names else f"obs[{d}]" for d in self.dims]  # type: ignore[union-attr]

    # -- describing --------------------------------------------------------------
    def of_states(self, states: np.ndarray) -> np.ndarray:
        """Descriptor of single states, ``(n, dim)`` (per-step descriptors only)."""
        raise ConfigError(f"the {self.kind} descriptor needs whole episodes; use mode: episode")

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        """Descriptor of each trajectory (``(T_i, D)`` arrays of observations), ``(n, dim)``."""
        raise NotImplementedError

    #: whether :meth:`of_episodes` reads the actions (rollouts record them only when asked)
    needs_actions = False

    def of_episodes(self, episodes: list[Any]) -> np.ndarray:
        """Descriptor of each :class:`~rewardlab.qd.policies.Episode`, ``(n, dim)`` (built-ins read observations)."""
        return self.of_trajectories([e.observations for e in episodes])

    def sources(self, trajectories: list[np.ndarray]) -> np.ndarray | None:
        """What a learned descriptor is computed from (``None`` for fixed descriptors)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    @property
    def spec(self) -> str:
        return f"{self.kind}:{','.join(str(d) for d in self.dims_spec)}"


class FinalState(Descriptor):
    """The (scaled) chosen dims of the last observation: the classic novelty-search descriptor."""

    kind = "final"
    per_step = True

    @property
    def dim(self) -> int:
        self._check_bound()
        return len(self.dims)  # type: ignore[arg-type]

    @property
    def labels(self) -> list[str]:
        return self.dim_names()

    def of_states(self, states: np.ndarray) -> np.ndarray:
        return self.scaled(states)

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        return self.scaled(np.stack([np.asarray(t)[-1] for t in trajectories]))


class AtTimes(Descriptor):
    """The chosen dims at fixed steps ``times`` (step t is observation t; past the end, the last one)."""

    kind = "times"

    def __init__(self, dims: list[str | int] | None = None, *, times: list[int]) -> None:
        super().__init__(dims)
        if not times or any(t < 0 for t in times):
            raise ConfigError(f"times descriptor needs steps >= 0 after '@', e.g. times:position@50,100; got {times}")
        self.times = [int(t) for t in times]

    @property
    def dim(self) -> int:
        self._check_bound()
        return len(self.dims) * len(self.times)  # type: ignore[arg-type]

    @property
    def labels(self) -> list[str]:
        return [f"{n}@{t}" for t in self.times for n in self.dim_names()]

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        out = []
        for traj in trajectories:
            traj = np.asarray(traj)
            rows = traj[np.minimum(self.times, len(traj) - 1)]
            out.append(self.scaled(rows).reshape(-1))
        return np.stack(out)

    @property
    def spec(self) -> str:
        return super().spec + "@" + ",".join(map(str, self.times))


class Histogram(Descriptor):
    """Fraction of the episode's observations in each cell of a ``bins^len(dims)`` grid over the chosen dims."""

    kind = "histogram"

    def __init__(self, dims: list[str | int] | None = None, *, bins: int = 5) -> None:
        super().__init__(dims)
        if bins < 1:
            raise ConfigError(f"histogram descriptor needs bins >= 1 after '@', got {bins}")
        self.bins = int(bins)

    @property
    def dim(self) -> int:
        self._check_bound()
        return self.bins ** len(self.dims)  # type: ignore[arg-type]

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(trajectories), self.dim))
        for i, traj in enumerate(trajectories):
            cells = np.clip((self.scaled(np.asarray(traj)) * self.bins).astype(np.int64), 0, self.bins - 1)
            flat = np.ravel_multi_index(cells.T, (self.bins,) * cells.shape[1])
            out[i] = np.bincount(flat, minlength=self.dim) / len(cells)
        return out

    @property
    def spec(self) -> str:
        return super().spec + f"@{self.bins}"


class LearnedDescriptor(Descriptor):
    """TAXONS-style: the sigmoid code of a small autoencoder over the scaled final state, trained online."""

    kind = "learned"
    per_step = True
    learns = True

    def __init__(
        self,
        dims: list[str | int] | None = None,
        *,
        code_dim: int = 2,
        hidden: int = 32,
        lr: float = 1e-2,
        epochs: int = 20,
        seed: int = 0,
    ) -> None:
        super().__init__(dims)
        if code_dim < 1:
            raise ConfigError(f"learned descriptor needs a code size >= 1 after '@', got {code_dim}")
        self.code_dim, self.hidden, self.lr, self.epochs, self.seed = int(code_dim), hidden, lr, epochs, seed
        self.model: Any = None
        self.optimizer: Any = None
        self.fits = 0

    @property
    def dim(self) -> int:
        return self.code_dim

    @property
    def labels(self) -> list[str]:
        return [f"code{i}" for i in range(self.code_dim)]

    def _build(self) -> None:
        import torch
        from torch import nn

        self._check_bound()
        n_in = len(self.dims)  # type: ignore[arg-type]
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the global RNG
            torch.manual_seed(self.seed)
            self.model = nn.ModuleDict(
                {
                    "encoder": nn.Sequential(
                        nn.Linear(n_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, self.code_dim), nn.Sigmoid()
                    ),
                    "decoder": nn.Sequential(
                        nn.Linear(self.code_dim, self.hidden), nn.Tanh(), nn.Linear(self.hidden, n_in)
                    ),
                }
            ).double()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def encode(self, sources: np.ndarray) -> np.ndarray:
        """Code of each source row (scaled final states), ``(n, code_dim)``."""
        import torch

        if self.model is None:
            self._build()
        with torch.no_grad():
            return self.model["encoder"](torch.as_tensor(np.asarray(sources, dtype=np.float64))).numpy()

    def of_states(self, states: np.ndarray) -> np.ndarray:
        return self.encode(self.scaled(states))

    def sources(self, trajectories: list[np.ndarray]) -> np.ndarray:
        return self.scaled(np.stack([np.asarray(t)[-1] for t in trajectories]))

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        return self.encode(self.sources(trajectories))

    def fit(self, sources: np.ndarray, *, batch_size: int = 128) -> dict[str, float]:
        """Train the autoencoder on ``sources`` (reconstruction MSE) for ``epochs`` passes; returns the last loss."""
        import torch

        if self.model is None:
            self._build()
        x = torch.as_tensor(np.asarray(sources, dtype=np.float64))
        gen = torch.Generator().manual_seed(self.seed + 7919 * (self.fits + 1))
        loss = torch.zeros(())
        for _ in range(self.epochs):
            for idx in torch.randperm(len(x), generator=gen).split(batch_size):
                batch = x[idx]
                loss = torch.mean((self.model["decoder"](self.model["encoder"](batch)) - batch) ** 2)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
        self.fits += 1
        return {"ae_loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        if self.model is None:
            return {"fits": self.fits}
        return {
            "fits": self.fits,
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fits = int(state["fits"])
        if "model" in state:
            if self.model is None:
                self._build()
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])

    @property
    def spec(self) -> str:
        return super().spec + f"@{self.code_dim}"


class MinMax(Descriptor):
    """Lowest then highest (scaled) value of each chosen dim over the episode's observations."""

    kind = "minmax"

    @property
    def dim(self) -> int:
        self._check_bound()
        return 2 * len(self.dims)  # type: ignore[arg-type]

    @property
    def labels(self) -> list[str]:
        names = self.dim_names()
        return [f"min {n}" for n in names] + [f"max {n}" for n in names]

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(trajectories), self.dim))
        half = self.dim // 2
        for i, traj in enumerate(trajectories):
            x = self.scaled(np.asarray(traj))
            out[i, :half], out[i, half:] = x.min(axis=0), x.max(axis=0)
        return out


class EpisodeFunction(Descriptor):
    """A user callable ``fn(episode) -> m values``, scaled to ``[0, 1]`` by ``ranges`` (see the module docstring)."""

    kind = "function"

    def __init__(
        self,
        fn: Any,
        *,
        ranges: list[tuple[float, float]] | None = None,
        dim: int | None = None,
        labels: list[str] | None = None,
        needs_actions: bool | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__()
        if not callable(fn):
            raise ConfigError(f"a descriptor function must be callable, got {fn!r}")
        self.fn = fn
        ranges = ranges if ranges is not None else getattr(fn, "ranges", None)
        if ranges is not None:
            r = np.asarray(ranges, dtype=np.float64)
            if r.ndim != 2 or r.shape[1] != 2 or not np.all(r[:, 1] > r[:, 0]):
                raise ConfigError(f"descriptor ranges must be (low, high) pairs with high > low, got {ranges!r}")
            if dim is not None and dim != len(r):
                raise ConfigError(f"descriptor {self._name()}: dim {dim} but {len(r)} ranges")
            self.range_low, self.range_span, self._dim = r[:, 0], r[:, 1] - r[:, 0], len(r)
        else:
            dim = dim if dim is not None else getattr(fn, "dim", None)
            if not isinstance(dim, int) or dim < 1:
                raise ConfigError(
                    f"descriptor {self._name()}: give its ranges (a (low, high) per value: ranges= or a 'ranges' "
                    "attribute of the function) or its size with values in [0, 1] (module:function@m)"
                )
            self.range_low, self.range_span, self._dim = np.zeros(dim), np.ones(dim), dim
        self._labels = labels or getattr(fn, "labels", None)
        self.needs_actions = bool(needs_actions if needs_actions is not None else getattr(fn, "needs_actions", False))
        self._spec = spec

    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))

    def bind(self, *, observation_space: Any, obs_names: tuple[str, ...] | None, env_id: str | None = None) -> None:
        self.dims = np.zeros(0, dtype=np.int64)  # reads whole episodes; nothing to resolve
        self.obs_names = tuple(obs_names) if obs_names else None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def labels(self) -> list[str]:
        return list(self._labels) if self._labels else [f"{self._name()}[{i}]" for i in range(self._dim)]

    def of_episodes(self, episodes: list[Any]) -> np.ndarray:
        out = np.empty((len(episodes), self._dim))
        for i, episode in enumerate(episodes):
            value = np.asarray(self.fn(episode), dtype=np.float64).reshape(-1)
            if len(value) != self._dim:
                raise ValueError(f"descriptor {self._name()} returned {len(value)} values, expected {self._dim}")
            out[i] = (value - self.range_low) / self.range_span
        return out

    def of_trajectories(self, trajectories: list[np.ndarray]) -> np.ndarray:
        from rewardlab.qd.policies import Episode

        episodes = [Episode(np.asarray(t), None, np.zeros(max(len(t) - 1, 0))) for t in trajectories]
        return self.of_episodes(episodes)

    @property
    def spec(self) -> str:
        return self._spec or f"{getattr(self.fn, '__module__', '?')}:{self._name()}"


def load_function(path: str) -> Any:
    """The object named by ``module:attribute`` (one-line ``ConfigError`` when it cannot be imported)."""
    import importlib

    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {module_name!r} for descriptor {path!r}: {err}") from err
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as err:
        raise ConfigError(f"module {module_name!r} has no {attr!r} (descriptor {path!r})") from err
    return obj


def _looks_importable(kind: str, dims_part: str) -> bool:
    """``module:function``: a dotted module path and one identifier (a built-in kind never gets here)."""
    return all(p.isidentifier() for p in kind.split(".")) and all(
        p.isidentifier() for p in dims_part.strip().split(".")
    )


def parse_descriptor(spec: str | Any, *, seed: int = 0) -> Descriptor:
    """Build a descriptor from its string (see the module docstring), a :class:`Descriptor` (returned as is) or
    a callable over an episode; one-line ``ConfigError`` when malformed.

    Examples:
        >>> from rewardlab.qd import parse_descriptor
        >>> type(parse_descriptor("times:position@50,100")).__name__
        'AtTimes'
    """
    if isinstance(spec, Descriptor):
        return spec
    if callable(spec):
        return EpisodeFunction(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"descriptor must be a string like 'final:position,velocity'; kinds: {list(KINDS)}")
    head, _, param = spec.strip().partition("@")
    kind, _, dims_part = head.partition(":")
    kind = kind.strip()
    try:
        numbers = [int(p) for p in param.split(",") if p.strip()]
    except ValueError as err:
        raise ConfigError(f"descriptor {spec!r}: the part after '@' must be integers ({err})") from err
    if kind not in KINDS:
        unknown = (
            f"unknown descriptor kind {kind!r}{suggest(kind, list(KINDS))}; valid: {list(KINDS)} or module:function"
        )
        if not _looks_importable(kind, dims_part):
            raise ConfigError(unknown)
        try:
            fn = load_function(f"{kind}:{dims_part.strip()}")
        except ConfigError as err:
            raise ConfigError(f"{unknown} ({err})") from err
        return EpisodeFunction(fn, dim=numbers[0] if numbers else None, spec=spec.strip())
    dims: list[str | int] = [d.strip() for d in dims_part.split(",") if d.strip()]
    if kind == "final":
        if param:
            raise ConfigError(f"descriptor {spec!r}: final takes no '@' part")
        return FinalState(dims)
    if kind == "times":
        return AtTimes(dims, times=numbers)
    if kind == "histogram":
        return Histogram(dims, bins=numbers[0] if numbers else 5)
    if kind == "minmax":
        if param:
            raise ConfigError(f"descriptor {spec!r}: minmax takes no '@' part")
        return MinMax(dims)
    return LearnedDescriptor(dims, code_dim=numbers[0] if numbers else 2, seed=seed)
