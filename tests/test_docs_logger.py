"""The README's promise: per-term logging is visible, or RewardLogger says once where its output goes."""

from __future__ import annotations

import rewardlab as rl


def _learn(capsys, **ppo_kwargs):
    from stable_baselines3 import PPO

    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), rl.extrinsic() + rl.constant(0.1))
    PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, **ppo_kwargs).learn(
        128, callback=rl.RewardLogger()
    )
    return capsys.readouterr()


def test_silent_logger_says_once_what_to_add(capsys):
    out = _learn(capsys, verbose=0)
    notes = [line for line in out.err.splitlines() if line.startswith("RewardLogger:")]
    assert len(notes) == 1, out.err
    assert "verbose=1" in notes[0] and "tensorboard_log" in notes[0] and "reward_terms.csv" in notes[0]


def test_verbose_run_shows_every_term_and_says_where_the_csv_goes(capsys):
    out = _learn(capsys, verbose=1)
    assert "reward/constant" in out.out and "reward/extrinsic" in out.out and "true_return" in out.out
    assert "verbose=1" not in out.err  # the table is visible: no advice about it
    assert "per-episode CSV: " in out.err


def test_logger_with_a_folder_writes_the_csv_there(capsys, tmp_path):
    out = _learn(capsys, verbose=0, tensorboard_log=str(tmp_path))
    assert "verbose=1" not in out.err  # TensorBoard shows the terms
    assert list(tmp_path.rglob("reward_terms.csv")), "the per-episode CSV is written beside the TensorBoard logs"
    assert str(tmp_path) in out.err
