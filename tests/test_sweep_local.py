"""Tiny sweeps on the local process pool: results, failures, resume, and a sweep killed mid-way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rewardlab.cli.main import main
from rewardlab.config.registry import ConfigError
from rewardlab.sweep import load_runs, load_spec, run_sweep
from rewardlab.sweep.state import read_status

TINY = {
    "name": "tiny",
    "envs": ["CartPole-v1"],
    "rewards": {"plain": "extrinsic", "bonus": ["extrinsic", {"term": "constant", "value": 0.1}]},
    "algos": {"ppo": {"n_epochs": 2}},
    "seeds": 2,
    "steps": 1024,
    "eval_episodes": 1,
}


def write_spec(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**TINY, "out": str(tmp_path / "out"), **changes}))
    return path


def test_tiny_sweep_runs_records_failures_and_reports(tmp_path, capsys):
    spec_path = write_spec(
        tmp_path,
        rewards={"plain": "extrinsic", "broken": "[extrinsic, {term: function, fn: 'reward_fns:boom'}]"},
    )
    spec = load_spec(spec_path)
    outcome = run_sweep(spec, workers=2, progress=False)
    assert outcome.total == 4 and outcome.skipped == 0
    assert sorted(r.state for r in outcome.results) == ["done", "done", "failed", "failed"]
    runs = load_runs(spec.out)
    assert set(runs["run_id"]) == {r.run_id for r in spec.runs()}
    broken = runs[runs["reward"] == "broken"]
    assert (broken["state"] == "failed").all()
    error = (spec.out / broken["run_id"].iloc[0] / "error.txt").read_text()
    assert "Traceback" in error and "ZeroDivisionError" in error
    good = runs[runs["reward"] == "plain"]
    assert (good["state"] == "done").all() and good["eval_true_return"].notna().all()
    reports = ("results.csv", "results.md", "runs.csv", "learning_curves.png", "performance_profile.png", "terms.png")
    for name in reports:
        assert (spec.out / name).stat().st_size > 0, name
    results = pd.read_csv(spec.out / "results.csv").set_index("reward")
    assert results.loc["plain", "seeds"] == 2  # failed runs are not aggregated
    assert results.loc["plain", "mean"] == pytest.approx(good["eval_true_return"].mean())
    # a group whose runs all failed is listed as failed, not left out
    assert results.loc["broken", "seeds"] == 0 and results.loc["broken", "failed"] == 2
    assert "**failed** (2 of 2 runs)" in (spec.out / "results.md").read_text()

    # the sweep folder is taken: a plain rerun refuses, a resume retries only the failed runs
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(spec, workers=1, progress=False, report=False)
    again = run_sweep(spec, workers=1, resume=True, progress=False, report=False)
    assert again.skipped == 2 and [r.state for r in again.results] == ["failed", "failed"]

    assert main(["sweep", "status", str(spec_path)]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1__broken__ppo" in out and "error.txt" in out


def _wait_for(predicate, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _done(out: Path) -> int:
    return sum((read_status(d) or {}).get("state") == "done" for d in out.iterdir() if d.is_dir())


def _start(spec_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rewardlab.cli.main", "sweep", str(spec_path), "--workers", "1", "--no-report"]
    return subprocess.Popen(
        [*cmd, "--resume"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C as a terminal delivers it, even when this test runs as a background job (which ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_killed_sweep_resumes_to_exactly_the_expected_runs(tmp_path):
    spec_path = write_spec(tmp_path, seeds=6)  # 12 runs of ~0.3 s on a quiet machine: the signals land mid-sweep
    spec = load_spec(spec_path)
    expected = {r.run_id: r for r in spec.runs()}
    for sig, done_before in ((signal.SIGINT, 1), (signal.SIGKILL, 2)):
        proc = _start(spec_path)
        _wait_for(lambda n=done_before: spec.out.exists() and _done(spec.out) >= n)
        proc.send_signal(sig)
        output = proc.communicate(timeout=30)[0]
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), output
        assert "leaked semaphore" not in output  # the killed sweep's tracker cleans up without a word
    assert _done(spec.out) < len(expected)
    proc = _start(spec_path)
    output = proc.communicate(timeout=240)[0]
    assert proc.returncode == 0, output
    assert "skipped" in output and "leaked semaphore" not in output
    folders = {d.name for d in spec.out.iterdir() if d.is_dir()}
    assert folders == set(expected)
    for run_id, run in expected.items():
        folder = spec.out / run_id
        assert read_status(folder)["config_hash"] == run.config_hash
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["seed"] == run.seed and summary["steps"] == 1024
        # a restarted run starts from an empty folder: one header, timesteps never go back
        episodes = pd.read_csv(folder / "reward_terms.csv")
        assert episodes["timestep"].is_monotonic_increasing and episodes["timestep"].iloc[-1] <= 1024
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert (spec.out / "sweep.json").exists()
