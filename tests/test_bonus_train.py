"""Short PPO runs with exploration bonuses: with the extrinsic reward, intrinsic only, and a learning bonus."""

import json

import pandas as pd
import pytest

from rewardlab.cli.main import main
from rewardlab.train import RunConfig, train

COUNT = {"term": "count", "key": {"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}}, "weight": 0.5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ppo_with_a_count_bonus_runs_and_logs_it(tmp_path):
    config = RunConfig(env="MountainCar-v0", reward=["extrinsic", COUNT], steps=1024, n_envs=4, eval_episodes=1)
    summary = train(config, tmp_path, progress_bar=False)
    assert summary["train_episodes"] == 4  # 256 steps per env: one 200-step episode each
    terms = pd.read_csv(tmp_path / "reward_terms.csv")
    assert {"extrinsic", "count", "true_return"} <= set(terms.columns)
    assert (terms["true_return"] == -200).all()  # a 1k-step random-ish policy never reaches the flag
    assert (terms["count"] > 0).all() and (terms["count"] <= 0.5 * 200).all()


def test_intrinsic_only_reward_trains_from_the_cli(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--env",
            "MountainCar-v0",
            "--reward",
            "{term: count, key: {name: simhash, bits: 16}, mode: episodic}",
            "--steps",
            "1024",
            "--n-envs",
            "4",
            "--eval-episodes",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    terms = pd.read_csv(out / "reward_terms.csv")
    # the true return is logged although the agent never sees it
    assert -200 <= summary["eval_true_return"] < 0 and (terms["true_return"] == -terms["length"]).all()
    assert list(terms.columns[1:3]) == ["count", "true_return"]
    assert (terms["total"] == terms["count"]).all()


def test_ppo_with_e3b_updates_its_encoder(tmp_path):
    config = RunConfig(
        env="MountainCar-v0",
        reward=["extrinsic", {"term": "e3b", "weight": 0.01}],
        steps=1024,
        n_envs=4,
        eval_episodes=1,
    )
    train(config, tmp_path, progress_bar=False)
    progress = pd.read_csv(tmp_path / "progress.csv")
    assert progress["reward_update/e3b/inverse_dynamics_loss"].notna().any()
