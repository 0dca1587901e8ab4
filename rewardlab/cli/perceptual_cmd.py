"""``rewardlab perceptual fit``: fit a perceptual reward from a folder of demonstration videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rewardlab.cli.common import examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "perceptual",
        help="perceptual rewards from demonstration videos (Sermanet et al.)",
        description="Fit a perceptual reward (Sermanet et al. 2016) from a few demonstration videos: "
        "'rewardlab perceptual fit DEMOS_DIR'; train with it through {term: perceptual, path: FILE}.",
        **examples(
            "rewardlab perceptual fit demos/ --out perceptual_reward.pt",
            "rewardlab perceptual fit demos/ --encoder clip:ViT-B-32:/models/clip.pt --steps 4",
        ),
    )
    sub = p.add_subparsers(dest="perceptual_command", metavar="ACTION")
    sub.required = True
    fit = sub.add_parser(
        "fit",
        help="fit a reward from a folder of demo videos (.mp4 .gif ... or .npy frame arrays)",
        description="Split each demonstration into steps, pick the features that tell steps apart, fit per-step "
        "classifiers and save the reward; use it with {term: perceptual, path: FILE}.",
        **examples(
            "rewardlab perceptual fit demos/ --out perceptual_reward.pt",
            "rewardlab perceptual fit demos/ --encoder torchvision:resnet18:random --steps 3 --features 64",
        ),
    )
    fit.add_argument("demos", metavar="DEMOS_DIR", help="folder of demonstration videos or .npy/.npz frame arrays")
    fit.add_argument(
        "--encoder",
        default="pixels:16",
        help="clip:MODEL:TAG, clip:MODEL:/path/weights, torchvision:NAME[:random|:/path.pth][:SIZE] or pixels:SIZE "
        "(default: pixels:16)",
    )
    fit.add_argument("--steps", type=int, default=3, help="number of steps to discover (default: 3)")
    fit.add_argument("--features", type=int, default=32, help="features kept per step (default: 32)")
    fit.add_argument("--min-length", type=int, default=None, help="shortest step in frames (default: T / 3K)")
    fit.add_argument("--out", default="perceptual_reward.pt", help="output file (default: perceptual_reward.pt)")
    fit.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from rewardlab.perceptual.reward import PerceptualReward, read_demos

    try:
        demos = read_demos(args.demos)
        reward = PerceptualReward.fit(
            list(demos.values()),
            encoder=args.encoder,
            n_steps=args.steps,
            n_features=args.features,
            min_length=args.min_length,
        )
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from err
    path = reward.save(args.out)
    report = {
        "demos": {name: len(frames) for name, frames in demos.items()},
        "steps (frame where each starts)": {
            name: bounds[:-1].tolist() for name, bounds in zip(demos, reward.model.boundaries)
        },
        "encoder": reward.encoder.spec,
        "saved": str(Path(path)),
    }
    print(json.dumps(report, indent=2))
    print(f"use it in a reward file: {{term: perceptual, path: {path}}}")
    return 0
