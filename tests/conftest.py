"""Shared fixtures: real PostgreSQL/SQLite, Redis and SMTP, the app, its client and runner.

Fixture contract (see tests/services.py for the service starters):

- ``app``: ``create_app(TestingConfig(), ...)`` parametrised over ``sqlite`` and
  ``postgresql`` (ids ``sqlite``/``pg``); schema created once per database and session,
  every table emptied after each test, rounds loaded, an app context pushed. One backend
  only: ``@pytest.mark.parametrize("app", ["sqlite"], indirect=True)``.
- ``client``, ``runner``: the app's test client and CLI runner.
- ``redis_server`` (session; ``.stop()``/``.start()`` keep the port), ``redis_url``
  (flushed per test, restarted if a test left it down).
- ``smtp``: a real aiosmtpd server; ``.messages``, ``.clear()``, ``.fail_next(n, code)``,
  ``.fail_always(code)``, ``.wait_for(n)``.
- ``app_environ``: the environment a subprocess (``python -m workers``) needs to run
  against the same databases and services as ``app``.
- ``empty_database_url``: an empty database (no schema) on both backends, for migrations.
- an autouse guard that fails any test opening SMTP to a host other than localhost.

PostgreSQL comes from ``TEST_POSTGRES_URL`` or a throwaway cluster started here. Without
it the ``pg`` params skip, unless ``REQUIRE_POSTGRES=1`` (CI), where that is an error.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from app.mail import delivery
from scripts import services

# CI explores the same examples on every run, so a red build always means a change broke
# something; random exploration (FUZZ_EXAMPLES=5000 for depth) is for runs by hand.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

FIXTURES_DIR = Path(__file__).parent / "fixtures"
pytest_plugins = [
    f"tests.fixtures.{path.stem}"
    for path in sorted(FIXTURES_DIR.glob("*.py"))
    if path.stem != "__init__"
]

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="pg"),
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def require_postgres() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").strip().lower() in {"1", "true", "yes"}


def worker_id(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


# --- PostgreSQL availability check for CI ------------------------------------------------


class _PostgresTally:
    """Counts tests that ran on PostgreSQL and those skipped because it was missing."""

    def __init__(self) -> None:
        self.ran = 0
        self.skipped: list[str] = []


_TALLY = _PostgresTally()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under xdist the controller receives every worker's reports here as well.
    if report.when == "call" and ("postgresql", True) in report.user_properties:
        _TALLY.ran += 1
    if report.skipped and services.PG_UNAVAILABLE in str(report.longrepr):
        _TALLY.skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not require_postgres() or hasattr(session.config, "workerinput"):
        return
    if session.config.option.collectonly or exitstatus != pytest.ExitCode.OK:
        return
    if _TALLY.skipped or _TALLY.ran == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    if _TALLY.ran or _TALLY.skipped or require_postgres():
        terminalreporter.write_line(
            f"PostgreSQL: {_TALLY.ran} test(s) ran, "
            f"{len(_TALLY.skipped)} skipped for lack of a server"
        )
    if require_postgres() and (_TALLY.skipped or _TALLY.ran == 0):
        terminalreporter.write_line(
            "REQUIRE_POSTGRES=1 but PostgreSQL tests were skipped or none ran: failing the run",
            red=True,
            bold=True,
        )


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


# --- services ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server (maintenance database); skips or errors if none."""
    external = os.environ.get("TEST_POSTGRES_URL", "").strip()
    if external:
        yield external
        return
    reason = services.PostgresServer.unavailable_reason()
    if reason:
        if require_postgres():
            pytest.fail(f"{reason} and REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(reason)
    server = services.PostgresServer()
    try:
        server.start()
    except services.ServiceError as exc:
        server.stop()
        message = f"{services.PG_UNAVAILABLE}: {exc}"
        if require_postgres():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.RedisServer]:
    server = services.RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: services.RedisServer) -> str:
    """A flushed, running Redis (restarted if the previous test left it stopped)."""
    redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[services.SMTPServer]:
    server = services.SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(smtp_server: services.SMTPServer) -> Iterator[services.SMTPServer]:
    smtp_server.clear()
    yield smtp_server
    # The worker keeps its SMTP connection across jobs; each test starts with none.
    delivery.SESSION.close()
    smtp_server.clear()


