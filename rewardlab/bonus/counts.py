"""Count-based bonuses: global ``1/√N(k)``, episodic ``1/√N_e(k)`` or ``1[N_e(k)=1]``, and their combinations.

Counts include the current visit, so a state seen for the first time gets a
bonus of 1. The key (see :mod:`rewardlab.bonus.keys`) of the *next*
observation is counted: the bonus rewards reaching a rare state.

Combinations (Henaff et al. 2023, "A Study of Global and Episodic Bonuses
for Exploration in Contextual MDPs"): ``product`` = global × episodic works
across settings where episodes share more or less structure; ``sum`` =
global + ``episodic_weight`` × episodic.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rewardlab.bonus.kernels import (
    count_bonus,
    count_bonus_per_env,
    count_keys,
    count_keys_per_env,
    lookup_keys,
    rehash_into,
)
from rewardlab.bonus.keys import KeySpec, as_key
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm, StepKernel
from rewardlab.core.transitions import Transitions

COUNT_MODES = ("global", "episodic", "product", "sum")
EPISODIC_FORMS = ("inverse_sqrt", "first_visit")
MAX_LOAD = 0.5


def _capacity_for(n_keys: int, capacity: int) -> int:
    """The smallest power of two ≥ ``capacity`` that holds ``n_keys`` below the maximum load."""
    capacity = 1 << max(1, (int(capacity) - 1).bit_length())
    while n_keys > capacity * MAX_LOAD:
        capacity *= 2
    return capacity


def _slots(capacity: int, size: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An empty table ``(slots, keys, counts, tally)`` holding ``size`` as its size: ``slots`` is
    ``(capacity + 1, 2)``; ``keys`` and ``counts`` are the columns of its first ``capacity`` rows, so that a probe
    reads one cache line (a key beside its count), not one in each of two arrays; its last row, ``tally``, is the
    table's ``[size, limit]``, which the one-call kernels update in place
    (:func:`~rewardlab.bonus.kernels.grid_count_step`): one array holds the whole table."""
    slots = np.zeros((capacity + 1, 2), dtype=np.int64)
    slots[capacity] = size, int(capacity * MAX_LOAD)
    return _views(slots)


