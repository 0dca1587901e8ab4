"""rl.load_run: a finished run folder gives back its config, model, trained reward and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.cli.plot_cmd import _run_reward_env
from rewardlab.config.reward_config import build_reward, load_reward_spec
from rewardlab.runs import read_reward_state
from rewardlab.train import RunConfig, train


@pytest.fixture(scope="module")
def count_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "count"
    config = RunConfig(
        env="MountainCar-v0",
        reward=load_reward_spec("configs/mountaincar_count.yaml"),
        steps=2048,
        n_envs=4,
        hyperparams={"n_steps": 32},
        eval_episodes=1,
    )
    train(config, out, progress_bar=False, checkpoint_every=0)
    return out


def test_load_run_restores_the_trained_reward(count_run):
    run = rl.load_run(count_run)
    assert run.finished and not run.from_checkpoint and run.step >= 2048
    assert run.env_id == "MountainCar-v0" and run.config.steps == 2048
    assert run.vecnormalize is not None and run.model is not None
    count = run.reward.terms[1]
    assert len(count.global_counts) > 5 and not run.reward.training  # trained, and frozen for inspection
    saved = read_reward_state(count_run / "reward_state.pt")
    np.testing.assert_array_equal(saved["state"]["count"]["global_counts"]["counts"], count.global_counts.items()[1])
    assert saved["spec"] == run.config.reward
    fresh = build_reward(run.config.reward)
    assert len(fresh.terms[1].global_counts) == 0
    # the CLI's plot landscape --run / compare --run read the same trained reward
    reward, env, model, normalizer = _run_reward_env(str(count_run), None)
    assert env == "MountainCar-v0" and len(reward.terms[1].global_counts) == len(count.global_counts)
    assert normalizer is not None and model is not None


def test_run_env_stack_and_policy(count_run):
    run = rl.load_run(count_run)
    before = run.reward.state_dict()["count"]["global_counts"]["counts"].copy()
    venv = run.make_env(2, seed=3)
    obs = venv.reset()
    for _ in range(5):
        obs, _, _, infos = venv.step(run.model.predict(obs, deterministic=True)[0])
    assert {"extrinsic", "count", "extrinsic_reward"} <= set(infos[0]["rewardlab"])
    venv.close()
    raw = np.array([[-0.5, 0.0]], dtype=np.float32)
    assert run.predict(raw).shape == (1,)
    np.testing.assert_array_equal(run.reward.state_dict()["count"]["global_counts"]["counts"], before)


def test_compare_and_landscape_take_runs(count_run, tmp_path, capsys):
    assert main(["compare", "--run", str(count_run), "extrinsic", "--samples", "64", "--transitions", "64",
                 "--bootstrap", "0", "--out", str(tmp_path / "cmp")]) == 0
    assert "count" in capsys.readouterr().out
    assert main(["plot", "landscape", "--run", str(count_run), "--axes", "position", "velocity",
                 "--resolution", "8", "--steps", "20", "--out", str(tmp_path / "l.png")]) == 0
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_a_run_folder_without_reward_state_loads_untrained_with_a_warning(count_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(count_run, old)
    (old / "reward_state.pt").unlink()
    with pytest.warns(UserWarning, match="loaded untrained"):
        run = rl.load_run(old)
    assert len(run.reward.terms[1].global_counts) == 0
