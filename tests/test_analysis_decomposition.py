"""Rollouts with per-step components, shares of the return, learning curves across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import rewardlab as rl
from rewardlab.analysis import episode_terms, learning_curves, rollout, term_shares


def test_rollout_records_components_by_episode():
    reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    data = rollout("MountainCar-v0", reward, n_steps=250, n_envs=2, seed=0)
    assert data.transitions.n == 500
    assert data.names == ["extrinsic", "shaping"]
    assert data.n_episodes == 4  # one complete (200 steps) and one cut-off (50 steps) per env
    np.testing.assert_allclose(data.components["extrinsic"] + data.components["shaping"], data.components["total"])
    returns = data.episode_returns(data.components["extrinsic"])
    assert sorted(returns.tolist()) == [-200.0, -200.0, -50.0, -50.0]
    # the shaping recorded equals the shaping recomputed from the recorded transitions
    phi = rl.shaping.potential("mountaincar_energy").potential
    t = data.transitions
    expected = 0.99 * (1 - t.terminated) * phi(t.next_obs) - phi(t.obs)
    np.testing.assert_allclose(data.components["shaping"], expected, rtol=1e-6, atol=1e-9)
    df = episode_terms(data, 0)
    assert list(df.columns) == ["extrinsic", "shaping"] and df.index[0] == 0 and len(df) in (50, 200)
    with pytest.raises(ValueError, match="out of range"):
        episode_terms(data, 9)


def write_run(folder, rows):
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "reward_terms.csv", index=False)
    return folder


def test_term_shares_by_hand(tmp_path):
    run = write_run(
        tmp_path / "run",
        {
            "timestep": [100, 200],
            "a": [1.0, 3.0],
            "b": [-2.0, -2.0],
            "true_return": [0, 0],
            "total": [-1, 1],
            "length": [10, 10],
            "terminated": [True, False],
        },
    )
    shares = term_shares(run)
    assert shares.loc["a", "mean_return"] == 2.0 and shares.loc["b", "mean_return"] == -2.0
    assert shares["share"].tolist() == [0.5, 0.5]


def test_learning_curves_band_is_the_t_interval_across_runs(tmp_path):
    steps = [0, 100, 200]
    runs = [
        write_run(
            tmp_path / f"seed{i}",
            {
                "timestep": steps,
                "bonus": [v] * 3,
                "true_return": [10.0 * i] * 3,
                "total": [0] * 3,
                "length": [1] * 3,
                "terminated": [False] * 3,
            },
        )
        for i, v in enumerate([0.0, 2.0])
    ]
    curves = learning_curves(runs, points=5, smooth=1)
    assert set(curves) == {"bonus", "true_return"}
    c = curves["bonus"]
    half = stats.t.ppf(0.975, 1) * np.std([0.0, 2.0], ddof=1) / np.sqrt(2)
    np.testing.assert_allclose(c["mean"], 1.0)
    np.testing.assert_allclose(c["high"] - c["mean"], half)
    np.testing.assert_allclose(curves["true_return"]["mean"], 5.0)
    assert c["timestep"].iloc[-1] == 200
