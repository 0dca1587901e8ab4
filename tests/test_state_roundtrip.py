"""Every saved reward loads to the same reward: train a short run, load its folder, score the same transitions.

One short training run per term family that keeps state (or needs more than its
spec to be rebuilt: a random encoder, a program in a store). The reward the run
trained (taken from the env at the end of training) and the reward
:func:`rewardlab.load_run` rebuilds from the folder must give identical scores
on the same fixed transitions. And the run's ``seed`` reaches every term that
takes one.
"""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

import rewardlab as rl
from rewardlab.config.reward_config import build_reward
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.train import RunConfig, train

GRID = {"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}}
MC = "MountainCar-v0"
FRAMES = {"width": 32, "height": 32}
PPO_TINY = {"n_steps": 32, "batch_size": 64, "n_epochs": 1}
N = 2  # envs the probe batches have (as many as the runs train with)


class _KeepReward(BaseCallback):
    """Hold on to the reward the run trained, as it is when training ends."""

    reward: RewardTerm | None = None

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        from rewardlab.runs.checkpoint import find_reward

        self.reward = find_reward(self.training_env)


def _run(tmp_path, env: str, spec, *, steps: int = 256, seed: int = 3) -> tuple[RewardTerm, RewardTerm]:
    """(the reward as trained, the reward loaded from the run folder), both bound to ``N`` envs, frozen."""
    keep = _KeepReward()
    config = RunConfig(env=env, reward=spec, steps=steps, n_envs=2, hyperparams=PPO_TINY, eval_episodes=1, seed=seed)
    train(config, tmp_path / "run", progress_bar=False, checkpoint_every=0, callback=keep)
    loaded = rl.load_run(tmp_path / "run", model=False).reward
    info = _probe_info(env)
    for reward in (keep.reward, loaded):
        reward.bind(info)  # as run.make_env does: learned state is kept, per-env state sized for N envs
        reward.train(False)
    return keep.reward, loaded


def _probe_info(env_id: str) -> EnvInfo:
    from rewardlab.envs import make_env

    env = make_env(env_id)
    info = EnvInfo.from_env(env, n_envs=N)
    env.close()
    return info


def _scores(reward: RewardTerm, batches: list[Transitions]) -> np.ndarray:
    reward.reset(np.arange(N))
    return np.concatenate([np.stack(list(reward.components(b).values())) for b in batches], axis=1)


def _mountaincar_batches(frames: bool = False) -> list[Transitions]:
    """Three consecutive transitions of ``N`` MountainCar envs around the start (frames rendered when asked)."""
    from rewardlab.envs import make_env

    from rewardlab.wrappers.frames import FRAME_KEY, make_env_with_frames

    rng = np.random.default_rng(1)
    envs = [make_env_with_frames(MC, rl.FrameSettings(**FRAMES)) if frames else make_env(MC) for _ in range(N)]
    obs = np.stack([e.reset(seed=i)[0] for i, e in enumerate(envs)])
    batches = []
    for _ in range(3):
        actions = rng.integers(0, 3, N)
        steps = [e.step(int(a)) for e, a in zip(envs, actions)]
        nxt = np.stack([s[0] for s in steps])
        extra = {"frames": np.stack([s[4][FRAME_KEY] for s in steps])} if frames else {}
        batches.append(Transitions.from_arrays(obs, actions, nxt, reward=-np.ones(N), **extra))
        obs = nxt
    for e in envs:
        e.close()
    return batches


def _scores_by_component(reward: RewardTerm, batches: list[Transitions]) -> dict[str, np.ndarray]:
    reward.reset(np.arange(N))
    rows = [reward.components(b) for b in batches]
    return {name: np.concatenate([r[name] for r in rows]) for name in rows[0]}


def _check(trained: RewardTerm, loaded: RewardTerm, batches: list[Transitions], spec) -> np.ndarray:
    expected = _scores(trained, batches)
    np.testing.assert_array_equal(_scores(loaded, batches), expected)
    return expected


#: one MountainCar run trains all of these side by side (one run, not one per family: the suite stays fast)
LEARNERS = {
    "counts": {"term": "count", "key": GRID},
    "rnd": {"term": "rnd", "embed_dim": 8, "hidden": 16},
    "e3b": {"term": "e3b", "embed_dim": 8, "hidden": 16},
    "ngu": {"term": "ngu"},
    "noveld": {"term": "noveld", "key": GRID},
    "novelty_archive": {"term": "novelty", "k": 3, "threshold": 0.001},
    "preference_ensemble": {"term": "preference", "teacher": "oracle", "budget": 12, "queries_per_update": 4,
                            "segment_length": 8, "members": 2, "hidden": 16, "epochs": 2},
    "preference_pebble": {"term": "preference", "teacher": "oracle", "budget": 12, "queries_per_update": 4,
                          "segment_length": 8, "members": 2, "hidden": 16, "pretrain_steps": 10**5},  # no switch
}  # fmt: skip
GENERATED = (
    "import numpy as np\n"
    "def compute_reward(obs, next_obs):\n"
    "    return {'height': np.sin(3 * next_obs[:, 0]), 'speed': 10 * np.abs(next_obs[:, 1] - obs[:, 1])}\n"
)


def _train_and_score(tmp_path, spec, *, steps: int) -> tuple[dict[str, np.ndarray], ...]:
    """(trained, loaded, untrained) scores by component on the same MountainCar transitions."""
    trained, loaded = _run(tmp_path, MC, spec, steps=steps)
    fresh = build_reward(spec, seed=3)
    fresh.bind(_probe_info(MC))
    fresh.train(False)
    batches = _mountaincar_batches(frames=True)
    out = tuple(_scores_by_component(r, batches) for r in (trained, loaded, fresh))
    for reward in (trained, loaded, fresh):
        reward.close()
    return out


@pytest.fixture(scope="module")
def learners_run(tmp_path_factory):
    """Every learning MountainCar family, trained side by side in one run (one run, not one per family)."""
    spec = ["extrinsic", *({**s, "name": family} for family, s in LEARNERS.items())]
    return _train_and_score(tmp_path_factory.mktemp("learners"), spec, steps=256)


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory):
    """The terms that need more than their spec to be rebuilt: random networks, a program in a store."""
    from tiny_clip import TINY_CLIP, register_tiny_clip

    from rewardlab.codegen import GenerationStore, make_program
    from rewardlab.perceptual import PerceptualReward

    tmp_path = tmp_path_factory.mktemp("pixels")
    register_tiny_clip()
    frames = np.concatenate([b.frames for b in _mountaincar_batches(frames=True)])
    demos = [frames[i::N] for i in range(N)]
    perceptual = PerceptualReward.fit(demos, encoder="torchvision:resnet18:random:32", n_steps=2, n_features=8)
    store = GenerationStore(tmp_path / "store")
    program_id = store.put_program(make_program(GENERATED, MC, task="reach the flag"))
    spec = [
        {"term": "clip_reward", "name": "clip", "model": TINY_CLIP, "pretrained": "random",
         "goal": "a car on top of a hill", "baseline": "a car", "device": "cpu", "render": FRAMES},
        {"term": "perceptual", "name": "perceptual", "path": str(perceptual.save(tmp_path / "perceptual.pt")),
         "device": "cpu", "render": FRAMES},
        {"term": "generated", "id": program_id, "store": str(store.root)},
    ]  # fmt: skip
    return _train_and_score(tmp_path, spec, steps=64)


