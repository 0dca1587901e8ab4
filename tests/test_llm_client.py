"""The LLM client against the scripted OpenAI-compatible server in ``fake_llm.py``."""

from __future__ import annotations

import json
import pickle
import threading
import time

import pytest
from fake_llm import FakeLLMServer, Reply, user_text

from rewardlab.config import ConfigError
from rewardlab.llm import LLMClient, LLMConfig, LLMError, LLMUnreachable

pytest.importorskip("openai")


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]


def client_for(server: FakeLLMServer, **overrides) -> LLMClient:
    settings = {"base_url": server.url, "model": server.model, "retry_base_delay": 0.01, "retry_max_delay": 0.05,
                "timeout": 2.0, **overrides}  # fmt: skip
    return LLMClient(LLMConfig(**settings))


def test_complete_sends_the_request_and_returns_the_text(monkeypatch):
    monkeypatch.setenv("REWARDLAB_TEST_KEY", "sk-test-123")
    with FakeLLMServer(lambda req: "echo " + user_text(req)) as server:
        client = client_for(server, api_key_env="REWARDLAB_TEST_KEY", temperature=0.3, max_tokens=7)
        assert client.complete(ask("hello")) == "echo hello"
        (body,) = server.chat_requests
        assert body["model"] == server.model
        assert body["messages"] == ask("hello")
        assert body["temperature"] == 0.3 and body["max_tokens"] == 7
        assert server.requests[0].headers["authorization"] == "Bearer sk-test-123"
        assert client.complete(ask("x"), max_tokens=3) == "echo x"
        assert server.chat_requests[-1]["max_tokens"] == 3


def test_placeholder_key_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv("REWARDLAB_UNSET_KEY", raising=False)
    with FakeLLMServer("ok") as server:
        client_for(server, api_key_env="REWARDLAB_UNSET_KEY").complete(ask("a"))
        assert server.requests[0].headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize(
    "fault",
    [
        Reply.error(429),
        Reply.error(500),
        Reply.error(503),
        Reply.malformed_json(),
        Reply.dropped(),
        Reply.slow("late", 5),
    ],
    ids=["429", "500", "503", "malformed-json", "dropped", "timeout"],
)
def test_transient_faults_are_retried(fault):
    with FakeLLMServer("fine") as server:
        server.inject(fault, times=2)
        client = client_for(server, timeout=0.5)
        assert client.complete(ask("q")) == "fine"
        assert len(server.chat_requests) == 3
        assert client.stats["retries"] == 2 and client.stats["failures"] == 0


def test_client_errors_fail_at_once_and_name_the_status():
    with FakeLLMServer("fine") as server:
        server.inject(Reply.error(400))
        with pytest.raises(LLMError, match="HTTP 400") as info:
            client_for(server).complete(ask("q"))
        assert info.value.status == 400 and info.value.attempts == 1
        assert len(server.chat_requests) == 1
        server.inject(Reply.error(401))
        with pytest.raises(LLMError, match="API key"):
            client_for(server).complete(ask("q"))


def test_retries_run_out_with_a_clear_error():
    with FakeLLMServer(Reply.error(500)) as server:
        with pytest.raises(LLMError, match=r"after 3 attempts at http://127\.0\.0\.1.*HTTP 500") as info:
            client_for(server, max_retries=2).complete(ask("q"))
        assert not isinstance(info.value, LLMUnreachable)
        assert info.value.attempts == 3 and len(server.chat_requests) == 3


def test_back_off_grows_and_honours_retry_after():
    client = LLMClient(LLMConfig(retry_base_delay=0.1, retry_max_delay=1.0))
    waits = [client._backoff(attempt, None) for attempt in range(1, 7)]
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2 and 0.2 <= waits[2] <= 0.4
    assert max(waits) <= 1.0
    assert client._backoff(1, 0.7) == 0.7 and client._backoff(1, 30.0) == 1.0


def test_unreachable_server_says_what_was_tried():
    server = FakeLLMServer("ok").start()
    url = server.url
    server.stop()
    client = LLMClient(LLMConfig(base_url=url, model="m", max_retries=1, retry_base_delay=0.01))
    with pytest.raises(LLMUnreachable, match=rf"after 2 attempts at {url}.*(refused|Connect)"):
        client.complete(ask("q"))
    with pytest.raises(LLMUnreachable, match=rf"{url}/models"):
        client.check()


def test_check_lists_models():
    with FakeLLMServer("ok", model="served-model") as server:
        client_for(server).check()
        with pytest.raises(LLMError, match=r"does not serve model 'other'.*served-model"):
            LLMClient(LLMConfig(base_url=server.url, model="other")).check()


def test_server_restart_on_the_same_port_is_survived():
    with FakeLLMServer(lambda req: "v" + user_text(req)) as server:
        client = client_for(server, max_retries=8, retry_base_delay=0.05, retry_max_delay=0.2)
        assert client.complete(ask("1")) == "v1"
        port = server.port
        restarter = threading.Timer(0.05, server.restart, kwargs={"down_for": 0.3})
        server.stop()
        restarter.start()
        assert client.complete(ask("2")) == "v2"  # retried until the server came back
        restarter.join()
        assert server.port == port


