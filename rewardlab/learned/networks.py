"""Reward networks over transitions ``(s, a, s')``: MLP or small CNN members in an ensemble.

A reward model ``r̂(s, a, s')`` reads a configurable subset of the transition
(``features``: any of ``obs``, ``action``, ``next_obs``). Every transition is
first turned into one flat float32 input row (:meth:`RewardEnsemble.inputs`):
Box observations flattened, Discrete observations and actions one-hot, image
observations (``uint8`` ``(H, W, C)`` Boxes) flattened and scaled to ``[0, 1]``.
Flat rows let segments of any observation kind be stored, batched and saved alike.

Members share the architecture but not the initialisation (seed ``seed + k``,
the same weights as ``k`` separate ``nn.Linear`` stacks would start from);
:class:`~rewardlab.learned.preference.term.PreferenceReward` also trains each on
its own bootstrap resample of the labels. Their spread (std over members) is
the ensemble's disagreement, used to select queries.

Two paths, as in imitation's reward nets:

* :meth:`RewardEnsemble.forward` -- differentiable torch, ``(members, *batch)``,
  used for training. MLP members are one :class:`BatchedMLP`: each layer's
  weights of all members stacked into one ``(members, in, out)`` tensor, so a
  forward or backward pass is one batched matmul per layer instead of a Python
  loop over members (Adam is elementwise, so training them stacked is training
  them apart);
* :meth:`RewardEnsemble.numpy_path` -- a no-grad snapshot of the weights as
  numpy arrays (one batched matmul per layer for all members at once), what
  the wrapper evaluates on every env step. CNN members fall back to torch under
  ``no_grad``.

:class:`PredictionNormalizer` scales the mean prediction by running statistics
of the predictions (``scale``: divide by the root mean square; ``center``: subtract the mean
and divide by the std; ``none``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.config.registry import ConfigError
from rewardlab.core.running import RunningMeanStd

FEATURES = ("obs", "action", "next_obs")
NORMALIZATIONS = ("scale", "center", "none")
Normalization = Literal["scale", "center", "none"]


def is_image(space: gym.Space) -> bool:
    """Whether ``space`` holds images: a ``uint8`` Box of shape ``(H, W, C)`` with ``C`` in 1..4."""
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] in (1, 3, 4)
    )


def _width(space: gym.Space, what: str) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise ConfigError(f"reward networks read Box or Discrete {what}s, got {space}; use a Box/Discrete env or a field")


def _encode(space: gym.Space, values: Any) -> np.ndarray:
    """One float32 row per item: one-hot for Discrete, flattened (images scaled to [0, 1]) for Box."""
    x = np.asarray(values)
    if isinstance(space, gym.spaces.Discrete):
        idx = x.reshape(-1).astype(np.int64) - int(space.start)
        out = np.zeros((idx.shape[0], int(space.n)), dtype=np.float32)
        out[np.arange(idx.shape[0]), idx] = 1.0
        return out
    flat = x.reshape(x.shape[0], -1).astype(np.float32)
    return flat / 255.0 if is_image(space) else flat


def _mlp(in_dim: int, hidden: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), nn.LeakyReLU(0.01)]
        dim = hidden
    mods.append(nn.Linear(dim, 1))
    return nn.Sequential(*mods)


class BatchedMLP(nn.Module):
    """``members`` MLPs of one shape as stacked weights: ``h ← leaky_relu(h @ W_l + b_l)``, ``W_l`` ``(M, in, out)``.

    Member ``k`` starts from the weights of ``_mlp(in_dim, hidden, layers)`` built
    under ``torch.manual_seed(seed + k)``.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, *, members: int, seed: int) -> None:
        super().__init__()
        stacks = []
        for k in range(members):
            with torch.random.fork_rng():
                torch.manual_seed(seed + k)
                stacks.append([m for m in _mlp(in_dim, hidden, layers) if isinstance(m, nn.Linear)])
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([lin.weight.detach().T for lin in layer]).contiguous()) for layer in zip(*stacks)]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([lin.bias.detach()[None] for lin in layer])) for layer in zip(*stacks)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rewards ``(members, n)`` of input rows ``x`` ``(n, in_dim)``."""
        h = torch.matmul(x, self.weights[0]) + self.biases[0]  # (n, in) @ (M, in, out) → (M, n, out)
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = torch.baddbmm(b, F.leaky_relu(h, 0.01), w)
        return h[..., 0]

    def numpy_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every layer's ``(W, b)`` as float64 numpy arrays, ``(M, in, out)`` and ``(M, 1, out)``."""
        return [
            (w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64))
            for w, b in zip(self.weights, self.biases)
        ]


