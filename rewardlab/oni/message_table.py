"""Message rows to slots in one compiled call: the ONI term's per-step lookup of the messages it met before.

Each distinct message row (its raw bytes: NLE's ``message`` field is 256 zero-padded bytes) has a *slot*, an
index into the term's per-message arrays (the reward ``r_llm``). At every step :func:`find_rows` hashes the
batch's rows, finds their slots and gathers their rewards in one call; only rows never met before (or whose
reward is not computed yet) go back to Python. The reward term's per-step cost thus no longer grows with
Python work per message (``benchmarks/bench_oni_throughput.py`` measures what the term costs the env loop).

A row is read as 8-byte words; its key is ``h ← mix64(h ⊕ wⱼ)`` over the words (splitmix64's finaliser,
:func:`rewardlab.bonus.kernels.mix64`, so every bit of every word reaches every bit of the key). Keys map to
slots in an open-addressing table (linear probing on a power-of-two capacity kept at most half full, as
:mod:`rewardlab.bonus.kernels`' count tables); a hit is confirmed against the row's stored words, so two
different rows never share a slot, whatever their keys. The key also serves the episodic count ``N_e(m)``.
"""

from __future__ import annotations

import numba
import numpy as np

from rewardlab.bonus.kernels import count_keys_per_env, mix64

_SEED = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, inline="always")
def _row_key(words: np.ndarray, i: int) -> np.int64:
    h = _SEED
    for j in range(words.shape[1]):
        h = mix64(h ^ words[i, j])
    return np.int64(h)


@numba.njit(cache=True, inline="always")
def _same(rows: np.ndarray, s: int, words: np.ndarray, i: int) -> bool:
    for j in range(words.shape[1]):  # noqa: SIM110  (a loop for numba, not all() over a generator)
        if rows[s, j] != words[i, j]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def step_rewards(
    words: np.ndarray,
    table_keys: np.ndarray,
    table_slots: np.ndarray,
    rows: np.ndarray,
    reward: np.ndarray,
    episodic_keys: np.ndarray,
    episodic_counts: np.ndarray,
    episodic_sizes: np.ndarray,
    beta: float,
    weight: float,
    keys: np.ndarray,
    slots: np.ndarray,
    out: np.ndarray,
) -> int:
    """The ONI term's step: ``out[i] = weight · reward[slot_i] / N_e(m_i)^β`` for the message rows ``words``.

    First every row's key (``keys``) and slot (``slots``, -1 when new; ``table_slots`` holds slot + 1, 0 for a
    free entry; ``rows[s]`` the words of slot ``s``). When a row is new or its slot's reward is NaN (not
    computed yet), returns how many such rows there are and counts and writes nothing: the caller enters them,
    computes their rewards and calls again. Otherwise counts one visit of each row's key in its env's episodic
    table (:func:`~rewardlab.bonus.kernels.count_keys_per_env`; not when ``β = 0``), writes ``out`` and
    returns 0.
    """
    mask = table_keys.shape[0] - 1
    n = words.shape[0]
    todo = 0
    for i in range(n):
        key = _row_key(words, i)
        keys[i] = key
        j = np.int64(np.uint64(key) & np.uint64(mask))
        slot = -1
        while table_slots[j] != 0:
            s = table_slots[j] - 1
            if table_keys[j] == key and _same(rows, s, words, i):
                slot = s
                break
            j = (j + 1) & mask
        slots[i] = slot
        if slot < 0 or reward[slot] != reward[slot]:  # new, or NaN: not computed yet
            todo += 1
    if todo:
        return todo
    if beta == 0.0:
        for i in range(n):
            out[i] = reward[slots[i]] * weight
        return 0
    counts = np.empty(n, dtype=np.int64)
    count_keys_per_env(episodic_keys, episodic_counts, episodic_sizes, keys, counts)
    for i in range(n):
        out[i] = reward[slots[i]] / np.float64(counts[i]) ** beta * weight
    return 0


@numba.njit(cache=True, nogil=True)
def insert_key(table_keys: np.ndarray, table_slots: np.ndarray, key: np.int64, slot: int) -> None:
    """Enter ``key`` → ``slot`` in the first free entry of its probe sequence (the table must have one)."""
    mask = table_keys.shape[0] - 1
    j = np.int64(np.uint64(key) & np.uint64(mask))
    while table_slots[j] != 0:
        j = (j + 1) & mask
    table_keys[j] = key
    table_slots[j] = slot + 1


@numba.njit(cache=True, nogil=True)
def _rehash(old_keys: np.ndarray, old_slots: np.ndarray, table_keys: np.ndarray, table_slots: np.ndarray) -> None:
    """Enter every entry of a table into a (bigger, empty) one."""
    for e in range(old_keys.shape[0]):
        if old_slots[e] != 0:
            insert_key(table_keys, table_slots, old_keys[e], old_slots[e] - 1)


