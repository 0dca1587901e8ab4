"""Reward models distilled from the labels: retrieval, classification, ranking (ONI's three).

Each model maps message texts to ``r_llm(m)`` and learns online in
:meth:`RewardModel.fit` from the labels that arrived so far:

* :class:`RetrievalModel` -- the label table itself: ``r(m) = label(m)``, 0 until labelled;
* :class:`ClassificationModel` -- a small byte-level network ``p(good | m)``
  trained with cross-entropy on the labels; ``r(m) = 1[p(good | m) > τ]``,
  so messages never labelled get a reward too;
* :class:`RankingModel` -- a Bradley–Terry score ``s(m)`` trained on labelled
  pairs (``P(a ≻ b) = σ(s(a) − s(b))``), normalised by the running mean and
  std of the scores of seen messages and thresholded:
  ``z = (s − μ)/σ``, ``r(m) = z · 1[z > τ]``.

The network (:class:`ByteNet`) reads the message as hashed byte n-grams
(1- to 3-grams into ``buckets`` bins) averaged by an ``EmbeddingBag`` and
an MLP: fast on a CPU and enough to pick up keywords. It is trained by
:func:`~rewardlab.oni.fit_kernel.train_steps` (torch's forward, backward and
Adam step in one compiled call without the GIL, on the torch parameters and
optimizer state) and scored in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardlab.core.running import RunningMeanStd
from rewardlab.oni.fit_kernel import CLASSIFY, RANK, ngram_bags, train_steps
from rewardlab.oni.fit_kernel import scores as compiled_scores
from rewardlab.oni.store import Label

MAX_BYTES = 128
MODELS = ("retrieval", "classification", "ranking")


def ngram_arrays(messages: Sequence[str], buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, offsets)`` of every message's hashed byte 1-, 2- and 3-grams (lower-cased, first :data:`MAX_BYTES`
    bytes; a space if empty) for ``nn.EmbeddingBag``, as numpy arrays: one compiled call for all messages
    (:func:`~rewardlab.oni.fit_kernel.ngram_bags`)."""
    raw = [text.lower().encode("utf-8")[:MAX_BYTES] or b" " for text in messages]
    lengths = np.array([len(b) for b in raw], dtype=np.int64)
    return ngram_bags(np.frombuffer(b"".join(raw), dtype=np.uint8), lengths, buckets)


