"""Serving the portal with uvicorn: on its own (`offerbot web`) or beside the bot (`run --portal`)."""

from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from bot.bootstrap import App, Portal, build_portal
from bot.web.app import create_app

logger = logging.getLogger(__name__)


def _server(app: App, host: str | None, port: int | None) -> tuple[uvicorn.Server, Portal]:
    settings = app.settings.portal
    portal = build_portal(app)
    config = uvicorn.Config(create_app(app, portal), host=host or settings.host,
                            port=port or settings.port, log_config=None, access_log=False,
                            server_header=False, proxy_headers=True, lifespan="off")
    return uvicorn.Server(config), portal


def serve(app: App, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the portal until SIGTERM or Ctrl-C."""
    server, portal = _server(app, host, port)
    logger.info("portal at %s (listening on %s:%d)", app.settings.portal.url, server.config.host,
                server.config.port)
    # uvicorn raises the signal it caught again once it has shut down; with these handlers in
    # place that ends here, so a SIGTERM stop exits 0 like `offerbot run` does.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: logger.info("received %s", signal.Signals(number).name))
    try:
        server.run()
    finally:
        portal.locks.close()
    logger.info("portal stopped")


class PortalThread:
    """The portal served from a thread of the bot's process."""

    def __init__(self, server: uvicorn.Server, portal: Portal) -> None:
        self._server, self._portal = server, portal
        self._thread = threading.Thread(target=server.run, name="offerbot-portal")

    def start(self) -> PortalThread:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests, finish those in flight, and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._portal.locks.close()
        logger.info("portal stopped")


def serve_in_thread(app: App) -> PortalThread:
    """Start the portal in a thread (uvicorn leaves the signals to the bot's main thread)."""
    server, portal = _server(app, None, None)
    logger.info("portal at %s", app.settings.portal.url)
    return PortalThread(server, portal).start()
