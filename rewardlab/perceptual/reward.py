"""The perceptual reward as a term: fit from demonstration frames or videos, save, load, score frames."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.perceptual.encoders import ImageEncoder, make_encoder
from rewardlab.perceptual.model import PerceptualModel
from rewardlab.wrappers.frames import MISSING_FRAMES, FrameSettings

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
ARRAY_SUFFIXES = (".npy", ".npz")


def read_video(path: str | os.PathLike[str]) -> np.ndarray:
    """Frames of a video file or a saved array as ``uint8`` ``(T, H, W, 3)``.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import read_video
        >>> np.save("demo.npy", np.zeros((5, 8, 8, 3), dtype=np.uint8))
        >>> read_video("demo.npy").shape
        (5, 8, 8, 3)
    """
    path = Path(path)
    if path.suffix == ".npy":
        frames = np.load(path)
    elif path.suffix == ".npz":
        with np.load(path) as data:
            frames = data["frames"] if "frames" in data else data[next(iter(data.files))]
    else:
        import imageio.v3 as iio

        try:
            frames = iio.imread(path, index=None)
        except Exception as err:  # noqa: BLE001 - a codec or plugin error: say which file and what helps
            raise ValueError(
                f"cannot read video {str(path)!r} ({type(err).__name__}: {err}); mp4/avi/mov/webm need "
                "imageio-ffmpeg (pip install imageio-ffmpeg), gifs need pillow"
            ) from err
    frames = np.asarray(frames)
    if frames.ndim == 3:  # grayscale video
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] not in (3, 4):
        raise ValueError(f"{path}: expected frames of shape (T, H, W, 3), got {frames.shape}")
    return np.ascontiguousarray(frames[..., :3]).astype(np.uint8, copy=False)


def read_demos(folder: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every video (``.mp4 .avi .mov .mkv .webm .gif``) or array (``.npy .npz``) in ``folder``, by file name.

    Examples:
        >>> import os, numpy as np
        >>> from rewardlab.perceptual import read_demos
        >>> os.makedirs("demos", exist_ok=True)
        >>> for name in ("a", "b"):
        ...     np.save(f"demos/{name}.npy", np.zeros((5, 8, 8, 3), dtype=np.uint8))
        >>> sorted(read_demos("demos"))
        ['a.npy', 'b.npy']
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"demonstration folder {str(root)!r} does not exist")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES + ARRAY_SUFFIXES)
    if not files:
        raise FileNotFoundError(
            f"no demonstrations in {str(root)!r}: expected video files ({' '.join(VIDEO_SUFFIXES)}) "
            f"or frame arrays ({' '.join(ARRAY_SUFFIXES)})"
        )
    return {p.name: read_video(p) for p in files}


class PerceptualReward(RewardTerm):
    """Reward frames by how far along the demonstrated steps they look (Sermanet et al. 2016).

    Build with :meth:`fit` (frames of a few demonstrations) or :meth:`load`. The
    encoder is rebuilt from its spec on load; a randomly initialised encoder's
    weights are saved with the reward, and every encoder's weights are checked
    against the fingerprint saved at fit time, so a loaded reward is the fitted one.

    Args:
        encoder: the visual encoder (or its spec string, see :mod:`rewardlab.perceptual.encoders`).
        model: the fitted :class:`PerceptualModel`.
        frame_settings: size and camera of frames during training; match the demonstrations.

    Examples:
        >>> import numpy as np
        >>> ramp = np.linspace(0, 250, 30).astype(np.uint8)                # stand-in demos: frames that brighten
        >>> demos = [np.broadcast_to(ramp[:, None, None, None], (30, 16, 16, 3)).copy() for _ in range(2)]
        >>> import rewardlab as rl
        >>> reward = rl.perceptual.PerceptualReward.fit(demos, encoder="pixels:8", n_steps=3)
        >>> bool(reward.score_frames(demos[0][[0]])[0] < reward.score_frames(demos[0][[29]])[0])   # later looks better
        True
        >>> _ = reward.save("brighten.pt")           # YAML: {term: perceptual, path: brighten.pt}
    """

    name = "perceptual"
    needs_frames = True

    def __init__(
        self,
        encoder: ImageEncoder | str,
        model: PerceptualModel,
        *,
        frame_settings: FrameSettings | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.encoder = make_encoder(encoder)
        self.model = model
        self.frame_settings = frame_settings

    @classmethod
    def fit(
        cls,
        demos: Sequence[np.ndarray],
        *,
        encoder: ImageEncoder | str = "pixels:16",
        n_steps: int = 3,
        n_features: int = 32,
        min_length: int | None = None,
        frame_settings: FrameSettings | None = None,
    ) -> PerceptualReward:
        """Encode each demonstration's frames ``(T, H, W, 3)`` and fit the step model."""
        enc = make_encoder(encoder)
        features = [enc.encode(np.asarray(d, dtype=np.uint8)) for d in demos]
        model = PerceptualModel.fit(features, n_steps=n_steps, n_features=n_features, min_length=min_length)
        return cls(enc, model, frame_settings=frame_settings)

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        """Reward of ``uint8`` frames ``(n, H, W, 3)``."""
        return self.model.reward(self.encoder.encode(frames))

    def step_probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Per-step classifier outputs ``(n, K)`` of frames."""
        return self.model.step_probabilities(self.encoder.encode(frames))

    def compute(self, batch: Transitions) -> np.ndarray:
        if batch.frames is None:
            raise RuntimeError(MISSING_FRAMES)
        return self.score_frames(batch.frames)

    # -- persistence ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        settings = None if self.frame_settings is None else vars(self.frame_settings).copy()
        return {
            "encoder": self.encoder.spec,
            "encoder_fingerprint": self.encoder.fingerprint(),
            "model": self.model.state(),
            "frame_settings": settings,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["encoder"] != self.encoder.spec:
            self.encoder = make_encoder(state["encoder"])
        _check_encoder(self.encoder, state.get("encoder_fingerprint"), "this reward state")
        self.model = PerceptualModel.from_state(state["model"])
        fs = state.get("frame_settings")
        self.frame_settings = None if fs is None else FrameSettings(**fs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted reward (encoder spec, arrays, frame settings) to ``path`` with ``torch.save``."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()
        weights = self.encoder.weights_to_save()
        if weights is not None:
            state["encoder_weights"] = weights
        state["model"] = {  # tensors, so that loading needs no pickle (torch.load(weights_only=True))
            k: [torch.from_numpy(np.asarray(b)) for b in v] if k == "boundaries" else torch.from_numpy(np.asarray(v))
            for k, v in state["model"].items()
        }
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto", name: str | None = None) -> PerceptualReward:
        """Rebuild a reward saved with :meth:`save` (the encoder's weights must be on this machine)."""
        import torch

        if not Path(path).is_file():
            raise FileNotFoundError(
                f"perceptual reward file {str(path)!r} does not exist; fit one with "
                "'rewardlab perceptual fit DEMOS_DIR --out FILE'"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        state["model"] = {
            k: [b.numpy() for b in v] if k == "boundaries" else v.numpy() for k, v in state["model"].items()
        }
        fs = state.get("frame_settings")
        encoder = make_encoder(state["encoder"], device=device)
        if "encoder_weights" in state:
            encoder.load_weights(state["encoder_weights"])
        elif encoder.random_weights:
            raise ValueError(
                f"perceptual reward {str(path)!r} was saved without the weights of its random encoder "
                f"{state['encoder']!r} (by an older rewardlab): it cannot be rebuilt; fit it again"
            )
        _check_encoder(encoder, state.get("encoder_fingerprint"), f"perceptual reward {str(path)!r}")
        term = cls(
            encoder,
            PerceptualModel.from_state(state["model"]),
            frame_settings=None if fs is None else FrameSettings(**fs),
            name=name,
        )
        return term

    def __repr__(self) -> str:
        return f"PerceptualReward(encoder={self.encoder.spec!r}, steps={self.model.n_steps})"


def _check_encoder(encoder: ImageEncoder, fingerprint: str | None, what: str) -> None:
    """Refuse an encoder whose weights are not those ``fingerprint`` (saved at fit time) names."""
    if fingerprint is None:  # written before fingerprints were saved: nothing to check against
        return
    if encoder.fingerprint() != fingerprint:
        raise ValueError(
            f"{what} was fitted with other weights for encoder {encoder.spec!r} (fingerprint {fingerprint[:12]}, "
            f"these weights {encoder.fingerprint()[:12]}): the weights file or the named weights changed; "
            "use the weights it was fitted with, or fit it again"
        )
