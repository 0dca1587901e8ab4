"""A features extractor for NetHack / MiniHack dict observations.

Three encoders, their outputs concatenated and mixed by one linear layer:

* glyph maps (``glyphs`` 21×79, ``glyphs_crop`` 9×9 ...): a learned embedding
  per glyph id, then a small CNN (3×3 convolutions, stride 2 on maps whose
  short side is at least ``stride_min_side`` so the full map stays cheap on a
  CPU) and a linear layer;
* ``blstats``: the hero's column and row scaled to [0, 1] by the map size,
  every other entry squashed with ``sign(x)·log(1+|x|)`` (score, gold and
  turn counters span orders of magnitude), then an MLP;
* ``message`` (optional): a byte embedding, a 1-D convolution and a max over
  the non-zero bytes, then a linear layer.

SB3 casts every ``Box`` observation to float before the extractor; glyph ids
and bytes are cast back to integers here for the embeddings (the ids are
below 2^24, so float32 holds them exactly). Keys the extractor is not told to
use are ignored, so an env can carry ``message`` for reward terms while the
policy reads only glyphs and blstats.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

# blstats entries 0 and 1 are the hero's x (column, < 79) and y (row, < 21)
POSITION_SCALE = (79.0, 21.0)
MESSAGE_BYTES = 256


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)·log(1+|x|)``: keeps small values, compresses large ones."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class GlyphEncoder(nn.Module):
    """Embedding of glyph ids, a small CNN and a linear layer: ``(B, H, W)`` ids → ``(B, out_dim)``."""

    def __init__(
        self,
        *,
        n_glyphs: int,
        shape: tuple[int, int],
        embedding_dim: int,
        channels: int,
        layers: int,
        out_dim: int,
        stride_min_side: int,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"cnn_layers must be >= 1, got {layers}")
        self.embedding = nn.Embedding(n_glyphs, embedding_dim)
        stride = 2 if min(shape) >= stride_min_side else 1
        convs: list[nn.Module] = []
        for i in range(layers):
            convs += [nn.Conv2d(embedding_dim if i == 0 else channels, channels, 3, stride=stride, padding=1), nn.ELU()]
        self.cnn = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            flat = self.cnn(torch.zeros(1, embedding_dim, *shape)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, out_dim), nn.ELU())

    def forward(self, glyphs: torch.Tensor) -> torch.Tensor:
        x = self.embedding(glyphs.long()).permute(0, 3, 1, 2)  # (B, E, H, W)
        return self.head(self.cnn(x))


class BlstatsEncoder(nn.Module):
    """Scaled bottom-line statistics through a two-layer MLP: ``(B, 27)`` → ``(B, out_dim)``."""

    def __init__(self, *, n_stats: int, hidden: int) -> None:
        super().__init__()
        scale = torch.ones(n_stats)
        scale[: len(POSITION_SCALE)] = torch.tensor(POSITION_SCALE[:n_stats])
        self.register_buffer("position_scale", scale)
        self.n_positions = min(len(POSITION_SCALE), n_stats)
        self.mlp = nn.Sequential(nn.Linear(n_stats, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())

    def normalise(self, blstats: torch.Tensor) -> torch.Tensor:
        """Positions divided by the map size, the rest through :func:`symlog`."""
        x = blstats.float()
        k = self.n_positions
        return torch.cat([x[:, :k] / self.position_scale[:k], symlog(x[:, k:])], dim=1)

    def forward(self, blstats: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.normalise(blstats))


class MessageEncoder(nn.Module):
    """Bytes of the message line: embedding, 1-D convolution, max over non-zero bytes, linear."""

    def __init__(self, *, embedding_dim: int, channels: int, out_dim: int, kernel: int = 5) -> None:
        super().__init__()
        self.embedding = nn.Embedding(MESSAGE_BYTES, embedding_dim, padding_idx=0)
        self.conv = nn.Sequential(nn.Conv1d(embedding_dim, channels, kernel, padding=kernel // 2), nn.ELU())
        self.head = nn.Sequential(nn.Linear(channels, out_dim), nn.ELU())

    def forward(self, message: torch.Tensor) -> torch.Tensor:
        ids = message.long()
        h = self.conv(self.embedding(ids).transpose(1, 2))  # (B, C, L)
        mask = (ids != 0).unsqueeze(1)
        pooled = h.masked_fill(~mask, float("-inf")).amax(dim=2)
        pooled = torch.where(mask.any(dim=2), pooled, torch.zeros_like(pooled))  # empty message -> 0
        return self.head(pooled)


class NetHackExtractor(BaseFeaturesExtractor):
    """Glyph CNN(s) + blstats MLP (+ message encoder) for SB3's ``MultiInputPolicy``.

    Args:
        observation_space: the env's ``Dict`` space; must hold every key named below.
        glyph_keys: glyph maps to encode, each with its own embedding and CNN.
        blstats_key: bottom-line statistics key, or None to skip.
        message_key: message bytes key, or None (default) to skip.
        embedding_dim: glyph embedding size.
        cnn_channels, cnn_layers: width and depth of each glyph CNN.
        glyph_dim: output size of each glyph encoder.
        stride_min_side: maps whose short side is at least this use stride-2 convolutions.
        blstats_hidden: width of the blstats MLP.
        message_embedding_dim, message_channels, message_dim: sizes of the message encoder.
        features_dim: size of the final features the policy and value heads read.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        *,
        glyph_keys: Sequence[str] = ("glyphs_crop",),
        blstats_key: str | None = "blstats",
        message_key: str | None = None,
        embedding_dim: int = 16,
        cnn_channels: int = 16,
        cnn_layers: int = 2,
        glyph_dim: int = 128,
        stride_min_side: int = 16,
        blstats_hidden: int = 64,
        message_embedding_dim: int = 16,
        message_channels: int = 32,
        message_dim: int = 64,
        features_dim: int = 256,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise TypeError(f"NetHackExtractor needs a Dict observation space, got {type(observation_space).__name__}")
        wanted = [*glyph_keys, *(k for k in (blstats_key, message_key) if k is not None)]
        missing = [k for k in wanted if k not in observation_space.spaces]
        if missing:
            raise ValueError(
                f"observation keys {missing} are not in the env's observation space; available: "
                f"{sorted(observation_space.spaces)} (set observation_keys in the env preset's kwargs)"
            )
        if not wanted:
            raise ValueError("NetHackExtractor needs at least one of glyph_keys, blstats_key, message_key")
        super().__init__(observation_space, features_dim)
        self.glyph_keys = list(glyph_keys)
        self.blstats_key = blstats_key
        self.message_key = message_key
        self.glyphs = nn.ModuleDict()
        for key in self.glyph_keys:
            space = observation_space[key]
            if len(space.shape) != 2:
                raise ValueError(f"glyph key {key!r} must be a 2-D map, got shape {space.shape}")
            self.glyphs[key] = GlyphEncoder(
                n_glyphs=int(space.high.max()) + 1,
                shape=space.shape,
                embedding_dim=embedding_dim,
                channels=cnn_channels,
                layers=cnn_layers,
                out_dim=glyph_dim,
                stride_min_side=stride_min_side,
            )
        total = glyph_dim * len(self.glyph_keys)
        self.blstats = None
        if blstats_key is not None:
            self.blstats = BlstatsEncoder(n_stats=observation_space[blstats_key].shape[0], hidden=blstats_hidden)
            total += blstats_hidden
        self.message = None
        if message_key is not None:
            self.message = MessageEncoder(
                embedding_dim=message_embedding_dim, channels=message_channels, out_dim=message_dim
            )
            total += message_dim
        self.mix = nn.Sequential(nn.Linear(total, features_dim), nn.ELU())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [self.glyphs[key](observations[key]) for key in self.glyph_keys]
        if self.blstats is not None:
            parts.append(self.blstats(observations[self.blstats_key]))
        if self.message is not None:
            parts.append(self.message(observations[self.message_key]))
        return self.mix(torch.cat(parts, dim=1))
