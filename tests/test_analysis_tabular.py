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


# --- terminal states: termination moves to an absorbing state with zero reward and potential -------------------

TERMINAL = np.array([False, False, False, False, True, True])  # 4: the flag, 5: a pit
FLAG = np.zeros(N_S, dtype=bool)
FLAG[4] = True


def entering(mask: np.ndarray, value: float = 1.0) -> np.ndarray:
    """``value`` on every transition into a state of ``mask``, 0 elsewhere."""
    return np.broadcast_to(np.where(mask, value, 0.0)[None, None, :], (N_S, N_A, N_S)).copy()


@pytest.mark.parametrize("seed", range(3))
def test_terminal_states_keep_shaping_and_scaling_at_zero(seed):
    reward, transition, phi, _ = random_mdp(seed)
    f = shaping(phi, terminal=TERMINAL)  # γ(1 − terminated)Φ(s') − Φ(s), as the wrappers compute it
    kw = {"terminal": TERMINAL}
    assert max(distances(reward, 2.0 * (reward + f), transition, **kw).values()) < 1e-7
    assert distances(f, np.zeros_like(f), transition, **kw) == {"epic": 0.0, "starc-epic": 0.0, "starc-value": 0.0}
    assert distances(reward, -reward, transition, **kw) == pytest.approx({"epic": 1, "starc-epic": 1, "starc-value": 1})
    # a "shaping" that keeps Φ(s') at termination pays γΦ(t) for ending there: a different reward
    assert min(distances(reward, reward + shaping(phi), transition, **kw).values()) > 1e-3
    # canonicalising twice changes nothing (the canonical form is R plus a shaping with Φ = 0 at termination)
    once = tabular.epic_canonical_tabular(reward, GAMMA, terminal=TERMINAL)
    np.testing.assert_allclose(tabular.epic_canonical_tabular(once, GAMMA, terminal=TERMINAL), once, atol=1e-12)
    # rows of terminal states are never used: the agent does not act there
    changed = reward.copy()
    changed[TERMINAL] = 1e3
    assert distances(changed, reward, transition, **kw) == {"epic": 0.0, "starc-epic": 0.0, "starc-value": 0.0}


def test_a_step_cost_until_the_flag_is_told_apart_from_zero():
    """Issue 8: −1 per step until the flag canonicalised to 0 like the zero reward; with terminal states it does not."""
    _, transition, _, _ = random_mdp(0)
    step_cost, zero = np.full((N_S, N_A, N_S), -1.0), np.zeros((N_S, N_A, N_S))
    continuing = distances(step_cost, zero, transition)
    assert continuing == {"epic": 0.0, "starc-epic": 0.0, "starc-value": 0.0}  # the old, termination-blind answer
    d = distances(step_cost, zero, transition, terminal=FLAG)
    assert np.isnan(d["epic"])  # the zero reward has no direction: undefined for Pearson, ½ for STARC
    assert d["starc-epic"] == pytest.approx(0.5) and d["starc-value"] == pytest.approx(0.5)
    assert tabular.epic_canonical_tabular(step_cost, GAMMA, terminal=FLAG).any()
    # with one terminal state, "−1 per step" and "+1 at the flag" are the same task (γ/(1−γ) at the flag is a
    # shaping of −1 per step, and scaling does not matter); "+1 per step" is the opposite one
    kw = {"terminal": FLAG}
    assert max(distances(step_cost, entering(FLAG), transition, **kw).values()) < 1e-7
    assert distances(step_cost, -step_cost, transition, **kw) == pytest.approx(
        {"epic": 1, "starc-epic": 1, "starc-value": 1}
    )
    # with a pit beside the flag, the step cost (either exit will do) differs from "+1 at the flag"
    two = {"terminal": TERMINAL}
    assert min(distances(step_cost, entering(FLAG), transition, **two).values()) > 0.1
    assert max(distances(step_cost, entering(TERMINAL), transition, **two).values()) < 1e-7


