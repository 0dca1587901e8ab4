"""Sweep statistics against hand computations: IQM, bootstrap CIs, profiles, curves, atomic status."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.sweep.aggregate import iqm, mean, mean_curve, performance_profile, run_curve, stratified_bootstrap_ci
from rewardlab.sweep.state import is_finished, mark, prepare_run_dir, run_state, write_json_atomic


def test_iqm_matches_hand_computation():
    # 8 scores: trim 2 from each end → mean of the middle four sorted values (3, 4, 5, 6)
    assert iqm([100, 1, 7, 3, 5, 4, 2, 6]) == pytest.approx(4.5)
    # 4 scores: trim one each end → mean of (2, 3)
    assert iqm([1, 2, 3, 40]) == pytest.approx(2.5)
    # fewer than 4 scores: nothing is trimmed
    assert iqm([1, 2, 9]) == pytest.approx(4.0)
    assert iqm(np.array([[1, 2, 3, 40], [0, 0, 4, 4]]), axis=1) == pytest.approx([2.5, 2.0])


def test_bootstrap_ci_of_two_scores_is_their_range():
    # resampling [0, 1] gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 95% CI is [0, 1]
    est, low, high = stratified_bootstrap_ci([[0.0, 1.0]], mean, n_resamples=4000, seed=0)
    assert (est, low, high) == (0.5, 0.0, 1.0)
    # a 40% CI: quantiles 0.3 and 0.7 of that distribution are both 0.5
    _, low50, high50 = stratified_bootstrap_ci([[0.0, 1.0]], mean, n_resamples=4000, confidence=0.4, seed=0)
    assert low50 == high50 == 0.5


def test_bootstrap_ci_is_seeded_and_near_normal_theory():
    scores = np.random.default_rng(1).normal(10.0, 2.0, size=400)
    a = stratified_bootstrap_ci([scores], mean, n_resamples=3000, seed=5)
    assert a == stratified_bootstrap_ci([scores], mean, n_resamples=3000, seed=5)
    half_width = 1.96 * scores.std(ddof=1) / np.sqrt(scores.size)
    assert a[0] == pytest.approx(scores.mean())
    assert a[1] == pytest.approx(scores.mean() - half_width, abs=0.05)
    assert a[2] == pytest.approx(scores.mean() + half_width, abs=0.05)


def test_stratified_bootstrap_keeps_each_stratum_size():
    # every stratum is constant: any within-stratum resample has the same mean, so the CI collapses;
    # pooling the 4 scores and resampling them would not.
    est, low, high = stratified_bootstrap_ci([[0.0, 0.0], [1.0, 1.0]], mean, n_resamples=500)
    assert est == low == high == 0.5
    _, pooled_low, pooled_high = stratified_bootstrap_ci([[0.0, 0.0, 1.0, 1.0]], mean, n_resamples=500)
    assert pooled_low < 0.5 < pooled_high


def test_performance_profile_counts_scores_above_tau():
    assert performance_profile([1, 2, 3, 4], [0, 1, 2.5, 4]).tolist() == [1.0, 0.75, 0.5, 0.0]


def test_run_curve_interpolates_and_leaves_gaps_nan(tmp_path):
    csv = tmp_path / "reward_terms.csv"
    csv.write_text("timestep,true_return\n10,0\n20,2\n30,4\n")
    grid = np.array([0.0, 10.0, 15.0, 30.0, 40.0])
    curve = run_curve(csv, grid, smooth=1)
    assert np.isnan(curve[0]) and np.isnan(curve[-1])
    assert curve[1:4].tolist() == [0.0, 1.0, 4.0]
    smoothed = run_curve(csv, np.array([30.0]), smooth=2)  # moving average of the last two episodes
    assert smoothed.tolist() == [3.0]
    centre, low, high = mean_curve(np.array([[1.0, np.nan], [3.0, np.nan], [5.0, 2.0]]), n_resamples=500)
    assert centre[0] == 3.0 and low[0] < 3.0 < high[0]
    assert centre[1] == low[1] == high[1] == 2.0


def test_status_needs_done_matching_hash_and_summary(tmp_path):
    run = tmp_path / "r"
    prepare_run_dir(run, "abc")
    assert run_state(run, "abc") == "running"  # this process is alive
    mark(run, "done", "abc")
    assert not is_finished(run, "abc")  # no summary.json yet
    (run / "summary.json").write_text('{"eval_true_return": 1')  # half-written
    assert run_state(run, "abc") == "pending"
    write_json_atomic(run / "summary.json", {"eval_true_return": 1.0})
    assert is_finished(run, "abc") and run_state(run, "abc") == "done"
    assert run_state(run, "other") == "pending"  # the config changed since
    mark(run, "running", "abc", pid=2**22 + 12345)  # a process that does not exist: interrupted
    assert run_state(run, "abc") == "pending"
    assert sorted(p.name for p in run.iterdir()) == ["status.json", "summary.json"]  # no temp files left
