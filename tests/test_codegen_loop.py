"""The codegen loop against a scripted OpenAI-compatible server: refine, feed errors back, replay, choose by eye."""

from __future__ import annotations

import io
import json

import imageio.v2 as imageio
import numpy as np
import pytest
from fake_llm import FakeLLMServer

from rewardlab.cli.main import main
from rewardlab.codegen import GenerationStore
from rewardlab.codegen.loop import Candidate, CodegenLoop, LoopConfig, Round
from rewardlab.config.registry import ConfigError
from rewardlab.llm import LLMClient, LLMConfig

pytest.importorskip("openai")


def block(code: str) -> str:
    return f"Let me think step by step. The pole must stay up.\n```python\n{code}```\nThis should work."


IMPORT_OS = block("import os\ndef compute_reward(obs):\n    return {'x': obs[:, 0]}\n")
FIXED = block(
    "import numpy as np\ndef compute_reward(next_obs):\n    return {'upright': 1.0 - np.abs(next_obs[:, 2])}\n"
)
ALIVE = block("def compute_reward(terminated):\n    return {'alive': 1.0 - terminated}\n")
UPRIGHT = block(
    "import numpy as np\n"
    "def compute_reward(next_obs, terminated):\n"
    "    upright = 1.0 - np.abs(next_obs[:, 2]) / 0.21\n"
    "    centred = -0.1 * np.abs(next_obs[:, 0])\n"
    "    return {'upright': upright, 'centred': centred, 'fall': np.where(terminated, -1.0, 0.0)}\n"
)
NO_CODE = "I am not sure what you want."


def client_for(server: FakeLLMServer) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.url, model=server.model, concurrency=1, retry_base_delay=0.01,
                               max_retries=1, timeout=5.0))  # fmt: skip


def tiny(**overrides) -> LoopConfig:
    settings = dict(env="CartPole-v1", task="balance the pole for as long as possible", rounds=2, candidates=2,
                    steps=512, eval_episodes=1)  # fmt: skip
    return LoopConfig(**{**settings, **overrides})


def test_the_loop_feeds_errors_and_statistics_back_and_replays_offline(tmp_path):
    store = GenerationStore(tmp_path / "store")
    # round 0: a forbidden import (fixed on the second try) and a good program; round 1: refined ones
    replies = [IMPORT_OS, ALIVE, FIXED, UPRIGHT, NO_CODE, ALIVE]
    with FakeLLMServer(replies) as server:
        loop = CodegenLoop(tiny(), tmp_path / "loop", client=client_for(server), store=store, backend="inline",
                           log=None)  # fmt: skip
        best = loop.run()
        requests = server.chat_requests
    assert len(requests) == 6

    fix_request_error = "line 1: `import os` import os: only math and numpy (as np) can be imported"
    first = loop.rounds[0].candidates
    assert (first[0].attempts, first[0].valid_first, first[0].program_id is not None) == (2, False, True)
    assert first[0].rejections == [{"stage": "static", "error": fix_request_error}]
    assert first[1].valid_first and first[1].components == ["generated/alive"]
    fix_request = requests[2]["messages"]
    assert fix_request[-2] == {"role": "assistant", "content": "```python\nimport os\ndef compute_reward(obs):\n"
                                                               "    return {'x': obs[:, 0]}\n```"}  # fmt: skip
    assert "line 1: `import os` import os: only math and numpy (as np) can be imported" in fix_request[-1]["content"]

    chosen = loop.rounds[0].candidates[loop.rounds[0].chosen]
    refine = requests[3]["messages"]
    assert refine[:2] == loop.opening and "Hopper" not in refine[1]["content"]
    assert loop.store.get_program(chosen.program_id).source in refine[2]["content"]
    feedback = refine[3]["content"]
    assert "Task score: eval_true_return = " in feedback and "env_return: [" in feedback
    for name in chosen.components:
        assert f"{name.split('/')[1]}: [" in feedback
    second = loop.rounds[1].candidates
    assert second[1].rejections[0]["stage"] == "extract" and second[1].attempts == 2
    assert second[1].program_id is not None and second[1].error is None

    assert best["program_id"] in store.program_ids() and best["score"] is not None
    assert [r["valid_first_rate"] for r in best["rounds"]] == [0.5, 0.5]
    assert [r["valid_rate"] for r in best["rounds"]] == [1.0, 1.0]
    saved = json.loads((tmp_path / "loop" / "best.json").read_text())
    assert saved["train"] == f"rewardlab train --env CartPole-v1 --reward generated:{best['program_id']}"

    # the server is gone: the same loop, in a new folder, replays every answer from the store
    replay = CodegenLoop(tiny(), tmp_path / "replay", client=None, model=server.model, store=store,
                         backend="inline", log=None)  # fmt: skip
    again = replay.run()
    assert replay.generator.asked == 0
    ids = [[c.program_id for c in r.candidates] for r in loop.rounds]
    assert [[c.program_id for c in r.candidates] for r in replay.rounds] == ids
    assert again["program_id"] == best["program_id"]

    # and the same folder resumes without training again
    resumed = CodegenLoop(tiny(), tmp_path / "loop", client=None, store=store, backend="inline", log=None)
    assert resumed.run()["program_id"] == best["program_id"]


