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
an MLP: fast on a CPU and enough to pick up keywords.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardlab.core.running import RunningMeanStd
from rewardlab.oni.store import Label

MAX_BYTES = 128
MODELS = ("retrieval", "classification", "ranking")


MAX_CACHED = 100_000  # messages whose n-grams a network keeps


def ngrams_of(text: str, buckets: int) -> np.ndarray:
    """Hashed byte 1-, 2- and 3-grams of ``text`` (lower-cased, first :data:`MAX_BYTES` bytes)."""
    b = np.frombuffer(text.lower().encode("utf-8")[:MAX_BYTES] or b" ", dtype=np.uint8).astype(np.int64)
    grams = [b]
    if len(b) > 1:
        grams.append(256 + (b[:-1] * 257 + b[1:]) * 2654435761 % (buckets - 256))
    if len(b) > 2:
        grams.append(256 + ((b[:-2] * 257 + b[1:-1]) * 257 + b[2:]) * 40503 % (buckets - 256))
    return np.concatenate(grams) % buckets


def byte_ngrams(
    messages: Sequence[str], buckets: int, cache: dict[str, np.ndarray] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(indices, offsets)`` of every message's n-grams (for ``nn.EmbeddingBag``), read from ``cache`` if given."""
    ids, offsets = ngram_arrays(messages, buckets, cache)
    return torch.from_numpy(ids), torch.from_numpy(offsets)


def ngram_arrays(
    messages: Sequence[str], buckets: int, cache: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`byte_ngrams` as numpy arrays."""
    ids = []
    for text in messages:
        g = cache.get(text) if cache is not None else None
        if g is None:
            g = ngrams_of(text, buckets)
            if cache is not None and len(cache) < MAX_CACHED:
                cache[text] = g
        ids.append(g)
    offsets = np.zeros(len(ids), dtype=np.int64)
    np.cumsum([len(g) for g in ids[:-1]], out=offsets[1:])
    return np.concatenate(ids), offsets


class ByteNet(nn.Module):
    """Hashed byte n-grams → mean embedding → MLP → one logit (or score) per message."""

    def __init__(self, *, buckets: int = 4096, dim: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.buckets = buckets
        self.embed = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self._grams: dict[str, np.ndarray] = {}

    def encode(self, messages: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The n-gram ``(indices, offsets)`` of ``messages`` (reusable across gradient steps)."""
        return byte_ngrams(messages, self.buckets, self._grams)

    def head_of(self, encoded: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Logits (scores) of already encoded messages."""
        return self.head(self.embed(*encoded)).squeeze(-1)

    def forward(self, messages: Sequence[str]) -> torch.Tensor:
        return self.head_of(self.encode(messages))

    def numpy_scores(self, messages: Sequence[str], weights: tuple[np.ndarray, ...]) -> np.ndarray:
        """The forward pass in numpy with ``weights`` from :meth:`numpy_weights` (fast on a few messages)."""
        embed, w1, b1, w2, b2 = weights
        ids, offsets = ngram_arrays(messages, self.buckets, self._grams)
        lengths = np.diff(np.append(offsets, len(ids)))
        pooled = np.add.reduceat(embed[ids], offsets, axis=0) / lengths[:, None].astype(np.float32)
        return (np.maximum(pooled @ w1 + b1, 0.0) @ w2 + b2)[:, 0]

    def numpy_weights(self) -> tuple[np.ndarray, ...]:
        """Copies of the weights for :meth:`numpy_scores`."""
        first, last = self.head[0], self.head[2]
        return tuple(
            t.detach().numpy().copy()
            for t in (self.embed.weight, first.weight.T, first.bias, last.weight.T, last.bias)
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
    """The label table: ``r(m) = label(m)``, 0 for messages not labelled yet."""

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

    def scores(self, messages: Sequence[str]) -> np.ndarray:
        """The network's logits (scores) of ``messages``, computed in numpy from a copy of the weights."""
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
    """``r(m) = 1[p(good | m) > τ]`` with ``p`` a :class:`ByteNet` trained by cross-entropy on the labels."""

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
        y_all = torch.tensor(targets, dtype=torch.float32)
        loss = torch.zeros(())
        full = self.net.encode(texts) if len(texts) <= self.batch_size else None  # n-grams built once
        for _ in range(self.steps):
            if full is not None:
                logits, y = self.net.head_of(full), y_all
            else:
                idx = self._rng.choice(len(texts), size=self.batch_size, replace=False)
                logits, y = self.net([texts[i] for i in idx]), y_all[torch.from_numpy(idx)]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.updates += 1
        self._weights = self.net.numpy_weights()  # published when training is over (scoring never sees half a fit)
        return {"model_loss": float(loss.detach())}

    def rewards(self, messages: Sequence[str], values: dict[str, float], keys: Sequence[str]) -> np.ndarray:
        if self.updates == 0:  # nothing learned yet: no reward (not the guess of an untrained net)
            return np.zeros(len(messages))
        return (self.probabilities(messages) > self.threshold).astype(np.float64)


class RankingModel(_NetModel):
    """Bradley–Terry score on labelled pairs, running-normalised over seen messages and thresholded."""

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
        y_all = torch.tensor(prefs, dtype=torch.float32)
        loss = torch.zeros(())
        for _ in range(self.steps):
            idx = self._rng.choice(len(first), size=min(self.batch_size, len(first)), replace=False)
            diff = self.net([first[i] for i in idx]) - self.net([second[i] for i in idx])
            loss = nn.functional.binary_cross_entropy_with_logits(diff, y_all[torch.from_numpy(idx)])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.updates += 1
        self._weights = self.net.numpy_weights()  # published when training is over (scoring never sees half a fit)
        if seen:
            self.norm.update(self.scores(seen))
        return {"model_loss": float(loss.detach()), "score_mean": self.norm.mean, "score_std": self.norm.std}

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