@pytest.fixture(autouse=True)
def _disallow_remote_smtp(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Fail the test if anything opens SMTP beyond this machine (cf. Indico's disallow.py).

    Yields the list of attempted remote targets; a test of the guard itself may clear it.
    """
    violations: list[str] = []
    original_connect = smtplib.SMTP.connect

    def guarded_connect(self, host="localhost", port=0, source_address=None):
        target = host
        if not port and host.count(":") == 1:
            target = host.rsplit(":", 1)[0]
        if target not in LOCAL_HOSTS:
            violations.append(f"{host}:{port}")
            # Failed is a BaseException, so application code catching Exception cannot eat it.
            pytest.fail(f"test tried to open SMTP to {host}:{port}", pytrace=False)
        return original_connect(self, host, port, source_address)

    monkeypatch.setattr(smtplib.SMTP, "connect", guarded_connect)
    yield violations
    if violations and not request.node.stash.get(CALL_FAILED, False):
        # Reached only if something swallowed the failure raised above.
        pytest.fail(f"test tried to open SMTP to {', '.join(violations)}", pytrace=False)


# --- databases ---------------------------------------------------------------------------


def _schema_app(uri: str) -> Flask:
    from app import create_app
    from config import TestingConfig

    return create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=uri,
        RATELIMIT_STORAGE_URI="memory://",
    )


def _dispose(app: Flask) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def _create_schema(uri: str) -> None:
    from app.extensions import db

    app = _schema_app(uri)
    with app.app_context():
        db.create_all()
    _dispose(app)


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file (not :memory:) so a worker subprocess can share it; schema created once."""
    path = tmp_path_factory.mktemp("sqlite") / "test.sqlite"
    uri = f"sqlite:///{path}"
    _create_schema(uri)
    return uri


@pytest.fixture(scope="session")
def postgres_database_url(
    postgres_server_url: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database for this xdist worker; schema created once."""
    name = f"non_test_{worker_id(request.config)}_{os.getpid()}"
    uri = services.create_database(postgres_server_url, name)
    _create_schema(uri)
    try:
        yield uri
    finally:
        services.drop_database(postgres_server_url, name)


def empty_tables(app: Flask) -> None:
    """Remove every row so no test sees another's, and start the ids at 1 again.

    ``DELETE`` rather than PostgreSQL's ``TRUNCATE``: for the few rows a test leaves, it is
    five times faster (about 30 against 150–200 ms for the 28 tables), because ``TRUNCATE``
    gives every table and index a new file."""
    from app.extensions import db

    db.session.remove()
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        if postgres:
            conn.execute(text("SET LOCAL lock_timeout = '15s'"))
        for table in reversed(db.metadata.sorted_tables):  # children before their parents
            conn.execute(table.delete())
        if postgres:
            conn.execute(_RESTART_SEQUENCES)
        elif conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
        ).first():
            conn.execute(text("DELETE FROM sqlite_sequence"))


_RESTART_SEQUENCES = text(
    "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
    "FROM pg_sequences WHERE schemaname = current_schema()"
)


@pytest.fixture(params=BACKENDS)
def app(
    request: pytest.FixtureRequest,
    redis_url: str,
    smtp: services.SMTPServer,
) -> Iterator[Flask]:
    """The application on a real database, rounds loaded, app context pushed."""
    from app import create_app
    from app.programmes import sync_rounds
    from config import TestingConfig

    backend = request.param
    if backend == "postgresql":
        request.node.user_properties.append(("postgresql", True))
        uri = request.getfixturevalue("postgres_database_url")
    else:
        uri = request.getfixturevalue("sqlite_database_url")

    application = create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=uri,
        REDIS_URL=redis_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        RATELIMIT_STORAGE_URI=redis_url,
    )
    ctx = application.app_context()
    ctx.push()
    try:
        sync_rounds()
        yield application
    finally:
        try:
            empty_tables(application)
        finally:
            _dispose_engines()
            ctx.pop()


def _dispose_engines() -> None:
    from app.extensions import db

    with contextlib.suppress(Exception):
        db.session.remove()
    for engine in db.engines.values():
        engine.dispose()


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh app context, as production does.

    The ``app`` fixture keeps a context pushed for the test body; without this, every request
    would reuse it and share ``g`` (Flask-Login's user, Flask-WTF's CSRF token, Flask-Babel's
    locale) and the database session with the test and with each other.
    """

    def open(self, *args, **kwargs):
        from flask import has_app_context

        from app.extensions import db

        # End the test body's transaction first: what the test wrote becomes visible to the
        # request, and SQLite's write lock (every transaction begins IMMEDIATE) is released.
        if has_app_context():
            db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


# Every app made in a test (also by a test's own fixture) gets the isolating client.
Flask.test_client_class = IsolatedClient


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def app_environ(app: Flask) -> dict[str, str]:
    """Environment for a subprocess (``python -m workers``) to use the same services."""
    env = dict(os.environ)
    env.update(
        APP_ENV="testing",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
        MAIL_SERVER=app.config["MAIL_SERVER"],
        MAIL_PORT=str(app.config["MAIL_PORT"]),
        PROGRAMME=app.config["PROGRAMME"],
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])
        ),
    )
    return env


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database without schema on each backend (migrations, ``db upgrade``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    request.node.user_properties.append(("postgresql", True))
    server_url = request.getfixturevalue("postgres_server_url")
    name = f"non_empty_{worker_id(request.config)}_{os.getpid()}"
    uri = services.create_database(server_url, name)
    try:
        yield uri
    finally:
        services.drop_database(server_url, name)
