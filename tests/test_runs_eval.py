"""rewardlab eval: episodes with the trained reward, every term and the true return, a table, a CSV, a video."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.runs import evaluate_run
from rewardlab.train import RunConfig, train


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    config = RunConfig(
        env="CartPole-v1",
        reward=["extrinsic", {"term": "potential", "potential": "cartpole_upright", "gamma": 0.98}],
        steps=512,
        n_envs=4,
        hyperparams={"n_steps": 32, "batch_size": 64, "n_epochs": 2},
        eval_episodes=0,
    )
    train(config, out, progress_bar=False, checkpoint_every=0)
    return out


def test_eval_prints_a_table_and_writes_episodes_summary_and_video(cartpole_run, capsys):
    files = sorted(p.name for p in cartpole_run.iterdir())
    assert main(["eval", str(cartpole_run), "--episodes", "3", "--video-length", "40"]) == 0
    out = capsys.readouterr().out
    assert "true_return" in out and "shaping" in out and "mean" in out
    episodes = pd.read_csv(cartpole_run / "eval" / "episodes.csv")
    assert len(episodes) == 3
    assert {"episode", "true_return", "extrinsic", "shaping", "total", "length", "terminated"} <= set(episodes)
    assert (episodes["true_return"] == episodes["extrinsic"]).all()  # CartPole pays 1 per step
    assert (episodes["true_return"] == episodes["length"]).all()
    summary = json.loads((cartpole_run / "eval" / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["deterministic"] is True
    assert summary["mean_true_return"] == pytest.approx(episodes["true_return"].mean())
    video = cartpole_run / "eval" / summary["video"]
    assert video.suffix == ".mp4" and video.stat().st_size > 1000
    assert sorted(p.name for p in cartpole_run.iterdir()) == sorted([*files, "eval"])  # the run is untouched


def test_evaluation_is_seeded_and_falls_back_to_gif(cartpole_run, tmp_path, monkeypatch):
    run = rl.load_run(cartpole_run)
    a = evaluate_run(run, episodes=2, seed=5, video_episodes=0)
    b = evaluate_run(run, episodes=2, seed=5, video_episodes=0)
    pd.testing.assert_frame_equal(a.episodes, b.episodes)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name))
    gif = evaluate_run(run, episodes=1, video_length=10, out=tmp_path)
    assert gif.video == tmp_path / "video.gif" and gif.video.stat().st_size > 100