def byte_ngrams(messages: Sequence[str], buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`ngram_arrays` as torch tensors."""
    ids, offsets = ngram_arrays(messages, buckets)
    return torch.from_numpy(ids), torch.from_numpy(offsets)


class ByteNet(nn.Module):
    """Hashed byte n-grams → mean embedding → MLP → one logit (or score) per message."""

    def __init__(self, *, buckets: int = 4096, dim: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.buckets = buckets
        self.embed = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def encode(self, messages: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The n-gram ``(indices, offsets)`` of ``messages``."""
        return byte_ngrams(messages, self.buckets)

    def forward(self, messages: Sequence[str]) -> torch.Tensor:
        """Logits (scores) of ``messages``, through torch (training uses :mod:`rewardlab.oni.fit_kernel`)."""
        return self.head(self.embed(*self.encode(messages))).squeeze(-1)

    def numpy_scores(self, messages: Sequence[str], weights: tuple[np.ndarray, ...]) -> np.ndarray:
        """The forward pass with ``weights`` from :meth:`numpy_weights`, compiled and without the GIL
        (:func:`~rewardlab.oni.fit_kernel.scores`): float32 scores."""
        ids, offsets = ngram_arrays(messages, self.buckets)
        out = np.empty(len(offsets), dtype=np.float32)
        compiled_scores(ids, offsets, *weights, out)
        return out

    def numpy_weights(self) -> tuple[np.ndarray, ...]:
        """Copies of the weights for :meth:`numpy_scores`: ``(E, W1ᵀ, b1, W2's row, b2)``, contiguous."""
        first, last = self.head[0], self.head[2]
        return tuple(
            np.array(t.detach().numpy(), order="C")
            for t in (self.embed.weight, first.weight.T, first.bias, last.weight[0], last.bias)
        )


class RewardModel:
    """``r_llm`` of message texts, learned from labels."""

    name = "model"
    #: the kind of query the model learns from (``classify`` or ``rank``)
    query_kind = "classify"

    def fit(self, labels: Sequence[Label], seen: Sequence[str]) -> dict[str, float]:
        """Learn from every label so far (``seen``: texts met, for running statistics); return metrics."""
        return {}

    def rewards(self, messages: Sequence[str], values: dict[str, float], keys: Sequence[str]) -> np.ndarray:
        """``r_llm`` of each message (``values``: the label table by key; ``keys``: each message's key)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class RetrievalModel(RewardModel):
    """The label table: ``r(m) = label(m)``, 0 for messages not labelled yet.

    Examples:
        >>> from rewardlab.oni import RetrievalModel
        >>> RetrievalModel().rewards(["gold!", "a wall"], {"k1": 1.0}, ["k1", "k2"])   # unlabelled: 0
        array([1., 0.])
    """

    name = "retrieval"

    def rewards(self, messages: Sequence[str], values: dict[str, float], keys: Sequence[str]) -> np.ndarray:
        return np.array([values.get(k, 0.0) for k in keys], dtype=np.float64)


class _NetModel(RewardModel):
    def __init__(self, *, steps: int = 10, batch_size: int = 256, lr: float = 3e-3, seed: int = 0,
                 buckets: int = 4096, dim: int = 32, hidden: int = 64) -> None:
        self.steps, self.batch_size, self.lr = int(steps), int(batch_size), float(lr)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = ByteNet(buckets=buckets, dim=dim, hidden=hidden)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self._weights: tuple[np.ndarray, ...] | None = None  # numpy copies for scoring, refreshed after training
        self._rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=gen)))
        self.updates = 0

    def _train(self, texts: Sequence[str], rows: np.ndarray, targets: np.ndarray, kind: int) -> float:
        """Adam steps on the network, one per row of ``rows`` (indices into ``texts``), against ``targets``;
        the last step's loss.

        One compiled call without the GIL (:func:`~rewardlab.oni.fit_kernel.train_steps`), in place on the
        network's parameters and :attr:`optimizer`'s state (created as ``torch.optim.Adam`` creates it at its
        first step), so a trainer thread does not hand the GIL back and forth with the env loop at every tensor
        call, and the optimizer's ``state_dict`` is what torch's own steps would leave.
        """
        ids, offsets = ngram_arrays(texts, self.net.buckets)
        params = [self.net.embed.weight, self.net.head[0].weight, self.net.head[0].bias,
                  self.net.head[2].weight, self.net.head[2].bias]  # fmt: skip
        group = self.optimizer.param_groups[0]
        if group["weight_decay"] or group["amsgrad"] or group["maximize"]:  # pragma: no cover  (built here, never)
            raise ValueError("the ONI network's Adam takes no weight decay, amsgrad or maximize")
        states = []
        for p in params:
            state = self.optimizer.state[p]
            if not state:  # as torch.optim.Adam's first step makes it
                state["step"] = torch.tensor(0.0)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            for k in ("exp_avg", "exp_avg_sq"):
                state[k] = state[k].contiguous()  # the kernel writes through numpy views: no copies
            if not p.is_contiguous():  # pragma: no cover  (nn modules make them contiguous)
                p.data = p.data.contiguous()
            states.append(state)
        step = int(states[0]["step"].item())
        views = tuple(p.detach().numpy() for p in params)
        moments = tuple(state[k].numpy() for state in states for k in ("exp_avg", "exp_avg_sq"))
        beta1, beta2 = group["betas"]
        loss = train_steps(ids, offsets, np.ascontiguousarray(rows, dtype=np.int64),
                           np.ascontiguousarray(targets, dtype=np.float32), kind, views, moments, step,
                           float(group["lr"]), float(beta1), float(beta2), float(group["eps"]))  # fmt: skip
        for state in states:
            state["step"].fill_(step + rows.shape[0])
        return float(loss)

    def scores(self, messages: Sequence[str]) -> np.ndarray:
        """The network's logits (scores) of ``messages``, from a copy of the weights (:meth:`ByteNet.numpy_scores`)."""
        if not messages:
            return np.zeros(0)
        if self._weights is None:
            self._weights = self.net.numpy_weights()
        return self.net.numpy_scores(list(messages), self._weights).astype(np.float64)

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._weights = self.net.numpy_weights()
        self.updates = int(state["updates"])
        self._rng.bit_generator.state = state["rng"]


class ClassificationModel(_NetModel):
    """``r(m) = 1[p(good | m) > τ]`` with ``p`` a :class:`ByteNet` trained by cross-entropy on the labels.

    Examples:
        >>> from rewardlab.oni import ClassificationModel, Label, Query
        >>> model = ClassificationModel(threshold=0.5, seed=0)
        >>> labels = [Label(Query("classify", f"k{i}", (text,)), value)
        ...           for i, (text, value) in enumerate([("You see here 5 gold pieces.", 1.0), ("It's a wall.", 0.0)])]
        >>> metrics = model.fit(labels, seen=[])
        >>> model.probabilities(["You see here 5 gold pieces."]).shape
        (1,)
    """

    name = "classification"

    def __init__(self, *, threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"classification threshold must be in [0, 1), got {threshold}")
        self.threshold = float(threshold)

    def probabilities(self, messages: Sequence[str]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.scores(messages)))

    def fit(self, labels: Sequence[Label], seen: Sequence[str]) -> dict[str, float]:
        data = [(lab.query.messages[0], lab.value) for lab in labels if lab.query.kind == "classify"]
        if not data:
            return {}
        texts, targets = zip(*data)
        n = len(texts)
        if n <= self.batch_size:  # every label at every step
            rows = np.tile(np.arange(n, dtype=np.int64), (self.steps, 1))
        else:  # a minibatch per step
            rows = np.array([self._rng.choice(n, size=self.batch_size, replace=False) for _ in range(self.steps)],
                            dtype=np.int64).reshape(self.steps, self.batch_size)  # fmt: skip
        y = np.asarray(targets, dtype=np.float32)
        loss = self._train(texts, rows, y[rows], CLASSIFY) if self.steps else 0.0
        self.updates += 1
        self._weights = self.net.numpy_weights()  # published when training is over (scoring never sees half a fit)
        return {"model_loss": loss}

    def rewards(self, messages: Sequence[str], values: dict[str, float], keys: Sequence[str]) -> np.ndarray:
        if self.updates == 0:  # nothing learned yet: no reward (not the guess of an untrained net)
            return np.zeros(len(messages))
        return (self.probabilities(messages) > self.threshold).astype(np.float64)


