"""Transforms and KRC behave as their docstrings say."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.core.transitions import Transitions


def rewards(values) -> Transitions:
    values = np.asarray(values, dtype=float)
    obs = np.zeros((len(values), 1))
    return Transitions.from_arrays(obs=obs, action=np.zeros(len(values)), next_obs=obs, reward=values)


def test_clip_bounds_values():
    term = rl.transforms.clip(rl.extrinsic(), -0.5, 0.5)
    np.testing.assert_allclose(term(rewards([-2, 0.1, 3])), [-0.5, 0.1, 0.5])
    assert term.name == "extrinsic"
    with pytest.raises(ValueError, match="low <= high"):
        rl.transforms.clip(rl.extrinsic(), 1, 0)


def test_normalize_matches_running_statistics():
    data = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 8))
    scaled = rl.transforms.normalize(rl.extrinsic())
    centred = rl.transforms.normalize(rl.extrinsic(), center=True)
    for row in data:
        last_scaled, last_centred = scaled(rewards(row)), centred(rewards(row))
    seen = data.ravel()
    # the statistics include a tiny prior count (1e-4) at mean 0, var 1
    np.testing.assert_allclose(last_scaled, data[-1] / seen.std(), rtol=1e-4)
    np.testing.assert_allclose(last_centred, (data[-1] - seen.mean()) / seen.std(), rtol=1e-4, atol=1e-6)
    centred.eval()
    before = centred.stats.count
    centred(rewards([100.0]))
    assert centred.stats.count == before  # frozen in eval mode


def test_par_and_log_sigmoid_values():
    par = rl.transforms.par(rl.extrinsic(), ref=1.0, temperature=2.0)
    x = np.array([-3.0, 1.0, 5.0])
    np.testing.assert_allclose(par(rewards(x)), 1 / (1 + np.exp(-(x - 1.0) / 2.0)))
    logsig = rl.transforms.log_sigmoid(rl.extrinsic(), ref=0.0)
    big = np.array([-800.0, 0.0, 800.0])
    np.testing.assert_allclose(logsig(rewards(big)), [-800.0, np.log(0.5), 0.0], atol=1e-12)
    assert np.all(np.isfinite(logsig(rewards(big))))


def test_par_with_reference_term_and_running_reference():
    par = rl.transforms.par(rl.extrinsic(), ref=rl.constant(2.0))
    np.testing.assert_allclose(par(rewards([2.0])), [0.5])
    running = rl.transforms.par(rl.extrinsic(), ref="running")
    out = running(rewards([1.0, 3.0]))
    assert out[0] < 0.5 < out[1]
    with pytest.raises(ValueError, match="'running'"):
        rl.transforms.par(rl.extrinsic(), ref="mean")


def test_log_sigmoid_sum_acts_like_and():
    a = rl.function(lambda obs: obs[:, 0], name="a")
    b = rl.function(lambda obs: obs[:, 1], name="b")
    both = rl.transforms.log_sigmoid(a) + rl.transforms.log_sigmoid(b)
    obs = np.array([[5.0, 5.0], [5.0, -5.0], [-5.0, 5.0]])
    out = both(Transitions.from_arrays(obs=obs, action=np.zeros(3), next_obs=obs))
    assert out[0] > -0.02 and out[1] < -4.9 and out[2] < -4.9


@pytest.mark.parametrize(
    ("sign", "expected"),
    [("all_positive", [2.0, -2.0, -2.0, 0.0]), ("product", [2.0, -2.0, 2.0, 0.0])],
)
def test_krc_geometric_mean_and_sign_rules(sign, expected):
    a = rl.function(lambda obs: obs[:, 0], name="a")
    b = rl.function(lambda obs: obs[:, 1], name="b")
    obs = np.array([[1.0, 4.0], [-1.0, 4.0], [-1.0, -4.0], [0.0, 3.0]])
    term = rl.transforms.krc(a, b, sign=sign)
    np.testing.assert_allclose(term(Transitions.from_arrays(obs=obs, action=np.zeros(4), next_obs=obs)), expected)
    with pytest.raises(ValueError, match="valid: \\['all_positive', 'product'\\]"):
        rl.transforms.krc(a, b, sign="max")