def as_words(messages: np.ndarray) -> np.ndarray:
    """The rows of ``messages`` (any dtype, one row per env) as 8-byte words, zero-padded: ``(n, W)`` uint64.

    A view of the batch's own memory where its rows are contiguous bytes of a multiple of 8 (NLE's messages).
    """
    rows = np.ascontiguousarray(messages).reshape(len(messages), -1).view(np.uint8)
    width = rows.shape[1]
    if width % 8:
        padded = np.zeros((rows.shape[0], width + 8 - width % 8), dtype=np.uint8)
        padded[:, :width] = rows
        rows = padded
    return rows.view(np.uint64)


class MessageTable:
    """Distinct message rows → slots, found for a whole batch in one compiled call (:func:`step_rewards`).

    The caller numbers the slots (rows met another way, e.g. texts scored for a plot, take slots with no row
    here) and keeps its own per-slot arrays; :meth:`add` enters a row under a slot.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.bonus import EpisodicCountTable
        >>> from rewardlab.oni.message_table import MessageTable, as_words
        >>> table, episodic = MessageTable(), EpisodicCountTable(n_envs=2)
        >>> words = as_words(np.array([[72, 105, 0, 0], [72, 105, 0, 0]], dtype=np.uint8))   # "Hi" in both envs
        >>> keys, slots, out = np.empty(2, np.int64), np.empty(2, np.int64), np.empty(2)
        >>> reward = np.array([0.5])                   # slot 0's r_llm
        >>> step = lambda: table.step(words, reward, episodic.arrays_for_visit(), 1.0, 1.0, keys, slots, out)
        >>> step(), slots.tolist()                     # both rows new: enter them, then step again
        (2, [-1, -1])
        >>> table.add(words[0], keys[0], slot=0)
        >>> step(), out.tolist(), step(), out.tolist() # r / N_e: each env's first and second visit
        (0, [0.5, 0.5], 0, [0.25, 0.25])
    """

    def __init__(self, capacity: int = 1024) -> None:
        capacity = 1 << max(1, (int(capacity) - 1).bit_length())
        self.table_keys = np.zeros(capacity, dtype=np.int64)
        self.table_slots = np.zeros(capacity, dtype=np.int64)
        self.rows = np.zeros((0, 0), dtype=np.uint64)  # the words of each slot's row (sized by the first add)
        self.size = 0  # rows entered

    def __len__(self) -> int:
        return self.size

    def step(
        self,
        words: np.ndarray,
        reward: np.ndarray,
        episodic: tuple[np.ndarray, np.ndarray, np.ndarray],
        beta: float,
        weight: float,
        keys: np.ndarray,
        slots: np.ndarray,
        out: np.ndarray,
    ) -> int:
        """:func:`step_rewards` on this table (``episodic``: an episodic count table's arrays, from
        :meth:`~rewardlab.bonus.EpisodicCountTable.arrays_for_visit`); 0 when ``out`` is written."""
        if self.size and self.rows.shape[1] != words.shape[1]:
            raise ValueError(f"message rows of {words.shape[1]} words; this table holds rows of {self.rows.shape[1]}")
        episodic_keys, episodic_counts, episodic_sizes = episodic
        return step_rewards(words, self.table_keys, self.table_slots, self.rows, reward, episodic_keys,
                            episodic_counts, episodic_sizes, beta, weight, keys, slots, out)  # fmt: skip

    def add(self, row: np.ndarray, key: int, *, slot: int) -> None:
        """Enter the row ``row`` (its words, as :meth:`step` read them) with key ``key`` (from :meth:`step`)
        under ``slot``."""
        if self.rows.shape[1] != row.shape[0]:  # the first row sets the width (an empty table reads no row)
            if self.size:
                raise ValueError(f"a row of {row.shape[0]} words; this table holds rows of {self.rows.shape[1]}")
            self.rows = np.zeros((0, row.shape[0]), dtype=np.uint64)
        if slot >= self.rows.shape[0]:
            grown = np.zeros((max(64, 2 * self.rows.shape[0], slot + 1), row.shape[0]), dtype=np.uint64)
            grown[: self.rows.shape[0]] = self.rows
            self.rows = grown
        self.rows[slot] = row
        self.size += 1
        if 2 * self.size > self.table_keys.shape[0]:  # kept at most half full: probing ends soon
            old_keys, old_slots = self.table_keys, self.table_slots
            self.table_keys = np.zeros(2 * old_keys.shape[0], dtype=np.int64)
            self.table_slots = np.zeros(2 * old_keys.shape[0], dtype=np.int64)
            _rehash(old_keys, old_slots, self.table_keys, self.table_slots)
        insert_key(self.table_keys, self.table_slots, np.int64(key), int(slot))
