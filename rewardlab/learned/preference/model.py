"""A reward model learned from preferences: an ensemble, its labels, and Bradley–Terry training.

:class:`PreferenceModel` keeps every labelled pair (network inputs and masks of
both segments, the label) and retrains all members on all of them with the
batched Bradley–Terry loss (:mod:`~rewardlab.learned.preference.bradley_terry`).
Each member sees its own bootstrap resample of the labels (``bootstrap=True``),
drawn anew at every training call, so members disagree where labels are thin.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.config.registry import ConfigError
from rewardlab.learned.networks import Normalization, PredictionNormalizer, RewardEnsemble, upgrade_member_keys
from rewardlab.learned.preference.bradley_terry import bradley_terry_loss, preference_accuracy, segment_returns
from rewardlab.learned.preference.surf import pseudo_label_loss, temporal_crop

_LABEL_KEYS = ("inputs_1", "mask_1", "inputs_2", "mask_2", "labels")
EARLY_STOP_TOL = 0.01  # an epoch "improves" when its mean loss falls by 1 % of the best so far
PATIENCE = 2  # epochs without improvement before training stops
TORCH_ROWS = 2048  # segment steps above which segment_returns uses torch (see there)


class PreferenceModel:
    """Reward ensemble + labelled pairs + training.

    Args:
        observation_space, action_space: the env's spaces.
        features, members, hidden, layers: the networks (see :class:`~rewardlab.learned.networks.RewardEnsemble`).
        lr: Adam learning rate.
        epochs: passes over all labels per :meth:`train` call (at most, with ``early_stop``).
        batch_size: pairs per gradient step.
        bootstrap: train each member on its own bootstrap resample of the labels.
        early_stop: stop a :meth:`train` call once the loss stops falling (see there).
        pseudo_labels: SURF's weight ``λ`` of the loss on confident pseudo-labels of unlabelled pairs
            (0: off; see :mod:`~rewardlab.learned.preference.surf`).
        pseudo_threshold: SURF's confidence ``τ``.
        pseudo_ratio: unlabelled pairs per labelled pair in a gradient step.
        crop: SURF's temporal cropping: segments of a labelled pair cut by up to ``crop`` steps (0: off).
        normalize: output normalisation (``scale``, ``center``, ``none``).
        seed: initialisation and resampling.

    Examples:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from rewardlab.learned import PreferenceModel
        >>> env = gym.make("CartPole-v1")
        >>> model = PreferenceModel(env.observation_space, env.action_space, members=2, hidden=8, epochs=5)
        >>> rng = np.random.default_rng(0)
        >>> seg_1, seg_2 = rng.normal(size=(2, 8, 3, model.ensemble.in_dim))   # 8 pairs of 3-step segments
        >>> mask = np.ones((8, 3))
        >>> labels = (seg_1[..., 0].sum(1) > seg_2[..., 0].sum(1)).astype(float)   # 1: the first is preferred
        >>> model.add_labels(seg_1, mask, seg_2, mask, labels)
        8
        >>> sorted(model.train())
        ['bt_epochs', 'bt_loss', 'label_accuracy', 'label_loss']
        >>> model.reward(seg_1[:, 0]).shape                     # normalised mean reward per input row
        (8,)
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
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
        normalize: Normalization = "scale",
        seed: int = 0,
    ) -> None:
        if epochs < 1 or batch_size < 1 or not lr > 0:
            raise ConfigError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
        self.ensemble = RewardEnsemble(
            observation_space, action_space, features=features, members=members, hidden=hidden, layers=layers,
            seed=seed,
        )  # fmt: skip
        self.optimizer = torch.optim.Adam(self.ensemble.parameters(), lr=lr)
        self.normalizer = PredictionNormalizer(normalize)
        self.epochs, self.batch_size, self.bootstrap, self.early_stop = epochs, batch_size, bootstrap, early_stop
        if pseudo_labels < 0 or not 0.5 <= pseudo_threshold < 1 or pseudo_ratio < 1 or crop < 0:
            raise ConfigError(
                f"pseudo_labels must be >= 0, pseudo_threshold in [0.5, 1), pseudo_ratio >= 1 and crop >= 0, got "
                f"{pseudo_labels}, {pseudo_threshold}, {pseudo_ratio}, {crop}"
            )
        self.pseudo_labels, self.pseudo_threshold = float(pseudo_labels), float(pseudo_threshold)
        self.pseudo_ratio, self.crop = int(pseudo_ratio), int(crop)
        self.epochs_run = 0
        self._tensors: dict[str, torch.Tensor] | None = None
        self._evaluation: dict[str, float] | None = None  # evaluate()'s answer until the model or labels change
        self.rng = np.random.default_rng(seed)
        self.labels: dict[str, np.ndarray] = {}
        self.fast = self.ensemble.numpy_path()

    # -- evaluation -----------------------------------------------------------
    def inputs(self, obs: Any, action: Any, next_obs: Any) -> np.ndarray:
        """Network input rows ``(n, D)`` of a batch of transitions."""
        return self.ensemble.inputs(obs, action, next_obs)

    def member_rewards(self, x: np.ndarray) -> np.ndarray:
        """Every member's raw reward ``(members, n)`` of input rows ``x`` (fast no-grad path)."""
        return self.fast(x)

    def raw_reward(self, x: np.ndarray) -> np.ndarray:
        """Mean over members of the raw reward, ``(n,)``."""
        return self.fast(x).mean(axis=0)

    def reward(self, x: np.ndarray) -> np.ndarray:
        """The normalised mean reward ``(n,)`` (what the agent receives)."""
        return self.normalizer(self.raw_reward(x))

    def refresh_normalizer(self, x: np.ndarray) -> None:
        """Restart the output statistics from the current model's rewards on ``x``."""
        self.normalizer.reset()
        self.normalizer.update(self.raw_reward(x))

    def segment_returns(self, inputs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Every member's predicted return ``(members, m)`` of segments ``inputs (m, H, D)``.

        Up to ``TORCH_ROWS`` steps in all go through the numpy path (float64, no torch overhead); more (the
        candidate pairs of a query round, all labels for :meth:`evaluate`) through the network under
        ``no_grad`` (float32 batched matmuls, about 3× faster there; the returns agree to ~1e-6).
        """
        m, h, d = inputs.shape
        if m * h > TORCH_ROWS:
            with torch.no_grad():
                x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
                r = self.ensemble(x).double().numpy()
        else:
            r = self.fast(inputs.reshape(m * h, d)).reshape(-1, m, h)
        return (r * mask[None]).sum(axis=2)

    def preference_probabilities(self, inputs_1: np.ndarray, mask_1: np.ndarray, inputs_2: np.ndarray,
                                 mask_2: np.ndarray) -> np.ndarray:  # fmt: skip
        """``P_k(σ¹ ≻ σ²)`` of every member, ``(members, pairs)``."""
        d = self.segment_returns(inputs_1, mask_1) - self.segment_returns(inputs_2, mask_2)
        return 1.0 / (1.0 + np.exp(-np.clip(d, -500, 500)))

    # -- labels and training ---------------------------------------------------
    @property
    def n_labels(self) -> int:
        return 0 if not self.labels else len(self.labels["labels"])

    def add_labels(self, inputs_1: np.ndarray, mask_1: np.ndarray, inputs_2: np.ndarray, mask_2: np.ndarray,
                   labels: np.ndarray) -> int:  # fmt: skip
        """Keep the answered pairs (NaN labels, skips, are dropped); return how many were kept."""
        keep = ~np.isnan(labels)
        new = {
            "inputs_1": inputs_1[keep].astype(np.float32), "mask_1": mask_1[keep].astype(np.float32),
            "inputs_2": inputs_2[keep].astype(np.float32), "mask_2": mask_2[keep].astype(np.float32),
            "labels": labels[keep].astype(np.float32),
        }  # fmt: skip
        if self.labels:
            self.labels = {k: np.concatenate([self.labels[k], new[k]]) for k in _LABEL_KEYS}
        else:
            self.labels = new
        self._tensors = self._evaluation = None
        return int(keep.sum())

    def train(self, epochs: int | None = None, *, unlabelled: Sequence[np.ndarray] | None = None) -> dict[str, float]:
        """Fit every member to all labels with the Bradley–Terry loss; return loss and accuracy on the labels.

        At most ``epochs`` passes over the labels; with ``early_stop`` the passes
        end once the epoch's mean loss has not fallen by ``1 %`` of the best so
        far for ``PATIENCE`` passes in a row (the members start from their
        previous weights, so a few new labels rarely need many passes).
        Both segments of every pair go through the ensemble in one forward pass.
        ``unlabelled``: ``(inputs_1, mask_1, inputs_2, mask_2)`` of unlabelled
        pairs for SURF's pseudo-labels (used when ``pseudo_labels > 0``).
        """
        n = self.n_labels
        if n == 0:
            return {}
        data = self._label_tensors()
        members = self.ensemble.n_members
        if self.bootstrap:
            counts = np.stack([np.bincount(self.rng.integers(0, n, n), minlength=n) for _ in range(members)])
        else:
            counts = np.ones((members, n))
        weights = torch.from_numpy(counts.astype(np.float32))
        pool = None
        if self.pseudo_labels > 0 and unlabelled is not None and len(unlabelled[0]):
            pool = [torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in unlabelled]
        self.ensemble.train()
        losses: list[float] = []
        best, stale, passes = float("inf"), 0, 0
        for _ in range(epochs or self.epochs):
            order = torch.from_numpy(self.rng.permutation(n))
            epoch_losses = []
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                w = weights[:, idx]
                if float(w.sum()) == 0:
                    continue
                b = len(idx)
                m1, m2 = data["mask_1"][idx], data["mask_2"][idx]
                if self.crop:
                    c1, c2 = temporal_crop(m1.numpy(), m2.numpy(), cut=self.crop, rng=self.rng)
                    m1, m2 = torch.from_numpy(c1), torch.from_numpy(c2)
                parts, masks = [data["inputs_1"][idx], data["inputs_2"][idx]], [m1, m2]
                if pool is not None:
                    u = torch.from_numpy(self.rng.integers(0, len(pool[0]), self.pseudo_ratio * b))
                    parts += [pool[0][u], pool[2][u]]
                    masks += [pool[1][u], pool[3][u]]
                returns = segment_returns(self.ensemble(torch.cat(parts)), torch.cat(masks))  # one pass
                r1, r2 = returns[:, :b], returns[:, b : 2 * b]
                labelled = bradley_terry_loss(r1, r2, data["labels"][idx], weights=w)
                loss = labelled
                if pool is not None:
                    nu = self.pseudo_ratio * b
                    u1, u2 = returns[:, 2 * b : 2 * b + nu], returns[:, 2 * b + nu :]
                    loss = loss + self.pseudo_labels * pseudo_label_loss(u1, u2, threshold=self.pseudo_threshold)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                epoch_losses.append(labelled.item() / members)
            passes += 1
            losses += epoch_losses
            if self.early_stop and epoch_losses:
                mean = float(np.mean(epoch_losses))
                if mean < best * (1.0 - EARLY_STOP_TOL):
                    best, stale = mean, 0
                else:
                    stale += 1
                    if stale >= PATIENCE:
                        break
        self.ensemble.eval()
        self.fast = self.ensemble.numpy_path()
        self._evaluation = None
        self.epochs_run += passes
        return {"bt_loss": float(np.mean(losses)) if losses else float("nan"), "bt_epochs": float(passes),
                **self.evaluate()}  # fmt: skip

    def _label_tensors(self) -> dict[str, torch.Tensor]:
        """The labels as torch tensors (views of the numpy arrays, made again only after labels were added)."""
        if self._tensors is None:
            self._tensors = {k: torch.from_numpy(v) for k, v in self.labels.items()}
        return self._tensors

    def evaluate(self) -> dict[str, float]:
        """Mean Bradley–Terry loss and accuracy (strict labels) of the members on all labels (cached until the
        model or the labels change: after the budget is spent every update would recompute the same numbers)."""
        if self.n_labels == 0:
            return {}
        if self._evaluation is not None:
            return dict(self._evaluation)
        lab = self.labels
        r1 = torch.from_numpy(self.segment_returns(lab["inputs_1"], lab["mask_1"]))
        r2 = torch.from_numpy(self.segment_returns(lab["inputs_2"], lab["mask_2"]))
        y = torch.from_numpy(lab["labels"]).double()
        members = r1.shape[0]
        self._evaluation = {
            "label_loss": float(bradley_terry_loss(r1, r2, y)) / members,
            "label_accuracy": preference_accuracy(r1, r2, y),
        }
        return dict(self._evaluation)

    # -- state ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            # copies: torch hands out live tensors (Adam's step counters), which a later step would change
            "ensemble": copy.deepcopy(self.ensemble.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "normalizer": self.normalizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "labels": {k: v.copy() for k, v in self.labels.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ensemble = dict(state["ensemble"])
        if self.ensemble.mlp is not None and upgrade_member_keys(ensemble):
            # saved before the members were stacked: the reward loads exactly, Adam's moments start afresh
            warnings.warn(
                "rewardlab: a preference model saved by an earlier version (one network per member): its reward "
                "loads unchanged, its optimiser state is reset",
                stacklevel=2,
            )
            self.ensemble.load_state_dict(ensemble)
        else:
            self.ensemble.load_state_dict(ensemble)
            self.optimizer.load_state_dict(state["optimizer"])
        self.normalizer.load_state_dict(state["normalizer"])
        self.rng.bit_generator.state = state["rng"]
        self.labels = {k: np.asarray(v) for k, v in state["labels"].items()}
        self._tensors = self._evaluation = None
        self.ensemble.eval()
        self.fast = self.ensemble.numpy_path()
