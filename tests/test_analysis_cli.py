"""``rewardlab plot ...`` and ``rewardlab compare ...`` write their files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import yaml

from rewardlab.cli.main import main

SHAPED = "[extrinsic, {term: potential, potential: mountaincar_energy}]"


@pytest.fixture
def reward_file(tmp_path):
    path = tmp_path / "shaped.yaml"
    path.write_text(yaml.safe_dump({"reward": ["extrinsic", {"term": "potential", "potential": "mountaincar_energy"}]}))
    return path


def compare(out, *rewards, extra=()):
    args = ["compare", *rewards, "--env", "MountainCar-v0", "--samples", "64", "--transitions", "256"]
    return main([*args, "--bootstrap", "20", "--out", str(out), *extra])


def test_compare_writes_matrix_png_and_csv(tmp_path, reward_file):
    out = tmp_path / "cmp"
    assert compare(out, str(reward_file), "extrinsic", "{term: constant, value: 1}") == 0
    assert (out / "distances.png").stat().st_size > 1000
    df = pd.read_csv(out / "distances.csv").set_index(["a", "b"])["distance"]
    assert set(df.index.get_level_values("a")) == {"shaped", "reward1", "reward2"}
    # termination is an absorbing state: shaping keeps the task (0), +1 per step is its opposite (1)
    assert df["shaped", "reward1"] == pytest.approx(0.0, abs=1e-6)
    assert df["reward1", "reward2"] == pytest.approx(1.0, abs=1e-6)
    assert (
        compare(out, str(reward_file), "extrinsic", "{term: constant, value: 1}", extra=["--termination", "ignore"])
        == 0
    )
    blind = pd.read_csv(out / "distances.csv")["distance"]
    assert blind.abs().max() == 0.0  # termination-blind: a constant per step has nothing left


def test_compare_needs_two_rewards(tmp_path, capsys):
    assert main(["compare", "extrinsic", "--env", "MountainCar-v0", "--out", str(tmp_path)]) == 2
    assert "at least two" in capsys.readouterr().err


def test_plot_commands(tmp_path, reward_file):
    png = tmp_path / "land.png"
    assert (
        main(
            [
                "plot",
                "landscape",
                "--reward",
                str(reward_file),
                "--env",
                "MountainCar-v0",
                "--axes",
                "position",
                "velocity",
                "--resolution",
                "15",
                "--out",
                str(png),
            ]
        )
        == 0
    )
    assert png.stat().st_size > 1000
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(
        yaml.safe_dump({"run": {"env": "MountainCar-v0", "reward": yaml.safe_load(SHAPED), "algo": "ppo"}})
    )
    pd.DataFrame(
        {
            "timestep": [1, 2],
            "extrinsic": [-200, -190],
            "shaping": [0.1, 0.2],
            "true_return": [-200, -190],
            "total": [0, 0],
            "length": [200, 190],
            "terminated": [False, True],
        }
    ).to_csv(run / "reward_terms.csv", index=False)
    for kind, extra in [("landscape", ["--resolution", "10", "--steps", "50"]), ("decomposition", ["--steps", "50"])]:
        png = tmp_path / f"{kind}.png"
        assert main(["plot", kind, "--run", str(run), "--out", str(png), *extra]) == 0
        assert png.stat().st_size > 1000
    png = tmp_path / "curves.png"
    assert main(["plot", "curves", str(run), "--out", str(png)]) == 0
    assert png.stat().st_size > 1000
