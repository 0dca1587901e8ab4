"""The ONI reward term: ``r(m) = r_llm(m) / N_e(m)^β`` on the NetHack message of the next observation.

ONI (Zheng et al. 2024, "Online Intrinsic Rewards for Decision Making Agents
from Large Language Model Feedback"): every new message the agent meets is
sent, in the background, to an annotator (an LLM, or rules offline); the
answers are distilled online into a reward model (retrieval, classification
or ranking, :mod:`rewardlab.oni.models`) in :meth:`ONITerm.update`, and the
reward of a message is divided by ``N_e(m)^β``, the episodic count of that
message to the power β (3 by default), so that a message pays once per
episode. Messages the annotator has not answered yet earn 0 (retrieval) or
the model's guess (classification, ranking): the env loop never waits.

Combine it with the extrinsic reward by weights::

    reward = rl.extrinsic() + 0.1 * rl.oni.oni(model="classification", annotator={"kind": "rules"})

Labels live in a SQLite store (default: ``oni_labels.sqlite`` in the run
folder); call :meth:`close` (the reward wrappers' ``close()`` does) to stop
the worker thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rewardlab.bonus.counts import EpisodicCounter
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.oni.annotators import Annotator, make_annotator
from rewardlab.oni.message_table import MessageTable, as_words
from rewardlab.oni.messages import decode, message_hash, pair_key
from rewardlab.oni.models import RetrievalModel, make_model
from rewardlab.oni.service import AnnotationService
from rewardlab.oni.store import LabelStore, Query

STORE_FILE = "oni_labels.sqlite"
_UINT8 = np.dtype(np.uint8)


class ONITerm(RewardTerm):
    """``r_llm(m) / N_e(m)^β`` with ``r_llm`` distilled online from an annotator's labels of NetHack messages.

    Args:
        model: ``retrieval``, ``classification`` or ``ranking`` (:mod:`rewardlab.oni.models`).
        annotator: an :class:`~rewardlab.oni.annotators.Annotator` or its config
            (``{kind: rules, goal: gold}``, ``{kind: llm, base_url: ..., model: ..., goal: ..., concurrency: 8,
            batching: auto}``; ``batching``: ``auto``, ``prompt_list`` or ``concurrent``, see
            :class:`~rewardlab.oni.annotators.LLMAnnotator`).
        beta: exponent of the episodic count (0: no count division).
        threshold: τ of the classification (default 0.5) or ranking (default 0) model.
        store: the label store file (default ``<run folder>/oni_labels.sqlite``, in memory without a run folder).
        field: the observation field holding the message bytes.
        batch_size: prompts per request when the annotator sends prompt lists (``concurrency`` requests in flight).
        background: annotate in a worker thread (``False``: synchronously, inside the step).
        linger: at most how long a prompt list shorter than ``batch_size`` waits for more new messages while a
            request is in flight (fewer, fuller requests: each costs the training process some interpreter time);
            default: the annotator's (0.5 s for an LLM, 0 for rules).
        pairs_per_message: ranking only: pairs formed with earlier messages for each new one.
        steps, lr, seed: training of the network models (gradient steps per update).
        converged: training loss under which the network models stop training until new labels arrive.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.oni.ONITerm(model="retrieval", annotator={"kind": "rules", "goal": "gold"}, background=False)
        >>> term.beta, term.name
        (3.0, 'oni')
        >>> term.close()
    """

    name = "oni"
    learns = True
    update_reads_batch = False  # labels come from the annotation service; messages are met in compute()

    def __init__(
        self,
        *,
        model: Literal["retrieval", "classification", "ranking"] = "classification",
        annotator: Annotator | Mapping[str, Any] | None = None,
        beta: float = 3.0,
        threshold: float | None = None,
        store: str | os.PathLike | None = None,
        field: str = "message",
        batch_size: int = 16,
        background: bool = True,
        linger: float | None = None,
        pairs_per_message: int = 2,
        steps: int = 10,
        lr: float = 3e-3,
        seed: int = 0,
        converged: float = 0.05,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if pairs_per_message < 1:
            raise ValueError(f"pairs_per_message must be >= 1, got {pairs_per_message}")
        self.model = make_model(model, threshold=threshold, steps=steps, lr=lr, seed=seed)
        self.annotator = make_annotator(annotator)
        self.beta = float(beta)
        self.store_path = None if store is None else os.fspath(store)
        self.field = field
        self.batch_size = int(batch_size)
        self.background = bool(background)
        if linger is not None and linger < 0:
            raise ValueError(f"linger must be >= 0 seconds, got {linger}")
        self.linger = linger
        self.pairs_per_message = int(pairs_per_message)
        self.converged = float(converged)
        self.service: AnnotationService | None = None
        self.episodic = EpisodicCounter()
        self._rng = np.random.default_rng(seed)
        # every distinct message row met has a slot: its key, its reward; the table finds a step's slots in one call
        self._table = MessageTable()
        self._slot_of: dict[bytes, int] = {}  # raw message bytes -> slot
        self._slot_keys: list[str] = []  # slot -> store key ("" for no message)
        self._key_slots: dict[str, list[int]] = {}  # store key -> its slots (a new label's rewards, retrieval)
        self._tabled: set[int] = set()  # slots whose row is in the table (texts scored for a plot have none)
        self._reward = np.full(64, np.nan)  # r_llm per slot (NaN: not computed since the model last changed)
        self._texts: dict[str, str] = {}  # key -> text of every message met
        self._values: dict[str, float] = {}  # the label table (the service's once bound)
        self._retrieval = isinstance(self.model, RetrievalModel)
        self._synced = 0  # answers taken into the retrieval rewards
        self._fresh: np.ndarray | None = None  # r_llm of the first slots, scored by the trainer after its fit
        self._step_keys = self._step_slots = np.empty(0, dtype=np.int64)  # reused by every step
        self._read = 0  # answers read from the service
        self._fitted = 0  # answers the model was last fitted on
        self._fit_metrics: dict[str, float] = {}
        self._trainer: threading.Thread | None = None
        #: ``{"labels": n, "pending": m}`` of the store when the term was last closed (the CLI's summary)
        self.final_counts: dict[str, int] | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        env.field_space(self.field, who="oni", hint=" (the NetHack/MiniHack presets keep 'message')")
        self.episodic.bind(env)
        path = self.store_path
        if path is None:
            path = str(Path(env.run_dir) / STORE_FILE) if env.run_dir else ":memory:"
        if self.service is not None:
            self.service.close()
        store = LabelStore(
            path, prompt_version=self.annotator.prompt_version, model=self.annotator.model, goal=self.annotator.goal
        )
        self.service = AnnotationService(
            self.annotator, store, batch_size=self.batch_size, background=self.background, linger=self.linger
        )
        self.service.values.update(self._values)  # labels restored by load_state_dict before binding
        self._values = self.service.values
        self._read = self._synced = 0
        self.service.start()

    def close(self) -> None:
        """Stop the annotation worker (pending messages stay in the store) and close the store."""
        self._finish_fit(wait=True)
        if self.service is not None:
            self.service.close()
            self.final_counts = self.service.store.counts()
            self.service.store.close()
            self.service = None

    def reset(self, env_indices: np.ndarray) -> None:
        self.episodic.reset(env_indices)

    # -- reward -------------------------------------------------------------------------------------

    def _slot(self, raw: bytes, queries: list[Query]) -> int:
        """The slot of a raw message; a new one for a row never met (its query, for a new text, into ``queries``)."""
        slot = self._slot_of.get(raw)
        if slot is not None:
            return slot
        slot = len(self._slot_keys)
        text = decode(raw)
        key = message_hash(text) if text else ""
        self._slot_of[raw] = slot
        self._slot_keys.append(key)
        if slot >= len(self._reward):
            self._reward = np.concatenate([self._reward, np.full(len(self._reward), np.nan)])
        if key:
            self._key_slots.setdefault(key, []).append(slot)
            if key not in self._texts:
                self._meet(key, text, queries)
        return slot

    def _meet(self, key: str, text: str, queries: list[Query]) -> None:
        """A new text: its query (pairs with earlier texts for the ranking model) into ``queries``."""
        if self.model.query_kind == "rank":
            earlier = list(self._texts.values())
            if earlier:
                for j in self._rng.choice(len(earlier), size=min(self.pairs_per_message, len(earlier)), replace=False):
                    a, b = (text, earlier[j]) if self._rng.random() < 0.5 else (earlier[j], text)
                    queries.append(Query("rank", pair_key(a, b), (a, b)))
        else:
            queries.append(Query("classify", key, (text,)))
        self._texts[key] = text

    def _submit(self, queries: list[Query]) -> None:
        if queries and self.service is not None:
            self.service.submit(queries)

    def _score(self, slots: np.ndarray) -> None:
        """Compute ``r_llm`` of the (distinct) ``slots`` into the reward array."""
        keys = [self._slot_keys[s] for s in slots.tolist()]
        if self._retrieval:
            values = self._values
            self._reward[slots] = [values.get(k, 0.0) if k else 0.0 for k in keys]
        else:
            self._reward[slots] = self._model_rewards(keys)

    def _model_rewards(self, keys: list[str]) -> np.ndarray:
        """The network model's ``r_llm`` of the messages with these store keys (0 for no message)."""
        found = [i for i, k in enumerate(keys) if k]
        rewards = np.zeros(len(keys))
        if found:
            rewards[found] = self.model.rewards([self._texts[keys[i]] for i in found], self._values,
                                                [keys[i] for i in found])  # fmt: skip
        return rewards

    def _score_missing(self, slots: np.ndarray) -> None:
        """Compute the rewards of ``slots`` not computed yet (NaN; a few rows: in Python)."""
        reward = self._reward
        missing = [s for s in dict.fromkeys(slots.tolist()) if reward[s] != reward[s]]
        if missing:
            self._score(np.array(missing, dtype=np.int64))

    def llm_rewards(self, raws: list[bytes]) -> np.ndarray:
        """``r_llm`` of raw messages (bytes; new ones are met, as in a step)."""
        queries: list[Query] = []
        slots = np.array([self._slot(raw, queries) for raw in raws], dtype=np.int64)
        self._submit(queries)
        self._score_missing(slots)
        return self._reward[slots]

    def _sync_labels(self) -> None:
        """Retrieval: the labels that arrived since the last step become the rewards of their messages."""
        labels, self._synced = self.service.answered_since(self._synced)
        for label in labels:
            for slot in self._key_slots.get(label.query.key, ()):
                self._reward[slot] = label.value

    def compute(self, batch: Transitions) -> np.ndarray:
        out = np.empty(batch.n)
        self.compute_into(batch, out)
        return out

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        # the common step: one compiled call finds each row's slot and reward, counts it and writes out
        if self._retrieval and self.service is not None and self.service.answered != self._synced:
            self._sync_labels()
        messages = batch.next_obs[self.field]
        lean = messages.dtype is _UINT8 and messages.ndim == 2 and not messages.shape[1] % 8
        # NLE's 256 bytes: 32 words, no copy
        words = messages.view(np.uint64) if lean and messages.flags.c_contiguous else as_words(messages)
        n = len(words)
        keys, slots = self._step_keys, self._step_slots
        if len(keys) != n:
            keys = self._step_keys = np.empty(n, dtype=np.int64)
            slots = self._step_slots = np.empty(n, dtype=np.int64)
        episodic = self.episodic.table_for(n).arrays_for_visit()
        if self._table.step(words, self._reward, episodic, self.beta, weight, keys, slots, out):
            self._complete(messages, words, keys, slots)
            if self._table.step(words, self._reward, episodic, self.beta, weight, keys, slots, out):
                # a reward the model computed as NaN (it diverged): written as it is, for the engine's NaN policy
                r = self._reward[slots]
                if self.beta != 0:
                    r = r / self.episodic.visit(keys).astype(np.float64) ** self.beta
                out[:] = r * weight

    def _complete(self, messages: np.ndarray, words: np.ndarray, keys: np.ndarray, slots: np.ndarray) -> None:
        """Enter the step's rows never met (in order: the ranking model's pairs draw) and compute the rewards
        that are not computed yet."""
        queries: list[Query] = []
        for i in np.flatnonzero(slots < 0).tolist():
            slot = slots[i] = self._slot(messages[i].tobytes(), queries)
            if slot not in self._tabled:  # (a row new twice in one step is entered once)
                self._tabled.add(slot)
                self._table.add(words[i], keys[i], slot=slot)
        self._submit(queries)
        self._score_missing(slots)

    def score_texts(self, texts: list[str]) -> np.ndarray:
        """``r_llm`` of message texts (without counting them): for plots and notebooks."""
        return self.llm_rewards([t.encode("latin-1") for t in texts])

    # -- learning -----------------------------------------------------------------------------------

    def labelled_share(self) -> float:
        """Share of the unique messages met that have a label (classification queries)."""
        if not self._texts:
            return 0.0
        if self.model.query_kind == "rank":
            covered = {k for lab in (self.service._answered if self.service else []) for k in lab.query.key.split("|")}
            return sum(k in covered for k in self._texts) / len(self._texts)
        return sum(k in self._values for k in self._texts) / len(self._texts)

    def _fit(self, labels: list, seen: list[str], n_slots: int) -> None:
        """Fit the model, then score the first ``n_slots`` slots with it (in the trainer thread when in the
        background: the env loop only takes the scores in, :meth:`_take_fit`)."""
        self._fit_metrics = self.model.fit(labels, seen)
        self._fresh = self._model_rewards(self._slot_keys[:n_slots])

    def _take_fit(self) -> None:
        """The model changed: the scores of the fit stand, slots met since are scored when next met."""
        self._reward[:] = np.nan
        fresh, self._fresh = self._fresh, None
        if fresh is not None:
            self._reward[: len(fresh)] = fresh

    def _needs_fit(self) -> bool:
        """New labels, or labels the model does not fit yet (loss above ``converged``): ONI distils continuously."""
        if self._read > self._fitted:
            return True
        return self._read > 0 and self._fit_metrics.get("model_loss", 1.0) > self.converged

    def _finish_fit(self, *, wait: bool = False) -> None:
        """Take in the weights of a finished background fit (``wait``: wait for a running one)."""
        trainer = self._trainer
        if trainer is not None and (wait or not trainer.is_alive()):
            trainer.join()
            self._trainer = None
            self._take_fit()

    def update(self, batch: Transitions) -> dict[str, float]:
        """Read the labels that arrived; fit the model on all labels so far; report the service's metrics.

        With ``background`` the fit runs in a trainer thread (one at a time; its gradient steps are one compiled
        call that holds no GIL, :mod:`rewardlab.oni.fit_kernel`) and its weights are taken in at the next
        ``update`` after it finished: the env loop does not wait for the distillation either.
        """
        metrics: dict[str, float] = {}
        if self.service is None:
            return metrics
        _, self._read = self.service.answered_since(self._read)
        self._finish_fit()
        if not isinstance(self.model, RetrievalModel) and self._trainer is None and self._needs_fit():
            labels, _ = self.service.answered_since(0)
            args = (labels, list(self._texts.values()), len(self._slot_keys))
            self._fitted = self._read
            if self.background:
                # not a daemon: an interpreter exiting mid-fit waits for it (under a second) instead of aborting
                self._trainer = threading.Thread(target=self._fit, args=args, name="oni-trainer")
                self._trainer.start()
            else:
                self._fit(*args)
                self._take_fit()
        metrics.update(self._fit_metrics)  # the last fit's, logged at every update
        metrics.update(self.service.metrics())
        metrics["seen"] = float(len(self._texts))
        metrics["labelled_share"] = self.labelled_share()
        return metrics

    def fit_now(self) -> dict[str, float]:
        """Fit the model on every label so far, here and now (notebooks, evaluation); returns the fit's metrics."""
        self._finish_fit(wait=True)
        if self.service is None or isinstance(self.model, RetrievalModel):
            return {}
        labels, self._read = self.service.answered_since(0)
        self._fit(labels, list(self._texts.values()), len(self._slot_keys))
        self._fitted = self._read
        self._take_fit()
        return dict(self._fit_metrics)

    def state_dict(self) -> dict[str, Any]:
        """The model and the label table; every message met so far is written to the store (pending) first."""
        self._finish_fit(wait=True)
        if self.service is not None:
            self.service.flush()  # a checkpoint covers every message met up to it: labelled or pending
        values = self.service.snapshot() if self.service is not None else dict(self._values)
        keys = sorted(values)
        return {
            "model": self.model.state_dict(),
            "label_keys": keys,
            "label_values": np.array([values[k] for k in keys], dtype=np.float64),
            "fitted": self._fitted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._finish_fit(wait=True)
        self.model.load_state_dict(state["model"])
        self._values.update(zip(state["label_keys"], np.asarray(state["label_values"]).tolist()))
        self._fitted = int(state["fitted"])
        self._reward[:] = np.nan  # the model and the labels changed: every reward is computed again

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the worker thread and the store behind (bind the copy to start its own)."""
        self._finish_fit(wait=True)
        state = self.__dict__.copy()
        state["service"] = None
        state["final_counts"] = None
        state["_trainer"] = None
        state["_values"] = dict(self._values)
        return state

    def __repr__(self) -> str:
        return f"ONITerm(model={self.model.name!r}, annotator={self.annotator!r}, beta={self.beta:g})"


def oni(
    *,
    model: str = "classification",
    annotator: Annotator | Mapping[str, Any] | None = None,
    beta: float = 3.0,
    threshold: float | None = None,
    store: str | os.PathLike | None = None,
    **kwargs: Any,
) -> ONITerm:
    """An ONI term (see :class:`ONITerm`).

    Examples:
        >>> import rewardlab as rl
        >>> term = rl.oni.oni(model="retrieval", annotator={"kind": "rules", "goal": "gold"}, background=False)
        >>> (rl.extrinsic() + 0.1 * term).component_names()
        ['extrinsic', 'oni']
        >>> term.close()
    """
    return ONITerm(model=model, annotator=annotator, beta=beta, threshold=threshold, store=store, **kwargs)


def oni_counts(reward: RewardTerm) -> dict[str, int]:
    """``{"oni_labels": n, "oni_pending": m}`` over the closed ONI terms of ``reward`` (empty without one)."""
    counts = [t.final_counts for t in reward.leaves() if isinstance(t, ONITerm) and t.final_counts is not None]
    if not counts:
        return {}
    return {"oni_labels": sum(c["labels"] for c in counts), "oni_pending": sum(c["pending"] for c in counts)}
