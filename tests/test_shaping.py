"""Potential-based shaping: optimal policies unchanged, terminal and truncated steps right."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.core.transitions import Transitions
from rewardlab.shaping.potentials import Potential


def value_iteration(P, R, terminal, gamma, iters=2000):
    """Q* of a tabular MDP; P[s,a,s'] probabilities, R[s,a,s'] rewards, terminal[s'] ends the episode."""
    n_s, n_a, _ = P.shape
    q = np.zeros((n_s, n_a))
    for _ in range(iters):
        v = np.where(terminal, 0.0, q.max(axis=1))
        q = (P * (R + gamma * v[None, None, :])).sum(axis=2)
    return q


def shaped_table(term, n_s, n_a, terminal):
    s, a, s2 = np.meshgrid(np.arange(n_s), np.arange(n_a), np.arange(n_s), indexing="ij")
    batch = Transitions.from_arrays(
        obs=s.reshape(-1, 1).astype(float),
        action=a.ravel(),
        next_obs=s2.reshape(-1, 1).astype(float),
        terminated=terminal[s2.ravel()],
    )
    return term(batch).reshape(n_s, n_a, n_s)


@pytest.mark.parametrize("seed", range(5))
def test_shaping_keeps_optimal_policy_on_random_mdp(seed):
    rng = np.random.default_rng(seed)
    n_s, n_a, gamma = 12, 4, 0.9
    P = rng.dirichlet(np.ones(n_s) * 0.3, size=(n_s, n_a))
    R = rng.normal(size=(n_s, n_a, n_s))
    terminal = np.zeros(n_s, dtype=bool)
    terminal[-2:] = True
    phi_table = rng.normal(scale=5.0, size=n_s)
    term = rl.shaping.potential(lambda obs: phi_table[obs[:, 0].astype(int)], gamma=gamma)
    F = shaped_table(term, n_s, n_a, terminal)
    expected = gamma * np.where(terminal, 0, phi_table)[None, None, :] - phi_table[:, None, None]
    np.testing.assert_allclose(F, np.broadcast_to(expected, F.shape))
    q = value_iteration(P, R, terminal, gamma)
    q_shaped = value_iteration(P, R + F, terminal, gamma)
    live = ~terminal
    np.testing.assert_array_equal(q.argmax(axis=1)[live], q_shaped.argmax(axis=1)[live])
    # Ng et al.: Q'(s,a) = Q(s,a) − Φ(s)
    np.testing.assert_allclose(q_shaped[live], (q - phi_table[:, None])[live], atol=1e-8)


def test_unshaped_potential_that_ignores_termination_changes_the_policy():
    """The check above can fail: shaping that keeps Φ(s') at termination moves Q* by state."""
    n_s, gamma = 2, 0.9
    # state 0: action 0 ends the episode (reward 0); action 1 stays in 0 and pays 0.5 (worth 5 in total)
    P = np.zeros((n_s, 2, n_s))
    P[0, 0, 1] = P[0, 1, 0] = P[1, :, 1] = 1.0
    R = np.zeros((n_s, 2, n_s))
    R[0, 1, 0] = 0.5
    terminal = np.array([False, True])
    phi = np.array([0.0, 10.0])
    wrong = gamma * phi[None, None, :] - phi[:, None, None]  # does not zero Φ at termination
    right = shaped_table(rl.shaping.potential(lambda o: phi[o[:, 0].astype(int)], gamma=gamma), n_s, 2, terminal)
    assert value_iteration(P, R, terminal, gamma)[0].argmax() == 1
    assert value_iteration(P, R + right, terminal, gamma)[0].argmax() == 1
    assert value_iteration(P, R + wrong, terminal, gamma)[0].argmax() == 0


def test_numba_row_potential_matches_numpy_formula():
    term = rl.shaping.potential("mountaincar_height", gamma=0.97, scale=2.0)
    rng = np.random.default_rng(0)
    obs = np.column_stack([rng.uniform(-1.2, 0.6, 64), rng.uniform(-0.07, 0.07, 64)]).astype(np.float32)
    nxt = obs + 0.01
    term_flags = rng.random(64) < 0.3
    out = term(Transitions.from_arrays(obs=obs, action=np.zeros(64), next_obs=nxt, terminated=term_flags))

    def phi(o):
        return 2.0 * (0.45 * np.sin(3 * o[:, 0].astype(float)) + 0.55)

    np.testing.assert_allclose(out, 0.97 * np.where(term_flags, 0, phi(nxt)) - phi(obs), rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "params", "obs", "expected"),
    [
        ("mountaincar_energy", {}, [0.5, 0.07], 100 * (0.5 * 0.07**2 + 0.0025 * math.sin(1.5) / 3)),
        ("goal_distance", {"goal": [0.5], "dims": [0]}, [-0.5, 0.0], -1.0),
        ("cartpole_upright", {}, [0.0, 0.0, 0.2095, 0.0], -1.0),
        ("pendulum_upright", {}, [-1.0, 0.0, 0.0], -1.0),
        ("acrobot_height", {}, [1.0, 0.0, 1.0, 0.0, 0, 0], -2.0),
        ("forward_progress", {"index": 1, "scale": 2.0}, [9.0, 3.0], 6.0),
    ],
)
def test_builtin_potentials(name, params, obs, expected):
    phi = Potential.from_config({"name": name, **params})
    np.testing.assert_allclose(phi(np.array([obs])), [expected], rtol=1e-6)


