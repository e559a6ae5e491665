"""Jobs: thin, guarded, one instance each, and a clean stop."""

from __future__ import annotations

import logging
import threading

from bot.clock import utc_now
from bot.errors import BotError, RateLimited
from bot.scheduler import Job, guarded, run_once, run_until_stopped
from tests.fakes import START


def test_a_failing_job_is_logged_and_the_next_one_still_runs(caplog):
    """run_once runs every job even when one raises; the failure is logged with its name."""
    ran = []

    def broken() -> None:
        raise BotError("database is on fire")

    with caplog.at_level(logging.INFO):
        run_once([Job("broken", 60, broken), Job("fine", 60, lambda: ran.append("fine"))])

    assert ran == ["fine"]
    assert "broken failed: database is on fire" in caplog.text


def test_an_unexpected_exception_is_logged_with_its_traceback(caplog):
    """A bug in a job is logged with exc_info instead of killing the scheduler thread."""

    def buggy() -> None:
        raise KeyError("oops")

    guarded(Job("buggy", 60, buggy))()

    [record] = [r for r in caplog.records if r.name == "bot.scheduler"]
    assert record.exc_info is not None
    assert "buggy crashed" in record.getMessage()


def test_a_rate_limit_is_a_warning_not_an_error(caplog):
    """Being rate limited is expected: the job logs a warning and waits for its next tick."""

    def limited() -> None:
        raise RateLimited("GET /2/users/:id/mentions", START)

    guarded(Job("poll", 60, limited))()

    [record] = [r for r in caplog.records if r.name == "bot.scheduler"]
    assert record.levelno == logging.WARNING


def test_stopping_waits_for_the_job_in_flight():
    """After stop is set the runner waits for a running job to finish, then returns."""
    started, release, finished, stop = (threading.Event() for _ in range(4))

    def slow_job() -> None:
        started.set()
        release.wait(timeout=10)
        finished.set()

    runner = threading.Thread(target=run_until_stopped,
                              args=([Job("slow", 3600, slow_job)], stop, utc_now))
    runner.start()
    assert started.wait(timeout=10)
    stop.set()
    runner.join(timeout=0.2)
    assert runner.is_alive()  # still waiting for the job in flight

    release.set()
    runner.join(timeout=10)

    assert not runner.is_alive()
    assert finished.is_set()
