"""ONI end to end: `rewardlab train` on MiniHack with the rule-based annotator, and `rewardlab annotate`."""

from __future__ import annotations

import json
import threading

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
    store = LabelStore(out / "oni_labels.sqlite", prompt_version=RULES_VERSION, model="rules", goal="default")
    assert store.counts()["labels"] > 0  # MiniHack says "Hello Agent, welcome to NetHack!" at least
    assert "oni" in (out / "reward_terms.csv").read_text().splitlines()[0]
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


def test_annotate_collects_messages_with_a_random_policy(tmp_path, capsys):
    store = tmp_path / "labels.sqlite"
    code = main(["annotate", "--env", "MiniHack-Room-Random-5x5-v0", "--steps", "40", "--n-envs", "2",
                 "--store", str(store), "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
    assert report["messages"] >= 1 and report["still_pending"] == 0
