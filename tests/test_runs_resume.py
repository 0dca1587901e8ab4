"""Checkpoints and resume: a killed or interrupted run continues to its full step count, logs appended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from interrupt import StopAt
from stable_baselines3.common.callbacks import BaseCallback

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.config.registry import ConfigError
from rewardlab.runs.checkpoint import latest_checkpoint, read_vecnormalize
from rewardlab.runs.folder import read_status, run_lock
from rewardlab.train import RunConfig, train

COUNT = {"term": "count", "key": {"grid": {"dims": [0, 2], "cell": 0.05}}, "weight": 0.01}


def _wait_for(predicate, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_killed_between_checkpoints_resumes_to_the_full_step_count(tmp_path):
    out = tmp_path / "run"
    reward = json.dumps(["extrinsic", {"term": "function", "fn": "reward_fns:slow"}, COUNT])
    cmd = [
        sys.executable, "-m", "rewardlab.cli.main", "train", "--env", "CartPole-v1", "--reward", reward,
        "--steps", "4096", "--n-envs", "4", "--hp", "n_steps=64", "--hp", "n_epochs=2",
        "--checkpoint-every", "1024", "--eval-episodes", "1", "--out", str(out), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: latest_checkpoint(out) is not None or proc.poll() is not None)
    finally:
        proc.send_signal(signal.SIGKILL)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == -signal.SIGKILL, output  # killed mid-run, not finished
    checkpoint = latest_checkpoint(out)
    assert 1024 <= checkpoint.step < 4096
    assert read_status(out)["state"] == "running" and not (out / "summary.json").exists()
    episodes_before = pd.read_csv(out / "reward_terms.csv")
    kept = episodes_before[episodes_before["timestep"] <= checkpoint.step]

    assert main(["train", "--resume", str(out), "--no-progress"]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] == checkpoint.step and summary["timesteps"] >= 4096
    assert read_status(out)["state"] == "done" and latest_checkpoint(out) is None
    episodes = pd.read_csv(out / "reward_terms.csv")
    assert episodes["timestep"].is_monotonic_increasing and len(episodes) == summary["train_episodes"]
    pd.testing.assert_frame_equal(episodes.iloc[: len(kept)], kept)  # appended, not restarted
    progress = pd.read_csv(out / "progress.csv")
    steps = progress["time/total_timesteps"]
    assert steps.is_monotonic_increasing and steps.is_unique and steps.iloc[-1] >= 4096
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 2
    # the count table came back from the checkpoint: every env step was counted exactly once
    run = rl.load_run(out)
    counts = run.reward.state_dict()["count"]["global_counts"]["counts"]
    assert counts.sum() == run.step == summary["timesteps"]
    # and the killed + resumed run is the uninterrupted one (exact resume: see test_runs_exact_resume.py)
    whole = tmp_path / "whole"
    assert main([*cmd[3:-3], "--out", str(whole), "--no-progress"]) == 0
    assert (whole / "reward_terms.csv").read_bytes() == (out / "reward_terms.csv").read_bytes()
    params = rl.load_run(whole).model.policy.state_dict()
    assert all(np.array_equal(v, run.model.policy.state_dict()[k]) for k, v in params.items())


class _Record(BaseCallback):
    """What the resumed model starts from."""

    seen: dict = {}

    def _on_training_start(self) -> None:
        env = self.training_env
        _Record.seen = {
            "steps": self.num_timesteps,
            "buffer": self.model.replay_buffer.size(),
            "obs_count": env.obs_rms.count,
            "obs_mean": env.obs_rms.mean.copy(),
        }

    def _on_step(self) -> bool:
        return True


def test_interrupted_off_policy_run_resumes_replay_buffer_and_normalisation(tmp_path):
    out = tmp_path / "dqn"
    config = RunConfig(
        env="CartPole-v1",
        reward=["extrinsic", COUNT],
        algo="dqn",
        steps=1200,
        n_envs=2,
        hyperparams={"learning_starts": 100, "normalize": True, "train_freq": 4, "gradient_steps": 1},
        eval_episodes=1,
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress_bar=False, checkpoint_every=400, callback=StopAt(900))
    assert read_status(out)["state"] == "interrupted"
    checkpoint = latest_checkpoint(out)
    assert checkpoint.step == 800 and (checkpoint.path / "replay_buffer.pkl").exists()
    partial = rl.load_run(out)  # an unfinished run loads from its checkpoint
    assert partial.from_checkpoint and partial.step == 800 and not partial.finished
    saved_norm = read_vecnormalize(checkpoint.path / "vecnormalize.pkl").obs_rms

    summary = train(config, out, progress_bar=False, checkpoint_every=400, resume=True, callback=_Record())
    seen = _Record.seen
    assert seen["steps"] == 800 and seen["buffer"] == 800 // 2
    assert seen["obs_count"] == saved_norm.count  # restored; the envs continue where they were: no reset
    np.testing.assert_array_equal(seen["obs_mean"], saved_norm.mean)
    assert summary["timesteps"] >= 1200 and summary["resumed_from"] == 800
    assert rl.load_run(out).reward.state_dict()["count"]["global_counts"]["counts"].sum() == summary["timesteps"]


def test_run_folders_are_never_mixed(tmp_path):
    out = tmp_path / "run"
    config = RunConfig(
        env="CartPole-v1", steps=256, n_envs=2, hyperparams={"n_steps": 32, "batch_size": 64}, eval_episodes=0
    )
    first = train(config, out, progress_bar=False)
    with pytest.raises(ConfigError, match="already holds a finished run; pass --overwrite"):
        train(config, out, progress_bar=False)
    assert train(config, out, progress_bar=False, resume=True) == first  # finished: nothing to do
    other = RunConfig(**{**config.__dict__, "seed": 1})
    with pytest.raises(ConfigError, match="trained with a different seed"):
        train(other, out, progress_bar=False, resume=True)
    rows = len(pd.read_csv(out / "reward_terms.csv"))
    train(other, out, progress_bar=False, overwrite=True)
    assert len(pd.read_csv(out / "reward_terms.csv")) <= rows + 1 and rl.load_run(out).config.seed == 1
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not empty and is not a run folder"):
        train(config, tmp_path / "notes", progress_bar=False, overwrite=True)
    with run_lock(out), pytest.raises(ConfigError, match="another process .* is training"):
        train(config, out, progress_bar=False, resume=True)
