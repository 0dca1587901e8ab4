"""Malformed inputs through the CLI: one clear line, a non-zero exit code, no traceback (unless --debug)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab.cli.main import main

MC = ["train", "--env", "MountainCar-v0", "--steps", "256", "--no-progress", "--eval-episodes", "0"]


def _reward_file(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


# (command line, exit code, text the one line must contain); {tmp} is a fresh folder, {file} a plain file
CASES = {
    "hp_unknown": ([*MC, "--hp", "n_step=8"], 2, "unknown ppo hyper-parameter 'n_step' (did you mean 'n_steps'?)"),
    "hp_non_numeric": ([*MC, "--hp", "learning_rate=fast"], 2, "'learning_rate' must be a number or a linear schedule"),
    "hp_zero_n_steps": ([*MC, "--hp", "n_steps=0"], 2, "'n_steps' must be >= 1, got 0"),
    "hp_gamma_range": ([*MC, "--hp", "gamma=1.5"], 2, "'gamma' must be in [0, 1], got 1.5"),
    "hp_nan": ([*MC, "--hp", "learning_rate=.nan"], 2, "'learning_rate' must be finite"),
    "hp_no_value": ([*MC, "--hp", "=3"], 2, "--hp expects KEY=VALUE"),
    "n_envs_zero": ([*MC, "--n-envs", "0"], 2, "n_envs must be >= 1, got 0"),
    "n_envs_negative": ([*MC, "--n-envs", "-1"], 2, "n_envs must be >= 1, got -1"),
    "threads_negative": ([*MC, "--threads", "-1"], 2, "--threads must be >= 0"),
    "n_envs_text": ([*MC, "--n-envs", "many"], 2, "argument --n-envs: invalid int value: 'many'"),
    "sac_on_discrete": ([*MC, "--algo", "sac"], 2, "sac needs a Box action space but MountainCar-v0 has Discrete(3)"),
    "dqn_on_continuous": (
        ["train", "--env", "Pendulum-v1", "--algo", "dqn", "--steps", "256"],
        2,
        "dqn needs a Discrete action space but Pendulum-v1 has Box",
    ),
    "eval_episodes_negative": ([*MC[:-1], "-1"], 2, "eval_episodes must be an integer >= 0, got -1"),
    "yaml_syntax": ([*MC, "--reward", "{bad_yaml}"], 2, "could not parse reward file"),
    "empty_reward": ([*MC, "--reward", ""], 2, "the reward is empty"),
    "folder_as_reward": ([*MC, "--reward", "{tmp}"], 2, "is a folder"),
    "out_is_file": ([*MC, "--out", "{file}"], 2, "is a file; give a folder for --out"),
    "out_under_file": ([*MC, "--out", "{file}/run"], 2, "cannot create run folder"),
    "rnd_negative_lr": ([*MC, "--reward", "[{term: rnd, lr: -1}]"], 2, "reward term 'rnd': lr must be > 0, got -1.0"),
    "e3b_zero_embedding": ([*MC, "--reward", "[{term: e3b, embed_dim: 0}]"], 2, "embed_dim must be an integer >= 1"),
    "nan_constant": ([*MC, "--reward", "[extrinsic, {term: constant, value: .nan}]"], 2, "must be a finite number"),
    "inf_weight": ([*MC, "--reward", "[extrinsic, {term: constant, weight: .inf}]"], 2, "'weight' must be a finite"),
    "cell_list_short": (
        [*MC, "--reward", "[{term: count, key: {grid: {dims: [position, velocity], cell: [0.1]}}}]"],
        2,
        "grid has 2 dims ['position', 'velocity'] but 1 cell sizes",
    ),
    "grid_dim_misspelt": (
        [*MC, "--reward", "[{term: count, key: {grid: {dims: [positon, velocity]}}}]"],
        2,
        "no observation dimension 'positon' (did you mean 'position'?)",
    ),
    "potential_other_env": (
        [*MC, "--reward", "[extrinsic, {term: potential, potential: cartpole_upright}]"],
        2,
        "potential 'cartpole_upright' reads 'cart_position' at observation dimension 0, but MountainCar-v0 has",
    ),
    "goal_dim_out_of_range": (
        [*MC, "--reward", "[{term: potential, potential: {name: goal_distance, goal: [0.5], dims: [7]}}]"],
        2,
        "reads observation dimension 7 but MountainCar-v0 has 2-dim observations (position, velocity)",
    ),
    "checkpoint_every_negative": ([*MC, "--checkpoint-every", "-5"], 2, "cannot read a step count from '-5'"),
    "resume_missing": (["train", "--resume", "{tmp}/nothing"], 2, "is not a run folder: it has no config.yaml"),
    "resume_with_env": (["train", "--resume", "{tmp}", "--env", "CartPole-v1"], 2, "drop --env"),
    "resume_and_overwrite": (["train", "--resume", "{tmp}", "--overwrite"], 2, "drop --overwrite"),
    "no_env": (["train"], 2, "give --env"),
    "sweep_workers_negative": (["sweep", "{spec}", "--workers", "-2"], 2, "workers must be an integer >= 1, got -2"),
    "sweep_workers_zero": (["sweep", "{spec}", "--workers", "0"], 2, "workers must be an integer >= 1, got 0"),
    "eval_missing_run": (["eval", "{tmp}/nothing"], 2, "does not exist"),
    "eval_no_episodes": (["eval", "{tmp}", "--episodes", "0"], 2, "--episodes must be >= 1"),
    "compare_one_reward": (["compare", "extrinsic", "--env", "MountainCar-v0", "--out", "{tmp}/c"], 2, "at least two"),
    "compare_unknown_env": (
        ["compare", "extrinsic", "[{term: constant}]", "--env", "MountainCar-v9", "--out", "{tmp}/c"],
        2,
        "unknown environment 'MountainCar-v9' (did you mean 'MountainCar-v0'?)",
    ),
    "landscape_on_dict_observations": (
        ["plot", "landscape", "--reward", "extrinsic", "--env", "NetHackScore-v0", "--out", "{tmp}/l.png"],
        2,
        "landscapes need flat Box observations",
    ),
    "rnd_field_on_arrays": ([*MC, "--reward", "[{term: rnd, field: message}]"], 2, "reads observation field 'message'"),
    "policy_unknown": ([*MC, "--hp", "policy=MlpPolicyy"], 2, "'MlpPolicyy' is unknown (did you mean 'MlpPolicy'?)"),
    "policy_kwargs_rejected": ([*MC, "--hp", "policy_kwargs={net_arch: 5}"], 2, "ppo rejects its hyper-parameters"),
    "rewards_family": (["rewards", "--family", "bonuses"], 2, "family 'bonuses' (did you mean 'bonus'?)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_gives_one_clear_line(case, tmp_path, capsys):
    argv, code, message = CASES[case]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    spec = _reward_file(tmp_path, "spec.yaml", "envs: [CartPole-v1]\nrewards: [extrinsic]\nsteps: 64\n")
    bad_yaml = _reward_file(tmp_path, "bad.yaml", "reward:\n  - extrinsic\n  - {term: potential\n")
    values = {"tmp": str(tmp_path), "file": str(plain), "spec": spec, "bad_yaml": bad_yaml}
    for name, value in values.items():
        argv = [a.replace(f"{{{name}}}", value) for a in argv]
    try:
        got = main(argv)
    except SystemExit as exit_:  # argparse
        got = exit_.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert got == code, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("rewardlab") and ": error: " in lines[0]
    assert message in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("boom", "RewardFunctionError: reward function 'boom' raised ZeroDivisionError: integer division or modulo"),
        ("nan_reward", "NonFiniteRewardError: non-finite reward from 'nan_reward' in envs"),
        ("wrong_shape", "reward term 'wrong_shape' (FunctionTerm) returned shape (17,); expected one float per env"),
    ],
)
def test_a_reward_failing_in_training_marks_the_run_failed(fn, message, tmp_path, capsys):
    out = tmp_path / "run"
    reward = f"[extrinsic, {{term: function, fn: 'reward_fns:{fn}'}}]"
    assert main([*MC, "--reward", reward, "--out", str(out)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rewardlab: error: training failed: "), lines
    assert message in lines[0] and str(out / "error.txt") in lines[0]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and message in status["error"]
    assert "Traceback" in (out / "error.txt").read_text()
    # the failed run is kept, and a new run into its folder is refused until --overwrite
    assert main([*MC, "--out", str(out)]) == 2
    assert "already holds a failed run" in capsys.readouterr().err


def test_debug_shows_the_traceback_and_shutdown_is_clean(tmp_path):
    """Through a real process: one line without --debug, the traceback with it, no error at interpreter exit."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    reward = "[extrinsic, {term: constant, value: 1, weight: 1}, {term: function, fn: 'reward_fns:nan_reward'}]"
    cmd = [sys.executable, "-m", "rewardlab.cli.main", *MC, "--reward", reward, "--out", str(tmp_path / "a")]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 1
    assert plain.stderr.strip().splitlines() == [plain.stderr.strip()], plain.stderr
    assert "non-finite reward" in plain.stderr and "Traceback" not in plain.stderr
    assert "meta_path" not in plain.stderr + plain.stdout
    debug = subprocess.run(
        [*cmd[:-1], str(tmp_path / "b"), "--debug"], capture_output=True, text=True, env=env, timeout=300
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "NonFiniteRewardError" in debug.stderr
    assert "meta_path" not in debug.stderr
