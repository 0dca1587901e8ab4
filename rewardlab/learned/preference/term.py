"""The ``preference`` reward term: a reward model learned online from a teacher's preferences.

The loop of Christiano et al. (2017), with B-Pref's teachers and query selection:

1. every ``update(batch)`` (every ``update_every`` env steps of the wrapper) the
   term cuts segments of ``segment_length`` steps from the agent's latest
   rollouts (copies; see :class:`~rewardlab.learned.preference.segments.SegmentSampler`);
2. it pairs them into ``queries_per_update × candidates`` candidate pairs and picks
   ``queries_per_update`` of them (``uniform``, ensemble ``disagreement``, ``entropy``),
   while the total ``budget`` of queries lasts;
3. the teacher answers (an oracle from the true env reward of the segments, with
   B-Pref's noise models, or a person through clips and a prompt);
4. every member of the reward ensemble is retrained on all labels with the
   batched Bradley–Terry loss, and the output normaliser restarts from the new
   model's rewards on the latest batch.

With ``pretrain_steps = N`` (PEBBLE, Lee et al. 2021) the term first pays the
particle state-entropy reward of :mod:`~rewardlab.learned.preference.pebble` for
the first ``N`` env steps and asks nothing; at the first update at or past ``N``
it asks its first queries from the segments of that exploring policy and
switches to the learned reward.

``compute(batch)`` returns the normalised ensemble-mean reward from the fast
no-grad numpy path. With PPO the reward is the current model's at step time; with an
off-policy algorithm ``rewardlab train`` relabels the replay buffer after each update.
State (networks, optimiser, normaliser, labels, counters, random streams)
survives the run through ``state_dict``; a human teacher's answers also live in
an SQLite label store (``labels.sqlite`` in the run folder), so a labelling
session resumes after a stop or crash. The model learns from every answer in the
store: at its first update a term (new, or resumed from a checkpoint older than the
last answers) adds the stored answers it does not hold yet, and a pair the store
already answered is never asked again nor counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.learned.networks import NORMALIZATIONS, Normalization
from rewardlab.learned.preference.pebble import StateEntropy
from rewardlab.learned.preference.queries import SELECTIONS, select_queries
from rewardlab.learned.preference.segments import SegmentSampler
from rewardlab.learned.preference.store import LABEL_STORE_FILE, LabelStore
from rewardlab.learned.preference.teachers import Queries, Teacher, check_can_ask, make_teacher

UNLABELLED_PAIRS = 512  # SURF's pool per training call


class PreferenceReward(RewardTerm):
    """A reward learned from pairwise preferences of a teacher, online.

    Args:
        teacher: ``"oracle"``, ``"human"``, ``{oracle: {beta: ..., mistake: ...}}`` or a :class:`Teacher`.
        segment_length: steps per segment.
        queries_per_update: pairs asked at each update.
        budget: total pairs asked over the run (skipped ones count).
        selection: ``uniform``, ``disagreement`` or ``entropy``.
        candidates: candidate pairs per asked pair (for ``disagreement``/``entropy``).
        features, members, hidden, layers, lr, epochs, batch_size, bootstrap, early_stop, normalize:
            the reward model (see :class:`~rewardlab.learned.preference.model.PreferenceModel`).
        pseudo_labels, pseudo_threshold, pseudo_ratio, crop: SURF (Park et al. 2022): confident
            pseudo-labels on up to ``UNLABELLED_PAIRS`` unlabelled pairs cut from the latest rollouts, and
            temporal cropping (see :mod:`~rewardlab.learned.preference.surf`); off by default.
        pretrain_steps, pretrain_k, pretrain_buffer: PEBBLE's unsupervised pre-training (Lee et al. 2021):
            for the first ``pretrain_steps`` env steps (summed over envs; 0 = off, the default) the reward is
            ``log(1 + ‖s' − s'^(k)‖) / σ``, the distance of the reached observation to its ``pretrain_k``-th
            nearest among the last ``pretrain_buffer`` ones, over its running std (see
            :mod:`~rewardlab.learned.preference.pebble`); no query is asked before the switch to the
            learned reward. Flat (``Box``) observations only.
        store: label store path for a human teacher (default: ``labels.sqlite`` in the run folder).
        frame_size: ``(width, height)`` of the frames a human teacher sees.
        seed: networks, sampling and the oracle's noise.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> reward = rl.learned.PreferenceReward(teacher="oracle", budget=10, queries_per_update=5, segment_length=5)
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), reward, update_every=16)
        >>> _ = venv.reset()
        >>> for _ in range(32):
        ...     _ = venv.step(np.array([0, 1]))
        >>> reward.state_dict()["asked"] > 0        # it cut segments from the rollout and asked the oracle
        True
    """

    name = "preference"
    learns = True

    def __init__(
        self,
        *,
        teacher: Any = "oracle",
        segment_length: int = 25,
        queries_per_update: int = 10,
        budget: int = 200,
        selection: Literal["uniform", "disagreement", "entropy"] = "disagreement",
        candidates: int = 5,
        features: Sequence[str] = ("obs", "action"),
        members: int = 3,
        hidden: int = 64,
        layers: int = 2,
        lr: float = 1e-3,
        epochs: int = 20,
        batch_size: int = 64,
        bootstrap: bool = True,
        early_stop: bool = True,
        pseudo_labels: float = 0.0,
        pseudo_threshold: float = 0.99,
        pseudo_ratio: int = 4,
        crop: int = 0,
        pretrain_steps: int = 0,
        pretrain_k: int = 5,
        pretrain_buffer: int = 10_000,
        normalize: Normalization = "scale",
        store: str | None = None,
        frame_size: Sequence[int] = (160, 120),
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if selection not in SELECTIONS:
            raise ConfigError(f"unknown query selection {selection!r}; valid: {list(SELECTIONS)}")
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalize {normalize!r}; valid: {list(NORMALIZATIONS)}")
        for key, value in {"segment_length": segment_length, "queries_per_update": queries_per_update,
                           "candidates": candidates}.items():  # fmt: skip
            if value < 1:
                raise ConfigError(f"preference {key} must be >= 1, got {value}")
        if budget < 0:
            raise ConfigError(f"preference budget must be >= 0, got {budget}")
        if pretrain_steps < 0:
            raise ConfigError(f"preference pretrain_steps must be >= 0, got {pretrain_steps}")
        if pretrain_k < 1 or pretrain_buffer < pretrain_k:
            raise ConfigError(
                f"preference needs 1 <= pretrain_k <= pretrain_buffer, got pretrain_k={pretrain_k}, "
                f"pretrain_buffer={pretrain_buffer}"
            )
        self.teacher_spec = teacher
        self.segment_length, self.queries_per_update, self.budget = segment_length, queries_per_update, budget
        self.selection, self.candidates = selection, candidates
        self.model_options = dict(
            features=tuple(features), members=members, hidden=hidden, layers=layers, lr=lr, epochs=epochs,
            batch_size=batch_size, bootstrap=bootstrap, early_stop=early_stop, pseudo_labels=pseudo_labels,
            pseudo_threshold=pseudo_threshold, pseudo_ratio=pseudo_ratio, crop=crop, normalize=normalize, seed=seed,
        )  # fmt: skip
        self.store_path = store
        self.frame_size = tuple(int(v) for v in frame_size)
        self.seed = seed
        self.rng = np.random.default_rng(seed + 7)
        self.asked = 0
        self.updates = 0
        self.pretrain_steps, self.pretrain_k, self.pretrain_buffer = pretrain_steps, pretrain_k, pretrain_buffer
        self.env_steps = 0  # transitions seen by update() (steps × envs)
        self.entropy: StateEntropy | None = None
        self.model: Any = None
        self.sampler: SegmentSampler | None = None
        self.teacher: Teacher | None = teacher if isinstance(teacher, Teacher) else None
        self.label_keys: set[str] = set()  # label store keys of the answers the model holds
        self._synced = False  # stored answers added to the model in this session
        self._wants_frames = _is_human(teacher) or bool(getattr(teacher, "needs_frames", False))

    @property
    def needs_frames(self) -> bool:  # type: ignore[override]
        return self._wants_frames

    @property
    def frame_settings(self) -> Any:
        from rewardlab.wrappers.frames import FrameSettings

        return FrameSettings(width=self.frame_size[0], height=self.frame_size[1]) if self._wants_frames else None

    def bind(self, env: EnvInfo) -> None:
        from rewardlab.learned.preference.model import PreferenceModel

        super().bind(env)
        if self.model is None:
            self.model = PreferenceModel(env.observation_space, env.action_space, **self.model_options)
        self.sampler = SegmentSampler(length=self.segment_length, n_envs=env.n_envs)
        if self.pretrain_steps and self.entropy is None:
            space = env.observation_space
            if not isinstance(space, gym.spaces.Box):
                raise ConfigError(f"preference pretrain_steps needs a Box observation space, got {space}")
            self.entropy = StateEntropy(dim=int(np.prod(space.shape)), k=self.pretrain_k,
                                        capacity=self.pretrain_buffer)  # fmt: skip
        if self.teacher is None:
            store = None
            if _is_human(self.teacher_spec):
                path = self.store_path or (Path(env.run_dir) / LABEL_STORE_FILE if env.run_dir else None)
                if path is None:
                    raise ConfigError("a human teacher needs a label store: train in a run folder or give store=")
                store = LabelStore(path)
            self.teacher = make_teacher(self.teacher_spec, store=store, seed=self.seed + 11)

    def check_teacher(self) -> None:
        """Raise :class:`ConfigError` when the teacher cannot answer here (a ``human`` with no terminal)."""
        if self.teacher is None and _is_human(self.teacher_spec):
            check_can_ask(self.teacher_spec)

    def _store(self) -> Any:
        """The teacher's label store, if it has one."""
        return getattr(self.teacher, "store", None)

    def _sync_store(self) -> int:
        """Add the store's answers the model does not hold yet (given after the last checkpoint, or by an
        earlier start of the run); return how many labels were added."""
        self._synced = True
        store = self._store()
        if store is None:
            return 0
        keys, data = store.labelled(exclude=self.label_keys)
        if not keys or "inputs_1" not in data:
            return 0
        self.label_keys.update(keys)
        return self.model.add_labels(data["inputs_1"], data["mask_1"], data["inputs_2"], data["mask_2"],
                                     data["labels"])  # fmt: skip

    def _require_model(self) -> Any:
        if self.model is None:
            raise RuntimeError(f"reward term {self.name!r} is not bound to an env yet (bind(EnvInfo) first)")
        return self.model

    @property
    def pretraining(self) -> bool:
        """Whether the reward is still PEBBLE's state entropy (fewer than ``pretrain_steps`` env steps seen)."""
        return self.env_steps < self.pretrain_steps

    def compute(self, batch: Transitions) -> np.ndarray:
        model = self._require_model()
        if self.pretraining and self.entropy is not None:
            return self.entropy.reward(_flat(batch.next_obs))
        return model.reward(model.inputs(batch.obs, batch.action, batch.next_obs))

    def update(self, batch: Transitions) -> dict[str, float]:
        model = self._require_model()
        x = model.inputs(batch.obs, batch.action, batch.next_obs)
        self.sampler.add(x, batch.reward, batch.terminated, batch.truncated, batch.frames)
        self.updates += 1
        self.env_steps += len(batch.reward)
        metrics: dict[str, float] = {}
        if self.pretrain_steps:
            metrics["pretraining"] = float(self.pretraining)
            if self.pretraining and self.entropy is not None:  # explore; the first queries wait for the switch
                metrics["state_entropy"] = self.entropy.add(_flat(batch.next_obs))
                metrics["labels"] = float(model.n_labels)
                metrics["queries_asked"] = float(self.asked)
                return metrics
        kept = 0 if self._synced else self._sync_store()
        n_ask = min(self.queries_per_update, self.budget - self.asked)
        if n_ask > 0:
            queries = self._queries(n_ask)
            if queries is not None:
                store = self._store()
                if store is not None:
                    queries.keys = store.keys_for(queries)
                labels = self.teacher.answer(queries)
                self.asked += queries.n
                if store is not None:  # answers the model already holds (from the store) are not added twice
                    held = np.array([key in self.label_keys for key in queries.keys], dtype=bool)
                    self.label_keys.update(k for k, label in zip(queries.keys, labels) if not np.isnan(label))
                    labels = np.where(held, np.nan, labels)
                added = model.add_labels(queries.inputs_1, queries.mask_1, queries.inputs_2, queries.mask_2, labels)
                metrics["new_labels"] = float(added)
                kept += added
        if kept:
            metrics.update(model.train(unlabelled=self._unlabelled()))
        if "label_accuracy" not in metrics:
            metrics.update(model.evaluate())
        model.refresh_normalizer(x)
        metrics["labels"] = float(model.n_labels)
        metrics["queries_asked"] = float(self.asked)
        return metrics

    def _unlabelled(self) -> tuple[np.ndarray, ...] | None:
        """Unlabelled segment pairs of the latest rollouts for SURF's pseudo-labels (``None`` when off)."""
        if not self.model_options["pseudo_labels"]:
            return None
        seg = self.sampler.sample(2 * UNLABELLED_PAIRS, self.rng)
        if not seg or len(seg["mask"]) < 2:
            return None
        half = len(seg["mask"]) // 2
        x, mask = seg["inputs"], seg["mask"]
        return x[:half], mask[:half], x[half : 2 * half], mask[half : 2 * half]

    def _queries(self, n_ask: int) -> Queries | None:
        """Sample candidate pairs from the latest rollouts and select ``n_ask`` of them."""
        pool = n_ask if self.selection == "uniform" else n_ask * self.candidates
        seg = self.sampler.sample(2 * pool, self.rng)
        if not seg or len(seg["mask"]) < 2:
            return None
        half = len(seg["mask"]) // 2

        def side(k: int, name: str) -> np.ndarray | None:
            a = seg.get(name)
            return None if a is None else a[k * half : (k + 1) * half]

        candidates = Queries(
            side(0, "rewards"), side(1, "rewards"), side(0, "mask"), side(1, "mask"),
            side(0, "inputs"), side(1, "inputs"), side(0, "frames"), side(1, "frames"),
        )  # fmt: skip
        probs = self.model.preference_probabilities(
            candidates.inputs_1, candidates.mask_1, candidates.inputs_2, candidates.mask_2
        )
        chosen = select_queries(self.selection, probs, n_ask, self.rng)
        return candidates.take(chosen)

    def close(self) -> None:
        """Close a human teacher's label store (the wrappers' ``close()`` calls this)."""
        store = getattr(self.teacher, "store", None)
        if store is not None:
            store.close()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"asked": self.asked, "updates": self.updates, "rng": self.rng.bit_generator.state,
                                 "env_steps": self.env_steps}  # fmt: skip
        if self.entropy is not None and self.pretraining:  # after the switch the buffer is never read again
            state["state_entropy"] = self.entropy.state_dict()
        if self.model is not None:
            state["model"] = self.model.state_dict()
        if self.teacher is not None:
            state["teacher"] = self.teacher.state_dict()
        if self.sampler is not None:
            state["segments"] = self.sampler.state_dict()
        if self._store() is not None:
            state["label_keys"] = sorted(self.label_keys)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.asked, self.updates = int(state["asked"]), int(state["updates"])
        self.env_steps = int(state.get("env_steps", 0))
        if "state_entropy" in state and self.entropy is not None:
            self.entropy.load_state_dict(state["state_entropy"])
        self.rng.bit_generator.state = state["rng"]
        if "model" in state:
            self._require_model().load_state_dict(state["model"])
        if "teacher" in state and self.teacher is not None:
            self.teacher.load_state_dict(state["teacher"])
        if "segments" in state and self.sampler is not None:
            self.sampler.load_state_dict(state["segments"])
        self.label_keys = set(state.get("label_keys", ()))
        store = self._store()
        if "label_keys" not in state and store is not None and self.model is not None:
            # written before keys were saved: the model's labels are the store's first answers
            self.label_keys = set(store.labelled(exclude=())[0][: self.model.n_labels])
        self._synced = False

    def __repr__(self) -> str:
        return f"PreferenceReward(teacher={self.teacher_spec!r}, budget={self.budget})"


def _flat(obs: Any) -> np.ndarray:
    """Observations as rows ``(n, d)`` (PEBBLE's k-NN works on flat states)."""
    obs = np.asarray(obs)
    return obs.reshape(len(obs), -1)


def _is_human(spec: Any) -> bool:
    return spec == "human" or (isinstance(spec, dict) and "human" in spec)
