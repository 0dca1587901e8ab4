"""Sweeps: unfinished runs continue from their checkpoints; inline reward strings as --reward takes them."""

from __future__ import annotations

import pytest
import yaml
from interrupt import StopAt

from rewardlab.config.registry import ConfigError
from rewardlab.sweep import load_spec
from rewardlab.sweep.execute import execute_run
from rewardlab.sweep.state import prepare_run_dir, read_status, resumable, run_state
from rewardlab.train import train

SHAPED = "[extrinsic, {term: potential, potential: cartpole_upright, gamma: 0.98}]"


def _spec(tmp_path, **changes):
    data = {
        "envs": ["CartPole-v1"],
        "rewards": {"shaped": SHAPED},
        "algos": {"ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}},
        "n_envs": 2,
        "steps": 768,
        "eval_episodes": 1,
        "out": str(tmp_path / "out"),
        **changes,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_inline_reward_strings_read_like_the_reward_option(tmp_path):
    spec = _spec(tmp_path)
    shaping = {"term": "potential", "potential": "cartpole_upright", "gamma": 0.98}
    assert spec.rewards["shaped"] == ["extrinsic", shaping]
    with pytest.raises(ConfigError, match=r"rewards\[bad\]: could not parse inline reward"):
        _spec(tmp_path, rewards={"bad": "[extrinsic, {term: potential"})


def test_an_unfinished_sweep_run_continues_from_its_checkpoint(tmp_path):
    (run,) = _spec(tmp_path).runs()
    run_dir = tmp_path / "out" / run.run_id
    prepare_run_dir(run_dir, run.config_hash)
    with pytest.raises(KeyboardInterrupt):
        train(run.config, run_dir, progress_bar=False, checkpoint_every=256, callback=StopAt(400))
    assert run_state(run_dir, run.config_hash) == "pending" and resumable(run_dir, run.config_hash)
    assert not resumable(run_dir, "another-hash")
    result = execute_run(run, run_dir)
    assert result.state == "done", result.error
    assert result.summary["resumed_from"] == 256 and result.summary["timesteps"] >= 768
    assert read_status(run_dir)["config_hash"] == run.config_hash and run_state(run_dir, run.config_hash) == "done"


def test_spec_hyper_parameter_values_are_checked_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match=r"algos\[ppo\]: ppo hyper-parameter 'gamma' must be in \[0, 1\], got 1.5"):
        _spec(tmp_path, algos={"ppo": {"gamma": 1.5}})
    search = {"mode": "grid", "params": {"n_steps": [64, 0]}}
    with pytest.raises(ConfigError, match=r"search.params.n_steps: ppo hyper-parameter 'n_steps' must be >= 1, got 0"):
        _spec(tmp_path, search=search)