@pytest.mark.parametrize("family", [*LEARNERS, "clip", "perceptual", "generated"])
def test_every_family_loads_from_the_run_folder_to_the_same_scores(request, family):
    """Regressions: a random perceptual encoder (a constant 0.5714 after loading) and random CLIP weights
    were drawn anew when the run folder loaded."""
    trained, loaded, fresh = request.getfixturevalue("learners_run" if family in LEARNERS else "pixels_run")
    names = [n for n in trained if n == family or n.startswith(f"{family}/")]
    assert names, sorted(trained)
    for name in names:
        np.testing.assert_array_equal(loaded[name], trained[name], err_msg=name)
    if family in LEARNERS:  # the state mattered: an untrained copy scores otherwise
        assert any(not np.array_equal(fresh[n], trained[n]) for n in names), f"{family}: training left no state"
    else:  # a constant would hide a lost network
        assert all(np.ptp(trained[n]) > 0 for n in names), family


def test_the_adversarial_discriminator_loads_to_the_same_scores(tmp_path):
    from test_learned_adversarial import demos_for

    demos = demos_for("CartPole-v1").save(tmp_path / "demos.npz")
    spec = {"term": "adversarial", "demos": str(demos), "hidden": 16, "batch_size": 32}
    trained, loaded = _run(tmp_path, "CartPole-v1", spec)
    rng = np.random.default_rng(0)
    batches = [
        Transitions.from_arrays(rng.normal(0, 0.3, (N, 4)).astype(np.float32), rng.integers(0, 2, N),
                                rng.normal(0, 0.3, (N, 4)).astype(np.float32), reward=np.ones(N))
        for _ in range(3)
    ]  # fmt: skip
    _check(trained, loaded, batches, spec)


