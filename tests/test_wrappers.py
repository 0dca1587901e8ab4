"""Wrappers: env checkers pass, infos carry every term, episode sums add up, NaN never reaches the agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.core.term import RewardTerm


def three_terms():
    return (
        rl.extrinsic()
        + rl.shaping.potential("cartpole_upright", gamma=0.99)
        + 0.1 * rl.function(lambda next_obs: -np.abs(next_obs[:, 0]), name="centre")
    )


def test_gymnasium_and_sb3_checkers_pass_on_single_env_wrapper():
    env = rl.RewardWrapper(gym.make("CartPole-v1"), three_terms())
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(rl.RewardWrapper(gym.make("CartPole-v1"), three_terms()), warn=False)


def test_single_env_wrapper_matches_vector_wrapper():
    single = rl.RewardWrapper(gym.make("CartPole-v1"), three_terms())
    vec = rl.RewardVecWrapper(DummyVecEnv([lambda: gym.make("CartPole-v1")]), three_terms())
    obs_s, _ = single.reset(seed=3)
    vec.seed(3)
    obs_v = vec.reset()
    np.testing.assert_allclose(obs_s, obs_v[0])
    for _ in range(30):
        a = 1
        _, r_s, term, trunc, info = single.step(a)
        _, r_v, _, infos = vec.step(np.array([a]))
        assert r_s == pytest.approx(float(r_v[0]), rel=1e-6)
        assert info["rewardlab"] == pytest.approx(infos[0]["rewardlab"])
        if term or trunc:
            break


@pytest.mark.parametrize("how", ["step", "step_async then step_wait"])
def test_actions_given_as_a_list_reach_the_terms_as_an_array(how):
    """Where no term keeps batches the wrapper takes an action array as it is, and converts anything else."""
    seen = []

    def push(action: np.ndarray) -> np.ndarray:
        seen.append((type(action), action.copy()))
        return action.astype(np.float64)

    vec = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), rl.function(push, name="push"))
    assert not vec._may_keep
    vec.reset()
    for actions in ([1, 0], np.array([0, 1])):
        if how == "step":
            _, rewards, _, _ = vec.step(actions)
        else:
            vec.step_async(actions)
            _, rewards, _, _ = vec.step_wait()
        np.testing.assert_array_equal(rewards, actions)
    assert [t for t, _ in seen] == [np.ndarray, np.ndarray]
    np.testing.assert_array_equal([a for _, a in seen], [[1, 0], [0, 1]])


def test_infos_and_episode_sums():
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=3, seed=0), three_terms())
    venv.reset()
    running = np.zeros(3)
    finished = []
    for _ in range(200):
        _, rew, dones, infos = venv.step(np.array([venv.action_space.sample() for _ in range(3)]))
        for i, info in enumerate(infos):
            step = info["rewardlab"]
            assert set(step) == {"extrinsic", "shaping", "centre", "extrinsic_reward", "total"}
            assert step["total"] == pytest.approx(step["extrinsic"] + step["shaping"] + step["centre"])
            assert rew[i] == pytest.approx(step["total"], rel=1e-5)
            running[i] += step["total"]
            if dones[i]:
                ep = info["rewardlab_episode"]
                assert ep["total"] == pytest.approx(running[i])
                assert ep["true_return"] == pytest.approx(info["episode"]["r"])  # Monitor's return
                assert ep["length"] == info["episode"]["l"]
                finished.append(ep)
                running[i] = 0.0
    assert len(finished) > 3


class Exploding(RewardTerm):
    name = "exploding"

    def compute(self, batch):
        out = np.zeros(batch.n)
        out[1] = np.nan
        out[2] = np.inf
        return out


@pytest.mark.parametrize("policy", ["raise", "zero", "clip"])
def test_nan_policies(policy):
    venv = rl.RewardVecWrapper(
        rl.make_vec_env("CartPole-v1", n_envs=3), rl.extrinsic() + Exploding(), nan_policy=policy, clip_value=50.0
    )
    venv.reset()
    if policy == "raise":
        with pytest.raises(rl.NonFiniteRewardError, match=r"'exploding' in envs \[1, 2\]"):
            venv.step(np.zeros(3, dtype=int))
        return
    with pytest.warns(RuntimeWarning, match="exploding"):
        _, rew, _, _ = venv.step(np.zeros(3, dtype=int))
    assert np.all(np.isfinite(rew))
    np.testing.assert_allclose(rew, [1.0, 1.0, 51.0 if policy == "clip" else 1.0])


def test_unknown_nan_policy_lists_choices():
    with pytest.raises(ValueError, match="valid: \\['raise', 'zero', 'clip'\\]"):
        rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=1), rl.extrinsic(), nan_policy="ignore")


class Learner(RewardTerm):
    """Counts how often and on how many transitions update() runs; resets are recorded."""

    name = "learner"
    learns = True

    def __init__(self):
        super().__init__()
        self.updates: list[int] = []
        self.resets: list[list[int]] = []

    def compute(self, batch):
        return np.zeros(batch.n)

    def reset(self, env_indices):
        self.resets.append(list(map(int, env_indices)))

    def update(self, batch):
        self.updates.append(batch.n)
        return {"loss": 1.0}


def test_learning_terms_get_batches_every_update_every_steps():
    learner = Learner()
    venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2), rl.extrinsic() + learner, update_every=5)
    venv.reset()
    for _ in range(12):
        venv.step(np.zeros(2, dtype=int))
    assert learner.updates == [10, 10]
    assert venv.engine.last_update_metrics == {"learner/loss": 1.0}
    assert learner.resets[0] == [0, 1]  # the reset of all envs at venv.reset()
    learner.eval()
    for _ in range(10):
        venv.step(np.zeros(2, dtype=int))
    assert learner.updates == [10, 10]  # frozen in eval mode


def test_dict_observations_keep_terminal_observation(chain_factory):
    class DictChain(gym.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            self.observation_space = gym.spaces.Dict({"pos": env.observation_space})

        def observation(self, obs):
            return {"pos": obs}

    seen = []
    term = rl.function(lambda next_obs: seen.append(next_obs["pos"][:, 0].copy()) or np.zeros(len(next_obs["pos"])))
    venv = rl.RewardVecWrapper(DummyVecEnv([lambda: DictChain(chain_factory(goal=1))]), term)
    venv.reset()
    obs, _, done, _ = venv.step(np.array([1]))
    assert done[0] and obs["pos"][0, 0] == 0.0  # auto-reset observation
    assert seen[-1][0] == 1.0  # the term saw the terminal observation


@pytest.mark.parametrize(
    ("algo", "env_id", "kwargs"),
    [
        ("PPO", "CartPole-v1", {"n_steps": 64, "batch_size": 64}),
        ("A2C", "CartPole-v1", {"n_steps": 8}),
        ("DQN", "CartPole-v1", {"learning_starts": 50}),
        ("SAC", "Pendulum-v1", {"learning_starts": 50, "batch_size": 32}),
        ("TD3", "Pendulum-v1", {"learning_starts": 50, "batch_size": 32}),
    ],
)
def test_every_sb3_algorithm_trains_on_the_wrapper(algo, env_id, kwargs, tmp_path):
    import stable_baselines3 as sb3
    from stable_baselines3.common.logger import configure

    potential = "cartpole_upright" if env_id == "CartPole-v1" else "pendulum_upright"
    reward = rl.extrinsic() + rl.shaping.potential(potential)
    venv = rl.RewardVecWrapper(rl.make_vec_env(env_id, n_envs=2 if algo in ("PPO", "A2C") else 1), reward)
    model = getattr(sb3, algo)("MlpPolicy", venv, seed=0, device="cpu", **kwargs)
    model.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    model.learn(600, callback=rl.RewardLogger(), log_interval=1)
    rows = (tmp_path / "reward_terms.csv").read_text().splitlines()
    assert rows[0].split(",") == [
        "timestep",
        "extrinsic",
        "shaping",
        "true_return",
        "total",
        "length",
        "terminated",
    ]
    assert len(rows) > 1
    progress = (tmp_path / "progress.csv").read_text().splitlines()[0]
    assert "rollout/true_return" in progress and "rollout/reward/shaping" in progress
    assert list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.parametrize("through_engine", [True, False], ids=["engine's episodes", "scan of infos"])
def test_reward_logger_writes_every_finished_episode_once(through_engine, tmp_path):
    """The logger takes a step's finished episodes from the engine when the infos are the engine's, else scans."""
    from stable_baselines3.common.vec_env import VecNormalize

    from rewardlab.callbacks import find_engine

    venv = VecNormalize(rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=4, seed=0), three_terms()))
    logger = rl.RewardLogger(csv_path=tmp_path / "terms.csv")
    logger._engine = find_engine(venv)
    assert logger._engine is venv.venv.engine
    venv.reset()
    want = []
    for t in range(120):
        _, _, dones, infos = venv.step(np.array([venv.action_space.sample() for _ in range(4)]))
        want += [(t, info["rewardlab_episode"]) for info in infos if "rewardlab_episode" in info]
        logger.num_timesteps = t
        # the engine's infos, or copies of them (as a wrapper above might make): then the logger scans them
        logger.locals = {"infos": infos if through_engine else [dict(info) for info in infos]}
        assert (logger._engine.last_info is logger.locals["infos"][0]) == through_engine
        logger._on_step()
    logger._on_training_end()
    rows = (tmp_path / "terms.csv").read_text().splitlines()
    assert len(want) > 10 and len(rows) == len(want) + 1
    for row, (t, episode) in zip(rows[1:], want):
        fields = row.split(",")
        assert int(fields[0]) == t and float(fields[-3]) == pytest.approx(episode["total"])
