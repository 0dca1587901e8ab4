"""The ONI term's compiled step: message rows to slots (exact, whatever the keys), rewards and episodic counts."""

from __future__ import annotations

import numpy as np
import pytest
from oni_helpers import MESSAGES, MessageEnv, encode, message_batch
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.bonus import EpisodicCountTable
from rewardlab.core.env_info import EnvInfo
from rewardlab.oni.annotators import RuleAnnotator
from rewardlab.oni.message_table import MessageTable, as_words
from rewardlab.wrappers.engine import NonFiniteRewardError

SPACE = MessageEnv().observation_space


def step(table, words, reward, episodic, beta=1.0, weight=1.0):
    n = len(words)
    keys, slots, out = np.empty(n, np.int64), np.empty(n, np.int64), np.full(n, -7.0)
    todo = table.step(words, reward, episodic.arrays_for_visit(), beta, weight, keys, slots, out)
    return todo, keys, slots, out


def test_rows_get_their_own_slots_and_equal_rows_share_one():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(3000, 24), dtype=np.uint8)
    rows[1500:] = rows[:1500]  # every row twice
    words = as_words(rows)
    table, episodic = MessageTable(capacity=8), EpisodicCountTable(n_envs=len(rows))
    reward = np.full(1500, np.nan)
    todo, keys, slots, _ = step(table, words, reward, episodic)
    assert todo == len(rows) and (slots == -1).all()
    for i in range(1500):  # the table grows (and rebuilds) many times on the way
        table.add(words[i], keys[i], slot=i)
    assert len(table) == 1500 and table.table_keys.shape[0] >= 3000
    reward[:] = np.arange(1500) / 10
    todo, _, slots, out = step(table, words, reward, episodic)
    assert todo == 0
    assert slots.tolist() == list(range(1500)) * 2
    assert out.tolist() == (np.arange(1500) / 10).tolist() * 2  # each env's first visit: N_e = 1


def test_a_key_match_is_confirmed_against_the_stored_bytes():
    a, b = as_words(np.array([list(b"You see a wall.\0"), list(b"You see a newt.\0")], dtype=np.uint8))
    table, episodic = MessageTable(), EpisodicCountTable(n_envs=1)
    _, keys, _, _ = step(table, np.stack([b]), np.zeros(0), episodic)
    table.add(a, keys[0], slot=0)  # row a entered under row b's key: a collision of keys
    todo, _, slots, _ = step(table, np.stack([b]), np.zeros(1), episodic)
    assert todo == 1 and slots[0] == -1  # b is not taken for a
    table.add(b, keys[0], slot=1)
    todo, _, slots, _ = step(table, np.stack([b]), np.array([0.0, 2.0]), episodic)
    assert todo == 0 and slots[0] == 1


def test_a_reward_not_computed_yet_stops_the_step_before_it_counts():
    words = as_words(np.array([encode("You kill the newt!")] * 2))
    table, episodic = MessageTable(), EpisodicCountTable(n_envs=2)
    _, keys, _, _ = step(table, words, np.zeros(0), episodic)
    table.add(words[0], keys[0], slot=0)
    todo, _, slots, out = step(table, words, np.array([np.nan]), episodic)
    assert todo == 2 and slots.tolist() == [0, 0] and out.tolist() == [-7.0, -7.0]  # nothing written
    assert episodic.counts.sum() == 0  # nothing counted: the caller computes the reward and steps again
    todo, _, _, out = step(table, words, np.array([3.0]), episodic, beta=2.0, weight=0.5)
    assert todo == 0 and out.tolist() == [1.5, 1.5]
    _, _, _, out = step(table, words, np.array([3.0]), episodic, beta=2.0, weight=0.5)
    assert out.tolist() == [0.375, 0.375]  # 0.5 · 3 / 2²


@pytest.mark.parametrize("rows", [
    np.array([[1, 2, 3, 0, 0], [1, 2, 3, 0, 0], [1, 2, 4, 0, 0]], dtype=np.uint8),  # not a multiple of 8 bytes
    np.array([[1, -2, 3], [1, -2, 3], [1, -2, 4]], dtype=np.int16),  # another dtype
    np.arange(3 * 16, dtype=np.uint8).reshape(3, 16)[:, ::2],  # a strided view
])  # fmt: skip
def test_any_message_field_is_read_as_its_bytes(rows):
    words = as_words(rows)
    assert words.dtype == np.uint64 and words.shape[0] == 3 and words.flags.c_contiguous
    equal = [np.array_equal(words[i], words[j]) for i, j in [(0, 1), (0, 2)]]
    assert equal == [np.array_equal(rows[0], rows[1]), np.array_equal(rows[0], rows[2])]


def reference_rewards(batches, resets, beta):
    """``label(text) / N_e(row)^β`` with the counts kept in plain Python, per env, cleared at a reset."""
    rules = RuleAnnotator()
    counts: list[dict[bytes, int]] = [{} for _ in batches[0]]
    out = []
    for texts, reset in zip(batches, resets):
        for i in reset:
            counts[i].clear()
        row = []
        for i, text in enumerate(texts):
            raw = encode(text).tobytes()
            counts[i][raw] = counts[i].get(raw, 0) + 1
            label = rules.score(text) if text else 0.0
            row.append(label / counts[i][raw] ** beta)
        out.append(row)
    return out


