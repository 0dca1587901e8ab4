"""Keys of the count bonuses: grid cells, SimHash, exact bytes, NetHack dict observations."""

import numpy as np
import pytest

from rewardlab.bonus import keys
from rewardlab.bonus.keys import Key
from rewardlab.config import ConfigError
from rewardlab.core import EnvInfo


def nethack_obs(xy, level=(1, 0), message=b"", glyph_fill=0):
    n = len(xy)
    bl = np.zeros((n, 27), dtype=np.int64)
    bl[:, 0] = [p[0] for p in xy]
    bl[:, 1] = [p[1] for p in xy]
    bl[:, 24], bl[:, 23] = level
    msg = np.zeros((n, 256), dtype=np.uint8)
    msg[:, : len(message)] = np.frombuffer(message, dtype=np.uint8)
    glyphs = np.full((n, 21, 79), glyph_fill, dtype=np.int16)
    return {"blstats": bl, "message": msg, "glyphs": glyphs}


def test_grid_key_groups_cells_by_floor():
    key = keys.GridKey(dims=[0, 1], cell=[0.1, 0.01])
    obs = np.array([[0.05, 0.001], [0.09, 0.009], [0.11, 0.001], [-0.01, 0.001]])
    k = key(obs)
    assert k.dtype == np.int64
    assert k[0] == k[1]  # same cell (0, 0)
    assert len({k[0], k[2], k[3]}) == 3  # cells (0, 0), (1, 0), (-1, 0)


def test_grid_key_resolves_names_from_the_env():
    key = Key.from_config({"grid": {"dims": ["velocity"], "cell": 0.5}})
    info = EnvInfo("MountainCar-v0", None, None, 2, ("position", "velocity"))
    key.bind(info)
    k = key(np.array([[0.0, 0.1], [5.0, 0.2], [0.0, 0.7]]))
    assert k[0] == k[1] != k[2]  # position ignored


def test_grid_key_without_binding_names_fails_clearly():
    with pytest.raises(ValueError, match="bind the reward"):
        keys.GridKey(dims=["position"])(np.zeros((1, 2)))


def test_simhash_matches_the_sign_pattern_of_its_projection():
    key = keys.SimHashKey(bits=16, seed=3)
    obs = np.random.default_rng(0).normal(size=(5, 2, 3))
    k = key(obs)
    bits = (obs.reshape(5, -1) @ key.projection.T.astype(np.float64)) > 0
    expected = (bits * (1 << np.arange(16))).sum(axis=1)
    np.testing.assert_array_equal(k, expected)
    assert np.array_equal(keys.SimHashKey(bits=16, seed=3)(obs), k)  # seeded: same keys in a new object


def test_bytes_key_is_exact():
    obs = np.array([[1, 2], [1, 2], [2, 1]], dtype=np.int64)
    k = keys.BytesKey()(obs)
    assert k[0] == k[1] != k[2]


def test_position_key_reads_blstats():
    obs = nethack_obs([(3, 4), (3, 4), (4, 3)], level=(2, 1))
    np.testing.assert_array_equal(keys.PositionKey(level=False)(obs), [3 + 4 * 256, 3 + 4 * 256, 4 + 3 * 256])
    with_level = keys.PositionKey()(obs)
    assert with_level[0] == 3 + (4 << 8) + (2 << 16) + (1 << 24)


def test_message_and_glyph_keys_hash_their_fields():
    a = nethack_obs([(1, 1)], message=b"You see a door.")
    b = nethack_obs([(9, 9)], message=b"You see a door.", glyph_fill=5)
    c = nethack_obs([(1, 1)], message=b"It's a wall.")
    msg = Key.from_config("message")
    assert msg(a)[0] == msg(b)[0] != msg(c)[0]
    glyphs = Key.from_config({"name": "glyphs"})
    assert glyphs(a)[0] == glyphs(c)[0] != glyphs(b)[0]


def test_dict_obs_needs_a_field():
    with pytest.raises(ValueError, match="set field to one of"):
        keys.SimHashKey()(nethack_obs([(1, 1)]))
    k = Key.from_config({"name": "simhash", "bits": 8, "field": "glyphs"})
    assert k(nethack_obs([(1, 1)])).shape == (1,)


def test_key_config_errors_name_valid_choices():
    with pytest.raises(ConfigError, match="valid: glyphs, grid, message, obs, position, simhash"):
        Key.from_config("gird")
    with pytest.raises(ConfigError, match="unknown parameter 'bit'"):
        Key.from_config({"name": "simhash", "bit": 8})
    with pytest.raises(ConfigError, match="bits must be in"):
        Key.from_config({"simhash": {"bits": 80}})


def test_simhash_reads_float64_rows_as_their_float32_rounding():
    """The per-step path hands float64 observations to the kernel as they are: the keys are those of the rows
    rounded to float32 (the converted copy the kernel no longer needs), on every path and layout."""
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(4000, 17)) * 10.0 ** rng.integers(-4, 4, size=(4000, 1))
    key = keys.SimHashKey(bits=32, seed=2)
    k64 = key(obs)
    k32 = key(obs.astype(np.float32))
    np.testing.assert_array_equal(k64, k32)
    bits = (obs.astype(np.float32).astype(np.float64) @ key.projection.T.astype(np.float64)) > 0
    np.testing.assert_array_equal(k64, (bits * (np.uint64(1) << np.arange(32, dtype=np.uint64))).sum(axis=1))
    wide = np.zeros((4000, 34))
    wide[:, ::2] = obs
    np.testing.assert_array_equal(key(wide[:, ::2]), k64)  # a strided view: same keys


def test_simhash_count_into_float64_matches_the_two_call_path():
    from rewardlab.bonus.counts import CountTable

    rng = np.random.default_rng(2)
    key = keys.SimHashKey(bits=32)
    one, two = CountTable(), CountTable()
    for _ in range(50):
        obs = np.zeros((8, 17))
        obs[:, :3] = rng.integers(-1, 2, size=(8, 3))  # 27 states: keys repeat, counts grow
        a, b = np.empty(8), np.empty(8)
        key.count_into(obs, one, 0.5, a)
        two.bonus_into(key(obs), 0.5, b)
        np.testing.assert_array_equal(a, b)
    assert one.size == two.size
