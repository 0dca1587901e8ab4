"""Reward ensembles: feature layouts, torch and numpy paths agree, state round trip, normaliser."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.config.registry import ConfigError
from rewardlab.learned.networks import PredictionNormalizer, RewardEnsemble

BOX = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
DISCRETE = gym.spaces.Discrete(3)


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n), rng.normal(size=(n, 4)).astype(np.float32)


def test_inputs_one_hot_discrete_actions_and_follow_the_chosen_features():
    obs, act, nxt = _batch()
    net = RewardEnsemble(BOX, DISCRETE, features=["obs", "action", "next_obs"], members=2)
    x = net.inputs(obs, act, nxt)
    assert x.shape == (16, 4 + 3 + 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 4:7].argmax(1), act)
    assert (x[:, 4:7].sum(1) == 1).all()
    np.testing.assert_array_equal(x[:, 7:], nxt)
    only_next = RewardEnsemble(BOX, DISCRETE, features=["next_obs"])
    np.testing.assert_array_equal(only_next.inputs(obs, act, nxt), nxt)


def test_numpy_path_equals_the_torch_path_for_every_member():
    obs, act, nxt = _batch(64)
    net = RewardEnsemble(BOX, DISCRETE, members=4, hidden=32, layers=3, seed=3)
    x = net.inputs(obs, act, nxt)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    fast = net.numpy_path()(x)
    assert fast.shape == (4, 64)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5)
    assert fast.std(axis=0).mean() > 1e-3  # members start from different seeds: they disagree


def test_forward_keeps_the_batch_shape_and_is_differentiable():
    net = RewardEnsemble(BOX, DISCRETE, members=3)
    x = torch.randn(5, 7, net.in_dim, requires_grad=True)
    out = net(x)
    assert out.shape == (3, 5, 7)
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())


def test_state_dict_round_trip_is_exact():
    obs, act, nxt = _batch()
    a = RewardEnsemble(BOX, DISCRETE, members=3, seed=0)
    b = RewardEnsemble(BOX, DISCRETE, members=3, seed=99)
    x = a.inputs(obs, act, nxt)
    assert not np.array_equal(a.numpy_path()(x), b.numpy_path()(x))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.numpy_path()(x), b.numpy_path()(x))


def test_cnn_members_read_image_observations():
    img = gym.spaces.Box(0, 255, (24, 24, 3), np.uint8)
    net = RewardEnsemble(img, DISCRETE, features=["obs", "action"], members=2, hidden=16)
    obs = np.random.default_rng(0).integers(0, 256, (5, 24, 24, 3), dtype=np.uint8)
    x = net.inputs(obs, np.array([0, 1, 2, 0, 1]), obs)
    assert x.shape == (5, 24 * 24 * 3 + 3) and x.max() <= 1.0
    out = net.numpy_path()(x)
    assert out.shape == (2, 5) and np.isfinite(out).all()


def test_bad_features_fail_with_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match="obs.*action.*next_obs"):
        RewardEnsemble(BOX, DISCRETE, features=["state"])


def test_normalizer_modes():
    values = np.array([4.0, 5.0, 6.0])
    norm = PredictionNormalizer("scale")
    norm.update(values)
    assert np.all(norm(values) > 0) and np.sqrt(np.mean(norm(values) ** 2)) == pytest.approx(1.0, rel=1e-3)
    center = PredictionNormalizer("center")
    center.update(values)
    np.testing.assert_allclose(center(values), [-1.2247, 0.0, 1.2247], atol=1e-3)
    with pytest.raises(ConfigError, match="valid"):
        PredictionNormalizer("std")


def test_batched_members_start_and_compute_as_separate_mlps():
    """The stacked ensemble is k separate nn.Linear stacks (seeds seed + k) evaluated in one matmul per layer."""
    from rewardlab.learned.networks import _mlp

    net = RewardEnsemble(BOX, DISCRETE, members=3, hidden=16, layers=2, seed=5)
    x = torch.from_numpy(net.inputs(*_batch(32)))
    out = net(x)
    for k in range(3):
        with torch.random.fork_rng():
            torch.manual_seed(5 + k)
            alone = _mlp(net.in_dim, 16, 2)
        with torch.no_grad():
            np.testing.assert_allclose(out[k].detach().numpy(), alone(x).squeeze(-1).numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(net.member(k, x).numpy(), out[k].detach().numpy(), rtol=1e-5, atol=1e-6)
    # a loss on one member leaves the other members' weights without gradient
    net.zero_grad()
    net(x)[1].sum().backward()
    for w in net.mlp.weights:
        assert w.grad[0].abs().sum() == 0 and w.grad[2].abs().sum() == 0 and w.grad[1].abs().sum() > 0


def test_an_ensemble_saved_as_separate_members_loads_to_the_same_reward():
    """Run folders written before the members were stacked (``nets.k.i.weight``) load unchanged."""
    from rewardlab.learned.networks import _mlp

    net = RewardEnsemble(BOX, DISCRETE, members=3, hidden=16, layers=2, seed=0)
    torch.manual_seed(11)
    members = [_mlp(net.in_dim, 16, 2) for _ in range(3)]  # weights of the old layout, not the seeded start
    old_state = {f"nets.{k}.{key}": v for k, m in enumerate(members) for key, v in m.state_dict().items()}
    net.load_state_dict(old_state)
    x = torch.from_numpy(net.inputs(*_batch(32)))
    with torch.no_grad():
        expected = torch.stack([m(x).squeeze(-1) for m in members])
        np.testing.assert_allclose(net(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
