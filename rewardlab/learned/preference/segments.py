"""Segments of the agent's own rollouts: fixed-length windows of one env's steps.

The wrapper hands learners one batch per ``update_every`` steps, with the envs
interleaved step by step (``n = steps × n_envs``). :class:`SegmentSampler`
regroups it into per-env streams (continuing the previous batch's tail, so
segments can straddle two update batches) and cuts segments of ``length``
consecutive steps:

* a segment never crosses a truncation (a time limit is not an outcome);
* an episode that terminates inside a segment ends it: the remaining steps are
  absorbing, masked out (``mask = 0``, true reward 0). This is what lets a
  teacher tell a segment that fails apart from one that keeps going when the
  env pays the same reward on every step (CartPole: both would tie otherwise).

Everything stored is a copy, never a view of the batch.
"""

from __future__ import annotations

import numpy as np


class SegmentSampler:
    """Cut segments of ``length`` steps from consecutive update batches of ``n_envs`` interleaved envs.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.preference import SegmentSampler
        >>> sampler = SegmentSampler(length=3, n_envs=2)
        >>> no_end = np.zeros(10, dtype=bool)
        >>> sampler.add(np.zeros((10, 4)), np.arange(10.0), no_end, no_end)   # 5 steps x 2 envs, step-major
        >>> segments = sampler.sample(2, np.random.default_rng(0))
        >>> segments["rewards"]                                   # each row: one env's consecutive steps
        array([[4., 6., 8.],
               [3., 5., 7.]])
    """

    def __init__(self, *, length: int, n_envs: int) -> None:
        if length < 1:
            raise ValueError(f"segment length must be >= 1, got {length}")
        self.length, self.n_envs = length, n_envs
        self._tail: dict[str, np.ndarray] | None = None

    def add(
        self,
        inputs: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        frames: np.ndarray | None = None,
    ) -> None:
        """Append one update batch (step-major, ``n = steps × n_envs``)."""
        e = self.n_envs
        if len(rewards) % e:
            raise ValueError(f"an update batch of {len(rewards)} transitions does not split into {e} envs")
        arrays = {
            "inputs": inputs.reshape(-1, e, inputs.shape[-1]),
            "rewards": np.asarray(rewards, dtype=np.float64).reshape(-1, e),
            "terminated": np.asarray(terminated, dtype=bool).reshape(-1, e),
            "truncated": np.asarray(truncated, dtype=bool).reshape(-1, e),
        }
        if frames is not None:
            arrays["frames"] = frames.reshape(-1, e, *frames.shape[1:])
        if self._tail is not None and set(self._tail) == set(arrays):
            arrays = {k: np.concatenate([self._tail[k], v]) for k, v in arrays.items()}
        self._stream = arrays
        self._tail = {k: v[-(self.length - 1) :].copy() if self.length > 1 else v[:0].copy() for k, v in arrays.items()}

    def valid_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, env)`` of every segment start in the current stream (no truncation before the last step)."""
        steps = self._stream["rewards"].shape[0]
        n_starts = steps - self.length + 1
        if n_starts <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        trunc = self._stream["truncated"].astype(np.int64)
        csum = np.concatenate([np.zeros((1, self.n_envs), dtype=np.int64), np.cumsum(trunc, axis=0)])
        # truncations among steps t .. t+length-2 (the last step may be cut: the segment ends there anyway)
        cut = csum[self.length - 1 : self.length - 1 + n_starts] - csum[:n_starts]
        t, env = np.nonzero(cut == 0)
        return t, env

    def sample(self, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``count`` segments (fewer when the stream has fewer starts): ``inputs (m, H, D)``, ``rewards``,
        ``mask (m, H)``, and ``frames (m, H, h, w, 3)`` when frames were added."""
        t, env = self.valid_starts()
        if len(t) == 0:
            return {}
        pick = rng.choice(len(t), size=min(count, len(t)), replace=False)
        steps = t[pick][:, None] + np.arange(self.length)[None, :]  # (m, H)
        envs = env[pick][:, None]
        out = {k: v[steps, envs] for k, v in self._stream.items() if k not in ("terminated", "truncated")}
        term = self._stream["terminated"][steps, envs]
        after_end = (np.cumsum(term, axis=1) - term) > 0  # steps after a termination inside the segment
        mask = (~after_end).astype(np.float64)
        out["mask"] = mask
        out["rewards"] = out["rewards"] * mask
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """The tail of the stream that the next batch continues (frames are not kept)."""
        return {k: v.copy() for k, v in (self._tail or {}).items() if k != "frames"}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._tail = {k: np.asarray(v).copy() for k, v in state.items()} or None