def test_batch_keeps_order_limits_concurrency_and_returns_failures():
    lock = threading.Lock()
    in_flight = [0, 0]  # now, max

    def slow_echo(req: dict) -> str | Reply:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        text = user_text(req)
        return Reply.error(400) if text == "bad" else "r" + text

    with FakeLLMServer(slow_echo) as server:
        client = client_for(server, concurrency=3)
        prompts = [str(i) for i in range(9)] + ["bad"]
        results = client.complete_batch([ask(p) for p in prompts])
        assert results[:9] == ["r" + p for p in prompts[:9]]
        assert isinstance(results[9], LLMError) and results[9].status == 400
        assert in_flight[1] == 3
        assert client.complete_batch([]) == []


def test_log_is_jsonl_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDLAB_TEST_KEY", "sk-secret-456")
    log = tmp_path / "llm" / "requests.jsonl"
    with FakeLLMServer("answer") as server:
        client = client_for(server, api_key_env="REWARDLAB_TEST_KEY", log_path=str(log))
        server.inject(Reply.error(429))
        client.complete(ask("one"))
        server.inject(Reply.error(400))
        with pytest.raises(LLMError):
            client.complete(ask("two"))
    text = log.read_text()
    assert "sk-secret-456" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["messages"] == ask("one") and first["response"] == "answer" and first["attempts"] == 2
    assert "HTTP 429" in first["attempt_errors"][0]
    assert second["response"] is None and "HTTP 400" in second["error"]


def test_close_aborts_a_back_off():
    with FakeLLMServer(Reply.error(500)) as server:
        client = client_for(server, max_retries=10, retry_base_delay=5.0, retry_max_delay=5.0)
        threading.Timer(0.2, client.close).start()
        start = time.monotonic()
        with pytest.raises(LLMError, match="closed"):
            client.complete(ask("q"))
        assert time.monotonic() - start < 3.0


def test_config_from_yaml_mapping():
    cfg = LLMConfig.from_config({"base_url": "http://localhost:11434/v1", "model": "qwen2.5:7b", "timeout": 10})
    assert cfg.timeout == 10.0 and cfg.max_retries == 4 and cfg.concurrency == 4
    assert LLMConfig.from_config(None) == LLMConfig()
    with pytest.raises(ConfigError, match=r"oni.annotator.llm: unknown LLM setting 'modle' \(did you mean 'model'\?\)"):
        LLMConfig.from_config({"modle": "x"}, where="oni.annotator.llm")
    with pytest.raises(ConfigError, match="concurrency must be an integer >= 1"):
        LLMConfig.from_config({"concurrency": 0})
    with pytest.raises(ConfigError, match="base_url must be an http"):
        LLMConfig.from_config({"base_url": "localhost:8000"})
    with pytest.raises(ConfigError, match="expected a mapping"):
        LLMConfig.from_config(["x"])


def test_client_pickles_without_its_connection():
    with FakeLLMServer("ok") as server:
        client = client_for(server)
        client.complete(ask("a"))
        copy = pickle.loads(pickle.dumps(client))
        assert copy.config == client.config and copy.complete(ask("b")) == "ok"


def test_fake_server_queue_then_default():
    with FakeLLMServer(default="ok") as fake_llm:
        check_queue_then_default(fake_llm)
    with FakeLLMServer(["only"]) as server:
        assert client_for(server, max_retries=0).complete(ask("a")) == "only"
        with pytest.raises(LLMError, match="script exhausted"):
            client_for(server, max_retries=0).complete(ask("a"))


def check_queue_then_default(fake_llm: FakeLLMServer) -> None:
    fake_llm.push("first", Reply.error(429), "third")
    client = client_for(fake_llm, max_retries=0)
    assert client.complete(ask("a")) == "first"
    with pytest.raises(LLMError, match="429"):
        client.complete(ask("b"))
    assert [client.complete(ask(c)) for c in "cd"] == ["third", "ok"]
    assert fake_llm.completions == 3


def test_usage_is_counted_from_the_answers_json():
    with FakeLLMServer(lambda req: "twelve chars") as server:
        client = client_for(server)
        assert client.complete(ask("hello")) == "twelve chars"
        # the scripted server counts a token per 4 characters: 20 of the prompt, 12 of the answer
        assert (client.stats["prompt_tokens"], client.stats["completion_tokens"]) == (5, 3)
        assert client.complete_prompts(["a", "b"]) == ["twelve chars", "twelve chars"]
        assert (client.stats["prompt_tokens"], client.stats["completion_tokens"]) == (6, 4)  # its lists count 1 + 1


@pytest.mark.parametrize("answer", [
    "not JSON at all", {}, {"choices": []}, {"choices": [{"text": "a"}]}, {"choices": [{"message": {"content": 5}}]},
])  # fmt: skip
def test_a_chat_answer_of_the_wrong_shape_is_malformed(answer):
    from rewardlab.llm.client import _Retry

    client = LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m"))
    with pytest.raises(_Retry, match="malformed"):
        client._read(answer)


@pytest.mark.parametrize("answer", [
    "not JSON at all", {}, {"choices": [{"index": 0}]}, {"choices": [{"text": "a"}]},
    {"choices": [{"index": 0, "text": 7}]},
])  # fmt: skip
def test_a_prompt_list_answer_of_the_wrong_shape_is_malformed(answer):
    from rewardlab.llm.client import _Retry

    client = LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m"))
    with pytest.raises(_Retry, match="malformed"):
        client._read_list(answer, 1)
