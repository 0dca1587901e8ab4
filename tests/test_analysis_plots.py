"""Every analysis plot renders to PNG without a display and returns its axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import rewardlab as rl


def save(ax, path):
    ax.figure.savefig(path)
    plt.close(ax.figure)
    assert path.stat().st_size > 1000


def test_landscape_plots(tmp_path):
    reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    visited = np.random.default_rng(0).uniform([-1.2, -0.07], [0.6, 0.07], size=(50, 2))
    fig, ax = plt.subplots()
    out = rl.plot.landscape(
        reward, env="MountainCar-v0", axes=("position", "velocity"), resolution=20, ax=ax, visited=visited
    )
    assert out is ax and ax.get_xlabel() == "position"
    save(ax, tmp_path / "one.png")
    axs = rl.plot.landscapes(reward, env="MountainCar-v0", resolution=20, kind="contour")
    assert [a.get_title() for a in axs] == ["extrinsic", "Φ shaping", "total"]
    save(axs[0], tmp_path / "panels.png")
    axs = rl.plot.landscapes({"a": reward, "b": -1.0 * reward}, env="MountainCar-v0", resolution=10)
    assert [a.get_title() for a in axs] == ["a", "b"]
    plt.close(axs[0].figure)


def test_nethack_map_and_distance_matrix(tmp_path):
    rng = np.random.default_rng(0)
    ax = rl.plot.nethack_map(rng.integers(0, 79, 100), rng.integers(0, 21, 100), rng.normal(size=100))
    save(ax, tmp_path / "map.png")
    m = rl.analysis.DistanceMatrix(
        ["a", "b"], np.array([[0, np.nan], [np.nan, 0]]), np.zeros((2, 2)), np.zeros((2, 2)), "EPIC"
    )
    fig, ax = plt.subplots()
    assert rl.plot.distance_matrix(m, ax=ax) is ax
    assert "n/a" in [t.get_text() for t in ax.texts]
    save(ax, tmp_path / "matrix.png")


def test_decomposition_plots(tmp_path):
    reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    data = rl.analysis.rollout("MountainCar-v0", reward, n_steps=60)
    save(rl.plot.episode_terms(data), tmp_path / "stack.png")
    save(rl.plot.term_shares(data), tmp_path / "shares.png")
    runs = []
    for seed in range(2):
        folder = tmp_path / f"run{seed}"
        folder.mkdir()
        pd.DataFrame(
            {
                "timestep": [10, 20, 30],
                "bonus": [seed, 1, 2],
                "true_return": [-3, -2, -1],
                "total": 0,
                "length": 5,
                "terminated": False,
            }
        ).to_csv(folder / "reward_terms.csv", index=False)
        runs.append(folder)
    save(rl.plot.learning_curves(runs, smooth=1), tmp_path / "curves.png")


def test_run_plots_leave_the_callers_backend_alone(tmp_path):
    """Writing a run's PNG must not switch a notebook's inline backend to Agg (figures would stop showing)."""
    import matplotlib
    import pandas as pd

    from rewardlab.plot.curves import plot_run_terms

    csv = tmp_path / "reward_terms.csv"
    frame = {"timestep": [1, 2, 3], "extrinsic": [1.0, 2.0, 3.0], "true_return": [1.0, 2.0, 3.0], "total": [1, 2, 3]}
    pd.DataFrame({**frame, "length": [1, 2, 3], "terminated": [True] * 3}).to_csv(csv, index=False)
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        plot_run_terms(csv, tmp_path / "terms.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "terms.png").stat().st_size > 1000


def _colorbar_labels(fig):
    return [a.get_ylabel() or a.get_xlabel() for a in fig.axes if a.get_label() == "<colorbar>"]


def test_colour_bars_are_labelled_and_overlays_have_a_legend():
    reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    visited = np.random.default_rng(0).uniform([-1.2, -0.07], [0.6, 0.07], size=(50, 2))
    axs = rl.plot.landscapes(reward, env="MountainCar-v0", resolution=10, visited=visited)
    labels = _colorbar_labels(axs[0].figure)
    assert labels == ["extrinsic reward per step", "potential Φ(s) of shaping", "total reward per step"]
    for ax in axs:
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts()[0].get_text() == "visited states (50)"
    plt.close(axs[0].figure)
    fig, ax = plt.subplots()
    rl.plot.landscape(reward, env="MountainCar-v0", resolution=10, ax=ax)
    assert ax.get_legend() is None  # nothing overlaid, nothing to explain
    plt.close(fig)
    rng = np.random.default_rng(0)
    ax = rl.plot.nethack_map(rng.integers(0, 79, 30), rng.integers(0, 21, 30), rng.normal(size=30), label="bonus")
    assert _colorbar_labels(ax.figure) == ["bonus"]
    plt.close(ax.figure)


def test_decomposition_keeps_a_term_a_thousand_times_smaller_readable():
    tiny = 1e-3 * rl.shaping.potential("mountaincar_energy", gamma=0.99)
    data = rl.analysis.rollout("MountainCar-v0", rl.extrinsic() + tiny, n_steps=200, seed=0)
    axes = rl.plot.episode_term_panels(data)
    assert len(axes) == 3 and axes[-1].get_title(loc="right").startswith("total")
    extrinsic, shaping = axes[0], axes[1]
    low, high = shaping.get_ylim()
    assert high - low < 1e-2  # its own scale, not extrinsic's [-1, 0]
    assert extrinsic.get_ylim()[0] < -0.9
    assert "% of |return|" in shaping.get_title(loc="right")
    plt.close(axes[0].figure)
    ax = rl.plot.term_shares(data)
    assert ax.get_yscale() == "symlog"
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "100%" and texts[1] != "0.0%"  # the small share keeps its digits
    plt.close(ax.figure)


def test_cli_decomposition_draws_one_panel_per_term(tmp_path):
    from rewardlab.cli.main import main

    out = tmp_path / "dec.png"
    reward = "[extrinsic, {term: potential, potential: mountaincar_energy, gamma: 0.99, weight: 0.001}]"
    assert main(["plot", "decomposition", "--env", "MountainCar-v0", "--reward", reward, "--steps", "250",
                 "--out", str(out)]) == 0  # fmt: skip
    assert out.stat().st_size > 1000