def test_value_potential_from_callable_and_model_check():
    phi = rl.shaping.ValuePotential(lambda obs: obs[:, 0] * 3)
    np.testing.assert_allclose(phi(np.array([[1.0], [2.0]])), [3.0, 6.0])
    with pytest.raises(TypeError, match="predict_values"):
        rl.shaping.ValuePotential(42)


def test_value_potential_from_sb3_model():
    from stable_baselines3 import PPO

    venv = rl.make_vec_env("CartPole-v1", n_envs=1)
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, seed=0, device="cpu")
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    values = rl.shaping.ValuePotential(model)(obs)
    assert values.shape == (5,) and np.all(np.isfinite(values))


def test_wrapper_uses_terminal_observation_and_keeps_potential_on_truncation(chain_factory):
    """Chain: goal at 3, time limit 2 in env 1. Φ = position."""
    gamma = 0.5
    venv = DummyVecEnv([lambda: chain_factory(goal=2), lambda: chain_factory(goal=10, max_steps=2)])
    shaping = rl.shaping.potential(lambda obs: obs[:, 0].astype(float), gamma=gamma)
    venv = rl.RewardVecWrapper(venv, shaping)
    venv.reset()
    _, r1, d1, infos1 = venv.step(np.array([1, 1]))  # positions 1, 1
    np.testing.assert_allclose(r1, [gamma * 1 - 0, gamma * 1 - 0])
    _, r2, d2, infos2 = venv.step(np.array([1, 1]))  # env0 reaches goal 2 (terminated); env1 truncated at 2
    np.testing.assert_array_equal(d2, [True, True])
    # env0 terminated: Φ(s') zeroed → 0 − Φ(1) = −1. env1 truncated: γΦ(terminal obs = 2) − Φ(1) = 0.
    np.testing.assert_allclose(r2, [-1.0, 0.0])
    assert infos2[0]["rewardlab_episode"]["terminated"] is True
    assert infos2[1]["rewardlab_episode"]["terminated"] is False
    np.testing.assert_allclose(infos2[0]["rewardlab_episode"]["shaping"], 0.5 - 1.0)
    # after the auto-reset the next transition starts from the reset observation (position 0)
    _, r3, _, _ = venv.step(np.array([1, 1]))
    np.testing.assert_allclose(r3, [0.5, 0.5])


def test_shaping_gamma_is_validated():
    with pytest.raises(ValueError, match="gamma"):
        rl.shaping.potential(lambda obs: obs[:, 0], gamma=1.5)
