"""The command line: train writes a complete run folder; listings and errors are readable."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rewardlab.cli.main import main
from rewardlab.train import parse_steps


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--env",
            "MountainCar-v0",
            "--reward",
            "configs/mountaincar_shaped.yaml",
            "--steps",
            "3k",
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--eval-episodes",
            "2",
            "--hp",
            "n_steps=32",
            "--n-envs",
            "4",
        ]
    )
    assert code == 0
    for name in (
        "config.yaml",
        "progress.csv",
        "reward_terms.csv",
        "model.zip",
        "vecnormalize.pkl",
        "reward_terms.png",
        "summary.json",
    ):
        assert (out / name).exists(), name
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3000 and summary["seed"] == 1
    assert -200.0 <= summary["eval_true_return"] <= 0.0
    terms = pd.read_csv(out / "reward_terms.csv")
    assert {"extrinsic", "shaping", "true_return", "total"} <= set(terms.columns)
    assert (terms["extrinsic"] == terms["true_return"]).all()
    assert "n_steps: 32" in (out / "config.yaml").read_text()


def test_train_rejects_a_bad_reward_before_building_envs(tmp_path, capsys):
    code = main(
        ["train", "--env", "MountainCar-v0", "--reward", "[extrinsic, {term: potental}]", "--out", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown reward term 'potental' (did you mean 'potential'?)" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "MountainCar-v1"], "unknown environment 'MountainCar-v1'"),
        (["--env", "MountainCar-v0", "--algo", "ppo2"], "unknown algo 'ppo2'; valid: ppo, a2c, dqn, sac, td3"),
        (["--env", "MountainCar-v0", "--steps", "lots"], "cannot read a step count from 'lots'"),
    ],
)
def test_train_argument_errors(args, message, capsys, tmp_path):
    assert main(["train", *args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_listings(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "MountainCar-v0" in out and "rewardlab/SparseHalfCheetah-v5" in out
    assert main(["rewards", "--family", "shaping"]) == 0
    out = capsys.readouterr().out
    assert "potential" in out and "mountaincar_energy" in out


def test_parse_steps():
    assert parse_steps("200k") == 200_000
    assert parse_steps("1.5M") == 1_500_000
    assert parse_steps(5000) == 5000
