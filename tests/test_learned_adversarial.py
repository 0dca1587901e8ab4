"""Adversarial rewards from demonstrations: reward forms, Lipschitz constraints, state, relabelling, short runs."""

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from rewardlab.callbacks import find_engine
from rewardlab.cli.main import main
from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.transitions import Transitions
from rewardlab.learned.adversarial import AdversarialReward, from_episodes
from rewardlab.learned.adversarial.term import absorbing_logit
from rewardlab.relabel import ReplayRelabeler
from rewardlab.runs.reward_state import load_reward_state, read_reward_state, save_reward_state
from rewardlab.train import RunConfig, build_run

PENDULUM = EnvInfo("Pendulum-v1", gym.spaces.Box(-8, 8, (3,), np.float32), gym.spaces.Box(-2, 2, (1,), np.float32), 1)
CARTPOLE = EnvInfo("CartPole-v1", gym.spaces.Box(-5, 5, (4,), np.float32), gym.spaces.Discrete(2), 1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def demos_for(env_id, *, episodes=4, length=50, center=0.3, seed=0):
    """Synthetic expert episodes: observations around ``center``, actions near +1 (continuous) or 1 (discrete)."""
    rng = np.random.default_rng(seed)
    dim = {"Pendulum-v1": 3, "CartPole-v1": 4}[env_id]
    eps = []
    for _ in range(episodes):
        obs = (center + 0.1 * rng.normal(size=(length + 1, dim))).astype(np.float32)
        if env_id == "Pendulum-v1":
            acts = np.clip(1.0 + 0.1 * rng.normal(size=(length, 1)), -2, 2).astype(np.float32)
        else:
            acts = np.ones(length, dtype=np.int64)
        eps.append({"obs": obs[:-1], "next_obs": obs[1:], "acts": acts, "return": 0.0, "terminated": True})
    return from_episodes(eps, env_id)


def agent_batch(n=256, *, center=-0.3, seed=1):
    rng = np.random.default_rng(seed)
    obs = (center + 0.1 * rng.normal(size=(n + 1, 3))).astype(np.float32)
    acts = np.clip(-1.0 + 0.1 * rng.normal(size=(n, 1)), -2, 2).astype(np.float32)
    return Transitions.from_arrays(obs[:-1], acts, obs[1:])


def trained(steps=60, **kwargs):
    term = AdversarialReward(demos=demos_for("Pendulum-v1"), lr=3e-3, seed=0, **kwargs)
    term.bind(PENDULUM)
    for k in range(steps):
        term.update(agent_batch(seed=k))
    return term


def probe_points(term, n=512, seed=7):
    """Random inputs and expert/agent interpolates, raw (the term normalises them)."""
    rng = np.random.default_rng(seed)
    expert, agent = term.demos.sample(n, rng), agent_batch(n, seed=seed)
    eps = rng.uniform(size=(n, 1)).astype(np.float32)
    mixed = [eps * e + (1 - eps) * a for e, a in zip(expert[:3], (agent.obs, agent.action, agent.next_obs))]
    random = [rng.normal(scale=0.6, size=(n, 3)), rng.uniform(-2, 2, (n, 1)), rng.normal(scale=0.6, size=(n, 3))]
    return [np.concatenate([m, r]).astype(np.float32) for m, r in zip(mixed, random)]


def test_reward_forms_and_airl_shaping():
    term = trained(steps=3, kind="airl", normalize_reward=False)
    batch = agent_batch(8)
    logits = term.logits(batch.obs, batch.action, batch.next_obs, batch.terminated)
    np.testing.assert_allclose(term.compute(batch), logits)  # AIRL: the reward is f = log D − log(1 − D)
    d = 1 / (1 + np.exp(-logits))
    term.reward_form = "gail"
    np.testing.assert_allclose(term.compute(batch), -np.log(1 - d), rtol=1e-6)
    term.reward_form = "log_d"
    np.testing.assert_allclose(term.compute(batch), np.log(d), rtol=1e-6)
    # f = g(s,a) + γh(s') − h(s); at a terminal step s' is the absorbing state, whose potential is learned
    ended = term.logits(batch.obs, batch.action, batch.next_obs, np.ones(8, dtype=bool))
    s2 = torch.from_numpy(term._norm(batch.next_obs))
    with torch.no_grad():
        h_next = term.net.h(s2).squeeze(1).double().numpy()
    np.testing.assert_allclose(logits - ended, term.gamma * h_next, rtol=1e-4, atol=1e-5)


def _episodes_batch(n, *, center, terminate_every=0, seed=0):
    """Pendulum-shaped agent transitions; every ``terminate_every``-th one truly terminates (0: none)."""
    batch = agent_batch(n, center=center, seed=seed)
    if terminate_every:
        batch.terminated[terminate_every - 1 :: terminate_every] = True
    return batch


def test_without_termination_the_absorbing_state_changes_nothing():
    """Pendulum never terminates: with absorbing states on, every reward and update is bit-identical to off."""
    demos = demos_for("Pendulum-v1")
    demos.terminated[:] = False
    terms = []
    for absorbing in (True, False):
        term = AdversarialReward(demos=demos, absorbing=absorbing, kind="airl", lr=3e-3, seed=0)
        term.bind(PENDULUM)
        terms.append(term)
    for k in range(5):
        batch = agent_batch(seed=k)
        with_absorbing = terms[0].update(batch)
        with_absorbing.pop("adversarial_absorbing_logit")
        assert with_absorbing == terms[1].update(batch)
    probe = agent_batch(64, seed=9)
    np.testing.assert_array_equal(terms[0].compute(probe), terms[1].compute(probe))


@pytest.mark.parametrize("kind", ["gail", "airl"])
def test_terminal_transitions_carry_the_discounted_value_of_the_absorbing_state(kind):
    """r(s, a, s'_terminal) = r(ℓ(s, a, s')) + γ/(1 − γ)·r(ℓ_a); r(ℓ_a) learned from who terminates."""
    # the expert ends every 10 steps, the agent never: being absorbed looks like the expert
    demos = demos_for("Pendulum-v1", episodes=20, length=10)
    term = AdversarialReward(demos=demos, kind=kind, lr=3e-3, gamma=0.9, seed=0)
    term.bind(PENDULUM)
    for k in range(3):
        term.update(_episodes_batch(256, center=0.3, seed=k))
    # expert: 20 terminals in 220 transitions; agent: none in 768 (the whole run); smoothed at the smaller size
    assert term.absorbing_logit == pytest.approx(common_size_logit(20, 220, 0, 768))
    probe = _episodes_batch(64, center=0.3, terminate_every=4, seed=99)
    plain = term.reward_from_logits(term.logits(probe.obs, probe.action, probe.next_obs, probe.terminated))
    bonus = 0.9 / (1 - 0.9) * term.absorbing_reward()
    scale = term.reward_scale if kind == "airl" else 1.0  # AIRL's signed reward is normalised by default
    np.testing.assert_allclose(term.compute(probe), (plain + probe.terminated * bonus) / scale)
    assert bonus > 9 * np.log(2)  # ending now beats any ten more steps at D ≤ 1/2

    # the reverse: the agent ends, the expert never does; AIRL's ℓ_a turns negative, GAIL's r(ℓ_a) → 0
    demos = demos_for("Pendulum-v1", episodes=4, length=50)
    demos.terminated[:] = False
    term = AdversarialReward(demos=demos, kind=kind, lr=3e-3, gamma=0.9, seed=0)
    term.bind(PENDULUM)
    for k in range(3):
        term.update(_episodes_batch(256, center=0.3, terminate_every=10, seed=k))
    assert term.absorbing_logit == pytest.approx(common_size_logit(0, 200, 75, 843))  # 3 × 25 in 3 × 256 steps
    assert term.absorbing_reward() < (-3.0 if kind == "airl" else 0.03)


def common_size_logit(expert_terminals, expert_n, agent_terminals, agent_n):
    """ℓ_a with both sides' absorbing counts scaled to the smaller side's size and smoothed by ½ (n: transitions,
    absorbing ones included)."""
    m = min(expert_n, agent_n)
    return float(np.log((expert_terminals * m / expert_n + 0.5) / (agent_terminals * m / agent_n + 0.5)))


def test_the_absorbing_logit_has_the_sign_of_the_difference_in_termination_rates():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        expert_steps, agent_steps = rng.integers(1, 10**6, size=2)
        expert_terminals = int(rng.integers(0, 50)) * int(rng.integers(0, 2))
        agent_terminals = int(rng.integers(0, 50)) * int(rng.integers(0, 2))
        logit = absorbing_logit(
            expert_terminals=expert_terminals, expert_steps=expert_steps,
            agent_terminals=agent_terminals, agent_steps=agent_steps,
        )  # fmt: skip
        p_expert = expert_terminals / (expert_steps + expert_terminals)
        p_agent = agent_terminals / (agent_steps + agent_terminals)
        assert np.sign(logit) == np.sign(p_expert - p_agent) or abs(p_expert - p_agent) < 1e-15
        assert logit == pytest.approx(
            common_size_logit(expert_terminals, expert_steps + expert_terminals, agent_terminals,
                              agent_steps + agent_terminals), abs=1e-12
        )  # fmt: skip
    # the case that made per-side smoothing unsafe: an agent over a whole run of 80k steps with 2 terminations
    # against an expert that never terminates in 5000; (2 + ½)/80003 < ½/5001 would have rewarded ending
    logit = absorbing_logit(expert_terminals=0, expert_steps=5000, agent_terminals=2, agent_steps=80_000)
    assert np.log((0.5 / 5001) / (2.5 / 80_003)) > 1.0 and logit == pytest.approx(np.log(0.5 / 0.625), abs=1e-3)


def test_the_termination_rate_is_counted_over_the_whole_run_or_a_window():
    """f_A from counts over the whole run (default), decayed counts over ~absorbing_window steps (k = 1 − n/W),
    or one update's batch (0); agent_window no longer sets it."""
    demos = demos_for("Pendulum-v1", episodes=4, length=50)  # 200 transitions, no termination

    def logit_after(batches, **kwargs):
        term = AdversarialReward(demos=demos, kind="gail", seed=0, **kwargs)
        term.bind(PENDULUM)
        for k, every in enumerate(batches):
            term.update(_episodes_batch(100, center=0.3, terminate_every=every, seed=k))
        return term.absorbing_logit

    demos.terminated[:] = False
    # the whole run: 10 terminals in 210 transitions
    assert logit_after([10, 0]) == pytest.approx(common_size_logit(0, 200, 10, 210))
    assert logit_after([10, 0], agent_window=50) == logit_after([10, 0])
    # one update's batch: after a batch without terminations the earlier ones are forgotten
    assert logit_after([10, 0], absorbing_window=0) == pytest.approx(0.0, abs=1e-12)
    # a 400-step window (k = 3/4): S = 0.75·100 + 100, T = 0.75·10 + 0
    assert logit_after([10, 0], absorbing_window=400) == pytest.approx(common_size_logit(0, 200, 7.5, 182.5))
    # two sides that never terminate agree (ℓ_a = 0), whatever their sizes
    for window in (None, 0, 400):
        assert logit_after([0] * 5, absorbing_window=window) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="agent_window"):
        AdversarialReward(demos=demos, agent_window=-1)


