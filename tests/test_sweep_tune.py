"""Reward weight search: trials persist in SQLite, a resumed search continues, interrupted trials are requeued."""

from __future__ import annotations

import optuna
import yaml
from optuna.trial import TrialState

from rewardlab.sweep import parse_spec, tune_weights
from rewardlab.sweep.weight_search import STUDY_FILE, _requeue_interrupted


def tune_spec(tmp_path, trials: int):
    return parse_spec(
        {
            "name": "tune",
            "out": str(tmp_path / "out"),
            "envs": ["CartPole-v1"],
            "rewards": {"r": ["extrinsic", {"term": "constant", "value": 1.0, "name": "alive"}]},
            "algos": {"ppo": {"n_epochs": 1}},
            "seeds": [0],
            "steps": 512,
            "eval_episodes": 1,
            "tune": {"weights": {"alive": [0.0, 2.0]}, "trials": trials, "seed": 0},
        }
    )


def test_weight_search_persists_and_resumes(tmp_path):
    study = tune_weights(tune_spec(tmp_path, 1), workers=1, progress=False)
    assert len(study.trials) == 1
    study = tune_weights(tune_spec(tmp_path, 2), workers=1, progress=False)  # resumes: one more trial
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(completed) == 2 and all(0.0 <= t.params["alive"] <= 2.0 for t in completed)
    out = tmp_path / "out"
    assert (out / STUDY_FILE).exists() and len((out / "trials.csv").read_text().splitlines()) == 3
    best = yaml.safe_load((out / "best_reward.yaml").read_text())["reward"]
    assert best[1]["weight"] == study.best_trial.params["alive"]
    for trial in completed:  # every trial's run folder holds a finished run
        assert list((out / "trials" / trial.user_attrs["folder"]).glob("*/summary.json"))


def test_interrupted_trials_are_failed_and_requeued_once(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}", direction="maximize")
    stale = study.ask()
    stale.suggest_float("w", 0.0, 1.0)  # a search killed while this trial ran
    assert _requeue_interrupted(study) == 1
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.get_trials()[1].system_attrs["fixed_params"] == study.get_trials()[0].params
    assert _requeue_interrupted(study) == 0  # already queued
