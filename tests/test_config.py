"""Reward configs: the YAML grammar builds the documented terms and bad input gets clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.config import ConfigError, build_reward, load_reward
from rewardlab.core.transitions import Transitions
from rewardlab.shaping.combine import KRC
from rewardlab.shaping.potential_shaping import PotentialShaping
from rewardlab.shaping.transforms import Clip


def mc_batch():
    obs = np.array([[-0.5, 0.0], [0.4, 0.05]])
    return Transitions.from_arrays(obs=obs, action=np.zeros(2), next_obs=obs + 0.01, reward=[-1.0, -1.0])


def test_yaml_file_builds_weighted_named_terms(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        """
reward:
  - extrinsic
  - {term: potential, potential: {name: goal_distance, goal: [0.5], dims: [0]}, gamma: 0.9, name: toward_flag}
  - {term: clip, of: {term: constant, value: -3}, low: -1, high: 1, weight: 0.5}
  - {term: krc, of: [extrinsic, {term: constant, value: 4}], sign: product}
"""
    )
    reward = load_reward(path)
    assert reward.component_names() == ["extrinsic", "toward_flag", "constant", "krc"]
    np.testing.assert_allclose(reward.weights, [1, 1, 0.5, 1])
    assert isinstance(reward.terms[1], PotentialShaping) and reward.terms[1].gamma == 0.9
    assert isinstance(reward.terms[2], Clip) and isinstance(reward.terms[3], KRC)
    comps = reward.components(mc_batch())
    np.testing.assert_allclose(comps["constant"], [-0.5, -0.5])
    np.testing.assert_allclose(comps["krc"], [-2.0, -2.0])


def test_inline_yaml_and_single_term():
    assert load_reward("extrinsic").name == "extrinsic"
    reward = load_reward("[extrinsic, {term: potential, potential: mountaincar_energy}]")
    assert reward.component_names() == ["extrinsic", "shaping"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("extrinsik", "unknown reward term 'extrinsik' \\(did you mean 'extrinsic'\\?\\); valid: .*potential"),
        ({"term": "constant", "valeu": 1}, "unknown parameter 'valeu' \\(did you mean 'value'\\?\\); valid: value"),
        ({"term": "constant", "value": "high"}, "parameter 'value' must be a number, got 'high'"),
        ({"term": "potential"}, "missing required parameter\\(s\\) \\['potential'\\]"),
        ({"term": "potential", "potential": "hight"}, "unknown potential 'hight'"),
        ({"term": "krc", "of": [], "sign": "product"}, "KRC combines at least two terms"),
        ({"term": "krc", "of": ["extrinsic", "extrinsic"], "sign": "max"}, "must be one of \\['all_positive'"),
        ({"term": "clip", "of": "extrinsic", "low": 2, "high": 1}, "low <= high"),
        ({"weight": 2}, "needs a 'term' key"),
        ({"term": "extrinsic", "weight": "big"}, "'weight' must be a number"),
        ([], "empty list"),
        (3, "a reward spec is a term name"),
        ([{"term": "constant", "value": True}], "\\[0\\] reward term 'constant': parameter 'value' must be a number"),
    ],
)
def test_config_errors_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_reward(spec)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_reward(tmp_path / "nope.yaml")


def test_function_term_from_module_path():
    term = build_reward({"term": "function", "fn": "reward_fns:height"})
    assert term.name == "height"
    np.testing.assert_allclose(term(mc_batch()), [-0.49, 0.41])
    with pytest.raises(ConfigError, match="package.module:function"):
        build_reward({"term": "function", "fn": "reward_fns.height"})
    with pytest.raises(ConfigError, match="cannot import"):
        build_reward({"term": "function", "fn": "reward_fns:depth"})
    with pytest.raises(ConfigError, match="asks for \\['a'\\]"):
        build_reward({"term": "function", "fn": "numpy:sum"})


def test_every_registered_term_lists_its_parameters():
    names = rl.config.TERMS.names()
    assert {"extrinsic", "constant", "potential", "clip", "normalize", "par", "log_sigmoid", "krc"} <= set(names)
    for entry in rl.config.TERMS.entries():
        assert entry.summary, f"{entry.name} has no docstring"
