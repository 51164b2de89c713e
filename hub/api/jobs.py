"""Long uploads as background jobs the dashboard polls: progress, items as they are judged, result.

A ZIP of enrolment photos takes a second or more per photo to encode, and a
10,000-row staff list takes a while to check; a request that waited for all
of it would show the admin a frozen page and could time out behind a proxy.
So such an upload answers at once with a job id, the work runs in a thread,
and ``GET /api/v1/jobs/{id}`` says how far it is, the items done so far
(e.g. each photo's verdict) and, at the end, the result or the error.

Jobs live in the API process's memory (the hub API runs as one process): they
are progress reports, not the record. Whatever a job writes is committed to the
database as it goes; a restarted hub forgets the reports (the page then says
the job is unknown) but not the data. Finished jobs are forgotten after
``keep_s`` seconds, and at most ``max_running`` run at once, so uploads cannot
pile up threads.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import HubError, NotFound, TooManyAttempts

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One job's progress: ``done`` of ``total`` steps in ``stage``; ``items`` grow as steps finish."""

    job_id: str
    kind: str
    owner: str
    stage: str = "queued"
    done: int = 0
    total: int = 0
    state: str = "running"  # "running", "done" or "failed"
    items: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def advance(self, stage: str, done: int, total: int) -> None:
        """The work reports progress (the importer's ``Progress`` signature: stage, done, total)."""
        with self._lock:
            self.stage, self.done, self.total = stage, done, total

    def add_item(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.items.append(item)

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """What a poll answers; ``since`` skips the items the page already has."""
        with self._lock:
            return {"job_id": self.job_id, "kind": self.kind, "state": self.state, "stage": self.stage,
                    "done": self.done, "total": self.total, "items_total": len(self.items),
                    "items": list(self.items[since:]), "result": self.result, "error": self.error}


class JobBoard:
    """The API process's jobs, by id; each is visible to the user who started it only."""

    def __init__(self, *, max_running: int = 2, keep_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_running = max_running
        self.keep_s = keep_s
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, owner: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Run ``work(job)`` in a thread; its return value becomes ``job.result``.

        A ``HubError`` (bad input found on the way) fails the job with its message;
        anything else fails it with a pointer to the log, where the traceback is.
        """
        with self._lock:
            self._forget_old()
            running = sum(1 for j in self._jobs.values() if j.state == "running")
            if running >= self.max_running:
                raise TooManyAttempts(f"{running} uploads are being processed; try again when one has finished",
                                      retry_after_s=10)
            job = Job(job_id=secrets.token_urlsafe(12), kind=kind, owner=owner)
            self._jobs[job.job_id] = job
        threading.Thread(target=self._run, args=(job, work), name=f"job-{kind}", daemon=True).start()
        return job

    def get(self, job_id: str, owner: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"unknown job {job_id!r} (finished jobs are kept for {self.keep_s / 60:.0f} minutes, "
                           "and not across a hub restart)")
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        try:
            result = work(job)
        except HubError as exc:
            self._finish(job, error=str(exc))
        except Exception:  # noqa: BLE001  (a thread must not die silently: logged, reported to the page)
            log.exception("%s job %s failed", job.kind, job.job_id)
            self._finish(job, error="the hub failed on this upload; its log has the details")
        else:
            self._finish(job, result=result)

    def _finish(self, job: Job, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with job._lock:
            job.result, job.error = result, error
            job.state = "failed" if error is not None else "done"
            job.finished_at = self.clock()

    def _forget_old(self) -> None:
        cutoff = self.clock() - self.keep_s
        for job_id in [k for k, j in self._jobs.items() if j.finished_at is not None and j.finished_at < cutoff]:
            del self._jobs[job_id]
