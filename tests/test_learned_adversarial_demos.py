"""Demonstration files: round trip, one-line validation errors, and ``rewardlab demos collect`` on a tiny run."""

import numpy as np
import pytest

from rewardlab.cli.main import main
from rewardlab.config import build_reward
from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.learned.adversarial import Demonstrations, from_episodes, load_demos
from rewardlab.make import make_vec_env
from rewardlab.train import RunConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pendulum_demos(episodes=3, length=5, seed=0):
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(episodes):
        obs = rng.normal(size=(length + 1, 3)).astype(np.float32)
        eps.append(
            {
                "obs": obs[:-1],
                "next_obs": obs[1:],
                "acts": rng.uniform(-2, 2, size=(length, 1)).astype(np.float32),
                "return": float(rng.normal()),
                "terminated": False,
            }
        )
    return from_episodes(eps, "Pendulum-v1")


def env_info(env_id):
    venv = make_vec_env(env_id, 1)
    try:
        return EnvInfo.from_env(venv)
    finally:
        venv.close()


def test_round_trip_keeps_every_array(tmp_path):
    demos = pendulum_demos()
    path = demos.save(tmp_path / "demos")  # the suffix is added
    assert path.name == "demos.npz"
    back = load_demos(path)
    for field in ("obs", "acts", "next_obs", "dones", "terminated", "episode_starts", "returns"):
        np.testing.assert_array_equal(getattr(back, field), getattr(demos, field))
    assert back.env_id == "Pendulum-v1" and back.n_episodes == 3 and list(back.episode_lengths) == [5, 5, 5]
    back.check_env(env_info("Pendulum-v1"))  # fits


def test_wrong_env_and_shapes_are_one_line_errors(tmp_path):
    demos = pendulum_demos()
    with pytest.raises(ConfigError, match="come from Pendulum-v1 but the reward is bound to CartPole-v1"):
        demos.check_env(env_info("CartPole-v1"))
    demos.env_id = ""  # unknown origin: the shapes still have to fit
    with pytest.raises(ConfigError, match=r"observations of shape \(3,\) but CartPole-v1 has \(4,\)"):
        demos.check_env(env_info("CartPole-v1"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_demos(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ConfigError, match="is not a demonstrations file: it lacks"):
        load_demos(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ConfigError, match="cannot read demonstrations"):
        load_demos(tmp_path / "junk.npz")


def test_broken_episode_boundaries_are_refused():
    demos = pendulum_demos()
    with pytest.raises(ConfigError, match="does not end with done=True"):
        Demonstrations(**{**vars(demos), "dones": np.zeros(len(demos), dtype=bool)})
    with pytest.raises(ConfigError, match="episode_starts must rise strictly from 0"):
        Demonstrations(**{**vars(demos), "episode_starts": np.array([0, 7, 5])})
    with pytest.raises(ConfigError, match="acts has 14 rows but obs has 15"):
        Demonstrations(**{**vars(demos), "acts": demos.acts[:-1]})


def test_demos_collect_writes_whole_episodes_of_a_trained_run(tmp_path, capsys):
    run = tmp_path / "expert"
    train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), run, progress_bar=False)
    out = tmp_path / "demos.npz"
    code = main(["demos", "collect", str(run), "--episodes", "4", "--n-envs", "2", "--out", str(out)])
    assert code == 0
    assert "4 episodes of CartPole-v1" in capsys.readouterr().out
    demos = load_demos(out)
    assert demos.n_episodes == 4 and demos.env_id == "CartPole-v1"
    # each episode's return is its length (CartPole pays 1 per step) and it ends in the pole falling or at 500
    np.testing.assert_array_equal(demos.returns, demos.episode_lengths)
    assert demos.terminated[demos.dones].all() or (demos.episode_lengths == 500).any()
    # transitions chain inside an episode: s' of a step is s of the next one
    inside = ~demos.dones[:-1]
    np.testing.assert_array_equal(demos.next_obs[:-1][inside], demos.obs[1:][inside])
    assert main(["demos", "show", str(out)]) == 0
    # a run folder as the demonstrations of a reward term: its policy is rolled out when the term is built
    term = build_reward({"term": "adversarial", "demos": str(run), "demo_episodes": 2})
    assert term.demos.n_episodes == 2 and term.demos.env_id == "CartPole-v1"
    assert main(["demos", "collect", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demos_of_a_run_with_vecnormalize_hold_raw_observations(tmp_path):
    from rewardlab.learned.adversarial import collect_demos

    run = tmp_path / "mc"
    train(RunConfig(env="MountainCar-v0", steps=256, n_envs=16, eval_episodes=0), run, progress_bar=False)
    assert (run / "vecnormalize.pkl").exists()  # the MountainCar preset normalises observations
    demos = collect_demos(run, episodes=2, n_envs=2)
    positions, velocities = demos.obs[:, 0], demos.obs[:, 1]
    assert positions.min() >= -1.2 and positions.max() <= 0.6 and np.abs(velocities).max() <= 0.07
    assert np.abs(positions.mean() + 0.5) < 0.3  # raw positions start near -0.5, not normalised around 0
