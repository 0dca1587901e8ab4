"""Generated programs as reward terms: same rewards as hand-written code, YAML, store, state, errors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import rewardlab as rl
from rewardlab.codegen import GeneratedRewardError, GeneratedTerm, GenerationStore, RejectedProgram, make_program
from rewardlab.config.registry import ConfigError
from rewardlab.core.transitions import Transitions

CHEETAH = """\
import numpy as np

def compute_reward(obs, action, next_obs):
    forward = next_obs[:, 8]
    ctrl = -0.1 * np.sum(np.square(action), axis=-1)
    posture = -np.abs(next_obs[:, 1]) + 0.5 * np.tanh(obs[:, 2])
    return {"forward": forward, "ctrl": ctrl, "posture": posture}
"""


def cheetah_by_hand(obs, action, next_obs):
    return (
        next_obs[:, 8]
        + -0.1 * np.sum(np.square(action), axis=-1)
        + (-np.abs(next_obs[:, 1]) + 0.5 * np.tanh(obs[:, 2]))
    )


PENDULUM = """\
import numpy as np

def compute_reward(obs, action):
    angle = np.arctan2(obs[:, 1], obs[:, 0])
    torque = np.clip(action[:, 0], -2.0, 2.0)
    return {"angle": -angle ** 2, "speed": -0.1 * obs[:, 2] ** 2, "torque": -0.001 * torque ** 2}
