"""Simulated teachers have their documented error rates; a human teacher's session records answers and resumes."""

import builtins

import imageio.v2 as imageio
import numpy as np
import pytest

from rewardlab.config.registry import ConfigError
from rewardlab.learned.preference import HumanTeacher, LabelStore, OracleTeacher, Queries, make_teacher
from rewardlab.learned.preference.teachers import prompt_answer

N, H = 4000, 5


@pytest.fixture(scope="module")
def pairs() -> Queries:
    rng = np.random.default_rng(123)
    ones = np.ones((N, H))
    return Queries(rng.normal(size=(N, H)), rng.normal(size=(N, H)), ones, ones)


def _bound(p: float) -> float:
    return 4 * np.sqrt(p * (1 - p) / N)  # four binomial standard errors


def test_a_rational_teacher_prefers_the_higher_return(pairs):
    r1, r2 = pairs.returns()
    labels = OracleTeacher().answer(pairs)
    np.testing.assert_array_equal(labels, (r1 > r2).astype(float))


def test_mistakes_flip_the_documented_fraction(pairs):
    r1, r2 = pairs.returns()
    labels = OracleTeacher(mistake=0.2, seed=1).answer(pairs)
    wrong = np.mean(labels != (r1 > r2))
    assert abs(wrong - 0.2) < _bound(0.2)


def test_a_stochastic_teacher_follows_the_bradley_terry_probability(pairs):
    r1, r2 = pairs.returns()
    beta = 0.7
    labels = OracleTeacher(beta=beta, seed=2).answer(pairs)
    expected_error = np.mean(1 / (1 + np.exp(beta * np.abs(r1 - r2))))  # P(choosing the worse segment)
    error = np.mean(labels != (r1 > r2))
    assert abs(error - expected_error) < _bound(expected_error)
    coin = OracleTeacher(beta=0.0, seed=3).answer(pairs)  # β = 0: no information
    assert abs(coin.mean() - 0.5) < _bound(0.5)


def test_skip_and_equal_thresholds_are_exact(pairs):
    r1, r2 = pairs.returns()
    labels = OracleTeacher(skip_threshold=0.5, equal_threshold=0.3).answer(pairs)
    skipped = np.isnan(labels)
    np.testing.assert_array_equal(skipped, np.maximum(r1, r2) <= 0.5)
    np.testing.assert_array_equal(labels[~skipped] == 0.5, (np.abs(r1 - r2) < 0.3)[~skipped])
    assert 0.05 < skipped.mean() < 0.95 and np.mean(labels == 0.5) > 0.02


def test_a_myopic_teacher_weighs_recent_steps_more(pairs):
    gamma = 0.5
    w = gamma ** np.arange(H - 1, -1, -1)
    d_myopic = (pairs.rewards_1 - pairs.rewards_2) @ w
    r1, r2 = pairs.returns()
    labels = OracleTeacher(gamma=gamma).answer(pairs)
    np.testing.assert_array_equal(labels, (d_myopic > 0).astype(float))
    disagree = (d_myopic > 0) != (r1 > r2)
    assert disagree.mean() > 0.1  # the fixed pairs do tell a myopic teacher from a farsighted one
    assert np.all(labels[disagree] != (r1 > r2)[disagree])


def test_an_exact_tie_is_equal_and_masked_steps_count_nothing():
    ones = np.ones((2, 4))
    mask_short = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=float)
    labels = OracleTeacher().answer(Queries(ones, ones, ones, mask_short))
    np.testing.assert_array_equal(labels, [1.0, 0.5])


def test_teacher_specs_and_bad_options():
    assert isinstance(make_teacher({"oracle": {"beta": 2.0}}), OracleTeacher)
    with pytest.raises(ConfigError, match="valid: beta"):
        make_teacher({"oracle": {"betta": 2.0}})
    with pytest.raises(ConfigError, match="valid: 'oracle', 'human'"):
        make_teacher("robot")
    with pytest.raises(ConfigError, match="label store"):
        make_teacher("human")
    with pytest.raises(ConfigError, match="mistake"):
        OracleTeacher(mistake=1.5)


