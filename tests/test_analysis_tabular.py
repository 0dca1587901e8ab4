"""Exact tabular EPIC/STARC on small MDPs: zero canonical forms, broadcast shapes, terminal states."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.analysis import tabular

GAMMA = 0.99
N_S, N_A = 6, 3


def random_mdp(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=(N_S, N_A, N_S))
    transition = rng.dirichlet(np.ones(N_S), size=(N_S, N_A))
    return reward, transition, rng.normal(size=N_S), rng.normal(size=N_S)


def shaping(phi: np.ndarray, gamma: float = GAMMA, terminal: np.ndarray | None = None) -> np.ndarray:
    """``γ(1 − terminated)Φ(s') − Φ(s)`` as a table (terminated = s' is terminal)."""
    next_phi = phi if terminal is None else np.where(terminal, 0.0, phi)
    return gamma * next_phi[None, None, :] - phi[:, None, None]


def distances(a: np.ndarray, b: np.ndarray, transition: np.ndarray, **kw) -> dict[str, float]:
    return {
        "epic": tabular.epic_distance_tabular(a, b, GAMMA, **kw),
        "starc-epic": tabular.starc_distance_tabular(a, b, GAMMA, canonical="epic", **kw),
        "starc-value": tabular.starc_distance_tabular(a, b, GAMMA, canonical="value", transition=transition, **kw),
    }


@pytest.mark.parametrize("seed", range(5))
def test_pure_shaping_is_a_zero_canonical_form(seed):
    """Issue 15, fault 4: rounding noise of a shaping's canonical form was normalised into a direction."""
    reward, transition, phi, psi = random_mdp(seed)
    f, g = shaping(phi), shaping(psi)
    zero, step_cost = np.zeros_like(f), np.full_like(f, -0.01)
    assert not np.any(tabular.epic_canonical_tabular(f, GAMMA))  # exactly 0, not 1e-16 noise
    assert not np.any(tabular.value_canonical_tabular(f, transition, GAMMA))
    for other in (zero, step_cost, g, 3.0 * g):
        assert distances(f, other, transition) == {"epic": 0.0, "starc-epic": 0.0, "starc-value": 0.0}
    # against a reward with a direction: the documented conventions (Pearson undefined, STARC ½)
    d = distances(f, reward, transition)
    assert np.isnan(d["epic"])
    assert d["starc-epic"] == pytest.approx(0.5) and d["starc-value"] == pytest.approx(0.5)
    # and shaping still leaves a real reward where it was
    assert max(distances(reward, reward + f, transition).values()) < 1e-7


def test_zero_tolerance_is_relative_to_the_rewards_scale():
    reward, transition, phi, _ = random_mdp(7)
    huge = shaping(1e9 * phi)  # rounding noise ~1e-7 in absolute terms: still zero
    assert distances(huge, np.zeros_like(huge), transition) == {"epic": 0.0, "starc-epic": 0.0, "starc-value": 0.0}
    tiny = 1e-12 * reward  # small but real: keeps its direction
    assert distances(tiny, -tiny, transition) == pytest.approx({"epic": 1.0, "starc-epic": 1.0, "starc-value": 1.0})
    assert max(distances(tiny, reward, transition).values()) < 1e-7


def test_broadcast_tables_match_their_full_form():
    reward, transition, _, _ = random_mdp(3)
    by_state_pair = reward[:, :1, :]  # (S, 1, S): independent of the action
    by_state_action = reward[:, :, :1]  # (S, A, 1): independent of the next state
    for table in (by_state_pair, by_state_action, reward[:, :1, :1]):
        full = np.broadcast_to(table, reward.shape)
        np.testing.assert_allclose(
            tabular.epic_canonical_tabular(table, GAMMA, action_dist=np.full(N_A, 1 / N_A)),
            tabular.epic_canonical_tabular(full, GAMMA),
        )
        assert distances(table, reward, transition) == pytest.approx(distances(full, reward, transition))
        assert distances(reward, table, transition) == pytest.approx(distances(reward, full, transition))
    np.testing.assert_allclose(
        tabular.value_canonical_tabular(by_state_pair, transition, GAMMA),
        tabular.value_canonical_tabular(np.broadcast_to(by_state_pair, reward.shape), transition, GAMMA),
    )
    # a table alone broadcast over actions is its own MDP with one action
    assert tabular.epic_canonical_tabular(by_state_pair, GAMMA).shape == (N_S, 1, N_S)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((N_S, N_S)), np.zeros((N_S, N_A, N_S)), r"shape \(S, A, S\).*got shape \(6, 6\)"),
        (np.zeros((N_S, N_A, N_S)), np.zeros((N_S, 2, N_S)), r"do not broadcast.*\(6, 3, 6\).*\(6, 2, 6\)"),
        (np.zeros((N_S, N_A, 4)), np.zeros((N_S, N_A, N_S)), r"do not broadcast|same number of states"),
        (np.zeros((N_S, N_A, 4)), np.zeros((N_S, N_A, 1)), r"same number of states"),
    ],
)
def test_tables_that_do_not_fit_get_a_clear_error(a, b, message):
    with pytest.raises(ValueError, match=message):
        tabular.epic_distance_tabular(a, b, GAMMA)


def test_distributions_and_transitions_are_checked_against_the_tables():
    reward, transition, _, _ = random_mdp(1)
    with pytest.raises(ValueError, match=r"state_dist has 4 entries.*6 states"):
        tabular.epic_canonical_tabular(reward, GAMMA, state_dist=np.full(4, 0.25))
    with pytest.raises(ValueError, match=r"transition.*\(6, 3, 6\)"):
        tabular.value_canonical_tabular(reward, transition[:, :2], GAMMA)
