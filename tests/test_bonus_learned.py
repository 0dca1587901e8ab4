"""E3B, RND, NovelD, NGU episodic and products: hand-computed cases, resets, checkpoints, training."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import rewardlab as rl
from rewardlab.bonus import E3B, RND, NGUEpisodic, NovelD, Product
from rewardlab.bonus.keys import GridKey
from rewardlab.core import EnvInfo, Transitions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


INFO = EnvInfo("MountainCar-v0", gym.spaces.Box(-2, 2, (2,)), gym.spaces.Discrete(3), 2, ("position", "velocity"))


def batch_of(obs, next_obs, action=None):
    obs, next_obs = np.asarray(obs, dtype=np.float64), np.asarray(next_obs, dtype=np.float64)
    action = np.zeros(len(obs), dtype=np.int64) if action is None else np.asarray(action)
    return Transitions.from_arrays(obs, action, next_obs)


def identity_encoder(dim=2):
    enc = torch.nn.Linear(dim, dim, bias=False)
    with torch.no_grad():
        enc.weight.copy_(torch.eye(dim))
    return enc


def test_e3b_matches_the_explicit_inverse():
    term = E3B(encoder=identity_encoder(), ridge=0.1)
    term.bind(INFO)
    xs = np.random.default_rng(0).normal(size=(4, 2, 2))  # 4 steps, 2 envs
    cov = [0.1 * np.eye(2), 0.1 * np.eye(2)]
    for t in range(4):
        if t == 2:
            term.reset(np.array([1]))
            cov[1] = 0.1 * np.eye(2)
        got = term(batch_of(xs[t], xs[t]))
        for i in range(2):
            phi = xs[t, i]
            assert got[i] == pytest.approx(phi @ np.linalg.inv(cov[i]) @ phi, rel=1e-6)  # φ is float32
            cov[i] = cov[i] + np.outer(phi, phi)


def test_e3b_compute_leaves_no_gradient_and_update_learns_inverse_dynamics():
    term = E3B(embed_dim=8, hidden=32, lr=1e-2, batch_size=64, seed=0)
    term.bind(INFO)
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, size=(256, 2))
    action = rng.integers(0, 3, 256)
    next_obs = obs + 0.3 * np.stack([action - 1, np.zeros(256)], axis=1)  # the action moves x
    batch = batch_of(obs, next_obs, action)
    term(batch[:2])
    assert all(p.grad is None for p in term.features.encoder.parameters())
    first = term.update(batch)["inverse_dynamics_loss"]
    for _ in range(10):
        last = term.update(batch)["inverse_dynamics_loss"]
    assert first > 1.0 and last < 0.5 * first


def test_e3b_state_dict_round_trip():
    rng = np.random.default_rng(1)
    batch = batch_of(rng.normal(size=(64, 2)), rng.normal(size=(64, 2)), rng.integers(0, 3, 64))
    term = E3B(seed=0)
    term.bind(INFO)
    term.update(batch)
    fresh = E3B(seed=5)
    fresh.bind(INFO)
    fresh.load_state_dict(term.state_dict())
    np.testing.assert_allclose(fresh(batch[:2]), term(batch[:2]))


def test_rnd_is_the_distillation_error_and_falls_with_training():
    term = RND(normalize="none", hidden=32, embed_dim=16, lr=3e-3, seed=0)
    term.bind(INFO)
    obs = np.random.default_rng(0).uniform(-1, 1, size=(256, 2))
    batch = batch_of(obs, obs)
    got = term(batch[:3])
    x = torch.tensor(obs[:3], dtype=torch.float32)  # the normaliser starts at mean 0, std 1
    with torch.no_grad():
        expected = ((term.nets["predictor"](x) - term.nets["target"](x)) ** 2).sum(1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    before = term.novelty(obs).mean()
    for _ in range(40):
        term.update(batch)
    assert term.novelty(obs).mean() < 0.3 * before
    assert not any(p.requires_grad for p in term.nets["target"].parameters())


def test_rnd_std_and_ngu_scalings():
    term = RND(normalize="std", seed=0)
    term.bind(INFO)
    batch = batch_of(np.zeros((2, 2)), [[0.1, 0.2], [-0.3, 0.4]])
    raw = term.novelty(batch.next_obs)
    got = term(batch)
    assert term.stats.count == pytest.approx(2, abs=1e-3)  # the errors went into the running statistics
    np.testing.assert_allclose(got, raw / (term.stats.std + 1e-8), rtol=1e-6)
    term.eval()
    term.normalize = "ngu"
    expected = 1 + (raw - term.stats.mean) / (term.stats.std + 1e-8)
    np.testing.assert_allclose(term(batch), expected, rtol=1e-6)


def test_noveld_hand_computed_with_a_fixed_novelty():
    rnd = RND(normalize="none")
    rnd.novelty = lambda obs: np.asarray(obs)[:, 0] * 1.0  # n(s) = first coordinate
    term = NovelD(alpha=0.5, key=GridKey(dims=[1], cell=1.0), rnd=rnd)
    # env0: n(s)=2, n(s')=3 → 3 − 1 = 2; env1: n(s)=4, n(s')=1 → max(1 − 2, 0) = 0
    out = term(batch_of([[2.0, 0.5], [4.0, 0.5]], [[3.0, 0.5], [1.0, 1.5]]))
    np.testing.assert_allclose(out, [2.0, 0.0])
    # same cells again this episode: no bonus; after env0's reset it pays again
    term.reset(np.array([0]))
    out = term(batch_of([[0.0, 0.5], [0.0, 0.5]], [[3.0, 0.5], [3.0, 1.5]]))
    np.testing.assert_allclose(out, [3.0, 0.0])


def ngu_reference(memory, e, k, mean_sq, eps=1e-3, xi=8e-3, c=1e-3, s_max=8.0):
    d2 = np.sort([float(np.sum((m - e) ** 2)) for m in memory])[:k]
    total = 1.0 + sum(eps / (max(d / mean_sq - xi, 0.0) + eps) for d in d2)
    s = np.sqrt(total) + c
    return 0.0 if s > s_max else 1.0 / s, d2


def test_ngu_episodic_matches_the_formula():
    term = NGUEpisodic(k=2)
    pts = np.array([[0.0], [1.0], [0.1], [5.0]])
    memory, seen = [], []
    for p in pts:
        got = term(batch_of([p], [p]))[0]
        d2 = np.sort([float(np.sum((m - p) ** 2)) for m in memory])[:2]
        seen.extend(d2.tolist())
        expected, _ = ngu_reference(memory, p, 2, np.mean(seen) if seen else 1.0)
        assert got == pytest.approx(expected, rel=1e-6)  # memory holds float32
        memory.append(p)
    assert term(batch_of([[0.0]], [[0.0]]))[0] < 1 / (1 + 1e-3)  # a revisit is less novel than a new state


def test_ngu_episodic_memory_resets_per_env_and_cuts_off_crowded_states():
    term = NGUEpisodic(k=10, max_similarity=2.0)
    same = batch_of(np.zeros((2, 3)), np.zeros((2, 3)))
    for _ in range(4):
        out = term(same)
    assert out.tolist() == [0.0, 0.0]  # √(1 + 3) + c > 2
    term.reset(np.array([1]))
    np.testing.assert_allclose(term(same), [0.0, 1 / (1 + 1e-3)])


def test_product_clips_each_factor():
    a, b = rl.function(lambda next_obs: next_obs[:, 0]), rl.function(lambda next_obs: next_obs[:, 1])
    term = Product([a, b], bounds=[None, (1.0, 5.0)])
    np.testing.assert_allclose(term(batch_of(np.zeros((3, 2)), [[2.0, 0.5], [2.0, 3.0], [-1.0, 9.0]])), [2, 6, -5])


@pytest.mark.parametrize(
    "spec",
    [
        {"term": "e3b", "ridge": 0.1, "normalize": "std"},
        {"term": "rnd", "scale": "ngu", "clip": 5.0},
        {"term": "noveld", "key": {"name": "simhash", "bits": 16}},
        {"term": "ngu_episodic", "embedding": "inverse_dynamics", "k": 5},
        {"term": "ngu", "episodic": {"term": "ngu_episodic", "k": 3}, "max_scale": 3.0},
        {"term": "product", "of": [{"term": "count", "mode": "global"}, "e3b"], "bounds": [None, [0.0, 1.0]]},
    ],
)
def test_yaml_bonuses_build_and_run(spec):
    term = rl.build_reward(spec)
    term.bind(INFO)
    rng = np.random.default_rng(0)
    batch = batch_of(rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), [0, 2])
    assert np.isfinite(term(batch)).all()
    if term.learns:
        assert term.update(Transitions.concatenate([batch] * 8))


def test_bonus_state_dicts_round_trip():
    rng = np.random.default_rng(2)
    batch = batch_of(rng.normal(size=(32, 2)), rng.normal(size=(32, 2)), rng.integers(0, 3, 32))
    for make in (lambda: rl.bonus.rnd(seed=0), lambda: rl.bonus.ngu(), lambda: rl.bonus.noveld(key=GridKey(cell=1.0))):
        term = make()
        term.bind(INFO)
        term(batch[:2])
        term.update(batch)
        fresh = make()
        fresh.bind(INFO)
        fresh.load_state_dict(term.state_dict())
        term.eval(), fresh.eval()
        np.testing.assert_allclose(fresh(batch[2:4]), term(batch[2:4]))


def test_e3b_and_ngu_reset_at_sb3_auto_reset():
    """The first step of every episode sees a fresh covariance / an empty memory."""
    e3b = E3B(encoder=identity_encoder(), ridge=0.1, name="e3b")
    ngu = NGUEpisodic(name="ngu")
    venv = rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 3})
    venv = rl.RewardVecWrapper(venv, e3b + ngu)
    venv.reset()
    for t in range(9):
        obs, _, dones, infos = venv.step(np.array([0, 2]))
        if t % 3 == 0:  # first step of an episode: nothing stored yet
            for i in range(2):
                assert infos[i]["rewardlab"]["e3b"] == pytest.approx(np.sum(obs[i] ** 2) / 0.1, rel=1e-6)
                assert infos[i]["rewardlab"]["ngu"] == pytest.approx(1 / (1 + 1e-3))
        else:
            assert infos[0]["rewardlab"]["ngu"] < 1 / (1 + 1e-3)


def test_e3b_takes_the_embedding_size_of_a_user_encoder():
    encoder = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh())
    term = E3B(encoder=encoder)  # embed_dim (32) is only for the built-in MLP
    term.bind(INFO)
    rng = np.random.default_rng(0)
    batch = batch_of(rng.normal(size=(16, 2)), rng.normal(size=(16, 2)), rng.integers(0, 3, 16))
    assert term(batch[:2]).shape == (2,) and term.inv_cov.shape == (2, 5, 5)
    assert term.update(batch)["inverse_dynamics_loss"] > 0
    fresh = E3B(encoder=torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh()))
    fresh.bind(INFO)
    fresh.load_state_dict(term.state_dict())
    term.reset(np.arange(2))
    np.testing.assert_allclose(fresh(batch[2:4]), term(batch[2:4]))
