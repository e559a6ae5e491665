"""Shared fixtures: an in-memory database, fakes for the ports, the real templates and seeds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Engine
from sqlmodel import SQLModel

from bot.adapters.migrations import upgrade
from bot.adapters.offer_files import read_campaign_files
from bot.adapters.sql.engine import create_schema, make_engine
from bot.adapters.sql.unit_of_work import unit_of_work_factory
from bot.adapters.templates import TemplateRenderer
from bot.domain.cards import Fingerprinter
from bot.ports import UnitOfWorkFactory
from bot.services.campaigns import Catalog
from bot.services.members import link_member
from tests.fakes import ALICE_CARD, BOB_CARD, CAROL_CARD, FakeSocialApi, FixedClock

REPO = Path(__file__).resolve().parent.parent
# Set to a PostgreSQL URL to run the tests on PostgreSQL (as `make test-postgres` does in .ci/run).
POSTGRES_URL = os.environ.get("OFFERBOT_TEST_DATABASE_URL")

# The Hypothesis profile of the tier: "default" (Hypothesis' own settings) for `make test`,
# "quick" for `make test-quick` (HYPOTHESIS_PROFILE=quick): few examples, no deadline, so the
# quick loop stays under a minute; the full suite runs every example. See ARCHITECTURE.md.
PROFILE_VAR = "HYPOTHESIS_PROFILE"
QUICK_EXAMPLES = 10
settings.register_profile("quick", max_examples=QUICK_EXAMPLES, deadline=None)
HYPOTHESIS_PROFILE = os.environ.get(PROFILE_VAR) or "default"
if HYPOTHESIS_PROFILE not in ("default", "quick"):
    raise pytest.UsageError(f"{PROFILE_VAR}={HYPOTHESIS_PROFILE!r} is not a profile of this suite; "
                            "use quick (make test-quick) or unset it (make test)")
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(full: int) -> int:
    """Return the example count for a property test that sets its own: ``full``, fewer when quick.

    A test's own ``@settings(max_examples=...)`` overrides the profile, so such tests ask here.
    Quick, a tenth of ``full`` (at least 3, at most the profile's): a test that asks for few
    examples does so because each one is costly.
    """
    return min(max(full // 10, 3), QUICK_EXAMPLES) if HYPOTHESIS_PROFILE == "quick" else full


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {POSTGRES_URL or 'SQLite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests of one backend's own machinery when the suite runs on the other."""
    for item in items:
        if POSTGRES_URL and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="checks SQLite itself"))
        if not POSTGRES_URL and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="needs OFFERBOT_TEST_DATABASE_URL"))


@pytest.fixture(scope="session")
def _postgres() -> Iterator[Engine | None]:
    """The PostgreSQL test database, emptied and migrated once per session (None on SQLite)."""
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    yield engine
    engine.dispose()


def empty_postgres(engine: Engine) -> None:
    """Truncate every table of the PostgreSQL test database."""
    with engine.begin() as conn:
        names = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="session")
def _sqlite_schema() -> Iterator[Any]:
    """An in-memory SQLite database with every table, made once per session (its sqlite3
    connection): each ``engine`` starts as a copy of it rather than creating the tables again."""
    template = make_engine("sqlite://")
    create_schema(template)
    with template.connect() as conn:
        yield conn.connection.driver_connection
    template.dispose()