def test_the_whole_run_remembers_the_agents_terminations():
    """The default counts f_A over the whole run (DAC: the whole replay buffer); a window forgets; the reward
    scale keeps agent_window."""
    demos = demos_for("Pendulum-v1", episodes=4, length=50)  # 200 transitions, no termination
    demos.terminated[:] = False
    schedule = [5, 5, 5] + [0] * 30  # the agent fails early, then stops terminating

    def run(**kwargs):
        term = AdversarialReward(demos=demos, kind="airl", lr=3e-3, gamma=0.9, seed=0, **kwargs)
        term.bind(PENDULUM)
        logits, scales = [], []
        for k, every in enumerate(schedule):
            term.update(_episodes_batch(100, center=0.3, terminate_every=every, seed=k))
            logits.append(term.absorbing_logit)
            scales.append(term.reward_scale)
        return term, logits, scales

    long, long_logits, long_scales = run()  # the default: the whole run
    assert long.absorbing_window is None and long.agent_window == 200
    # termination keeps its price: 60 terminals in 3300 steps against none in the expert's 200 (ℓ_a ≈ −2.1)
    assert long_logits[-1] == pytest.approx(common_size_logit(0, 200, 60, 3360))
    assert long_logits[-1] < -2.0
    short, short_logits, _ = run(absorbing_window=200)  # a window as long as the demonstrations forgets
    assert short_logits[2] == pytest.approx(common_size_logit(0, 200, 35, 210))
    assert short_logits[2] < -4.0
    assert short_logits[-1] == pytest.approx(0.0, abs=1e-6)  # the terminations are forgotten: ℓ_a → 0
    assert max(short_logits[10:]) > -0.25 > -2.0 > max(long_logits)
    # a window longer than the run is (nearly) the whole run
    assert run(absorbing_window=1_000_000)[1][-1] == pytest.approx(long_logits[-1], abs=0.01)
    # the reward scale is still counted over agent_window: it falls once the terminations leave that window
    assert long_scales[-1] < 0.2 * max(long_scales[:3])
    clone = AdversarialReward(demos=demos, kind="airl", lr=3e-3, gamma=0.9, seed=0)
    clone.bind(PENDULUM)
    clone.load_state_dict(long.state_dict())  # the counts travel with the state
    batch = _episodes_batch(100, center=0.3, seed=50)
    key = "adversarial_absorbing_logit"
    assert clone.update(batch)[key] == long.update(batch)[key] == long.absorbing_logit < -2.0
    with pytest.raises(ValueError, match="absorbing_window"):
        AdversarialReward(demos=demos, absorbing_window=-1)