def test_nothing_to_replay_without_a_server_says_so_once_up_front(tmp_path, capsys):
    loop = CodegenLoop(tiny(rounds=1), tmp_path / "loop", client=None, model="m", store=GenerationStore(tmp_path),
                       backend="inline", log=None)  # fmt: skip
    with pytest.raises(ConfigError, match=r"no LLM server \(--llm-url\) and the generation store .* holds no answers "
                                          r"for round 0 of this loop \(model 'm', env CartPole-v1\)"):  # fmt: skip
        loop.run()
    assert not loop.rounds
    # the CLI: one line, once (it was the same rejection for every candidate of every round: 12 lines)
    code = main(["codegen", "--env", "CartPole-v1", "--task", "balance", "--model", "m", "--backend", "inline",
                 "--store", str(tmp_path / "empty"), "--out", str(tmp_path / "cli")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("holds no answers") == 1 and "Traceback" not in captured.err
    assert "rejected" not in captured.out


def test_synthetic_preference_picks_the_highest_true_return_and_shows_the_least_liked(tmp_path):
    store = GenerationStore(tmp_path / "store")
    loop = CodegenLoop(tiny(select="synthetic", videos=False), tmp_path / "loop", model="m", store=store,
                       backend="inline", log=None)  # fmt: skip
    from rewardlab.codegen.program import make_program

    candidates = []
    for i, (answer, score) in enumerate([(ALIVE, 20.0), (UPRIGHT, 80.0), (FIXED, 50.0)]):
        program = make_program(answer, "CartPole-v1")
        run = tmp_path / f"run{i}"
        run.mkdir()
        names = [f"generated/{c}" for c in program.components]
        rows = [",".join(["timestep", *names, "true_return", "total", "length", "terminated"])]
        rows += [",".join(["1", *["1.5"] * len(names), str(score), "1", "10", "True"])] * 3
        (run / "reward_terms.csv").write_text("\n".join(rows) + "\n")
        candidates.append(Candidate(i, program_id=store.put_program(program), components=names,
                                    run_dirs=[str(run)], score=score, true_return=score))  # fmt: skip
    (tmp_path / "loop" / "round_00").mkdir(parents=True)
    rnd = Round(0, tmp_path / "loop" / "round_00", candidates)
    loop.rounds.append(rnd)
    loop.select(rnd)
    assert (rnd.chosen, rnd.worst, rnd.chosen_by) == (1, 0, "synthetic preference (true return)")
    feedback = loop.messages(1)[-1]["content"]
    assert "A person watched the trained agents of the 3 reward functions" in feedback
    assert "liked least came from this reward:\n```python\ndef compute_reward(terminated):" in feedback
    assert "upright: [1.5, 1.5, 1.5], max 1.5, mean 1.5, min 1.5" in feedback


def test_cli_human_choice_with_videos_on_mujoco(tmp_path, monkeypatch, capsys):
    cheetah = block(
        "import numpy as np\n"
        "def compute_reward(action, next_obs):\n"
        "    return {'forward': next_obs[:, 8], 'ctrl': -0.1 * np.sum(action ** 2, axis=-1)}\n"
    )
    still = block("import numpy as np\ndef compute_reward(next_obs):\n    return {'still': -np.abs(next_obs[:, 8])}\n")
    with FakeLLMServer([cheetah, still]) as server:
        monkeypatch.setattr("sys.stdin", io.StringIO("7\n1\n"))
        code = main([
            "codegen", "--env", "HalfCheetah-v5", "--task", "run forward", "--llm-url", server.url,
            "--model", server.model, "--rounds", "1", "--candidates", "2", "--select", "human",
            "--steps", "256", "--n-envs", "2", "--hp", "n_steps=64", "--hp", "batch_size=64", "--eval-episodes", "1",
            "--video-steps", "12", "--out", str(tmp_path / "loop"), "--store", str(tmp_path / "store"),
            "--workers", "2",
        ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "please answer with one of [0, 1]" in out and "side_by_side.gif" in out
    choice = json.loads((tmp_path / "loop" / "round_00" / "choice.json").read_text())
    assert (choice["chosen"], choice["by"]) == (1, "human")
    videos = tmp_path / "loop" / "round_00" / "videos"
    for name in ("candidate_0.gif", "candidate_1.gif", "side_by_side.gif"):
        frames = imageio.mimread(videos / name)
        assert len(frames) > 1
    assert imageio.mimread(videos / "side_by_side.gif")[0].shape[1] == 2 * 160
    best = json.loads((tmp_path / "loop" / "best.json").read_text())
    candidates = json.loads((tmp_path / "loop" / "round_00" / "candidates.json").read_text())["candidates"]
    assert best["candidate"] == 1 and best["program_id"] == candidates[1]["program_id"]
    components = {tuple(c["components"]) for c in candidates}
    assert components == {("generated/forward", "generated/ctrl"), ("generated/still",)}


def test_prompts_zero_and_few_shot(tmp_path):
    zero = CodegenLoop(tiny(env="Pendulum-v1", task="swing up"), tmp_path / "a", model="m",
                       store=GenerationStore(tmp_path), log=None)  # fmt: skip
    system, user = zero.opening
    assert "return a dict of named reward components" in system["content"].lower()
    assert "Environment Pendulum-v1" in user["content"] and "Task: swing up" in user["content"]
    assert "Example 1" not in user["content"]
    few = CodegenLoop(tiny(env="Pendulum-v1", task="swing up", prompt="few_shot"), tmp_path / "b", model="m",
                      store=GenerationStore(tmp_path), log=None)  # fmt: skip
    text = few.opening[1]["content"]
    assert "Example 1 (another environment, MountainCar-v0" in text and "Pendulum-v1; task" not in text


def test_cli_without_server_or_model_says_what_to_give(tmp_path, capsys):
    code = main(["codegen", "--env", "CartPole-v1", "--task", "balance", "--out", str(tmp_path / "loop"),
                 "--store", str(tmp_path / "store")])  # fmt: skip
    assert code == 2
    assert "no LLM server (--llm-url) and no model to replay from the store (--model)" in capsys.readouterr().err
    assert main(["codegen", "--env", "CartPole-v1", "--task", "x", "--select", "vote", "--model", "m"]) == 2
    assert "select 'vote'" in capsys.readouterr().err


def test_round_html_and_choice_widget(tmp_path):
    pytest.importorskip("ipywidgets")
    from rewardlab.codegen import widgets

    gif = tmp_path / "c.gif"
    imageio.mimsave(gif, [np.zeros((4, 4, 3), dtype=np.uint8)] * 2)
    loop = CodegenLoop(tiny(select="human"), tmp_path / "loop", model="m", store=GenerationStore(tmp_path), log=None)
    candidates = [Candidate(i, program_id=f"p{i}", components=["generated/a"], score=float(i), video=str(gif))
                  for i in range(2)]  # fmt: skip
    (tmp_path / "loop" / "round_00").mkdir(parents=True)
    rnd = Round(0, tmp_path / "loop" / "round_00", candidates)
    loop.rounds.append(rnd)
    html = widgets.round_html(rnd)
    assert html.count("data:image/gif;base64,") == 2 and "candidate 1" in html and "score 1" in html
    with pytest.raises(ConfigError, match="waits for a choice"):
        loop.step()
    box = widgets.choice_widget(loop, rnd)
    box.children[1].children[1].children[1].click()  # 'prefer 1'
    assert (rnd.chosen, rnd.chosen_by) == (1, "human")
    assert json.loads((rnd.folder / "choice.json").read_text())["chosen"] == 1