class RankingModel(_NetModel):
    """Bradley–Terry score on labelled pairs, running-normalised over seen messages and thresholded.

    Examples:
        >>> from rewardlab.oni import RankingModel
        >>> model = RankingModel(threshold=0.0, seed=0)
        >>> model.query_kind                           # it learns from pairs of messages
        'rank'
    """

    name = "ranking"
    query_kind = "rank"

    def __init__(self, *, threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = float(threshold)
        self.norm = RunningMeanStd()

    def fit(self, labels: Sequence[Label], seen: Sequence[str]) -> dict[str, float]:
        data = [(lab.query.messages[0], lab.query.messages[1], lab.value) for lab in labels
                if lab.query.kind == "rank" and len(lab.query.messages) == 2]
        if not data:
            return {}
        first, second, prefs = zip(*data)
        m = len(first)
        size = min(self.batch_size, m)
        idx = np.array([self._rng.choice(m, size=size, replace=False) for _ in range(self.steps)],
                       dtype=np.int64).reshape(self.steps, size)  # fmt: skip
        # the rows of a step: its pairs' first messages, then their second ones (texts: all firsts, then seconds)
        rows = np.concatenate([idx, idx + m], axis=1)
        y = np.asarray(prefs, dtype=np.float32)
        loss = self._train([*first, *second], rows, y[idx], RANK) if self.steps else 0.0
        self.updates += 1
        self._weights = self.net.numpy_weights()  # published when training is over (scoring never sees half a fit)
        if seen:
            self.norm.update(self.scores(seen))
        return {"model_loss": loss, "score_mean": self.norm.mean, "score_std": self.norm.std}

    def rewards(self, messages: Sequence[str], values: dict[str, float], keys: Sequence[str]) -> np.ndarray:
        if self.updates == 0:
            return np.zeros(len(messages))
        z = (self.scores(messages) - self.norm.mean) / max(self.norm.std, 1e-8)
        return np.where(z > self.threshold, z, 0.0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.norm.load_state_dict(state["norm"])


def make_model(kind: str, **kwargs: Any) -> RewardModel:
    """A reward model by name: ``retrieval``, ``classification`` or ``ranking``.

    Examples:
        >>> from rewardlab.oni import make_model
        >>> type(make_model("retrieval")).__name__
        'RetrievalModel'
    """
    if kind == "retrieval":
        if kwargs.get("threshold") is not None:
            raise ValueError("the retrieval model takes no threshold")
        return RetrievalModel()
    if kwargs.get("threshold") is None:
        kwargs.pop("threshold", None)
    if kind == "classification":
        return ClassificationModel(**kwargs)
    if kind == "ranking":
        return RankingModel(**kwargs)
    raise ValueError(f"unknown ONI reward model {kind!r}; valid: {list(MODELS)}")
