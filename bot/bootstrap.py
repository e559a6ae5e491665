"""The composition root: builds every adapter and service from Settings, nothing at import."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from bot.adapters.database import make_engine
from bot.adapters.locks import instance_name, locks_for
from bot.adapters.migrations import schema_state, upgrade
from bot.adapters.page_templates import PageTemplates
from bot.adapters.passwords import PasswordHasher
from bot.adapters.portal_repository import PortalRepository
from bot.adapters.read_models import ReadModels
from bot.adapters.repository import unit_of_work_factory
from bot.adapters.sandbox import SandboxApi
from bot.adapters.templates import TemplateRenderer
from bot.adapters.x_api import XApi
from bot.clock import Clock, utc_now
from bot.config import KEY_VAR, Settings
from bot.domain.cards import Fingerprinter
from bot.errors import ConfigError, SchemaOutdated
from bot.ports import Locks, Renderer, SocialApi, UnitOfWorkFactory
from bot.services.accounts import Accounts
from bot.services.campaigns import CampaignSource
from bot.services.reconciliation import ReconcileDeps
from bot.services.submissions import CampaignDesk
from bot.services.uploads import Runner, UploadDesk

logger = logging.getLogger(__name__)


@dataclass
class App:
    """Everything a command or job needs, built once."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    api: SocialApi
    renderer: Renderer
    clock: Clock
    campaigns: CampaignSource
    fingerprinter: Fingerprinter
    locks: Locks
    instance: str  # this process among instances: host:pid

    def reconcile_deps(self) -> ReconcileDeps:
        """Return what reconciliation needs."""
        return ReconcileDeps(self.uow, self.fingerprinter, self.clock, self.settings.exports_dir,
                             self.settings.tz, self.locks, self.settings.reconcile_batch_rows)

    def close(self) -> None:
        """Give up held locks and release database connections."""
        self.locks.close()
        self.engine.dispose()


def bootstrap(settings: Settings, *, api: SocialApi | None = None, clock: Clock = utc_now,
              engine: Engine | None = None) -> App:
    """Build the app; tests pass fakes for ``api``, ``clock`` or ``engine``."""
    engine = engine or make_engine(settings.database_url)
    instance = instance_name()
    check_schema(engine)
    uow = unit_of_work_factory(engine)
    if api is None:
        if settings.x is not None:
            api = XApi.from_credentials(settings.x, settings.bot_user_id, clock=clock)
        else:
            sandbox = SandboxApi(settings.sandbox_mentions, settings.sandbox_replies, clock=clock)
            sandbox.ensure_files()
            api = sandbox
    return App(
        settings=settings,
        engine=engine,
        uow=uow,
        api=api,
        renderer=TemplateRenderer(settings.templates_dir),
        clock=clock,
        campaigns=CampaignSource(settings.offers_dir, settings.tz, uow, clock,
                                 display_root=settings.source.parent),
        fingerprinter=Fingerprinter(_fingerprint_key(settings)),
        # A lease outlives a few missed polls, so a slow tick does not hand leadership over.
        locks=locks_for(engine, instance, clock, timedelta(seconds=max(3 * settings.poll_interval, 60))),
        instance=instance,
    )


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this code needs (SchemaOutdated).

    A brand-new SQLite file is the embedded default, so it is created on the spot; any other
    database is changed only by `offerbot db upgrade`, never behind an operator's back.
    """
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.empty and engine.dialect.name == "sqlite":
        upgrade(engine)
        logger.info("created the database %s (schema %s)", engine.url.database, state.head)
        return
    if state.current is None and not state.empty:
        found = "tables this version cannot date (no migration history)"
    else:
        found = f"schema revision {state.current or 'none (empty)'}"
    raise SchemaOutdated(f"the database has {found}; this version needs revision {state.head}. "
                         "Back it up, then run `offerbot db upgrade`")


def _fingerprint_key(settings: Settings) -> bytes:
    """Return the card fingerprint key; the sandbox makes a development key of its own."""
    if settings.fingerprint_key is not None:
        return settings.fingerprint_key
    if not settings.sandbox:
        raise ConfigError("environment", KEY_VAR, "is not set (X credentials are, so this is not "
                          "the sandbox)",
                          f"generate one with `offerbot keygen` and add {KEY_VAR}=... to .env")
    path = settings.data_dir / "sandbox" / "fingerprint.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        logger.info("sandbox: created a development card fingerprint key in %s", path)
    return bytes.fromhex(Path(path).read_text().strip())


@dataclass
class Portal:
    """The web portal's services, built over the bot's app (same database and campaigns)."""

    accounts: Accounts
    read: ReadModels
    campaigns: CampaignDesk
    uploads: UploadDesk
    pages: PageTemplates
    locks: Locks  # its own holder name, so a portal run and the bot's inbox job exclude each other


def build_portal(app: App, *, hasher: PasswordHasher | None = None, runner: Runner | None = None) -> Portal:
    """Build the portal's services; tests pass a cheap ``hasher`` and a synchronous ``runner``."""
    settings = app.settings
    repo = PortalRepository(app.engine)
    read = ReadModels(app.engine, repo)
    locks = locks_for(app.engine, f"{app.instance} (portal)", app.clock,
                      timedelta(seconds=max(3 * settings.poll_interval, 60)))

    def deps() -> ReconcileDeps:
        return dataclasses.replace(app.reconcile_deps(), locks=locks)

    return Portal(
        accounts=Accounts(repo, hasher or PasswordHasher(), app.clock),
        read=read,
        campaigns=CampaignDesk(settings.offers_dir, settings.source.parent, settings.tz, app.renderer, repo,
                               app.clock, lambda: read.ownerships(app.campaigns.current().by_id)),
        uploads=UploadDesk(settings.inbox_dir, repo, deps, app.campaigns.current, app.clock,
                           runner or start_thread),
        pages=PageTemplates(settings.templates_dir),
        locks=locks,
    )


def start_thread(job: Callable[[], None]) -> None:
    """Run ``job`` in a thread of its own (not a daemon: the process waits for it to finish)."""
    threading.Thread(target=job, name="offerbot-portal-job").start()
