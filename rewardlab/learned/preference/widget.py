"""Label preference pairs in a notebook: the two clips side by side and four buttons.

:class:`PreferenceWidget` walks through a batch of :class:`~rewardlab.learned.preference.teachers.Queries`
(which must carry frames), shows each pair as an animated GIF (left = σ¹, right = σ²)
and writes every click to a :class:`~rewardlab.learned.preference.store.LabelStore`
at once; pairs the store already holds an answer for are passed over, so closing
the notebook and opening it again resumes. :meth:`PreferenceWidget.answer` is what a
click calls, and what a script calls in place of a person (an executed notebook).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.learned.preference.clips import write_pair_clip
from rewardlab.learned.preference.store import LabelStore
from rewardlab.learned.preference.teachers import ANSWERS, Queries


class PreferenceWidget:
    """Buttons ``left``, ``right``, ``equal``, ``skip`` under the current pair's clip.

    Args:
        queries: pairs with ``frames_1``/``frames_2``.
        store: where answers go (each committed on click).
        fps: clip frame rate.
    """

    def __init__(self, queries: Queries, store: LabelStore, *, fps: int = 10) -> None:
        if queries.frames_1 is None or queries.frames_2 is None:
            raise ValueError("the preference widget shows clips: the queries need frames_1 and frames_2")
        self.queries, self.store, self.fps = queries, store, fps
        self.keys = queries.keys or store.keys_for(queries)
        self._clips = Path(tempfile.mkdtemp(prefix="rewardlab_clips_"))
        self.position = 0
        self._view: Any = None
        self._skip_answered()

    @property
    def done(self) -> bool:
        """Whether every pair has an answer."""
        return self.position >= self.queries.n

    def labels(self) -> np.ndarray:
        """The answers so far as labels (1 left, 0 right, 0.5 equal, NaN skipped or not yet answered)."""
        out = np.full(self.queries.n, np.nan)
        for i, key in enumerate(self.keys):
            answer = self.store.answer(key)
            if answer is not None:
                out[i] = ANSWERS[answer]
        return out

    def clip(self, i: int | None = None) -> Path:
        """The GIF of pair ``i`` (default: the current one)."""
        i = self.position if i is None else i
        q = self.queries
        return write_pair_clip(self._clips / f"pair_{i}.gif", q.frames_1[i], q.frames_2[i], q.mask_1[i], q.mask_2[i],
                               fps=self.fps)  # fmt: skip

    def answer(self, choice: str) -> None:
        """Record ``choice`` for the current pair and move to the next unanswered one."""
        if choice not in ANSWERS:
            raise ValueError(f"unknown answer {choice!r}; valid: {list(ANSWERS)}")
        if self.done:
            raise IndexError("every pair has an answer")
        key = self.keys[self.position]
        self.store.add_pair(key, self.queries, self.position)
        self.store.set_answer(key, choice)
        self.position += 1
        self._skip_answered()
        self._refresh()

    def _skip_answered(self) -> None:
        while not self.done and self.store.answer(self.keys[self.position]) is not None:
            self.position += 1

    def widget(self) -> Any:
        """The ipywidgets box (clip, buttons, status) to display."""
        import ipywidgets as w

        self._image = w.Image(format="gif")
        self._status = w.Label()
        buttons = []
        for choice in ANSWERS:
            button = w.Button(description=choice)
            button.on_click(lambda _b, c=choice: self.answer(c))
            buttons.append(button)
        self._buttons = buttons
        self._view = w.VBox([self._status, self._image, w.HBox(buttons)])
        self._refresh()
        return self._view

    def _refresh(self) -> None:
        if self._view is None:
            return
        if self.done:
            self._status.value = f"all {self.queries.n} pairs answered"
            for b in self._buttons:
                b.disabled = True
            return
        self._status.value = f"pair {self.position + 1} of {self.queries.n}: which segment is better?"
        self._image.value = self.clip().read_bytes()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())
