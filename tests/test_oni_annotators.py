"""ONI annotators (rules, LLM prompts and parsing) and the SQLite label store."""

from __future__ import annotations

import sqlite3

import pytest
from fake_llm import FakeLLMServer, user_text

from rewardlab.llm import LLMClient, LLMConfig
from rewardlab.oni.annotators import (
    PROMPT_VERSION,
    SYSTEM,
    Annotator,
    LLMAnnotator,
    RuleAnnotator,
    make_annotator,
    parse_preference,
    parse_progress,
)
from rewardlab.oni.messages import decode, message_hash, resolve_goal
from rewardlab.oni.store import Label, LabelStore, Query


def test_rule_annotator_follows_the_goal_and_is_not_an_llm():
    rules = RuleAnnotator(goal="gold")
    assert isinstance(rules, Annotator) and rules.model == "rules" and "rules" in rules.prompt_version
    assert [a.value for a in rules.classify(["You see here 7 gold pieces.", "It's a wall.", ""])] == [1.0, 0.0, 0.0]
    combat = RuleAnnotator(goal="combat")
    assert combat.classify(["You kill the newt!"])[0].value == 1.0
    assert combat.classify(["You see here 7 gold pieces."])[0].value == 0.0
    assert RuleAnnotator(goal="descend").goal == "stairs" and resolve_goal("score") == "default"
    assert RuleAnnotator().classify(["You swap places with your kitten.  It's a wall."])[0].value == 0.0
    pair = RuleAnnotator().compare([("You kill the newt!", "It's a wall."), ("It's a wall.", "You kill the newt!"),
                                    ("It's a wall.", "It's solid stone.")])  # fmt: skip
    assert [a.value for a in pair] == [1.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="unknown ONI goal 'treasure'.*valid"):
        RuleAnnotator(goal="treasure")
    with pytest.raises(ValueError, match="unknown annotator kind 'gpt'; valid"):
        make_annotator({"kind": "gpt"})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('The message mentions gold.\n{"progress": true}', 1.0),
        ('{"progress": false}', 0.0),
        ('Reasoning {"progress": "yes"}', 1.0),
        ("Yes.", 1.0),
        ("No, it does not.", 0.0),
        ('{"progress": true', 1.0),  # broken JSON: the last yes/no/true/false word decides
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_progress(text, value):
    assert parse_progress(text) == value


def test_parse_preference():
    assert parse_preference('{"preferred": 1}') == 1.0
    assert parse_preference('so {"preferred": 2}') == 0.0
    assert parse_preference('{"preferred": 0}') == 0.5
    assert parse_preference("Message 2 shows more progress.") == 0.0
    assert parse_preference("both are bad") is None
    assert parse_preference('{"preferred": 7}') is None


def _script(request):
    text = user_text(request)
    if "Message 1" in text:
        return '{"preferred": 1}'
    return "hmm" if "newt" in text else '{"progress": true}'


def test_llm_annotator_sends_the_prompts_and_counts_unreadable_answers():
    with FakeLLMServer(_script) as server:
        client = LLMClient(LLMConfig(base_url=server.url, model=server.model))
        annotator = LLMAnnotator(client, goal="gold", batching="concurrent")
        answers = annotator.classify(["You see here 7 gold pieces.", "You kill the newt!"])
        assert answers[0].value == 1.0 and answers[1].value is None and answers[1].malformed
        assert annotator.malformed == 1
        assert annotator.compare([("a", "b")])[0].value == 1.0
        (first,) = [r["messages"] for r in server.chat_requests if "7 gold" in user_text(r)]
        assert first[0]["role"] == "system" and "collect as much gold" in first[1]["content"]
        assert '"You see here 7 gold pieces."' in first[1]["content"]
        assert annotator.model == server.model and annotator.prompt_version == PROMPT_VERSION
        assert not server.completion_requests and not annotator.takes_lists
        annotator.close()