def upgrade_member_keys(state: dict[str, Any], prefix: str = "") -> bool:
    """Rewrite, in place, an MLP ensemble saved before :class:`BatchedMLP` (members ``nets.k``) to stacked weights.

    Member ``k``'s ``nets.k.<i>.weight`` ``(out, in)`` and ``.bias`` become row ``k`` of
    ``mlp.weights.<l>`` ``(M, in, out)`` and ``mlp.biases.<l>`` ``(M, 1, out)``, so run
    folders written by earlier versions load to the same reward. Returns whether it rewrote anything.
    """
    old = sorted(k for k in state if k.startswith(f"{prefix}nets."))
    if not old:
        return False
    by_member: dict[int, dict[int, dict[str, torch.Tensor]]] = {}
    for key in old:
        member, index, kind = key[len(prefix) + len("nets.") :].split(".")
        by_member.setdefault(int(member), {}).setdefault(int(index), {})[kind] = state.pop(key)
    members = [by_member[k] for k in sorted(by_member)]
    for layer, index in enumerate(sorted(members[0])):
        state[f"{prefix}mlp.weights.{layer}"] = torch.stack([m[index]["weight"].T for m in members]).contiguous()
        state[f"{prefix}mlp.biases.{layer}"] = torch.stack([m[index]["bias"][None] for m in members])
    return True


