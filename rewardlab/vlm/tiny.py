"""A tiny randomly initialised CLIP architecture for docstring examples (nothing is downloaded).

``register_tiny_clip()`` adds ``rl-tiny-clip`` (a 1-layer ViT on 32x32 images and a 1-layer text
transformer with 32-d embeddings) to open_clip's model list; load it with ``pretrained="random"``.
Its embeddings mean nothing: it shows shapes and plumbing, never reward quality.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TINY_CLIP = "rl-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def register_tiny_clip() -> str:
    """Add the tiny config to open_clip's model registry (idempotent) and return its name.

    Examples:
        >>> from rewardlab.vlm import load_clip
        >>> from rewardlab.vlm.tiny import register_tiny_clip
        >>> load_clip(register_tiny_clip(), "random").preprocess_cfg["size"]
        (32, 32)
    """
    import open_clip

    if TINY_CLIP not in open_clip.list_models():
        folder = Path(tempfile.mkdtemp(prefix="rewardlab_tiny_clip_"))
        (folder / f"{TINY_CLIP}.json").write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(folder)
    return TINY_CLIP