@pytest.mark.parametrize("beta", [0.0, 0.5, 3.0])
def test_the_compiled_step_gives_the_formula_over_episodes(beta):
    rng = np.random.default_rng(1)
    batches = [[MESSAGES[k] for k in rng.integers(0, len(MESSAGES), size=3)] for _ in range(60)]
    resets = [[i for i in range(3) if rng.random() < 0.1] for _ in range(60)]
    term = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, background=False, beta=beta)
    term.bind(EnvInfo(None, SPACE, None, 3))
    got = []
    for texts, reset in zip(batches, resets):
        term.reset(np.array(reset, dtype=np.int64))
        got.append(term.compute(message_batch(texts)).tolist())
    term.close()
    expected = reference_rewards(batches, resets, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert max(max(r) for r in got) > 0  # some message paid


def test_compute_into_writes_weight_times_compute_and_counts_once():
    texts = ["You kill the newt!", "You see here 7 gold pieces.", "It's a wall."]
    first = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, background=False)
    second = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, background=False)
    for term in (first, second):
        term.bind(EnvInfo(None, SPACE, None, 3))
    for _ in range(3):
        out = np.empty(3)
        second.compute_into(message_batch(texts), out, 0.25)
        assert out.tolist() == (0.25 * first.compute(message_batch(texts))).tolist()
    first.close()
    second.close()


def test_a_network_model_rewards_its_scores_of_the_messages_met():
    term = rl.oni.oni(model="classification", annotator={"kind": "rules"}, background=False, beta=0.0, steps=80)
    term.bind(EnvInfo(None, SPACE, None, 4))
    texts = ["You kill the newt!", "You see here 7 gold pieces.", "It's a wall.", "You hear some noises."]
    assert term.compute(message_batch(texts)).tolist() == [0.0] * 4  # nothing learned yet
    term.fit_now()
    expected = term.model.rewards(texts, {}, [])
    assert term.compute(message_batch(texts)).tolist() == expected.tolist()
    assert expected.tolist() == [1.0, 1.0, 0.0, 0.0]
    term.close()


def test_loading_a_state_replaces_the_rewards_of_messages_met_before():
    texts = ["You kill the newt!", "You see here 7 gold pieces.", "It's a wall.", "You hear some noises."]
    trained = rl.oni.oni(model="classification", annotator={"kind": "rules"}, background=False, beta=0.0, steps=80)
    trained.bind(EnvInfo(None, SPACE, None, 4))
    trained.compute(message_batch(texts))
    trained.fit_now()
    fresh = rl.oni.oni(model="classification", annotator={"kind": "rules"}, background=False, beta=0.0, steps=80)
    fresh.bind(EnvInfo(None, SPACE, None, 4))
    assert fresh.compute(message_batch(texts)).tolist() == [0.0] * 4  # untrained: its rewards are kept per message
    fresh.load_state_dict(trained.state_dict())
    assert fresh.compute(message_batch(texts)).tolist() == [1.0, 1.0, 0.0, 0.0]  # the loaded model's, not the kept
    trained.close()
    fresh.close()


def test_retrieval_pays_a_label_from_the_step_after_it_arrives():
    term = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, beta=1.0)  # labelled in the background
    term.bind(EnvInfo(None, SPACE, None, 2))
    texts = ["You kill the newt!", "It's a wall."]
    assert term.compute(message_batch(texts)).tolist() == [0.0, 0.0]  # asked, not answered yet
    assert term.service.wait(timeout=10)
    assert term.compute(message_batch(texts)).tolist() == [0.5, 0.0]  # the label, over the 2nd visit
    term.close()


def test_a_reward_the_model_computes_as_nan_reaches_the_engine_as_nan():
    term = rl.oni.oni(model="classification", annotator={"kind": "rules"}, background=False, steps=5)
    venv = rl.RewardVecWrapper(DummyVecEnv([lambda: MessageEnv(length=50)] * 2), term, nan_policy="raise")
    venv.reset()
    venv.step(np.zeros(2, dtype=np.int64))
    term.fit_now()
    term.model.rewards = lambda messages, values, keys: np.full(len(messages), np.nan)  # a model that diverged
    term.load_state_dict(term.state_dict())  # every reward is computed again, by that model
    with pytest.raises(NonFiniteRewardError, match="oni"):
        venv.step(np.zeros(2, dtype=np.int64))
    venv.close()


def test_rows_of_another_width_are_refused_in_one_line():
    table, episodic = MessageTable(), EpisodicCountTable(n_envs=1)
    wide = as_words(np.ones((1, 16), dtype=np.uint8))
    _, keys, _, _ = step(table, wide, np.zeros(0), episodic)
    table.add(wide[0], keys[0], slot=0)
    narrow = as_words(np.ones((1, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="rows of 1 words; this table holds rows of 2"):
        step(table, narrow, np.zeros(1), episodic)
    with pytest.raises(ValueError, match="a row of 1 words; this table holds rows of 2"):
        table.add(narrow[0], keys[0], slot=1)
