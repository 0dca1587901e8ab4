"""CLIP reward on a tiny randomly initialised open_clip model (registered here; nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_clip import TINY_CLIP, register_tiny_clip, tiny_encoder

import rewardlab as rl
from rewardlab.config.reward_config import build_reward, load_reward_spec
from rewardlab.core.transitions import Transitions
from rewardlab.runs.reward_state import load_reward_state, save_reward_state
from rewardlab.vlm import BatchPreprocess, CLIPReward, WeightsNotFoundError, goal_baseline_reward, load_clip

ROOT = Path(__file__).resolve().parents[1]
GOAL, BASELINE = ["a pole standing upright"], ["a pole", "a cart"]


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


@pytest.fixture
def frames():
    return np.random.default_rng(0).integers(0, 256, size=(5, 40, 48, 3), dtype=np.uint8)


def frame_batch(frames: np.ndarray) -> Transitions:
    n = len(frames)
    return Transitions.from_arrays(np.zeros((n, 1)), np.zeros(n), np.zeros((n, 1)), frames=frames)


def test_shapes_and_unit_norm(encoder, frames):
    x = encoder.embed_images(frames)
    assert x.shape == (5, 32) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    term = CLIPReward(encoder, GOAL, BASELINE, alpha=0.5)
    assert term(frame_batch(frames)).shape == (5,)


def test_batched_scoring_equals_one_by_one(encoder, frames):
    term = CLIPReward(encoder, GOAL, BASELINE, alpha=0.5)
    batched = term.score_frames(frames)
    single = np.concatenate([term.score_frames(frames[i : i + 1]) for i in range(len(frames))])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    small_batches = tiny_encoder(seed=0)
    small_batches.batch_size = 2  # chunked forward passes give the same result
    np.testing.assert_allclose(CLIPReward(small_batches, GOAL, BASELINE).score_frames(frames), batched, atol=1e-6)


def test_alpha_zero_is_cosine_similarity_to_the_goal(encoder, frames):
    term = CLIPReward(encoder, GOAL, BASELINE, alpha=0.0)
    x = encoder.embed_images(frames).astype(np.float64)
    g = encoder.embed_text(GOAL)[0].astype(np.float64)
    cosine = x @ g / (np.linalg.norm(x, axis=1) * np.linalg.norm(g))
    np.testing.assert_allclose(term.score_frames(frames), cosine, atol=1e-6)


def test_alpha_one_is_the_projection_on_the_goal_baseline_direction(encoder, frames):
    term = CLIPReward(encoder, GOAL, BASELINE, alpha=1.0)
    x = encoder.embed_images(frames).astype(np.float64)
    g = encoder.embed_text(GOAL).astype(np.float64).mean(axis=0)
    b = encoder.embed_text(BASELINE).astype(np.float64).mean(axis=0)
    d = (g - b) / np.linalg.norm(g - b)
    np.testing.assert_allclose(term.score_frames(frames), 1 - 0.5 * ((x - g) @ d) ** 2, atol=1e-6)
    # moving x along any direction orthogonal to d leaves the reward unchanged
    ortho = np.random.default_rng(1).normal(size=g.shape)
    ortho -= (ortho @ d) * d
    np.testing.assert_allclose(
        goal_baseline_reward(x + ortho, g, b, 1.0), goal_baseline_reward(x, g, b, 1.0), atol=1e-9
    )


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_closed_form_matches_the_projection_matrix(alpha):
    rng = np.random.default_rng(2)
    x, g, b = rng.normal(size=(6, 8)), rng.normal(size=8), rng.normal(size=8)
    d = (g - b)[None]
    p = alpha * d.T @ d / np.sum(d**2) + (1 - alpha) * np.eye(8)
    expected = 1 - 0.5 * np.linalg.norm((x - g) @ p, axis=1) ** 2
    np.testing.assert_allclose(goal_baseline_reward(x, g, b, alpha), expected, atol=1e-10)


def test_alpha_changes_without_re_embedding_and_text_is_cached(frames, monkeypatch):
    enc = tiny_encoder(seed=0)
    calls = {"n": 0}
    original = enc.model.encode_text

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(enc.model, "encode_text", counted)
    term = CLIPReward(enc, GOAL, BASELINE, alpha=0.0)
    first = calls["n"]
    term.alpha = 0.9
    CLIPReward(enc, GOAL, BASELINE, alpha=0.2)  # same prompts: from the cache
    term.set_prompts(BASELINE, GOAL)
    assert calls["n"] == first
    with pytest.raises(ValueError, match="alpha must be in"):
        term.alpha = 1.5
    with pytest.raises(ValueError, match="baseline prompts"):
        CLIPReward(enc, GOAL, [], alpha=0.5)


def test_score_every_holds_scores_and_rescores_after_reset(encoder):
    rng = np.random.default_rng(3)
    steps = [rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8) for _ in range(5)]
    every = CLIPReward(encoder, GOAL, BASELINE, alpha=0.5, score_every=3)
    exact = CLIPReward(encoder, GOAL, BASELINE, alpha=0.5)
    out = []
    for t, f in enumerate(steps):
        if t == 2:
            every.reset(np.array([1]))  # env 1 starts a new episode: scored at once
        out.append(every(frame_batch(f)))
    truth = [exact.score_frames(f) for f in steps]
    np.testing.assert_allclose(out[1], truth[0])  # held
    np.testing.assert_allclose(out[2][[0, 2]], truth[0][[0, 2]])
    np.testing.assert_allclose(out[2][1], truth[2][1])  # rescored after reset
    np.testing.assert_allclose(out[3], truth[3])  # step 3: everyone scored
    np.testing.assert_allclose(out[4], truth[3])


def test_state_dict_round_trip(encoder, frames, tmp_path):
    term = CLIPReward(encoder, GOAL, BASELINE, alpha=0.7, score_every=2)
    term(frame_batch(frames))
    save_reward_state(term, tmp_path / "clip.pt")  # the run folder's checkpoint format
    fresh = CLIPReward(encoder, ["something else"], [], alpha=0.0, score_every=2)
    load_reward_state(fresh, tmp_path / "clip.pt")
    assert fresh.alpha == 0.7
    nxt = np.random.default_rng(4).integers(0, 256, size=frames.shape, dtype=np.uint8)
    np.testing.assert_array_equal(fresh(frame_batch(nxt)), term(frame_batch(nxt)))  # held scores restored too


@pytest.mark.parametrize("shape", [(2, 64, 64, 3), (2, 48, 80, 3), (2, 90, 50, 3)])
@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
def test_batched_preprocessing_matches_open_clip(encoder, shape, resize_mode):
    cfg = {**encoder.clip.preprocess_cfg, "resize_mode": resize_mode}
    frames = np.random.default_rng(5).integers(0, 256, size=shape, dtype=np.uint8)
    ours, theirs = BatchPreprocess(cfg)(frames), BatchPreprocess(cfg, exact=True)(frames)
    std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    assert ours.shape == theirs.shape == (2, 3, 32, 32)
    diff = ((ours - theirs) * std).abs() * 255  # in grey levels
    if resize_mode == "squash" and shape[1] / 32 != shape[2] / 32:
        # two different scale factors: torchvision's fixed-point kernels round a few pixels differently
        assert float(diff.mean()) < 0.5 and float(diff.max()) <= 8.01
    else:
        assert float(diff.max()) <= 1.01  # one grey level of rounding at most


def test_unknown_model_tag_and_missing_weights_are_clear(tmp_path):
    register_tiny_clip()
    with pytest.raises(ValueError, match="unknown open_clip model 'ViT-B-23'.*did you mean 'ViT-B-32'"):
        load_clip("ViT-B-23", "laion2b_s34b_b79k")
    with pytest.raises(ValueError, match="unknown pretrained tag 'laion2b_s34b_b97k'.*valid: openai"):
        load_clip("ViT-B-32", "laion2b_s34b_b97k")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_clip("ViT-B-32", checkpoint=tmp_path / "missing.bin")
    with pytest.raises(WeightsNotFoundError, match="huggingface-cli download laion/CLIP-ViT-B-32-laion2B-s34B-b79K"):
        load_clip("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(tmp_path), download=False)
    with pytest.raises(rl.ConfigError, match="not in the local cache.*checkpoint"):
        build_reward({"term": "clip_reward", "goal": "x", "cache_dir": str(tmp_path), "download": False})


def test_local_checkpoint_file_loads(tmp_path, frames):
    enc = tiny_encoder(seed=7)
    path = tmp_path / "tiny.pt"
    torch.save(enc.model.state_dict(), path)
    loaded = load_clip(TINY_CLIP, None, checkpoint=path)
    for a, b in zip(enc.model.state_dict().values(), loaded.model.state_dict().values()):
        torch.testing.assert_close(a, b)


def tiny_spec(path: Path, **overrides) -> list:
    """A reward file's spec with the CLIP model swapped for the tiny one."""
    spec = load_reward_spec(path)
    for item in spec:
        if isinstance(item, dict) and item.get("term") == "clip_reward":
            item.update({"model": TINY_CLIP, "pretrained": "random", "device": "cpu", **overrides})
    return spec


