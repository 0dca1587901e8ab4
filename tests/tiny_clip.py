"""A tiny randomly initialised open_clip architecture for tests (nothing is downloaded): the one the docstring
examples use, :mod:`rewardlab.vlm.tiny`."""

from __future__ import annotations

from rewardlab.vlm.tiny import TINY_CLIP, register_tiny_clip

__all__ = ["TINY_CLIP", "register_tiny_clip", "tiny_encoder"]


def tiny_encoder(seed: int = 0):
    """A CLIPEncoder on the tiny model with seeded random weights."""
    import torch

    from rewardlab.vlm import CLIPEncoder, load_clip

    register_tiny_clip()
    torch.manual_seed(seed)
    return CLIPEncoder(load_clip(TINY_CLIP, "random", device="cpu"), device="cpu")
