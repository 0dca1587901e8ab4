"""Adversarial rewards from demonstrations (GAIL, AIRL) with a Lipschitz constraint.

A discriminator ``D = σ(ℓ(s, a, s'))`` (see :mod:`.networks`) learns, in
:meth:`AdversarialReward.update`, to tell expert transitions (label 1) from the
agent's (label 0) with the binary cross-entropy

    L = −E_expert[log D] − E_agent[log(1 − D)]  (+ a Lipschitz penalty)

and the agent is rewarded for transitions that look like the expert's:

* ``reward="gail"``: ``−log(1 − D) = softplus(ℓ)`` (positive; Ho & Ermon 2016);
* ``reward="airl"``: ``log D − log(1 − D) = ℓ`` (AIRL's ``f``; Fu et al. 2018);
* ``reward="log_d"``: ``log D = −softplus(−ℓ)`` (negative).

Lipschitz constraint ("Lipschitzness Is All You Need To Tame Off-policy
Generative Adversarial Imitation Learning", Blondé et al. 2022: the reward must
be locally Lipschitz for adversarial imitation to work):

* ``lipschitz="gp"``: a gradient penalty on interpolates
  ``x̂ = ε·x_expert + (1 − ε)·x_agent``, ``ε ~ U(0, 1)`` per row (WGAN-GP,
  Gulrajani et al. 2017, as used by Blondé et al.):
  ``λ·E[max(0, ‖∇ₓ̂ ℓ(x̂)‖ − k)²]`` by default (``gp_one_sided``: only
  violations of the bound ``k`` are penalised, so the constraint does not push
  gradients *up* while the discriminator is still weak), or WGAN-GP's two-sided
  ``λ·E[(‖∇ₓ̂ ℓ(x̂)‖ − k)²]`` with ``gp_one_sided=False`` (``gp_target=k``,
  1 by default; ``k = 0`` is the zero-centred penalty of Thanh-Tung et al.
  2019). Gradients are taken with respect to the normalised inputs. At a small
  CPU budget on Pendulum the two-sided form kept the discriminator from
  learning (see ``benchmarks/README.md``);
* ``lipschitz="spectral"``: spectral normalisation of every layer;
* ``lipschitz="none"``.

Absorbing states (Kostrikov et al. 2019, "Discriminator-Actor-Critic"; on by
default with ``absorbing=True``): a reward of fixed sign biases episode length
-- GAIL's ``softplus(ℓ) > 0`` pays for surviving whatever the expert did,
AIRL's ``ℓ`` (negative where the agent does not look like the expert) pays
for ending early. A transition that truly terminates (not a time limit) is
followed by an absorbing state ``s_a`` that repeats forever; the expert's
terminal transitions and the agent's each add one absorbing transition
``s_a → s_a`` to the discriminator's data, so the discriminator scores what
being absorbed is worth. ``s_a`` is a single point (DAC: a zero observation
with an absorbing flag and a zero action), so its score is one logit ``ℓ_a``,
and the binary cross-entropy's optimum on a single point is known exactly:
with ``f_E`` and ``f_A`` the fractions of absorbing transitions in the expert's
and the agent's data, ``−f_E·log σ(ℓ) − f_A·log(1 − σ(ℓ))`` is least at
``ℓ_a = log(f_E / f_A)``. :meth:`AdversarialReward.update` sets ``ℓ_a`` to that
optimum on the data it trains on (both fractions smoothed by ½ at one common
size, so that a side without absorbing transitions gives a finite logit and
``ℓ_a`` keeps the sign of the raw fractions' difference; see
:func:`absorbing_logit`) instead of approaching it by
gradient steps: a lone scalar under Adam moves about ``lr`` per step, hundreds
of updates too slow for a PPO run, and no Lipschitz constraint binds on one
point. The agent never steps
``s_a`` (PPO stops at the terminal transition, off-policy algorithms do not
bootstrap past it), so the terminal transition carries the discounted value of
staying absorbed::

    r(s, a, s'_terminal) = r(ℓ(s, a, s')) + Σ_{k≥1} γ^k r(ℓ_a) = r(ℓ(s, a, s')) + γ/(1 − γ) · r(ℓ_a)

with ``r(·)`` the reward form and ``γ`` the term's ``gamma`` (set it to the
agent's discount). This is exactly the return that bootstrapping through
``s_a`` (as DAC does with TD3) would add; an episode cut by a time limit is not
absorbing and gets nothing extra. (Summed only up to a time limit ``T``
instead of forever, the value would be ``γ(1 − γ^{T−t})/(1 − γ)·r(ℓ_a)``; the
two differ by the factor ``γ^{T−t}``, under 2 % on CartPole with ``γ = 0.98``
when 200 or more steps are left, and the term does not know ``t``.) The
update's metrics log ``ℓ_a`` as ``absorbing_logit``. If nothing ever terminates (Pendulum,
HalfCheetah), ``ℓ_a`` is never used and the reward and the discriminator's
training are exactly those without absorbing states. AIRL keeps ``h(s_a) = 0``
(the potential after a termination, as without absorbing states).

``f_A`` is counted over the whole run by default (``absorbing_window=None``),
not over one update's batch. One PPO update's batch (1024 steps on CartPole)
holds only fragments of long episodes, often no termination at all, and then
``f_A`` made ``ℓ_a`` jump exactly when the agent got good. A window that
forgets is no better: counted over about the latest ``W`` agent transitions
(``absorbing_window=W``: decayed counts ``S ← k·S + n``, ``T ← k·T + t`` with
``k = max(0, 1 − n/W)`` for a batch of ``n`` transitions of which ``t``
terminate, so ``S`` settles at ``W``), once the agent stops terminating for a
few thousand steps ``f_A`` falls to the expert's and ``ℓ_a`` rises to 0, so
dropping the pole costs nothing more than the per-step logits it avoids, which
are negative wherever the discriminator still tells the agent from the expert
-- AIRL's length bias is back, exactly when the agent got good, and the next
termination throws ``ℓ_a`` (and the reward scale) back down by a factor of
several. DAC samples its discriminator's agent data from a replay buffer that
keeps every transition of the run (its reference code never drops any), so its
absorbing logit remembers every termination, as the default here does (``f_A``
is the run's termination rate). On CartPole this removed AIRL's late drifts
(see ``benchmarks/README.md``, issue 22 §2). Counted over the whole run, the
agent's side is many times larger than the demonstrations; the common-size
smoothing of :func:`absorbing_logit` keeps ``ℓ_a`` from turning positive (a
reward for ending the episode) when the agent's termination rate falls toward
the expert's. ``absorbing_window=0``: the agent data the update trains on.

Reward scale (``normalize_reward``; on by default for AIRL's signed reward
``reward="airl"``): the agent's rewards are divided by a running root mean
square ``σ_r = sqrt(Σ k-decayed r² / S)`` of the un-normalised rewards
(terminal values included) that the updated discriminator gives the agent's
latest ~``agent_window`` transitions (``raw_rewards``). Dividing by a positive
constant changes no preference between trajectories (no mean is subtracted:
a shift would pay or charge a fixed amount per step, the length bias again),
but the size matters to the agent: with ``γ = 0.98`` AIRL's absorbing value is
``49·ℓ_a``, a few hundred against per-step logits of order one, so PPO's
value loss dominates its clipped gradient (``max_grad_norm``) and the policy
barely moves for the first half of a CartPole run (see ``benchmarks/README.md``,
issue 22 §2). GAIL's positive reward keeps ``r(ℓ_a)`` small when the expert
does not terminate and is left as it is by default.

A running scale moves under the critic, though: on CartPole ``σ_r²`` is
dominated by the terminal values, about ``f_term·(49·ℓ_a)²`` with ``f_term``
the agent's termination rate, so as the episodes lengthen ``σ_r`` falls from
~90 to ~6 (the rewards PPO's critic is fit to grow 15-fold over a run) and it
jumps back up whenever the agent starts failing more often, each time making
the critic's values wrong by the ratio of the scales. ``reward_scale="held"``
estimates ``σ_r`` over the first ~``agent_window`` agent transitions and then
holds it (one constant factor for the rest of the run); ``"falling"`` keeps it
running but lets it only fall (a running minimum once the first window is in),
so it follows the episodes as they lengthen but does not jump back up when the
agent starts failing more often. Default ``"running"``; measured on CartPole
in ``benchmarks/README.md`` (issue 22 §2).

Inputs are normalised by one running mean/std shared by expert and agent
observations (initialised from all demonstrations, then updated with each
agent batch in :meth:`update`, frozen in :meth:`compute`), so both sides go
through the same transform. Continuous actions are scaled to ``[-1, 1]`` by the
action space's bounds; discrete actions are one-hot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.core.checks import check_at_least, check_positive
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.learned.adversarial.demos import Demonstrations, load_demos

KINDS = ("gail", "airl")
LIPSCHITZ = ("gp", "spectral", "none")
REWARDS = ("gail", "airl", "log_d")
REWARD_SCALES = ("running", "held", "falling")
OBS_CLIP = 10.0
SPECTRAL_REFRESH = 3  # power iterations after each update
REWARD_SCALE_EPS = 1e-8


class AdversarialReward(RewardTerm):
    """A GAIL or AIRL reward learned from demonstrations (see the module docs).

    Args:
        demos: a :class:`Demonstrations`, the path of a demonstrations file, or a trained run's folder
            (its policy is rolled out for ``demo_episodes`` episodes when the term is built).
        kind: ``"gail"`` or ``"airl"`` discriminator.
        lipschitz: ``"gp"``, ``"spectral"`` or ``"none"``.
        reward: ``"gail"``, ``"airl"`` or ``"log_d"``; default: the kind's own.
        inputs: what the discriminator (AIRL: ``g``) reads: ``"sa"``, ``"sas"``, ``"ss"``, ``"s"``.
        gp_weight, gp_target, gp_one_sided: the gradient penalty ``λ``, ``k`` and its one-sided form.
        hidden, layers: discriminator MLP size.
        gamma: the agent's discount: AIRL's shaping ``γh(s') − h(s)`` and the absorbing state's value
            ``γ/(1 − γ)·r(ℓ_a)`` added to terminal transitions.
        absorbing: DAC's absorbing state after terminal transitions (see the module docs).
        agent_window: agent transitions (about) over which the reward scale is counted; default: the number
            of demonstration transitions; 0: the update's own data.
        absorbing_window: agent transitions (about) over which ``f_A`` alone is counted; default (None): the
            whole run, as DAC's replay buffer keeps every transition, so ``ℓ_a`` remembers every termination and
            does not drift to 0 while the agent stops terminating; 0: the update's own data; a number: a window
            that forgets (``agent_window`` gives the behaviour before the whole run became the default).
        normalize_reward: divide the rewards by their running root mean square (no centring); default: on for
            the signed ``reward="airl"``, off for the others.
        reward_scale: with ``normalize_reward``: ``"running"`` (the RMS over the agent window), ``"held"``
            (estimated over the first ~``agent_window`` agent transitions, then held) or ``"falling"`` (running,
            but never above its earlier value once the first window is in).
        lr, batch_size, epochs: discriminator training in :meth:`update` (Adam).
        history: agent transitions kept across updates to train on (0: only the latest batch);
            useful with off-policy agents whose update batches are small.
        normalize_obs: normalise observations by the shared running statistics.
        demo_episodes: episodes rolled out when ``demos`` is a trained run's folder.
        seed: initialisation and sampling.

    Examples:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from rewardlab.core import EnvInfo, Transitions
        >>> from rewardlab.learned.adversarial import AdversarialReward, from_episodes
        >>> obs = np.random.default_rng(0).normal(size=(16, 4))
        >>> demos = from_episodes([{"obs": obs, "acts": np.ones(16, dtype=int), "next_obs": obs,
        ...                         "terminated": True, "return": 16.0}], "CartPole-v1")
        >>> reward = AdversarialReward(demos=demos, kind="gail", hidden=16, epochs=1, seed=0)
        >>> reward.bind(EnvInfo.from_env(gym.make("CartPole-v1")))
        >>> agent = Transitions.fake(reward=np.zeros(16), obs=obs, action=np.zeros(16, dtype=int))
        >>> reward.compute(agent).shape
        (16,)
        >>> stats = reward.update(agent)                   # one round of discriminator training
        >>> sorted(stats)                                  # doctest: +NORMALIZE_WHITESPACE
        ['adversarial_absorbing_logit', 'adversarial_agent_accuracy', 'adversarial_expert_accuracy',
         'adversarial_loss', 'adversarial_penalty']
    """

    name = "adversarial"
    learns = True

    def __init__(
        self,
        *,
        demos: Demonstrations | str | Path,
        kind: Literal["gail", "airl"] = "gail",
        lipschitz: Literal["gp", "spectral", "none"] = "gp",
        reward: Literal["gail", "airl", "log_d"] | None = None,
        inputs: Literal["sa", "sas", "ss", "s"] = "sa",
        gp_weight: float = 10.0,
        gp_target: float = 1.0,
        gp_one_sided: bool = True,
        hidden: int = 64,
        layers: int = 2,
        gamma: float = 0.99,
        absorbing: bool = True,
        agent_window: int | None = None,
        absorbing_window: int | None = None,
        normalize_reward: bool | None = None,
        reward_scale: Literal["running", "held", "falling"] = "running",
        lr: float = 3e-4,
        batch_size: int = 128,
        epochs: int = 1,
        history: int = 0,
        normalize_obs: bool = True,
        demo_episodes: int = 10,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        from rewardlab.learned.adversarial.networks import INPUTS

        for value, valid, what in (
            (kind, KINDS, "kind"),
            (lipschitz, LIPSCHITZ, "lipschitz"),
            (inputs, INPUTS, "inputs"),
        ):
            if value not in valid:
                raise ConfigError(f"unknown adversarial {what} {value!r}; valid: {list(valid)}")
        reward = kind if reward is None else reward
        if reward not in REWARDS:
            raise ConfigError(f"unknown adversarial reward {reward!r}; valid: {list(REWARDS)}")
        check_at_least(1, hidden=hidden, layers=layers, batch_size=batch_size, epochs=epochs)
        check_at_least(0, history=history)
        if reward_scale not in REWARD_SCALES:
            raise ConfigError(f"unknown adversarial reward_scale {reward_scale!r}; valid: {list(REWARD_SCALES)}")
        if agent_window is not None:
            check_at_least(0, agent_window=agent_window)
        if absorbing_window is not None:
            check_at_least(0, absorbing_window=absorbing_window)
        check_positive(lr=lr)
        if not 0.0 < gamma < 1.0:
            raise ConfigError(f"adversarial gamma must be in (0, 1), got {gamma}")
        if gp_weight < 0 or gp_target < 0:
            raise ConfigError(f"gp_weight and gp_target must be >= 0, got {gp_weight} and {gp_target}")
        check_at_least(1, demo_episodes=demo_episodes)
        self.demos_path = None if isinstance(demos, Demonstrations) else str(demos)
        if isinstance(demos, Demonstrations):
            self.demos = demos
        elif Path(demos).is_dir():  # a trained run: roll its policy out
            from rewardlab.learned.adversarial.demos import collect_demos

            self.demos = collect_demos(demos, episodes=demo_episodes)
        else:
            self.demos = load_demos(demos)
        self.kind, self.lipschitz, self.reward_form, self.inputs = kind, lipschitz, reward, inputs
        self.gp_weight, self.gp_target, self.gp_one_sided = float(gp_weight), float(gp_target), bool(gp_one_sided)
        self.hidden, self.layers, self.gamma, self.absorbing = hidden, layers, float(gamma), bool(absorbing)
        self.agent_window = len(self.demos) if agent_window is None else int(agent_window)
        #: None: f_A over the whole run
        self.absorbing_window = None if absorbing_window is None else int(absorbing_window)
        self.normalize_reward = reward == "airl" if normalize_reward is None else bool(normalize_reward)
        self.reward_scale_mode = reward_scale
        self.lr, self.batch_size, self.epochs, self.history = lr, batch_size, epochs, history
        self.normalize_obs, self.seed = normalize_obs, seed
        self.net: Any = None
        self._rng = np.random.default_rng(seed)
        self._torch_rng: Any = None
        self._history: dict[str, np.ndarray] | None = None
        self._history_pos = 0
        self._history_size = 0
        self.absorbing_logit = 0.0  # ℓ_a, set by update()
        # decayed sums over the latest ~agent_window agent steps: steps, terminals, squared rewards
        self._agent_steps = self._agent_terminals = self._reward_sq = self._reward_steps = 0.0
        self.reward_scale = 1.0  # rewards are divided by it (normalize_reward), set by update()
        self._agent_seen = 0  # agent transitions passed to update() so far

    # -- building -----------------------------------------------------------
    def bind(self, env: EnvInfo) -> None:
        import gymnasium as gym

        super().bind(env)
        self.demos.check_env(env, where=f"reward term {self.name!r}: demonstrations")
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            self._n_actions: int | None = int(space.n)
            self._act_low = self._act_scale = None
        else:
            self._n_actions = None
            low, high = space.low.astype(np.float64).ravel(), space.high.astype(np.float64).ravel()
            bounded = np.isfinite(low) & np.isfinite(high)
            self._act_low = np.where(bounded, low, -1.0)
            self._act_scale = np.where(bounded, (high - low) / 2.0, 1.0)
        if self.net is None:
            self._build(int(np.prod(env.observation_space.shape)))

    def _build(self, obs_dim: int) -> None:
        import torch

        from rewardlab.learned.adversarial.networks import Discriminator

        act_dim = self._n_actions if self._n_actions is not None else len(self._act_low)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self.net = Discriminator(
                obs_dim,
                act_dim,
                kind=self.kind,
                inputs=self.inputs,
                hidden=self.hidden,
                layers=self.layers,
                spectral=self.lipschitz == "spectral",
                gamma=self.gamma,
            )
        self.net.eval()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self._torch_rng = torch.Generator().manual_seed(self.seed)
        demo_obs = np.concatenate([self._flat(self.demos.obs), self._flat(self.demos.next_obs)])
        self.obs_mean = demo_obs.mean(axis=0)
        self.obs_var = demo_obs.var(axis=0)
        self.obs_count = float(len(demo_obs))

    def _require_bound(self) -> None:
        if self.net is None:
            raise ConfigError(f"reward term {self.name!r} must be bound to an env first (wrap the env with it)")

    # -- features -----------------------------------------------------------
    @staticmethod
    def _flat(obs: Any) -> np.ndarray:
        if isinstance(obs, dict):
            raise ConfigError("the adversarial reward reads array observations, not dicts")
        x = np.asarray(obs, dtype=np.float64)
        return x.reshape(len(x), -1)

    def _norm(self, obs: Any) -> np.ndarray:
        x = self._flat(obs)
        if self.normalize_obs:
            x = np.clip((x - self.obs_mean) / np.sqrt(self.obs_var + 1e-8), -OBS_CLIP, OBS_CLIP)
        return x.astype(np.float32)

    def encode_actions(self, acts: Any) -> np.ndarray:
        """One-hot discrete actions; continuous ones clipped to the bounds and scaled to ``[-1, 1]``."""
        a = np.asarray(acts)
        if self._n_actions is not None:
            idx = a.reshape(len(a)).astype(np.int64)
            return np.eye(self._n_actions, dtype=np.float32)[idx]
        x = a.reshape(len(a), -1).astype(np.float64)
        return np.clip((x - self._act_low) / self._act_scale - 1.0, -1.0, 1.0).astype(np.float32)

    def features(self, obs: Any, acts: Any, next_obs: Any, terminated: Any) -> tuple[Any, Any, Any, Any]:
        """The discriminator's input tensors ``(s, a, s', 1 − terminated)``."""
        import torch

        self._require_bound()
        return (
            torch.from_numpy(self._norm(obs)),
            torch.from_numpy(self.encode_actions(acts)),
            torch.from_numpy(self._norm(next_obs)),
            torch.from_numpy(1.0 - np.asarray(terminated, dtype=np.float32).reshape(-1)),
        )

    # -- the reward ---------------------------------------------------------
    def logits(self, obs: Any, acts: Any, next_obs: Any, terminated: Any) -> np.ndarray:
        """Discriminator logits ``ℓ`` (no gradients), float64."""
        import torch

        x = self.features(obs, acts, next_obs, terminated)
        with torch.inference_mode():
            return self.net(*x).double().numpy()

    def reward_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """The reward form applied to logits (stable softplus)."""
        if self.reward_form == "airl":
            return logits
        if self.reward_form == "gail":
            return np.logaddexp(0.0, logits)  # −log(1 − σ(ℓ)) = log(1 + e^ℓ)
        return -np.logaddexp(0.0, -logits)  # log σ(ℓ)

    def absorbing_reward(self) -> float:
        """``r(ℓ_a)``: the reward of one step in the absorbing state (0 when ``absorbing`` is off)."""
        self._require_bound()
        if not self.absorbing:
            return 0.0
        return float(self.reward_from_logits(np.array([self.absorbing_logit]))[0])

    def raw_rewards(self, obs: Any, acts: Any, next_obs: Any, terminated: Any) -> np.ndarray:
        """The reward form of the logits, plus ``γ/(1 − γ)·r(ℓ_a)`` on terminal transitions (not normalised)."""
        r = self.reward_from_logits(self.logits(obs, acts, next_obs, terminated))
        term = np.asarray(terminated, dtype=bool).reshape(-1)
        if self.absorbing and term.any():
            r = r + term * (self.gamma / (1.0 - self.gamma) * self.absorbing_reward())
        return r

    def rewards(self, obs: Any, acts: Any, next_obs: Any, terminated: Any) -> np.ndarray:
        """The agent's rewards: :meth:`raw_rewards`, divided by ``reward_scale`` with ``normalize_reward``."""
        r = self.raw_rewards(obs, acts, next_obs, terminated)
        return r / self.reward_scale if self.normalize_reward else r

    def compute(self, batch: Transitions) -> np.ndarray:
        return self.rewards(batch.obs, batch.action, batch.next_obs, batch.terminated)

    def gradient_norms(self, obs: Any, acts: Any, next_obs: Any, terminated: Any | None = None) -> np.ndarray:
        """``‖∇ℓ‖`` of each row with respect to the discriminator's (normalised) inputs ``(s, a, s')``."""
        if terminated is None:
            terminated = np.zeros(len(np.asarray(acts)), dtype=bool)
        s, a, s2, nd = self.features(obs, acts, next_obs, terminated)
        return self._grad_norm(s, a, s2, nd, create_graph=False).detach().double().numpy()

    def _grad_norm(self, s: Any, a: Any, s2: Any, nd: Any, *, create_graph: bool) -> Any:
        import torch

        s, a, s2 = (t.detach().requires_grad_(True) for t in (s, a, s2))
        out = self.net(s, a, s2, nd)
        grads = torch.autograd.grad(out.sum(), (s, a, s2), create_graph=create_graph, allow_unused=True)
        sq = sum((g**2).sum(dim=1) for g in grads if g is not None)
        return torch.sqrt(sq + 1e-12)

    # -- learning -----------------------------------------------------------
    def _remember(self, batch: Transitions) -> dict[str, np.ndarray]:
        """The agent transitions to train on: the batch, or the batch folded into the history ring."""
        fresh = {
            "obs": self._flat(batch.obs).astype(np.float32),
            "acts": np.asarray(batch.action).reshape(batch.n, -1).astype(np.float32),
            "next_obs": self._flat(batch.next_obs).astype(np.float32),
            "terminated": np.asarray(batch.terminated, dtype=bool).copy(),
        }
        if self.history == 0:
            return fresh
        if self._history is None:
            self._history = {k: np.zeros((self.history, *v.shape[1:]), dtype=v.dtype) for k, v in fresh.items()}
        n = min(batch.n, self.history)
        idx = (self._history_pos + np.arange(n)) % self.history
        for k, v in fresh.items():
            self._history[k][idx] = v[-n:]
        self._history_pos = int((self._history_pos + n) % self.history)
        self._history_size = int(min(self.history, self._history_size + n))
        return {k: v[: self._history_size] for k, v in self._history.items()}

    def _fold_stats(self, x: np.ndarray) -> None:
        mean, var, n = x.mean(axis=0), x.var(axis=0), float(len(x))
        delta = mean - self.obs_mean
        total = self.obs_count + n
        self.obs_mean = self.obs_mean + delta * n / total
        self.obs_var = (self.obs_var * self.obs_count + var * n + delta**2 * self.obs_count * n / total) / total
        self.obs_count = total

    def update(self, batch: Transitions) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        self._require_bound()
        if self.normalize_obs:
            self._fold_stats(np.concatenate([self._flat(batch.obs), self._flat(batch.next_obs)]))
        agent = self._remember(batch)
        n_agent = len(agent["obs"])
        # running statistics over the latest ~agent_window agent steps, however the updates cut them
        keep = max(0.0, 1.0 - batch.n / self.agent_window) if self.agent_window else 0.0
        if self.absorbing:
            window = self.absorbing_window
            if window == 0:  # the agent data this update trains on
                self._agent_steps, self._agent_terminals = float(n_agent), float(agent["terminated"].sum())
            else:  # the whole run (None), or decayed counts over about the latest `window` steps
                keep_a = 1.0 if window is None else max(0.0, 1.0 - batch.n / window)
                self._agent_steps = keep_a * self._agent_steps + batch.n
                self._agent_terminals = keep_a * self._agent_terminals + float(np.sum(batch.terminated))
            self.absorbing_logit = absorbing_logit(
                expert_terminals=int(self.demos.terminated.sum()), expert_steps=len(self.demos),
                agent_terminals=self._agent_terminals, agent_steps=self._agent_steps,
            )  # fmt: skip
        steps = max(1, math.ceil(batch.n / self.batch_size)) * self.epochs
        self.net.train()
        totals: dict[str, float] = {"loss": 0.0, "penalty": 0.0, "expert_accuracy": 0.0, "agent_accuracy": 0.0}
        for _ in range(steps):
            idx = self._rng.integers(0, n_agent, self.batch_size)
            xa = self.features(agent["obs"][idx], agent["acts"][idx], agent["next_obs"][idx], agent["terminated"][idx])
            xe = self.features(*self.demos.sample(self.batch_size, self._rng))
            logit_e, logit_a = self.net(*xe), self.net(*xa)
            loss = F.binary_cross_entropy_with_logits(
                logit_e, torch.ones_like(logit_e)
            ) + F.binary_cross_entropy_with_logits(logit_a, torch.zeros_like(logit_a))
            penalty = torch.zeros(())
            if self.lipschitz == "gp" and self.gp_weight > 0:
                eps = torch.rand(self.batch_size, 1, generator=self._torch_rng)
                mixed = [eps * e + (1 - eps) * a for e, a in zip(xe[:3], xa[:3])]
                norms = self._grad_norm(*mixed, torch.ones(self.batch_size), create_graph=True)
                gap = norms - self.gp_target
                if self.gp_one_sided:
                    gap = torch.clamp(gap, min=0.0)
                penalty = self.gp_weight * (gap**2).mean()
            self.optimizer.zero_grad()
            (loss + penalty).backward()
            self.optimizer.step()
            totals["loss"] += loss.item()
            totals["penalty"] += penalty.item()
            totals["expert_accuracy"] += (logit_e > 0).float().mean().item()
            totals["agent_accuracy"] += (logit_a < 0).float().mean().item()
        if self.lipschitz == "spectral":
            with torch.no_grad():  # power iterations on the final weights, so the frozen σ estimates fit them
                for _ in range(SPECTRAL_REFRESH):
                    self.net(*xa)
        self.net.eval()
        metrics = {f"{self.name}_{k}": v / steps for k, v in totals.items()}
        if self.absorbing:
            metrics[f"{self.name}_absorbing_logit"] = self.absorbing_logit
        first_window_in = self._agent_seen >= max(1, self.agent_window)
        held = self.reward_scale_mode == "held" and first_window_in
        if self.normalize_reward and not held:  # the scale of the rewards the updated discriminator gives the batch
            raw = self.raw_rewards(batch.obs, batch.action, batch.next_obs, batch.terminated)
            self._reward_sq = keep * self._reward_sq + float(np.sum(raw**2))
            self._reward_steps = keep * self._reward_steps + batch.n
            scale = float(np.sqrt(self._reward_sq / self._reward_steps + REWARD_SCALE_EPS))
            falling = self.reward_scale_mode == "falling" and first_window_in
            self.reward_scale = min(scale, self.reward_scale) if falling else scale
        self._agent_seen += batch.n
        if self.normalize_reward:
            metrics[f"{self.name}_reward_scale"] = self.reward_scale
        return metrics

    # -- state --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "rng": self._rng.bit_generator.state,
            "absorbing_logit": self.absorbing_logit,
            "agent_counts": (self._agent_steps, self._agent_terminals),
            "reward_counts": (self._reward_steps, self._reward_sq, self.reward_scale),
            "agent_seen": self._agent_seen,
        }
        if self.net is not None:
            state.update(
                net=self.net.state_dict(),
                optimizer=self.optimizer.state_dict(),
                torch_rng=self._torch_rng.get_state(),
                obs_mean=self.obs_mean.copy(),
                obs_var=self.obs_var.copy(),
                obs_count=self.obs_count,
            )
        if self._history is not None:
            state["history"] = {k: v.copy() for k, v in self._history.items()}
            state["history_pos"], state["history_size"] = self._history_pos, self._history_size
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]
        self.absorbing_logit = float(state.get("absorbing_logit", 0.0))
        self._agent_steps, self._agent_terminals = (float(c) for c in state.get("agent_counts", (0.0, 0.0)))
        self._reward_steps, self._reward_sq, self.reward_scale = (
            float(c) for c in state.get("reward_counts", (0.0, 0.0, 1.0))
        )
        self._agent_seen = int(state.get("agent_seen", 0))
        if "net" in state:
            self._require_bound()
            self.net.load_state_dict(state["net"])
            self.optimizer.load_state_dict(state["optimizer"])
            self._torch_rng.set_state(state["torch_rng"])
            self.obs_mean = np.array(state["obs_mean"], dtype=np.float64)
            self.obs_var = np.array(state["obs_var"], dtype=np.float64)
            self.obs_count = float(state["obs_count"])
        if "history" in state:
            self._history = {k: np.array(v) for k, v in state["history"].items()}
            self._history_pos, self._history_size = int(state["history_pos"]), int(state["history_size"])

    def __repr__(self) -> str:
        return f"AdversarialReward(kind={self.kind!r}, lipschitz={self.lipschitz!r}, reward={self.reward_form!r})"


