"""Frames for reward terms: rendered only when a term reads them, right at auto-reset, never in the observation."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.callbacks import find_engine
from rewardlab.core.transitions import Transitions
from rewardlab.train import RunConfig, build_run
from rewardlab.wrappers.frames import FRAME_KEY, FrameSettings, RenderFrames, frame_settings, render_kwargs


class PaintedChain(gym.Env):
    """Walk right to ``goal``; the frame is painted with the position (pixel value = 10·pos)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, goal: int = 3, render_mode: str | None = "rgb_array") -> None:
        self.goal, self.render_mode, self.pos, self.renders = goal, render_mode, 0, 0
        self.observation_space = gym.spaces.Box(-100.0, 100.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.pos += 1
        return np.array([self.pos], dtype=np.float32), 0.0, self.pos >= self.goal, False, {}

    def render(self):
        self.renders += 1
        return np.full((6, 8, 3), 10 * self.pos, dtype=np.uint8)


def brightness(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).mean(axis=1)


def test_transitions_carry_frames_through_indexing_and_concatenation(batch):
    frames = np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3)
    with_frames = Transitions.from_arrays(batch.obs, batch.action, batch.next_obs, frames=frames)
    np.testing.assert_array_equal(with_frames[[2, 0]].frames, frames[[2, 0]])
    both = Transitions.concatenate([with_frames, with_frames[:1]])
    assert both.frames.shape == (5, 2, 2, 3)
    assert Transitions.concatenate([with_frames, batch]).frames is None  # not every batch has frames
    assert batch[[0]].frames is None


def test_needs_frames_propagates_through_sums_and_transforms():
    reads = rl.function(lambda frames: brightness(frames))
    assert reads.needs_frames and not rl.extrinsic().needs_frames
    assert (rl.extrinsic() + 0.5 * reads).needs_frames
    assert rl.transforms.clip(reads, -1, 1).needs_frames
    assert not (rl.extrinsic() + rl.constant(1.0)).needs_frames
    assert rl.function(lambda frame: frame.mean(), vectorized=False).needs_frames
    assert frame_settings(rl.extrinsic()) is None
    assert frame_settings(reads) == FrameSettings()


def test_conflicting_frame_settings_are_an_error():
    a, b = rl.function(lambda frames: brightness(frames)), rl.function(lambda frames: brightness(frames))
    a.frame_settings, b.frame_settings = FrameSettings(64, 64), FrameSettings(32, 32)
    with pytest.raises(ValueError, match="different frame settings"):
        frame_settings(a + b)


def test_terminal_frame_is_the_last_state_not_the_next_episode():
    envs = [PaintedChain(goal=3), PaintedChain(goal=2)]
    venv = DummyVecEnv([lambda e=e: RenderFrames(e) for e in envs])
    seen = []
    term = rl.function(lambda frames: (seen.append(frames.copy()), brightness(frames))[1])
    venv = rl.RewardVecWrapper(venv, term)
    venv.reset()
    rewards, dones = [], []
    for _ in range(3):
        _, r, d, infos = venv.step(np.ones(2, dtype=np.int64))
        rewards.append(r)
        dones.append(d)
        assert all(FRAME_KEY not in info for info in infos)  # popped: frames do not travel on in infos
    # env 1 ends at step 2 (pos 2) and restarts: its frames read 10, 20, then 10 again
    np.testing.assert_array_equal(np.array(rewards)[:, 1], [10, 20, 10])
    np.testing.assert_array_equal(np.array(rewards)[:, 0], [10, 20, 30])
    assert dones[1][1] and dones[2][0]
    assert seen[0].shape == (2, 6, 8, 3) and seen[0].dtype == np.uint8


def test_nothing_renders_when_no_term_reads_frames():
    env = PaintedChain()
    venv = rl.RewardVecWrapper(DummyVecEnv([lambda: env]), rl.extrinsic())
    venv.reset()
    for _ in range(4):
        venv.step(np.ones(1, dtype=np.int64))
    assert env.renders == 0


def test_missing_frames_is_a_clear_error():
    term = rl.function(lambda frames: brightness(frames))
    with pytest.raises(ValueError, match="make_vec_env.*frames="):
        rl.RewardVecWrapper(DummyVecEnv([lambda: PaintedChain()]), term)
    with pytest.raises(ValueError, match="needs rendered frames"):
        rl.RewardWrapper(PaintedChain(), term)


def test_single_env_wrapper_passes_frames():
    env = rl.RewardWrapper(RenderFrames(PaintedChain(goal=5)), rl.function(lambda frames: brightness(frames)))
    env.reset(seed=0)
    assert [env.step(1)[1] for _ in range(3)] == [10.0, 20.0, 30.0]


def test_frames_resized_to_the_requested_size():
    env = RenderFrames(PaintedChain(), width=4, height=5)
    env.reset()
    frame = env.step(1)[4][FRAME_KEY]
    assert frame.shape == (5, 4, 3) and frame.dtype == np.uint8 and int(frame.mean()) == 10


def count_renders(monkeypatch, cls):
    calls = {"n": 0}
    original = cls.render

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "render", counted)
    return calls


