"""CLIP embeddings of frames and prompts: batched, on the device you choose, text cached."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.vlm.loading import LoadedCLIP, load_clip
from rewardlab.vlm.preprocess import BatchPreprocess


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names pass through.

    Examples:
        >>> from rewardlab.vlm import resolve_device
        >>> resolve_device("cpu")
        'cpu'
        >>> resolve_device("auto") in ("cpu", "cuda")
        True
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but torch sees no CUDA GPU; use device: cpu or auto")
    return device


class CLIPEncoder:
    """Unit-norm CLIP embeddings of RGB frames and of text prompts.

    Frames are preprocessed as open_clip does (:class:`BatchPreprocess`), then
    encoded ``batch_size`` at a time. Prompt embeddings are cached, so changing
    prompts back and forth or rebuilding a reward never re-encodes text.

    Args:
        clip: a loaded model (:func:`rewardlab.vlm.load_clip`).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        autocast: mixed precision for the image tower; ``None`` turns it on on CUDA
            (float16) and off on CPU, where bfloat16 only pays on CPUs with AMX.
        batch_size: frames per forward pass (bounds memory; all envs in one pass by default).
        exact_preprocess: run open_clip's per-image PIL transform instead of the batched one.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.vlm import CLIPEncoder, load_clip
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> encoder = CLIPEncoder(load_clip(register_tiny_clip(), "random"), device="cpu")
        >>> encoder.embed_images(np.zeros((2, 64, 64, 3), dtype=np.uint8)).shape   # any frame size
        (2, 32)
        >>> np.linalg.norm(encoder.embed_text(["a pole standing upright"]), axis=1).round(3)   # unit norm
        array([1.], dtype=float32)
    """

    def __init__(
        self,
        clip: LoadedCLIP,
        *,
        device: str = "auto",
        autocast: bool | None = None,
        batch_size: int = 64,
        exact_preprocess: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.clip = clip
        self.model = clip.model.to(self.device).eval()
        self.preprocess = BatchPreprocess(clip.preprocess_cfg, exact=exact_preprocess)
        on_cuda = self.device.startswith("cuda")
        self.autocast = on_cuda if autocast is None else autocast
        self.autocast_dtype = "float16" if on_cuda else "bfloat16"
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self._text_cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_pretrained(
        cls,
        model: str = "ViT-B-32",
        pretrained: str | None = "laion2b_s34b_b79k",
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        device: str = "auto",
        precision: str = "fp32",
        cache_dir: str | None = None,
        download: bool = True,
        **kwargs: Any,
    ) -> CLIPEncoder:
        """Load an open_clip model (see :func:`rewardlab.vlm.load_clip`) and wrap it."""
        clip = load_clip(
            model,
            pretrained,
            checkpoint=checkpoint,
            device=resolve_device(device),
            precision=precision,
            cache_dir=cache_dir,
            download=download,
        )
        return cls(clip, device=device, **kwargs)

    @property
    def embed_dim(self) -> int:
        return int(getattr(self.model.visual, "output_dim", -1))

    def _autocast(self) -> Any:
        import torch

        if not self.autocast:
            return contextlib.nullcontext()
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(kind, dtype=getattr(torch, self.autocast_dtype))

    def embed_images(self, frames: Any, *, normalize: bool = True) -> np.ndarray:
        """``float32`` embeddings ``(n, d)`` of ``uint8`` frames ``(n, H, W, 3)``, unit norm by default."""
        import torch

        n = len(frames)
        chunks = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, n, self.batch_size):
                x = self.preprocess(frames[start : start + self.batch_size]).to(self.device, non_blocking=True)
                emb = self.model.encode_image(x).float()
                if normalize:
                    emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                chunks.append(emb.cpu())
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.embed_dim), dtype=np.float32)

    def embed_text(self, prompts: Sequence[str]) -> np.ndarray:
        """Unit-norm ``float32`` embeddings ``(len(prompts), d)``; each prompt is encoded once per encoder."""
        import torch

        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            with torch.inference_mode():
                tokens = self.clip.tokenizer(missing).to(self.device)
                emb = self.model.encode_text(tokens).float()
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            for prompt, row in zip(missing, emb.cpu().numpy()):
                self._text_cache[prompt] = row
        return np.stack([self._text_cache[p] for p in prompts])
