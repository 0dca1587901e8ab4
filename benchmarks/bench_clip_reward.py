"""CLIP reward cost on the CPU: batched vs one frame at a time, where the time goes, PPO slowdown.

Part 1 -- scoring. ViT-B-32 at 224×224 with random weights (same cost as trained ones):
the frames of ``--envs`` Humanoid-v5 envs scored as one batch vs one frame at a time
(alternating, median of ``--rounds``), frames per second, and the time of one vector
step split into rendering (MuJoCo, EGL), preprocessing and the model. Also: open_clip's
per-image PIL preprocessing vs ours, and bfloat16 autocast where the CPU has it.

Part 2 -- training. PPO on Hopper-v5 for ``--ppo-steps`` steps: extrinsic reward only
(nothing rendered) vs extrinsic + CLIP scored every frame vs every 4th frame (and every
4th with MuJoCo's shadows and reflections off); slowdown = wall time / baseline wall time.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_clip_reward.py [--threads 1] [--envs 8]

On a GPU: the same script with ``--device cuda`` (autocast float16 is on by default there).
Times are process CPU time for part 1 (robust to other load) and wall time for part 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rewardlab as rl  # noqa: E402
from rewardlab.vlm import CLIPEncoder, CLIPReward  # noqa: E402
from rewardlab.wrappers.frames import FRAME_KEY, make_env_with_frames  # noqa: E402

GOAL, BASELINE = ["a humanoid robot kneeling"], ["a humanoid robot"]
CAMERA = {"trackbodyid": 1, "distance": 3.5, "lookat": [0.0, 0.0, 1.0], "elevation": -10.0, "azimuth": 180.0}
RESULTS = Path(__file__).parent / "results" / "clip_reward.json"


def clock(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def render_frames(n_envs: int, flat: bool) -> tuple[np.ndarray, float]:
    """One frame from each of ``n_envs`` Humanoid envs after a few random steps; seconds per frame."""
    settings = rl.FrameSettings(224, 224, camera_config=CAMERA, shadows=not flat, reflections=not flat)
    envs = [make_env_with_frames("Humanoid-v5", settings) for _ in range(n_envs)]
    frames, spent = [], 0.0
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.step(env.action_space.sample())  # first render builds the GL context: not timed
        start = time.process_time()  # includes Mesa's rasteriser threads
        for _ in range(3):
            frame = env.step(env.action_space.sample())[4][FRAME_KEY]
        spent += time.process_time() - start
        frames.append(frame)
    for env in envs:
        env.close()
    return np.stack(frames), spent / (3 * n_envs)


def scoring(args: argparse.Namespace) -> dict:
    enc = CLIPEncoder.from_pretrained(args.model, "random", device=args.device, autocast=False)
    term = CLIPReward(enc, GOAL, BASELINE, alpha=0.5)
    frames, render_s = render_frames(args.envs, flat=False)
    _, render_flat_s = render_frames(args.envs, flat=True)
    n = len(frames)
    term.score_frames(frames)  # warm-up
    batched, single, prep, prep_pil, model = [], [], [], [], []
    exact = rl.vlm.BatchPreprocess(enc.clip.preprocess_cfg, exact=True)
    for _ in range(args.rounds):
        t = clock(args.device)
        term.score_frames(frames)
        batched.append(clock(args.device) - t)
        t = clock(args.device)
        for i in range(n):
            term.score_frames(frames[i : i + 1])
        single.append(clock(args.device) - t)
        t = clock(args.device)
        x = enc.preprocess(frames).to(enc.device)
        prep.append(clock(args.device) - t)
        t = clock(args.device)
        exact(frames)
        prep_pil.append(clock(args.device) - t)
        with torch.inference_mode():
            t = clock(args.device)
            enc.model.encode_image(x)
            model.append(clock(args.device) - t)
    med = {k: statistics.median(v) / n for k, v in dict(
        batched=batched, single=single, prep=prep, prep_pil=prep_pil, model=model).items()}
    out = {
        "frames": n,
        "ms_per_frame_batched": 1e3 * med["batched"],
        "ms_per_frame_single": 1e3 * med["single"],
        "batched_speedup": med["single"] / med["batched"],
        "frames_per_second_batched": 1.0 / med["batched"],
        "ms_render": 1e3 * render_s,
        "ms_render_flat": 1e3 * render_flat_s,
        "ms_preprocess": 1e3 * med["prep"],
        "ms_preprocess_open_clip_pil": 1e3 * med["prep_pil"],
        "ms_model": 1e3 * med["model"],
    }
    step = render_s + med["batched"]
    out["share_render"] = render_s / step
    out["share_preprocess"] = med["prep"] / step
    out["share_model"] = med["model"] / step
    if args.device == "cpu" and torch.backends.cpu.get_cpu_capability() in ("AVX512", "AVX512_BF16", "AMX"):
        enc.autocast = True
        term.score_frames(frames)
        times = []
        for _ in range(args.rounds):
            t = clock(args.device)
            term.score_frames(frames)
            times.append(clock(args.device) - t)
        out["ms_per_frame_batched_bf16_autocast"] = 1e3 * statistics.median(times) / n
    return out


def training(args: argparse.Namespace) -> dict:
    from stable_baselines3 import PPO

    enc = CLIPEncoder.from_pretrained(args.model, "random", device=args.device)
    variants = {
        "extrinsic (no frames)": None,
        "+ CLIP every frame": dict(score_every=1, flat=False),
        "+ CLIP every 4th frame": dict(score_every=4, flat=False),
        "+ CLIP every 4th, no shadows/reflections": dict(score_every=4, flat=True),
    }
    out = {}
    for label, v in variants.items():
        reward = rl.extrinsic()
        if v is not None:
            settings = rl.FrameSettings(224, 224, shadows=not v["flat"], reflections=not v["flat"])
            reward = reward + 0.1 * CLIPReward(
                enc, GOAL, BASELINE, alpha=0.5, score_every=v["score_every"], frame_settings=settings
            )
        venv = rl.RewardVecWrapper(
            rl.make_vec_env("Hopper-v5", args.ppo_envs, seed=0, frames=rl.frame_settings(reward)), reward
        )
        model = PPO("MlpPolicy", venv, n_steps=args.ppo_steps // args.ppo_envs // 2, batch_size=64, n_epochs=2,
                    seed=0, device="cpu")
        start, cpu = time.perf_counter(), time.process_time()
        model.learn(args.ppo_steps)
        out[label] = (time.perf_counter() - start, time.process_time() - cpu)
        venv.close()
        print(f"  {label}: {out[label][0]:.1f} s wall, {out[label][1]:.1f} s CPU", flush=True)
    base_wall, base_cpu = out["extrinsic (no frames)"]
    return {
        label: {
            "seconds": wall,
            "cpu_seconds": cpu,
            "slowdown": wall / base_wall,
            "cpu_slowdown": cpu / base_cpu,
            "steps_per_second": args.ppo_steps / wall,
        }
        for label, (wall, cpu) in out.items()
    }


def print_scoring(s: dict) -> None:
    print(f"  batched: {s['ms_per_frame_batched']:.1f} ms/frame ({s['frames_per_second_batched']:.2f} frames/s); "
          f"one at a time: {s['ms_per_frame_single']:.1f} ms/frame; batched speedup {s['batched_speedup']:.2f}x")
    print(f"  per frame: render {s['ms_render']:.1f} ms (no shadows/reflections {s['ms_render_flat']:.1f}), "
          f"preprocess {s['ms_preprocess']:.2f} ms (open_clip PIL {s['ms_preprocess_open_clip_pil']:.2f}), "
          f"model {s['ms_model']:.1f} ms")
    print(f"  shares of a rendered+scored frame: render {s['share_render']:.0%}, "
          f"preprocess {s['share_preprocess']:.1%}, model {s['share_model']:.0%}")
    if "ms_per_frame_batched_bf16_autocast" in s:
        print(f"  bfloat16 autocast: {s['ms_per_frame_batched_bf16_autocast']:.1f} ms/frame batched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--envs", type=int, default=8, help="frames scored per batch (one per env)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ppo-steps", type=int, default=512)
    parser.add_argument("--ppo-envs", type=int, default=4)
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file for the results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"config": {**vars(args), "out": str(args.out)}, "cpu": torch.backends.cpu.get_cpu_capability()}
    if not args.skip_scoring:
        print(f"scoring {args.envs} frames of 224x224 with {args.model} (random weights) on {args.device}, "
              f"{args.threads} thread(s)", flush=True)
        result["scoring"] = scoring(args)
        print_scoring(result["scoring"])
    if not args.skip_training:
        print(f"PPO on Hopper-v5, {args.ppo_steps} steps, {args.ppo_envs} envs", flush=True)
        result["training"] = training(args)
        for label, row in result["training"].items():
            print(f"  {label}: {row['steps_per_second']:.1f} steps/s, slowdown {row['slowdown']:.1f}x wall, "
                  f"{row['cpu_slowdown']:.1f}x CPU time")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
