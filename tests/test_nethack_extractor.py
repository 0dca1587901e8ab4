"""NetHackExtractor: shapes, gradients, SB3's float casting, blstats scaling and message masking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, preprocess_obs

from rewardlab.policies.nethack import BlstatsEncoder, MessageEncoder, NetHackExtractor

SPACE = spaces.Dict(
    {
        "glyphs": spaces.Box(0, 5976, (21, 79), np.int16),
        "glyphs_crop": spaces.Box(0, 5976, (9, 9), np.int16),
        "blstats": spaces.Box(-(2**31), 2**31 - 1, (27,), np.int64),
        "message": spaces.Box(0, 255, (256,), np.uint8),
    }
)


def sample_obs(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    message = np.zeros((n, 256), dtype=np.uint8)
    message[:, :12] = rng.integers(32, 127, size=(n, 12))
    obs = {
        "glyphs": rng.integers(2350, 2400, size=(n, 21, 79)).astype(np.int16),
        "glyphs_crop": rng.integers(2350, 2400, size=(n, 9, 9)).astype(np.int16),
        "blstats": rng.integers(0, 30, size=(n, 27)).astype(np.int64),
        "message": message,
    }
    return {k: torch.as_tensor(v) for k, v in obs.items()}


def test_no_key_is_an_image_so_sb3_does_not_rescale():
    assert not any(is_image_space(s) for s in SPACE.spaces.values())


def test_features_have_the_right_shape_and_sb3_floats_give_the_same_features():
    torch.manual_seed(0)
    extractor = NetHackExtractor(SPACE, glyph_keys=["glyphs", "glyphs_crop"], message_key="message", features_dim=48)
    raw = sample_obs(5)
    as_sb3 = preprocess_obs(raw, SPACE)  # every Box cast to float32
    assert as_sb3["glyphs"].dtype == torch.float32
    out = extractor(as_sb3)
    assert out.shape == (5, 48) and extractor.features_dim == 48
    torch.testing.assert_close(out, extractor(raw))  # integer tensors (e.g. from a reward encoder) work too


def test_gradients_reach_used_glyph_embeddings_only():
    torch.manual_seed(0)
    extractor = NetHackExtractor(SPACE, glyph_keys=["glyphs_crop"], message_key="message")
    extractor(preprocess_obs(sample_obs(4), SPACE)).pow(2).sum().backward()
    grad = extractor.glyphs["glyphs_crop"].embedding.weight.grad
    used = grad.abs().sum(dim=1) > 0
    assert used[2350:2400].any() and not used[:2350].any() and not used[2400:].any()
    for name, param in extractor.named_parameters():
        if "message.embedding" in name:
            assert param.grad[0].abs().sum() == 0  # padding byte stays untrained
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_blstats_positions_scale_by_the_map_and_the_rest_by_symlog():
    encoder = BlstatsEncoder(n_stats=27, hidden=8)
    blstats = torch.zeros(1, 27)
    blstats[0, 0], blstats[0, 1], blstats[0, 9], blstats[0, 13] = 40, 10, math.e - 1, -(math.e**2 - 1)
    x = encoder.normalise(blstats)[0]
    assert x[0].item() == pytest.approx(40 / 79) and x[1].item() == pytest.approx(10 / 21)
    assert x[9].item() == pytest.approx(1.0) and x[13].item() == pytest.approx(-2.0)
    assert x[2].item() == 0.0


def test_message_encoder_ignores_padding_and_maps_empty_messages_to_zero_pool():
    torch.manual_seed(0)
    encoder = MessageEncoder(embedding_dim=4, channels=6, out_dim=3, kernel=3)
    empty = torch.zeros(1, 256, dtype=torch.uint8)
    torch.testing.assert_close(encoder(empty), encoder.head(torch.zeros(1, 6)))
    hello = torch.zeros(2, 256, dtype=torch.uint8)
    hello[:, :5] = torch.tensor(list(b"hello"), dtype=torch.uint8)
    hello[1, 100] = 0  # still padding
    out = encoder(hello)
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], encoder(empty)[0])


def test_missing_keys_and_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"\['chars'\] are not in .*available: \['blstats', 'glyphs'"):
        NetHackExtractor(SPACE, glyph_keys=["chars"])
    with pytest.raises(ValueError, match="must be a 2-D map"):
        NetHackExtractor(SPACE, glyph_keys=["message"])
    with pytest.raises(TypeError, match="Dict observation space"):
        NetHackExtractor(SPACE["glyphs"])


def test_full_map_uses_strided_convolutions():
    extractor = NetHackExtractor(SPACE, glyph_keys=["glyphs", "glyphs_crop"], cnn_layers=2)
    strides = {
        key: [m.stride for m in enc.cnn if isinstance(m, torch.nn.Conv2d)] for key, enc in extractor.glyphs.items()
    }
    assert strides == {"glyphs": [(2, 2), (2, 2)], "glyphs_crop": [(1, 1), (1, 1)]}
    assert extractor.glyphs["glyphs"].head[0].in_features == 16 * 6 * 20  # 21x79 -> 11x40 -> 6x20
