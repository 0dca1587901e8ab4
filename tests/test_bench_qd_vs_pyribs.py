"""The paired-by-seed summary of ``benchmarks/bench_qd_vs_pyribs.py --summarize`` (pools chunked result folders)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_qd_vs_pyribs.py"
_spec = importlib.util.spec_from_file_location("bench_qd_vs_pyribs", SCRIPT)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _run(algo: str, seed: int, cells: int, qd: float) -> dict:
    return {"algo": algo, "seed": seed, "coverage": cells / 400, "qd_score": qd}


def _write(folder: Path, runs: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "runs.json").write_text(json.dumps({"args": {}, "runs": runs}))
    return folder


def test_paired_matches_scipy_and_the_t_interval() -> None:
    a, b = [95.0, 93.0, 97.0, 94.0, 96.0], [94.0, 94.0, 95.0, 92.0, 93.0]
    got = bench.paired(a, b)
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert got["n"] == 5
    assert got["mean"] == pytest.approx(d.mean())
    assert got["ci95"] == pytest.approx(half)
    assert got["p_t"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert got["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d, zero_method="zsplit").pvalue)
    # the same differences every seed: no spread, the p-value says so instead of NaN
    assert bench.paired([2.0, 3.0], [1.0, 2.0])["p_t"] == 0.0
    assert bench.paired([1.0, 2.0], [1.0, 2.0])["p_t"] == 1.0


def test_summarize_pools_chunks_and_pairs_only_seeds_both_ran(tmp_path: Path) -> None:
    one = _write(tmp_path / "a", [_run("pyribs_me", 0, 94, 7800.0), _run("rl_map_elites", 0, 95, 7900.0)])
    two = _write(
        tmp_path / "b",
        [
            _run("pyribs_me", 1, 92, 7600.0),
            _run("rl_map_elites", 1, 94, 7750.0),
            _run("pyribs_me", 2, 96, 7950.0),  # a chunk cut short: seed 2 has no rewardlab run
        ],
    )
    summary = bench.summarize(bench.load_runs([one, two]))
    assert list(summary["algos"]) == ["pyribs_me", "rl_map_elites"]  # the base first
    base, rl = summary["algos"]["pyribs_me"], summary["algos"]["rl_map_elites"]
    assert base["seeds"] == [0, 1, 2] and rl["seeds"] == [0, 1]
    assert base["cells"][0] == pytest.approx(94.0)
    assert base["qd_score"][0] == pytest.approx(7783.333, abs=1e-3)
    assert rl["paired"]["seeds"] == [0, 1]
    assert rl["paired"]["cells"]["mean"] == pytest.approx(1.5)  # +1 and +2 cells
    assert rl["paired"]["qd_score"]["mean"] == pytest.approx(125.0)  # +100 and +150
    assert "paired" not in base


def test_load_runs_rejects_a_seed_run_twice_with_different_results(tmp_path: Path) -> None:
    one = _write(tmp_path / "a", [_run("pyribs_me", 0, 94, 7800.0)])
    same = _write(tmp_path / "b", [_run("pyribs_me", 0, 94, 7800.0)])
    other = _write(tmp_path / "c", [_run("pyribs_me", 0, 93, 7800.0)])
    assert len(bench.load_runs([one, same])) == 1  # deterministic reruns agree: counted once
    with pytest.raises(SystemExit, match="appears twice"):
        bench.load_runs([one, other])
    with pytest.raises(SystemExit, match="no runs.json"):
        bench.load_runs([tmp_path / "missing"])


def test_summarize_command_line_writes_summary_json(tmp_path: Path) -> None:
    runs = [
        _run(a, s, 90 + s + (a == "rl_map_elites"), 7000.0 + s)
        for s in range(3)
        for a in ("pyribs_me", "rl_map_elites")
    ]
    folder = _write(tmp_path / "runs", runs)
    out = tmp_path / "summary"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--summarize", str(folder), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "| rl_map_elites | 3 | +1.00 ± 0.00 |" in done.stdout
    saved = json.loads((out / "summary.json").read_text())
    assert saved["algos"]["rl_map_elites"]["paired"]["cells"]["mean"] == pytest.approx(1.0)
    assert saved["folders"] == [str(folder)]