"""


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDLAB_CODEGEN_STORE", str(tmp_path / "store"))
    return GenerationStore()


@pytest.fixture(scope="module")
def cheetah_program():
    return make_program(f"Here you go:\n```python\n{CHEETAH}```", "HalfCheetah-v5", task="run")


def rollout_rewards(reward, steps=30):
    venv = rl.RewardVecWrapper(rl.make_vec_env("HalfCheetah-v5", n_envs=3, seed=0), reward)
    venv.reset()
    rng = np.random.default_rng(0)
    out = []
    for _ in range(steps):
        _, r, _, infos = venv.step(rng.uniform(-1, 1, size=(3, 6)))
        out.append((r, [dict(i["rewardlab"]) for i in infos]))
    venv.close()
    return out


def test_a_program_gives_the_same_rewards_as_the_hand_written_function(cheetah_program):
    assert cheetah_program.components == ("forward", "ctrl", "posture")
    assert cheetah_program.fields == ("obs", "action", "next_obs")
    generated = rollout_rewards(GeneratedTerm(cheetah_program))
    by_hand = rollout_rewards(rl.function(cheetah_by_hand, name="by_hand"))
    for (r_gen, infos), (r_hand, _) in zip(generated, by_hand):
        np.testing.assert_array_equal(r_gen, r_hand)
        names = {"generated/forward", "generated/ctrl", "generated/posture", "extrinsic_reward", "total"}
        assert set(infos[0]) == names


def test_a_program_can_reproduce_the_env_reward_exactly():
    term = GeneratedTerm(make_program(PENDULUM, "Pendulum-v1"))
    venv = rl.RewardVecWrapper(rl.make_vec_env("Pendulum-v1", n_envs=4, seed=0), term)
    venv.reset()
    for _ in range(20):
        _, r, _, infos = venv.step(np.random.default_rng(1).uniform(-2, 2, size=(4, 1)))
        np.testing.assert_allclose(r, [i["rewardlab"]["extrinsic_reward"] for i in infos], atol=1e-5)
    term.close()


def test_yaml_and_shorthand_build_the_term_and_sums_keep_each_component(store, cheetah_program):
    pid = store.put_program(cheetah_program)
    assert rl.build_reward(f"generated:{pid[:8]}").id == pid
    total = rl.build_reward(["extrinsic", {"term": "generated", "id": pid, "weight": 2.0}])
    assert total.component_names() == ["extrinsic", "generated/forward", "generated/ctrl", "generated/posture"]
    env = rl.make_vec_env("HalfCheetah-v5", n_envs=2, seed=0)
    obs = env.reset()
    action = np.zeros((2, 6))
    next_obs, reward, *_ = env.step(action)
    batch = Transitions.from_arrays(obs, action, next_obs, reward)
    values, comps = total.evaluate(batch)
    np.testing.assert_allclose(values, reward + 2.0 * cheetah_by_hand(obs, action, next_obs))
    np.testing.assert_allclose(comps["generated/ctrl"], 0.0)
    env.close()


def test_state_dict_copies_and_pickles(store, cheetah_program):
    term = GeneratedTerm(cheetah_program)
    rng = np.random.default_rng(0)
    batch = Transitions.from_arrays(rng.normal(size=(5, 17)), rng.normal(size=(5, 6)), rng.normal(size=(5, 17)))
    before = term(batch)
    state = term.state_dict()
    assert state["id"] == cheetah_program.id and state["program"]["source"] == CHEETAH
    store.put_program(cheetah_program)
    fresh = rl.build_reward({"term": "generated", "id": cheetah_program.id})
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh(batch), before)
    twin = copy.deepcopy(term)  # its own worker
    np.testing.assert_array_equal(twin(batch), before)
    twin.close()
    np.testing.assert_array_equal(term(batch), before)
    other = GeneratedTerm(make_program(PENDULUM, "Pendulum-v1"))
    with pytest.raises(ValueError, match="state is for generated program"):
        other.load_state_dict(state)
    term.close()


def test_binding_checks_the_env_and_copies_the_program_into_the_run_folder(tmp_path, cheetah_program):
    term = GeneratedTerm(cheetah_program)
    venv = rl.make_vec_env("HalfCheetah-v5", n_envs=1, seed=0)
    rl.RewardVecWrapper(venv, term, run_dir=str(tmp_path))
    saved = json.loads((tmp_path / "generated" / f"{cheetah_program.id}.json").read_text())
    assert saved["source"] == CHEETAH
    with pytest.raises(ConfigError, match=r"written for HalfCheetah-v5 \(observations of shape \(17,\)\)"):
        rl.RewardVecWrapper(rl.make_vec_env("Pendulum-v1", n_envs=1), GeneratedTerm(cheetah_program))


def test_a_runtime_failure_stops_training_with_the_program_and_reason():
    source = (
        "import numpy as np\ndef compute_reward(next_obs):\n"
        "    return {'x': np.where(next_obs[:, 0] > 0.99999, np.nan, 0.0)}\n"
    )
    # random play does not hold the pendulum upright, so the probes pass; an upright pendulum fails at once
    program = make_program(source, "Pendulum-v1")
    term = GeneratedTerm(program)
    batch = Transitions.from_arrays(np.zeros((2, 3)), np.zeros((2, 1)), np.array([[1.0, 0, 0], [0.0, 1, 0]]))
    with pytest.raises(GeneratedRewardError, match=rf"{program.id} \(Pendulum-v1\): component 'x' is NaN in 1 of 2"):
        term(batch)
    term.close()


@pytest.mark.parametrize(
    ("answer", "stage", "message"),
    [
        ("I would rather not.", "extract", "no ```python code block"),
        ("```python\nimport os\ndef compute_reward(obs):\n    return {'x': obs[:, 0]}\n```", "static", "import os"),
        ("```python\ndef compute_reward(obs):\n    return {'x': obs.squeeze()[:, 0]}\n```", "run",
         "on a batch of 1 transition(s) from random play: line 2: `return {'x': obs.squeeze()[:, 0]}`: IndexError"),
        ("```python\ndef compute_reward(obs):\n    return {'x': obs[:, 99]}\n```", "run",
         "on a batch of 64 transition(s) from random play: line 2: `return {'x': obs[:, 99]}`: IndexError"),
    ],
)  # fmt: skip
def test_make_program_says_where_and_why_it_rejects(answer, stage, message):
    with pytest.raises(RejectedProgram) as info:
        make_program(answer, "CartPole-v1")
    assert info.value.stage == stage and message in info.value.message


def test_store_resolves_prefixes_and_survives_partial_writes(store, cheetah_program):
    pid = store.put_program(cheetah_program)
    assert store.put_program(cheetah_program) == pid  # idempotent
    assert store.resolve(pid[:6]) == pid and store.get_program(pid) == cheetah_program
    with pytest.raises(ValueError, match="too short"):
        store.resolve(pid[:3])
    with pytest.raises(ValueError, match=rf"no generated program 'ffffff' .*latest ids: {pid}"):
        store.resolve("ffffff")
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "sample": 0}
    assert store.get_answer(request) is None
    key = store.put_answer(request, "hello")
    assert store.get_answer(request) == "hello" and store.generation(key)["request"] == request
    assert not list(store.root.rglob("*.tmp"))
    record = json.loads((store.root / "programs" / f"{pid}.json").read_text())
    record["source"] += "# tampered\n"
    (store.root / "programs" / f"{pid}.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="does not match its content"):
        store.get_program(pid)
