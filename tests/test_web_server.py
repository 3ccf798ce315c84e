"""The production web process: gunicorn with the project's gunicorn.conf.py.

The app is loaded once in gunicorn's master and its workers are forked from it. These tests
run that real process on each database and check its hooks: the master warms and freezes
the app, a worker starts with database connections of its own.
"""

from __future__ import annotations

import gc
import os
import re
import runpy
import subprocess
import sys
from http.cookiejar import CookieJar
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import psutil
from sqlalchemy import select

from app.extensions import db
from app.models import Application
from scripts.services import free_port, wait_for_port
from tests.factories import hidden_fields, valid_form_data
from tests.fixtures.pipeline import kill_tree, wait_until

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "gunicorn.conf.py"
GUNICORN = (sys.executable, "-m", "gunicorn", "--config", str(CONFIG))


def _submit(base: str, title: str) -> str:
    """One applicant in a browser of their own: form, check page, submit, confirmation."""
    browser = build_opener(HTTPCookieProcessor(CookieJar()))
    with browser.open(f"{base}/antrag", timeout=30) as response:
        tokens = dict(hidden_fields(response.read().decode()))
    fields = {
        **valid_form_data(title=title),
        "csrf_token": tokens["csrf_token"],
        "started": tokens["started"],
        "action": "check",
    }
    with browser.open(f"{base}/antrag", urlencode(fields, doseq=True).encode(), 30) as response:
        check_page = response.read().decode()
    again = urlencode([*hidden_fields(check_page), ("action", "submit")]).encode()
    with browser.open(f"{base}/antrag", again, 30) as response:  # follows the 303
        confirmation = response.read().decode()
    match = re.search(r"NON-\d{4}-\d{4}", confirmation)
    assert match, confirmation[:2000]
    return match.group(0)


def test_preloaded_gunicorn_serves_applicants_from_its_workers(app, app_environ, tmp_path):
    log = tmp_path / "gunicorn.log"
    db.session.commit()  # the subprocess writes; end this test's read transaction
    port = free_port()
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"],
            env=app_environ,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_for_port(port, timeout=60)
            master = psutil.Process(server.pid)
            # The app was imported by the master, before any worker existed: its memory holds
            # SQLAlchemy's compiled modules, which plain gunicorn never imports.
            mapped = Path(f"/proc/{server.pid}/maps").read_text()
            assert "sqlalchemy" in mapped
            wait_until(lambda: len(master.children()) == 2)
            workers = master.children()

            references = [_submit(f"http://127.0.0.1:{port}", f"Projekt {i}") for i in range(6)]

            assert len(set(references)) == 6
            db.session.expire_all()
            stored = db.session.scalars(
                select(Application.reference).where(Application.reference.in_(references))
            ).all()
            assert sorted(stored) == sorted(references)
            assert [w.pid for w in master.children()] == [w.pid for w in workers]  # none crashed
        finally:
            server.terminate()
            try:
                returncode = server.wait(30)
            finally:
                if server.poll() is None:
                    kill_tree(server.pid)
    errors = log.read_text()
    assert returncode == 0, errors
    assert "Traceback" not in errors, errors


def test_a_forked_worker_drops_the_masters_connections_without_closing_them(app):
    hooks = runpy.run_path(str(CONFIG))
    with db.engine.connect() as connection:  # the master's pool now holds a connection
        inherited = connection.connection.dbapi_connection
    assert db.engine.pool.checkedin() >= 1

    hooks["post_fork"](SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app)), None)

    assert db.engine.pool.checkedin() == 0  # the worker opens its own
    # ... and has not closed the master's: a PostgreSQL connection closed in a worker would
    # end the master's session on the same socket.
    cursor = inherited.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchone()[0] == 1
    cursor.close()
    inherited.close()


def test_an_unsafe_production_configuration_stops_gunicorn_before_any_worker(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "APP_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite'}",
    }
    result = subprocess.run(
        [*GUNICORN, "--bind", f"127.0.0.1:{free_port()}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "Booting worker" not in result.stderr


def test_the_master_warms_and_freezes_the_app_before_the_first_fork(app):
    hooks = runpy.run_path(str(CONFIG))
    server = SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app))
    try:
        hooks["when_ready"](server)
        # the workers' garbage collectors will leave everything loaded so far alone
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
