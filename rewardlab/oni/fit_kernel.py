"""The reward network's training steps in one numba call that holds no GIL.

ONI distils its labels into :class:`~rewardlab.oni.models.ByteNet` (hashed byte n-grams → mean embedding →
MLP → one score) in a trainer thread beside the env loop. Trained with torch, a fit (10 Adam steps) is some
hundred small tensor calls, each of which takes the GIL back from the env loop, and 11–39 ms of CPU; beside a
busy env loop the first fit took over a second. Here the same steps run in one compiled call that holds no GIL,
7–11× cheaper (``benchmarks/bench_oni_fit.py``), in place on the torch parameters and torch ``Adam``'s own state
tensors (numpy views of them), so checkpoints and the optimizer's ``state_dict`` stay as they were.

The math is torch's, step for step (to float32 rounding):

* forward of the rows of a batch: ``p_i = mean_{g ∈ grams(i)} E[g]``, ``h_i = relu(W1 p_i + b1)``,
  ``s_i = W2 h_i + b2``;
* loss: binary cross-entropy with logits, the mean over the batch, on ``s_i`` (classification, target
  ``y_i``) or on ``s_a − s_b`` for a pair (ranking, Bradley–Terry: ``P(a ≻ b) = σ(s_a − s_b)``);
* the gradients of all five parameters (the embedding's dense, as ``nn.EmbeddingBag``'s), then Adam
  (Kingma & Ba 2015) as ``torch.optim.Adam`` with no weight decay: ``m ← m + (1 − β1)(g − m)``,
  ``v ← β2 v + (1 − β2) g²``, ``θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: the loss of :func:`train_steps`: each row scored against its target, or the rows in pairs (first half ≻ second)
CLASSIFY, RANK = 0, 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bce_with_logits(z: float, y: float) -> float:
    """``−y log σ(z) − (1 − y) log(1 − σ(z))``, computed stably: ``max(z, 0) − z·y + log(1 + e^{−|z|})``."""
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, step: int, lr: float,
          beta1: float, beta2: float, eps: float) -> None:  # fmt: skip
    """One Adam step on flat float32 arrays, as ``torch.optim.Adam`` (single tensor, no weight decay)."""
    step_size = np.float32(lr / (1.0 - beta1**step))
    bias2_sqrt = np.float32(math.sqrt(1.0 - beta2**step))
    a1, a2, b2, e = np.float32(1.0 - beta1), np.float32(1.0 - beta2), np.float32(beta2), np.float32(eps)
    for k in range(p.shape[0]):
        gk = g[k]
        mk = m[k] + a1 * (gk - m[k])
        vk = b2 * v[k] + a2 * gk * gk
        m[k] = mk
        v[k] = vk
        p[k] = p[k] - step_size * (mk / (np.sqrt(vk) / bias2_sqrt + e))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bag(ids: np.ndarray, offsets: np.ndarray, t: int) -> tuple[int, int]:
    """``(start, stop)`` of text ``t``'s n-grams in ``ids`` (the next text's offset, or the end)."""
    return offsets[t], offsets[t + 1] if t + 1 < offsets.shape[0] else ids.shape[0]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _forward(ids: np.ndarray, start: int, stop: int, embed: np.ndarray, w1t: np.ndarray, b1: np.ndarray,
             w2: np.ndarray, b2: np.float32, pooled: np.ndarray, pre: np.ndarray) -> np.float32:  # fmt: skip
    """One text's score from its n-grams ``ids[start:stop]``; its mean embedding into ``pooled``, ``W1 p + b1``
    (before the ReLU) into ``pre``. ``w1t = W1ᵀ`` (contiguous rows: vectorised), ``w2`` the row of ``W2``."""
    dim, hidden = w1t.shape
    for d in range(dim):
        pooled[d] = 0.0
    for j in range(start, stop):
        g = ids[j]
        for d in range(dim):
            pooled[d] += embed[g, d]
    for d in range(dim):
        pooled[d] /= np.float32(stop - start)
    for h in range(hidden):  # W1 p + b1, a row of W1ᵀ at a time
        pre[h] = b1[h]
    for d in range(dim):
        x = pooled[d]
        for h in range(hidden):
            pre[h] += x * w1t[d, h]
    s = b2
    for h in range(hidden):
        if pre[h] > 0:
            s += w2[h] * pre[h]
    return s


@numba.njit(cache=True, nogil=True, error_model="numpy")
def scores(ids: np.ndarray, offsets: np.ndarray, embed: np.ndarray, w1t: np.ndarray, b1: np.ndarray,
           w2: np.ndarray, b2: np.ndarray, out: np.ndarray) -> None:  # fmt: skip
    """The network's score of every text (``ids``, ``offsets`` as :func:`train_steps` takes them) into ``out``:
    the forward pass of :func:`train_steps`, without the GIL. ``w1t = W1ᵀ``, ``w2`` the row of ``W2``."""
    dim, hidden = w1t.shape
    pooled = np.empty(dim, dtype=np.float32)
    pre = np.empty(hidden, dtype=np.float32)
    for t in range(offsets.shape[0]):
        start, stop = _bag(ids, offsets, t)
        out[t] = _forward(ids, start, stop, embed, w1t, b1, w2, b2[0], pooled, pre)


@numba.njit(cache=True, nogil=True)
def ngram_bags(data: np.ndarray, lengths: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, offsets)`` of texts given as their bytes one after another (``data``, uint8) and ``lengths``: each
    text's hashed byte 1-, 2- and 3-grams, in that order (byte ``b``; ``256 + (b₀·257 + b₁)·2654435761 mod
    (buckets − 256)``; ``256 + ((b₀·257 + b₁)·257 + b₂)·40503 mod (buckets − 256)``; each ``mod buckets``), and
    where each text's start in ``ids``."""
    total = 0
    for t in range(lengths.shape[0]):
        n = lengths[t]
        total += n + max(n - 1, 0) + max(n - 2, 0)
    ids = np.empty(total, dtype=np.int64)
    offsets = np.empty(lengths.shape[0], dtype=np.int64)
    rest = buckets - 256
    k = 0
    start = 0
    for t in range(lengths.shape[0]):
        offsets[t] = k
        n = lengths[t]
        b = data[start : start + n]
        start += n
        for i in range(n):
            ids[k] = np.int64(b[i]) % buckets
            k += 1
        for i in range(n - 1):
            ids[k] = (256 + (np.int64(b[i]) * 257 + np.int64(b[i + 1])) * 2654435761 % rest) % buckets
            k += 1
        for i in range(n - 2):
            tri = (np.int64(b[i]) * 257 + np.int64(b[i + 1])) * 257 + np.int64(b[i + 2])
            ids[k] = (256 + tri * 40503 % rest) % buckets
            k += 1
    return ids, offsets