@pytest.fixture
def engine(_postgres: Engine | None, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh database: in-memory SQLite with every table, or the emptied PostgreSQL test database."""
    if _postgres is not None:
        empty_postgres(_postgres)
        yield _postgres
        return
    engine = make_engine("sqlite://")
    with engine.connect() as conn:  # one shared in-memory database (a StaticPool): copy into it
        request.getfixturevalue("_sqlite_schema").backup(conn.connection.driver_connection)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> UnitOfWorkFactory:
    return unit_of_work_factory(engine)


@pytest.fixture
def fingerprinter() -> Fingerprinter:
    return Fingerprinter(b"test-key-" + b"k" * 32)


@pytest.fixture
def api() -> FakeSocialApi:
    return FakeSocialApi()


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer(REPO / "templates")


@pytest.fixture
def catalog(uow: UnitOfWorkFactory, clock: FixedClock) -> Catalog:
    """The four seed campaigns from offers/, synced into the database."""
    files = read_campaign_files(REPO / "offers", UTC)
    assert not files.problems
    with uow() as tx:
        tx.campaigns.sync(files.campaigns, clock())
        tx.commit()
    return Catalog(files.campaigns)


@pytest.fixture
def members(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: FixedClock) -> dict[str, str]:
    """Alice (1001), Bob (1002) and Carol (1003), linked; returns handle -> user id."""
    for user_id, handle, card in (("1001", "alice", ALICE_CARD), ("1002", "bob", BOB_CARD),
                                  ("1003", "carol", CAROL_CARD)):
        link_member(uow, fingerprinter, clock, user_id, handle, card)
    return {"alice": "1001", "bob": "1002", "carol": "1003"}


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A SQLite database file migrated once per session, which each ``project`` copies (None on
    PostgreSQL, whose test database is migrated once by ``_postgres`` and emptied per test)."""
    if POSTGRES_URL:
        return None
    path = tmp_path_factory.mktemp("migrated") / "offerbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def copy_database(template: Path, path: Path) -> None:
    """Copy a closed SQLite database file to ``path``, readable by its owner only (as the bot makes it)."""
    with template.open("rb") as source, open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                                              "wb") as target:
        shutil.copyfileobj(source, target)


