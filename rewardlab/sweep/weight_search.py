"""Reward weight search: tune reward-term weights to maximise the true return.

A bi-level loop in the spirit of BARFI (Gupta et al., 2023, "Behavior Alignment
via Reward Function Optimization"): the inner level trains an agent on the
weighted reward, the outer level (Optuna's TPE sampler) proposes weights and is
scored by the *true* return of the trained agent's evaluation episodes, so a
weight that helps the shaped return but not the task scores badly.

The sweep spec gets a ``tune`` section::

    tune:
      reward: energy              # which entry of ``rewards`` to tune (default: the only one)
      weights:                    # top-level term name → [low, high] or {low, high, log: true}
        potential: [0.0, 3.0]
      trials: 12                  # completed trials to reach
      seed: 0                     # sampler seed
      steps: 20k                  # per run (default: the spec's steps)

Every trial trains the spec's envs × algos × seeds on the weighted reward
(through the sweep runner, so ``--workers`` and ``--backend ray`` apply) and
scores the mean ``eval_true_return``. Trials live in ``<out>/trials/w_<hash>/``
and the study in ``<out>/optuna.db`` (SQLite), so a killed search resumes:
finished trials stay, an interrupted trial is queued again with the same
weights, and its finished runs are reused.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from typing import Any

import yaml

from rewardlab.config.registry import ConfigError, suggest
from rewardlab.config.reward_config import build_reward
from rewardlab.sweep.aggregate import SCORE, load_runs
from rewardlab.sweep.spec import SweepSpec
from rewardlab.train import parse_steps

TUNE_KEYS = ("reward", "weights", "trials", "seed", "steps")
STUDY_FILE = "optuna.db"
INTERRUPTED = "interrupted"


def term_names(reward_spec: Any) -> list[str]:
    """Names of the top-level terms of a reward spec (their ``name``, else their ``term``)."""
    items = reward_spec if isinstance(reward_spec, list) else [reward_spec]
    return [item if isinstance(item, str) else item.get("name", item.get("term")) for item in items]


def apply_weights(reward_spec: Any, weights: dict[str, float]) -> list[Any]:
    """A copy of ``reward_spec`` (as a list of terms) with the named top-level terms' weights set."""
    items = copy.deepcopy(reward_spec if isinstance(reward_spec, list) else [reward_spec])
    names = term_names(items)
    for name, weight in weights.items():
        hits = [i for i, n in enumerate(names) if n == name]
        if len(hits) != 1:
            problem = "is not a top-level term" if not hits else "names several terms (give them distinct 'name's)"
            raise ConfigError(f"tune.weights: {name!r} {problem}{suggest(name, names)}; terms: {', '.join(names)}")
        item = items[hits[0]]
        items[hits[0]] = {**({"term": item} if isinstance(item, str) else item), "weight": float(weight)}
    return items


@dataclasses.dataclass
class TuneSpec:
    """The validated ``tune`` section."""

    reward: str
    weights: dict[str, tuple[float, float, bool]]  # name → (low, high, log)
    trials: int
    seed: int
    steps: int


def parse_tune(spec: SweepSpec) -> TuneSpec:
    """Validate ``spec.tune`` against the spec's rewards."""
    data = spec.tune
    if not data:
        raise ConfigError(f"sweep spec {spec.name!r} has no 'tune' section; see rewardlab.sweep.weight_search")
    for key in data:
        if key not in TUNE_KEYS:
            raise ConfigError(
                f"tune: unknown key {key!r}{suggest(key, list(TUNE_KEYS))}; valid: {', '.join(TUNE_KEYS)}"
            )
    if spec.search:
        raise ConfigError("tune: a weight search takes no 'search' section; fix the hyper-parameters in 'algos'")
    reward = data.get("reward")
    if reward is None:
        if len(spec.rewards) != 1:
            raise ConfigError(f"tune.reward: name the reward to tune, one of: {', '.join(spec.rewards)}")
        reward = next(iter(spec.rewards))
    if reward not in spec.rewards:
        raise ConfigError(
            f"tune.reward: unknown reward {reward!r}{suggest(str(reward), list(spec.rewards))}; "
            f"valid: {', '.join(spec.rewards)}"
        )
    raw = data.get("weights")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("tune.weights: map at least one term name to a range [low, high]")
    weights = {}
    for name, dom in raw.items():
        if isinstance(dom, list) and len(dom) == 2:
            dom = {"low": dom[0], "high": dom[1]}
        if not isinstance(dom, dict) or not {"low", "high"} <= set(dom) or not dom["low"] < dom["high"]:
            raise ConfigError(
                f"tune.weights.{name}: give [low, high] or {{low, high, log}} with low < high, got {dom!r}"
            )
        log = bool(dom.get("log", False))
        if log and dom["low"] <= 0:
            raise ConfigError(f"tune.weights.{name}: a log range needs low > 0, got {dom['low']}")
        weights[str(name)] = (float(dom["low"]), float(dom["high"]), log)
    build_reward(apply_weights(spec.rewards[reward], {n: lo for n, (lo, _, _) in weights.items()}), where="tune: ")
    trials = data.get("trials", 20)
    if not isinstance(trials, int) or trials <= 0:
        raise ConfigError(f"tune.trials: expected a positive int, got {trials!r}")
    return TuneSpec(reward, weights, trials, int(data.get("seed", 0)), parse_steps(data.get("steps", spec.steps)))