def test_airl_rewards_are_divided_by_their_running_scale():
    """normalize_reward (default for AIRL): r / σ_r, σ_r the running RMS of the raw rewards, no centring."""
    demos = demos_for("Pendulum-v1", episodes=4, length=50)
    demos.terminated[:] = False
    term = AdversarialReward(demos=demos, kind="airl", lr=3e-3, gamma=0.9, seed=0)
    assert term.normalize_reward and not AdversarialReward(demos=demos, kind="gail").normalize_reward
    assert not AdversarialReward(demos=demos, kind="airl", normalize_reward=False).normalize_reward
    term.bind(PENDULUM)
    probe = _episodes_batch(64, center=0.0, terminate_every=8, seed=99)
    np.testing.assert_array_equal(term.compute(probe), term.raw_rewards(*_args(probe)))  # scale 1 before updates
    batch = _episodes_batch(256, center=-0.3, terminate_every=10, seed=1)
    metrics = term.update(batch)
    raw = term.raw_rewards(*_args(batch))  # the updated discriminator on the update's batch
    assert term.reward_scale == pytest.approx(np.sqrt(np.mean(raw**2)))  # first update: the batch alone
    assert metrics["adversarial_reward_scale"] == term.reward_scale
    assert term.reward_scale > 3.0  # the absorbing value γ/(1 − γ)·ℓ_a dominates: ℓ_a < 0, 9·|ℓ_a| per terminal
    np.testing.assert_allclose(term.compute(probe), term.raw_rewards(*_args(probe)) / term.reward_scale)
    # the scale travels with the reward's state
    clone = AdversarialReward(demos=demos, kind="airl", lr=3e-3, gamma=0.9, seed=0)
    clone.bind(PENDULUM)
    clone.load_state_dict(term.state_dict())
    np.testing.assert_array_equal(clone.compute(probe), term.compute(probe))


