"""ONI labels survive a SIGKILL at any moment (issue 20 §1): a child process labels against a slow local server
and is killed in the middle of its requests; the store and the server's log show what was kept."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_llm import FakeLLMServer, user_text

from rewardlab.cli.main import main
from rewardlab.llm import LLMClient, LLMConfig
from rewardlab.oni.annotators import PROMPT_VERSION, LLMAnnotator
from rewardlab.oni.service import AnnotationService
from rewardlab.oni.store import LabelStore

pytest.importorskip("openai")

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def judge(request: dict) -> str:
    return f'{{"progress": {str("7" in message_of(user_text(request))).lower()}}}'


def message_of(text: str) -> str:
    """The quoted message of a classification prompt (chat or rendered for a prompt list)."""
    return text.split('"')[1]


def child_env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def scoped_store(path: Path) -> LabelStore:
    return LabelStore(path, prompt_version=PROMPT_VERSION, model="fake-model", goal="default")


def kill_mid_request(
    proc: subprocess.Popen, server: FakeLLMServer, *, answers: int, since: float, ready=lambda: True
) -> float:
    """SIGKILL ``proc`` once ``answers`` answers were sent and ``ready()``, ``since`` s after the latest answer."""
    wait_for(lambda: (len(server.answered) >= answers and ready()) or proc.poll() is not None, 90, "answers")
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "the child died"
    # requests sent from now on hang, so the answers on their way arrive and then a quiet moment comes for sure
    # (under load a pipelined client may otherwise never leave a gap of `since` seconds between answers)
    server.delay = max(server.delay, 60.0)
    wait_for(lambda: time.time() - server.answered_at[-1] >= since, 30, "a quiet moment")
    assert len(server.requests) > 0
    killed = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return killed


def test_sigkill_mid_batch_loses_no_message_and_no_answer(tmp_path, batching="prompt_list"):
    store_path, log_path = tmp_path / "labels.sqlite", tmp_path / "met.jsonl"
    with FakeLLMServer(judge, delay=1.0) as server:
        proc = subprocess.Popen(
            [sys.executable, str(TESTS / "oni_crash_child.py"), server.url, str(store_path), str(log_path), batching,
             "20"], env=child_env(), stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            checkpointed = lambda: log_path.exists() and "checkpoint" in log_path.read_text()  # noqa: E731
            killed = kill_mid_request(proc, server, answers=10, since=0.6, ready=checkpointed)
        finally:
            if proc.poll() is None:
                proc.kill()
        delivered = list(zip(server.answered_at, map(message_of, server.answered)))
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.endswith("}")]
        store = scoped_store(store_path)
        labelled = {lab.query.messages[0] for lab in store.labels()}
        pending = {q.messages[0] for q in store.pending()}
        assert labelled and pending and not labelled & pending

        # every message met up to the checkpoint is labelled or pending
        (mark,) = [i for i, line in enumerate(lines) if "checkpoint" in line]
        up_to_checkpoint = {t for line in lines[: mark + 1] for t in line["texts"]}
        assert up_to_checkpoint <= labelled | pending, sorted(up_to_checkpoint - labelled - pending)[:5]
        # and so is every message met while requests were in flight, up to the worker's last look (0.1 s)
        met = {t for line in lines if line.get("t", 0) < killed - 0.5 for t in line["texts"]}
        assert len(met) > len(up_to_checkpoint) and met <= labelled | pending, sorted(met - labelled - pending)[:5]
        # every answer the server delivered (before the requests in flight) is in the store
        assert {m for t, m in delivered if t < killed - 0.3} <= labelled
        assert labelled <= {m for _, m in delivered}

        # the next run asks the pending messages, each once, and none already answered
        store.close()
        client = LLMClient(LLMConfig(base_url=server.url, model=server.model, concurrency=8))
        annotator = LLMAnnotator(client, batching=batching)
        service = AnnotationService(annotator, scoped_store(store_path), batch_size=16).start()
        assert service.stats["reused"] == len(labelled)
        server.delay = 0.0
        assert service.wait(timeout=30)
        service.close()
    again = collections.Counter(map(message_of, server.answered[len(delivered) :]))
    assert set(again) == pending and max(again.values()) == 1
    assert scoped_store(store_path).counts() == {"labels": len(labelled | pending), "pending": 0}


def test_rewardlab_annotate_killed_mid_batch_resumes_without_asking_twice(tmp_path, capsys):
    """One chat request per message (two in flight): each answer is stored as it comes, not once per batch."""
    corpus = tmp_path / "messages.txt"
    texts = [f"You see item {i} here." for i in range(48)]
    corpus.write_text("\n".join(texts) + "\n")
    store_path = tmp_path / "labels.sqlite"
    command = ["annotate", "--messages", str(corpus), "--store", str(store_path), "--annotator", "llm",
               "--model", "fake-model", "--batch-size", "4", "--concurrency", "2", "--batching", "concurrent",
               "--no-progress"]  # fmt: skip
    with FakeLLMServer(judge, delay=0.6) as server:
        command += ["--llm-url", server.url]
        proc = subprocess.Popen([sys.executable, "-m", "rewardlab.cli.main", *command], env=child_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            killed = kill_mid_request(proc, server, answers=10, since=0.35)
        finally:
            if proc.poll() is None:
                proc.kill()
        first = len(server.answered)
        store = scoped_store(store_path)
        labelled = {lab.query.messages[0] for lab in store.labels()}
        assert store.counts() == {"labels": len(labelled), "pending": len(texts) - len(labelled)}  # all 48 kept
        assert {message_of(m) for t, m in zip(server.answered_at, server.answered) if t < killed - 0.2} <= labelled
        store.close()
        server.delay = 0.0
        assert main(command) == 0
    report = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert report["reused"] == len(labelled) and report["still_pending"] == 0
    again = collections.Counter(map(message_of, server.answered[first:]))
    assert not set(again) & labelled and max(again.values()) == 1 and len(again) == len(texts) - len(labelled)
