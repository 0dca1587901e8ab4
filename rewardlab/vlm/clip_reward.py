"""CLIP as a zero-shot reward: VLM-RM's goal–baseline projection (Rocamonde et al. 2023).

With ``x`` the unit-norm CLIP embedding of the frame of ``next_obs``, ``g`` and
``b`` the means of the unit-norm embeddings of the goal and baseline prompts,
``d = g − b`` and ``P = α·ddᵀ/‖d‖² + (1−α)·I``::

    R = 1 − ½‖(x − g)P‖²

α = 0 is plain CLIP similarity (for one goal prompt ``R = x·g``, the cosine);
α = 1 keeps only the component of ``x − g`` along the goal–baseline direction,
``R = 1 − ½((x − g)·d̂)²``. Since ``P`` is symmetric with eigenvalues 1 (along
``d``) and ``1−α``, ``‖(x − g)P‖² = (1−α)²‖v‖² + (1 − (1−α)²)(v·d̂)²`` with
``v = x − g``: no d×d matrix is formed, and α can change at any time without
re-embedding anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.vlm.encoder import CLIPEncoder
from rewardlab.wrappers.frames import MISSING_FRAMES, FrameSettings


def goal_baseline_reward(x: np.ndarray, goal: np.ndarray, baseline: np.ndarray | None, alpha: float) -> np.ndarray:
    """``1 − ½‖(x − g)P‖²`` for each row of ``x`` (see the module docs); ``baseline`` may be None when α = 0.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.vlm import goal_baseline_reward
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])              # unit embeddings: at the goal, at the baseline
        >>> goal, baseline = np.array([1.0, 0.0]), np.array([0.0, 1.0])
        >>> goal_baseline_reward(x, goal, None, 0.0)            # α = 0: 1 − ½‖x − g‖²
        array([1., 0.])
        >>> goal_baseline_reward(x, goal, baseline, 1.0).round(6)   # α = 1: only the goal–baseline direction
        array([1., 0.])
    """
    v = np.asarray(x, dtype=np.float64) - goal
    sq = np.einsum("ij,ij->i", v, v)
    if alpha == 0.0:
        return 1.0 - 0.5 * sq
    d = goal - baseline
    along = v @ (d / np.linalg.norm(d))
    keep = (1.0 - alpha) ** 2
    return 1.0 - 0.5 * (keep * sq + (1.0 - keep) * along**2)


class CLIPReward(RewardTerm):
    """Reward frames by their CLIP similarity to goal prompts, relative to baseline prompts.

    Args:
        encoder: a :class:`~rewardlab.vlm.CLIPEncoder`, e.g. ``CLIPEncoder.from_pretrained("ViT-B-32")``.
        goal: prompts describing the goal state (their unit embeddings are averaged).
        baseline: prompts describing the environment without the goal (needed when α > 0).
        alpha: projection strength α ∈ [0, 1]; settable later (``term.alpha = 0.8``) without re-embedding.
        score_every: score every k-th step and hold the score in between (all envs on the same
            steps, so frames stay batched); an env's first step after a reset is always scored.
        frame_settings: size and camera of the frames the reward is defined on (:class:`FrameSettings`).
        name: label in logs.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.core import Transitions
        >>> from rewardlab.vlm import CLIPEncoder, CLIPReward, load_clip
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> encoder = CLIPEncoder(load_clip(register_tiny_clip(), "random"), device="cpu")
        >>> reward = CLIPReward(encoder, ["a pole standing upright"], ["a pole"], alpha=0.5)
        >>> batch = Transitions.fake(reward=[0.0, 0.0])
        >>> batch.frames = np.zeros((2, 64, 64, 3), dtype=np.uint8)   # what the frame wrapper adds
        >>> reward.compute(batch).shape
        (2,)
        >>> reward.alpha = 0.0                                      # no re-embedding of the prompts
    """

    name = "clip_reward"
    needs_frames = True

    def __init__(
        self,
        encoder: CLIPEncoder,
        goal: Sequence[str],
        baseline: Sequence[str] = (),
        *,
        alpha: float = 0.5,
        score_every: int = 1,
        frame_settings: FrameSettings | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if score_every < 1:
            raise ValueError(f"score_every must be >= 1, got {score_every}")
        self.encoder = encoder
        self.score_every = int(score_every)
        self.frame_settings = frame_settings
        self._alpha = 0.0
        self.set_prompts(goal, baseline)
        self.alpha = alpha
        self._held = np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._step = 0

    # -- prompts and α ------------------------------------------------------
    def set_prompts(self, goal: Sequence[str], baseline: Sequence[str] = ()) -> None:
        """Change the prompts (embeddings come from the encoder's cache when seen before)."""
        goal, baseline = [str(p) for p in goal], [str(p) for p in baseline]
        if not goal:
            raise ValueError("a CLIP reward needs at least one goal prompt")
        self.goal_prompts, self.baseline_prompts = goal, baseline
        self.goal_embedding = self.encoder.embed_text(goal).astype(np.float64).mean(axis=0)
        self.baseline_embedding = (
            self.encoder.embed_text(baseline).astype(np.float64).mean(axis=0) if baseline else None
        )
        self._check()

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {value}")
        self._alpha = value
        self._check()

    def _check(self) -> None:
        if self._alpha == 0.0:
            return
        if self.baseline_embedding is None:
            raise ValueError("alpha > 0 projects on the goal–baseline direction: give baseline prompts (or alpha=0)")
        if np.linalg.norm(self.goal_embedding - self.baseline_embedding) < 1e-8:
            raise ValueError("goal and baseline prompts embed to the same point; the direction is undefined")

    # -- scoring ------------------------------------------------------------
    def score_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Reward of unit-norm image embeddings ``(n, d)``."""
        return goal_baseline_reward(embeddings, self.goal_embedding, self.baseline_embedding, self._alpha)

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        """Reward of ``uint8`` frames ``(n, H, W, 3)``, scored as one batch."""
        return self.score_embeddings(self.encoder.embed_images(frames))

    def compute(self, batch: Transitions) -> np.ndarray:
        if batch.frames is None:
            raise RuntimeError(MISSING_FRAMES)
        if self.score_every == 1:
            return self.score_frames(batch.frames)
        if len(self._held) != batch.n:
            self._resize(batch.n)
        due = ~self._valid if self._step % self.score_every else np.ones(batch.n, dtype=bool)
        self._step += 1
        idx = np.flatnonzero(due)
        if idx.size:
            self._held[idx] = self.score_frames(batch.frames[idx])
            self._valid[idx] = True
        return self._held.copy()

    # -- life cycle -----------------------------------------------------------
    def _resize(self, n: int) -> None:
        self._held = np.zeros(n)
        self._valid = np.zeros(n, dtype=bool)

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self._resize(env.n_envs)

    def reset(self, env_indices: np.ndarray) -> None:
        if len(self._valid):
            self._valid[env_indices] = False

    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self._alpha,
            "goal_prompts": list(self.goal_prompts),
            "baseline_prompts": list(self.baseline_prompts),
            "goal_embedding": self.goal_embedding.copy(),
            "baseline_embedding": None if self.baseline_embedding is None else self.baseline_embedding.copy(),
            "held": self._held.copy(),
            "valid": self._valid.copy(),
            "step": self._step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.goal_prompts = list(state["goal_prompts"])
        self.baseline_prompts = list(state["baseline_prompts"])
        self.goal_embedding = np.asarray(state["goal_embedding"], dtype=np.float64).copy()
        base = state["baseline_embedding"]
        self.baseline_embedding = None if base is None else np.asarray(base, dtype=np.float64).copy()
        self.alpha = state["alpha"]
        self._held = np.asarray(state["held"], dtype=np.float64).copy()
        self._valid = np.asarray(state["valid"], dtype=bool).copy()
        self._step = int(state["step"])

    def __repr__(self) -> str:
        return f"CLIPReward(goal={self.goal_prompts!r}, baseline={self.baseline_prompts!r}, alpha={self._alpha:g})"


def clip_reward(
    goal: Sequence[str] | str,
    baseline: Sequence[str] | str = (),
    *,
    model: str = "ViT-B-32",
    pretrained: str | None = "laion2b_s34b_b79k",
    checkpoint: str | None = None,
    alpha: float = 0.5,
    score_every: int = 1,
    device: str = "auto",
    precision: Literal["fp32", "fp16", "bf16"] = "fp32",
    autocast: bool | None = None,
    batch_size: int = 64,
    exact_preprocess: bool = False,
    cache_dir: str | None = None,
    download: bool = True,
    frame_settings: FrameSettings | None = None,
    name: str | None = None,
) -> CLIPReward:
    """CLIP zero-shot reward (VLM-RM, Rocamonde et al. 2023): ``R = 1 − ½‖(x − g)P‖²`` with goal–baseline projection P.

    A :class:`CLIPReward` with an open_clip model loaded by name and tag, or from ``checkpoint``.

    Args:
        goal: prompt(s) describing the goal state (their unit embeddings are averaged into ``g``).
        baseline: prompt(s) describing the environment without the goal (``b``; needed when α > 0).
        model: open_clip architecture name (``ViT-B-32``, ``ViT-L-14``, ...); bigger models give better rewards.
        pretrained: open_clip pretrained tag (``laion2b_s34b_b79k``); ``None`` with ``checkpoint``.
        checkpoint: a local weights file, for machines without a download.
        alpha: projection strength α ∈ [0, 1] onto the goal–baseline direction (0: plain goal similarity).
        score_every: score every k-th step and hold the score in between (frames stay batched across envs).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda:N"``.
        precision: model weights ``"fp32"``, ``"fp16"`` or ``"bf16"``.
        autocast: run the image tower under torch autocast (default: on for CUDA with fp32 weights).
        batch_size: frames per forward pass.
        exact_preprocess: use open_clip's PIL preprocessing instead of the faster tensor path.
        cache_dir: where downloaded weights are kept.
        download: allow downloading weights (false: only local files; a clear error when missing).
        frame_settings: size and camera of the frames the envs render for the reward
            (YAML ``render: {width, height, camera_config}``, :class:`~rewardlab.wrappers.frames.FrameSettings`).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.vlm import clip_reward
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> reward = clip_reward("a pole standing upright", "a pole", model=register_tiny_clip(),
        ...                      pretrained="random", device="cpu")   # real use: the default ViT-B-32 weights
        >>> reward.score_frames(np.zeros((3, 64, 64, 3), dtype=np.uint8)).shape
        (3,)
    """
    encoder = CLIPEncoder.from_pretrained(
        model,
        pretrained,
        checkpoint=checkpoint,
        device=device,
        precision=precision,
        cache_dir=cache_dir,
        download=download,
        autocast=autocast,
        batch_size=batch_size,
        exact_preprocess=exact_preprocess,
    )
    goal = [goal] if isinstance(goal, str) else list(goal)
    baseline = ([baseline] if baseline else []) if isinstance(baseline, str) else list(baseline)
    return CLIPReward(
        encoder, goal, baseline, alpha=alpha, score_every=score_every, frame_settings=frame_settings, name=name
    )