def test_a_held_or_falling_reward_scale():
    """reward_scale="held": σ_r over the first ~agent_window transitions, then constant; "falling": never rises."""
    demos = demos_for("Pendulum-v1", episodes=4, length=50)
    demos.terminated[:] = False
    kwargs = dict(demos=demos, kind="airl", lr=3e-3, gamma=0.9, agent_window=512, seed=0)
    terms = {mode: AdversarialReward(**kwargs, reward_scale=mode) for mode in ("running", "held", "falling")}
    for term in terms.values():
        term.bind(PENDULUM)
    probe = _episodes_batch(64, center=0.0, terminate_every=8, seed=99)
    scales = {mode: [] for mode in terms}
    for i, every in enumerate([10, 10, 3, 3, 2, 2]):  # the agent starts terminating more often after the window
        batch = _episodes_batch(256, center=-0.3, terminate_every=every, seed=i)
        for mode, term in terms.items():
            term.update(batch)
            scales[mode].append(term.reward_scale)
    running, held, falling = scales["running"], scales["held"], scales["falling"]
    assert held[:2] == running[:2] == falling[:2]  # the same estimate over the first 512 transitions
    assert held[2:] == [held[1]] * 4  # then held ...
    assert abs(running[-1] - running[1]) > 0.1 * running[1]  # ... while the running scale moves
    assert max(running[2:]) > running[1]  # more terminations: the running scale rises ...
    assert falling[2:] == [min(falling[1], *running[2 : k + 1]) for k in range(2, 6)]  # ... "falling" does not
    np.testing.assert_allclose(terms["held"].compute(probe), terms["held"].raw_rewards(*_args(probe)) / held[1])
    clone = AdversarialReward(**kwargs, reward_scale="held")  # the count of transitions seen travels too
    clone.bind(PENDULUM)
    clone.load_state_dict(terms["held"].state_dict())
    clone.update(_episodes_batch(256, center=-0.3, terminate_every=2, seed=7))
    assert clone.reward_scale == held[1]
    with pytest.raises(ValueError, match="reward_scale"):
        AdversarialReward(demos=demos, reward_scale="frozen")