def test_values_with_terminal_states_and_gamma_one():
    """V = 0 at terminal states; γ = 1 works when every state reaches one, and fails clearly when not."""
    chain = np.zeros((3, 1, 3))
    chain[0, 0, 1] = chain[1, 0, 2] = chain[2, 0, 2] = 1.0  # 0 → 1 → 2 (terminal)
    terminal = np.array([False, False, True])
    values = tabular.policy_values(np.full((3, 1, 3), -1.0), chain, 1.0, np.ones((3, 1)), terminal=terminal)
    np.testing.assert_allclose(values, [-2.0, -1.0, 0.0])
    phi = np.array([3.0, -1.0, 0.0])
    f = 1.0 * np.where(terminal, 0.0, phi)[None, None, :] - phi[:, None, None]
    assert not tabular.value_canonical_tabular(f, chain, 1.0, terminal=terminal).any()
    loop = np.zeros((3, 1, 3))
    loop[0, 0, 0] = loop[1, 0, 2] = loop[2, 0, 2] = 1.0  # state 0 never leaves
    with pytest.raises(ValueError, match="reach a terminal state"):
        tabular.policy_values(np.ones((3, 1, 3)), loop, 1.0, np.ones((3, 1)), terminal=terminal)
    with pytest.raises(ValueError, match="boolean mask of shape"):
        tabular.epic_canonical_tabular(np.ones((3, 1, 3)), 0.9, terminal=np.array([0, 0, 1]))


def test_sampled_path_with_termination_matches_tabular_exactly():
    """The sampled estimator with exact expectations equals the tabular reference, termination included."""
    import rewardlab as rl
    from rewardlab.analysis import Coverage

    reward, _, phi, _ = random_mdp(4)
    tables = {"r": reward, "step": np.full_like(reward, -1.0), "flag": entering(FLAG), "pit": entering(TERMINAL)}
    terms = {
        k: rl.function(lambda obs, action, next_obs, t=t: t[obs, action, next_obs], name=k) for k, t in tables.items()
    }
    terms["r_shaped"] = 3.0 * (terms["r"] + rl.shaping.potential(lambda obs: phi[obs], gamma=GAMMA))
    tables["r_shaped"] = 3.0 * (reward + shaping(phi, terminal=TERMINAL))

    def model(obs, action, next_obs):
        return np.zeros(len(next_obs)), TERMINAL[next_obs]

    live = np.flatnonzero(~TERMINAL)
    s, a, y = np.meshgrid(live, np.arange(N_A), np.arange(N_S), indexing="ij")
    batch = rl.Transitions.from_arrays(s.ravel(), a.ravel(), y.ravel(), terminated=TERMINAL[y.ravel()])
    kw = {"transitions": batch, "coverage": Coverage(np.arange(N_S), np.arange(N_A)), "env_reward": model}
    kw.update(gamma=GAMMA, n_samples=None, bootstrap=0)
    epic, starc = rl.analysis.epic_matrix(terms, **kw), rl.analysis.starc_matrix(terms, **kw)
    for x in tables:
        for z in tables:
            exact = tabular.epic_distance_tabular(tables[x], tables[z], GAMMA, terminal=TERMINAL)
            np.testing.assert_allclose(epic[x, z].value, exact, atol=1e-7)  # sqrt(1 − ρ): 1e-16 → 1e-8
            exact = tabular.starc_distance_tabular(tables[x], tables[z], GAMMA, terminal=TERMINAL)
            np.testing.assert_allclose(starc[x, z].value, exact, atol=1e-7)
    assert epic["r", "r_shaped"].value == pytest.approx(0.0, abs=1e-7)
    assert epic["step", "pit"].value == pytest.approx(0.0, abs=1e-7)
    assert epic["step", "flag"].value > 0.1
    ignored = rl.analysis.epic_matrix(terms, termination="ignore", **kw)
    assert np.isnan(ignored["step", "r"].value)  # termination-blind: the step cost has nothing left
