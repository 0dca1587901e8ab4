"""rl-baselines3-zoo natively: a reward spec in the zoo's YAML, python -m rl_zoo3.train, rewardlab reads the run."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import yaml

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.zoo import RewardCallback, RewardVecWrapper, RewardWrapper, stateful_terms

REPO = Path(__file__).resolve().parents[1]
COUNT = {"term": "count", "weight": 0.1, "key": {"grid": {"dims": [0, 2], "cell": [0.5, 0.1]}}}
ZOO_CONFIG = {
    "CartPole-v1": {
        "n_envs": 2,
        "n_timesteps": 512,
        "policy": "MlpPolicy",
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 1,
        "learning_rate": "lin_0.001",
        "vec_env_wrapper": [{"rewardlab.zoo.RewardVecWrapper": {"reward": ["extrinsic", COUNT]}}],
        "callback": ["rewardlab.zoo.RewardCallback"],
    }
}


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    """A run trained by ``python -m rl_zoo3.train`` with a global count bonus from the zoo's YAML."""
    work = tmp_path_factory.mktemp("zoo")
    (work / "zoo.yml").write_text(yaml.safe_dump(ZOO_CONFIG))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "CartPole-v1", "-conf", "zoo.yml",
               "--eval-freq", "-1", "-f", "logs", "--seed", "3", "--verbose", "0"]  # fmt: skip
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "logs" / "ppo" / "CartPole-v1_1", done.stdout


def test_the_zoo_trains_with_the_reward_and_leaves_a_rewardlab_run(zoo_run):
    folder, stdout = zoo_run
    assert (folder / "CartPole-v1.zip").exists()  # the zoo's own model, beside ours
    assert f"rewardlab: run folder {Path('logs/ppo/CartPole-v1_1')}" in stdout
    run = rl.load_run(folder)
    assert run.env_id == "CartPole-v1" and run.config.algo == "ppo" and run.config.seed == 3
    assert run.config.reward == ["extrinsic", COUNT]
    counts = run.reward.state_dict()["count"]["global_counts"]["counts"]
    assert counts.sum() == 512  # one count for all envs: every transition of the 2 envs
    terms = pd.read_csv(folder / "reward_terms.csv")
    assert {"true_return", "extrinsic", "count", "total"} <= set(terms.columns) and len(terms) > 5
    assert (terms["count"] > 0).all()


def test_rewardlab_evaluates_and_plots_a_zoo_run(zoo_run, tmp_path, capsys):
    folder, _ = zoo_run
    assert main(["eval", str(folder), "--episodes", "2", "--video-episodes", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "count" in out and "true_return" in out
    assert main(["plot", "curves", str(folder), "--smooth", "2", "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_zoo_wrapper_loader_builds_our_wrappers_from_yaml():
    from rl_zoo3.utils import get_callback_list, get_wrapper_class
    from stable_baselines3.common.env_util import make_vec_env

    spec = [{"rewardlab.zoo.RewardWrapper": {"reward": ["extrinsic", {"term": "constant", "value": 0.5}]}}]
    env = get_wrapper_class({"env_wrapper": spec})(gym.make("CartPole-v1"))
    env.reset(seed=0)
    assert env.step(0)[1] == pytest.approx(1.5)
    venv = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    spec = [{"rewardlab.zoo.RewardVecWrapper": {"reward": "[extrinsic, {term: constant, value: -1.0}]"}}]
    venv = get_wrapper_class({"vec_env_wrapper": spec}, "vec_env_wrapper")(venv)
    venv.reset()
    assert np.allclose(venv.step(np.zeros(2, dtype=int))[1], 0.0)
    venv.close()
    (callback,) = get_callback_list({"callback": [{"rewardlab.zoo.RewardCallback": {"window": 10}}]})
    assert isinstance(callback, RewardCallback) and callback.window == 10


def test_env_wrapper_warns_when_each_env_would_keep_its_own_state(recwarn):
    with pytest.warns(UserWarning, match="vec_env_wrapper"):
        RewardWrapper(gym.make("CartPole-v1"), reward=["extrinsic", COUNT])
    warnings.simplefilter("error")  # a reward without state across episodes is fine per env
    RewardWrapper(gym.make("CartPole-v1"), reward=["extrinsic", {"term": "potential", "potential": "cartpole_upright"}])


def test_stateful_terms_names_counts_and_running_statistics():
    def names(spec):
        term = rl.build_reward(spec)
        RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1, seed=0), reward=term)  # binds it
        return stateful_terms(term)

    assert names(["extrinsic", {"term": "potential", "potential": "cartpole_upright"}]) == []
    assert names(["extrinsic", COUNT]) == ["count"]
    assert names([{"term": "normalize", "of": "extrinsic"}]) != []


def test_a_bad_reward_in_the_zoo_yaml_is_one_clear_error():
    with pytest.raises(rl.ConfigError, match="unknown reward term 'cuont'"):
        RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1, seed=0), reward=["extrinsic", {"term": "cuont"}])


def test_callback_outside_the_zoo_writes_a_run_from_per_env_wrappers(tmp_path, capsys):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    shaping = {"term": "potential", "potential": "cartpole_upright", "gamma": 0.98}
    venv = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardWrapper,
                        wrapper_kwargs={"reward": ["extrinsic", shaping]})  # fmt: skip
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=5, device="cpu")
    model.learn(128, callback=RewardCallback(save_path=str(tmp_path / "run")))
    assert "rewardlab: run folder" in capsys.readouterr().out
    run = rl.load_run(tmp_path / "run")
    assert run.env_id == "CartPole-v1" and run.config.seed == 5 and run.step == 128
    assert run.config.reward == ["extrinsic", shaping]
    assert set(pd.read_csv(tmp_path / "run" / "reward_terms.csv").columns) >= {"extrinsic", "shaping", "true_return"}
