"""Long work shows progress: a bar in a terminal, a few lines in a log file, a line per evaluation episode."""

from __future__ import annotations

import io

import pytest

from rewardlab.cli.main import main
from rewardlab.progress import LineProgress, progress_bar
from rewardlab.runs.evaluate import default_eval_episodes
from rewardlab.train import RunConfig, train


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_thousand_updates_print_a_few_lines():
    log = io.StringIO()
    with progress_bar(total=1000, desc="work", unit="step", file=log) as bar:
        assert isinstance(bar, LineProgress)
        for _ in range(1000):
            bar.update()
            bar.set_postfix(errors=0)
    lines = log.getvalue().splitlines()
    assert len(lines) == 5 and "\r" not in log.getvalue()  # started, 25, 50, 75, 100 %
    assert lines[0] == "work: 0/1000 steps (0%) started" and lines[-1].startswith("work: 1000/1000 steps (100%)")


def test_a_terminal_gets_a_bar_and_a_disabled_display_prints_nothing():
    assert not isinstance(progress_bar(total=3, file=Terminal()), LineProgress)
    log = io.StringIO()
    for _ in progress_bar(range(50), desc="quiet", enabled=False, file=log):
        pass
    assert log.getvalue() == ""


def test_resumed_work_starts_its_marks_after_what_is_done():
    log = io.StringIO()
    bar = progress_bar(total=8, initial=6, desc="labels", unit="label", file=log)
    bar.update(2)
    assert log.getvalue().splitlines()[-1].startswith("labels: 8/8 labels (100%)")
    assert len(log.getvalue().splitlines()) == 2


def test_nethack_evaluates_fewer_episodes_by_default():
    assert default_eval_episodes("CartPole-v1") == 10
    assert default_eval_episodes("NetHackScore-v0") == 2
    assert default_eval_episodes("Nope-v0") == 10


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "run"
    config = RunConfig(env="CartPole-v1", reward="extrinsic", steps=256, n_envs=4, eval_episodes=0,
                       hyperparams={"n_steps": 32, "batch_size": 64, "n_epochs": 1})  # fmt: skip
    train(config, out, progress_bar=False, checkpoint_every=0)
    return out


def test_eval_says_what_it_does_and_prints_each_episode_as_it_ends(cartpole_run, capsys):
    assert main(["eval", str(cartpole_run), "--episodes", "3", "--video-episodes", "0"]) == 0
    captured = capsys.readouterr()
    assert "evaluating" in captured.err and "3 episodes of CartPole-v1 (up to 500 steps each)" in captured.err
    episode_lines = [line for line in captured.out.splitlines() if line.startswith("episode ")]
    assert [line.split(":")[0] for line in episode_lines] == ["episode 1/3", "episode 2/3", "episode 3/3"]
    assert "true return" in episode_lines[0]
    assert captured.out.index("episode 3/3") < captured.out.index("mean")  # before the table


def test_compare_and_annotate_print_a_few_lines_into_a_log(tmp_path, capsys):
    reward = "[{term: constant, value: 1.0}]"
    args = ["compare", "extrinsic", reward, "--env", "CartPole-v1", "--samples", "64", "--transitions", "512"]
    assert main([*args, "--bootstrap", "0", "--out", str(tmp_path / "cmp")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and len(err.splitlines()) <= 6
    messages = tmp_path / "messages.txt"
    messages.write_text("\n".join(f"You find {i} gold pieces." for i in range(300)) + "\n")
    store = tmp_path / "labels.sqlite"
    assert main(["annotate", "--messages", str(messages), "--store", str(store), "--batch-size", "4"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and 2 <= len(err.splitlines()) <= 6, err