@pytest.mark.parametrize(
    ("env_id", "settings"),
    [
        ("Hopper-v5", FrameSettings(48, 40, camera_config={"distance": 3.0, "elevation": -20.0, "lookat": [0, 0, 1]})),
        ("MountainCar-v0", FrameSettings(60, 40)),
    ],
    ids=["mujoco", "classic_control"],
)
def test_train_renders_for_frame_terms_only(monkeypatch, env_id, settings):
    from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
    from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

    calls = count_renders(monkeypatch, MujocoRenderer if env_id == "Hopper-v5" else MountainCarEnv)
    shapes = []

    def mean_pixel(frames):
        shapes.append(frames.shape)
        return brightness(frames) / 255.0

    term = rl.function(mean_pixel)
    term.frame_settings = settings
    for reward, expect_frames in ((rl.extrinsic(), False), (rl.extrinsic() + term, True)):
        calls["n"] = 0
        config = RunConfig(env=env_id, reward=reward, n_envs=2, hyperparams={"n_steps": 8, "batch_size": 16})
        model, venv, _ = build_run(config)
        plain = rl.make_vec_env(env_id, 2)
        assert venv.observation_space == plain.observation_space  # the policy never sees pixels
        venv.reset()
        for _ in range(3):
            venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
        assert (calls["n"] > 0) == expect_frames
        if expect_frames:
            assert shapes[-1] == (2, settings.height, settings.width, 3)
            engine = find_engine(venv)  # training wraps with step_info=False: the values are the engine's arrays
            assert 0.0 < engine.last_values[engine.names.index("mean_pixel"), 0] < 1.0
        venv.close()
        plain.close()


def test_camera_settings_only_for_mujoco():
    assert render_kwargs("Hopper-v5", FrameSettings(camera_name="track"))["camera_name"] == "track"
    assert render_kwargs("CartPole-v1", FrameSettings()) == {"render_mode": "rgb_array"}
    with pytest.raises(ValueError, match="not a MuJoCo env"):
        render_kwargs("CartPole-v1", FrameSettings(camera_id=0))


def test_frame_settings_from_config_names_bad_keys():
    assert FrameSettings.from_config({"width": 64, "height": 48}) == FrameSettings(64, 48)
    with pytest.raises(rl.ConfigError, match="unknown frame setting 'widht'.*did you mean 'width'"):
        FrameSettings.from_config({"widht": 64})


def test_mujoco_frames_survive_another_env_being_freed():
    import gc

    from rewardlab.wrappers.frames import make_env_with_frames

    settings = FrameSettings(32, 32, shadows=False, reflections=False)
    a, b = make_env_with_frames("Hopper-v5", settings), make_env_with_frames("Hopper-v5", settings)
    a.reset(seed=0)
    b.reset(seed=0)
    del b
    gc.collect()  # gymnasium's renderer releases the current OpenGL context when freed
    frame = a.step(a.action_space.sample())[4][FRAME_KEY]
    assert frame.mean() > 10  # not a black frame
    a.close()


def test_learners_do_not_buffer_frames_they_do_not_read():
    class Learner(rl.RewardTerm):
        learns = True
        name = "learner"

        def __init__(self):
            super().__init__()
            self.seen = []

        def compute(self, batch):
            return np.zeros(batch.n)

        def update(self, batch):
            self.seen.append(batch.frames)
            return {}

    learner = Learner()
    reward = learner + rl.function(lambda frames: brightness(frames))
    venv = rl.RewardVecWrapper(DummyVecEnv([lambda: RenderFrames(PaintedChain(goal=50))]), reward, update_every=2)
    venv.reset()
    for _ in range(4):
        venv.step(np.ones(1, dtype=np.int64))
    assert len(learner.seen) == 2 and all(f is None for f in learner.seen)


RENDERS = {
    "RenderFrames": (
        "from rewardlab.wrappers.frames import FrameSettings, make_env_with_frames\n"
        "env = make_env_with_frames('Hopper-v5', FrameSettings(16, 16, shadows=False, reflections=False))\n"
        "env.reset(seed=0)\n"
        "assert env.step(env.action_space.sample())[4]['rewardlab_frame'].shape == (16, 16, 3)\n"
    ),
    "make_env": (  # what evaluation videos and codegen's GIFs render through
        "from rewardlab.envs import make_env\n"
        "env = make_env('Hopper-v5', render_mode='rgb_array', width=16, height=16)\n"
        "env.reset(seed=0)\n"
        "assert env.render().shape == (16, 16, 3)\n"
    ),
}


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
@pytest.mark.parametrize("render", list(RENDERS))
def test_torch_may_import_triton_after_mujoco_rendered_a_frame(render):
    """Mesa's LLVM (EGL on a CPU) and triton's crash a process that loads triton second; torch imports triton
    lazily (a policy's first optimiser step), so rewardlab loads it before MuJoCo renders."""
    script = RENDERS[render] + "import triton\nprint('both loaded')\n"
    env = {**os.environ, "MUJOCO_GL": "egl"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "both loaded" in done.stdout
