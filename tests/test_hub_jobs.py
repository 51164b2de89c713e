"""The API's background jobs (hub/api/jobs.py): progress, items since a mark, failures, limits, forgetting."""

import threading

import pytest

from hub.api.jobs import JobBoard
from hub.errors import InvalidInput, NotFound, TooManyAttempts
from tests.polling import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def finished(board: JobBoard, job_id: str, owner: str = "asha") -> dict:
    assert wait_until(lambda: board.get(job_id, owner).state != "running", timeout_s=10)
    return board.get(job_id, owner).snapshot()


def test_a_job_reports_progress_items_and_its_result_to_its_owner_only():
    board, go_on = JobBoard(), threading.Event()

    def work(job):
        for i in range(3):
            job.advance("photos", i + 1, 3)
            job.add_item({"n": i})
            if i == 1:
                go_on.wait(10)
        return {"total": 3}

    job = board.start("test", "asha", work)
    assert wait_until(lambda: board.get(job.job_id, "asha").snapshot()["done"] == 2)
    middle = board.get(job.job_id, "asha").snapshot(since=1)
    assert (middle["state"], middle["items"], middle["items_total"]) == ("running", [{"n": 1}], 2)
    with pytest.raises(NotFound):
        board.get(job.job_id, "ravi")
    go_on.set()
    done = finished(board, job.job_id)
    assert (done["state"], done["done"], done["total"], done["result"]) == ("done", 3, 3, {"total": 3})


def test_bad_input_fails_with_its_message_and_a_crash_points_to_the_log(caplog):
    board = JobBoard()

    def refuse(_job):
        raise InvalidInput("row 3 is bad")

    def crash(_job):
        raise RuntimeError("secret internals")

    assert finished(board, board.start("t", "asha", refuse).job_id)["error"] == "row 3 is bad"
    crashed = finished(board, board.start("t", "asha", crash).job_id)
    assert crashed["state"] == "failed" and "log" in crashed["error"] and "secret" not in crashed["error"]
    assert "secret internals" in caplog.text


def test_at_most_max_running_and_finished_jobs_are_forgotten_after_keep_s():
    clock, release = Clock(), threading.Event()
    board = JobBoard(max_running=1, keep_s=60, clock=clock)
    first = board.start("t", "asha", lambda _job: release.wait(10) and {})
    with pytest.raises(TooManyAttempts):
        board.start("t", "asha", lambda _job: {})
    release.set()
    finished(board, first.job_id)
    second = board.start("t", "asha", lambda _job: {})
    finished(board, second.job_id)
    clock.now += 61
    board.start("t", "asha", lambda _job: {})  # starting a job sweeps the old ones
    for old in (first, second):
        with pytest.raises(NotFound):
            board.get(old.job_id, "asha")