def test_yaml_term_and_the_kneeling_config(tmp_path):
    register_tiny_clip()
    term = build_reward(
        {"term": "clip_reward", "model": TINY_CLIP, "pretrained": "random", "goal": "a cat", "baseline": "a dog",
         "alpha": 0.25, "score_every": 4, "render": {"width": 32, "height": 32}}
    )
    assert isinstance(term, CLIPReward) and term.alpha == 0.25 and term.score_every == 4
    assert rl.frame_settings(term) == rl.FrameSettings(32, 32)
    with pytest.raises(rl.ConfigError, match="unknown frame setting"):
        build_reward({"term": "clip_reward", "model": TINY_CLIP, "pretrained": "random", "goal": "a",
                      "render": {"w": 1}})
    kneeling = build_reward(tiny_spec(ROOT / "configs" / "clip_kneeling.yaml"))
    clip_leaf = next(t for t in kneeling.leaves() if isinstance(t, CLIPReward))
    assert clip_leaf.goal_prompts == ["a humanoid robot kneeling"]
    assert rl.frame_settings(kneeling).camera_config is not None


def test_train_humanoid_with_the_kneeling_config(tmp_path, capsys):
    from rewardlab.cli.main import main

    register_tiny_clip()
    render = {"width": 32, "height": 32, "shadows": False, "reflections": False}
    spec = tiny_spec(ROOT / "configs" / "clip_kneeling.yaml", render=render)
    (tmp_path / "reward.yaml").write_text(yaml.safe_dump({"reward": spec}))
    argv = ["train", "--env", "Humanoid-v5", "--reward", str(tmp_path / "reward.yaml"), "--steps", "32",
            "--n-envs", "2", "--hp", "n_steps=16", "--hp", "batch_size=32", "--hp", "n_epochs=1",
            "--env-kwarg", "terminate_when_unhealthy=false", "--eval-episodes", "0", "--no-progress",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    run = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["run"]
    assert run["env_kwargs"] == {"terminate_when_unhealthy": False}
    assert (tmp_path / "run" / "model.zip").exists()


def test_rollouts_render_for_a_clip_reward(encoder):
    term = rl.extrinsic() + CLIPReward(encoder, GOAL, BASELINE, frame_settings=rl.FrameSettings(32, 32))
    out = rl.analysis.rollout("CartPole-v1", term, n_steps=6, n_envs=2)
    values = out.components["clip_reward"]
    assert len(values) == 12 and np.isfinite(values).all() and np.ptp(values) > 0  # frames differ step to step
