"""The asynchronous annotation service: the env loop queues messages, a worker thread labels them.

``submit(queries)`` never waits: a query whose key was never seen (deduplicated
against answered and pending ones) is noted in memory. The worker thread, every
``poll`` seconds whether requests are in flight or not, writes the new queries
to the store's ``pending`` table (one transaction) and only then puts them on a
newest-first stack, so **a query is durable before its request is sent**. It
keeps up to ``max_in_flight`` requests in flight (the annotator's
``concurrency``), each taking the newest ``batch_size`` queries when the
annotator sends a list of prompts in one request (``takes_lists``), else one
query. While a request is in flight, a list shorter than ``batch_size`` waits
for more queries, until a request comes back or for at most ``linger``
seconds (as Nagle's algorithm holds back small packets while one is
unacknowledged): a trickle of new messages then costs about one request per
server round trip instead of one per poll, and every request costs the
training process interpreter time (building it, parsing its answer). With
nothing in flight a short list goes at once, and a full one always does.
Each request stores its answers (and drops them from ``pending``) in
its own transaction as soon as they are parsed, so **an answer is durable as
soon as it arrives**: a SIGKILL loses at most the answers of requests still in
flight, whose queries stay pending and are asked by the next run. ``flush()``
writes what was submitted to ``pending`` at once (checkpoints call it).

Failed queries (server down, HTTP 429/5xx after the client's retries, which
honour ``Retry-After``, timeouts) go back on the stack and dispatch pauses with
exponential back-off; an unreadable answer is asked again, at most
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
        batch_size: queries per request when the annotator takes prompt lists.
        background: label in a worker thread (``False``: inside :meth:`submit`).
        max_in_flight: requests in flight at once (default: the annotator's ``concurrency``, else 1).
        max_attempts: unreadable answers tolerated per query before it is stored as 0.
        retry_delay, max_retry_delay: pause of dispatch after a failed request (doubles up to the maximum).
        poll: seconds between the worker's looks at the queue (``submit`` does not wake it, so the env loop
            pays no thread switch per new message); a finished request wakes it at once.
        linger: at most how long a prompt list shorter than ``batch_size`` waits for more queries while a request
            is in flight (default: the annotator's ``linger``, 0.5 s for an LLM, 0 for rules; never while
            :meth:`wait` waits, nor when labelling synchronously).
        failure_note: what the one warning on the first failed request adds (what the caller goes on doing).

    Examples:
        >>> from rewardlab.oni import AnnotationService, LabelStore, Query, RuleAnnotator
        >>> rules = RuleAnnotator(goal="gold")
        >>> store = LabelStore(":memory:", prompt_version=rules.prompt_version, model=rules.model, goal=rules.goal)
        >>> service = AnnotationService(rules, store, background=False).start()
        >>> service.submit([Query("classify", "k1", ("You see here 2 gold pieces.",))])
        1
        >>> service.flush()
        >>> [label.value for label in store.labels()]
        [1.0]
        >>> service.close()
    """

    def __init__(
        self,
        annotator: Annotator,
        store: LabelStore,
        *,
        batch_size: int = 16,
        background: bool = True,
        max_in_flight: int | None = None,
        max_attempts: int = 3,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
        poll: float = 0.1,
        linger: float | None = None,
        failure_note: str = "training continues with the labels it has",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        in_flight = int(max_in_flight if max_in_flight is not None else getattr(annotator, "concurrency", 1))
        if in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        linger = float(getattr(annotator, "linger", 0.0) if linger is None else linger)
        if linger < 0:
            raise ValueError(f"linger must be >= 0 seconds, got {linger}")
        self.annotator = annotator
        self.store = store
        self.batch_size = int(batch_size)
        self.background = background
        self.max_in_flight = in_flight
        self.max_attempts = int(max_attempts)
        self.retry_delay = float(retry_delay)
        self.max_retry_delay = float(max_retry_delay)
        self.poll = float(poll)
        self.linger = linger
        self.failure_note = failure_note
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.values: dict[str, float] = {}  # key -> answer (read by the reward models)
        self._answered: list[Label] = []  # every answer, in arrival order (models read the tail)
        self._stack: list[Query] = []  # pending in the store, not in flight; newest last
        self._since = 0.0  # when the stack last went from empty to holding queries (a short list's wait)
        self._hurry = 0  # callers of wait(): short lists go at once
        self._last_error: str | None = None  # the latest failed request, said once when the worker stops
        self._unsaved: list[Query] = []  # submitted, not yet in the store's pending table
        self._saving = 0  # queries being written to the pending table (neither unsaved nor on the stack)
        self._known: set[str] = set()
        self._attempts: dict[str, int] = {}
        self._in_flight = 0  # requests
        self._busy = 0  # queries in those requests
        self._paused_until = 0.0
        self._delay = self.retry_delay
        self._round_failed = False
        self._closed = False
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
                self._unsaved.extend(new)
                self.stats["submitted"] += len(new)  # the worker polls every `poll` s: fewer, bigger batches
        if new and not self.background:
            self._drain()
        return len(new)

    def flush(self) -> None:
        """Write every submitted query to the store's ``pending`` table now (a checkpoint calls this)."""
        self._save_unsaved()

    def answered_since(self, start: int) -> tuple[list[Label], int]:
        """Answers that arrived after the first ``start`` ones, and the new count (for incremental readers)."""
        with self._lock:
            return self._answered[start:], len(self._answered)

    @property
    def answered(self) -> int:
        """How many answers arrived so far (a read without the lock, for a reader's per-step check)."""
        return len(self._answered)

    def snapshot(self) -> dict[str, float]:
        """A copy of the label table (key → value), taken under the lock."""
        with self._lock:
            return dict(self.values)

    def _left(self) -> int:
        return len(self._stack) + len(self._unsaved) + self._saving + self._busy

    def metrics(self) -> dict[str, float]:
        """Queue length, answers, answers per second since start, errors, malformed answers."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            return {
                "queue": float(self._left()),
                "labels": float(len(self.values)),
                "labels_per_s": self.stats["answered"] / elapsed,
                "errors": float(self.stats["errors"]),
                "malformed": float(self.stats["malformed"]),
            }

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (tests, the ``annotate`` command); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._hurry += 1
        try:
            while time.monotonic() < deadline:
                with self._lock:
                    if not self._left():
                        return True
                if not self.background:
                    self._drain()
                time.sleep(0.01)
            return False
        finally:
            with self._lock:
                self._hurry -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker; wait for requests in flight (their answers are stored); the rest stays pending."""
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        close = getattr(self.annotator, "close", None)
        if not self._idle(timeout) and close is not None:  # abort the client's back-off, then wait once more
            close()
            self._idle(timeout)
        self._save_unsaved()
        if close is not None:
            close()
        with self._lock:
            self._closed = True  # a request still hanging when its answer comes is not stored: it stays pending
            left = self._left()
        if left:
            said = f"; last error: {self._last_error}" if self._last_error else ""
            log.warning(
                "ONI: %d messages not labelled yet, kept pending in %s for the next run%s", left, self.store.path, said
            )

    # -- the worker side -----------------------------------------------------------------------------

    def _idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(timeout=left)
        return True

    def _record(self, label: Label) -> None:
        self.values[label.query.key] = label.value
        self._answered.append(label)
        self._known.add(label.query.key)

    def _save_unsaved(self) -> None:
        """Pending in the store first, then on the stack: nothing is sent that a SIGKILL would lose."""
        with self._lock:
            unsaved, self._unsaved = self._unsaved, []
            self._saving += len(unsaved)
        if not unsaved:
            return
        try:
            self.store.add_pending(unsaved)
        except Exception:  # put them back: the next round tries again
            with self._lock:
                self._unsaved[:0] = unsaved
                self._saving -= len(unsaved)
            raise
        with self._lock:
            if not self._stack:
                self._since = time.monotonic()
            self._stack.extend(unsaved)
            self._saving -= len(unsaved)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._save_unsaved()
                self._dispatch()
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything (a locked store, a bug)
                log.warning("ONI annotation worker: %s: %s", type(exc).__name__, exc)
                self.stats["errors"] += 1
                self._stop.wait(self._delay)
                continue
            with self._lock:
                if not self._stop.is_set():
                    self._wake.wait(timeout=self.poll)

    def _dispatch(self) -> int:
        """Send requests while fewer than ``max_in_flight`` are in flight; how many were sent."""
        chunks = []
        with self._lock:
            now = time.monotonic()
            if now < self._paused_until:
                return 0
            size = self.batch_size if getattr(self.annotator, "takes_lists", True) else 1
            if (len(self._stack) < size and self._in_flight and now - self._since < self.linger and self.background
                    and not self._hurry):  # fmt: skip
                return 0  # a short list while a request is out: wait for more queries, or for it (see linger)
            while self._stack and self._in_flight < self.max_in_flight and not self._stop.is_set():
                chunk = self._stack[-size:][::-1]  # newest first
                del self._stack[-len(chunk) :]
                self._in_flight += 1
                self._busy += len(chunk)
                chunks.append(chunk)
        for chunk in chunks:
            if len(chunks) == 1 and self.max_in_flight == 1 and not self.background:
                self._request(chunk)
            else:
                threading.Thread(target=self._request, args=(chunk,), name="oni-request", daemon=True).start()
        return len(chunks)

    def _drain(self) -> None:
        """Synchronous labelling: send and wait until the stack is empty or a round had failures."""
        self._save_unsaved()
        with self._lock:
            self._round_failed = False
        while True:
            if not self._dispatch():  # (paused after a failure: the next submit or wait() tries again)
                return
            self._idle(timeout=3600.0)
            with self._lock:
                if self._round_failed or not self._stack:
                    return

    def _request(self, chunk: list[Query]) -> None:
        """One request: ask, then store its answers at once (one transaction), retry what failed."""
        error = "no answer"
        try:
            answers = self._ask(chunk)
        except Exception as exc:  # noqa: BLE001 - an annotator that raises fails the request, not the run
            answers = None
            error = f"{type(exc).__name__}: {exc}"
        done: list[Label] = []
        retry: list[Query] = []
        failures = malformed = unparsed = 0
        for i, query in enumerate(chunk):
            answer = answers[i] if answers is not None and i < len(answers) else None
            if answer is not None and answer.value is not None:
                done.append(Label(query, float(answer.value)))
            elif answer is not None and not getattr(answer, "asked", True):
                retry.append(query)  # never reached a model (a refused prompt list): ask again, not a failure
            elif answer is not None and answer.malformed:
                malformed += 1
                with self._lock:
                    attempts = self._attempts[query.key] = self._attempts.get(query.key, 0) + 1
                if attempts >= self.max_attempts:
                    unparsed += 1
                    done.append(Label(query, 0.0, parsed=False))
                else:
                    retry.append(query)
            else:
                failures += 1
                message = error if answers is None else (answer.error if answer is not None else None) or "no answer"
                if not self._stop.is_set():  # (a run that is closing aborts its own requests: not a failure)
                    with self._lock:
                        first, self._last_error = self._last_error is None, message
                    if first:  # said once, at once
                        log.warning("ONI: labelling failed (%s); %s", message, self.failure_note)
                retry.append(query)
        stored = True
        with self._lock:
            closed = self._closed
        if done and not closed:
            try:
                self.store.put(done)  # this request's answers, in one transaction, as soon as they are parsed
            except Exception as exc:  # noqa: BLE001 - a locked or broken store: keep the queries, ask again
                log.warning("ONI: could not store %d answers (%s: %s); asked again", len(done), type(exc).__name__,
                            exc)  # fmt: skip
                stored = False
        with self._lock:
            if stored and not closed:
                for label in done:
                    self._record(label)
                    self._attempts.pop(label.query.key, None)
                self.stats["answered"] += len(done)
                self.stats["unparsed"] += unparsed
            else:
                retry.extend(label.query for label in done)
                failures += int(bool(done))
            if retry and not self._stack:
                self._since = 0.0  # queries asked before: no lingering
            self._stack.extend(reversed(retry))  # back on top, newest last
            self._in_flight -= 1
            self._busy -= len(chunk)
            self.stats["errors"] += failures
            self.stats["malformed"] += malformed
            self.stats["batches"] += 1
            if failures:
                self._round_failed = True
                self._paused_until = time.monotonic() + self._delay
                self._delay = min(self.max_retry_delay, self._delay * 2)
            elif done:
                self._delay = self.retry_delay
            self._wake.notify_all()

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
        with self._lock:
            self.stats["annotate_seconds"] += time.monotonic() - start
        return out

    def __repr__(self) -> str:
        return (f"AnnotationService({self.annotator!r}, {self.store!r}, batch_size={self.batch_size}, "
                f"max_in_flight={self.max_in_flight})")
