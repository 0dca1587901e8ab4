"""The Ray backend on a private local Ray instance: same runs, same folders, same numbers as in-process training."""

from __future__ import annotations

import pandas as pd
import pytest

from rewardlab.sweep import load_runs, parse_spec, run_sweep
from rewardlab.sweep.state import read_status
from rewardlab.train import train

pytest.importorskip("ray")


def test_ray_backend_runs_a_tiny_sweep(tmp_path):
    spec = parse_spec(
        {
            "name": "tiny-ray",
            "out": str(tmp_path / "out"),
            "envs": ["CartPole-v1"],
            "rewards": {"plain": "extrinsic", "bonus": ["extrinsic", {"term": "constant", "value": 0.1}]},
            "algos": {"ppo": {"n_epochs": 2}},
            "seeds": [3],
            "steps": 1024,
            "eval_episodes": 1,
        }
    )
    outcome = run_sweep(spec, backend="ray", workers=2, progress=False)
    assert sorted(r.state for r in outcome.results) == ["done", "done"]
    runs = load_runs(spec.out)
    assert (runs["state"] == "done").all() and len(runs) == 2
    assert (spec.out / "results.md").exists()

    # the folder that came back from the Ray worker holds what in-process training writes, with equal numbers
    run = spec.runs()[1]
    folder = spec.out / run.run_id
    assert read_status(folder)["state"] == "done"
    assert {"config.yaml", "model.zip", "summary.json", "reward_terms.csv", "progress.csv"} <= {
        p.name for p in folder.iterdir()
    }
    local = train(run.config, tmp_path / "local", progress_bar=False)
    pd.testing.assert_frame_equal(
        pd.read_csv(folder / "reward_terms.csv"), pd.read_csv(tmp_path / "local" / "reward_terms.csv")
    )
    assert runs.set_index("run_id").loc[run.run_id, "eval_true_return"] == local["eval_true_return"]
