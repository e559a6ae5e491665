"""`offerbot run` and `offerbot web`: the long-running processes."""

from __future__ import annotations

import logging
import signal
import threading

import click

from bot.adapters.private_files import private_folder
from bot.cli.context import Context, pass_ctx
from bot.cli.errors import command
from bot.scheduler import jobs_for, run_once, run_until_stopped
from bot.services.inbox import ensure_inbox

logger = logging.getLogger("bot")


@command()
@click.option("--once", is_flag=True, help="Run each job once and exit (for cron and tests).")
@click.option("--portal", is_flag=True,
              help="Serve the web portal from this process too ([portal] host and port).")
@pass_ctx
def run(obj: Context, once: bool, portal: bool) -> None:
    """Poll mentions and send replies until stopped (SIGTERM or Ctrl-C)."""
    app = obj.app()
    if portal and not once:
        from bot.web.serve import serve_in_thread

        server = serve_in_thread(app)
        obj.on_close(server.stop)
    catalog = app.campaigns.load()
    private_folder(app.settings.data_dir)
    ensure_inbox(app.settings.inbox_dir)  # where ops drop the day's file, there from the start
    mode = "SANDBOX (no X credentials set)" if app.settings.sandbox else "X"
    logger.info("offerbot starting in %s mode: %s", mode, app.api.describe())
    logger.info("%d campaigns in force (%d on their last good version); database %s", len(catalog.campaigns),
                len(catalog.last_good), app.engine.url.render_as_string(hide_password=True))
    jobs = jobs_for(app)
    if once:
        run_once(jobs)
        return
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_until_stopped(jobs, stop, app.clock)
    logger.info("offerbot stopped")


@command()
@click.option("--host", help="Address to listen on (default: [portal] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (default: [portal] port).")
@pass_ctx
def web(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the web portal (ops console and merchant requests) until stopped."""
    from bot.web.serve import serve

    serve(obj.app(), host=host, port=port)
