"""ONI end to end: `rewardlab train` on MiniHack with the rule-based annotator, and `rewardlab annotate`."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest
import torch

from rewardlab.cli.main import main
from rewardlab.oni.annotators import RULES_VERSION
from rewardlab.oni.store import LabelStore
from rewardlab.runs.reward_state import REWARD_STATE_FILE

torch.set_num_threads(1)

REWARD = '[extrinsic, {term: oni, model: classification, weight: 0.05, annotator: {kind: rules, goal: score}}]'


def test_rewardlab_train_on_minihack_with_the_rule_based_annotator(tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--env", "MiniHack-Room-Random-5x5-v0", "--reward", REWARD, "--steps", "256",
                 "--n-envs", "2", "--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "n_epochs=1",
                 "--eval-episodes", "1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timesteps"] == 256
    assert summary["oni_pending"] == 0 and summary["oni_labels"] > 0  # the summary says what is still pending
    store = LabelStore(out / "oni_labels.sqlite", prompt_version=RULES_VERSION, model="rules", goal="default")
    assert store.counts()["labels"] > 0  # MiniHack says "Hello Agent, welcome to NetHack!" at least
    assert "oni" in (out / "reward_terms.csv").read_text().splitlines()[0]
    progress = pd.read_csv(out / "progress.csv")  # the service's metrics reach the logger (and TensorBoard)
    assert progress["reward_update/oni/labelled_share"].notna().any()
    assert {"reward_update/oni/queue", "reward_update/oni/labels_per_s", "reward_update/oni/errors"} <= set(progress)
    state = torch.load(out / REWARD_STATE_FILE, weights_only=False)
    assert "label_keys" in state["state"]["oni"]
    assert not any(t.name == "oni-annotator" for t in threading.enumerate())


def test_rewardlab_annotate_labels_a_file_once(tmp_path, capsys):
    corpus = tmp_path / "messages.txt"
    corpus.write_text("You kill the newt!\nIt's a wall.\n\nYou see here 7 gold pieces.\nIt's a wall.\n")
    store = tmp_path / "labels.sqlite"
    assert main(["annotate", "--messages", str(corpus), "--store", str(store), "--no-progress"]) == 0
    first = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert first["messages"] == 3 and first["labelled"] == 3 and first["positive"] == 2
    assert main(["annotate", "--messages", str(corpus), "--store", str(store), "--no-progress"]) == 0
    second = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert second["reused"] == 3 and second["labelled"] == 0


def test_rewardlab_annotate_asks_an_llm_server(tmp_path, capsys):
    pytest.importorskip("openai")
    from fake_llm import FakeLLMServer, user_text

    corpus = tmp_path / "messages.txt"
    corpus.write_text("You kill the newt!\nIt's a wall.\n")
    with FakeLLMServer(lambda r: f'{{"progress": {str("kill" in user_text(r)).lower()}}}') as server:
        code = main(["annotate", "--messages", str(corpus), "--store", str(tmp_path / "s.sqlite"), "--annotator",
                     "llm", "--llm-url", server.url, "--model", server.model, "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert report["annotator"] == server.model and report["positive"] == 1 and report["labelled"] == 2
    assert main(["annotate", "--messages", str(corpus), "--annotator", "llm"]) == 2  # no --model: one line
    assert "needs --model" in capsys.readouterr().err


def test_annotate_refused_keeps_every_message_pending_and_says_so(tmp_path, capsys, caplog):
    pytest.importorskip("openai")
    corpus = tmp_path / "messages.txt"
    corpus.write_text("You kill the newt!\nIt's a wall.\n")
    store = tmp_path / "s.sqlite"
    from fake_llm import FakeLLMServer, Reply

    with FakeLLMServer(Reply.error(400)) as server:  # refuses every request at once (no retries)
        code = main(["annotate", "--messages", str(corpus), "--store", str(store), "--annotator", "llm", "--llm-url",
                     server.url, "--model", "m", "--timeout", "1", "--no-progress"])  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    report = json.loads(out.split("\n}")[0] + "}")
    assert report["still_pending"] == 2 and report["store_pending"] == 2 and report["labelled"] == 0
    assert "2 queries are still pending in" in out and "run the command again" in out
    (failed,) = [r.getMessage() for r in caplog.records if "labelling failed" in r.getMessage()]
    assert "training continues" not in failed and "run the command again" in failed


def test_annotate_collects_messages_with_a_random_policy(tmp_path, capsys):
    store = tmp_path / "labels.sqlite"
    code = main(["annotate", "--env", "MiniHack-Room-Random-5x5-v0", "--steps", "40", "--n-envs", "2",
                 "--store", str(store), "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert report["messages"] >= 1 and report["still_pending"] == 0


def test_rewardlab_annotate_ranks_pairs_for_the_ranking_model(tmp_path, capsys):
    corpus = tmp_path / "messages.txt"
    corpus.write_text("You kill the newt!\nIt's a wall.\nYou see here 7 gold pieces.\nNever mind.\n")
    store = tmp_path / "labels.sqlite"
    assert main(["annotate", "--messages", str(corpus), "--store", str(store), "--queries", "rank", "--pairs", "2",
                 "--no-progress"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert report["queries"] == 1 + 2 + 2 and report["still_pending"] == 0
    labels = LabelStore(store, prompt_version=RULES_VERSION, model="rules", goal="default").labels()
    assert {lab.query.kind for lab in labels} == {"rank"} and all(len(lab.query.messages) == 2 for lab in labels)


def test_train_points_oni_at_an_llm_server_from_the_command_line(tmp_path, capsys):
    from rewardlab.oni.terms_config import with_llm_server

    spec = ["extrinsic", {"term": "oni", "weight": 0.1, "annotator": {"kind": "rules", "goal": "gold"}}]
    url = "http://10.0.0.2:8000/v1"
    out = with_llm_server(spec, base_url=url, model="qwen")
    assert out[1]["annotator"] == {"kind": "llm", "goal": "gold", "base_url": url, "model": "qwen"}
    assert spec[1]["annotator"] == {"kind": "rules", "goal": "gold"}  # the input is left alone
    code = main(["train", "--env", "MiniHack-Room-Random-5x5-v0", "--reward", "extrinsic", "--llm-url",
                 "http://127.0.0.1:9/v1", "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2 and "no ONI term" in capsys.readouterr().err
