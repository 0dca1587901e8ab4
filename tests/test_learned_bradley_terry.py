"""The batched Bradley–Terry loss equals a per-pair reference; a model learns a known reward from preferences."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from rewardlab.learned.preference import OracleTeacher, PreferenceModel, Queries, bradley_terry_loss, segment_returns


def _reference_loss(rewards_1, rewards_2, mask_1, mask_2, labels):
    """One pair at a time, written from the formula P = exp R¹ / (exp R¹ + exp R²)."""
    members, pairs = rewards_1.shape[0], rewards_1.shape[1]
    total = 0.0
    for k in range(members):
        losses = []
        for i in range(pairs):
            r1 = sum(float(r) * float(m) for r, m in zip(rewards_1[k, i], mask_1[i]))
            r2 = sum(float(r) * float(m) for r, m in zip(rewards_2[k, i], mask_2[i]))
            p1 = math.exp(r1) / (math.exp(r1) + math.exp(r2))
            y = float(labels[i])
            losses.append(-(y * math.log(p1) + (1 - y) * math.log(1 - p1)))
        total += sum(losses) / len(losses)
    return total


def test_batched_loss_equals_the_per_pair_reference():
    g = torch.Generator().manual_seed(0)
    members, pairs, steps = 3, 40, 7
    r1 = torch.randn(members, pairs, steps, generator=g) * 0.5
    r2 = torch.randn(members, pairs, steps, generator=g) * 0.5
    m1 = (torch.rand(pairs, steps, generator=g) > 0.2).double()
    m2 = torch.ones(pairs, steps, dtype=torch.float64)
    labels = torch.tensor(np.random.default_rng(0).choice([0.0, 0.5, 1.0], pairs))
    batched = bradley_terry_loss(segment_returns(r1.double(), m1), segment_returns(r2.double(), m2), labels)
    reference = _reference_loss(r1.numpy(), r2.numpy(), m1.numpy(), m2.numpy(), labels.numpy())
    assert float(batched) == pytest.approx(reference, rel=1e-9)


def test_gradient_matches_the_per_pair_reference():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 10, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2, 10, dtype=torch.float64, generator=g)
    y = torch.tensor([1.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.0], dtype=torch.float64)
    bradley_terry_loss(a, b, y).backward()
    # d/dR¹ of the mean cross-entropy: (σ(R¹ − R²) − y) / pairs
    expected = (torch.sigmoid(a - b) - y).detach() / 10
    torch.testing.assert_close(a.grad, expected)


def test_bootstrap_weights_reweight_pairs():
    a, b = torch.tensor([[2.0, -1.0]]), torch.zeros(1, 2)
    y = torch.tensor([1.0, 1.0])
    only_first = bradley_terry_loss(a, b, y, weights=torch.tensor([[1.0, 0.0]]))
    assert float(only_first) == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_a_reward_model_learns_a_known_linear_reward_from_synthetic_preferences():
    rng = np.random.default_rng(0)
    space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    w = np.array([1.0, -0.5, 0.25])
    n, steps = 200, 10
    obs_1, obs_2 = rng.uniform(-1, 1, (n, steps, 3)), rng.uniform(-1, 1, (n, steps, 3))
    ones = np.ones((n, steps))
    queries = Queries(obs_1 @ w, obs_2 @ w, ones, ones)
    labels = OracleTeacher(beta=5.0, seed=0).answer(queries)  # a slightly noisy teacher
    model = PreferenceModel(space, gym.spaces.Discrete(2), features=["obs"], members=3, hidden=32, epochs=40, seed=0)
    model.add_labels(obs_1.astype(np.float32), ones, obs_2.astype(np.float32), ones, labels)
    metrics = model.train()
    assert metrics["label_accuracy"] > 0.85
    test = rng.uniform(-1, 1, (500, 3))
    learned = model.raw_reward(model.inputs(test, np.zeros(500, dtype=int), test))
    rho = spearmanr(learned, test @ w).statistic
    assert rho > 0.9, rho
    # and a model trained on shuffled labels does not: the check can fail
    shuffled = PreferenceModel(space, gym.spaces.Discrete(2), features=["obs"], members=3, hidden=32, epochs=40)
    shuffled.add_labels(obs_1.astype(np.float32), ones, obs_2.astype(np.float32), ones, rng.permutation(labels))
    shuffled.train()
    rho_shuffled = spearmanr(shuffled.raw_reward(shuffled.inputs(test, np.zeros(500, dtype=int), test)), test @ w)
    assert abs(rho_shuffled.statistic) < 0.5


def test_query_selection_picks_uncertain_pairs():
    from rewardlab.learned.preference import select_queries

    rng = np.random.default_rng(0)
    # 3 members × 4 pairs: pair 1 splits the members, pair 2 is a confident coin flip for all, 0 and 3 are sure
    p = np.array([[0.99, 0.05, 0.5, 0.01], [0.98, 0.95, 0.5, 0.02], [0.99, 0.9, 0.5, 0.01]])
    assert select_queries("disagreement", p, 1, rng).tolist() == [1]
    assert select_queries("entropy", p, 1, rng).tolist() == [2]
    assert sorted(select_queries("uniform", p, 4, rng).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="valid"):
        select_queries("greedy", p, 1, rng)
