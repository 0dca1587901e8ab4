"""A resumed run is the same run: interrupted + resumed gives the uninterrupted run's reward_terms.csv, byte for
byte, and its final parameters (CartPole with PPO, Pendulum with SAC, a count bonus in both)."""

from __future__ import annotations

import warnings

import pytest
import torch
from interrupt import StopAt

import rewardlab as rl
from rewardlab.runs.checkpoint import latest_checkpoint
from rewardlab.runs.exact import RUN_STATE_FILE, not_exact, warn_not_exact
from rewardlab.train import RunConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _count(dims: list[int], cell: float) -> dict:
    return {"term": "count", "key": {"grid": {"dims": dims, "cell": cell}}, "weight": 0.01}


def _same_run(tmp_path, config: dict, every: int, stop: int) -> tuple:
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train(RunConfig(**config), whole, progress_bar=False, checkpoint_every=every)
    with pytest.raises(KeyboardInterrupt):
        train(RunConfig(**config), resumed, progress_bar=False, checkpoint_every=every, callback=StopAt(stop))
    checkpoint = latest_checkpoint(resumed)
    assert checkpoint.step < stop and (checkpoint.path / RUN_STATE_FILE).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exact resume says nothing
        train(RunConfig(**config), resumed, progress_bar=False, checkpoint_every=every, resume=True)
    assert (resumed / "reward_terms.csv").read_bytes() == (whole / "reward_terms.csv").read_bytes()
    a, b = rl.load_run(whole).model, rl.load_run(resumed).model
    for key, value in a.policy.state_dict().items():
        assert torch.equal(value, b.policy.state_dict()[key]), key
    return whole, resumed, checkpoint


def test_a_ppo_run_interrupted_and_resumed_is_the_uninterrupted_run(tmp_path):
    config = dict(env="CartPole-v1", reward=["extrinsic", _count([0, 2], 0.05)], steps=1024, n_envs=2,
                  hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 2}, eval_episodes=0)  # fmt: skip
    whole, resumed, checkpoint = _same_run(tmp_path, config, every=384, stop=700)
    assert checkpoint.step == 384
    counts = [rl.load_run(d).reward.state_dict()["count"]["global_counts"]["counts"] for d in (whole, resumed)]
    assert (counts[0] == counts[1]).all()


PREFERENCE = {"term": "preference", "budget": 30, "queries_per_update": 10, "segment_length": 10, "epochs": 2,
              "members": 2, "hidden": 16}  # a learned reward: the replay relabeler's state comes back too


PEBBLE = {**PREFERENCE, "pretrain_steps": 450}  # checkpoint while exploring, the switch after the resume


@pytest.mark.parametrize("learned", [[], [PREFERENCE], [PEBBLE]], ids=["count", "count+preference", "count+pebble"])
def test_a_sac_run_interrupted_and_resumed_is_the_uninterrupted_run(tmp_path, learned):
    reward = ["extrinsic", _count([0, 1], 0.1), *learned]
    config = dict(env="Pendulum-v1", reward=reward, algo="sac", steps=600, n_envs=2,
                  hyperparams={"learning_starts": 100, "batch_size": 32, "train_freq": 4, "gradient_steps": 1,
                               "normalize": True},
                  env_kwargs={"max_episode_steps": 60}, eval_episodes=0)  # fmt: skip
    whole, resumed, checkpoint = _same_run(tmp_path, config, every=200, stop=450)
    assert 200 <= checkpoint.step < 450
    a, b = rl.load_run(whole).model, rl.load_run(resumed).model
    assert torch.equal(a.log_ent_coef, b.log_ent_coef)
    if learned == [PEBBLE]:  # saved while exploring, switched to the learned reward after the resume
        state = rl.load_run(resumed).reward.state_dict()["preference"]
        assert checkpoint.step < PEBBLE["pretrain_steps"] <= state["env_steps"] and state["asked"] > 0


def test_envs_whose_state_cannot_be_saved_are_named():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    class Subprocesses(SubprocVecEnv):
        def __init__(self) -> None:  # no processes: only what not_exact looks at
            pass

    assert "other processes (Subprocesses)" in not_exact(Subprocesses())
    with pytest.warns(UserWarning, match="resume is not exact: its envs run in other processes"):
        warn_not_exact(Subprocesses(), {"exact": False})
    venv = rl.make_vec_env("CartPole-v1", 2, seed=0)
    assert not_exact(venv) is None
    with pytest.warns(UserWarning, match="not exact: its checkpoint was written by an older rewardlab"):
        warn_not_exact(venv, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_not_exact(venv, {"exact": True})
    venv.close()


def test_nethack_resume_is_named_not_exact():
    pytest.importorskip("minihack")
    venv = rl.make_vec_env("MiniHack-Room-Random-5x5-v0", 1, seed=0)
    try:
        assert "NLE" in not_exact(venv)
    finally:
        venv.close()
