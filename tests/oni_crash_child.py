"""Child process of the ONI crash test: an env loop with an ONI term labelled by an LLM server, until killed.

    python oni_crash_child.py URL STORE LOG BATCHING CHECKPOINT_AT

Every step appends ``{"t": time, "texts": [...]}`` (the messages of the next observations, which the term
rewards) to ``LOG``; at step
``CHECKPOINT_AT`` it takes the term's ``state_dict()`` (what a checkpoint does) and appends ``{"checkpoint": t}``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from oni_helpers import MessageEnv
from stable_baselines3.common.vec_env import DummyVecEnv

import rewardlab as rl
from rewardlab.oni.messages import decode

N_ENVS = 2
MESSAGES = [f"You see message number {i}." for i in range(4000)]


def main(url: str, store: str, log_path: str, batching: str, checkpoint_at: int) -> None:
    annotator = {"kind": "llm", "base_url": url, "model": "fake-model", "concurrency": 2, "timeout": 30.0,
                 "batching": batching}  # fmt: skip
    term = rl.oni.oni(model="retrieval", annotator=annotator, store=store, beta=0.0, batch_size=4)
    envs = [lambda i=i: MessageEnv(MESSAGES, length=2000, offset=i * 2000) for i in range(N_ENVS)]
    venv = rl.RewardVecWrapper(DummyVecEnv(envs), term)
    venv.reset()
    with open(log_path, "a", encoding="utf-8") as log:
        step = 0
        while True:
            obs, _, _, _ = venv.step(np.zeros(N_ENVS, dtype=np.int64))  # (episodes never end here)
            log.write(json.dumps({"t": time.time(), "texts": [decode(m) for m in obs["message"]]}) + "\n")
            log.flush()
            step += 1
            if step == checkpoint_at:
                term.state_dict()
                log.write(json.dumps({"checkpoint": time.time(), "texts": []}) + "\n")
                log.flush()
            time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
