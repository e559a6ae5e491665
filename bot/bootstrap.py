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

from bot.adapters.locks import instance_name, locks_for
from bot.adapters.migrations import schema_state, upgrade
from bot.adapters.page_templates import PageTemplates
from bot.adapters.passwords import PasswordHasher
from bot.adapters.private_files import create_private, private_file, private_folder
from bot.adapters.sandbox import SandboxApi
from bot.adapters.scan_process import scan_in_second_process
from bot.adapters.sql.api_tokens import ApiTokenRepository
from bot.adapters.sql.dashboard_facts import SqlDashboardFacts
from bot.adapters.sql.dashboard_reports import DashboardReportStore
from bot.adapters.sql.engine import make_engine
from bot.adapters.sql.portal import PortalRepository
from bot.adapters.sql.read_models import ReadModels
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.adapters.templates import TemplateRenderer
from bot.adapters.transaction_csv import ReadLimits
from bot.adapters.x_api import XApi
from bot.adapters.x_ids import remember_x_ids
from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.domain.cards import KEY_VAR, Fingerprinter
from bot.errors import ConfigError, SchemaOutdated
from bot.ports import DashboardReports, Locks, Renderer, SocialApi, UnitOfWorkFactory
from bot.services.accounts import Accounts
from bot.services.api_tokens import ApiTokens
from bot.services.campaigns import CampaignSource
from bot.services.dashboards import Refreshed, StoredDashboards, refresh_dashboards
from bot.services.intake import POLLED
from bot.services.keys import KeyUse, check_fingerprint_keys, key_use
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
    # During a fingerprint key rotation: the old key, still accepted for matching cards.
    previous_fingerprinter: Fingerprinter | None = None

    def reconcile_deps(self) -> ReconcileDeps:
        """Return what reconciliation needs."""
        settings = self.settings
        return ReconcileDeps(self.uow, self.fingerprinter, self.clock, settings.exports_dir,
                             settings.tz, self.locks, settings.reconcile_batch_rows,
                             ReadLimits(settings.max_line_bytes, settings.max_columns),
                             previous_fingerprinter=self.previous_fingerprinter,
                             scanner=scan_in_second_process)

    def dashboard_facts(self) -> SqlDashboardFacts:
        """Return the dashboard's read model of the ledger (the campaigns in force, k from bot.toml)."""
        return SqlDashboardFacts(self.engine, lambda: self.campaigns.current().by_id,
                                 min_members=self.settings.dashboard_min_members, polled_cursor=POLLED)

    def dashboard_store(self) -> DashboardReportStore:
        """Return where the dashboard's reports are stored."""
        return DashboardReportStore(self.engine)

    def dashboard_reports(self) -> StoredDashboards:
        """Return the DashboardReports port the portal's pages and API read (issue 12)."""
        return StoredDashboards(self.dashboard_facts(), self.dashboard_store(),
                                min_members=self.settings.dashboard_min_members, clock=self.clock)

    def refresh_dashboards(self) -> Refreshed:
        """Recompute the stored dashboard report of every campaign whose ledger moved."""
        facts = self.dashboard_facts()
        return refresh_dashboards(facts, self.dashboard_store(), facts.campaign_ids(),
                                  min_members=self.settings.dashboard_min_members, clock=self.clock)

    def key_use(self) -> KeyUse:
        """Return how many linked members use the current and the previous fingerprint key."""
        previous = self.previous_fingerprinter
        return key_use(self.uow, self.fingerprinter.check, previous.check if previous else None)

    def close(self) -> None:
        """Give up held locks and release database connections."""
        self.locks.close()
        self.engine.dispose()