@pytest.fixture
def project(tmp_path: Path, _postgres: Engine | None, _migrated_sqlite: Path | None,
            request: pytest.FixtureRequest) -> Path:
    """A copy of the project's config, campaigns, templates and sample data in a temp folder, with
    its database at the schema's head: a copy of the session's migrated SQLite file, or on
    PostgreSQL the test database emptied for it. A test marked ``fresh_database`` gets no SQLite
    file: the bot creates it (through the migrations) as on a new machine."""
    if _postgres is not None:
        empty_postgres(_postgres)
    for name in ("offers", "templates"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "bot.toml", tmp_path / "bot.toml")
    (tmp_path / "data").mkdir()
    for sample in (REPO / "data").glob("sample_*"):
        shutil.copy(sample, tmp_path / "data" / sample.name)
    if _migrated_sqlite is not None and request.node.get_closest_marker("fresh_database") is None:
        copy_database(_migrated_sqlite, tmp_path / "data" / "offerbot.db")
    return tmp_path


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    """The CLI sets the process umask (0o077); give every test the umask it started with."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run the test under umask 022, as many systems have it: files 0644, folders 0755 by default."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging in-process; give every test the root logger it started with."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def no_x_credentials(monkeypatch: pytest.MonkeyPatch, _postgres: Engine | None) -> None:
    """Keep the developer's own X keys out of a test; point it at the test database.

    On SQLite the project's own file is used; on PostgreSQL the emptied test database.
    """
    for name in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET",
                 "OFFERBOT_FINGERPRINT_KEY", "OFFERBOT_DATABASE_URL", "OFFERBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    if _postgres is not None:
        empty_postgres(_postgres)
        monkeypatch.setenv("OFFERBOT_DATABASE_URL", str(POSTGRES_URL))


HEADER = ("transaction_id,card_number,merchant_id,merchant_name,amount,currency,transaction_date,type,"
          "original_transaction_id")


@pytest.fixture
def make_csv(tmp_path: Path):
    """Write a transaction file: make_csv("name.csv", "T1,378282246310005,...", ...) -> path.

    Lines are data rows under the standard header (pass header=... to change it); the file
    ends with a line break unless end="" is given. Bytes are UTF-8 unless encoding is given.
    """

    def make(name: str, *rows: str, header: str = HEADER, end: str = "\n", newline: str = "\n",
             encoding: str = "utf-8", bom: bool = False) -> Path:
        path = tmp_path / name
        text = newline.join((header, *rows)) + end.replace("\n", newline)
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
        return path

    return make


@pytest.fixture
def ledger(uow: UnitOfWorkFactory, fingerprinter: Fingerprinter, clock: FixedClock, catalog: Catalog,
           members: dict[str, str], tmp_path: Path, engine: Engine):
    """Alice, Bob and Carol linked; Alice enrolled in McDonald's and Zappos on Nov 20 (post 5001, 5002),
    Bob in FedEx (post 5003). Returns a namespace with deps, catalog, engine and reconcile(path, **kw)."""
    from datetime import datetime
    from types import SimpleNamespace

    from bot.domain.enrolment import Enrolment
    from bot.services.reconciliation import ReconcileDeps, reconcile_file

    enrolled_at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with uow() as tx:
        tx.enrolments.add_many([
            Enrolment("1001", "amex-mcdonalds", "5001", enrolled_at),
            Enrolment("1001", "amex-zappos", "5002", enrolled_at),
            Enrolment("1002", "amex-fedex", "5003", enrolled_at),
        ])
        tx.commit()
    from bot.adapters.locks import locks_for

    deps = ReconcileDeps(uow, fingerprinter, clock, tmp_path / "exports", UTC,
                         locks_for(engine, "tests:1", clock, timedelta(minutes=5)))

    def reconcile(path: Path, **kwargs):
        return reconcile_file(deps, catalog, path, **kwargs)

    return SimpleNamespace(deps=deps, catalog=catalog, uow=uow, engine=engine, reconcile=reconcile,
                           exports=tmp_path / "exports")


PORTAL_URL = "http://127.0.0.1:8000"  # the localhost default: plain http, no Secure cookie
PASSWORD = "a long passphrase for tests"  # every portal test user's


def build_test_portal(project: Path, clock: FixedClock, *, runner=None):
    """Build the portal over a bot app in ``project``, with an ops user (ops@bank.example) and
    merchant users of McDonald's (mcd@example.com) and Zappos.com (zap@example.com).

    Returns a namespace with app, portal (the services), web (the ASGI app), settings, clock,
    project and reports (the dashboard's, a fake to put reports in). Uploads are reconciled at once
    unless another ``runner`` is given.
    """
    from types import SimpleNamespace

    from bot.adapters.passwords import PasswordHasher
    from bot.bootstrap import bootstrap, build_portal
    from bot.config import load_settings
    from bot.environment import read_environment
    from bot.web.app import create_app

    settings = load_settings(project / "bot.toml", read_environment(project / ".env"))
    app = bootstrap(settings, api=FakeSocialApi(), clock=clock)
    app.campaigns.load()
    from tests.dashboard_sample import FakeDashboardReports

    reports = FakeDashboardReports()  # the dashboard's stored reports: tests put theirs in
    services = build_portal(app, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                            runner=runner or (lambda job: job()), reports=reports)
    for email, role, merchant in (("ops@bank.example", "ops", None),
                                  ("mcd@example.com", "merchant", "McDonald's"),
                                  ("zap@example.com", "merchant", "Zappos.com")):
        services.accounts.add(email, role, merchant, PASSWORD, by="tests")
    return SimpleNamespace(app=app, portal=services, web=create_app(app, services), settings=settings,
                           clock=clock, project=project, reports=reports)


@pytest.fixture
def portal(project: Path, no_x_credentials, clock: FixedClock):
    """The portal of build_test_portal, plus client(): a test client sending the portal's Origin."""
    from starlette.testclient import TestClient

    built = build_test_portal(project, clock)

    def client(**kwargs):
        return TestClient(built.web, base_url=PORTAL_URL, headers={"Origin": PORTAL_URL}, **kwargs)

    built.client = client
    yield built
    built.app.close()
