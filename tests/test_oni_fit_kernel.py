"""The reward network's compiled training steps: torch's math and torch Adam's state, without the GIL."""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from rewardlab.oni.fit_kernel import CLASSIFY, RANK, train_steps
from rewardlab.oni.models import ClassificationModel, RankingModel, _NetModel, ngram_arrays

TEXTS = [f"You see here {i} gold pieces." if i % 3 else f"It's a wall, number {i}." for i in range(120)]


def torch_steps(model: _NetModel, texts: list[str], rows: np.ndarray, targets: np.ndarray, kind: int) -> float:
    """The same steps through torch autograd and ``torch.optim.Adam`` (the reference)."""
    loss = torch.zeros(())
    for k in range(rows.shape[0]):
        scores = model.net([texts[i] for i in rows[k]])
        if kind == RANK:
            half = len(scores) // 2
            scores = scores[:half] - scores[half:]
        loss = nn.functional.binary_cross_entropy_with_logits(scores, torch.from_numpy(targets[k]))
        model.optimizer.zero_grad()
        loss.backward()
        model.optimizer.step()
    return float(loss.detach())


def batches(kind: int, steps: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(TEXTS), size=(steps, size if kind == CLASSIFY else 2 * size))
    return rows, rng.integers(0, 2, size=(steps, size)).astype(np.float32)


