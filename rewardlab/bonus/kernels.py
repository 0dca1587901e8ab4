"""Numba kernels shared by the exploration bonuses; each works on a whole batch in one call.

* hashing: grid cells, SimHash sign patterns and raw bytes to ``int64`` keys;
* count tables: open-addressing hash tables keyed by ``int64`` (one global
  table, or one row per env for episodic counts);
* E3B: the elliptical bonus with a Sherman–Morrison update of each env's
  inverse covariance;
* k nearest neighbours: one scan (:func:`knn_merge`) behind NGU's episodic
  memory and the novelty archive's recent entries (:mod:`rewardlab.qd.knn`),
  and NGU's kernel similarity bonus.

Hash tables use linear probing on a power-of-two capacity. A slot is free
when its count is 0 (every stored key has been visited at least once), so
every ``int64`` is a valid key: no value is reserved as an empty marker that
a SimHash or grid key could collide with. Callers keep the load factor below
one half by growing before a call (:func:`rehash_into`), so probing always
ends.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ONE = np.uint64(1)


@numba.njit(cache=True, inline="always")
def mix64(x: np.uint64) -> np.uint64:
    """splitmix64 finaliser: spreads the bits of ``x`` over the whole word."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


# -- keys --------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _grid_key(x: np.ndarray, i: int, dims: np.ndarray, cell: np.ndarray) -> np.int64:
    """The hash of row ``i``'s integer cell ``floor(x[i, dims[j]] / cell[j])`` over all ``j``."""
    h = _GOLDEN
    for j in range(dims.shape[0]):
        c = np.int64(math.floor(x[i, dims[j]] / cell[j]))
        h = mix64(h ^ (np.uint64(c) + _GOLDEN))
    return np.int64(h)


