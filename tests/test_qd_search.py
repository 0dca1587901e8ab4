"""QD search: resume equals an uninterrupted run, QD covers more than random search, CLI and training lines."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.qd.novelty import NoveltyTerm
from rewardlab.qd.search import QDSearch, SearchConfig, read_metrics, run_search

FAST = {"env_id": "MountainCar-v0", "descriptor": "final:position,velocity", "batch_size": 8, "max_steps": 60}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("algo", ["serene", "map_elites"])
def test_killed_search_resumes_to_the_same_archive_as_an_uninterrupted_run(tmp_path, algo):
    # serene: every 60-step return (-60) counts as a reward, so exploiters start and are saved too (OpenAI-ES:
    # ribs compiles its CMA-ES with numba on first use, seconds a test need not spend)
    serene = {"reward_threshold": -61.0, "exploit_es": "openai_es"} if algo == "serene" else {}
    config = SearchConfig(algo=algo, seed=3, **serene, **FAST)
    whole = run_search(config, tmp_path / "whole", iterations=6, progress=False, plot_every=0)
    run_search(config, tmp_path / "cut", iterations=3, progress=False, plot_every=0)
    # a search killed after writing a metrics row but before saving its state: the row is dropped on resume
    (tmp_path / "cut" / "metrics.csv").write_text(
        (tmp_path / "cut" / "metrics.csv").read_text() + "4,999,0,0,0,0,0,0,explore,0\n"
    )
    resumed = run_search(config, tmp_path / "cut", iterations=6, resume=True, progress=False, plot_every=0)
    assert resumed.iteration == 6
    if algo == "serene":
        assert {r["phase"] for r in read_metrics(tmp_path / "whole")} == {"explore", "exploit"}
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "whole")
    a, b = whole.result.data(return_type="pandas"), resumed.result.data(return_type="pandas")
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "cut" / "heatmap.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="already holds a search"):
        run_search(config, tmp_path / "cut", iterations=7, progress=False)


def test_novelty_search_and_map_elites_cover_more_cells_than_random_search(tmp_path):
    filled = {}
    for algo in ("random", "novelty", "map_elites"):
        # full 200-step episodes from fixed starts: with a start per evaluation, 160 evaluations of random
        # search fill about as many (position, velocity) end cells by start noise alone
        config = SearchConfig(algo=algo, seed=1, cells=10, starts="fixed", **{**FAST, "max_steps": None})
        search = run_search(config, tmp_path / algo, iterations=20, progress=False, plot_every=0)
        filled[algo] = search.metrics("-")["filled_cells"]
        assert search.evaluations == 160
    assert filled["novelty"] > filled["random"] and filled["map_elites"] > filled["random"], filled


def test_learned_descriptor_search_retrains_and_redescribes(tmp_path):
    config = SearchConfig(algo="novelty", seed=0, ae_every=2, **{**FAST, "descriptor": "learned@2"})
    search = run_search(config, tmp_path, iterations=4, progress=False, plot_every=0)
    assert search.descriptor.fits == 2 and search.result.stats.num_elites > 0
    data = search.result.data(["measures", "source"])
    torch.testing.assert_close(
        torch.as_tensor(data["measures"]), torch.as_tensor(search.descriptor.encode(data["source"]))
    )


def test_cli_runs_a_search_and_names_bad_inputs_in_one_line(tmp_path, capsys):
    out = tmp_path / "qd"
    args = ["qd", "--env", "MountainCar-v0", "--descriptor", "final:position", "--batch-size", "4"]
    args += ["--algo", "novelty", "--iterations", "2", "--max-steps", "30", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    assert {"state.pkl", "metrics.csv", "heatmap.png", "archive.csv"} <= {p.name for p in out.iterdir()}
    assert len(read_metrics(out)) == 2
    capsys.readouterr()
    for bad, message in [
        (["--env", "MountainCar-v9"], "unknown environment 'MountainCar-v9' (did you mean 'MountainCar-v0'?)"),
        (["--descriptor", "final:speed"], "no observation dimension 'speed'; valid: ['position', 'velocity']"),
        (["--descriptor", "histo:position"], "unknown descriptor kind 'histo' (did you mean 'histogram'?)"),
        (["--env", "Taxi-v3"], "descriptors read flat vector observations; Taxi-v3 has Discrete(500)"),
        (["--descriptor", "nomodule.here:fn"], "cannot import 'nomodule.here' for descriptor 'nomodule.here:fn'"),
        (["--descriptor", "qd_descriptors:nothing"], "module 'qd_descriptors' has no 'nothing'"),
        (["--descriptor", "qd_descriptors:unsized"], "give its ranges"),
        (["--algo", "cma_mae"], "cma_mae needs qd_offset (its archive's threshold_min, e.g. --qd-offset -100)"),
    ]:
        argv = ["qd", "--env", "MountainCar-v0", *bad, "--iterations", "1", "--out", str(tmp_path / "bad")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):
        main(["qd", "--env", "MountainCar-v0", "--algo", "nsga"])
    assert (
        "invalid choice: 'nsga' (choose from 'map_elites', 'cma_me', 'cma_mae', 'novelty', 'serene', 'random')"
        in capsys.readouterr().err
    )


def test_train_with_a_novelty_yaml_logs_the_bonus(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--env", "MountainCar-v0", "--reward", "configs/novelty_mountaincar.yaml", "--steps", "512"]
    assert main([*argv, "--n-envs", "2", "--eval-episodes", "1", "--no-progress", "--out", str(out)]) == 0
    terms = pd.read_csv(out / "reward_terms.csv")
    assert "novelty" in terms.columns and (terms["novelty"] > 0).all()
    loaded = next(t for t in rl.load_run(out).reward.leaves() if isinstance(t, NoveltyTerm))
    assert len(loaded.archive) > 1  # the archive comes back with the run


def test_search_state_keeps_everything_needed(tmp_path):
    config = SearchConfig(algo="novelty", seed=1, **FAST)
    run_search(config, tmp_path, iterations=1, progress=False, plot_every=0)
    loaded = QDSearch.resume(tmp_path)
    assert loaded.iteration == 1 and len(loaded.novelty_archive) > 0 and loaded.config == config


def test_worker_processes_give_the_same_search_as_one_process(tmp_path):
    config = SearchConfig(algo="map_elites", seed=2, **{**FAST, "max_steps": 30})
    one = run_search(config, tmp_path / "one", iterations=2, progress=False, plot_every=0)
    two = run_search(config, tmp_path / "two", iterations=2, workers=2, progress=False, plot_every=0)
    pd.testing.assert_frame_equal(one.result.data(return_type="pandas"), two.result.data(return_type="pandas"))


def test_a_search_killed_with_sigkill_resumes_where_it_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    args = ["--env", "MountainCar-v0", "--descriptor", "final:position,velocity", "--algo", "novelty"]
    args += ["--batch-size", "4", "--max-steps", "30", "--seed", "5", "--no-progress"]
    cmd = [sys.executable, "-m", "rewardlab.cli.main", "qd", *args, "--iterations", "100000", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180  # imports alone take a minute on a loaded 2-core machine
        while time.time() < deadline and not (out / "state.pkl").exists():
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (out / "state.pkl").exists()
    done = QDSearch.resume(out).iteration
    assert done >= 1
    assert main(["qd", *args, "--iterations", str(done + 2), "--out", str(out), "--resume"]) == 0
    assert main(["qd", *args, "--iterations", str(done + 2), "--out", str(tmp_path / "whole")]) == 0
    assert read_metrics(out) == read_metrics(tmp_path / "whole")


def test_map_elites_emitters_by_selection_and_mutation_and_bad_settings_are_named(tmp_path):
    config = SearchConfig(algo="map_elites", mutation="iso_line", seed=0, **{**FAST, "max_steps": 30})
    search = run_search(config, tmp_path / "default", iterations=3, progress=False, plot_every=0)
    assert search.result.stats.num_elites > 1
    emitter = search.scheduler.emitters[0]  # the default: curiosity-scored parents, here with the line step
    assert type(emitter).__name__ == "CuriosityEmitter" and emitter.line_sigma == 0.2
    assert emitter.curiosity.any()  # parents were credited
    for mutation, kind in [("gaussian", "GaussianEmitter"), ("iso_line", "IsoLineEmitter")]:
        uniform = SearchConfig(
            algo="map_elites", mutation=mutation, selection="uniform", seed=0, **{**FAST, "max_steps": 30}
        )
        search = run_search(uniform, tmp_path / mutation, iterations=1, progress=False, plot_every=0)
        assert type(search.scheduler.emitters[0]).__name__ == kind
    for bad, message in [
        ({"mutation": "isoline"}, "unknown mutation 'isoline' (did you mean 'iso_line'?)"),
        ({"selection": "curious"}, "unknown selection 'curious' (did you mean 'curiosity'?)"),
        ({"starts": "every"}, "unknown starts 'every'"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            SearchConfig(**{**FAST, **bad}).check()


def test_uniform_map_elites_is_pyribs_own_loop_given_the_same_starts(tmp_path):
    # pyribs' MAP-Elites (GridArchive over positions + GaussianEmitter + Scheduler, one env, one episode per
    # solution) fed rewardlab's start seeds builds the same archive as rewardlab's batched search: rollouts,
    # the minmax descriptor, its scaling to [0, 1] and the cell boundaries agree; only the starts can differ
    import gymnasium as gym
    import numpy as np
    from ribs.archives import GridArchive
    from ribs.emitters import GaussianEmitter
    from ribs.schedulers import Scheduler

    from rewardlab.qd.policies import evaluation_seed

    seed, batch, iterations = 4, 20, 4
    config = SearchConfig(
        env_id="MountainCarContinuous-v0", descriptor="minmax:position", algo="map_elites", selection="uniform",
        batch_size=batch, cells=20, seed=seed, qd_offset=-100.0, n_envs=batch,
    )  # fmt: skip
    ours = run_search(config, tmp_path, iterations=iterations, progress=False, plot_every=0)

    env = gym.make("MountainCarContinuous-v0")
    archive = GridArchive(solution_dim=3, dims=[20, 20], ranges=[(-1.2, 0.6)] * 2, seed=seed)
    scheduler = Scheduler(
        archive, [GaussianEmitter(archive, sigma=0.5, x0=np.zeros(3), batch_size=batch, seed=seed + 1)]
    )
    low = env.observation_space.low.astype(np.float64)
    span = env.observation_space.high.astype(np.float64) - low
    for it in range(iterations):
        solutions = scheduler.ask()
        objectives, measures = [], []
        for i, w in enumerate(solutions):
            obs, _ = env.reset(seed=evaluation_seed(seed, it * batch + i, 0))
            total, positions, done = 0.0, [obs[0]], False
            while not done:
                x = 2.0 * (obs - low) / span - 1.0
                force = np.tanh(w[0] * x[0] + w[1] * x[1] + w[2])
                obs, reward, terminated, truncated, _ = env.step(np.array([force], dtype=np.float32))
                total, done = total + reward, terminated or truncated
                positions.append(obs[0])
            objectives.append(total)
            measures.append((min(positions), max(positions)))
        scheduler.tell(np.array(objectives), np.array(measures))
    theirs = archive.data(["index", "objective", "solution"], return_type="pandas").sort_values("index")
    mine = ours.result.data(["index", "objective", "solution"], return_type="pandas").sort_values("index")
    assert len(mine) > 10
    np.testing.assert_array_equal(mine["index"].to_numpy(), theirs["index"].to_numpy())
    np.testing.assert_allclose(mine["objective"].to_numpy(), theirs["objective"].to_numpy(), rtol=1e-9)


def test_cli_resume_keeps_the_saved_selection_unless_one_is_given(tmp_path, capsys):
    out = tmp_path / "uniform"
    args = ["--env", "MountainCar-v0", "--descriptor", "final:position,velocity", "--algo", "map_elites"]
    args += ["--batch-size", "4", "--max-steps", "30", "--seed", "3", "--no-progress", "--out", str(out)]
    assert main(["qd", *args, "--iterations", "1", "--selection", "uniform"]) == 0
    assert main(["qd", *args, "--iterations", "2", "--resume"]) == 0  # no --selection: the saved one
    assert QDSearch.resume(out).config.selection == "uniform"
    assert main(["qd", *args, "--iterations", "3", "--resume", "--selection", "curiosity"]) == 2
    assert "differ from the saved search" in capsys.readouterr().err