def trial_folder(weights: dict[str, float]) -> str:
    """``w_<hash>``: one folder per weight setting, so a repeated setting reuses its finished runs."""
    return "w_" + hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()[:8]


def _requeue_interrupted(study: Any) -> int:
    """Fail trials left running by a killed search and queue their weights again (once). Returns how many."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.RUNNING:  # we hold the sweep lock: nobody else is running it
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    covered = [
        t.system_attrs.get("fixed_params", t.params)
        for t in trials
        if t.state in (TrialState.WAITING, TrialState.COMPLETE)
    ]
    queued = 0
    for trial in trials:
        interrupted = trial.state == TrialState.RUNNING or trial.user_attrs.get(INTERRUPTED)
        if interrupted and trial.params and trial.params not in covered:
            study.enqueue_trial(trial.params)
            covered.append(trial.params)
            queued += 1
    return queued


def tune_weights(
    spec: SweepSpec,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> Any:
    """Run (or resume) the weight search of ``spec``; return the Optuna study.

    Writes ``trials.csv`` (every trial) and ``best_reward.yaml`` (the best
    weights applied to the reward spec, ready for ``rewardlab train --reward``).
    """
    import optuna
    from optuna.trial import TrialState
    from rich.console import Console

    from rewardlab.sweep.runner import run_sweep
    from rewardlab.sweep.state import sweep_lock

    tune = parse_tune(spec)
    out = spec.out
    console = Console(quiet=not progress)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with sweep_lock(out):
        study = optuna.create_study(
            study_name=spec.name,
            storage=f"sqlite:///{(out / STUDY_FILE).resolve()}",
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=tune.seed),
            load_if_exists=True,
        )
        requeued = _requeue_interrupted(study)
        done = len(study.get_trials(states=(TrialState.COMPLETE,)))
        console.print(f"weight search {spec.name}: {done}/{tune.trials} trials done, {requeued} interrupted requeued")

        def objective(trial: Any) -> float:
            weights = {
                name: trial.suggest_float(name, low, high, log=log) for name, (low, high, log) in tune.weights.items()
            }
            folder = trial_folder(weights)
            trial.set_user_attr("folder", folder)
            trial_spec = dataclasses.replace(
                spec,
                name=f"{spec.name}-{folder}",
                out=out / "trials" / folder,
                rewards={tune.reward: apply_weights(spec.rewards[tune.reward], weights)},
                steps=tune.steps,
                tune=None,
                source=None,
            )
            try:
                run_sweep(
                    trial_spec,
                    backend=backend,
                    workers=workers,
                    address=address,
                    resume=True,
                    progress=False,
                    report=False,
                )
            except KeyboardInterrupt:
                trial.set_user_attr(INTERRUPTED, True)
                raise
            runs = load_runs(trial_spec.out)
            scores = runs.loc[runs["state"] == "done", SCORE] if SCORE in runs else []
            if len(scores) == 0:
                raise RuntimeError(f"every run of trial {trial.number} failed; see {trial_spec.out}/*/error.txt")
            value = float(scores.mean())
            shown = ", ".join(f"{k}={v:.4g}" for k, v in weights.items())
            console.print(f"trial {trial.number}: {shown} → {SCORE} {value:.2f} over {len(scores)} runs")
            return value

        remaining = tune.trials - done
        if remaining > 0:
            study.optimize(objective, n_trials=remaining, catch=(RuntimeError,))
        _write_results(study, spec, tune)
    best = study.best_trial
    console.print(f"best: trial {best.number} {best.params} → {SCORE} {best.value:.2f}; see {out / 'best_reward.yaml'}")
    return study


def _write_results(study: Any, spec: SweepSpec, tune: TuneSpec) -> None:
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs"))
    frame.to_csv(spec.out / "trials.csv", index=False)
    completed = [t for t in study.trials if t.value is not None]
    if completed:
        best = max(completed, key=lambda t: t.value)
        reward = apply_weights(spec.rewards[tune.reward], best.params)
        header = f"# best weights of {spec.name} (trial {best.number}, {SCORE} {best.value:.2f})\n"
        (spec.out / "best_reward.yaml").write_text(header + yaml.safe_dump({"reward": reward}, sort_keys=False))
