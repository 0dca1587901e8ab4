"""The Ray backend on a private local Ray instance: same runs, same folders, same numbers as in-process training."""

from __future__ import annotations

import pandas as pd
import pytest
from interrupt import StopAt

from rewardlab.sweep import load_runs, parse_spec, run_sweep
from rewardlab.sweep.state import prepare_run_dir, read_status, resumable
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


@pytest.mark.parametrize("shared_fs", [None, False], ids=["in-place", "packed"])
def test_ray_continues_an_unfinished_run_from_its_checkpoint(tmp_path, shared_fs):
    spec = parse_spec(
        {
            "name": "resume-ray",
            "out": str(tmp_path / "out"),
            "envs": ["CartPole-v1"],
            "rewards": {"plain": "extrinsic"},
            "algos": {"ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}},
            "n_envs": 2,
            "seeds": [0],
            "steps": 768,
            "eval_episodes": 1,
        }
    )
    (run,) = spec.runs()
    run_dir = spec.out / run.run_id
    prepare_run_dir(run_dir, run.config_hash)
    with pytest.raises(KeyboardInterrupt):  # a sweep killed in the middle of this run
        train(run.config, run_dir, progress_bar=False, checkpoint_every=256, callback=StopAt(400))
    assert resumable(run_dir, run.config_hash)

    outcome = run_sweep(spec, backend="ray", workers=1, shared_fs=shared_fs, resume=True, progress=False)
    (result,) = outcome.results
    assert result.state == "done", result.error
    assert result.summary["resumed_from"] == 256 and result.summary["timesteps"] >= 768
    assert read_status(run_dir)["state"] == "done" and not (run_dir.parent / f"{run_dir.name}.incoming").exists()
