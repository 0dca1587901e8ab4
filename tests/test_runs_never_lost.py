"""What is never lost: a finished run is left alone by --resume, a person's labels survive every restart and are
all used, a human teacher with no terminal is refused before anything starts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from interrupt import StopAt

import rewardlab as rl
from rewardlab.cli.main import main
from rewardlab.learned.preference import LabelStore
from rewardlab.runs.checkpoint import latest_checkpoint
from rewardlab.runs.folder import read_status, write_status
from rewardlab.train import RunConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--env", "CartPole-v1", "--steps", "256", "--n-envs", "2", "--hp", "n_steps=32", "--hp", "batch_size=64",
        "--eval-episodes", "0", "--no-progress"]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "is a finished run" in printed[0] and "nothing to do" in printed[0], printed
    assert _snapshot(out) == before
    # killed after summary.json but before the status said done: still finished, still untouched
    write_status(out, "running", step=256)
    before = _snapshot(out)
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert _snapshot(out) == before
    # the refusal for the same folder points to --overwrite or another --out, not to --resume
    capsys.readouterr()
    assert main(["train", *TINY, "--out", str(out)]) != 0
    refused = capsys.readouterr().err.strip()
    assert "already holds a finished run; pass --overwrite" in refused and "another --out" in refused
    assert "--resume" not in refused and len(refused.splitlines()) == 1


def _human(tmp_path: Path, lines: int, **options) -> dict:
    answers = tmp_path / "answers.txt"
    answers.write_text("".join(["l\n", "r\n", "e\n", "l\n", "s\n"][i % 5] for i in range(lines)))
    return {"term": "preference", "teacher": {"human": {"answers": str(answers)}}, "segment_length": 5,
            "queries_per_update": 4, "epochs": 2, "members": 2, "hidden": 16, "frame_size": [32, 24],
            **options}  # fmt: skip


def _config(term: dict, steps: int) -> RunConfig:
    return RunConfig(env="CartPole-v1", reward=[term], steps=steps, n_envs=2,
                     hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1}, eval_episodes=0)  # fmt: skip


def _rows(path: Path) -> dict[str, tuple]:
    with sqlite3.connect(path) as db:
        return {k: (a, t) for k, a, t in db.execute("SELECT key, answer, answered_at FROM pairs")}


def _model_labels(out: Path) -> int:
    return len(rl.load_run(out).reward.state_dict()["preference"]["model"]["labels"]["labels"])


def test_a_restart_without_checkpoint_keeps_the_labels_and_asks_no_pair_again(tmp_path):
    out = tmp_path / "run"
    config = _config(_human(tmp_path, 40, budget=12), steps=512)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress_bar=False, checkpoint_every=100_000, callback=StopAt(400))
    assert latest_checkpoint(out) is None
    first = _rows(out / "labels.sqlite")
    assert first and all(answer is not None for answer, _ in first.values())
    clips = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.gif")}

    summary = train(config, out, progress_bar=False, checkpoint_every=100_000, resume=True)
    assert summary["timesteps"] >= 512
    rows = _rows(out / "labels.sqlite")
    assert {k: rows[k] for k in first} == first  # every earlier answer is still there, unchanged
    assert len(rows) > len(first)  # and the run went on asking new pairs
    # the restart met the same pairs first; their answers came from the store: no clip was shown again
    assert all((out / "clips" / name).stat().st_mtime_ns == t for name, t in clips.items())
    store = LabelStore(out / "labels.sqlite")
    assert _model_labels(out) == len(store.dataset()["labels"])  # every stored answer (skips aside) is used
    store.close()


def test_answers_given_after_the_last_checkpoint_are_used_after_resume(tmp_path):
    out = tmp_path / "run"
    config = _config(_human(tmp_path, 40, budget=16), steps=896)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress_bar=False, checkpoint_every=640, callback=StopAt(800))
    checkpoint = latest_checkpoint(out)
    held = len(rl.runs.read_reward_state(checkpoint.path / "reward_state.pt")["state"]["preference"]["model"]
               ["labels"]["labels"])  # fmt: skip
    store = LabelStore(out / "labels.sqlite")
    stored = len(store.dataset()["labels"])
    store.close()
    assert stored > held  # answers were given after the checkpoint
    # a resume that is not exact (NetHack, subprocess envs, an older checkpoint) meets other pairs after the
    # checkpoint: the answers given there must come from the store
    (checkpoint.path / "run_state.pkl").unlink()

    with pytest.warns(UserWarning, match="not exact"):
        train(config, out, progress_bar=False, checkpoint_every=640, resume=True)
    (tmp_path / "answers.txt").unlink()  # the run loads without its answers file
    store = LabelStore(out / "labels.sqlite")
    assert _model_labels(out) == len(store.dataset()["labels"]) >= stored
    store.close()


def test_a_human_teacher_without_a_terminal_is_refused_before_anything_starts(tmp_path, capsys):
    out = tmp_path / "run"
    reward = json.dumps({"term": "preference", "teacher": "human", "budget": 4})
    assert main(["train", *TINY, "--reward", reward, "--out", str(out)]) != 0
    message = capsys.readouterr().err.strip()
    assert "stdin is not interactive" in message and "\n" not in message
    assert "terminal" in message and "PreferenceWidget" in message and "answers:" in message
    assert not out.exists()  # no env, no folder, no clip
    # a resumed run is checked before its folder is touched
    config = _config(_human(tmp_path, 8, budget=4), steps=256)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress_bar=False, checkpoint_every=0, callback=StopAt(10))
    (out / "config.yaml").write_text((out / "config.yaml").read_text().replace(
        f"answers: {tmp_path / 'answers.txt'}", f"answers: {tmp_path / 'missing.txt'}"))  # fmt: skip
    before = sorted(p.name for p in out.iterdir())
    assert main(["train", "--resume", str(out), "--no-progress"]) != 0
    assert "cannot read pre-recorded answers" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before and read_status(out)["state"] == "interrupted"


def test_overwrite_and_sweep_reruns_keep_what_a_person_made(tmp_path):
    from rewardlab.sweep.state import prepare_run_dir

    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    (out / "labels.sqlite").write_bytes(b"answers")
    (out / "demos.npz").write_bytes(b"demos")
    assert main(["train", *TINY, "--out", str(out), "--overwrite"]) == 0
    assert (out / "labels.sqlite").read_bytes() == b"answers" and (out / "demos.npz").read_bytes() == b"demos"
    prepare_run_dir(out, "hash")
    assert sorted(p.name for p in out.iterdir()) == ["demos.npz", "labels.sqlite", "status.json"]
    # a folder holding only what a person made takes a new run
    assert main(["train", *TINY, "--out", str(out)]) == 0