def _visual_pairs(n: int = 5) -> Queries:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, n, 3, 8, 10, 3), dtype=np.uint8)
    inputs = rng.normal(size=(2, n, 3, 4)).astype(np.float32)
    ones = np.ones((n, 3))
    return Queries(rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), ones, ones, inputs[0], inputs[1], frames[0],
                   frames[1])  # fmt: skip


class ScriptedUser:
    """Answers from a script; raises (a crash) after ``crash_after`` answers."""

    def __init__(self, answers: list[str], crash_after: int | None = None) -> None:
        self.answers, self.crash_after, self.clips = list(answers), crash_after, []

    def __call__(self, clip, index, total):
        if self.crash_after is not None and len(self.clips) == self.crash_after:
            raise RuntimeError("the labelling session crashed")
        self.clips.append(clip)
        return self.answers.pop(0)


def test_a_human_session_records_every_answer_and_resumes_after_a_crash(tmp_path):
    queries = _visual_pairs(5)
    store = LabelStore(tmp_path / "labels.sqlite")
    first = ScriptedUser(["left", "right", "equal"], crash_after=3)
    with pytest.raises(RuntimeError, match="crashed"):
        HumanTeacher(store, ask=first).answer(queries)
    store.close()
    assert len(first.clips) == 3
    clip = imageio.mimread(first.clips[0])
    assert len(clip) == 3 and clip[0].shape[:2] == (8, 10 + 6 + 10)  # the two segments side by side

    # a new process: the answered pairs are not asked again, the unanswered one is asked first
    store = LabelStore(tmp_path / "labels.sqlite")
    assert store.counts()["answered"] == 3 and store.counts()["asked"] == 4
    second = ScriptedUser(["skip", "left"])
    labels = HumanTeacher(store, ask=second).answer(queries)
    assert len(second.clips) == 2
    np.testing.assert_array_equal(labels[:3], [1.0, 0.0, 0.5])
    assert np.isnan(labels[3]) and labels[4] == 1.0
    counts = store.counts()
    assert counts == {"asked": 5, "answered": 5, "left": 2, "right": 1, "equal": 1, "skip": 1}
    data = store.dataset()  # skips are not training data
    assert data["inputs_1"].shape == (4, 3, 4)
    np.testing.assert_array_equal(data["labels"], [1.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(data["inputs_1"][0], queries.inputs_1[0])


def test_the_terminal_prompt_rereads_invalid_answers(monkeypatch, capsys, tmp_path):
    replies = iter(["maybe", "R"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(replies))
    assert prompt_answer(tmp_path / "clip.gif", 0, 1) == "right"
    assert "unknown answer 'maybe'" in capsys.readouterr().out


def test_the_notebook_widget_records_clicks_and_resumes(tmp_path):
    from rewardlab.learned.preference.widget import PreferenceWidget

    queries = _visual_pairs(4)
    store = LabelStore(tmp_path / "labels.sqlite")
    widget = PreferenceWidget(queries, store)
    view = widget.widget()
    assert widget._image.value[:3] == b"GIF"
    view.children[2].children[1].click()  # the "right" button
    widget.answer("left")
    assert widget.position == 2 and not widget.done
    store.close()
    again = PreferenceWidget(queries, LabelStore(tmp_path / "labels.sqlite"))  # a reopened notebook
    assert again.position == 2
    again.answer("equal")
    again.answer("skip")
    assert again.done
    np.testing.assert_array_equal(again.labels()[:3], [0.0, 1.0, 0.5])
    assert np.isnan(again.labels()[3])


def test_the_labels_command_shows_and_exports_a_store(tmp_path, capsys):
    from rewardlab.cli.main import main

    queries = _visual_pairs(3)
    store = LabelStore(tmp_path / "labels.sqlite")
    HumanTeacher(store, ask=ScriptedUser(["left", "skip", "right"])).answer(queries)
    store.close()
    assert main(["labels", str(tmp_path), "--list", "--export", str(tmp_path / "out.npz")]) == 0
    out = capsys.readouterr().out
    assert "3 pairs asked, 3 answered (left 1, right 1, equal 0, skip 1)" in out and "wrote 2 labelled pairs" in out
    np.testing.assert_array_equal(np.load(tmp_path / "out.npz")["labels"], [1.0, 0.0])
    assert main(["labels", str(tmp_path / "nowhere")]) != 0
    assert "no label store" in capsys.readouterr().err
