"""The asynchronous ONI annotation service against the scripted server: faults, restarts, no stalls."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import pytest
from fake_llm import FakeLLMServer, Reply, user_text
from oni_helpers import MESSAGES, MessageEnv
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.llm import LLMClient, LLMConfig
from rewardlab.oni.annotators import LLMAnnotator, RuleAnnotator
from rewardlab.oni.messages import message_hash
from rewardlab.oni.service import AnnotationService
from rewardlab.oni.store import LabelStore, Query

pytest.importorskip("openai")


def judge(request: dict) -> str:
    """The scripted LLM: gold and kills are progress."""
    text = user_text(request)
    message = text.split('"')[1] if '"' in text else ""
    good = "gold" in message or "kill" in message
    return f'Thinking about it.\n{{"progress": {"true" if good else "false"}}}'


def annotator_for(server: FakeLLMServer, *, batching: str = "auto", **overrides) -> LLMAnnotator:
    settings = {"base_url": server.url, "model": server.model, "retry_base_delay": 0.01, "retry_max_delay": 0.05,
                "timeout": 2.0, "max_retries": 1, "concurrency": 4, **overrides}  # fmt: skip
    return LLMAnnotator(LLMClient(LLMConfig(**settings)), batching=batching)


def queries(texts):
    return [Query("classify", message_hash(t), (t,)) for t in texts]


def asked(server: FakeLLMServer) -> collections.Counter:
    """How often the server sent an answer about each message."""
    return collections.Counter(text.split('"')[1] for text in server.answered)


def n_requests(server: FakeLLMServer) -> int:
    return len(server.chat_requests) + len(server.completion_requests)


BATCHING = ["prompt_list", "concurrent"]


TEXTS = [f"You see here {i} gold pieces." if i % 2 else f"You hear noise number {i}." for i in range(24)]


def store_at(path, annotator):
    return LabelStore(path, prompt_version=annotator.prompt_version, model=annotator.model, goal=annotator.goal)


@pytest.mark.parametrize("batching", BATCHING)
def test_faults_lose_no_label_and_every_answer_is_right(tmp_path, batching):
    with FakeLLMServer(judge) as server:
        annotator = annotator_for(server, batching=batching)
        server.inject(Reply.error(429), times=2)
        server.inject(Reply.error(500), times=2)
        server.inject(Reply.malformed_json(), times=2)
        server.inject(Reply.dropped(), times=2)
        server.inject(Reply.slow("Let me think.", 0.3))  # slow, and no verdict: asked again
        server.inject(Reply("I would rather not say."), times=2)  # readable JSON, unreadable verdict
        service = AnnotationService(annotator, store_at(tmp_path / "s.sqlite", annotator), batch_size=5,
                                    retry_delay=0.01, max_attempts=5).start()  # fmt: skip
        assert service.submit(queries(TEXTS)) == len(TEXTS)
        assert service.submit(queries(TEXTS[:5])) == 0  # deduplicated by hash
        assert service.wait(timeout=20)
        metrics = service.metrics()
        service.close()
    assert metrics["labels"] == len(TEXTS) and metrics["queue"] == 0
    assert metrics["errors"] > 0 and metrics["malformed"] >= 1
    values = {k: v for k, v in service.values.items()}
    for text in TEXTS:
        assert values[message_hash(text)] == float("gold" in text), text
    store = store_at(tmp_path / "s.sqlite", annotator)
    assert store.counts() == {"labels": len(TEXTS), "pending": 0}


@pytest.mark.parametrize("batching", BATCHING)
def test_unreadable_answers_are_asked_again_then_stored_as_unparsed(tmp_path, batching):
    with FakeLLMServer("I cannot tell.") as server:
        annotator = annotator_for(server, batching=batching)
        service = AnnotationService(annotator, store_at(":memory:", annotator), max_attempts=2).start()
        service.submit(queries(["It's a wall."]))
        assert service.wait(timeout=10)
        service.close()
    assert n_requests(server) == 2
    (label,) = service.answered_since(0)[0]
    assert label.value == 0.0 and not label.parsed
    assert service.stats["unparsed"] == 1 and annotator.malformed == 2


@pytest.mark.parametrize("batching", BATCHING)
def test_server_down_then_restart_asks_pending_once_and_never_again(tmp_path, caplog, batching):
    path = tmp_path / "labels.sqlite"
    with FakeLLMServer(judge) as server:
        first_half, second_half = TEXTS[:12], TEXTS[12:]
        annotator = annotator_for(server, batching=batching)
        service = AnnotationService(annotator, store_at(path, annotator), batch_size=4, retry_delay=0.01).start()
        service.submit(queries(first_half))
        assert service.wait(timeout=10)
        assert not caplog.records
        server.stop()  # the server goes away mid-run
        service.submit(queries(second_half))
        time.sleep(0.3)
        assert service.metrics()["errors"] > 0 and service.metrics()["queue"] == len(second_half)
        # said once, with what was tried, and that training goes on
        (failed,) = [r.getMessage() for r in caplog.records if "labelling failed" in r.getMessage()]
        assert "unreachable" in failed and server.url in failed and "training continues" in failed
        service.close()  # the run stops; the unanswered messages stay pending in the store
        assert store_at(path, annotator).counts() == {"labels": len(first_half), "pending": len(second_half)}
        assert f"{len(second_half)} messages not labelled yet, kept pending in {path}" in caplog.text

        server.start()  # a new run on the same store, with the server back
        annotator = annotator_for(server, batching=batching)
        resumed = AnnotationService(annotator, store_at(path, annotator), batch_size=4, retry_delay=0.01).start()
        assert resumed.stats["reused"] == len(first_half)
        assert resumed.submit(queries(TEXTS)) == 0  # all known: answered or pending
        assert resumed.wait(timeout=10)
        resumed.close()
    counts = asked(server)
    assert set(counts) == set(TEXTS) and max(counts.values()) == 1  # each message answered once, none twice
    assert store_at(path, annotator).counts() == {"labels": len(TEXTS), "pending": 0}


def test_restart_in_the_middle_of_a_batch_loses_nothing(tmp_path):
    path = tmp_path / "labels.sqlite"
    with FakeLLMServer(judge, delay=0.2) as server:
        annotator = annotator_for(server, max_retries=3)
        service = AnnotationService(annotator, store_at(path, annotator), batch_size=4, retry_delay=0.01).start()
        service.submit(queries(TEXTS))
        time.sleep(0.3)
        server.restart(down_for=0.3)  # in-flight answers are dropped; the client retries
        assert service.wait(timeout=20)
        service.close()
    assert set(service.values) == {message_hash(t) for t in TEXTS}
    assert store_at(path, annotator).counts()["pending"] == 0


def test_the_env_loop_never_waits_for_a_slow_server(tmp_path):
    messages = [f"message {i}" for i in range(200)]
    with FakeLLMServer(judge, delay=1.0) as server:
        term = rl.oni.oni(model="retrieval", annotator=annotator_for(server), beta=0.0, batch_size=4)
        venv = rl.RewardVecWrapper(
            DummyVecEnv([lambda i=i: MessageEnv(messages, length=50, offset=i * 50) for i in range(4)]), term,
            update_every=8,
        )
        venv.reset()
        venv.step(np.zeros(4, dtype=np.int64))  # the first step loads the compiled episodic-count kernels
        times = []
        for _ in range(40):
            start = time.perf_counter()
            venv.step(np.zeros(4, dtype=np.int64))
            times.append(time.perf_counter() - start)
        metrics = venv.engine.last_update_metrics
        start = time.perf_counter()
        venv.close()
        close_seconds = time.perf_counter() - start
    assert max(times) < 0.5, max(times)  # one answer takes 1 s: a waiting loop would take >= 1 s per step
    assert metrics["queue"] > 0 and metrics["labelled_share"] < 1.0
    assert close_seconds < 8 and term.service is None


def test_synchronous_service_labels_inside_submit():
    rules = RuleAnnotator()
    service = AnnotationService(rules, LabelStore(":memory:", prompt_version="v", model="rules", goal="default"),
                                background=False)  # fmt: skip
    service.submit(queries(MESSAGES[1:]))
    assert service.metrics()["queue"] == 0 and len(service.values) == len(MESSAGES) - 1
    service.close()


def test_pairs_go_through_the_ranking_prompt(tmp_path):
    def prefer_gold(request):
        text = user_text(request)
        first = text.split('Message 1: "')[1].split('"')[0]
        return f'{{"preferred": {1 if "gold" in first else 2}}}'

    with FakeLLMServer(prefer_gold) as server:
        annotator = annotator_for(server)
        service = AnnotationService(annotator, store_at(":memory:", annotator), batch_size=3).start()
        pairs = [("You see here 3 gold pieces.", "It's a wall."), ("It's a wall.", "You see 9 gold pieces.")]
        service.submit([Query("rank", f"{message_hash(a)}|{message_hash(b)}", (a, b)) for a, b in pairs])
        assert service.wait(timeout=10)
        service.close()
    assert sorted(service.values.values()) == [0.0, 1.0]
    assert all("Message 1" in user_text(r) for r in server.chat_requests)


def test_prompt_lists_fill_the_server_and_honour_retry_after(tmp_path):
    texts = [f"You see here {i} gold pieces." for i in range(64)]
    with FakeLLMServer(judge, delay=0.2) as server:
        server.inject(Reply.error(429, retry_after=0.4))  # the first request is rate limited
        annotator = annotator_for(server, batching="prompt_list", concurrency=8, retry_max_delay=5.0)
        service = AnnotationService(annotator, store_at(tmp_path / "s.sqlite", annotator), batch_size=8)
        assert service.max_in_flight == 8
        service.start().submit(queries(texts))
        assert service.wait(timeout=20)
        service.close()
    lists = [r for r in server.requests if r.path.endswith("/completions") and "chat" not in r.path]
    assert len(lists) == 8 + 1 and all(len(r.body["prompt"]) == 8 for r in lists)  # 8 lists of 8, one asked twice
    first, *rest = sorted(lists, key=lambda r: r.time)
    again = [r for r in rest if r.body["prompt"] == first.body["prompt"]]
    assert len(again) == 1 and again[0].time - first.time >= 0.4  # Retry-After honoured
    assert server.max_active >= 4  # requests in flight together, not one after another
    counts = asked(server)
    assert set(counts) == set(texts) and max(counts.values()) == 1  # none lost, none asked twice
    assert store_at(tmp_path / "s.sqlite", annotator).counts() == {"labels": 64, "pending": 0}


def test_messages_met_while_requests_are_in_flight_are_pending_at_once(tmp_path):
    path = tmp_path / "s.sqlite"
    with FakeLLMServer(judge, delay=1.5) as server:
        annotator = annotator_for(server, batching="prompt_list", concurrency=1, timeout=5.0)
        service = AnnotationService(annotator, store_at(path, annotator), batch_size=4, poll=0.05).start()
        service.submit(queries(TEXTS[:4]))
        while not server.requests:  # the first request is in flight for 1.5 s
            time.sleep(0.01)
        service.submit(queries(TEXTS[4:12]))
        time.sleep(0.3)
        assert store_at(path, annotator).counts() == {"labels": 0, "pending": 12}  # written while it waits
        service.submit(queries(TEXTS[12:14]))
        service.flush()  # a checkpoint: pending now, not at the next look
        assert store_at(path, annotator).counts() == {"labels": 0, "pending": 14}
        service.close(timeout=5.0)  # waits for the request in flight: its answers are stored, not bought twice
    assert store_at(path, annotator).counts() == {"labels": 4, "pending": 10}


class SlowPendingStore(LabelStore):
    """A store whose pending writes take a while (a busy disk)."""

    def add_pending(self, queries) -> None:
        time.sleep(0.3)
        super().add_pending(queries)


def test_wait_counts_queries_being_written_to_pending():
    rules = RuleAnnotator()
    store = SlowPendingStore(":memory:", prompt_version=rules.prompt_version, model="rules", goal=rules.goal)
    service = AnnotationService(rules, store, poll=0.01).start()
    service.submit(queries(TEXTS))
    time.sleep(0.1)  # the worker is writing them to pending now
    assert service.metrics()["queue"] == len(TEXTS)
    assert service.wait(timeout=10) and len(service.values) == len(TEXTS)
    service.close()


def test_a_closed_term_reports_what_is_still_pending(tmp_path):
    from rewardlab.oni.term import oni_counts

    with FakeLLMServer(Reply.error(400)) as server:  # refuses everything: every message stays pending
        term = rl.oni.oni(model="retrieval", annotator=annotator_for(server), store=tmp_path / "s.sqlite", beta=0.0)
        venv = rl.RewardVecWrapper(DummyVecEnv([lambda: MessageEnv(length=50)]), rl.extrinsic() + term)
        venv.reset()
        for _ in range(5):
            venv.step(np.zeros(1, dtype=np.int64))
        venv.close()
    assert term.final_counts == {"labels": 0, "pending": 5}
    assert oni_counts(venv.engine.reward) == {"oni_labels": 0, "oni_pending": 5}
    assert oni_counts(rl.extrinsic()) == {}


def test_synchronous_service_returns_after_a_failure_and_labels_later(tmp_path):
    with FakeLLMServer(judge) as server:
        server.inject(Reply.error(400))  # the first request is refused: no retry by the client
        annotator = annotator_for(server, batching="prompt_list")
        service = AnnotationService(annotator, store_at(":memory:", annotator), background=False, retry_delay=5.0)
        start = time.monotonic()
        service.submit(queries(TEXTS[:3]))  # fails, and returns at once instead of spinning through the pause
        service.submit(queries(TEXTS[3:6]))  # paused: queued, returns at once
        assert time.monotonic() - start < 3.0 and service.metrics()["queue"] == 6
        service._paused_until = 0.0  # (the pause is over)
        assert service.wait(timeout=10) and len(service.values) == 6
        service.close()


class CountingRules(RuleAnnotator):
    """Rules that note the size of every call (one call: one request of an LLM annotator) and, while ``gate`` is
    clear, hold each call open: a request in flight."""

    linger = 0.6
    concurrency = 4

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.gate = threading.Event()

    def classify(self, messages):
        self.sizes.append(len(messages))
        self.gate.wait(timeout=30)
        return super().classify(messages)


def until(condition, timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` held (fails the test after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.005)
    return time.monotonic() - start


def test_a_short_list_waits_while_a_request_is_out_and_a_full_one_goes_at_once():
    rules = CountingRules()
    store = LabelStore(":memory:", prompt_version=rules.prompt_version, model="rules", goal="default")
    service = AnnotationService(rules, store, batch_size=4, poll=0.02).start()
    assert service.linger == 0.6  # the annotator's
    service.submit(queries(TEXTS[:2]))
    until(lambda: rules.sizes == [2])  # nothing in flight: a short list goes at once
    service.submit(queries(TEXTS[2:3]))
    time.sleep(0.25)
    assert rules.sizes == [2]  # one request out: the next short list waits for more
    service.submit(queries(TEXTS[3:6]))
    until(lambda: rules.sizes == [2, 4])  # now a full list: at once
    service.submit(queries(TEXTS[6:7]))
    time.sleep(0.1)
    rules.gate.set()  # the requests come back: what waited goes
    until(lambda: rules.sizes == [2, 4, 1])
    assert service.wait(timeout=10) and len(service.values) == 7
    rules.gate.clear()
    service.submit(queries(TEXTS[7:8]))
    until(lambda: rules.sizes[-1:] == [1] and len(rules.sizes) == 4)
    start = time.monotonic()
    service.submit(queries(TEXTS[8:9]))
    until(lambda: len(rules.sizes) == 5)
    assert time.monotonic() - start >= 0.5  # the request stays out: the list went when the linger was over
    service.linger = 30.0
    service.submit(queries(TEXTS[9:10]))
    rules.gate.set()
    assert service.wait(timeout=10)  # whoever waits for the labels does not wait for the linger
    assert sum(rules.sizes) == 10 and len(service.values) == 10
    service.close()


def test_llm_lists_linger_rules_do_not_and_the_term_passes_its_setting_on():
    with FakeLLMServer(judge) as server:
        assert annotator_for(server).linger == 0.5
        assert RuleAnnotator().linger == 0.0
        term = rl.oni.oni(model="retrieval", annotator=annotator_for(server), linger=0.05)
        term.bind(rl.core.env_info.EnvInfo(None, MessageEnv().observation_space, None, 1))
        assert term.service.linger == 0.05
        term.close()
    with pytest.raises(ValueError, match="linger must be >= 0"):
        rl.oni.oni(model="retrieval", linger=-1)
