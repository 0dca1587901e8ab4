"""Reward terms and their algebra: sums keep named components, functions adapt, outputs are checked."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.core.term import Constant, Extrinsic, RewardTerm, WeightedSum


def test_sum_keeps_named_weighted_components(batch):
    reward = rl.extrinsic() + 0.5 * rl.constant(-2.0) + rl.function(lambda next_obs: next_obs[:, 0], name="x")
    total, comps = reward.evaluate(batch)
    assert list(comps) == ["extrinsic", "constant", "x"]
    np.testing.assert_allclose(comps["extrinsic"], batch.reward)
    np.testing.assert_allclose(comps["constant"], -1.0)
    np.testing.assert_allclose(comps["x"], batch.next_obs[:, 0])
    np.testing.assert_allclose(total, batch.reward - 1.0 + batch.next_obs[:, 0])
    np.testing.assert_allclose(reward(batch), total)


def test_algebra_flattens_scales_and_names_duplicates(batch):
    reward = 2.0 * (rl.extrinsic() + rl.constant(1.0)) - rl.extrinsic() + 3
    assert isinstance(reward, WeightedSum)
    assert reward.component_names() == ["extrinsic", "constant", "extrinsic_2", "constant_2"]
    np.testing.assert_allclose(reward.weights, [2.0, 2.0, -1.0, 1.0])
    np.testing.assert_allclose(reward(batch), 2 * batch.reward + 2 - batch.reward + 3)
    assert sum([rl.extrinsic(), rl.constant(1.0)]).component_names() == ["extrinsic", "constant"]


def test_multiplying_two_terms_is_refused():
    with pytest.raises(TypeError, match="krc"):
        rl.extrinsic() * rl.extrinsic()


def test_per_env_function_is_vectorised_for_the_user(batch):
    seen = []

    def height(next_obs, info):
        seen.append(info)
        return float(next_obs[1] * 2)

    term = rl.function(height, vectorized=False)
    np.testing.assert_allclose(term(batch), batch.next_obs[:, 1] * 2)
    assert term.name == "height" and len(seen) == batch.n


def test_function_parameter_names_are_checked():
    with pytest.raises(ValueError, match="observation.*must be named from"):
        rl.function(lambda observation: observation)


def test_wrong_output_shape_names_the_term(batch):
    term = rl.function(lambda obs: obs, name="bad")
    with pytest.raises(ValueError, match="'bad'.*shape \\(4, 2\\)"):
        term(batch)


def test_state_dict_round_trip_through_sum(batch):
    norm = rl.transforms.normalize(rl.extrinsic(), center=True)
    reward = norm + Constant(1.0)
    for _ in range(3):
        reward(batch)
    state = reward.state_dict()
    fresh = rl.transforms.normalize(Extrinsic(), center=True) + Constant(1.0)
    fresh.load_state_dict(state)
    reward.eval()
    fresh.eval()
    np.testing.assert_allclose(fresh(batch), reward(batch))
    with pytest.raises(KeyError, match="lacks components"):
        fresh.load_state_dict({})


def test_transitions_index_and_concatenate(batch):
    sub = batch[np.array([1, 3])]
    np.testing.assert_allclose(sub.reward, [-1.0, 0.0])
    both = rl.Transitions.concatenate([sub, batch])
    assert both.n == 6 and len(both.infos) == 6
    np.testing.assert_array_equal(batch.done, [False, True, True, False])
    dict_batch = rl.Transitions.from_arrays(
        obs={"a": np.zeros((2, 3))}, action=np.zeros(2), next_obs={"a": np.ones((2, 3))}
    )
    assert dict_batch[np.array([0])].next_obs["a"].shape == (1, 3)


def test_nested_composites_forward_the_life_cycle(batch):
    from rewardlab.core.term import RewardTerm

    class Learner(RewardTerm):
        name = "learner"
        learns = True

        def __init__(self):
            super().__init__()
            self.seen, self.resets, self.steps = 0, [], 0

        def compute(self, batch):
            return np.full(batch.n, float(self.steps))

        def reset(self, env_indices):
            self.resets.append(list(env_indices))

        def update(self, batch):
            self.steps += 1
            return {"loss": 0.5}

        def state_dict(self):
            return {"steps": self.steps}

        def load_state_dict(self, state):
            self.steps = state["steps"]

    inner = Learner()
    reward = rl.extrinsic() + rl.transforms.krc(rl.transforms.clip(inner, -5, 5), rl.constant(2.0))
    assert reward.learns and list(reward.leaves())[1] is inner
    assert reward.update(batch) == {"krc/loss": 0.5}
    reward.reset(np.array([1]))
    assert inner.resets == [[1]]
    reward.train(False)
    assert not inner.training and reward.update(batch) == {}
    fresh_inner = Learner()
    fresh = rl.extrinsic() + rl.transforms.krc(rl.transforms.clip(fresh_inner, -5, 5), rl.constant(2.0))
    fresh.load_state_dict(reward.state_dict())
    assert fresh_inner.steps == 1
    par = rl.transforms.par(rl.extrinsic(), ref=rl.transforms.normalize(rl.extrinsic()))
    par(batch)
    assert set(par.state_dict()) == {"inner", "ref", "stats"}
    assert par.state_dict()["ref"]["stats"]["count"] > 1


class _TwoParts(RewardTerm):
    """A term with two components of its own (like a generated reward program)."""

    name = "two"

    def component_names(self) -> list[str]:
        return ["two/a", "two/b"]

    def components_into(self, batch, out) -> None:
        out[0] = batch.reward
        out[1] = 2.0 * batch.reward

    def compute(self, batch):
        return 3.0 * batch.reward


def test_sums_keep_every_component_of_a_multi_component_term(batch):
    parts = _TwoParts()
    total = Extrinsic() + 0.5 * parts + 0.5 * parts  # one object twice: weights add up
    assert total.component_names() == ["extrinsic", "two/a", "two/b"]
    values, comps = total.evaluate(batch)
    np.testing.assert_allclose(comps["two/b"], 2.0 * batch.reward)
    np.testing.assert_allclose(values, 4.0 * batch.reward)
    np.testing.assert_allclose(total(batch), 4.0 * batch.reward)
    twice = 2.0 * _TwoParts() + _TwoParts()
    assert twice.component_names() == ["two/a", "two/b", "two_2/a", "two_2/b"]
    np.testing.assert_allclose(twice.evaluate(batch)[1]["two/b"], 4.0 * batch.reward)
