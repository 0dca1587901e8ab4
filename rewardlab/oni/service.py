"""The asynchronous annotation service: the env loop queues messages, a worker thread labels them.

``submit(queries)`` never waits: a query whose key was never seen (deduplicated
against answered and pending ones) goes on a newest-first stack. A background
thread saves new queries to the store's ``pending`` table, pops up to
``batch_size`` of the newest, asks the annotator for the whole batch at once
and writes the answers (and removes them from ``pending``) in one
transaction. Failed queries (server down, HTTP 429/5xx after the client's
retries, timeouts) go back on the stack and the worker waits with
exponential back-off; nothing queued is lost, and pending queries come back
on the next start. An unreadable answer is asked again, at most
``max_attempts`` times, then stored as 0 with ``parsed = False``.

``background=False`` labels inside ``submit`` instead: the synchronous
annotator the throughput benchmark sets against the asynchronous one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from rewardlab.oni.annotators import Annotator
from rewardlab.oni.store import Label, LabelStore, Query

log = logging.getLogger(__name__)


class AnnotationService:
    """Label queries in the background into a :class:`LabelStore`; read answers without waiting.

    Args:
        annotator: who answers (:class:`~rewardlab.oni.annotators.LLMAnnotator` or ``RuleAnnotator``).
        store: where labels and pending queries live.
        batch_size: queries per annotator call.
        background: label in a worker thread (``False``: inside :meth:`submit`).
        max_attempts: unreadable answers tolerated per query before it is stored as 0.
        retry_delay, max_retry_delay: back-off after a batch with failures (doubles up to the maximum).
        poll: seconds the idle worker sleeps between looks at the queue (``submit`` does not wake it, so
            the env loop pays no thread switch per new message).
    """

    def __init__(
        self,
        annotator: Annotator,
        store: LabelStore,
        *,
        batch_size: int = 16,
        background: bool = True,
        max_attempts: int = 3,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
        poll: float = 0.1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.annotator = annotator
        self.store = store
        self.batch_size = int(batch_size)
        self.background = background
        self.max_attempts = int(max_attempts)
        self.retry_delay = float(retry_delay)
        self.max_retry_delay = float(max_retry_delay)
        self.poll = float(poll)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.values: dict[str, float] = {}  # key -> answer (read by the reward models)
        self._answered: list[Label] = []  # every answer, in arrival order (models read the tail)
        self._stack: list[Query] = []  # newest last
        self._last_error: str | None = None  # the latest failed request, said once when the worker stops
        self._unsaved: list[Query] = []  # submitted, not yet in the store's pending table
        self._known: set[str] = set()
        self._attempts: dict[str, int] = {}
        self._busy = 0
        self.stats = {"submitted": 0, "answered": 0, "reused": 0, "errors": 0, "malformed": 0, "unparsed": 0,
                      "batches": 0, "annotate_seconds": 0.0}
        self._started = time.monotonic()
        for label in store.labels():
            self._record(label)
            self.stats["reused"] += 1
        for query in store.pending():
            if query.key not in self._known:
                self._known.add(query.key)
                self._stack.append(query)

    # -- the env side ------------------------------------------------------------------------------

    def start(self) -> AnnotationService:
        """Start the worker thread (idempotent; nothing to start when ``background=False``)."""
        if self.background and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="oni-annotator", daemon=True)
            self._thread.start()
        return self

    def submit(self, queries: Iterable[Query]) -> int:
        """Queue the queries never seen before; return how many were new. Never waits (unless synchronous)."""
        new = []
        with self._lock:
            for q in queries:
                if q.key not in self._known:
                    self._known.add(q.key)
                    new.append(q)
            if new:
                self._stack.extend(new)
                self._unsaved.extend(new)
                self.stats["submitted"] += len(new)  # the worker polls every `poll` s: fewer, bigger batches
        if new and not self.background:
            while self._step() is True:
                pass
        return len(new)

    def answered_since(self, start: int) -> tuple[list[Label], int]:
        """Answers that arrived after the first ``start`` ones, and the new count (for incremental readers)."""
        with self._lock:
            return self._answered[start:], len(self._answered)

    def snapshot(self) -> dict[str, float]:
        """A copy of the label table (key → value), taken under the lock."""
        with self._lock:
            return dict(self.values)

    def metrics(self) -> dict[str, float]:
        """Queue length, answers, answers per second since start, errors, malformed answers."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            return {
                "queue": float(len(self._stack) + self._busy),
                "labels": float(len(self.values)),
                "labels_per_s": self.stats["answered"] / elapsed,
                "errors": float(self.stats["errors"]),
                "malformed": float(self.stats["malformed"]),
            }

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (tests, the ``annotate`` command); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._stack and not self._busy:
                    return True
            if not self.background:
                self._step()
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker; queries not answered stay pending in the store for the next run."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        close = getattr(self.annotator, "close", None)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive() and close is not None:  # abort the client's back-off, then wait once more
                close()
                self._thread.join(timeout=timeout)
            self._thread = None
        self._save_unsaved()
        if close is not None:
            close()
        with self._lock:
            left = len(self._stack) + self._busy
        if left:
            said = f"; last error: {self._last_error}" if self._last_error else ""
            log.warning(
                "ONI: %d messages not labelled yet, kept pending in %s for the next run%s", left, self.store.path, said
            )

    # -- the worker side -----------------------------------------------------------------------------

    def _record(self, label: Label) -> None:
        self.values[label.query.key] = label.value
        self._answered.append(label)
        self._known.add(label.query.key)

    def _save_unsaved(self) -> None:
        with self._lock:
            unsaved, self._unsaved = self._unsaved, []
        try:
            self.store.add_pending(unsaved)
        except Exception:  # put them back: the next round tries again
            with self._lock:
                self._unsaved[:0] = unsaved
            raise

    def _run(self) -> None:
        delay = self.retry_delay
        while not self._stop.is_set():
            with self._lock:
                if not self._stack and not self._unsaved:
                    self._wake.wait(timeout=self.poll)
                    continue
            try:
                failed = self._step()
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything (a locked store, a bug)
                log.warning("ONI annotation worker: %s: %s", type(exc).__name__, exc)
                self.stats["errors"] += 1
                failed = True
            if failed == "failed":
                self._stop.wait(delay)
                delay = min(self.max_retry_delay, delay * 2)
            else:
                delay = self.retry_delay

    def _step(self) -> bool | str:
        """Label one batch: ``False`` when there was nothing to do, ``"failed"`` when some queries failed."""
        self._save_unsaved()
        with self._lock:
            if not self._stack:
                return False
            batch = self._stack[-self.batch_size :][::-1]  # newest first
            del self._stack[-len(batch) :]
            self._busy = len(batch)
        try:
            answers = self._ask(batch)
        except Exception as exc:  # noqa: BLE001 - an annotator that raises fails the batch, not the run
            answers = None
            error = f"{type(exc).__name__}: {exc}"
        done: list[Label] = []
        retry: list[Query] = []
        failures = 0
        for i, query in enumerate(batch):
            answer = answers[i] if answers is not None and i < len(answers) else None
            if answer is not None and answer.value is not None:
                done.append(Label(query, float(answer.value)))
            elif answer is not None and answer.malformed:
                self.stats["malformed"] += 1
                attempts = self._attempts[query.key] = self._attempts.get(query.key, 0) + 1
                if attempts >= self.max_attempts:
                    self.stats["unparsed"] += 1
                    done.append(Label(query, 0.0, parsed=False))
                else:
                    retry.append(query)
            else:
                failures += 1
                detail = answer.error if answer is not None else None
                message = error if answers is None else detail or "no answer"
                if not self._stop.is_set():  # (a run that is closing aborts its own requests: not a failure)
                    if self._last_error is None:  # said once, at once; training goes on
                        log.warning("ONI: labelling failed (%s); training continues with the labels it has", message)
                    self._last_error = message
                retry.append(query)
        self.store.put(done)  # one transaction: answered and no longer pending
        with self._lock:
            for label in done:
                self._record(label)
                self._attempts.pop(label.query.key, None)
            self._stack.extend(reversed(retry))  # back on top, newest last
            self._busy = 0
            self.stats["answered"] += len(done)
            self.stats["errors"] += failures
            self.stats["batches"] += 1
        return "failed" if failures else True

    def _ask(self, batch: list[Query]) -> list[Any]:
        start = time.monotonic()
        out: list[Any] = [None] * len(batch)
        singles = [i for i, q in enumerate(batch) if q.kind == "classify"]
        pairs = [i for i, q in enumerate(batch) if q.kind == "rank"]
        if singles:
            for i, a in zip(singles, self.annotator.classify([batch[i].messages[0] for i in singles])):
                out[i] = a
        if pairs:
            for i, a in zip(pairs, self.annotator.compare([batch[i].messages[:2] for i in pairs])):
                out[i] = a
        self.stats["annotate_seconds"] += time.monotonic() - start
        return out

    def __repr__(self) -> str:
        return f"AnnotationService({self.annotator!r}, {self.store!r}, batch_size={self.batch_size})"