def _args(batch):
    return batch.obs, batch.action, batch.next_obs, batch.terminated


def test_absorbing_off_keeps_the_old_reward_at_terminal_steps():
    term = AdversarialReward(demos=demos_for("Pendulum-v1"), absorbing=False, seed=0)
    term.bind(PENDULUM)
    term.update(_episodes_batch(256, center=-0.3, terminate_every=5))
    probe = _episodes_batch(20, center=0.0, terminate_every=2, seed=3)
    logits = term.logits(probe.obs, probe.action, probe.next_obs, probe.terminated)
    np.testing.assert_array_equal(term.compute(probe), np.logaddexp(0.0, logits))
    assert term.absorbing_reward() == 0.0


def test_the_discriminator_learns_to_separate_expert_from_agent():
    term = trained(steps=40, lipschitz="none")
    expert = term.demos
    r_expert = term.compute(Transitions.from_arrays(expert.obs, expert.acts, expert.next_obs))
    r_agent = term.compute(agent_batch(seed=99))
    assert r_expert.mean() > r_agent.mean() + 1.0
    metrics = term.update(agent_batch(seed=100))
    assert metrics["adversarial_expert_accuracy"] > 0.9 and metrics["adversarial_agent_accuracy"] > 0.9


def test_gradient_penalty_bounds_the_measured_lipschitz_constant():
    free = trained(lipschitz="none")
    penalised = trained(lipschitz="gp", gp_weight=10.0, gp_target=1.0, gp_one_sided=True)
    lip_free = free.gradient_norms(*probe_points(free)).max()
    lip_gp = penalised.gradient_norms(*probe_points(penalised)).max()
    assert lip_gp < 2.0 < lip_free, (lip_gp, lip_free)


