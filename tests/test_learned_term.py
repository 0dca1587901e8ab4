"""The ``preference`` term: online loop in the wrapper, state round trip, run folders (resume), the CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from interrupt import StopAt

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.config.registry import ConfigError
from rewardlab.learned.preference import HumanTeacher, LabelStore, PreferenceReward
from rewardlab.runs.checkpoint import latest_checkpoint
from rewardlab.train import RunConfig, train

PREFERENCE = {"term": "preference", "budget": 60, "queries_per_update": 10, "segment_length": 10, "epochs": 5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(venv, steps: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    venv.reset()
    metrics = []
    for _ in range(steps):
        venv.step(rng.integers(0, 2, venv.num_envs))
        m = venv.engine.last_update_metrics
        if m and (not metrics or m is not metrics[-1]):
            metrics.append(m)
    return metrics


def _wrapped(term, n_envs=4, update_every=16, frames=None):
    venv = rl.make_vec_env("CartPole-v1", n_envs, seed=0, frames=frames)
    return rl.RewardVecWrapper(venv, term, update_every=update_every)


def test_the_term_asks_within_its_budget_and_fits_the_labels():
    term = PreferenceReward(budget=30, queries_per_update=8, segment_length=8, epochs=10, seed=0)
    venv = _wrapped(term)
    metrics = _run(venv, 16 * 6)
    assert [m["queries_asked"] for m in metrics] == [8, 16, 24, 30, 30, 30]
    assert metrics[-1]["labels"] <= 30 and metrics[-1]["label_accuracy"] > 0.8
    x = term.model.inputs(np.zeros((3, 4)), np.zeros(3, dtype=int), np.zeros((3, 4)))
    assert np.isfinite(term.model.reward(x)).all()
    venv.close()


def test_state_round_trip_restores_the_reward_and_continues_identically():
    a = PreferenceReward(budget=100, queries_per_update=6, segment_length=8, epochs=3, seed=1)
    venv = _wrapped(a)
    _run(venv, 16 * 3)
    state = a.state_dict()
    b = PreferenceReward(budget=100, queries_per_update=6, segment_length=8, epochs=3, seed=42)
    venv_b = _wrapped(b)
    b.load_state_dict(state)
    batch = rl.Transitions.from_arrays(np.random.default_rng(0).normal(size=(4, 4)), np.array([0, 1, 1, 0]),
                                       np.random.default_rng(1).normal(size=(4, 4)))  # fmt: skip
    np.testing.assert_array_equal(a.compute(batch), b.compute(batch))
    assert b.model.n_labels == a.model.n_labels == 18
    # the same next batch gives the same queries, labels and training in both
    more = _batch_of(venv, 16)
    ma, mb = a.update(more), b.update(more)
    assert ma == mb
    np.testing.assert_array_equal(a.compute(batch), b.compute(batch))
    venv.close()
    venv_b.close()


def _batch_of(venv, steps):
    """A step-major update batch of ``steps`` steps collected by hand."""
    batches = []
    rng = np.random.default_rng(5)
    obs = venv.venv.reset()
    for _ in range(steps):
        actions = rng.integers(0, 2, venv.num_envs)
        nxt, rewards, dones, infos = venv.venv.step(actions)
        batches.append(rl.Transitions.from_arrays(obs, actions, nxt, rewards, dones, np.zeros(venv.num_envs, bool)))
        obs = nxt
    return rl.Transitions.concatenate(batches)


def test_a_human_teacher_labels_clips_of_the_agent_rollouts(tmp_path):
    answers = []

    def user(clip, index, total):
        answers.append(clip)
        return ["left", "right", "equal"][index % 3]

    store = LabelStore(tmp_path / "labels.sqlite")
    term = PreferenceReward(teacher=HumanTeacher(store, ask=user), budget=4, queries_per_update=2, segment_length=5,
                            epochs=2)  # fmt: skip
    assert term.needs_frames
    venv = _wrapped(term, n_envs=2, update_every=8, frames=term.frame_settings)
    metrics = _run(venv, 8 * 3)
    assert len(answers) == 4 and all(p.exists() for p in answers)
    assert metrics[-1]["labels"] == 4 and store.counts()["answered"] == 4
    venv.close()


def test_bad_options_fail_with_one_line():
    with pytest.raises(ConfigError, match="one of \\['uniform', 'disagreement', 'entropy'\\]"):
        rl.build_reward({"term": "preference", "selection": "random"})
    with pytest.raises(ConfigError, match="human teacher needs a label store"):
        _wrapped(rl.build_reward({"term": "preference", "teacher": "human"}))


def test_a_run_with_the_preference_term_resumes_with_its_labels(tmp_path):
    out = tmp_path / "run"
    config = RunConfig(env="CartPole-v1", reward=[PREFERENCE], steps=3072, n_envs=4,
                       hyperparams={"n_steps": 64, "batch_size": 128, "n_epochs": 2}, eval_episodes=1)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress_bar=False, checkpoint_every=1024, callback=StopAt(2100))
    assert latest_checkpoint(out).step == 2048
    partial = rl.load_run(out)
    saved = partial.reward.state_dict()["preference"]
    assert saved["updates"] == 4 and saved["asked"] == 40 and len(saved["model"]["labels"]["labels"]) <= 40

    summary = train(config, out, progress_bar=False, checkpoint_every=1024, resume=True)
    assert summary["resumed_from"] == 2048 and summary["timesteps"] >= 3072
    final = rl.load_run(out).reward.state_dict()["preference"]
    assert final["updates"] == 6 and final["asked"] == 60  # two more updates on top of the restored four
    np.testing.assert_array_equal(final["model"]["labels"]["inputs_1"][:10], saved["model"]["labels"]["inputs_1"][:10])


def test_rewardlab_train_runs_the_preference_loop_from_the_cli(tmp_path):
    out = tmp_path / "cli"
    config = Path(__file__).parents[1] / "configs" / "preference_cartpole.yaml"
    code = main(["train", "--env", "CartPole-v1", "--reward", str(config), "--steps", "2048", "--n-envs", "4",
                 "--hp", "batch_size=128", "--eval-episodes", "1", "--no-progress", "--out", str(out)])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timesteps"] >= 2048
    progress = pd.read_csv(out / "progress.csv")
    labels = progress["reward_update/preference/labels"].dropna()
    assert labels.iloc[-1] == 80  # four updates of 20 queries (the oracle never skips)
    assert (out / "reward_state.pt").exists()
    assert rl.load_run(out).reward.state_dict()["preference"]["model"]["labels"]["labels"].shape == (80,)


def test_a_human_teacher_in_a_training_run_keeps_its_labels_in_the_run_folder(tmp_path, monkeypatch, capsys):
    replies = iter(["l", "r", "e", "s"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(replies))
    monkeypatch.setattr("sys.stdin", type("Terminal", (), {"closed": False, "isatty": lambda self: True})())
    human = {"term": "preference", "teacher": "human", "budget": 4, "queries_per_update": 4, "segment_length": 5,
             "epochs": 2}  # fmt: skip
    config = RunConfig(env="CartPole-v1", reward=[human], steps=256, n_envs=2,
                       hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 1}, eval_episodes=0)  # fmt: skip
    train(config, tmp_path / "run", progress_bar=False)
    store = LabelStore(tmp_path / "run" / "labels.sqlite")
    assert store.counts() == {"asked": 4, "answered": 4, "left": 1, "right": 1, "equal": 1, "skip": 1}
    assert len(list((tmp_path / "run" / "clips").glob("*.gif"))) == 4
    assert "clip:" in capsys.readouterr().out
    assert rl.load_run(tmp_path / "run").reward.state_dict()["preference"]["model"]["labels"]["labels"].shape == (3,)


def test_image_observations_train_a_cnn_ensemble_through_the_term():
    import gymnasium as gym

    from rewardlab.core.env_info import EnvInfo

    space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
    term = PreferenceReward(budget=8, queries_per_update=8, segment_length=4, epochs=2, members=2, hidden=16,
                            selection="uniform")
    term.bind(EnvInfo(None, space, gym.spaces.Discrete(2), n_envs=2))
    rng = np.random.default_rng(0)
    steps = 16
    obs = rng.integers(0, 256, (steps * 2, 16, 16, 3), dtype=np.uint8)
    rewards = obs.mean(axis=(1, 2, 3)) / 255  # brighter is better
    batch = rl.Transitions.from_arrays(obs, rng.integers(0, 2, steps * 2), obs, rewards)
    metrics = term.update(batch)
    assert term.model.ensemble.image and metrics["labels"] == 8 and np.isfinite(metrics["bt_loss"])
    assert np.isfinite(term.compute(batch[:2])).all()


def test_an_off_policy_run_relabels_its_replay_buffer_with_the_learned_reward(tmp_path):
    hp = {"learning_starts": 100, "train_freq": 16, "gradient_steps": 1}
    config = RunConfig(env="CartPole-v1", algo="dqn", reward=[PREFERENCE], steps=1100, n_envs=4, hyperparams=hp,
                       eval_episodes=0)  # fmt: skip
    train(config, tmp_path / "run", progress_bar=False, checkpoint_every=0)
    progress = pd.read_csv(tmp_path / "run" / "progress.csv")
    assert progress["reward_update/relabelled_transitions"].max() > 0
    assert rl.load_run(tmp_path / "run").reward.state_dict()["preference"]["updates"] == 2


def test_pebble_pretraining_pays_state_entropy_and_asks_nothing_until_the_switch():
    """PEBBLE: for the first ``pretrain_steps`` the reward is log(1 + k-th NN distance) / σ over the states seen,
    no query is asked; the first update at or past ``pretrain_steps`` asks and the reward becomes the model's."""
    term = PreferenceReward(budget=20, queries_per_update=5, segment_length=5, epochs=2, pretrain_steps=192,
                            pretrain_k=3, seed=0)  # fmt: skip
    venv = _wrapped(term)  # 4 envs, an update every 16 steps: 64 transitions per update
    first = _run(venv, 16 * 2)
    assert [m["pretraining"] for m in first] == [1.0, 1.0] and first[-1]["queries_asked"] == 0
    assert term.pretraining and term.entropy.size == 128 and term.model.n_labels == 0
    stored = term.entropy.data[:128]
    rng = np.random.default_rng(3)
    probe = np.concatenate([stored[:4] + 0.01 * rng.normal(size=(4, 4)), stored[:4] + 5.0])
    batch = rl.Transitions.from_arrays(probe, np.zeros(8, dtype=int), probe)
    dist = np.linalg.norm(probe[:, None, :] - stored[None, :, :], axis=-1)
    raw = np.log(1.0 + np.sort(dist, axis=1)[:, 2])  # the 3rd nearest
    assert 0.0 < term.entropy.std != 1.0
    np.testing.assert_allclose(term.compute(batch), raw / term.entropy.std, rtol=1e-6)
    assert term.compute(batch)[4:].min() > term.compute(batch)[:4].max()  # far from what it saw: more reward
    # the saved state gives the same entropy reward in a fresh term
    copy = PreferenceReward(budget=20, queries_per_update=5, segment_length=5, epochs=2, pretrain_steps=192,
                            pretrain_k=3, seed=9)  # fmt: skip
    copy_venv = _wrapped(copy)
    copy.load_state_dict(term.state_dict())
    np.testing.assert_array_equal(copy.compute(batch), term.compute(batch))
    after = _run(venv, 16)  # a fresh reset, one more update: 192 steps seen, the switch
    assert after[-1]["pretraining"] == 0.0 and after[-1]["queries_asked"] == 5 and term.model.n_labels == 5
    assert not term.pretraining
    model = term.model
    np.testing.assert_array_equal(term.compute(batch), model.reward(model.inputs(probe, np.zeros(8, int), probe)))
    venv.close()
    copy_venv.close()


def test_bad_pebble_options_fail_with_one_line():
    with pytest.raises(ConfigError, match="pretrain_steps must be >= 0"):
        rl.build_reward({"term": "preference", "pretrain_steps": -1})
    with pytest.raises(ConfigError, match="pretrain_k <= pretrain_buffer"):
        rl.build_reward({"term": "preference", "pretrain_k": 10, "pretrain_buffer": 5})