def test_the_oni_model_loads_to_the_same_scores(tmp_path):
    pytest.importorskip("minihack")
    from oni_helpers import MESSAGES, message_batch

    spec = {"term": "oni", "model": "classification", "background": False, "annotator": {"kind": "rules"}}
    trained, loaded = _run(tmp_path, "MiniHack-Room-Random-5x5-v0", spec)
    batches = [message_batch(MESSAGES[i : i + N]) for i in (0, 3, 6)]
    _check(trained, loaded, batches, spec)


# -- the run's seed reaches every term that has one ---------------------------------------------
def _seeds(reward: RewardTerm) -> list[int]:
    return [leaf.seed for leaf in reward.leaves() if hasattr(leaf, "seed")]


def test_the_run_seed_reaches_every_term_with_a_seed_unless_the_spec_sets_one(monkeypatch):
    from rewardlab.config.registry import TERMS

    seeded = [e.name for e in TERMS.entries() if "seed" in e.params]
    assert {"preference", "rnd", "e3b", "noveld", "novelty", "adversarial", "oni"} <= set(seeded)
    calls: list[tuple[str, object]] = []
    build = TERMS.build
    monkeypatch.setattr(TERMS, "build", lambda name, params, where="": calls.append((name, params.get("seed")))
                        or build(name, params, where))  # fmt: skip
    for name in ("preference", "rnd", "e3b", "noveld", "novelty"):
        calls.clear()
        build_reward({"term": name}, seed=7)
        build_reward({"term": name, "seed": 2}, seed=7)  # the user's choice stands
        build_reward({"term": name})
        build_reward(name, seed=7)
        assert calls == [(name, 7), (name, 2), (name, None), (name, 7)], calls
    calls.clear()
    build_reward({"term": "normalize", "of": [{"term": "rnd"}, "extrinsic", {"term": "e3b"}]}, seed=9)  # nested
    assert calls == [("normalize", None), ("rnd", 9), ("extrinsic", None), ("e3b", 9)], calls
    assert _seeds(build_reward(["extrinsic", {"term": "preference"}], seed=4)) == [4]
    assert _seeds(build_reward(["extrinsic", {"term": "preference"}])) == [0]  # nothing leaks between builds


def test_rewardlab_train_seed_reaches_the_preference_term(tmp_path):
    """Regression: the preference term kept its default seed 0 whatever the run's seed."""
    spec = ["extrinsic", {"term": "preference", "teacher": "oracle", "budget": 4, "queries_per_update": 2,
                          "segment_length": 8, "members": 1, "hidden": 8, "epochs": 1}]  # fmt: skip
    keep = _KeepReward()
    config = RunConfig(env=MC, reward=spec, steps=64, n_envs=2, hyperparams={"n_steps": 32, "batch_size": 64,
                       "n_epochs": 1}, eval_episodes=1, seed=5)  # fmt: skip
    train(config, tmp_path / "run", progress_bar=False, checkpoint_every=0, callback=keep)
    assert _seeds(keep.reward) == [5]
    assert _seeds(rl.load_run(tmp_path / "run", model=False).reward) == [5]


@pytest.mark.parametrize("spec", [{"term": "e3b", "embed_dim": 8, "hidden": 16}, {"term": "ngu_episodic", "k": 3}],
                         ids=["e3b", "ngu_episodic"])  # fmt: skip
def test_a_trained_episodic_term_runs_in_more_envs_than_it_trained_in(spec):
    """Regression: the per-env state kept its training size and the first episode end in env 2 raised IndexError
    (``run.make_env(4)`` for a run trained with 2 envs)."""
    import copy

    reward = build_reward(["extrinsic", spec])
    venv = rl.RewardVecWrapper(rl.make_vec_env(MC, 2, seed=0), reward)
    venv.reset()
    for _ in range(5):
        venv.step(np.array([0, 1]))
    venv.close()
    wider = rl.RewardVecWrapper(rl.make_vec_env(MC, 4, seed=0), copy.deepcopy(reward).train(False))
    wider.reset()
    for _ in range(201):  # past the first episode ends (200 steps)
        _, r, _, _ = wider.step(np.array([0, 1, 2, 0]))
    assert r.shape == (4,) and np.isfinite(r).all()
    wider.close()
