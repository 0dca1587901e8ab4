"""Perceptual rewards (Sermanet et al. 2016) on rendered MountainCar demonstrations from a scripted policy.

The encoder here is ``pixels:16`` (the frame downsampled to 16×16 RGB): no pretrained
features, which keeps the test honest about what it checks -- the step discovery,
feature selection, classifiers and reward -- without weights we cannot download.
"""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import rewardlab as rl
from rewardlab.config.reward_config import build_reward
from rewardlab.core.transitions import Transitions
from rewardlab.perceptual import PerceptualModel, PerceptualReward, make_encoder, read_demos, split_steps
from rewardlab.runs.reward_state import load_reward_state, save_reward_state
from rewardlab.wrappers.frames import FRAME_KEY, make_env_with_frames

SETTINGS = rl.FrameSettings(width=64, height=64)


def episode(seed: int, scripted: bool, max_steps: int = 200) -> np.ndarray:
    """Frames of one MountainCar episode: energy pumping (push along the velocity) or random actions."""
    env = make_env_with_frames("MountainCar-v0", SETTINGS)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(max_steps):
        action = (2 if obs[1] >= 0 else 0) if scripted else int(rng.integers(3))
        obs, _, terminated, truncated, info = env.step(action)
        frames.append(info[FRAME_KEY])
        if terminated or truncated:
            break
    env.close()
    return np.stack(frames)


@pytest.fixture(scope="module")
def demos():
    return [episode(s, scripted=True) for s in range(4)]


@pytest.fixture(scope="module")
def reward(demos):
    return PerceptualReward.fit(demos, encoder="pixels:16", n_steps=3, frame_settings=SETTINGS)


def test_split_recovers_piecewise_constant_steps():
    rng = np.random.default_rng(0)
    levels = rng.normal(size=(3, 5)) * 4
    x = np.concatenate([np.repeat(levels[k][None], n, axis=0) for k, n in enumerate((7, 12, 5))])
    x += rng.normal(scale=0.1, size=x.shape)
    np.testing.assert_array_equal(split_steps(x, 3), [0, 7, 19, 24])
    np.testing.assert_array_equal(split_steps(x, 3, min_length=6), [0, 7, 18, 24])  # last step needs 6 frames
    with pytest.raises(ValueError, match="cannot split"):
        split_steps(x, 5, min_length=6)


def test_feature_selection_keeps_the_features_that_separate_steps():
    rng = np.random.default_rng(1)
    demo = rng.normal(size=(60, 10))
    demo[30:, 3] += 6.0  # only feature 3 changes between the two halves
    model = PerceptualModel.fit([demo, demo + rng.normal(scale=0.1, size=demo.shape)], n_steps=2, n_features=1)
    assert model.selected.tolist() == [[3], [3]]
    assert [b.tolist() for b in model.boundaries] == [[0, 30, 60], [0, 30, 60]]
    probs = model.step_probabilities(demo)
    assert probs[:30, 0].mean() > 0.8 and probs[30:, 1].mean() > 0.8


def test_reward_rises_along_held_out_demos_and_stays_lower_for_random_behaviour(reward):
    held_out = [episode(s, scripted=True) for s in (10, 11)]
    random_runs = [episode(s, scripted=False, max_steps=120) for s in (20, 21)]
    finals = []
    for frames in held_out:
        r = reward.score_frames(frames)
        thirds = [part.mean() for part in np.array_split(r, 3)]
        assert thirds[0] < thirds[1] < thirds[2], thirds
        ranks = np.argsort(np.argsort(r))
        assert np.corrcoef(ranks, np.arange(len(r)))[0, 1] > 0.5  # Spearman correlation with time
        finals.append(thirds[2])
    for frames in random_runs:
        assert reward.score_frames(frames).mean() < min(finals) - 0.1
    assert reward.score_frames(held_out[0]).min() >= 0.0 and reward.score_frames(held_out[0]).max() <= 1.0


def test_term_in_a_vector_env(reward):
    venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", 2, frames=rl.frame_settings(reward)), reward)
    venv.reset()
    _, r, _, infos = venv.step(np.array([0, 2]))
    assert r.shape == (2,) and 0.0 < infos[0]["rewardlab"]["perceptual"] < 1.0
    venv.close()


def test_save_load_and_state_dict_round_trip(reward, demos, tmp_path):
    frames = demos[0][::7]
    path = reward.save(tmp_path / "mc.pt")
    loaded = PerceptualReward.load(path)
    np.testing.assert_array_equal(loaded.score_frames(frames), reward.score_frames(frames))
    assert loaded.frame_settings == SETTINGS
    save_reward_state(reward, tmp_path / "state.pt")  # the run folder's checkpoint format
    fresh = PerceptualReward.fit([demos[1][::-1]], encoder="pixels:8", n_steps=2)  # different in every way
    load_reward_state(fresh, tmp_path / "state.pt")
    batch = Transitions.from_arrays(np.zeros((len(frames), 2)), np.zeros(len(frames)), np.zeros((len(frames), 2)),
                                    frames=frames)
    np.testing.assert_array_equal(fresh(batch), reward(batch))


