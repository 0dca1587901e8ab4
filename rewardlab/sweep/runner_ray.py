"""Ray backend: the same runs as Ray tasks, on a local Ray instance or an existing cluster.

Without ``address`` it starts a private local Ray instance (``num_cpus=workers``,
no dashboard) and stops it at the end; with ``address`` (``"auto"`` or
``"ray://host:10001"``) it joins a running cluster, which must have rewardlab
installed on every node.

Where runs train:

* **in place** (a local instance, or a cluster started with ``shared_fs=True``):
  each task trains straight into ``<out>/<run_id>/``, exactly as the local
  backend does, so checkpoints land there while the run goes and a killed sweep
  continues each unfinished run from its last checkpoint;
* **packed** (a cluster without a shared filesystem): each task trains into a
  temporary folder on its node and sends the run folder back as a tar archive;
  the driver unpacks it into ``<out>/<run_id>/`` and writes ``status.json``
  last. An unfinished run folder the driver holds (with a checkpoint) is sent
  along with the task, which continues it; checkpoints written on the node
  while a run goes are not streamed back, so a run cut off on a cluster node
  restarts from the last checkpoint the driver has.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab.sweep.execute import RunResult, execute_run
from rewardlab.sweep.runner_local import check_workers
from rewardlab.sweep.spec import SweepRun
from rewardlab.sweep.state import STATUS_FILE, mark, mark_failed, prepare_run_dir, resumable


def pack(run_dir: Path, *, with_status: bool) -> bytes:
    """``run_dir`` as a gzipped tar archive (``status.json`` only ``with_status``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(run_dir.rglob("*")):
            if with_status or path.name != STATUS_FILE:
                tar.add(path, arcname=str(path.relative_to(run_dir)), recursive=False)
    return buffer.getvalue()


def run_packed(run: SweepRun, partial: bytes | None = None) -> tuple[RunResult, bytes]:
    """Train ``run`` in a temporary folder (continuing the ``partial`` run folder, if given); return its result
    and the folder as a tar archive."""
    tmp = Path(tempfile.mkdtemp(prefix="rewardlab-sweep-"))
    try:
        run_dir = tmp / run.run_id
        if partial is not None:
            unpack(partial, run_dir)
        result = execute_run(run, run_dir)
        return result, pack(run_dir, with_status=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_in_place(run: SweepRun, run_dir: str) -> RunResult:
    """Train ``run`` straight into ``run_dir`` (on a filesystem the driver shares), resuming it if it can."""
    return execute_run(run, Path(run_dir))


def unpack(archive: bytes, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(run_dir, filter="data")


def replace_with(archive: bytes, run_dir: Path) -> None:
    """Make ``run_dir`` hold exactly ``archive`` (unpacked beside it first, so a crash never leaves half of each)."""
    fresh = run_dir.with_name(run_dir.name + ".incoming")
    shutil.rmtree(fresh, ignore_errors=True)
    unpack(archive, fresh)
    shutil.rmtree(run_dir, ignore_errors=True)
    fresh.rename(run_dir)


class RayBackend:
    """Run jobs as Ray tasks with one CPU each; call ``on_result`` as each run ends."""

    name = "ray"

    def __init__(
        self, workers: int | None = None, address: str | None = None, *, shared_fs: bool | None = None
    ) -> None:
        self.workers = check_workers(workers)
        self.address = address
        #: train in ``<out>`` itself (checkpoints land there as runs go); default: on a local instance only
        self.in_place = address is None if shared_fs is None else bool(shared_fs)

    def _init(self) -> Any:
        try:
            import ray
        except ImportError as err:
            raise ImportError("the Ray backend needs Ray: pip install 'rewardlab[ray]'") from err
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        return ray

    def run(self, jobs: list[SweepRun], out: Path, on_result: Callable[[RunResult], None]) -> None:
        if not jobs:
            return
        ray = self._init()
        task = ray.remote(num_cpus=1, max_retries=0)(run_in_place if self.in_place else run_packed)
        pending: dict[Any, tuple[SweepRun, float]] = {}
        try:
            for job in jobs:
                run_dir = out / job.run_id
                if self.in_place:  # execute_run prepares or resumes the folder itself
                    ref = task.remote(job, str(run_dir))
                elif resumable(run_dir, job.config_hash):
                    ref = task.remote(job, pack(run_dir, with_status=True))
                else:
                    prepare_run_dir(run_dir, job.config_hash)
                    ref = task.remote(job)
                pending[ref] = (job, time.perf_counter())
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job, started = pending.pop(ref)
                    on_result(self._collect(ray, ref, job, out / job.run_id, started))
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.shutdown()

    def _collect(self, ray: Any, ref: Any, job: SweepRun, run_dir: Path, started: float) -> RunResult:
        try:
            returned = ray.get(ref)
        except Exception as err:  # noqa: BLE001 -- a lost node or worker is this run's failure
            run_dir.mkdir(parents=True, exist_ok=True)
            message = mark_failed(run_dir, job.config_hash, err)
            return RunResult(job.run_id, "failed", time.perf_counter() - started, error=message)
        if self.in_place:  # the task marked its own folder done or failed
            return returned
        result, archive = returned
        replace_with(archive, run_dir)
        if result.state == "done":
            mark(run_dir, "done", job.config_hash, seconds=round(result.seconds, 2))
        else:
            mark_failed(run_dir, job.config_hash, result.error or "failed", result.traceback)
        return result
