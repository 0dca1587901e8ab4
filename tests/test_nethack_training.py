"""Short PPO runs on MiniHack and NetHack with exploration bonuses, through the reward wrappers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rewardlab.agents import hyperparams
from rewardlab.envs import make_env
from stable_baselines3.common.env_checker import check_env

import rewardlab as rl
from rewardlab.bonus import count
from rewardlab.policies.nethack import NetHackExtractor
from rewardlab.train import RunConfig, build_run, train

torch.set_num_threads(1)


def test_agent_presets_use_the_nethack_extractor():
    for family, glyphs in [("minihack", ["glyphs_crop"]), ("nethack", ["glyphs"])]:
        for algo in ("ppo", "a2c"):
            hp = hyperparams(algo, "x", family)
            assert hp["policy"] == "MultiInputPolicy"
            assert hp["policy_kwargs"]["features_extractor_class"] == "rewardlab.policies.nethack:NetHackExtractor"
            assert hp["policy_kwargs"]["features_extractor_kwargs"]["glyph_keys"] == glyphs


def test_reward_wrapper_on_minihack_passes_sb3_check_env():
    env = rl.RewardWrapper(make_env("MiniHack-Room-Random-5x5-v0"), rl.extrinsic() + 0.1 * count("position"))
    check_env(env, warn=False)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    step = info["rewardlab"]
    assert reward == pytest.approx(step["extrinsic"] + step["count"])
    assert 0 < step["count"] <= 0.1


def test_position_count_bonus_on_minihack_is_one_over_sqrt_of_visits():
    venv = rl.RewardVecWrapper(rl.make_vec_env("MiniHack-Room-Random-5x5-v0", n_envs=2, seed=1), count("position"))
    venv.reset()
    seen: dict[tuple[int, int], int] = {}
    west = np.array([3, 3])  # walk into the west wall: the hero soon stops moving and its count grows
    for _ in range(8):
        obs, _, dones, infos = venv.step(west)
        assert not dones.any()
        for i, (x, y) in enumerate(obs["blstats"][:, :2]):
            seen[(x, y)] = seen.get((x, y), 0) + 1
            assert infos[i]["rewardlab"]["count"] == pytest.approx(1 / np.sqrt(seen[(x, y)]))
    assert max(seen.values()) >= 4
    venv.close()


def test_ppo_on_minihack_with_a_count_bonus_writes_a_run(tmp_path):
    config = RunConfig(
        env="MiniHack-Room-Random-5x5-v0",
        reward=["extrinsic", {"term": "count", "key": "position", "mode": "product", "weight": 0.01}],
        steps=512,
        n_envs=4,
        eval_episodes=2,
        hyperparams={"n_steps": 64, "batch_size": 128, "n_epochs": 1},
    )
    summary = train(config, tmp_path, progress_bar=False)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["steps"] == 512 and summary["train_episodes"] > 0
    header = (tmp_path / "reward_terms.csv").read_text().splitlines()[0].split(",")
    assert {"extrinsic", "count", "true_return"} <= set(header)


def test_ppo_on_nethack_score_with_a_position_bonus_learns_from_its_rollouts():
    reward = rl.extrinsic() + 0.01 * count("position", mode="episodic")
    config = RunConfig(
        env="NetHackScore-v0",
        reward=reward,
        steps=256,
        n_envs=2,
        hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 1},
    )
    model, venv, hp = build_run(config)
    assert isinstance(model.policy.features_extractor, NetHackExtractor)
    assert model.policy.features_extractor.message is not None  # nethack preset reads messages
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(256)
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, model.policy.parameters())]
    assert all(changed)
    venv.close()


def test_e3b_with_a_nethack_encoder_trains_online_on_minihack():
    from rewardlab.bonus.e3b import E3B

    venv = rl.make_vec_env("MiniHack-Room-Random-5x5-v0", n_envs=2, seed=0)
    torch.manual_seed(0)
    encoder = NetHackExtractor(venv.observation_space, glyph_keys=["glyphs_crop"], features_dim=8, glyph_dim=16)
    e3b = E3B(encoder=encoder, seed=0)  # the inverse-dynamics head sizes itself from the 8-dim output
    venv = rl.RewardVecWrapper(venv, rl.extrinsic() + 0.01 * e3b, update_every=16)
    venv.reset()
    rng = np.random.default_rng(0)
    values = []
    for _ in range(32):
        _, _, _, infos = venv.step(rng.integers(0, 8, size=2))
        values.append(infos[0]["rewardlab"]["e3b"])
    assert np.isfinite(values).all() and min(values) > 0
    loss = venv.engine.last_update_metrics["e3b/inverse_dynamics_loss"]
    assert 0 < loss < 10
    venv.close()


def test_message_count_on_nethack_counts_identical_message_lines_per_episode():
    venv = rl.make_vec_env("NetHackScore-v0", n_envs=1, seed=0)
    venv = rl.RewardVecWrapper(venv, count("message", mode="episodic"))
    venv.reset()
    seen: dict[bytes, int] = {}
    search = 22  # Command.SEARCH ("s"): stay in place, mostly an empty message line, so the count of b"" keeps growing
    for _ in range(6):
        obs, _, dones, infos = venv.step(np.array([search]))
        assert not dones.any()
        line = obs["message"][0].tobytes()
        seen[line] = seen.get(line, 0) + 1
        assert infos[0]["rewardlab"]["count"] == pytest.approx(1 / np.sqrt(seen[line]))
    assert max(seen.values()) >= 3
    venv.close()
