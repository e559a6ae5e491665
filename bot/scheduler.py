"""Scheduled jobs: each is thin (one service call, log, carry on), run by APScheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.bootstrap import App
from bot.clock import Clock
from bot.errors import AuthError, BotError, RateLimited
from bot.services.answering import poll_and_answer
from bot.services.dashboards import prune_kept_purchases
from bot.services.inbox import reconcile_inbox
from bot.services.notices import queue_credit_notices
from bot.services.replies import send_replies

logger = logging.getLogger(__name__)
RETENTION_SECONDS = 6 * 3600.0  # the retention rule works in days: a few checks a day are plenty


@dataclass(frozen=True)
class Job:
    """A named service call and how often to make it."""

    name: str
    seconds: float
    call: Callable[[], None]


def jobs_for(app: App) -> list[Job]:
    """Return the bot's jobs: poll mentions, reconcile the inbox, refresh the dashboards, queue credit
    notices, reply, and apply the dashboard's retention rule."""
    settings = app.settings

    def poll() -> None:
        if not app.locks.acquire("poller"):  # another instance leads; ask again next tick
            return
        catalog = app.campaigns.current()
        # The replies this poll queues go out straight after it, not at the next reply tick.
        report = poll_and_answer(app.uow, app.api, catalog, app.renderer, app.clock,
                                 bot_user_id=settings.bot_user_id, batch=settings.reply_batch,
                                 me=app.instance, gone=app.locks.gone)
        if report.poll.posts:
            logger.info("poll: %s", report.poll.describe())
        if report.sent is not None and report.sent.results:
            logger.info("replies: %s", report.sent.describe())

    def send() -> None:
        report = send_replies(app.uow, app.api, app.renderer, app.clock, batch=settings.reply_batch,
                              me=app.instance, gone=app.locks.gone)
        if report.results:
            logger.info("replies: %s", report.describe())

    def reconcile() -> None:
        for result in reconcile_inbox(app.reconcile_deps(), app.campaigns.current(), settings.inbox_dir,
                                      keep=settings.keep_inputs):
            if result.summary is not None:
                logger.info("inbox: %s", result.summary.render().splitlines()[0])

    def notices() -> None:
        queue_credit_notices(app.uow, app.campaigns.current(), app.clock)

    def dashboards() -> None:
        # Cheap when nothing moved (a few counters per campaign): a report is recomputed only
        # after a reconciliation run or a poll that enrolled someone changed its stamp.
        done = app.refresh_dashboards()
        if done.computed or done.failed:
            logger.info("dashboards: %s", done.describe())

    def retention() -> None:
        today = app.clock().astimezone(settings.tz).date()
        prune_kept_purchases(app.uow, app.campaigns.current(), app.dashboard_store(), today=today)

    # In this order, `run --once` takes a post or a file all the way to its reply.
    return [Job("poll-mentions", settings.poll_interval, poll),
            Job("reconcile-inbox", settings.reconcile_interval, reconcile),
            Job("refresh-dashboards", settings.poll_interval, dashboards),
            Job("queue-credit-notices", settings.reply_interval, notices),
            Job("send-replies", settings.reply_interval, send),
            Job("prune-kept-purchases", RETENTION_SECONDS, retention)]


def guarded(job: Job) -> Callable[[], None]:
    """Wrap a job so that a failure is logged and the next tick still runs."""

    def run() -> None:
        try:
            job.call()
        except RateLimited as exc:
            logger.warning("%s: %s; will try again after that", job.name, exc)
        except AuthError as exc:
            logger.error("%s: %s", job.name, exc)
        except BotError as exc:
            logger.error("%s failed: %s", job.name, exc)
        except Exception:
            logger.exception("%s crashed; it will run again at its next tick", job.name)

    return run


def run_once(jobs: list[Job]) -> None:
    """Run every job once, in order (for cron and tests)."""
    for job in jobs:
        guarded(job)()


def run_until_stopped(jobs: list[Job], stop: threading.Event, clock: Clock) -> None:
    """Run the jobs on their intervals until ``stop`` is set, then let running jobs finish.

    Each job is one instance at most and missed ticks coalesce into one, so a slow poll never
    piles up behind itself.
    """
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=len(jobs) + 1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    for job in jobs:
        # First run straight away rather than one interval after start-up.
        scheduler.add_job(guarded(job), "interval", seconds=job.seconds, id=job.name,
                          name=job.name, next_run_time=clock(), replace_existing=True)
    scheduler.start()
    try:
        stop.wait()
    finally:
        logger.info("stopping: waiting for running jobs to finish")
        scheduler.shutdown(wait=True)

