"""EPIC, STARC and ERC: invariances, exact agreement with tabular formulas, intervals, no side effects."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.analysis import Coverage, tabular
from rewardlab.analysis.distances import pearson_distance, starc_norm_distance
from rewardlab.core.term import RewardTerm

GAMMA = 0.9


@pytest.fixture
def mdp():
    rng = np.random.default_rng(0)
    n_s, n_a = 5, 3
    reward = rng.normal(size=(n_s, n_a, n_s))
    phi = rng.normal(size=n_s)
    transition = rng.dirichlet(np.ones(n_s), size=(n_s, n_a))
    return reward, phi, transition


def shaped(reward: np.ndarray, phi: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return reward + gamma * phi[None, None, :] - phi[:, None, None]


def naive_epic_canonical(reward: np.ndarray, gamma: float) -> np.ndarray:
    """The canonicalisation written as loops over an enumerated MDP with uniform D_S, D_A."""
    n_s, n_a, _ = reward.shape

    def mean_from(x: int) -> float:
        return sum(reward[x, a, y] for a in range(n_a) for y in range(n_s)) / (n_a * n_s)

    total = sum(mean_from(x) for x in range(n_s)) / n_s
    out = np.empty_like(reward)
    for s in range(n_s):
        for a in range(n_a):
            for y in range(n_s):
                out[s, a, y] = reward[s, a, y] + gamma * mean_from(y) - mean_from(s) - gamma * total
    return out


def table_term(table: np.ndarray, name: str) -> RewardTerm:
    return rl.function(lambda obs, action, next_obs: table[obs, action, next_obs], name=name)


def enumerated(n_s: int, n_a: int) -> tuple[rl.Transitions, Coverage]:
    s, a, y = np.meshgrid(np.arange(n_s), np.arange(n_a), np.arange(n_s), indexing="ij")
    batch = rl.Transitions.from_arrays(s.ravel(), a.ravel(), y.ravel())
    return batch, Coverage(np.arange(n_s), np.arange(n_a))


def test_tabular_canonical_matches_the_formula_written_as_loops(mdp):
    reward, _, _ = mdp
    np.testing.assert_allclose(tabular.epic_canonical_tabular(reward, GAMMA), naive_epic_canonical(reward, GAMMA))


def test_tabular_distances_zero_for_shaping_and_scaling_one_for_negation(mdp):
    reward, phi, transition = mdp
    other = 2.5 * shaped(reward, phi)
    assert tabular.epic_distance_tabular(reward, other, GAMMA) == pytest.approx(0.0, abs=1e-7)
    assert tabular.epic_distance_tabular(reward, -reward, GAMMA) == pytest.approx(1.0)
    for canonical in ("epic", "value"):
        kw = {"canonical": canonical, "transition": transition}
        assert tabular.starc_distance_tabular(reward, other, GAMMA, **kw) == pytest.approx(0.0, abs=1e-7)
        assert tabular.starc_distance_tabular(reward, -reward, GAMMA, **kw) == pytest.approx(1.0)
    # a different reward is at a distance strictly inside (0, 1)
    unrelated = np.random.default_rng(1).normal(size=reward.shape)
    assert 0.1 < tabular.epic_distance_tabular(reward, unrelated, GAMMA) < 0.9


def test_value_canonicalisation_ignores_zero_mean_noise_over_next_states(mdp):
    reward, _, transition = mdp
    noise = np.random.default_rng(2).normal(size=reward.shape)
    noise -= np.einsum("say,say->sa", transition, noise)[:, :, None]  # E_{S'~τ(s,a)}[noise] = 0
    kw = {"canonical": "value", "transition": transition}
    assert tabular.starc_distance_tabular(reward, reward + noise, GAMMA, **kw) == pytest.approx(0.0, abs=1e-9)
    assert tabular.epic_distance_tabular(reward, reward + noise, GAMMA) > 0.1


def test_sampled_epic_and_starc_with_exact_expectations_match_tabular(mdp):
    reward, phi, _ = mdp
    unrelated = np.random.default_rng(1).normal(size=reward.shape)
    tables = {"r": reward, "shaped": 3.0 * shaped(reward, phi), "neg": -reward, "other": unrelated}
    terms = {k: table_term(v, k) for k, v in tables.items()}
    batch, coverage = enumerated(*reward.shape[:2])
    epic = rl.analysis.epic_matrix(
        terms, transitions=batch, coverage=coverage, gamma=GAMMA, n_samples=None, bootstrap=0
    )
    starc = rl.analysis.starc_matrix(
        terms, transitions=batch, coverage=coverage, gamma=GAMMA, n_samples=None, bootstrap=0
    )
    for a in tables:
        for b in tables:
            assert epic[a, b].value == pytest.approx(
                tabular.epic_distance_tabular(tables[a], tables[b], GAMMA), abs=1e-6
            )
            expected = tabular.starc_distance_tabular(tables[a], tables[b], GAMMA)
            assert starc[a, b].value == pytest.approx(expected, abs=1e-6)
    assert epic["r", "shaped"].value == pytest.approx(0.0, abs=1e-7)
    assert epic["r", "neg"].value == pytest.approx(1.0)


@pytest.mark.parametrize("termination", ["absorbing", "ignore"])
def test_sampled_epic_on_mountaincar_is_invariant_to_shaping_and_scaling(termination):
    height = rl.function(lambda next_obs: 0.45 * np.sin(3 * next_obs[:, 0]) + 0.55, name="height")
    speed = rl.function(lambda next_obs: np.abs(next_obs[:, 1]), name="speed")
    energy = rl.shaping.potential("mountaincar_energy", gamma=0.99)
    rewards = {"h": height, "h_shaped": 4.0 * (height + energy), "neg": -1.0 * height, "speed": speed}
    kw = {"env": "MountainCar-v0", "n_transitions": 256, "n_samples": 256, "bootstrap": 200, "seed": 3}
    kw["termination"] = termination
    for method in ("epic", "starc"):
        m = rl.analysis.distance_matrix(rewards, method=method, **kw)
        assert m["h", "h_shaped"].value == pytest.approx(0.0, abs=1e-6)
        assert m["h", "neg"].value == pytest.approx(1.0, abs=1e-6)
        d = m["h", "speed"]
        assert 0.1 < d.value < 0.95
        assert d.low <= d.value <= d.high and d.high - d.low < 0.2
    # another seed agrees (the few terminating samples make the absorbing estimate need more of them)
    kw.update(n_transitions=1024, n_samples=1024, bootstrap=0)
    m = rl.analysis.epic_matrix(rewards, **{**kw, "seed": 4})
    assert m["h", "speed"].value == pytest.approx(rl.analysis.epic_distance(height, speed, **kw).value, abs=0.05)


def test_constant_rewards_have_no_direction_when_termination_is_ignored():
    ext = rl.extrinsic()
    shaped_ext = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    height = rl.function(lambda next_obs: next_obs[:, 0], name="x")
    rewards = {"ext": ext, "ext_shaped": shaped_ext, "x": height}
    kw = {"env": "MountainCar-v0", "n_transitions": 128, "n_samples": 128, "bootstrap": 0, "termination": "ignore"}
    m = rl.analysis.epic_matrix(rewards, **kw)
    assert m["ext", "ext_shaped"].value == 0.0
    assert np.isnan(m["ext", "x"].value)
    s = rl.analysis.starc_matrix(rewards, **kw)
    assert s["ext", "x"].value == pytest.approx(0.5)


def test_step_cost_until_the_flag_keeps_its_meaning_with_absorbing_termination():
    """Issue 8: on MountainCar, −1 per step until the flag was at distance 0 from the zero reward."""
    rewards = {
        "ext": rl.extrinsic(),  # −1 per step until the flag
        "ext_shaped": rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99),
        "zero": rl.constant(0.0),
        "plus_one": rl.constant(1.0),  # +1 per step: stay away from the flag as long as possible
        "energy_only": rl.shaping.potential("mountaincar_energy", gamma=0.99),
    }
    kw = {"env": "MountainCar-v0", "n_transitions": 512, "n_samples": 512, "bootstrap": 0}
    epic, starc = rl.analysis.epic_matrix(rewards, **kw), rl.analysis.starc_matrix(rewards, **kw)
    for m in (epic, starc):
        assert m["ext", "ext_shaped"].value == pytest.approx(0.0, abs=1e-6)
        assert m["ext", "plus_one"].value == pytest.approx(1.0, abs=1e-6)
        assert m["zero", "energy_only"].value == 0.0  # both have nothing left: pure shaping is no reward
    assert np.isnan(epic["ext", "zero"].value) and starc["ext", "zero"].value == pytest.approx(0.5)
    blind = rl.analysis.starc_matrix(rewards, termination="ignore", **kw)
    assert blind["ext", "zero"].value == blind["ext", "plus_one"].value == 0.0  # the old, termination-blind answer
    with pytest.raises(ValueError, match="termination"):
        rl.analysis.epic_matrix(rewards, termination="absorb", **kw)


def test_pearson_and_starc_norm_distances_by_hand():
    a = np.array([1.0, 2.0, 3.0])
    assert pearson_distance(a, 2 * a + 1) == pytest.approx(0.0)
    assert pearson_distance(a, -a) == pytest.approx(1.0)
    # ρ([1,2,3],[1,3,2]) = 0.5 → sqrt(0.25) = 0.5
    assert pearson_distance(a, np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)
    assert np.isnan(pearson_distance(a, np.ones(3)))
    assert pearson_distance(np.ones(3), np.zeros(3)) == 0.0
    # L1: a/mean|a| = [.5, 1, 1.5]; b = [1,0,0]/(1/3) = [3,0,0]; ½·mean|diff| = ½·(2.5+1+1.5)/3
    assert starc_norm_distance(a, np.array([1.0, 0.0, 0.0]), p=1) == pytest.approx(0.5 * 5.0 / 3.0)


class Counting(RewardTerm):
    """A stateful term: counts the transitions it sees while training."""

    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def compute(self, batch):
        if self.training:
            self.seen += batch.n
        return np.asarray(batch.next_obs)[:, 0] + self.seen * 0.0


def test_distances_leave_stateful_terms_untouched():
    term = Counting()
    term.seen = 7
    height = rl.function(lambda next_obs: next_obs[:, 1], name="v")
    m = rl.analysis.epic_matrix(
        {"c": term, "v": height}, env="MountainCar-v0", n_transitions=64, n_samples=64, bootstrap=0
    )
    assert np.isfinite(m["c", "v"].value)
    assert term.seen == 7 and term.training


def test_erc_on_rollouts():
    data = rl.analysis.rollout("MountainCar-v0", n_steps=420, n_envs=2, seed=0, complete_only=True)
    assert data.n_episodes == 4
    height = rl.function(lambda next_obs: next_obs[:, 0], name="x")
    speed = rl.function(lambda next_obs: np.abs(next_obs[:, 1]), name="speed")
    m = rl.analysis.erc_matrix({"x": height, "2x": 2.0 * height, "-x": -1.0 * height, "s": speed}, rollouts=data)
    assert m["x", "2x"].value == pytest.approx(0.0, abs=1e-7)
    assert m["x", "-x"].value == pytest.approx(1.0)
    returns = rl.analysis.episode_returns([height], data)[0]
    expected = [data.transitions.next_obs[data.episode == e, 0].sum() for e in range(4)]
    np.testing.assert_allclose(returns, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="at least 3 complete episodes"):
        rl.analysis.erc_matrix([height, speed], rollouts=rl.analysis.rollout("MountainCar-v0", n_steps=10))


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: \\['epic', 'starc', 'erc'\\]"):
        rl.analysis.distance_matrix([rl.extrinsic()], method="cosine")


@pytest.mark.parametrize("termination", ["absorbing", "ignore"])
def test_sampled_zero_rule_is_relative_to_the_scale_like_tabular(mdp, termination):
    """One rule for both paths: a huge shaping is still nothing, a tiny reward still has a direction."""
    reward, phi, _ = mdp
    tables = {"huge_shaping": shaped(np.zeros_like(reward), 1e9 * phi), "zero": np.zeros_like(reward)}
    tables.update(tiny=1e-12 * reward, tiny_neg=-1e-12 * reward)
    terms = {k: table_term(v, k) for k, v in tables.items()}
    batch, coverage = enumerated(*reward.shape[:2])
    kw = {"transitions": batch, "coverage": coverage, "gamma": GAMMA, "n_samples": None, "bootstrap": 0}
    for method in ("epic", "starc"):
        m = rl.analysis.distance_matrix(terms, method=method, termination=termination, **kw)
        assert m["huge_shaping", "zero"].value == 0.0
        assert m["tiny", "tiny_neg"].value == pytest.approx(1.0)
        for name in ("huge_shaping", "zero"):
            exact = tabular.epic_distance_tabular if method == "epic" else tabular.starc_distance_tabular
            np.testing.assert_equal(m[name, "tiny"].value, exact(tables[name], tables["tiny"], GAMMA))
