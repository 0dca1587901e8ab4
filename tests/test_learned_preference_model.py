"""The preference reward model's training: early stopping and semi-supervised augmentation (SURF)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.config.registry import ConfigError
from rewardlab.learned.preference.model import PreferenceModel
from rewardlab.learned.preference.surf import pseudo_label_loss, temporal_crop

BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
DISCRETE = gym.spaces.Discrete(2)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pairs(n, *, length=10, seed=0):
    """Segment pairs of a 3-dim state and a binary action; the true reward is the first state coordinate."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(2, n, length, 3)).astype(np.float32)
    act = np.eye(2, dtype=np.float32)[rng.integers(0, 2, (2, n, length))]
    x = np.concatenate([obs, act], axis=-1)
    mask = np.ones((2, n, length), dtype=np.float32)
    returns = obs[..., 0].sum(-1)
    labels = (returns[0] > returns[1]).astype(np.float32)
    return x[0], mask[0], x[1], mask[1], labels


def model(**kwargs):
    return PreferenceModel(BOX, DISCRETE, seed=0, **kwargs)


def test_early_stopping_ends_training_when_the_loss_stops_falling_at_the_same_accuracy():
    data = pairs(200)
    full, early = model(early_stop=False, epochs=40), model(early_stop=True, epochs=40)
    for m in (full, early):
        m.add_labels(*data)
    m_full, m_early = full.train(), early.train()
    assert m_full["bt_epochs"] == 40
    assert 3 <= m_early["bt_epochs"] < 40
    assert m_early["label_accuracy"] > 0.9 and m_full["label_accuracy"] > 0.9
    # on fresh pairs both generalise alike
    test = pairs(500, seed=1)
    acc = [held_out_accuracy(m, test) for m in (full, early)]
    assert acc[1] > 0.85 and abs(acc[0] - acc[1]) < 0.05, acc


def held_out_accuracy(m, data):
    r1, r2 = m.segment_returns(data[0], data[1]).mean(0), m.segment_returns(data[2], data[3]).mean(0)
    return float(((r1 > r2) == data[4]).mean())


def test_temporal_crop_cuts_both_segments_to_one_window_length_inside_their_masks():
    rng = np.random.default_rng(0)
    m1, m2 = np.ones((500, 10)), np.ones((500, 10))
    m2[:, 7:] = 0  # the second segment ended early
    c1, c2 = temporal_crop(m1, m2, cut=3, rng=rng)
    assert set(c1.sum(1)) == {7.0, 8.0, 9.0, 10.0}  # every crop length from H − 3 to H occurs
    assert (c1 <= m1).all() and (c2 <= m2).all()
    for row in c1:  # one contiguous window
        on = np.flatnonzero(row)
        assert on[-1] - on[0] + 1 == len(on)
    assert temporal_crop(m1, m2, cut=0, rng=rng)[0] is m1


def test_pseudo_labels_count_only_each_members_confident_pairs():
    r1 = torch.tensor([[5.0, 0.1, -6.0], [0.0, 0.0, 0.0]], requires_grad=True)
    r2 = torch.zeros(2, 3)
    loss = pseudo_label_loss(r1, r2, threshold=0.99)
    # member 0: pairs 0 and 2 are confident (σ(5) = 0.993, σ(−6) = 0.002), labelled by its own prediction
    expected = (torch.nn.functional.softplus(torch.tensor(-5.0)) + torch.nn.functional.softplus(torch.tensor(-6.0))) / 2
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    assert r1.grad[0, 1] == 0 and (r1.grad[1] == 0).all()  # unconfident pairs and member 1 get no gradient
    assert float(pseudo_label_loss(r2, r2, threshold=0.99)) == 0.0


def test_surf_pseudo_labels_help_a_model_with_few_labels():
    """20 labels: confident pseudo-labels on 500 unlabelled pairs raise held-out accuracy (3 seeds, mean)."""
    labelled, pool, test = pairs(20, seed=2), pairs(500, seed=3), pairs(500, seed=4)
    gain = []
    for seed in range(3):
        acc = []
        for surf in (0.0, 1.0):
            m = PreferenceModel(BOX, DISCRETE, seed=seed, pseudo_labels=surf, pseudo_threshold=0.95, epochs=30)
            m.add_labels(*labelled)
            for _ in range(3):
                m.train(unlabelled=pool[:4])
            acc.append(held_out_accuracy(m, test))
        gain.append(acc[1] - acc[0])
    assert np.mean(gain) > 0.0, gain


def test_bad_surf_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="pseudo_threshold in \\[0.5, 1\\)"):
        model(pseudo_threshold=1.0)


def test_evaluation_is_cached_until_the_model_or_the_labels_change():
    m = model(epochs=2)
    m.add_labels(*pairs(30))
    m.train()
    first = m.evaluate()
    m.fast = None  # a recomputation would fail
    assert m.evaluate() == first
    m.add_labels(*pairs(10, seed=5))  # new labels: recomputed
    m.fast = m.ensemble.numpy_path()
    assert m.evaluate()["label_loss"] != first["label_loss"]


def test_a_model_saved_with_separate_members_loads_its_reward_and_resets_only_the_optimiser():
    """A preference model from a run folder of an earlier version (``nets.k`` keys) scores as it did."""
    from rewardlab.learned.networks import _mlp

    trained = model(members=2, epochs=5)
    trained.add_labels(*pairs(50))
    trained.train()
    state = trained.state_dict()
    torch.manual_seed(3)
    members = [_mlp(trained.ensemble.in_dim, trained.ensemble.hidden, trained.ensemble.layers) for _ in range(2)]
    state["ensemble"] = {f"nets.{k}.{key}": v for k, m in enumerate(members) for key, v in m.state_dict().items()}
    loaded = model(members=2, epochs=5)
    with pytest.warns(UserWarning, match="earlier version"):
        loaded.load_state_dict(state)
    x = torch.from_numpy(pairs(8)[0].reshape(-1, 5))
    with torch.no_grad():
        expected = torch.stack([m(x).squeeze(-1) for m in members]).numpy()
    np.testing.assert_allclose(loaded.ensemble(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    loaded.train()  # the fresh optimiser trains the loaded weights


def test_large_segment_batches_through_torch_give_the_numpy_path_returns():
    from rewardlab.learned.preference.model import TORCH_ROWS

    m = model()
    m.add_labels(*pairs(50))
    m.train()
    x, mask = pairs(400, length=10, seed=2)[:2]  # 4000 steps: above TORCH_ROWS, so the torch path
    mask[::3, 6:] = 0  # some segments end early
    assert len(x) * 10 > TORCH_ROWS
    whole = m.segment_returns(x, mask)
    chunks = np.concatenate([m.segment_returns(x[i : i + 100], mask[i : i + 100]) for i in range(0, 400, 100)], 1)
    assert whole.shape == chunks.shape == (m.ensemble.n_members, 400)
    np.testing.assert_allclose(whole, chunks, rtol=1e-4, atol=1e-4)
