"""Teachers that answer preference queries: a simulated oracle with B-Pref's noise models, and a person.

A query is a pair of segments; an answer is ``P(first preferred)``: ``1.0``
(left), ``0.0`` (right), ``0.5`` (equally good) or ``NaN`` (skipped, no label).

:class:`OracleTeacher` answers from the true (environment) reward of the
segments, with the simulated teachers of B-Pref (Lee et al. 2021, "B-Pref:
Benchmarking Preference-Based Reinforcement Learning"), in B-Pref's order:

1. **skip**: a pair whose better segment has true return ``max(R¹, R²) <= skip_threshold``
   is skipped (neither segment shows anything worth judging);
2. **equal**: ``|R¹ − R²| < equal_threshold`` is answered 0.5 (undiscounted returns);
3. **myopic**: the teacher weighs step ``t`` of an ``H``-step segment by
   ``γ^(H−1−t)`` (recent steps count most) and compares ``Rᵞ¹`` with ``Rᵞ²``;
4. **stochastic**: with finite rationality ``β`` the first segment is preferred with
   probability ``exp(βRᵞ¹) / (exp(βRᵞ¹) + exp(βRᵞ²))``; ``β = ∞`` is perfectly rational;
5. **mistake**: each strict answer is flipped with probability ``ε``.

Exact ties of a perfectly rational teacher are answered 0.5 (B-Pref gives them
to the first segment). B-Pref sets the two thresholds relative to the average
true return of a segment (``threshold × mean segment return``); here they are
absolute values in the env's reward units.

:class:`HumanTeacher` shows the two segments side by side as a clip and asks
left / right / equal / skip (a terminal prompt by default, a widget in a
notebook); every answer is written to a :class:`~rewardlab.learned.preference.store.LabelStore`
as soon as it is given, so a session can stop and resume.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError

ANSWERS = {"left": 1.0, "right": 0.0, "equal": 0.5, "skip": float("nan")}
SHORT_ANSWERS = {"l": "left", "r": "right", "e": "equal", "s": "skip", "1": "left", "2": "right"}


@dataclass
class Queries:
    """A batch of segment pairs to ask about.

    ``rewards_*`` (``(n, H)``) are the true per-step rewards (0 on masked
    steps), ``mask_*`` (``(n, H)``) mark the steps that exist (an episode that
    terminates inside a segment leaves the rest absorbing), ``inputs_*``
    (``(n, H, D)``) the reward network's input rows, ``frames_*``
    (``(n, H, height, width, 3)``, optional) rendered frames for people.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.preference import Queries
        >>> queries = Queries(rewards_1=np.array([[1.0, 1.0]]), rewards_2=np.array([[0.0, 1.0]]),
        ...                   mask_1=np.ones((1, 2)), mask_2=np.ones((1, 2)))
        >>> queries.n, queries.returns()
        (1, (array([2.]), array([1.])))
    """

    rewards_1: np.ndarray
    rewards_2: np.ndarray
    mask_1: np.ndarray
    mask_2: np.ndarray
    inputs_1: np.ndarray | None = None
    inputs_2: np.ndarray | None = None
    frames_1: np.ndarray | None = None
    frames_2: np.ndarray | None = None
    keys: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.rewards_1)

    def returns(self) -> tuple[np.ndarray, np.ndarray]:
        """True returns ``(R¹, R²)`` of the pairs."""
        return (self.rewards_1 * self.mask_1).sum(axis=1), (self.rewards_2 * self.mask_2).sum(axis=1)

    def take(self, idx: np.ndarray) -> Queries:
        """The pairs at ``idx``."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return Queries(
            self.rewards_1[idx], self.rewards_2[idx], self.mask_1[idx], self.mask_2[idx],
            pick(self.inputs_1), pick(self.inputs_2), pick(self.frames_1), pick(self.frames_2),
            [self.keys[i] for i in np.asarray(idx).tolist()] if self.keys else [],
        )  # fmt: skip


