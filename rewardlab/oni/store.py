"""The ONI label store: SQLite, keyed by (query key, prompt version, model, goal).

Two tables:

* ``labels`` -- every answered query (a message to classify or a pair of
  messages to rank), its value in [0, 1] and whether the answer was parsed;
* ``pending`` -- queries seen but not answered yet, so that a restarted run
  asks for them again instead of losing them.

The database runs in WAL mode and every batch is one transaction: a crash loses
nothing already answered. A second run on the same file (same prompt version,
model and goal) reuses every label and never asks again. One connection is
shared by the threads of a process behind a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    key TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL, goal TEXT NOT NULL,
    kind TEXT NOT NULL, query TEXT NOT NULL, value REAL NOT NULL, parsed INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (key, prompt_version, model, goal)
);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL, goal TEXT NOT NULL,
    kind TEXT NOT NULL, query TEXT NOT NULL, added REAL NOT NULL,
    PRIMARY KEY (key, prompt_version, model, goal)
);
"""


@dataclass(frozen=True)
class Query:
    """What to ask: ``kind`` ``classify`` (one message) or ``rank`` (two), and its store ``key``.

    Examples:
        >>> from rewardlab.oni import Query, message_hash
        >>> text = "You see here a key."
        >>> Query("classify", message_hash(text), (text,)).kind
        'classify'
    """

    kind: str
    key: str
    messages: tuple[str, ...]


@dataclass(frozen=True)
class Label:
    """An answered query.

    Examples:
        >>> from rewardlab.oni import Label, Query
        >>> Label(Query("classify", "k1", ("You kill the newt!",)), value=1.0).value
        1.0
    """

    query: Query
    value: float
    parsed: bool = True


class LabelStore:
    """Labels of one (prompt version, model, goal) scope in a SQLite file (``":memory:"``: in memory only).

    Examples:
        >>> from rewardlab.oni import Label, LabelStore, Query
        >>> store = LabelStore(":memory:", prompt_version="rules-v1", model="rules", goal="gold")
        >>> store.put([Label(Query("classify", "k1", ("You see here 3 gold pieces.",)), 1.0)])
        >>> [label.value for label in store.labels()]
        [1.0]
        >>> store.close()
    """

    def __init__(self, path: str | Path, *, prompt_version: str, model: str, goal: str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.scope = (prompt_version, model, goal)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.commit()

    def labels(self) -> list[Label]:
        """Every label of this scope, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, key, query, value, parsed FROM labels WHERE prompt_version=? AND model=? AND goal=? "
                "ORDER BY created, rowid",
                self.scope,
            ).fetchall()
        return [Label(Query(k, key, tuple(json.loads(q))), float(v), bool(p)) for k, key, q, v, p in rows]

    def pending(self) -> list[Query]:
        """Queries seen but not answered, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, key, query FROM pending WHERE prompt_version=? AND model=? AND goal=? "
                "ORDER BY added, rowid",
                self.scope,
            ).fetchall()
        return [Query(k, key, tuple(json.loads(q))) for k, key, q in rows]

    def add_pending(self, queries: Iterable[Query]) -> None:
        """Remember queries to ask (one transaction; already pending ones are kept as they are)."""
        now = time.time()
        rows = [(q.key, *self.scope, q.kind, json.dumps(list(q.messages)), now) for q in queries]
        if not rows:
            return
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO pending VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def put(self, labels: Iterable[Label]) -> None:
        """Store answers and drop them from ``pending``, in one transaction."""
        now = time.time()
        rows = [
            (lab.query.key, *self.scope, lab.query.kind, json.dumps(list(lab.query.messages)), float(lab.value),
             int(lab.parsed), now)
            for lab in labels
        ]
        if not rows:
            return
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "DELETE FROM pending WHERE key=? AND prompt_version=? AND model=? AND goal=?",
                [r[:4] for r in rows],
            )

    def counts(self) -> dict[str, int]:
        """``{"labels": ..., "pending": ...}`` in this scope."""
        with self._lock:
            n_labels = self._db.execute(
                "SELECT COUNT(*) FROM labels WHERE prompt_version=? AND model=? AND goal=?", self.scope
            ).fetchone()[0]
            n_pending = self._db.execute(
                "SELECT COUNT(*) FROM pending WHERE prompt_version=? AND model=? AND goal=?", self.scope
            ).fetchone()[0]
        return {"labels": int(n_labels), "pending": int(n_pending)}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"LabelStore({self.path!r}, prompt_version={self.scope[0]!r}, model={self.scope[1]!r})"