@numba.njit(cache=True, nogil=True)
def grid_keys(x: np.ndarray, dims: np.ndarray, cell: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = hash of the integer cell ``floor(x[i, dims[j]] / cell[j])`` over all ``j``."""
    for i in range(x.shape[0]):
        out[i] = _grid_key(x, i, dims, cell)


@numba.njit(cache=True, nogil=True, fastmath=True)
def simhash_keys(x: np.ndarray, projection_t: np.ndarray, out: np.ndarray) -> None:
    """SimHash: bit ``b`` of ``out[i]`` is ``A[b] · x[i] > 0``, ``projection_t = Aᵀ`` (D × bits, float32).

    ``x`` is float32 or float64 (rounded to float32 here, as ``astype(np.float32)`` would, so callers pass
    float64 observations without a converted copy). Each product is a float32 ``A[b, j]·x[i, j]``, summed in
    float64 over ``j``: a sum of at most a few dozen float32 products is exact in float64 (unless their
    magnitudes span more than ~2²⁹), so the keys do not depend on the order of the sum. The loop runs over
    ``b`` innermost (contiguous in ``projection_t``: all bits of a row at once, vectorised).
    """
    dim, bits = projection_t.shape
    acc = np.empty(bits)
    for i in range(x.shape[0]):
        for b in range(bits):
            acc[b] = 0.0
        for j in range(dim):
            xj = np.float32(x[i, j])
            for b in range(bits):
                acc[b] += np.float64(projection_t[j, b] * xj)
        key = np.uint64(0)
        for b in range(bits):
            if acc[b] > 0.0:
                key |= _ONE << np.uint64(b)
        out[i] = np.int64(key)


@numba.njit(cache=True, nogil=True)
def bytes_keys(data: np.ndarray, out: np.ndarray) -> None:
    """FNV-1a over each row of a ``uint8`` matrix, then mixed: equal rows give equal keys."""
    for i in range(data.shape[0]):
        h = _FNV_OFFSET
        for j in range(data.shape[1]):
            h = (h ^ np.uint64(data[i, j])) * _FNV_PRIME
        out[i] = np.int64(mix64(h))


# -- count tables --------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _probe(table_keys: np.ndarray, table_counts: np.ndarray, key: np.int64) -> int:
    """Slot holding ``key``, or the free slot (count 0) where it belongs."""
    mask = np.int64(table_keys.shape[0] - 1)
    i = np.int64(mix64(np.uint64(key)) & np.uint64(mask))
    while True:
        if table_counts[i] == 0 or table_keys[i] == key:
            return i
        i = (i + 1) & mask


@numba.njit(cache=True, nogil=True)
def count_keys(table_keys: np.ndarray, table_counts: np.ndarray, keys: np.ndarray, out: np.ndarray) -> int:
    """Add one visit to each key in turn; ``out[i]`` = its count including this visit. Returns new keys."""
    new = 0
    for i in range(keys.shape[0]):
        key = keys[i]
        s = _probe(table_keys, table_counts, key)
        if table_counts[s] == 0:
            table_keys[s] = key
            new += 1
        table_counts[s] += 1
        out[i] = table_counts[s]
    return new


@numba.njit(cache=True, nogil=True)
def lookup_keys(table_keys: np.ndarray, table_counts: np.ndarray, keys: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = stored count of ``keys[i]`` (0 when unseen); the table is not changed."""
    for i in range(keys.shape[0]):
        out[i] = table_counts[_probe(table_keys, table_counts, keys[i])]


@numba.njit(cache=True, nogil=True)
def count_keys_per_env(
    table_keys: np.ndarray, table_counts: np.ndarray, sizes: np.ndarray, keys: np.ndarray, out: np.ndarray
) -> None:
    """Episodic counts: key ``i`` is counted in env ``i``'s own table row (``table_keys[i]``)."""
    for i in range(keys.shape[0]):
        row_keys, row_counts = table_keys[i], table_counts[i]
        key = keys[i]
        s = _probe(row_keys, row_counts, key)
        if row_counts[s] == 0:
            row_keys[s] = key
            sizes[i] += 1
        row_counts[s] += 1
        out[i] = row_counts[s]


@numba.njit(cache=True, inline="always")
def _visit(table_keys: np.ndarray, table_counts: np.ndarray, key: np.int64) -> tuple[int, int]:
    """One visit of ``key``: ``(its count including this visit, 1 when the key is new else 0)``."""
    s = _probe(table_keys, table_counts, key)
    new = 0
    if table_counts[s] == 0:
        table_keys[s] = key
        new = 1
    table_counts[s] += 1
    return table_counts[s], new


@numba.njit(cache=True, nogil=True)
def count_bonus(
    table_keys: np.ndarray, table_counts: np.ndarray, keys: np.ndarray, weight: float, out: np.ndarray
) -> int:
    """Global count bonus in one pass: one visit of each key, ``out[i] = weight / √N(keys[i])``; returns new keys."""
    new = 0
    for i in range(keys.shape[0]):
        count, added = _visit(table_keys, table_counts, keys[i])
        new += added
        out[i] = weight * (1.0 / math.sqrt(count))  # as weight × (1/√N) on the plain path
    return new


@numba.njit(cache=True, nogil=True)
def grid_count_bonus(x: np.ndarray, grid: np.ndarray, slots: np.ndarray, weight: float, out: np.ndarray) -> int:
    """:func:`grid_keys` and :func:`count_bonus` in one pass (no key array): returns the number of new keys.

    ``grid`` is ``(2, d)``: the dims read (as floats) and their cell sizes; ``slots`` is the whole table,
    ``(capacity + 1, 2)``: each key beside its count, then the table's ``[size, limit]`` (not touched here).
    Few arguments on purpose (numba's dispatch costs about 0.1–0.2 µs per argument, on every step).
    """
    dims = grid[0].astype(np.int64)
    cell = grid[1]
    capacity = slots.shape[0] - 1
    table_keys, table_counts = slots[:capacity, 0], slots[:capacity, 1]
    new = 0
    for i in range(x.shape[0]):
        count, added = _visit(table_keys, table_counts, _grid_key(x, i, dims, cell))
        new += added
        out[i] = weight * (1.0 / math.sqrt(count))
    return new


@numba.njit(cache=True, nogil=True)
def simhash_count_bonus(
    x: np.ndarray, projection_t: np.ndarray, slots: np.ndarray, weight: float, out: np.ndarray
) -> int:
    """:func:`simhash_keys` then :func:`count_bonus` in one call: returns the number of new keys.

    The keys come from :func:`simhash_keys` itself (compiled apart, with its own fast-math flags), so they are
    bit for bit those of the two-call path. ``slots`` as in :func:`grid_count_bonus`.
    """
    keys = np.empty(x.shape[0], dtype=np.int64)
    simhash_keys(x, projection_t, keys)
    capacity = slots.shape[0] - 1
    return count_bonus(slots[:capacity, 0], slots[:capacity, 1], keys, weight, out)


@numba.njit(cache=True, nogil=True)
def _tally(new: int, slots: np.ndarray, n: int) -> int:
    """Add ``new`` keys to the table's size (its last row, ``[size, limit]``); 1 when ``n`` more might not fit."""
    tally = slots[slots.shape[0] - 1]
    tally[0] += new
    return 1 if tally[0] + n > tally[1] else 0


@numba.njit(cache=True, nogil=True)
def grid_count_step(x: np.ndarray, grid: np.ndarray, slots: np.ndarray, weight: float, out: np.ndarray) -> int:
    """:func:`grid_count_bonus` as a fused step calls it: the new keys go into the table's size (the last row of
    ``slots``, :attr:`~rewardlab.bonus.CountTable.tally`), so Python hears from the kernel only when the table
    needs room for the next step's keys (returns 1; else 0)."""
    return _tally(grid_count_bonus(x, grid, slots, weight, out), slots, x.shape[0])


@numba.njit(cache=True, nogil=True)
def simhash_count_step(
    x: np.ndarray, projection_t: np.ndarray, slots: np.ndarray, weight: float, out: np.ndarray
) -> int:
    """:func:`simhash_count_bonus` as a fused step calls it (the size kept as in :func:`grid_count_step`)."""
    return _tally(simhash_count_bonus(x, projection_t, slots, weight, out), slots, x.shape[0])


@numba.njit(cache=True, nogil=True)
def count_bonus_per_env(
    table_keys: np.ndarray,
    table_counts: np.ndarray,
    sizes: np.ndarray,
    keys: np.ndarray,
    weight: float,
    first_visit: bool,
    out: np.ndarray,
) -> int:
    """Episodic count bonus in one pass: ``weight / √N_e`` (or ``weight · 1[N_e = 1]``). Returns the largest size."""
    largest = 0
    for i in range(keys.shape[0]):
        row_keys, row_counts = table_keys[i], table_counts[i]
        key = keys[i]
        s = _probe(row_keys, row_counts, key)
        if row_counts[s] == 0:
            row_keys[s] = key
            sizes[i] += 1
        row_counts[s] += 1
        c = row_counts[s]
        if first_visit:
            out[i] = weight if c == 1 else 0.0
        else:
            out[i] = weight * (1.0 / math.sqrt(c))
        largest = max(largest, sizes[i])
    return largest


@numba.njit(cache=True, nogil=True)
def rehash_into(old_keys: np.ndarray, old_counts: np.ndarray, new_keys: np.ndarray, new_counts: np.ndarray) -> None:
    """Move every entry (count > 0) of a table into a (bigger, empty) one."""
    for i in range(old_keys.shape[0]):
        if old_counts[i] > 0:
            key = old_keys[i]
            s = _probe(new_keys, new_counts, key)
            new_keys[s] = key
            new_counts[s] = old_counts[i]


# -- E3B -----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, fastmath=True)
def elliptical_bonus(inv_cov: np.ndarray, phi: np.ndarray, out: np.ndarray) -> None:
    """E3B: ``out[i] = φᵢᵀ C⁻¹ φᵢ``, then ``C⁻¹ ← C⁻¹ − uuᵀ/(1 + out[i])`` with ``u = C⁻¹φᵢ``.

    ``inv_cov`` is (n, d, d), one symmetric inverse covariance per env, updated in place.
    """
    n, d = phi.shape
    u = np.empty(d, dtype=inv_cov.dtype)
    for i in range(n):
        c = inv_cov[i]
        f = phi[i]
        b = 0.0
        for a in range(d):
            acc = 0.0
            for k in range(d):
                acc += c[a, k] * f[k]
            u[a] = acc
            b += f[a] * acc
        out[i] = b
        scale = 1.0 / (1.0 + b)
        for a in range(d):
            ua = u[a] * scale
            for k in range(d):
                c[a, k] -= ua * u[k]


# -- k nearest neighbours (NGU's episodic memory, the novelty archive) -----------


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def knn_merge(entries: np.ndarray, n_entries: int, query: np.ndarray, top: np.ndarray, found: int, zero: float) -> int:
    """Merge the squared distances from ``query`` to ``entries[:n_entries]`` into its ``k = len(top)`` smallest.

    ``top[:found]`` holds the smallest squared distances so far, sorted ascending; the
    new count is returned. ``zero`` sets the type the distances are summed in (a
    float32 zero for float32 entries lets the distance loop vectorise). The one scan
    behind both the NGU episodic bonus and the novelty archive (:mod:`rewardlab.qd.knn`).
    """
    k = top.shape[0]
    d = query.shape[0]
    for j in range(n_entries):
        row = entries[j]
        s = zero
        for a in range(d):
            diff = row[a] - query[a]
            s += diff * diff
        if found < k:
            pos = found
            found += 1
        elif s < top[k - 1]:
            pos = k - 1
        else:
            continue
        while pos > 0 and top[pos - 1] > s:
            top[pos] = top[pos - 1]
            pos -= 1
        top[pos] = s
    return found


@numba.njit(cache=True, nogil=True, fastmath=True)
def scan_knn(entries: np.ndarray, queries: np.ndarray, top: np.ndarray, found: np.ndarray) -> None:
    """Merge every row of ``entries`` into each query's sorted k smallest squared distances (in place)."""
    for i in range(queries.shape[0]):
        found[i] = knn_merge(entries, entries.shape[0], queries[i], top[i], found[i], 0.0)


@numba.njit(cache=True, nogil=True, fastmath=True)
def knn_then_insert(
    memory: np.ndarray, sizes: np.ndarray, emb: np.ndarray, k: int, dists: np.ndarray, n_found: np.ndarray
) -> None:
    """Squared distances from ``emb[i]`` to its ``k`` nearest entries of env ``i``'s memory, then store ``emb[i]``.

    ``memory`` is float32 (n_envs, capacity, d); ``sizes[i]`` counts everything env ``i``
    stored this episode (past capacity the oldest entry is overwritten).
    ``dists[i, :n_found[i]]`` come out sorted ascending.
    """
    capacity = memory.shape[1]
    for i in range(emb.shape[0]):
        filled = min(sizes[i], capacity)
        n_found[i] = knn_merge(memory[i], filled, emb[i], dists[i, :k], 0, np.float32(0.0))
        memory[i, sizes[i] % capacity] = emb[i]
        sizes[i] += 1


@numba.njit(cache=True, nogil=True)
def ngu_similarity_bonus(
    dists: np.ndarray,
    n_found: np.ndarray,
    mean_sq_dist: float,
    epsilon: float,
    cluster_distance: float,
    c: float,
    max_similarity: float,
    out: np.ndarray,
) -> None:
    """NGU episodic bonus ``1/(√ΣK + c)`` with ``K = ε/(max(d²/d̄² − ξ, 0) + ε)``.

    The current state is its own nearest neighbour (``K = 1``), so a state
    never seen this episode gets ``1/(1 + c)``; the bonus is 0 when
    ``√ΣK + c`` exceeds ``max_similarity``.
    """
    scale = 1.0 / max(mean_sq_dist, 1e-12)
    for i in range(dists.shape[0]):
        total = 1.0
        for j in range(n_found[i]):
            dn = max(dists[i, j] * scale - cluster_distance, 0.0)
            total += epsilon / (dn + epsilon)
        s = math.sqrt(total) + c
        out[i] = 0.0 if s > max_similarity else 1.0 / s
