"""A sweep from Python: build a spec in code, run it, read the statistics and plots.

.venv/bin/python sweeps/example_api.py        (about a minute: tiny CartPole budgets)
"""

from __future__ import annotations

import rewardlab as rl

spec = rl.sweep.parse_spec(
    {
        "name": "cartpole_demo",
        "out": "runs/sweeps/cartpole_demo",
        "envs": ["CartPole-v1"],
        "rewards": {"plain": "extrinsic", "alive_bonus": ["extrinsic", {"term": "constant", "value": 0.1}]},
        "algos": {"ppo": {"n_epochs": 4}},
        "seeds": 2,
        "steps": "4k",
        "eval_episodes": 2,
    }
)
for run in spec.runs():
    print(run.run_id)

outcome = rl.sweep.run_sweep(spec, workers=1, resume=True)  # resume: a second call skips finished runs
runs = rl.sweep.load_runs(spec.out)
print(rl.sweep.status_table(runs))
results = rl.sweep.aggregate(runs)  # IQM and mean over seeds, 95% stratified bootstrap CIs
print(results[["reward", "seeds", "iqm", "iqm_low", "iqm_high", "mean", "mean_low", "mean_high"]])
print("plots:", spec.out / "learning_curves.png", spec.out / "performance_profile.png")