def bootstrap(settings: Settings, *, api: SocialApi | None = None, clock: Clock = utc_now,
              engine: Engine | None = None) -> App:
    """Build the app; tests pass fakes for ``api``, ``clock`` or ``engine``."""
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    instance = instance_name()
    remember_x_ids(settings.bot_user_id)  # an X id, not a card, wherever it is logged
    uow = unit_of_work_factory(engine)
    try:
        check_schema(engine)
        key, key_source = _current_fingerprint_key(settings)
        fingerprinter = Fingerprinter(key)
        previous = (Fingerprinter(settings.previous_fingerprint_key)
                    if settings.previous_fingerprint_key is not None else None)
        check_fingerprint_keys(uow, clock, fingerprinter.check, previous.check if previous else None,
                               source=key_source)
    except BaseException:
        if own_engine:  # a refused start leaves no connection behind
            engine.dispose()
        raise
    if api is None:
        if settings.x is not None:
            api = XApi.from_credentials(settings.x, settings.bot_user_id, clock=clock)
        else:
            sandbox = SandboxApi(settings.sandbox_mentions, settings.sandbox_replies, clock=clock,
                                 dms=settings.sandbox_dms)
            sandbox.ensure_files()
            api = sandbox
    renderer = TemplateRenderer(settings.templates_dir)
    return App(
        settings=settings,
        engine=engine,
        uow=uow,
        api=api,
        renderer=renderer,
        clock=clock,
        campaigns=CampaignSource(settings.offers_dir, settings.tz, uow, clock,
                                 display_root=settings.source.parent, renderer=renderer),
        fingerprinter=fingerprinter,
        # A lease outlives a few missed polls, so a slow tick does not hand leadership over.
        locks=locks_for(engine, instance, clock, timedelta(seconds=max(3 * settings.poll_interval, 60))),
        instance=instance,
        previous_fingerprinter=previous,
    )


def upgrade_database(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the settings' database to the schema this version needs; return its revision before
    and after."""
    engine = make_engine(settings.database_url)
    try:
        before = schema_state(engine)
        upgrade(engine)
        return before.current, schema_state(engine).current
    finally:
        engine.dispose()


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


def _current_fingerprint_key(settings: Settings) -> tuple[bytes, str]:
    """Return the card fingerprint key and where it came from; the sandbox makes a development key
    of its own."""
    if settings.fingerprint_key is not None:
        return settings.fingerprint_key, "environment"
    if not settings.sandbox:
        raise ConfigError("environment", KEY_VAR, "is not set (X credentials are, so this is not "
                          "the sandbox)",
                          f"generate one with `offerbot keygen` and add {KEY_VAR}=... to .env")
    path = settings.data_dir / "sandbox" / "fingerprint.key"
    private_folder(path.parent)
    if not path.exists():
        with os.fdopen(create_private(path, exclusive=True), "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        logger.info("sandbox: created a development card fingerprint key in %s", path)
    private_file(path)  # one made by an earlier version, or copied in with a looser mode
    return bytes.fromhex(Path(path).read_text().strip()), str(path)


@dataclass
class Portal:
    """The web portal's services, built over the bot's app (same database and campaigns)."""

    accounts: Accounts
    read: ReadModels
    campaigns: CampaignDesk
    uploads: UploadDesk
    pages: PageTemplates
    locks: Locks  # its own holder name, so a portal run and the bot's inbox job exclude each other
    tokens: ApiTokens  # the JSON API's per-merchant tokens


def build_portal(app: App, *, hasher: PasswordHasher | None = None, runner: Runner | None = None,
                 reports: DashboardReports | None = None) -> Portal:
    """Build the portal's services; tests pass a cheap ``hasher``, a synchronous ``runner`` and
    their own dashboard ``reports`` (by default the stored reports, refreshed when stale)."""
    settings = app.settings
    repo = PortalRepository(app.engine)
    read = ReadModels(app.engine, repo, reports if reports is not None else app.dashboard_reports())
    locks = locks_for(app.engine, f"{app.instance} (portal)", app.clock,
                      timedelta(seconds=max(3 * settings.poll_interval, 60)))

    def deps() -> ReconcileDeps:
        return dataclasses.replace(app.reconcile_deps(), locks=locks)

    return Portal(
        accounts=Accounts(repo, hasher or PasswordHasher(), app.clock),
        read=read,
        campaigns=CampaignDesk(settings.offers_dir, settings.source.parent, settings.tz, app.renderer, repo,
                               app.clock, lambda: read.ownerships(app.campaigns.current().by_id),
                               uow=app.uow),
        uploads=UploadDesk(settings.inbox_dir, repo, deps, app.campaigns.current, app.clock,
                           runner or start_thread, keep=settings.keep_inputs),
        pages=PageTemplates(settings.templates_dir),
        locks=locks,
        tokens=ApiTokens(ApiTokenRepository(app.engine), repo, app.clock, read.merchants),
    )


def start_thread(job: Callable[[], None]) -> None:
    """Run ``job`` in a thread of its own (not a daemon: the process waits for it to finish)."""
    threading.Thread(target=job, name="offerbot-portal-job").start()