def test_a_prompt_list_asks_many_messages_in_one_request():
    with FakeLLMServer(_script) as server:
        annotator = LLMAnnotator(LLMClient(LLMConfig(base_url=server.url, model=server.model)), goal="gold")
        assert annotator.batching == "auto" and annotator.takes_lists
        answers = annotator.classify(["You see here 7 gold pieces.", "You kill the newt!", "It's a wall."])
        assert [a.value for a in answers] == [1.0, None, 1.0] and answers[1].malformed
        assert annotator.compare([("a", "b"), ("c", "d")])[1].value == 1.0
        first, second = server.completion_requests
        assert not server.chat_requests and len(first["prompt"]) == 3 and len(second["prompt"]) == 2
        prompt = first["prompt"][0]
        assert prompt.startswith(SYSTEM) and '"You see here 7 gold pieces."' in prompt and prompt.endswith("Answer:")
        annotator.close()


def test_auto_falls_back_to_chat_requests_when_the_server_refuses_a_list(caplog):
    caplog.set_level("INFO", logger="rewardlab.oni.annotators")
    with FakeLLMServer(_script, prompt_lists=False) as server:
        annotator = LLMAnnotator(LLMClient(LLMConfig(base_url=server.url, model=server.model)), goal="gold")
        answers = annotator.classify(["You see here 7 gold pieces.", "It's a wall."])
        assert [a.asked for a in answers] == [False, False] and answers[0].value is None  # not asked: no failure
        assert annotator.batching == "concurrent" and annotator.failures == 0
        assert "refused a list of prompts" in caplog.text
        assert [a.value for a in annotator.classify(["You see here 7 gold pieces.", "It's a wall."])] == [1.0, 1.0]
        assert len(server.completion_requests) == 1 and len(server.chat_requests) == 2
        annotator.close()
    with FakeLLMServer(_script, prompt_lists=False) as server:  # told to use lists: a failure, said
        annotator = LLMAnnotator(LLMClient(LLMConfig(base_url=server.url, model=server.model)),
                                 batching="prompt_list")  # fmt: skip
        answer = annotator.classify(["a", "b"])[1]
        assert answer.asked and answer.value is None and "refused a list of prompts" in answer.error
        assert annotator.batching == "prompt_list"
        annotator.close()
    with pytest.raises(ValueError, match="unknown batching 'lists'; valid"):
        LLMAnnotator(LLMClient(LLMConfig()), batching="lists")


def test_messages_decode_and_hash():
    assert decode(b"You see.\x00\x00junk") == "You see."
    assert message_hash("x") == message_hash("x") != message_hash("y") and len(message_hash("x")) == 16


def test_store_keeps_labels_per_scope_and_pending_until_answered(tmp_path):
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path, prompt_version="v1", model="m", goal="default")
    q1, q2 = Query("classify", "k1", ("one",)), Query("classify", "k2", ("two",))
    store.add_pending([q1, q2])
    store.put([Label(q1, 1.0)])
    assert store.counts() == {"labels": 1, "pending": 1}
    store.close()
    again = LabelStore(path, prompt_version="v1", model="m", goal="default")
    assert [(lab.query, lab.value) for lab in again.labels()] == [(q1, 1.0)]
    assert again.pending() == [q2]
    other = LabelStore(path, prompt_version="v2", model="m", goal="default")  # a new prompt asks again
    assert other.labels() == [] and other.pending() == []
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()
    other.close()


def test_annotator_settings_are_checked_with_the_valid_choices():
    from rewardlab.config.registry import ConfigError

    with pytest.raises(ConfigError, match=r"unknown LLM setting 'batchin' \(did you mean 'batching'\?\).*'goal'"):
        make_annotator({"kind": "llm", "model": "m", "batchin": "auto"})
    annotator = make_annotator({"kind": "llm", "model": "m", "batching": "concurrent", "concurrency": 6})
    assert annotator.batching == "concurrent" and annotator.concurrency == 6 and not annotator.takes_lists