def test_spectral_norm_keeps_each_layer_at_most_one():
    def layer_norms(term):
        return [
            torch.linalg.matrix_norm(m.weight.detach(), ord=2).item()
            for m in term.net.modules()
            if isinstance(m, torch.nn.Linear)
        ]

    assert max(layer_norms(trained(lipschitz="none"))) > 1.2  # without it, layers grow
    spectral = trained(lipschitz="spectral")
    assert max(layer_norms(spectral)) <= 1.0 + 1e-2
    assert spectral.gradient_norms(*probe_points(spectral)).max() <= 1.0 + 1e-2  # so the whole network is 1-Lipschitz


@pytest.mark.parametrize("lipschitz", ["gp", "spectral"])
def test_state_round_trip_is_exact(tmp_path, lipschitz):
    term = AdversarialReward(demos=demos_for("Pendulum-v1"), lipschitz=lipschitz, history=300, seed=3)
    term.bind(PENDULUM)
    for k in range(3):
        term.update(agent_batch(seed=k))
    save_reward_state(term, tmp_path / "state.pt")
    copy = AdversarialReward(demos=demos_for("Pendulum-v1"), lipschitz=lipschitz, history=300, seed=99)
    copy.bind(PENDULUM)
    load_reward_state(copy, tmp_path / "state.pt")
    probe = agent_batch(32, seed=50)
    np.testing.assert_array_equal(copy.compute(probe), term.compute(probe))
    # networks, optimiser, normaliser, history and random streams all carry over: the next update is identical
    assert copy.update(agent_batch(seed=60)) == term.update(agent_batch(seed=60))
    np.testing.assert_array_equal(copy.compute(probe), term.compute(probe))


def test_bad_options_and_demos_for_another_env_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown adversarial lipschitz 'l2'; valid"):
        AdversarialReward(demos=demos_for("Pendulum-v1"), lipschitz="l2")
    with pytest.raises(ConfigError, match=r"gamma must be in \(0, 1\), got 1.0"):
        AdversarialReward(demos=demos_for("Pendulum-v1"), gamma=1.0)
    term = AdversarialReward(demos=demos_for("Pendulum-v1"))
    with pytest.raises(ConfigError, match="come from Pendulum-v1 but the reward is bound to CartPole-v1"):
        term.bind(CARTPOLE)


def pendulum_reward(obs, action):
    theta = np.arctan2(obs[:, 1], obs[:, 0])
    u = np.clip(action.reshape(-1), -2, 2)
    return -(theta**2 + 0.1 * obs[:, 2] ** 2 + 0.001 * u**2)


@pytest.mark.parametrize("normalize", [False, True])
def test_relabelling_makes_stored_rewards_equal_the_current_reward(tmp_path, normalize):
    demos_file = demos_for("Pendulum-v1").save(tmp_path / "demos.npz")
    reward = ["extrinsic", {"term": "adversarial", "demos": str(demos_file), "weight": 0.5, "history": 500}]
    hp = {"learning_starts": 250, "batch_size": 32, "normalize": normalize}
    config = RunConfig(env="Pendulum-v1", algo="sac", reward=reward, steps=300, hyperparams=hp, eval_episodes=0)
    model, venv, _ = build_run(config)
    relabeler = ReplayRelabeler(batch_size=100)
    model.learn(300, callback=relabeler)
    engine = find_engine(venv)
    assert engine.updates == 2 and relabeler.relabels == 2  # one relabel per reward update (every 128 steps)
    buf, n = model.replay_buffer, model.replay_buffer.pos
    term = engine.reward.terms[1]

    def expected():
        batch = relabeler.transitions(np.arange(n))
        return pendulum_reward(batch.obs, batch.action) + 0.5 * term(batch)

    np.testing.assert_allclose(buf.rewards[:n, 0], expected(), rtol=1e-5, atol=1e-5)
    term.update(agent_batch(seed=5))  # the reward learns: the stored rewards are stale ...
    assert np.abs(buf.rewards[:n, 0] - expected()).max() > 1e-3
    relabeler.relabel()  # ... until relabelled
    np.testing.assert_allclose(buf.rewards[:n, 0], expected(), rtol=1e-5, atol=1e-5)
    # a relabeler that starts on a filled buffer (a resumed run) recovers the non-learned part from it
    resumed = ReplayRelabeler()
    model.learn(1, callback=resumed, reset_num_timesteps=False)
    term.update(agent_batch(seed=6))
    resumed.relabel()
    n = buf.pos
    np.testing.assert_allclose(buf.rewards[:n, 0], expected(), rtol=1e-4, atol=1e-4)
    venv.close()


