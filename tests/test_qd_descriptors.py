"""Descriptors over whole episodes: minmax, your own callable or module:function; CMA-ME / CMA-MAE searches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import qd_descriptors
from rewardlab.envs import make_env

from rewardlab.cli.main import main
from rewardlab.config.registry import ConfigError
from rewardlab.qd.descriptors import EpisodeFunction, parse_descriptor
from rewardlab.qd.policies import Episode
from rewardlab.qd.search import SearchConfig, read_metrics, run_search

CONT = "MountainCarContinuous-v0"


def bound(spec):
    env = make_env(CONT)
    d = parse_descriptor(spec)
    d.bind(observation_space=env.observation_space, obs_names=("position", "velocity"), env_id=CONT)
    return d


def episode(positions):
    obs = np.stack([positions, np.zeros(len(positions))], axis=1).astype(np.float32)
    return Episode(obs, None, np.zeros(len(positions) - 1))


def test_minmax_is_the_lowest_and_highest_scaled_value_of_the_episode():
    d = bound("minmax:position")
    assert d.dim == 2 and d.labels == ["min position", "max position"]
    got = d.of_episodes([episode([-0.5, -1.2, 0.3, 0.0]), episode([0.6, 0.6])])
    np.testing.assert_allclose(got, [[0.0, 1.5 / 1.8], [1.0, 1.0]], atol=1e-6)


def test_a_callable_and_a_module_function_give_the_same_scaled_descriptor():
    eps = [episode([-0.5, -1.2, 0.3]), episode([0.0, 0.1])]
    by_name = bound("qd_descriptors:position_range")
    by_callable = bound(qd_descriptors.position_range)  # ranges come from the function's attribute
    by_minmax = bound("minmax:position")
    np.testing.assert_allclose(by_name.of_episodes(eps), by_minmax.of_episodes(eps), atol=1e-6)
    np.testing.assert_allclose(by_callable.of_episodes(eps), by_minmax.of_episodes(eps), atol=1e-6)
    sized = bound("qd_descriptors:unsized@1")  # values taken as already in [0, 1]
    assert sized.dim == 1 and sized.of_episodes(eps).tolist() == [[0.0], [0.0]]


def test_bad_descriptor_functions_are_named_in_one_line():
    with pytest.raises(ConfigError, match="give its ranges"):
        EpisodeFunction(lambda e: 0.0)
    with pytest.raises(ConfigError, match="high > low"):
        EpisodeFunction(lambda e: 0.0, ranges=[(1.0, 0.0)])
    with pytest.raises(ConfigError, match=r"unknown descriptor kind 'fianl' \(did you mean 'final'\?\)"):
        parse_descriptor("fianl:position")
    d = EpisodeFunction(lambda e: [0.0, 1.0], dim=1)
    with pytest.raises(ValueError, match="returned 2 values, expected 1"):
        d.of_episodes([episode([0.0, 0.1])])


def test_a_search_with_a_python_callable_that_reads_actions(tmp_path):
    config = SearchConfig(
        env_id="MountainCar-v0", descriptor=qd_descriptors.mean_action, batch_size=8, max_steps=20, cells=5, seed=0
    )
    search = run_search(config, tmp_path, iterations=2, progress=False, plot_every=0)
    measures = search.result.data("measures")
    assert search.descriptor.needs_actions and len(measures) >= 2
    assert ((measures >= 0) & (measures <= 1)).all()


@pytest.mark.parametrize("algo", ["cma_me", "cma_mae"])
def test_cma_me_and_cma_mae_searches_fill_the_archive_and_resume_exactly(tmp_path, algo):
    # OpenAI-ES: ribs compiles its CMA-ES variants with numba on first use (~50 s here), time a test need not spend
    config = SearchConfig(
        env_id=CONT,
        descriptor="minmax:position",
        algo=algo,
        es="openai_es",
        batch_size=6,
        emitters=2,
        max_steps=40,
        qd_offset=-100.0,
        seed=1,
    )
    whole = run_search(config, tmp_path / "whole", iterations=4, progress=False, plot_every=0)
    run_search(config, tmp_path / "cut", iterations=2, progress=False, plot_every=0)
    resumed = run_search(config, tmp_path / "cut", iterations=4, resume=True, progress=False, plot_every=0)
    assert whole.evaluations == 4 * 12 and whole.result.stats.num_elites > 3
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "whole")
    pd.testing.assert_frame_equal(whole.result.data(return_type="pandas"), resumed.result.data(return_type="pandas"))
    row = read_metrics(tmp_path / "whole")[-1]
    assert row["qd_score"] == pytest.approx(float(np.sum(whole.result.data("objective") + 100.0)))


def test_cli_takes_a_module_function_descriptor_and_a_qd_offset(tmp_path, capsys):
    out = tmp_path / "qd"
    argv = ["qd", "--env", CONT, "--descriptor", "qd_descriptors:position_range", "--qd-offset", "-100"]
    argv += ["--batch-size", "4", "--iterations", "2", "--max-steps", "20", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    rows = read_metrics(out)
    objectives = pd.read_csv(out / "archive.csv")["objective"]
    assert rows[-1]["qd_score"] == pytest.approx(float((objectives + 100).sum()), rel=1e-6)


def test_a_yaml_novelty_term_takes_a_module_function_descriptor():
    import rewardlab as rl

    reward = rl.build_reward(
        [{"term": "novelty", "descriptor": "qd_descriptors:position_range", "mode": "episode", "threshold": 0.0}]
    )
    venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), reward)
    venv.reset()
    term = next(t for t in reward.leaves() if hasattr(t, "archive"))
    for _ in range(200):  # MountainCar-v0 episodes end at 200 steps
        venv.step(np.zeros(2, dtype=np.int64))
    assert isinstance(term.descriptor, EpisodeFunction) and len(term.archive) == 2
    with pytest.raises(ValueError, match="describes whole episodes; use mode: episode"):
        rl.build_reward([{"term": "novelty", "descriptor": "qd_descriptors:position_range"}])


def test_a_python_novelty_term_takes_a_function_descriptor():
    """``rl.qd.NoveltyTerm(descriptor=fn)`` takes the function as ``parse_descriptor`` does (it crashed at init)."""
    from qd_descriptors import position_range

    import rewardlab as rl

    term = rl.qd.NoveltyTerm(descriptor=position_range, mode="episode", threshold=0.0)
    venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), term)
    venv.reset()
    for _ in range(200):
        venv.step(np.zeros(2, dtype=np.int64))
    assert isinstance(term.descriptor, EpisodeFunction) and len(term.archive) == 2