def _views(slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(slots, keys, counts, tally)`` of a table's one array (see :func:`_slots`)."""
    capacity = slots.shape[0] - 1
    return slots, slots[:capacity, 0], slots[:capacity, 1], slots[capacity]


class CountTable:
    """Visit counts of ``int64`` keys in an open-addressing hash table (grows as needed).

    Any ``int64`` is a key (a slot is free when its count is 0), so SimHash or
    grid keys never collide with a reserved value.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.bonus import CountTable
        >>> table = CountTable()
        >>> table.visit(np.array([7, 7, 3]))     # each key's count including this visit
        array([1, 2, 1])
        >>> table.lookup(np.array([7, 5]))
        array([2, 0])
    """

    def __init__(self, capacity: int = 1024) -> None:
        capacity = _capacity_for(1, capacity)
        #: the table ``(capacity + 1, 2)``: each key beside its count (``keys`` and ``counts`` are the columns of
        #: its first rows), then ``tally``, the row ``[size, limit]`` (see ``_slots``)
        self.slots, self.keys, self.counts, self.tally = _slots(capacity)

    @property
    def size(self) -> int:
        """The number of keys stored."""
        return int(self.tally[0])

    @size.setter
    def size(self, value: int) -> None:
        self.tally[0] = value

    @property
    def limit(self) -> int:
        """The most keys the table holds before it grows (its maximum load)."""
        return int(self.tally[1])

    def __len__(self) -> int:
        return self.size

    def __getstate__(self) -> dict[str, Any]:
        # keys, counts and tally are views of slots: pickle and deepcopy keep the one array, then make the views
        return {"slots": self.slots, "size": self.size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        slots = state["slots"]
        capacity = slots.shape[0] - 1
        if capacity & (capacity - 1):  # pickled before the tally row: (capacity, 2), capacity a power of two
            capacity += 1
            slots = np.concatenate([slots, np.zeros((1, 2), dtype=np.int64)])
        slots[capacity] = state["size"], int(capacity * MAX_LOAD)
        self.slots, self.keys, self.counts, self.tally = _views(slots)

    def reserve(self, extra: int) -> None:
        """Grow (rehash into a larger table) unless ``extra`` more keys fit below the maximum load."""
        if self.size + extra <= self.limit:  # the common case: room left
            return
        capacity = _capacity_for(self.size + extra, self.keys.shape[0])
        if capacity != self.keys.shape[0]:
            slots, keys, counts, tally = _slots(capacity, self.size)
            rehash_into(self.keys, self.counts, keys, counts)
            self.slots, self.keys, self.counts, self.tally = slots, keys, counts, tally

    def visit(self, keys: np.ndarray) -> np.ndarray:
        """Count one visit of each key (in order) and return the counts including it."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        self.reserve(keys.shape[0])
        out = np.empty(keys.shape[0], dtype=np.int64)
        self.size += count_keys(self.keys, self.counts, keys, out)
        return out

    def bonus_into(self, keys: np.ndarray, weight: float, out: np.ndarray) -> None:
        """Count one visit of each key and write ``weight / √N`` into ``out`` (one compiled pass)."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        if self.size + keys.shape[0] > self.limit:
            self.reserve(keys.shape[0])
        self.size += count_bonus(self.keys, self.counts, keys, weight, out)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Stored counts (0 for unseen keys), without counting a visit."""
        out = np.empty(len(keys), dtype=np.int64)
        lookup_keys(self.keys, self.counts, np.ascontiguousarray(keys, dtype=np.int64), out)
        return out

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored ``(keys, counts)``."""
        used = self.counts > 0
        return self.keys[used].copy(), self.counts[used].copy()

    def state_dict(self) -> dict[str, Any]:
        keys, counts = self.items()
        return {"keys": keys, "counts": counts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = np.ascontiguousarray(state["keys"], dtype=np.int64)
        counts = np.ascontiguousarray(state["counts"], dtype=np.int64)
        if keys.shape != counts.shape or keys.ndim != 1:
            raise ValueError(f"count table state: keys and counts need one shape, got {keys.shape}, {counts.shape}")
        capacity = _capacity_for(len(keys), 1024)
        self.slots, self.keys, self.counts, self.tally = _slots(capacity)
        rehash_into(keys, counts, self.keys, self.counts)
        self.size = int(np.count_nonzero(counts > 0))


class EpisodicCountTable:
    """One count table per env (rows of one array), cleared per env at episode start.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.bonus import EpisodicCountTable
        >>> table = EpisodicCountTable(n_envs=2)
        >>> table.visit(np.array([7, 7])), table.visit(np.array([7, 3]))   # env 0 sees 7 twice, env 1 once each
        (array([1, 1]), array([2, 1]))
    """

    def __init__(self, n_envs: int, capacity: int = 256) -> None:
        capacity = _capacity_for(1, capacity)
        self.keys = np.zeros((n_envs, capacity), dtype=np.int64)
        self.counts = np.zeros((n_envs, capacity), dtype=np.int64)
        self.sizes = np.zeros(n_envs, dtype=np.int64)
        self._largest = 0  # an upper bound of max(sizes): a visit adds at most one key per env

    @property
    def n_envs(self) -> int:
        return self.keys.shape[0]

    def _prepare(self, keys: np.ndarray) -> np.ndarray:
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        if keys.shape[0] != self.n_envs:
            raise ValueError(f"episodic counts hold {self.n_envs} envs but got a batch of {keys.shape[0]}")
        self._reserve()
        return keys

    def arrays_for_visit(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys, counts, sizes)`` for a kernel that counts one visit per env itself (as
        :func:`~rewardlab.bonus.kernels.count_keys_per_env`), with room made for that visit first."""
        self._reserve()
        self._largest += 1
        return self.keys, self.counts, self.sizes

    def _reserve(self) -> None:
        """Grow the rows when one more key per env could fill one past the maximum load."""
        if self._largest + 1 > self.keys.shape[1] * MAX_LOAD:
            self._largest = int(self.sizes.max())  # the bound made exact: episodes ended since it was set
            capacity = _capacity_for(self._largest + 1, self.keys.shape[1])
            if capacity != self.keys.shape[1]:
                keys_new = np.zeros((self.n_envs, capacity), dtype=np.int64)
                counts_new = np.zeros((self.n_envs, capacity), dtype=np.int64)
                for i in range(self.n_envs):
                    rehash_into(self.keys[i], self.counts[i], keys_new[i], counts_new[i])
                self.keys, self.counts = keys_new, counts_new

    def visit(self, keys: np.ndarray) -> np.ndarray:
        """Count ``keys[i]`` in env ``i``'s table; return the counts including this visit."""
        keys = self._prepare(keys)
        out = np.empty(self.n_envs, dtype=np.int64)
        count_keys_per_env(self.keys, self.counts, self.sizes, keys, out)
        self._largest += 1
        return out

    def bonus_into(self, keys: np.ndarray, weight: float, first_visit: bool, out: np.ndarray) -> None:
        """Count ``keys[i]`` in env ``i``'s table and write ``weight / √N_e`` (or ``weight · 1[N_e = 1]``)."""
        keys = self._prepare(keys)
        self._largest = count_bonus_per_env(self.keys, self.counts, self.sizes, keys, weight, first_visit, out)

    def reset(self, env_indices: np.ndarray) -> None:
        self.counts[env_indices] = 0  # a slot with count 0 is free
        self.sizes[env_indices] = 0


class EpisodicCounter:
    """Lazily sized per-env episodic counts that a term owns and resets."""

    def __init__(self) -> None:
        self.table: EpisodicCountTable | None = None

    def bind(self, env: EnvInfo) -> None:
        self.table = EpisodicCountTable(env.n_envs)

    def visit(self, keys: np.ndarray) -> np.ndarray:
        return self.table_for(len(keys)).visit(keys)

    def table_for(self, n_envs: int) -> EpisodicCountTable:
        """The table, made anew for a batch of another size."""
        if self.table is None or self.table.n_envs != n_envs:
            self.table = EpisodicCountTable(n_envs)
        return self.table

    def reset(self, env_indices: np.ndarray) -> None:
        if self.table is not None:
            self.table.reset(env_indices)


class CountBonus(RewardTerm):
    """Count bonus on the key of the next observation.

    Args:
        key: what counts as the same state (a :class:`~rewardlab.bonus.keys.Key`
            or its config form: ``"position"``, ``{"name": "simhash", "bits": 32}``,
            ``{"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}}``).
        mode: ``"global"`` ``1/√N``, ``"episodic"``, ``"product"`` (global × episodic)
            or ``"sum"`` (global + ``episodic_weight`` × episodic).
        episodic: ``"inverse_sqrt"`` ``1/√N_e`` or ``"first_visit"`` ``1[N_e = 1]``.
        episodic_weight: weight of the episodic part in ``mode="sum"``.

    Global counts grow only in training mode; in eval mode the bonus reads the
    stored count plus the current visit. They are saved by :meth:`state_dict`.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> bonus = rl.bonus.CountBonus(key={"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}})
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), bonus)
        >>> _ = venv.reset()
        >>> _, rewards, _, _ = venv.step(np.array([1, 1]))
        >>> rewards.round(3)   # 1/√N: both envs land in one cell, its first visit (env 0) and its second (env 1)
        array([1.   , 0.707], dtype=float32)
    """

    name = "count"

    def __init__(
        self,
        *,
        key: KeySpec = "obs",
        mode: Literal["global", "episodic", "product", "sum"] = "global",
        episodic: Literal["inverse_sqrt", "first_visit"] = "inverse_sqrt",
        episodic_weight: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if mode not in COUNT_MODES:
            raise ValueError(f"unknown count mode {mode!r}; valid: {list(COUNT_MODES)}")
        if episodic not in EPISODIC_FORMS:
            raise ValueError(f"unknown episodic bonus {episodic!r}; valid: {list(EPISODIC_FORMS)}")
        self.key = as_key(key)
        self.mode = mode
        self.episodic = episodic
        self.episodic_weight = float(episodic_weight)
        self.global_counts = CountTable()
        self.episodic_counts = EpisodicCounter()

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self.key.bind(env)
        self.episodic_counts.bind(env)

    def _global(self, keys: np.ndarray) -> np.ndarray:
        counts = self.global_counts.visit(keys) if self.training else self.global_counts.lookup(keys) + 1
        return 1.0 / np.sqrt(counts)

    def _episodic(self, keys: np.ndarray) -> np.ndarray:
        counts = self.episodic_counts.visit(keys)
        if self.episodic == "first_visit":
            return (counts == 1).astype(np.float64)
        return 1.0 / np.sqrt(counts)

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        # one compiled pass from keys to weighted bonus for the plain global and episodic bonuses
        if self.training and self.mode == "global":
            self.key.count_into(batch.next_obs, self.global_counts, weight, out)
        elif (
            self.mode == "episodic"
            and self.episodic_counts.table is not None
            and out.shape[0] == (self.episodic_counts.table.n_envs)
        ):
            keys = self.key(batch.next_obs)
            self.episodic_counts.table.bonus_into(keys, weight, self.episodic == "first_visit", out)
        else:
            super().compute_into(batch, out, weight)

    def step_kernel(self, obs: np.ndarray) -> StepKernel | None:
        if self.mode != "global" or not self.training:
            return None
        spec = self.key.count_kernel(obs)
        if spec is None:
            return None
        fn, args = spec
        table, n = self.global_counts, obs.shape[0]
        table.reserve(n)  # room for the next step's keys, as count_into makes before each step

        def sync(needs_room: int) -> tuple:
            # the kernel keeps the table's size (its tally row): it calls back only when the table must grow
            table.reserve(n)
            return (*args, table.slots)

        return StepKernel(fn, ("next_obs",), (*args, table.slots), takes_weight=True, sync=sync)

    def compute(self, batch: Transitions) -> np.ndarray:
        keys = self.key(batch.next_obs)
        if self.mode == "global":
            return self._global(keys)
        if self.mode == "episodic":
            return self._episodic(keys)
        if self.mode == "product":
            return self._global(keys) * self._episodic(keys)
        return self._global(keys) + self.episodic_weight * self._episodic(keys)

    def reset(self, env_indices: np.ndarray) -> None:
        if self.mode != "global":
            self.episodic_counts.reset(env_indices)

    @property
    def resets_episodes(self) -> bool:
        return self.mode != "global"  # only the episodic counts start again

    def state_dict(self) -> dict[str, Any]:
        return {"global_counts": self.global_counts.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.global_counts.load_state_dict(state["global_counts"])

    def __repr__(self) -> str:
        return f"CountBonus(key={self.key!r}, mode={self.mode!r})"


def count(
    key: KeySpec = "obs",
    *,
    mode: Literal["global", "episodic", "product", "sum"] = "global",
    episodic: Literal["inverse_sqrt", "first_visit"] = "inverse_sqrt",
    episodic_weight: float = 1.0,
    name: str | None = None,
) -> CountBonus:
    """A count bonus (see :class:`CountBonus`).

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + 0.1 * rl.bonus.count("obs", mode="episodic", episodic="first_visit")
        >>> reward.component_names()
        ['extrinsic', 'count']
    """
    return CountBonus(key=key, mode=mode, episodic=episodic, episodic_weight=episodic_weight, name=name)
