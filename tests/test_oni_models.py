"""ONI reward models learn scripted labels; the ONI term's reward, counts, metrics, state and close hook."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from oni_helpers import MESSAGES, MessageEnv, message_batch
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.oni.messages import message_hash, pair_key
from rewardlab.oni.models import ClassificationModel, RankingModel, RetrievalModel
from rewardlab.oni.store import Label, Query
from rewardlab.runs.reward_state import load_reward_state, save_reward_state

GOOD = ["You see here 7 gold pieces.", "You see here 12 gold pieces.", "You kill the newt!", "You kill the jackal!",
        "You see here 3 gold pieces.", "You kill the grid bug!"]  # fmt: skip
BAD = ["It's a wall.", "It's solid stone.", "You hear some noises.", "Never mind.", "You can't go up here.",
       "What a strange direction!"]  # fmt: skip


def classify_labels():
    return [Label(Query("classify", message_hash(t), (t,)), float(t in GOOD)) for t in GOOD + BAD]


def test_retrieval_is_the_label_table_and_zero_until_labelled():
    values = {message_hash("a"): 1.0}
    out = RetrievalModel().rewards(["a", "b"], values, [message_hash("a"), message_hash("b")])
    assert out.tolist() == [1.0, 0.0]


def test_classification_learns_the_labels_and_generalises_to_a_new_message():
    model = ClassificationModel(steps=150, seed=0)
    assert model.rewards(GOOD, {}, []).tolist() == [0.0] * len(GOOD)  # nothing learned: no reward
    model.fit(classify_labels(), GOOD + BAD)
    assert model.rewards(GOOD, {}, []).tolist() == [1.0] * len(GOOD)
    assert model.rewards(BAD, {}, []).tolist() == [0.0] * len(BAD)
    p_new = model.probabilities(["You see here 40 gold pieces.", "It's a wall!"])
    assert p_new[0] > 0.5 > p_new[1]


def test_ranking_learns_the_order_of_pairs():
    rng = np.random.default_rng(0)
    labels = []
    for _ in range(60):
        a, b = rng.choice(GOOD), rng.choice(BAD)
        if rng.random() < 0.5:
            labels.append(Label(Query("rank", pair_key(a, b), (a, b)), 1.0))
        else:
            labels.append(Label(Query("rank", pair_key(b, a), (b, a)), 0.0))
    model = RankingModel(steps=150, seed=0)
    metrics = model.fit(labels, GOOD + BAD)
    assert metrics["model_loss"] < 0.2
    scores = model.scores(GOOD + BAD)
    assert scores[: len(GOOD)].min() > scores[len(GOOD) :].max()
    rewards = model.rewards(GOOD + BAD, {}, [])
    assert (rewards[: len(GOOD)] > 0).all() and (rewards[len(GOOD) :] == 0).all()


def trained_term(model="classification", **kwargs):
    term = rl.oni.oni(model=model, annotator={"kind": "rules"}, background=False, steps=60, **kwargs)
    venv = rl.RewardVecWrapper(
        DummyVecEnv([lambda i=i: MessageEnv(length=7, offset=i) for i in range(3)]), rl.extrinsic() + 0.5 * term,
        update_every=4,
    )
    venv.reset()
    for _ in range(12):
        venv.step(np.zeros(3, dtype=np.int64))
    return term, venv


def test_oni_reward_divides_by_the_episodic_count_to_the_beta():
    term = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, background=False, beta=3.0)
    term.bind(rl.core.env_info.EnvInfo(None, MessageEnv().observation_space, None, 2))
    kill, wall = "You kill the newt!", "It's a wall."
    assert term.compute(message_batch([kill, wall])).tolist() == [1.0, 0.0]
    assert term.compute(message_batch([kill, kill])).tolist() == [1.0 / 8, 1.0]  # env 0 meets it the 2nd time
    term.reset(np.array([0]))
    assert term.compute(message_batch([kill, ""])).tolist() == [1.0, 0.0]
    term.close()


def test_oni_term_trains_logs_metrics_and_round_trips_its_state(tmp_path):
    term, venv = trained_term()
    metrics = venv.engine.last_update_metrics
    assert metrics["oni/labelled_share"] == 1.0 and metrics["oni/queue"] == 0 and "oni/model_loss" in metrics
    assert metrics["oni/seen"] == len(MESSAGES) - 1 and metrics["oni/errors"] == 0
    texts = MESSAGES[1:] + ["You see here 99 gold pieces.", "You kill the lichen!"]
    before = term.score_texts(texts)
    assert before.sum() > 0
    reward = venv.reward
    save_reward_state(reward, tmp_path / "state.pt")
    venv.close()
    fresh = rl.oni.oni(model="classification", annotator={"kind": "rules"}, background=False, steps=60)
    fresh_reward = rl.extrinsic() + 0.5 * fresh
    load_reward_state(fresh_reward, tmp_path / "state.pt")
    assert fresh.score_texts(texts).tolist() == before.tolist()
    assert fresh.state_dict()["label_keys"] == term.state_dict()["label_keys"]


@pytest.mark.parametrize("model", ["retrieval", "ranking"])
def test_other_models_round_trip_through_state_dict(model):
    term, venv = trained_term(model)
    texts = MESSAGES[1:]
    before = term.score_texts(texts)
    state = term.state_dict()
    venv.close()
    fresh = rl.oni.oni(model=model, annotator={"kind": "rules"}, background=False)
    fresh.load_state_dict(state)
    assert fresh.score_texts(texts).tolist() == before.tolist()
    if model == "ranking":
        assert (before > 0).any()


def test_closing_the_wrapper_stops_the_worker_thread_and_keeps_the_store(tmp_path):
    term = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, store=tmp_path / "labels.sqlite")
    venv = rl.RewardVecWrapper(DummyVecEnv([MessageEnv]), term, update_every=2)
    venv.reset()
    assert any(t.name == "oni-annotator" for t in threading.enumerate())
    for _ in range(10):
        venv.step(np.zeros(1, dtype=np.int64))
    assert term.service.wait(timeout=5)
    venv.close()
    assert not any(t.name == "oni-annotator" for t in threading.enumerate())
    again = rl.oni.oni(model="retrieval", annotator={"kind": "rules"}, store=tmp_path / "labels.sqlite")
    venv = rl.RewardVecWrapper(DummyVecEnv([MessageEnv]), again)
    assert again.service.stats["reused"] == len(MESSAGES) - 1  # labels of the first run, read back
    venv.close()


def test_oni_needs_a_message_field():
    term = rl.oni.oni(annotator={"kind": "rules"})
    env = DummyVecEnv([lambda: __import__("gymnasium").make("CartPole-v1")])
    with pytest.raises(ValueError, match="oni reads observation field 'message'"):
        rl.RewardVecWrapper(env, term)


def test_yaml_builds_the_term_and_checks_its_settings():
    reward = rl.build_reward(["extrinsic", {"term": "oni", "model": "retrieval", "weight": 0.1,
                                            "annotator": {"kind": "rules", "goal": "gold"}}])  # fmt: skip
    (oni_term,) = [t for t in reward.leaves() if isinstance(t, rl.oni.ONITerm)]
    assert oni_term.annotator.goal == "gold" and isinstance(oni_term.model, RetrievalModel)
    with pytest.raises(rl.ConfigError, match="model"):
        rl.build_reward([{"term": "oni", "model": "regression"}])
    with pytest.raises(rl.ConfigError, match="unknown annotator kind"):
        rl.build_reward([{"term": "oni", "annotator": {"kind": "oracle"}}])
    with pytest.raises(rl.ConfigError, match="unknown LLM setting 'url'"):
        rl.build_reward([{"term": "oni", "annotator": {"kind": "llm", "url": "http://x"}}])


class Closing(rl.RewardTerm):
    name = "closing"

    def __init__(self):
        super().__init__()
        self.closed = 0

    def compute(self, batch):
        return np.zeros(batch.n)

    def close(self):
        self.closed += 1


def test_both_wrappers_close_every_leaf_once():
    a, b = Closing(), Closing()
    reward = rl.extrinsic() + 0.5 * a + rl.transforms.clip(a, -1, 1) + b
    venv = rl.RewardVecWrapper(DummyVecEnv([MessageEnv]), reward)
    venv.close()
    assert (a.closed, b.closed) == (1, 1)
    env = rl.RewardWrapper(MessageEnv(), 2.0 * a)
    env.close()
    assert a.closed == 2


def test_a_copy_of_a_bound_term_leaves_the_worker_behind():
    import copy
    import pickle

    term, venv = trained_term()
    clone = copy.deepcopy(term)
    assert clone.service is None and clone.state_dict()["label_keys"] == term.state_dict()["label_keys"]
    llm = rl.oni.oni(annotator={"kind": "llm", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert pickle.loads(pickle.dumps(llm)).annotator.model == "m"
    venv.close()