def test_relabelling_a_dqn_buffer_with_several_envs_and_discrete_actions(tmp_path):
    demos_file = demos_for("CartPole-v1").save(tmp_path / "demos.npz")
    reward = ["extrinsic", {"term": "adversarial", "demos": str(demos_file), "weight": 0.5}]
    hp = {"learning_starts": 10_000, "train_freq": 8, "buffer_size": 600}  # the buffer wraps around
    config = RunConfig(env="CartPole-v1", algo="dqn", reward=reward, steps=1400, n_envs=3, hyperparams=hp)
    config.eval_episodes = 0
    model, venv, _ = build_run(config)
    relabeler = ReplayRelabeler(batch_size=256)
    model.learn(1400, callback=relabeler)
    buf, term = model.replay_buffer, find_engine(venv).reward.terms[1]
    assert buf.full and relabeler.relabels == 3
    term.update(relabeler.transitions(np.arange(100)))
    relabeler.relabel()
    batch = relabeler.transitions(np.arange(buf.buffer_size))
    assert batch.action.dtype == np.int64 and set(np.unique(batch.action)) <= {0, 1}
    np.testing.assert_allclose(buf.rewards.reshape(-1), 1.0 + 0.5 * term(batch), rtol=1e-5, atol=1e-5)
    venv.close()


def test_sac_on_pendulum_trains_and_relabels_through_the_cli(tmp_path, monkeypatch):
    relabelled = []
    relabel = ReplayRelabeler.relabel
    monkeypatch.setattr(ReplayRelabeler, "relabel", lambda self: relabelled.append(relabel(self)) or relabelled[-1])
    demos_file = demos_for("Pendulum-v1").save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    args = ["train", "--env", "Pendulum-v1", "--algo", "sac", "--steps", "300", "--eval-episodes", "1"]
    args += ["--reward", f"{{term: adversarial, demos: {demos_file}, lipschitz: gp}}", "--no-progress"]
    args += ["--hp", "learning_starts=250", "--hp", "batch_size=32", "--out", str(out)]
    assert main(args) == 0
    assert relabelled == [128, 256]  # train installs the relabeler for an off-policy agent with a learning reward
    assert np.isfinite(json.loads((out / "summary.json").read_text())["eval_true_return"])
    assert (out / "reward_state.pt").exists()


def test_ppo_on_cartpole_trains_on_the_adversarial_reward_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demos_for("CartPole-v1").save(tmp_path / "demos.npz")
    out = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--steps", "1024", "--n-envs", "4", "--eval-episodes", "1"]
    args += ["--reward", "{term: adversarial, demos: demos.npz, kind: airl, lipschitz: spectral}"]  # a relative path
    args += ["--no-progress", "--out", str(out), "--hp", "batch_size=128"]
    assert main(args) == 0
    terms = pd.read_csv(out / "reward_terms.csv")
    assert (terms["total"] == terms["adversarial"]).all() and (terms["true_return"] == terms["length"]).all()
    progress = pd.read_csv(out / "progress.csv")
    assert progress["reward_update/adversarial_loss"].notna().any()
    # the trained discriminator comes back with the run, and the run evaluates with it
    from rewardlab.runs import load_run

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the demos path is read where the run was started
    loaded = load_run(out).reward
    state = read_reward_state(out / "reward_state.pt")["state"]
    for k, v in loaded.net.state_dict().items():
        assert torch.equal(v, state["net"][k])
    assert main(["eval", str(out), "--episodes", "1", "--video-episodes", "0"]) == 0