@numba.njit(cache=True, nogil=True, error_model="numpy")
def train_steps(
    ids: np.ndarray,
    offsets: np.ndarray,
    rows: np.ndarray,
    targets: np.ndarray,
    kind: int,
    params: tuple,
    moments: tuple,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> float:
    """``rows.shape[0]`` training steps; returns the last step's loss.

    ``ids``, ``offsets``: every text's n-gram bins, concatenated, and where each text's start
    (:func:`~rewardlab.oni.models.ngram_arrays`).
    Step ``k`` trains on the texts ``rows[k]`` against ``targets[k]``: one target per row (:data:`CLASSIFY`), or
    one per pair, the first half of the rows against the second (:data:`RANK`). ``params``: the embedding
    ``(buckets, dim)``, ``W1 (hidden, dim)``, ``b1``, ``W2 (1, hidden)``, ``b2``, float32, changed in place;
    ``moments``: Adam's ``m`` and ``v`` of each, in the same order (ten arrays); ``step``: Adam's steps so far.
    """
    embed, w1, b1, w2, b2 = params
    m_embed, v_embed, m_w1, v_w1, m_b1, v_b1, m_w2, v_w2, m_b2, v_b2 = moments
    buckets, dim = embed.shape
    hidden = w1.shape[0]
    n_rows = rows.shape[1]
    pooled = np.empty((n_rows, dim), dtype=np.float32)
    pre = np.empty((n_rows, hidden), dtype=np.float32)
    scores = np.empty(n_rows, dtype=np.float32)
    d_scores = np.empty(n_rows, dtype=np.float32)
    d_pooled = np.empty(dim, dtype=np.float32)
    d_pre = np.empty(hidden, dtype=np.float32)
    g_embed = np.empty((buckets, dim), dtype=np.float32)
    g_w1 = np.empty((hidden, dim), dtype=np.float32)
    g_b1 = np.empty(hidden, dtype=np.float32)
    g_w2 = np.empty((1, hidden), dtype=np.float32)
    g_b2 = np.empty(1, dtype=np.float32)
    loss = 0.0
    w1t = np.empty((dim, hidden), dtype=np.float32)
    for k in range(rows.shape[0]):
        # forward
        w1t[:] = w1.T
        for r in range(n_rows):
            start, stop = _bag(ids, offsets, rows[k, r])
            scores[r] = _forward(ids, start, stop, embed, w1t, b1, w2[0], b2[0], pooled[r], pre[r])
        # loss and its gradient with respect to each row's score
        loss = 0.0
        if kind == CLASSIFY:
            for r in range(n_rows):
                y = targets[k, r]
                loss += _bce_with_logits(scores[r], y)
                d_scores[r] = (_sigmoid(scores[r]) - y) / n_rows
            loss /= n_rows
        else:
            half = n_rows // 2
            for r in range(half):
                y = targets[k, r]
                z = scores[r] - scores[half + r]
                loss += _bce_with_logits(z, y)
                dz = (_sigmoid(z) - y) / half
                d_scores[r] = dz
                d_scores[half + r] = -dz
            loss /= half
        # backward
        g_embed[:] = 0.0
        g_w1[:] = 0.0
        g_b1[:] = 0.0
        g_w2[:] = 0.0
        g_b2[0] = 0.0
        for r in range(n_rows):
            ds = d_scores[r]
            g_b2[0] += ds
            for h in range(hidden):
                if pre[r, h] > 0:
                    g_w2[0, h] += ds * pre[r, h]
                    d_pre[h] = ds * w2[0, h]
                else:
                    d_pre[h] = 0.0
            for d in range(dim):
                d_pooled[d] = 0.0
            for h in range(hidden):
                dh = d_pre[h]
                if dh != 0.0:
                    g_b1[h] += dh
                    for d in range(dim):
                        g_w1[h, d] += dh * pooled[r, d]
                        d_pooled[d] += dh * w1[h, d]
            start, stop = _bag(ids, offsets, rows[k, r])
            for d in range(dim):
                d_pooled[d] /= np.float32(stop - start)
            for j in range(start, stop):
                g = ids[j]
                for d in range(dim):
                    g_embed[g, d] += d_pooled[d]
        step += 1
        _adam(embed.reshape(-1), g_embed.reshape(-1), m_embed.reshape(-1), v_embed.reshape(-1), step, lr, beta1,
              beta2, eps)  # fmt: skip
        _adam(w1.reshape(-1), g_w1.reshape(-1), m_w1.reshape(-1), v_w1.reshape(-1), step, lr, beta1, beta2, eps)
        _adam(b1, g_b1, m_b1, v_b1, step, lr, beta1, beta2, eps)
        _adam(w2.reshape(-1), g_w2.reshape(-1), m_w2.reshape(-1), v_w2.reshape(-1), step, lr, beta1, beta2, eps)
        _adam(b2, g_b2, m_b2, v_b2, step, lr, beta1, beta2, eps)
    return loss