class _CNNMember(nn.Module):
    """Small CNN (two strided convolutions) on image observations, then an MLP with the action."""

    def __init__(self, shape: tuple[int, int, int], images: int, extra: int, hidden: int, layers: int) -> None:
        super().__init__()
        h, w, c = shape
        self.shape, self.images, self.extra = shape, images, extra
        self.conv = nn.Sequential(
            nn.Conv2d(c, 16, kernel_size=5, stride=2), nn.LeakyReLU(0.01),
            nn.Conv2d(16, 32, kernel_size=3, stride=2), nn.LeakyReLU(0.01),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )  # fmt: skip
        self.head = _mlp(images * 32 * 16 + extra, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w, c = self.shape
        size = h * w * c
        parts = []
        for k in range(self.images):
            img = x[:, k * size : (k + 1) * size].reshape(-1, h, w, c).permute(0, 3, 1, 2)
            parts.append(self.conv(img))
        parts.append(x[:, self.images * size :])
        return self.head(torch.cat(parts, dim=1))


class RewardEnsemble(nn.Module):
    """An ensemble of reward networks ``r̂_k(s, a, s')``, ``k = 1..members``.

    Args:
        observation_space, action_space: the env's spaces.
        features: which parts of the transition the reward reads (subset of ``obs``, ``action``, ``next_obs``).
        members: ensemble size.
        hidden, layers: width and number of hidden layers of each MLP (after the CNN for images).
        seed: member ``k`` is initialised from ``seed + k``.

    Examples:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> import torch
        >>> from rewardlab.learned import RewardEnsemble
        >>> env = gym.make("CartPole-v1")
        >>> ensemble = RewardEnsemble(env.observation_space, env.action_space, members=2, hidden=8)
        >>> x = ensemble.inputs(np.zeros((5, 4)), np.zeros(5, dtype=int), np.zeros((5, 4)))  # obs + one-hot action
        >>> x.shape, tuple(ensemble(torch.from_numpy(x).float()).shape)                       # (members, n) rewards
        ((5, 6), (2, 5))
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
        seed: int = 0,
    ) -> None:
        super().__init__()
        features = tuple(features)
        bad = [f for f in features if f not in FEATURES]
        if bad or not features or len(set(features)) != len(features):
            raise ConfigError(f"reward network features must be distinct names from {list(FEATURES)}, got {features}")
        if members < 1 or hidden < 1 or layers < 1:
            raise ConfigError(f"members, hidden and layers must be >= 1, got {members}, {hidden}, {layers}")
        self.observation_space, self.action_space = observation_space, action_space
        # images first (the CNN reads the leading slices), then the rest, in a fixed order
        self.features = tuple(sorted(features, key=lambda f: (not self._is_image(f), FEATURES.index(f))))
        self.image = any(self._is_image(f) for f in self.features)
        self.in_dim = sum(_width(self._space(f), f) for f in self.features)
        self.n_members, self.hidden, self.layers, self.seed = members, hidden, layers, seed
        self.mlp: BatchedMLP | None = None
        self.nets: nn.ModuleList | None = None
        if not self.image:
            self.mlp = BatchedMLP(self.in_dim, hidden, layers, members=members, seed=seed)
            return
        nets = []
        images = sum(self._is_image(f) for f in self.features)
        size = int(np.prod(observation_space.shape))
        shape = tuple(int(s) for s in observation_space.shape)
        for k in range(members):
            with torch.random.fork_rng():
                torch.manual_seed(seed + k)
                nets.append(_CNNMember(shape, images, self.in_dim - images * size, hidden, layers))  # type: ignore[arg-type]
        self.nets = nn.ModuleList(nets)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        if self.mlp is not None:
            upgrade_member_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _space(self, feature: str) -> gym.Space:
        return self.action_space if feature == "action" else self.observation_space

    def _is_image(self, feature: str) -> bool:
        return feature != "action" and is_image(self.observation_space)

    def inputs(self, obs: Any, action: Any, next_obs: Any) -> np.ndarray:
        """The flat float32 input rows ``(n, in_dim)`` of a batch of transitions."""
        parts = {"obs": obs, "action": action, "next_obs": next_obs}
        return np.concatenate([_encode(self._space(f), parts[f]) for f in self.features], axis=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable rewards of every member: input ``(*batch, in_dim)`` → ``(members, *batch)``."""
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.in_dim)
        if self.mlp is not None:
            return self.mlp(flat).reshape(-1, *lead)
        return torch.stack([net(flat).reshape(lead) for net in self.nets])

    def member(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Member ``k``'s differentiable rewards of input rows ``x`` ``(n, in_dim)``, shape ``(n,)``."""
        if self.mlp is None:
            return self.nets[k](x).squeeze(-1)
        h = x
        last = len(self.mlp.weights) - 1
        for i, (w, b) in enumerate(zip(self.mlp.weights, self.mlp.biases)):
            h = h @ w[k] + b[k]
            if i < last:
                h = F.leaky_relu(h, 0.01)
        return h[..., 0]

    def numpy_path(self) -> NumpyEnsemble:
        """A no-grad snapshot for evaluation in the wrapper (take a new one after training)."""
        return NumpyEnsemble(self)


class NumpyEnsemble:
    """All members' MLP weights stacked as numpy arrays: ``(members, n)`` rewards from one matmul per layer.

    CNN ensembles are evaluated by torch under ``no_grad`` instead.

    Examples:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> import torch
        >>> from rewardlab.learned import NumpyEnsemble, RewardEnsemble
        >>> env = gym.make("CartPole-v1")
        >>> ensemble = RewardEnsemble(env.observation_space, env.action_space, members=2, hidden=8)
        >>> fast = NumpyEnsemble(ensemble)                        # same as ensemble.numpy_path()
        >>> x = np.random.default_rng(0).normal(size=(5, ensemble.in_dim))
        >>> np.allclose(fast(x), ensemble(torch.from_numpy(x).float()).detach().numpy(), atol=1e-5)
        True
    """

    def __init__(self, ensemble: RewardEnsemble) -> None:
        self.ensemble = ensemble
        self.weights = ensemble.mlp.numpy_weights() if ensemble.mlp is not None else []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Rewards ``(members, n)`` of input rows ``x`` ``(n, in_dim)``."""
        if not self.weights:
            with torch.no_grad():
                return self.ensemble(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).double().numpy()
        h = np.asarray(x, dtype=np.float64)[None]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(self.weights):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.01 * h, out=h)  # leaky ReLU
        return h[..., 0]


class PredictionNormalizer:
    """Scale predictions by running statistics of the predictions seen in training.

    ``scale``: ``r / √(μ² + σ²)`` (the root mean square); ``center``:
    ``(r − μ) / σ``; ``none``: ``r``. Scaling only (the default) keeps the sign
    and the level of the learned reward: a learned alive bonus stays a bonus
    (centring would make the mean step worth nothing and remove the incentive
    to keep an episode going), and a nearly constant reward is not blown up by
    a tiny std.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned import PredictionNormalizer
        >>> norm = PredictionNormalizer("scale")
        >>> norm.update(np.array([2.0, 2.0]))
        >>> norm(np.array([2.0, -2.0])).round(3)       # divided by the root mean square: the sign stays
        array([ 1., -1.])
    """

    def __init__(self, mode: Normalization = "scale") -> None:
        if mode not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalize {mode!r}; valid: {list(NORMALIZATIONS)}")
        self.mode = mode
        self.stats = RunningMeanStd()

    def update(self, values: np.ndarray) -> None:
        self.stats.update(values)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.mode == "none":
            return values
        if self.mode == "center":
            return (values - self.stats.mean) / (self.stats.std + 1e-8)
        return values / (np.sqrt(self.stats.mean**2 + self.stats.var) + 1e-8)

    def reset(self) -> None:
        """Forget the statistics (after the reward model changed)."""
        self.stats = RunningMeanStd()

    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, **self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state)
