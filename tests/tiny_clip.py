"""A tiny randomly initialised open_clip architecture for tests (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

TINY_CLIP = "rl-tiny-clip"  # 1-layer ViT on 32x32 images, 1-layer text transformer, 32-d embeddings


def register_tiny_clip() -> str:
    """Add the tiny config to open_clip's model registry (idempotent) and return its name."""
    import open_clip

    if TINY_CLIP not in open_clip.list_models():
        open_clip.add_model_config(Path(__file__).parent / "data" / f"{TINY_CLIP}.json")
    return TINY_CLIP


def tiny_encoder(seed: int = 0):
    """A CLIPEncoder on the tiny model with seeded random weights."""
    import torch

    from rewardlab.vlm import CLIPEncoder, load_clip

    register_tiny_clip()
    torch.manual_seed(seed)
    return CLIPEncoder(load_clip(TINY_CLIP, "random", device="cpu"), device="cpu")