def absorbing_logit(
    *, expert_terminals: float, expert_steps: float, agent_terminals: float, agent_steps: float
) -> float:
    """The cross-entropy-optimal logit of the absorbing state, ``log(f_E / f_A)``, with the sign of ``p_E − p_A``.

    ``p = terminals / (steps + terminals)`` is the fraction of absorbing transitions (one per terminal
    transition) among a side's transitions. Both fractions are smoothed at one common size, the smaller side's
    ``m = min(n_E, n_A)`` transitions: ``f = (p·m + ½) / (m + 1)``, add-½ so that a side that never terminates
    gives a finite logit. ``f`` rises with ``p``, so ``ℓ_a`` is negative exactly when the agent terminates more
    often than the expert, zero when both never do, and never rewards ending an episode the expert would not
    end. (Add-½ on each side's own counts, ``(T + ½)/(n + 1)``, does not keep that sign for sides of unequal
    size: an agent counted over a whole run of ``n_A`` ≫ ``n_E`` steps with a few terminations would get
    ``f_A < f_E`` and a positive ``ℓ_a``.)

    Examples:
        >>> from rewardlab.learned.adversarial.term import absorbing_logit
        >>> round(absorbing_logit(expert_terminals=0, expert_steps=5000, agent_terminals=2, agent_steps=80000), 3)
        -0.223
        >>> absorbing_logit(expert_terminals=0, expert_steps=5000, agent_terminals=0, agent_steps=80000)
        0.0
    """
    n_expert, n_agent = expert_steps + expert_terminals, agent_steps + agent_terminals
    m = min(n_expert, n_agent)
    p_expert = expert_terminals / n_expert if n_expert > 0 else 0.0
    p_agent = agent_terminals / n_agent if n_agent > 0 else 0.0
    f_expert = (p_expert * m + 0.5) / (m + 1.0)
    f_agent = (p_agent * m + 0.5) / (m + 1.0)
    return float(np.log(f_expert / f_agent))