def test_cli_fits_from_a_folder_of_videos_and_yaml_loads_it(demos, tmp_path, capsys):
    from rewardlab.cli.main import main

    folder = tmp_path / "demos"
    folder.mkdir()
    iio.imwrite(folder / "demo0.mp4", demos[0], fps=30)
    iio.imwrite(folder / "demo1.gif", demos[1])
    np.save(folder / "demo2.npy", demos[2])
    (folder / "notes.txt").write_text("ignored")
    read = read_demos(folder)
    assert sorted(read) == ["demo0.mp4", "demo1.gif", "demo2.npy"]
    assert read["demo0.mp4"].shape == demos[0].shape  # lossy codec, same frames and size
    out = tmp_path / "mc.pt"
    assert main(["perceptual", "fit", str(folder), "--encoder", "pixels:16", "--steps", "3", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.split("\nuse it")[0])
    assert set(report["steps (frame where each starts)"]) == set(read)
    term = build_reward({"term": "perceptual", "path": str(out)})
    assert isinstance(term, PerceptualReward) and term.model.n_steps == 3
    r = term.score_frames(demos[3])
    assert r[-20:].mean() > r[:20].mean()


def test_clear_errors(tmp_path, capsys):
    from rewardlab.cli.main import main

    assert main(["perceptual", "fit", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["perceptual", "fit", str(tmp_path / "empty")]) == 2
    assert "no demonstrations" in capsys.readouterr().err
    with pytest.raises(rl.ConfigError, match="fit one with 'rewardlab perceptual fit"):
        build_reward({"term": "perceptual", "path": str(tmp_path / "missing.pt")})
    with pytest.raises(ValueError, match="unknown encoder kind 'vgg'"):
        make_encoder("vgg:16")
    with pytest.raises(ValueError, match="unknown torchvision model 'resnet81'.*did you mean"):
        make_encoder("torchvision:resnet81:random")


def test_torchvision_and_clip_encoders_feed_the_same_pipeline(demos):
    from tiny_clip import register_tiny_clip

    register_tiny_clip()
    short = [d[::4] for d in demos[:2]]
    torch.manual_seed(0)
    for spec, dim in (("torchvision:resnet18:random:32", 512), ("clip:rl-tiny-clip:random", 32)):
        encoder = make_encoder(spec, device="cpu")
        assert encoder.encode(short[0][:3]).shape == (3, dim)
        term = PerceptualReward.fit(short, encoder=encoder, n_steps=2, n_features=8)
        assert term.encoder.spec == spec
        assert term.score_frames(short[0]).shape == (len(short[0]),)


@pytest.mark.parametrize("spec", ["torchvision:resnet18:random:32", "clip:rl-tiny-clip:random"])
def test_a_random_encoder_loads_to_the_same_reward(demos, tmp_path, spec):
    """Regression: only the spec was saved, loading drew a new random network and the reward was a constant."""
    from tiny_clip import register_tiny_clip

    register_tiny_clip()
    short = [d[::4] for d in demos[:3]]
    fitted = PerceptualReward.fit(short[:2], encoder=make_encoder(spec, device="cpu"), n_steps=2, n_features=8)
    path = fitted.save(tmp_path / "random.pt")
    assert "encoder_weights" in torch.load(path, weights_only=True)  # the weights travel with the reward
    torch.manual_seed(1234)  # whatever the global generator holds
    for loaded in (PerceptualReward.load(path, device="cpu"), build_reward({"term": "perceptual", "path": str(path),
                                                                            "device": "cpu"})):  # fmt: skip
        scores = loaded.score_frames(short[2])
        np.testing.assert_array_equal(scores, fitted.score_frames(short[2]))
        assert np.ptp(scores) > 0  # not a constant
        assert loaded.encoder.fingerprint() == fitted.encoder.fingerprint()


def test_a_changed_weights_file_or_an_old_random_file_is_refused(demos, tmp_path):
    import torchvision

    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    short = [d[::4] for d in demos[:2]]
    fitted = PerceptualReward.fit(short, encoder=f"torchvision:resnet18:{weights}:32", n_steps=2, n_features=8)
    path = fitted.save(tmp_path / "file.pt")
    assert "encoder_weights" not in torch.load(path, weights_only=True)  # a file is named, not copied
    np.testing.assert_array_equal(PerceptualReward.load(path, device="cpu").score_frames(short[0]),
                                  fitted.score_frames(short[0]))  # fmt: skip
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # the file changed since the fit
    with pytest.raises(rl.ConfigError, match=r"was fitted with other weights for encoder 'torchvision:resnet18:"):
        build_reward({"term": "perceptual", "path": str(path), "device": "cpu"})
    old = torch.load(tmp_path / "file.pt", weights_only=True)  # as an older rewardlab wrote a random encoder
    old["encoder"] = "torchvision:resnet18:random:32"
    del old["encoder_fingerprint"]
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"saved without the weights of its random encoder .* fit it again"):
        PerceptualReward.load(tmp_path / "old.pt", device="cpu")