def adam_state(model: _NetModel) -> list[dict]:
    return list(model.optimizer.state_dict()["state"].values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_steps_equal_torch_adam(seed):
    kernel, reference = ClassificationModel(seed=seed), ClassificationModel(seed=seed)
    for fit in range(3):  # Adam's state carries over from fit to fit
        rows, targets = batches(CLASSIFY, 10, 48, seed * 10 + fit)
        loss = kernel._train(TEXTS, rows, targets, CLASSIFY)
        assert loss == pytest.approx(torch_steps(reference, TEXTS, rows, targets, CLASSIFY), abs=1e-6)
        for a, b in zip(kernel.net.parameters(), reference.net.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=2e-6)
        for a, b in zip(adam_state(kernel), adam_state(reference)):
            assert a["step"].item() == b["step"].item() == 10 * (fit + 1)
            np.testing.assert_allclose(a["exp_avg"].numpy(), b["exp_avg"].numpy(), rtol=1e-4, atol=1e-8)
            np.testing.assert_allclose(a["exp_avg_sq"].numpy(), b["exp_avg_sq"].numpy(), rtol=1e-4, atol=1e-10)


def test_ranking_steps_equal_torch_adam_up_to_the_score_offset():
    """The pair loss sees only score differences: the biases' gradients cancel (to zero, up to rounding), and Adam
    scales what rounding leaves to whole steps, so the parameters may drift apart; the scores, centred, agree."""
    kernel, reference = RankingModel(seed=0), RankingModel(seed=0)
    for fit in range(3):
        rows, targets = batches(RANK, 10, 24, fit)
        loss = kernel._train(TEXTS, rows, targets, RANK)
        assert loss == pytest.approx(torch_steps(reference, TEXTS, rows, targets, RANK), abs=1e-4)
    a, b = (m.net.numpy_scores(TEXTS, m.net.numpy_weights()) for m in (kernel, reference))
    a, b = a - a.mean(), b - b.mean()
    assert np.abs(a - b).max() < 0.05 * a.std()


def test_a_checkpoint_goes_on_with_torch_adam_and_back():
    """The optimizer's state after compiled steps is torch Adam's own: a loaded copy steps on with torch alike."""
    kernel = ClassificationModel(seed=0)
    kernel._train(TEXTS, *batches(CLASSIFY, 10, 32, 0), CLASSIFY)
    reference = ClassificationModel(seed=5)
    reference.load_state_dict(copy.deepcopy(kernel.state_dict()))  # as from a file: torch shares same-type tensors
    rows, targets = batches(CLASSIFY, 10, 32, 1)
    kernel._train(TEXTS, rows, targets, CLASSIFY)
    torch_steps(reference, TEXTS, rows, targets, CLASSIFY)
    for a, b in zip(kernel.net.parameters(), reference.net.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=2e-6)
    assert [s["step"].item() for s in adam_state(kernel)] == [s["step"].item() for s in adam_state(reference)]


def test_fit_draws_the_same_minibatches_as_before():
    """More labels than a batch: one draw of the model's generator per step, as the torch loop drew them."""
    from rewardlab.oni.store import Label, Query

    labels = [Label(Query("classify", f"k{i}", (t,)), float(i % 3 != 0)) for i, t in enumerate(TEXTS)]
    model = ClassificationModel(seed=0, batch_size=32, steps=4)
    expected = np.random.default_rng(0)
    expected.bit_generator.state = model._rng.bit_generator.state
    draws = [expected.choice(len(TEXTS), size=32, replace=False) for _ in range(4)]
    reference = ClassificationModel(seed=0, batch_size=32, steps=4)
    y = np.array([lab.value for lab in labels], dtype=np.float32)
    metrics = model.fit(labels, [])
    loss = torch_steps(reference, TEXTS, np.array(draws), y[np.array(draws)], CLASSIFY)
    assert metrics["model_loss"] == pytest.approx(loss, abs=1e-6)
    for a, b in zip(model.net.parameters(), reference.net.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=2e-6)


def test_the_steps_hold_no_gil():
    """A thread in the compiled steps leaves the interpreter to others: the main thread keeps running."""
    model = ClassificationModel(seed=0)
    ids, offsets = ngram_arrays(TEXTS, model.net.buckets)
    rows, targets = batches(CLASSIFY, 10, 16, 0)
    params = tuple(p.detach().numpy() for p in model.net.parameters())
    moments = tuple(np.zeros_like(p) for p in params for _ in range(2))
    args = (ids, offsets, rows, targets, CLASSIFY, params, moments, 0, 1e-3, 0.9, 0.999, 1e-8)
    train_steps(*args)  # compiled (or loaded from the cache) before timing
    start = time.perf_counter()
    train_steps(*args[:2], *batches(CLASSIFY, 100, 16, 1), *args[4:])
    alone = time.perf_counter() - start
    rows, targets = batches(CLASSIFY, max(100, int(100 * 0.3 / max(alone, 1e-4))), 16, 2)  # about 0.3 s or more
    entered = threading.Event()

    def train() -> None:
        entered.set()
        train_steps(*args[:2], rows, targets, *args[4:])

    thread = threading.Thread(target=train)
    thread.start()
    entered.wait()
    spins = 0
    while thread.is_alive():  # holding the GIL, the kernel would let this loop run only once it has returned
        spins += 1
    thread.join()
    assert spins > 100_000


def reference_ngrams(text: str, buckets: int) -> np.ndarray:
    """The hashed byte 1-, 2- and 3-grams of a text, in numpy (the formula the compiled call follows)."""
    b = np.frombuffer(text.lower().encode("utf-8")[:128] or b" ", dtype=np.uint8).astype(np.int64)
    grams = [b]
    if len(b) > 1:
        grams.append(256 + (b[:-1] * 257 + b[1:]) * 2654435761 % (buckets - 256))
    if len(b) > 2:
        grams.append(256 + ((b[:-2] * 257 + b[1:-1]) * 257 + b[2:]) * 40503 % (buckets - 256))
    return np.concatenate(grams) % buckets


@pytest.mark.parametrize("buckets", [300, 4096])
def test_ngram_bags_are_the_hashed_byte_ngrams(buckets):
    texts = ["", "a", "ab", "You see here 7 gold pieces.", "ÉCHEC et mat " * 20, "It's a wall."]
    ids, offsets = ngram_arrays(texts, buckets)
    expected = [reference_ngrams(t, buckets) for t in texts]
    assert offsets.tolist() == np.cumsum([0] + [len(e) for e in expected[:-1]]).tolist()
    assert ids.tolist() == np.concatenate(expected).tolist()
    assert ngram_arrays([], buckets)[0].shape == (0,)


def test_compiled_scores_equal_the_torch_forward():
    model = ClassificationModel(seed=3)
    rows, targets = batches(CLASSIFY, 5, 32, 0)
    model._train(TEXTS, rows, targets, CLASSIFY)  # weights away from their initial values
    with torch.no_grad():
        expected = model.net(TEXTS).numpy()  # torch's EmbeddingBag and Linear layers
    got = model.net.numpy_scores(TEXTS, model.net.numpy_weights())
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
