"""Sweeps: reproducible grids of env × reward × algo × seed from one YAML file.

Local process pool by default, Ray when one machine is not enough; resumable
(finished runs are skipped, unfinished ones restarted); aggregated over seeds
with IQM, means and stratified bootstrap confidence intervals::

    import rewardlab as rl
    spec = rl.sweep.load_spec("sweeps/mountaincar.yaml")
    rl.sweep.run_sweep(spec, workers=2, resume=True)      # writes results.md, learning_curves.png, ...
    rl.sweep.aggregate(rl.sweep.load_runs(spec.out))       # the results table as a DataFrame

Ray and Optuna are imported only when used.
"""

from rewardlab.sweep.aggregate import aggregate, iqm, load_runs, performance_profile, stratified_bootstrap_ci
from rewardlab.sweep.report import learning_curves, profile_plot, status_table, write_report
from rewardlab.sweep.runner import run_sweep
from rewardlab.sweep.spec import SweepRun, SweepSpec, load_spec, parse_spec
from rewardlab.sweep.weight_search import tune_weights

__all__ = [
    "SweepRun",
    "SweepSpec",
    "aggregate",
    "iqm",
    "learning_curves",
    "load_runs",
    "load_spec",
    "parse_spec",
    "performance_profile",
    "profile_plot",
    "run_sweep",
    "status_table",
    "stratified_bootstrap_ci",
    "tune_weights",
    "write_report",
]
