"""Ray backend: the same runs as Ray tasks, on a local Ray instance or an existing cluster.

Without ``address`` it starts a private local Ray instance (``num_cpus=workers``,
no dashboard) and stops it at the end; with ``address`` (``"auto"`` or
``"ray://host:10001"``) it joins a running cluster, which must have rewardlab
installed on every node. Each task trains into a temporary folder on its node
and sends the run folder back as a tar archive, so nodes need no shared
filesystem: the driver unpacks it into ``<out>/<run_id>/`` and writes
``status.json`` last.
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
from rewardlab.sweep.state import STATUS_FILE, mark, mark_failed, prepare_run_dir


def run_packed(run: SweepRun) -> tuple[RunResult, bytes]:
    """Train ``run`` in a temporary folder; return its result and the folder as a tar archive."""
    tmp = Path(tempfile.mkdtemp(prefix="rewardlab-sweep-"))
    try:
        run_dir = tmp / run.run_id
        result = execute_run(run, run_dir)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(run_dir.rglob("*")):
                if path.name != STATUS_FILE:
                    tar.add(path, arcname=str(path.relative_to(run_dir)), recursive=False)
        return result, buffer.getvalue()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(archive: bytes, run_dir: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(run_dir, filter="data")


class RayBackend:
    """Run jobs as Ray tasks with one CPU each; call ``on_result`` as each run ends."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = check_workers(workers)
        self.address = address

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
        task = ray.remote(num_cpus=1, max_retries=0)(run_packed)
        pending: dict[Any, tuple[SweepRun, float]] = {}
        try:
            for job in jobs:
                prepare_run_dir(out / job.run_id, job.config_hash)
                pending[task.remote(job)] = (job, time.perf_counter())
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

    @staticmethod
    def _collect(ray: Any, ref: Any, job: SweepRun, run_dir: Path, started: float) -> RunResult:
        try:
            result, archive = ray.get(ref)
        except Exception as err:  # noqa: BLE001 -- a lost node or worker is this run's failure
            message = mark_failed(run_dir, job.config_hash, err)
            return RunResult(job.run_id, "failed", time.perf_counter() - started, error=message)
        unpack(archive, run_dir)
        if result.state == "done":
            mark(run_dir, "done", job.config_hash, seconds=round(result.seconds, 2))
        else:
            mark_failed(run_dir, job.config_hash, result.error or "failed", result.traceback)
        return result