class Teacher:
    """Answers queries: ``answer(queries) -> labels`` with 1, 0, 0.5 or NaN (skip) per pair.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.preference import Queries, Teacher
        >>> class ShorterIsBetter(Teacher):                  # a custom teacher: prefers the shorter segment
        ...     def answer(self, queries):
        ...         return (queries.mask_1.sum(1) < queries.mask_2.sum(1)).astype(float)
        >>> queries = Queries(rewards_1=np.zeros((1, 3)), rewards_2=np.zeros((1, 3)),
        ...                   mask_1=np.array([[1.0, 0.0, 0.0]]), mask_2=np.ones((1, 3)))
        >>> ShorterIsBetter().answer(queries)
        array([1.])
    """

    needs_frames = False

    def answer(self, queries: Queries) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class OracleTeacher(Teacher):
    """A simulated teacher from the true return, with B-Pref's noise models (see the module docs).

    Args:
        beta: rationality (``inf``: always the better segment; 0: coin flips).
        gamma: myopia discount (1: not myopic).
        mistake: probability ``ε`` of flipping a strict answer.
        skip_threshold: skip pairs whose better return is ``<=`` this (``None``: never skip).
        equal_threshold: answer 0.5 when ``|R¹ − R²| <`` this.
        seed: the teacher's random stream (stochastic answers, mistakes).

    Examples:
        >>> import rewardlab as rl
        >>> teacher = rl.learned.OracleTeacher(beta=float("inf"), mistake=0.0)
        >>> reward = rl.learned.PreferenceReward(teacher=teacher, budget=20, queries_per_update=5)
        >>> reward.name
        'preference'
    """

    def __init__(
        self,
        *,
        beta: float = math.inf,
        gamma: float = 1.0,
        mistake: float = 0.0,
        skip_threshold: float | None = None,
        equal_threshold: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not beta >= 0:
            raise ConfigError(f"teacher beta must be >= 0 (inf: perfectly rational), got {beta}")
        if not 0.0 < gamma <= 1.0:
            raise ConfigError(f"teacher gamma must be in (0, 1], got {gamma}")
        if not 0.0 <= mistake <= 1.0:
            raise ConfigError(f"teacher mistake must be a probability in [0, 1], got {mistake}")
        if not equal_threshold >= 0:
            raise ConfigError(f"teacher equal_threshold must be >= 0, got {equal_threshold}")
        self.beta, self.gamma, self.mistake = float(beta), float(gamma), float(mistake)
        self.skip_threshold = None if skip_threshold is None else float(skip_threshold)
        self.equal_threshold = float(equal_threshold)
        self.rng = np.random.default_rng(seed)

    def answer(self, queries: Queries) -> np.ndarray:
        r1, r2 = queries.rewards_1 * queries.mask_1, queries.rewards_2 * queries.mask_2
        ret1, ret2 = r1.sum(axis=1), r2.sum(axis=1)
        horizon = r1.shape[1]
        weights = self.gamma ** np.arange(horizon - 1, -1, -1, dtype=np.float64)  # γ^(H−1−t)
        d = (r1 - r2) @ weights  # Rᵞ¹ − Rᵞ²
        if math.isinf(self.beta):
            labels = np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
        else:
            p_first = 1.0 / (1.0 + np.exp(-np.clip(self.beta * d, -500, 500)))
            labels = (self.rng.random(len(d)) < p_first).astype(np.float64)
        flip = (self.rng.random(len(d)) < self.mistake) & (labels != 0.5)
        labels[flip] = 1.0 - labels[flip]
        labels[np.abs(ret1 - ret2) < self.equal_threshold] = 0.5
        if self.skip_threshold is not None:
            labels[np.maximum(ret1, ret2) <= self.skip_threshold] = np.nan
        return labels

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


def prompt_answer(clip: Path, index: int, total: int) -> str:
    """Ask on the terminal: show the clip's path, read ``l``/``r``/``e``/``s`` (or the words) until valid."""
    print(f"[{index + 1}/{total}] left or right? clip: {clip}")
    while True:
        reply = input("  l = left better, r = right better, e = equal, s = skip: ").strip().lower()
        reply = SHORT_ANSWERS.get(reply, reply)
        if reply in ANSWERS:
            return reply
        print(f"  unknown answer {reply!r}; valid: l, r, e, s (or left, right, equal, skip)")


class RecordedAnswers:
    """Answers read from a text file, one per line (``l``/``r``/``e``/``s`` or the words; ``#`` starts a comment).

    Given as ``ask`` to a :class:`HumanTeacher` (``teacher: {human: {answers: FILE}}``), they answer the pairs in
    the order asked: a labelling session recorded earlier, or a script standing in for a person. ``start``
    answers are passed over (the teacher starts after the answers its label store already holds).
    """

    def __init__(self, path: str | Path, *, start: int = 0) -> None:
        self.path = Path(path)
        self.used = start
        self._answers: list[str] | None = None  # read at the first question: loading a run never needs the file

    @property
    def answers(self) -> list[str]:
        """The answers in the file, in order (read and checked once)."""
        if self._answers is None:
            self._answers = self._read()
        return self._answers

    def _read(self) -> list[str]:
        try:
            lines = self.path.read_text().splitlines()
        except OSError as err:
            raise ConfigError(f"cannot read pre-recorded answers {str(self.path)!r}: {err.strerror or err}") from err
        answers = []
        for number, line in enumerate(lines, 1):
            word = line.split("#", 1)[0].strip().lower()
            if not word:
                continue
            word = SHORT_ANSWERS.get(word, word)
            if word not in ANSWERS:
                raise ConfigError(
                    f"{str(self.path)!r} line {number}: unknown answer {line.strip()!r}; valid: l, r, e, s "
                    "(or left, right, equal, skip)"
                )
            answers.append(word)
        return answers

    def __call__(self, clip: Path, index: int, total: int) -> str:
        if self.used >= len(self.answers):
            raise ConfigError(
                f"the pre-recorded answers in {str(self.path)!r} ran out after {self.used}; add lines, or label "
                "the rest on a terminal (the answers given so far are in the label store)"
            )
        self.used += 1
        return self.answers[self.used - 1]


def check_can_ask(spec: Any) -> None:
    """Raise :class:`ConfigError` (one line) when a ``human`` teacher spec would ask on a terminal that is not there.

    Run before any env starts: a run that cannot be labelled fails at once, not at its first query.
    """
    options = next(iter(spec.values())) if isinstance(spec, dict) and len(spec) == 1 else {}
    options = options if isinstance(options, dict) else {}
    if options.get("answers") is not None:
        _ = RecordedAnswers(options["answers"]).answers  # readable and valid now, not at the first query
        return
    if options.get("ask") is not None:
        return
    stdin = sys.stdin
    try:
        interactive = stdin is not None and not stdin.closed and stdin.isatty()
    except (AttributeError, ValueError, OSError):
        interactive = False
    if not interactive:
        raise ConfigError(
            "teacher: human asks on the terminal, but stdin is not interactive; label from a terminal, in a notebook "
            "(rewardlab.learned.preference.widget.PreferenceWidget), or give pre-recorded answers: "
            "teacher: {human: {answers: answers.txt}} (one of l, r, e, s per line)"
        )


class HumanTeacher(Teacher):
    """A person who watches the two segments side by side and answers left, right, equal or skip.

    Args:
        store: where pairs and answers go (one SQLite row per pair, committed per answer).
            A pair already answered in the store is not asked again: a session resumes.
        ask: ``ask(clip_path, index, total) -> "left" | "right" | "equal" | "skip"``;
            default :func:`prompt_answer` (terminal). Notebooks label with
            :class:`~rewardlab.learned.preference.widget.PreferenceWidget` instead.
        clip_dir: where clips are written (default: ``clips/`` beside the store).
        fps: clip frame rate.
        answers: a file of pre-recorded answers (see :class:`RecordedAnswers`), used in place of ``ask``.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned import HumanTeacher, LabelStore
        >>> from rewardlab.learned.preference import Queries
        >>> frames = np.zeros((1, 2, 8, 8, 3), np.uint8)              # 1 pair, 2 steps of 8x8 RGB
        >>> queries = Queries(rewards_1=np.ones((1, 2)), rewards_2=np.zeros((1, 2)),
        ...                   mask_1=np.ones((1, 2)), mask_2=np.ones((1, 2)), frames_1=frames, frames_2=frames)
        >>> store = LabelStore("labels/doc_human.sqlite")
        >>> teacher = HumanTeacher(store, ask=lambda clip, i, total: "left")   # a person would watch `clip`
        >>> teacher.answer(queries)                                            # 1: the left segment is preferred
        array([1.])
        >>> store.counts()["left"], sorted(p.suffix for p in (store.path.parent / "clips").iterdir())
        (1, ['.gif'])
        >>> store.close()
    """

    needs_frames = True

    def __init__(
        self,
        store: Any,
        *,
        ask: Callable[[Path, int, int], str] | None = None,
        clip_dir: str | Path | None = None,
        fps: int = 10,
        answers: str | Path | None = None,
    ) -> None:
        self.store = store
        if ask is None and answers is not None:
            ask = RecordedAnswers(answers, start=store.counts()["answered"])
        self.ask = ask or prompt_answer
        self.clip_dir = Path(clip_dir) if clip_dir is not None else Path(store.path).parent / "clips"
        self.fps = fps

    def answer(self, queries: Queries) -> np.ndarray:
        from rewardlab.learned.preference.clips import write_pair_clip

        if queries.frames_1 is None or queries.frames_2 is None:
            raise ValueError("a human teacher needs frames of the segments; collect them with needs_frames")
        keys = queries.keys or self.store.keys_for(queries)
        labels = np.full(queries.n, np.nan)
        for i, key in enumerate(keys):
            known = self.store.answer(key)
            if known is not None:
                labels[i] = ANSWERS[known]
                continue
            self.store.add_pair(key, queries, i)
            clip = write_pair_clip(
                self.clip_dir / f"{key[:16]}.gif",
                queries.frames_1[i], queries.frames_2[i], queries.mask_1[i], queries.mask_2[i], fps=self.fps,
            )  # fmt: skip
            reply = self.ask(clip, i, queries.n)
            if reply not in ANSWERS:
                raise ValueError(f"unknown answer {reply!r}; valid: {list(ANSWERS)}")
            self.store.set_answer(key, reply)
            labels[i] = ANSWERS[reply]
        return labels


def make_teacher(spec: Any, *, store: Any = None, seed: int = 0) -> Teacher:
    """A teacher from its config form: ``"oracle"``, ``"human"``, ``{oracle: {beta: 1, mistake: 0.1}}``, or one.

    Examples:
        >>> from rewardlab.learned.preference import make_teacher
        >>> type(make_teacher({"oracle": {"beta": 1.0, "mistake": 0.1}})).__name__
        'OracleTeacher'
    """
    if isinstance(spec, Teacher):
        return spec
    name, options = spec, {}
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise ConfigError(f"a teacher is 'oracle', 'human' or one of them with options, got {spec!r}")
        name, options = next(iter(spec.items()))
        options = dict(options or {})
    if name == "oracle":
        try:
            return OracleTeacher(**{"seed": seed, **options})
        except TypeError as err:
            raise ConfigError(
                f"oracle teacher: {err}; valid: beta, gamma, mistake, skip_threshold, equal_threshold, seed"
            ) from err
    if name == "human":
        if store is None:
            raise ConfigError("a human teacher needs a label store (train in a run folder, or pass store=)")
        try:
            return HumanTeacher(store, **options)
        except TypeError as err:
            raise ConfigError(f"human teacher: {err}; valid: clip_dir, fps, answers") from err
    raise ConfigError(f"unknown teacher {name!r}; valid: 'oracle', 'human'")
