"""Options that save a user an edit: zoo schedules in --hp, sweep --steps/--seeds, env suggestions only when close."""

from __future__ import annotations

import argparse

import pytest

from rewardlab.cli.main import main
from rewardlab.cli.sweep_cmd import _spec, parse_seeds
from rewardlab.config.env_ids import close_env_id
from rewardlab.config.registry import ConfigError
from rewardlab.train import RunConfig, build_run, resolve_classes

IDS = ["CartPole-v1", "MountainCar-v0", "Hopper-v5", "Walker2d-v5", "rewardlab/SparseHopper-v5"]


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("Nope-v0", None),  # shares only "-v" and two letters with Hopper-v5
        ("Foo-v1", None),
        ("Hoper-v5", "Hopper-v5"),
        ("CartPole-v0", "CartPole-v1"),
        ("mountaincar-v0", "MountainCar-v0"),
        ("rewardlab/SparseHoper-v5", "rewardlab/SparseHopper-v5"),
    ],
)
def test_env_suggestions_only_when_the_name_is_close(typed, expected):
    assert close_env_id(typed, IDS) == expected


def test_zoo_linear_schedule_reaches_the_model(tmp_path):
    schedule = resolve_classes({"learning_rate": "lin_0.001"})["learning_rate"]
    assert [schedule(p) for p in (1.0, 0.5, 0.0)] == pytest.approx([1e-3, 5e-4, 0.0])
    config = RunConfig(env="CartPole-v1", reward="extrinsic", steps=64, n_envs=2,
                       hyperparams={"learning_rate": "lin_0.001", "n_steps": 32, "batch_size": 32})  # fmt: skip
    config.validate()
    model, venv, _ = build_run(config, run_dir=tmp_path)
    venv.close()
    assert model.lr_schedule(0.5) == pytest.approx(5e-4)


@pytest.mark.parametrize("bad", ["lin_fast", "exp_0.1", "lin_-0.1"])
def test_bad_schedule_is_one_line(bad, capsys):
    code = main(["train", "--env", "CartPole-v1", "--hp", f"learning_rate={bad}", "--out", "unused"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "learning_rate" in err


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("[5]") == [5]
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds("a,b")
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds("0")


SPEC = """
name: quick
out: {out}
envs: [CartPole-v1]
rewards: {{plain: extrinsic}}
seeds: 3
steps: 100k
"""


def test_sweep_overrides_steps_and_seeds_into_their_own_folder(tmp_path):
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(SPEC.format(out=tmp_path / "sw"))
    args = argparse.Namespace(steps="2k", seeds="2", out=None)
    spec = _spec(str(spec_file), args)
    assert spec.steps == 2000 and spec.seeds == [0, 1]
    assert spec.out == tmp_path / "sw-steps2k-seeds2"
    assert {r.config.steps for r in spec.runs()} == {2000} and len(spec.runs()) == 2
    kept = _spec(str(spec_file), argparse.Namespace(steps=None, seeds=None, out=None))
    assert kept.steps == 100_000 and kept.seeds == [0, 1, 2] and kept.out == tmp_path / "sw"
    mine = _spec(str(spec_file), argparse.Namespace(steps="1k", seeds=None, out=str(tmp_path / "mine")))
    assert mine.out == tmp_path / "mine"


def test_sweep_status_follows_the_overrides(tmp_path, capsys):
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(SPEC.format(out=tmp_path / "sw"))
    assert main(["sweep", "status", str(spec_file), "--seeds", "2", "--steps", "1k"]) == 0
    out = capsys.readouterr().out
    assert "2 runs pending" in out and "sw-steps1k-seeds2" in out


def test_a_far_env_id_gets_no_suggestion_and_a_close_one_does(capsys):
    assert main(["train", "--env", "Nope-v0", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "unknown environment 'Nope-v0'" in err and "did you mean" not in err
    assert main(["train", "--env", "Hoper-v5", "--out", "unused"]) == 2
    assert "did you mean 'Hopper-v5'?" in capsys.readouterr().err
