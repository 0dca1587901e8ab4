"""SQLite store of the pairs a teacher was asked and the answers given (``label store``).

One row per pair, keyed by a hash of the two segments' contents: the pair's
network inputs, masks and true rewards are stored when it is asked, the answer
when it is given, each in its own committed transaction. A labelling session
that stops (Ctrl-C, a crash, a closed notebook) resumes where it stopped:
answered pairs are never asked again, and :meth:`LabelStore.dataset` gives
every answered pair back for training.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.learned.preference.teachers import ANSWERS, Queries

LABEL_STORE_FILE = "labels.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    asked_at REAL NOT NULL,
    answer TEXT,
    answered_at REAL,
    data BLOB NOT NULL
)
"""


def pair_key(queries: Queries, i: int) -> str:
    """A content hash of pair ``i`` (inputs, masks and true rewards of both segments)."""
    h = hashlib.sha256()
    for a in (queries.inputs_1, queries.inputs_2, queries.mask_1, queries.mask_2, queries.rewards_1, queries.rewards_2):
        if a is not None:
            h.update(np.ascontiguousarray(a[i]).tobytes())
    return h.hexdigest()


class LabelStore:
    """Pairs asked and answers given, in an SQLite file (created on first use).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned import LabelStore
        >>> from rewardlab.learned.preference import Queries
        >>> queries = Queries(rewards_1=np.ones((1, 2)), rewards_2=np.zeros((1, 2)),
        ...                   mask_1=np.ones((1, 2)), mask_2=np.ones((1, 2)))
        >>> store = LabelStore("labels/doc_store.sqlite")
        >>> key = store.keys_for(queries)[0]                 # a content hash of the pair
        >>> store.add_pair(key, queries, 0)
        >>> store.set_answer(key, "equal")
        >>> store.answer(key), store.counts()["answered"], store.dataset()["labels"]
        ('equal', 1, array([0.5]))
        >>> store.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        with self._db:
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def keys_for(self, queries: Queries) -> list[str]:
        """Content keys of every pair in ``queries``."""
        return [pair_key(queries, i) for i in range(queries.n)]

    def add_pair(self, key: str, queries: Queries, i: int) -> None:
        """Record that pair ``i`` of ``queries`` is being asked (kept if it was asked before)."""
        arrays = {
            "mask_1": queries.mask_1[i], "mask_2": queries.mask_2[i],
            "rewards_1": queries.rewards_1[i], "rewards_2": queries.rewards_2[i],
        }  # fmt: skip
        if queries.inputs_1 is not None and queries.inputs_2 is not None:
            arrays["inputs_1"], arrays["inputs_2"] = queries.inputs_1[i], queries.inputs_2[i]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        with self._db:
            (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM pairs").fetchone()
            self._db.execute(
                "INSERT OR IGNORE INTO pairs (key, seq, asked_at, data) VALUES (?, ?, ?, ?)",
                (key, seq, time.time(), buffer.getvalue()),
            )

    def set_answer(self, key: str, answer: str) -> None:
        """Record the answer (``left``, ``right``, ``equal``, ``skip``) to a pair, committed at once."""
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}; valid: {list(ANSWERS)}")
        with self._db:
            cur = self._db.execute(
                "UPDATE pairs SET answer = ?, answered_at = ? WHERE key = ?", (answer, time.time(), key)
            )
        if cur.rowcount == 0:
            raise KeyError(f"pair {key[:12]} was never asked (add_pair first)")

    def answer(self, key: str) -> str | None:
        """The answer given to a pair, or ``None`` (not asked, or asked but unanswered)."""
        row = self._db.execute("SELECT answer FROM pairs WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def counts(self) -> dict[str, int]:
        """How many pairs were asked, answered, and given each answer."""
        rows = self._db.execute("SELECT answer, COUNT(*) FROM pairs GROUP BY answer").fetchall()
        out = {name: 0 for name in ANSWERS}
        asked = 0
        for answer, count in rows:
            asked += count
            if answer is not None:
                out[answer] = count
        return {"asked": asked, "answered": sum(out.values()), **out}

    def answers(self) -> list[tuple[str, str | None]]:
        """``(key, answer)`` of every pair, in the order they were asked."""
        return [tuple(r) for r in self._db.execute("SELECT key, answer FROM pairs ORDER BY seq")]  # type: ignore[misc]

    def dataset(self) -> dict[str, np.ndarray]:
        """Every answered pair that is not a skip, as training arrays (``inputs_1``, ``mask_1``, ..., ``labels``)."""
        return self.labelled(exclude=())[1]

    def labelled(self, *, exclude: Collection[str]) -> tuple[list[str], dict[str, np.ndarray]]:
        """``(keys, training arrays)`` of the answered pairs that are not skips and not in ``exclude``, as asked."""
        rows = self._db.execute(
            "SELECT key, answer, data FROM pairs WHERE answer IS NOT NULL AND answer != 'skip' ORDER BY seq"
        ).fetchall()
        rows = [row for row in rows if row[0] not in exclude]
        if not rows:
            return [], {}
        loaded = [dict(np.load(io.BytesIO(data))) for _, _, data in rows]
        out: dict[str, Any] = {k: np.stack([d[k] for d in loaded]) for k in loaded[0]}
        out["labels"] = np.array([ANSWERS[a] for _, a, _ in rows])
        return [key for key, _, _ in rows], out
