"""The novelty archive and reward term: brute-force reference, growth and bound, modes, state round trip, YAML."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rewardlab as rl
from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.transitions import Transitions
from rewardlab.qd.archive import NoveltyArchive
from rewardlab.qd.descriptors import parse_descriptor
from rewardlab.qd.knn import KNNIndex, brute_force_novelty
from rewardlab.qd.novelty import NoveltyTerm


def reference_novelty(archive: np.ndarray, x: np.ndarray, k: int, empty: float) -> np.ndarray:
    """(1/k)·Σ of the k smallest Euclidean distances, computed the obvious way."""
    if len(archive) == 0:
        return np.full(len(x), empty)
    d = np.linalg.norm(x[:, None, :] - archive[None, :, :], axis=-1)
    return np.sort(d, axis=1)[:, : min(k, len(archive))].mean(axis=1)


@pytest.mark.parametrize("size", [0, 3, 40, 3000])
def test_novelty_equals_brute_force_reference(size):
    rng = np.random.default_rng(size)
    archive = NoveltyArchive(3, k=15, threshold=0.2)
    # small min_pending: the tree is built and the scan covers the entries added since
    archive.index = KNNIndex(min_pending=16, rebuild_ratio=4)
    for chunk in np.array_split(rng.random((size, 3)), 7):
        archive.add(chunk)
        archive.novelty(rng.random((2, 3)))  # queries between additions trigger rebuilds
    x = rng.random((64, 3))
    expected = reference_novelty(rng.random((0, 3)) if size == 0 else archive.descriptors, x, 15, 0.2)
    np.testing.assert_allclose(archive.novelty(x), expected, rtol=1e-9, atol=1e-12)
    if size:
        np.testing.assert_allclose(brute_force_novelty(archive.descriptors, x, 15), expected, rtol=1e-9)
    if size == 3000:
        assert archive.index.rebuilds >= 2 and archive.index.tree_size < size  # both parts were used


def test_growth_by_threshold_and_fifo_bound():
    archive = NoveltyArchive(1, k=1, threshold=0.5, max_size=10, evict_to=0.5)
    rho, added = archive.score_and_grow(np.array([[0.0]]))
    assert rho[0] == 0.5 and added[0] and len(archive) == 1  # empty archive: novelty = threshold, added
    rho, added = archive.score_and_grow(np.array([[0.2], [1.0], [3.0]]))
    np.testing.assert_allclose(rho, [0.2, 1.0, 3.0])
    assert added.tolist() == [False, True, True]
    np.testing.assert_array_equal(archive.descriptors[:, 0], [0.0, 1.0, 3.0])
    archive.add(np.arange(10, 17, dtype=float)[:, None])  # 3 + 7 = 10: full, nothing evicted yet
    assert len(archive) == 10 and archive.evicted_total == 0
    archive.add(np.array([[100.0], [101.0]]))  # past the bound: keep the newest 5 - ... then add
    # keep = min(0.5 * 10, 10 - 2) = 5 newest, then the 2 new ones
    np.testing.assert_array_equal(archive.descriptors[:, 0], [12, 13, 14, 15, 16, 100, 101])
    assert archive.evicted_total == 5 and archive.added_total == 12
    assert archive.novelty(np.array([[12.0]]))[0] == 0.0  # the index was rebuilt after eviction


def test_unbounded_archive_keeps_everything():
    archive = NoveltyArchive(2, k=3, threshold=0.0, max_size=None, capacity=4)
    archive.add(np.random.default_rng(0).random((100, 2)))
    assert len(archive) == 100 and archive.evicted_total == 0


def cartpole_info(n: int) -> EnvInfo:
    env = gym.make("CartPole-v1")
    return EnvInfo("CartPole-v1", env.observation_space, env.action_space, n, ("x", "v", "theta", "omega"))


def mountaincar_info(n: int) -> EnvInfo:
    env = gym.make("MountainCar-v0")
    return EnvInfo("MountainCar-v0", env.observation_space, env.action_space, n, ("position", "velocity"))


def batch(next_obs: np.ndarray, done: np.ndarray | None = None) -> Transitions:
    n = len(next_obs)
    done = np.zeros(n, bool) if done is None else done
    return Transitions(next_obs, np.zeros(n, np.int64), next_obs, np.zeros(n), done, np.zeros(n, bool))


def test_step_mode_rewards_novelty_of_scaled_final_dims():
    term = NoveltyTerm(descriptor="final:position", k=2, threshold=0.01, max_size=None)
    term.bind(mountaincar_info(2))
    r1 = term(batch(np.array([[-1.2, 0.0], [0.6, 0.0]])))
    np.testing.assert_allclose(r1, [0.01, 0.01], atol=1e-6)  # empty archive: threshold, both added
    r2 = term(batch(np.array([[-0.3, 0.07], [-1.2, 0.0]])))
    np.testing.assert_allclose(r2, [0.5, 0.5], atol=1e-6)  # position scaled by [-1.2, 0.6]: both at mean distance 0.5
    term.eval()
    before = len(term.archive)
    term(batch(np.array([[0.0, 0.0], [0.1, 0.0]])))
    assert len(term.archive) == before  # eval: read, not grown


def test_episode_mode_pays_once_at_the_end_with_a_trajectory_descriptor():
    term = NoveltyTerm(descriptor="times:position@0,2", k=1, threshold=0.1, mode="episode")
    term.bind(mountaincar_info(2))
    for t, done in enumerate([False, False, True]):
        r = term(batch(np.array([[-1.2 + 0.9 * t, 0], [0.6, 0]]), np.array([done, False])))
        assert r[1] == 0.0
        assert (r[0] != 0.0) == done
    np.testing.assert_allclose(term.archive.descriptors, [[0.0, 1.0]], atol=1e-6)  # position at steps 0 and 2, scaled
    with pytest.raises(ValueError, match="use mode: episode"):
        NoveltyTerm(descriptor="histogram:position", mode="step")


@pytest.mark.parametrize("descriptor", ["final:x,theta", "learned:x,v@2"])
def test_state_round_trip_is_exact(descriptor):
    rng = np.random.default_rng(0)
    a = NoveltyTerm(descriptor=descriptor, k=3, threshold=0.01, max_size=50, mode="step")
    a.bind(cartpole_info(4))
    for _ in range(30):
        a(batch(rng.normal(size=(4, 4))))
    if a.learns:
        a.update(batch(rng.normal(size=(64, 4))))
    b = NoveltyTerm(descriptor=descriptor, k=3, threshold=0.01, max_size=50, mode="step")
    b.bind(cartpole_info(4))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.archive.descriptors, a.archive.descriptors)
    for _ in range(5):  # the two continue identically (archives grow the same way, learning included)
        x = rng.normal(size=(4, 4))
        np.testing.assert_array_equal(a(batch(x)), b(batch(x)))
        if a.learns:
            y = rng.normal(size=(16, 4))
            a.update(batch(y))
            b.update(batch(y))
    np.testing.assert_array_equal(b.archive.descriptors, a.archive.descriptors)


def test_learned_descriptor_recomputes_the_archive_after_training():
    term = NoveltyTerm(descriptor="learned@2", k=3, threshold=0.0, mode="step")
    term.bind(cartpole_info(8))
    rng = np.random.default_rng(1)
    term(batch(rng.normal(size=(8, 4))))
    before = term.archive.descriptors.copy()
    metrics = term.update(batch(rng.normal(size=(128, 4))))
    assert metrics["ae_loss"] >= 0 and not np.allclose(before, term.archive.descriptors)
    np.testing.assert_allclose(term.archive.descriptors, term.descriptor.encode(term.archive.sources[:8]))


def test_yaml_builds_the_term_and_bad_names_fail_in_one_line():
    reward = rl.build_reward(
        [
            "extrinsic",
            {"term": "novelty", "descriptor": "final:position,velocity", "k": 5, "threshold": 0.02, "weight": 0.1},
        ]
    )
    venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), reward)
    venv.reset()
    for _ in range(5):
        venv.step(np.array([0, 2]))
    leaf = [t for t in reward.leaves() if isinstance(t, NoveltyTerm)][0]
    assert len(leaf.archive) >= 2
    bad = rl.build_reward([{"term": "novelty", "descriptor": "final:positon"}])
    with pytest.raises(ConfigError, match=r"no observation dimension 'positon' \(did you mean 'position'\?\)"):
        rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=1, seed=0), bad)
    with pytest.raises(ConfigError, match="unknown descriptor kind 'finall'.*valid"):
        rl.build_reward([{"term": "novelty", "descriptor": "finall:position"}])
    with pytest.raises(ConfigError, match="must be one of"):
        rl.build_reward([{"term": "novelty", "mode": "always"}])


def test_histogram_descriptor_sums_to_one():
    d = parse_descriptor("histogram:position,velocity@3")
    env = gym.make("MountainCar-v0")
    d.bind(observation_space=env.observation_space, obs_names=("position", "velocity"))
    h = d.of_trajectories([np.array([[-1.2, -0.07], [0.6, 0.07], [0.6, 0.07], [-0.3, 0.0]])])
    assert h.shape == (1, 9) and h.sum() == pytest.approx(1.0)
    assert h[0, 0] == 0.25 and h[0, 8] == 0.5 and h[0, 4] == 0.25
