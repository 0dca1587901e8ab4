"""Reward state survives the run folder: every stateful term gives identical values after save → fresh → load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rewardlab as rl
from rewardlab.config.reward_config import build_reward
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.runs import RewardStateError, load_reward_state, read_reward_state, save_reward_state

GRID = {"grid": {"dims": ["position", "velocity"], "cell": [0.1, 0.01]}}
#: every term that keeps state today, alone or nested the ways configs nest them
STATEFUL = {
    "count_global": {"term": "count", "key": GRID},
    "count_episodic": {"term": "count", "key": GRID, "mode": "episodic"},
    "count_product": {"term": "count", "key": GRID, "mode": "product"},
    "count_sum_normalized": {"term": "count", "key": {"name": "simhash", "bits": 8}, "mode": "sum", "normalize": "std"},
    "rnd": {"term": "rnd", "embed_dim": 8, "hidden": 16},
    "rnd_ngu_scale": {"term": "rnd", "embed_dim": 8, "hidden": 16, "scale": "ngu", "clip": 3.0},
    "e3b": {"term": "e3b", "embed_dim": 8, "hidden": 16, "normalize": "center"},
    "noveld": {"term": "noveld", "key": GRID},
    "ngu_episodic": {"term": "ngu_episodic", "k": 3},
    "ngu_episodic_inverse_dynamics": {"term": "ngu_episodic", "k": 3, "embedding": "inverse_dynamics", "embed_dim": 8},
    "ngu": {"term": "ngu"},
    "normalize": {"term": "normalize", "of": {"term": "count", "key": GRID}, "center": True},
    "par_running": {"term": "par", "of": {"term": "count", "key": GRID}},
    "log_sigmoid_running": {"term": "log_sigmoid", "of": {"term": "count", "key": GRID}, "ref": "running"},
    "krc": {"term": "krc", "of": [{"term": "count", "key": GRID}, {"term": "rnd", "embed_dim": 8}]},
    "product": {"term": "product", "of": [{"term": "count", "key": GRID, "mode": "episodic"}, "rnd"]},
}


def _env_info():
    from rewardlab.envs import make_env

    from rewardlab.core.env_info import EnvInfo

    env = make_env("MountainCar-v0")
    info = EnvInfo.from_env(env, n_envs=4)
    env.close()
    return info


def _trained(spec) -> RewardTerm:
    """The reward after 300 random steps in 4 MountainCar envs (learners update every 32 steps)."""
    reward = build_reward(["extrinsic", spec])
    venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", 4, seed=0), reward, update_every=32)
    venv.action_space.seed(0)
    venv.reset()
    for _ in range(300):
        venv.step(np.array([venv.action_space.sample() for _ in range(4)]))
    venv.close()
    return reward


def _fixed_batches() -> list[Transitions]:
    rng = np.random.default_rng(1)
    batches = []
    obs = np.column_stack([rng.uniform(-0.6, -0.4, 4), rng.uniform(-0.01, 0.01, 4)]).astype(np.float32)
    for _ in range(3):  # around the start, where random steps went
        nxt = (obs + rng.normal(0, [0.02, 0.002], obs.shape)).astype(np.float32)
        batches.append(
            Transitions.from_arrays(
                obs=obs, action=rng.integers(0, 3, 4), next_obs=nxt, reward=-np.ones(4),
                terminated=np.zeros(4, bool), truncated=np.zeros(4, bool),
            )
        )
        obs = nxt
    return batches


def _values(reward: RewardTerm) -> np.ndarray:
    """Components on three consecutive fixed batches, frozen, from fresh episodes."""
    reward.train(False)
    reward.reset(np.arange(4))
    return np.concatenate([np.stack(list(reward.components(b).values())) for b in _fixed_batches()], axis=1)


@pytest.mark.parametrize("name", list(STATEFUL))
def test_stateful_term_is_identical_after_save_and_load(name, tmp_path):
    spec = STATEFUL[name]
    trained = _trained(spec)
    path = save_reward_state(trained, tmp_path / "reward_state.pt", spec=["extrinsic", spec], step=1200)
    fresh = build_reward(["extrinsic", spec])
    fresh.bind(_env_info())
    untrained = _values(fresh)
    load_reward_state(fresh, path)
    expected = _values(trained)
    np.testing.assert_array_equal(_values(fresh), expected)
    if name != "count_episodic":  # episodic counts start empty every episode: nothing to keep
        assert not np.allclose(untrained, expected), "training left no state: the test could not catch a lost one"
    payload = read_reward_state(path)
    assert payload["step"] == 1200 and payload["spec"] == ["extrinsic", spec]


def test_a_state_for_another_reward_is_refused_in_one_line(tmp_path):
    path = save_reward_state(_trained(STATEFUL["count_global"]), tmp_path / "reward_state.pt")
    other = build_reward(["extrinsic", STATEFUL["rnd"]])
    with pytest.raises(RewardStateError, match=r"saved for another reward: it has sum/count \(CountBonus\) where"):
        load_reward_state(other, path)
    renamed = build_reward(["extrinsic", {**STATEFUL["count_global"], "name": "explore"}])
    with pytest.raises(RewardStateError, match="sum/explore"):
        load_reward_state(renamed, path)


def test_a_damaged_or_newer_file_is_refused_not_half_loaded(tmp_path):
    reward = _trained(STATEFUL["rnd"])
    path = save_reward_state(reward, tmp_path / "reward_state.pt")
    payload = torch.load(path, weights_only=False)

    newer = tmp_path / "newer.pt"
    torch.save({**payload, "version": 99}, newer)
    with pytest.raises(RewardStateError, match="format 99; this rewardlab reads up to 1"):
        load_reward_state(build_reward(["extrinsic", STATEFUL["rnd"]]), newer)

    damaged = tmp_path / "damaged.pt"
    state = payload["state"]
    del state["rnd"]["nets"]["predictor.0.weight"]
    torch.save(payload, damaged)
    fresh = build_reward(["extrinsic", STATEFUL["rnd"]])
    with pytest.raises(RewardStateError, match="does not fit the reward.*predictor.0.weight"):
        load_reward_state(fresh, damaged)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RewardStateError, match="cannot read reward state"):
        load_reward_state(fresh, tmp_path / "junk.pt")


class _Opaque(RewardTerm):
    """A term whose state holds an object a safe load cannot rebuild."""

    def compute(self, batch):
        return np.zeros(batch.n)

    def state_dict(self):
        return {"table": object()}


def test_state_must_be_arrays_tensors_and_plain_values(tmp_path):
    with pytest.raises(RewardStateError, match="sum/term/table holds a object"):
        save_reward_state(rl.extrinsic() + _Opaque(), tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()


def test_reward_state_files_load_without_running_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "rewardlab.reward_state", "version": 1, "components": [], "state": Evil()}, path)
    with pytest.raises(RewardStateError, match="cannot read reward state"):
        read_reward_state(path)
