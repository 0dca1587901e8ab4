"""Keys: map a batch of observations to ``int64`` keys that count tables count.

A key decides what "the same state" means for a count bonus:

* ``grid`` -- the cell of chosen continuous dimensions (``dims`` by index or
  by preset name such as ``"position"``; ``cell`` a list with one size per
  dim, or a single number used for every dim);
* ``simhash`` -- the sign pattern of a fixed, seeded random projection of the
  flattened observation (Tang et al. 2017), ``bits`` long;
* ``obs`` -- the exact observation (its bytes);
* ``position`` / ``message`` / ``glyphs`` -- NetHack and MiniHack dict
  observations: the agent's ``(x, y)`` from ``blstats`` (and the level), the
  256-byte ``message``, or the whole 21×79 ``glyphs`` map.

Keys check the observation layout when the reward is bound to the env (a
missing dict field, a dimension out of range, a NetHack key on array
observations): a clear error names the env and what it has.

In YAML a key is a name (``key: position``), a mapping with ``name``
(``key: {name: simhash, bits: 32}``) or a one-entry mapping
(``key: {grid: {dims: [position, velocity], cell: [0.1, 0.01]}}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from rewardlab.bonus.kernels import (
    bytes_keys,
    grid_count_step,
    grid_keys,
    simhash_count_step,
    simhash_keys,
)
from rewardlab.config.registry import ConfigError, Registry
from rewardlab.core.env_info import EnvInfo

if TYPE_CHECKING:
    from rewardlab.bonus.counts import CountTable

KEYS = Registry("count key")
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))  # observation dtypes SimHash reads as they are
NETHACK_KEYS = ("position", "message", "glyphs")


def _field(obs: Any, field: str | None, key_name: str) -> np.ndarray:
    """``obs[field]`` for dict observations, ``obs`` itself otherwise, with a clear error."""
    if isinstance(obs, Mapping):
        if field is None:
            raise ValueError(
                f"the {key_name!r} key got a dict observation; set field to one of {sorted(obs)} "
                "(or use a NetHack key: position, message, glyphs)"
            )
        if field not in obs:
            raise ValueError(f"the {key_name!r} key needs observation field {field!r}; available: {sorted(obs)}")
        return np.asarray(obs[field])
    if field is not None:
        raise ValueError(f"the {key_name!r} key has field={field!r} but the observation is not a dict")
    return np.asarray(obs)


def _space_fields(space: Any) -> list[str] | None:
    """Field names of a dict observation space (``None`` for array spaces)."""
    spaces = getattr(space, "spaces", None)
    return sorted(spaces) if isinstance(spaces, Mapping) else None


def _bound_space(env: EnvInfo, field: str | None, key_name: str) -> Any:
    """The observation (sub)space a key reads, checked at bind time (see :meth:`EnvInfo.field_space`)."""
    if key_name in NETHACK_KEYS and _space_fields(env.observation_space) is None:
        raise ConfigError(
            f"the {key_name!r} key reads the {field!r} field of NetHack/MiniHack observations but "
            f"{env.env_id or 'this env'} has {env.describe_observations()}; use grid, simhash or obs"
        )
    hint = " (or use a NetHack key: position, message, glyphs)"
    return env.field_space(field, who=f"the {key_name!r} key", hint=hint)


def _flat_size(space: Any) -> int | None:
    shape = getattr(space, "shape", None)
    return int(np.prod(shape)) if shape else None


def _rows(x: np.ndarray) -> np.ndarray:
    """Flatten everything but the leading env axis."""
    return x.reshape(x.shape[0], -1)


class Key:
    """Maps a batch of observations (leading env axis) to ``int64`` keys, shape ``(n,)``.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.bonus import Key
        >>> key = Key.from_config({"name": "simhash", "bits": 16})
        >>> type(key).__name__
        'SimHashKey'
    """

    name = "key"

    def bind(self, env: EnvInfo) -> None:
        """Resolve names against the env (observation dimension names, spaces)."""

    def __call__(self, obs: Any) -> np.ndarray:
        raise NotImplementedError

    def count_into(self, obs: Any, table: CountTable, weight: float, out: np.ndarray) -> None:
        """Count one visit of each row's key in ``table`` and write ``weight / √N`` into ``out``.

        What a global count bonus calls on every step; grid and SimHash keys do it in one compiled
        call, without an array of keys in between.
        """
        table.bonus_into(self(obs), weight, out)

    def count_kernel(self, obs: np.ndarray) -> tuple[Any, tuple] | None:
        """``(fn, args)`` with ``fn(obs, *args, slots, weight, out)`` doing what :meth:`count_into` does in one
        compiled call, for observations like ``obs``, and adding the new keys to the table's size (its
        :attr:`CountTable.tally` row, the last of ``slots``); it returns 1 when the table needs room for the next
        step's keys, else 0. None for keys without one (the default). What a fused step calls
        (:class:`~rewardlab.core.term.StepKernel`)."""
        return None

    @classmethod
    def from_config(cls, spec: Any, where: str = "") -> Key:
        """Build from ``"name"``, ``{name: ..., **params}`` or ``{name: {params}}``."""
        if isinstance(spec, Key):
            return spec
        if isinstance(spec, str):
            return KEYS.build(spec, {}, where)
        if isinstance(spec, Mapping):
            if "name" in spec:
                return KEYS.build(spec["name"], {k: v for k, v in spec.items() if k != "name"}, where)
            if len(spec) == 1:
                ((name, params),) = spec.items()
                if params is None or isinstance(params, Mapping):
                    return KEYS.build(name, dict(params or {}), where)
        raise ConfigError(
            f"{where}a key is a name, {{name: ..., params}} or {{name: {{params}}}}, got {spec!r}; "
            f"valid names: {', '.join(KEYS.names())}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


KeySpec = Union[Key, str, Mapping[str, Any]]


def as_key(spec: KeySpec) -> Key:
    """A :class:`Key` from a key or its config form.

    Examples:
        >>> from rewardlab.bonus import as_key
        >>> type(as_key({"grid": {"dims": [0, 1], "cell": [0.1, 0.01]}})).__name__
        'GridKey'
    """
    return Key.from_config(spec)


class GridKey(Key):
    """The grid cell ``floor(obs[dims] / cell)`` of continuous observation dimensions.

    Args:
        dims: dimension indices or preset names (``"position"``); all dims when None.
        cell: a list with one cell size per dim, or one number used for every dim.
        field: the dict-observation field to read (None for array observations).
    """

    name = "grid"

    def __init__(
        self, *, dims: Sequence[int | str] | None = None, cell: float | Sequence[float] = 0.1, field: str | None = None
    ) -> None:
        cells = np.atleast_1d(np.asarray(cell, dtype=np.float64))
        if cells.ndim != 1 or cells.size == 0 or not np.isfinite(cells).all() or (cells <= 0).any():
            raise ValueError(f"grid cell sizes must be finite numbers > 0, got {cell!r}")
        self.per_dim = np.ndim(cell) > 0  # a list gives one size per dim; a single number is used for every dim
        if dims is not None and self.per_dim and cells.size != len(dims):
            raise ValueError(
                f"grid has {len(dims)} dims {list(dims)} but {cells.size} cell sizes {list(cell)}; give one size "
                "per dim, or one number (not a list) for all"
            )
        self.dims = None if dims is None else list(dims)
        self.cell = cells
        self.field = field
        self._index: np.ndarray | None = None
        self._checked_width: int | None = None  # array observations of this width passed every check
        self._grid = np.zeros((2, 0))  # the per-step kernel's (dims, cells), set with _checked_width
        if self.dims is not None and all(isinstance(d, (int, np.integer)) for d in self.dims):
            self._index = np.asarray(self.dims, dtype=np.int64)

    def bind(self, env: EnvInfo) -> None:
        self._checked_width = None
        space = _bound_space(env, self.field, self.name)
        size = _flat_size(space)
        name = env.env_id or "this env"
        if self.dims is None:
            if size is not None and self.per_dim and self.cell.size != size:
                raise ConfigError(
                    f"grid reads all {size} dims of {name} but has {self.cell.size} cell sizes; "
                    "give one size per dim, or one number (not a list) for all"
                )
            return
        index = [env.obs_index(d) if self.field is None else d for d in self.dims]
        if not all(isinstance(i, (int, np.integer)) for i in index):
            raise ConfigError(f"grid dims of field {self.field!r} must be integer indices, got {self.dims}")
        if size is not None:
            bad = [i for i in index if not -size <= i < size]
            if bad:
                names = f": {', '.join(env.obs_names)}" if env.obs_names and self.field is None else ""
                raise ConfigError(
                    f"grid dims {bad} are out of range: {name} observations have {size} dimensions "
                    f"(0..{size - 1}{names})"
                )
        self._index = np.asarray([i % size if size else i for i in index], dtype=np.int64)

    def __call__(self, obs: Any) -> np.ndarray:
        if type(obs) is np.ndarray and obs.ndim == 2 and obs.shape[1] == self._checked_width:  # the per-step path
            out = np.empty(obs.shape[0], dtype=np.int64)
            grid_keys(np.ascontiguousarray(obs), self._index, self.cell, out)
            return out
        x = _rows(_field(obs, self.field, self.name))
        if self.dims is None:
            if self._index is None or self._index.shape[0] != x.shape[1]:
                self._index = np.arange(x.shape[1], dtype=np.int64)
        elif self._index is None:
            raise ValueError(
                f"grid dims {self.dims} name observation dimensions; bind the reward to an env first "
                "(RewardVecWrapper does) or give integer indices"
            )
        if self.cell.size not in (1, self._index.shape[0]):
            raise ValueError(f"grid has {self.cell.size} cell sizes but reads {self._index.shape[0]} dims")
        if self.cell.size != self._index.shape[0]:
            self.cell = np.full(self._index.shape[0], self.cell[0])
        if self._index.size and not (self._index.min() >= 0 and self._index.max() < x.shape[1]):
            raise ValueError(
                f"grid dims {self.dims if self.dims is not None else self._index.tolist()} read observation "
                f"indices {self._index.tolist()} but the observation has {x.shape[1]} dims"
            )
        out = np.empty(x.shape[0], dtype=np.int64)
        grid_keys(np.ascontiguousarray(x), self._index, self.cell, out)  # one compiled loop: select, bin, hash
        if self.field is None and isinstance(obs, np.ndarray) and obs.ndim == 2:
            self._grid = np.stack([self._index.astype(np.float64), self.cell])
            self._checked_width = x.shape[1]
        return out

    def count_into(self, obs: Any, table: CountTable, weight: float, out: np.ndarray) -> None:
        if type(obs) is np.ndarray and obs.ndim == 2 and obs.shape[1] == self._checked_width:  # the per-step path
            n = obs.shape[0]
            tally = table.tally  # [size, limit]: the kernel adds the new keys to the size
            if tally[0] + n > tally[1]:
                table.reserve(n)
            grid_count_step(obs, self._grid, table.slots, weight, out)
        else:
            table.bonus_into(self(obs), weight, out)

    def count_kernel(self, obs: np.ndarray) -> tuple[Any, tuple] | None:
        if type(obs) is np.ndarray and obs.ndim == 2 and self.field is None and obs.shape[1] != self._checked_width:
            self(obs)  # checks the dims against the observation and makes the kernel's (dims, cells)
        if type(obs) is np.ndarray and obs.ndim == 2 and obs.shape[1] == self._checked_width:
            return grid_count_step, (self._grid,)
        return None

    def __repr__(self) -> str:
        return f"GridKey(dims={self.dims}, cell={self.cell.tolist()})"


class SimHashKey(Key):
    """SimHash: ``sign(A·flatten(obs))`` packed into ``bits`` bits, ``A`` Gaussian with a fixed seed.

    Nearby observations share keys more often than far ones, so counts
    generalise over continuous or high-dimensional observations.
    """

    name = "simhash"
    _transposed: np.ndarray | None = None  # projection.T, made on first use (None in objects pickled without it)

    def __init__(self, *, bits: int = 32, seed: int = 0, field: str | None = None) -> None:
        if not 1 <= bits <= 64:
            raise ValueError(f"simhash bits must be in [1, 64], got {bits}")
        self.bits = bits
        self.seed = seed
        self.field = field
        self.projection: np.ndarray | None = None
        self._transposed: np.ndarray | None = None

    def bind(self, env: EnvInfo) -> None:
        _bound_space(env, self.field, self.name)

    def _projection_t(self, dim: int) -> np.ndarray:
        """``projection.T`` (D × bits, contiguous) for ``dim`` inputs, what the kernels read; drawn on first use."""
        projection = self.projection
        if projection is None or projection.shape[1] != dim:
            rng = np.random.default_rng(self.seed)
            self.projection = projection = rng.standard_normal((self.bits, dim)).astype(np.float32)
            self._transposed = None
        transposed = self._transposed
        if transposed is None or transposed.shape[0] != dim:
            self._transposed = transposed = np.ascontiguousarray(projection.T)
        return transposed

    def _rows_of(self, obs: Any) -> np.ndarray:
        """The rows the kernel reads: a float32 or float64 2-d array as it is (the kernel rounds to float32), any
        other observation flattened and converted to float32."""
        if type(obs) is np.ndarray and obs.ndim == 2 and self.field is None and obs.dtype in _FLOATS:
            return obs  # the per-step path: no converted copy
        return np.ascontiguousarray(_rows(_field(obs, self.field, self.name)), dtype=np.float32)

    def __call__(self, obs: Any) -> np.ndarray:
        x = self._rows_of(obs)
        transposed = self._transposed
        if transposed is None or transposed.shape[0] != x.shape[1]:
            transposed = self._projection_t(x.shape[1])
        out = np.empty(x.shape[0], dtype=np.int64)
        simhash_keys(x, transposed, out)
        return out

    def _direct(self, obs: Any) -> np.ndarray | None:
        """The projection the one-call kernel reads when it can read ``obs`` as it is (a float32/float64 batch of
        rows of the width it was drawn for), else None."""
        transposed = self._transposed
        if (
            type(obs) is np.ndarray
            and obs.ndim == 2
            and self.field is None
            and transposed is not None
            and transposed.shape[0] == obs.shape[1]
            and obs.dtype in _FLOATS
        ):
            return transposed
        return None

    def count_into(self, obs: Any, table: CountTable, weight: float, out: np.ndarray) -> None:
        transposed = self._direct(obs)
        if transposed is not None:  # the per-step path: the observations as they are, keys and counts in one call
            n = obs.shape[0]
            tally = table.tally  # [size, limit]: the kernel adds the new keys to the size
            if tally[0] + n > tally[1]:
                table.reserve(n)
            simhash_count_step(obs, transposed, table.slots, weight, out)
        else:
            table.bonus_into(self(obs), weight, out)

    def count_kernel(self, obs: np.ndarray) -> tuple[Any, tuple] | None:
        if type(obs) is np.ndarray and obs.ndim == 2 and self.field is None and obs.dtype in _FLOATS:
            self._projection_t(obs.shape[1])  # drawn on first use: before the first step
        transposed = self._direct(obs)
        return None if transposed is None else (simhash_count_step, (transposed,))

    def __repr__(self) -> str:
        return f"SimHashKey(bits={self.bits}, seed={self.seed})"


class BytesKey(Key):
    """The exact observation (or one dict field of it), hashed from its bytes."""

    name = "obs"

    def __init__(self, *, field: str | None = None) -> None:
        self.field = field

    def bind(self, env: EnvInfo) -> None:
        _bound_space(env, self.field, self.field or self.name)

    def __call__(self, obs: Any) -> np.ndarray:
        x = np.ascontiguousarray(_rows(_field(obs, self.field, self.field or self.name)))
        out = np.empty(x.shape[0], dtype=np.int64)
        bytes_keys(x.view(np.uint8).reshape(x.shape[0], -1), out)
        return out

    def __repr__(self) -> str:
        return f"BytesKey(field={self.field!r})"


BL_X, BL_Y, BL_DNUM, BL_DLEVEL = 0, 1, 23, 24  # nle.nethack.NLE_BL_X, NLE_BL_Y, NLE_BL_DNUM, NLE_BL_DLEVEL


class PositionKey(Key):
    """NetHack/MiniHack agent position from ``blstats``: ``x | y<<8 [| level<<16 | dungeon<<24]``."""

    name = "position"

    def __init__(self, *, level: bool = True) -> None:
        self.level = level

    def bind(self, env: EnvInfo) -> None:
        name = env.env_id or "this env"
        fields = _space_fields(env.observation_space)
        if fields is None or "blstats" not in fields:
            raise ConfigError(
                f"the 'position' key reads blstats of NetHack/MiniHack observations but {name} has "
                f"{env.describe_observations()}; for array observations use grid, simhash or obs"
            )
        size = _flat_size(env.observation_space.spaces["blstats"]) or 0
        needed = BL_DLEVEL + 1 if self.level else BL_Y + 1
        if size < needed:
            raise ConfigError(f"the 'position' key needs {needed} blstats entries but {name} has {size}")

    def __call__(self, obs: Any) -> np.ndarray:
        bl = _field(obs, "blstats", self.name).astype(np.int64)
        if bl.ndim != 2 or bl.shape[1] <= BL_Y:
            raise ValueError(f"blstats must be (n, 27), got shape {bl.shape}")
        key = bl[:, BL_X] | (bl[:, BL_Y] << 8)
        if self.level:
            if bl.shape[1] <= BL_DLEVEL:
                raise ValueError(f"blstats has {bl.shape[1]} entries; the level needs 27 (or use level=False)")
            key = key | (bl[:, BL_DLEVEL] << 16) | (bl[:, BL_DNUM] << 24)
        return key

    def __repr__(self) -> str:
        return f"PositionKey(level={self.level})"


# -- registrations (YAML names) -------------------------------------------------


@KEYS.register("grid", family="continuous")
def grid(
    dims: list[Union[int, str]] | None = None, cell: Union[float, list[float]] = 0.1, field: str | None = None
) -> Key:
    """Cell of continuous dims (index or preset name) on a grid of size ``cell``."""
    return GridKey(dims=dims, cell=cell, field=field)


@KEYS.register("simhash", family="any")
def simhash(bits: int = 32, seed: int = 0, field: str | None = None) -> Key:
    """Sign pattern of a seeded random projection of the flattened observation."""
    return SimHashKey(bits=bits, seed=seed, field=field)


@KEYS.register("obs", family="any")
def obs(field: str | None = None) -> Key:
    """The exact observation (or dict field), hashed."""
    return BytesKey(field=field)


@KEYS.register("position", family="nethack")
def position(level: bool = True) -> Key:
    """Agent (x, y) from blstats, with dungeon and level when ``level``."""
    return PositionKey(level=level)


@KEYS.register("message", family="nethack")
def message() -> Key:
    """The 256-byte NetHack message, hashed."""
    return BytesKey(field="message")



@KEYS.register("glyphs", family="nethack")
def glyphs() -> Key:
    """The whole 21×79 glyph map, hashed."""
    return BytesKey(field="glyphs")
