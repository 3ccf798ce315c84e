"""The test harness itself: real services behave as the fixture contract says."""

from __future__ import annotations

import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import FundingRound
from scripts.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def _message(to: str = "antrag@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "foerderung@localhost"
    message["To"] = to
    message["Subject"] = "Eingangsbestätigung NON-2026-0001"
    message.set_content("Grüße aus Lüneburg")
    return message


def test_smtp_keeps_parsed_messages(smtp):
    with smtplib.SMTP(smtp.host, smtp.port) as client:
        client.send_message(_message(), to_addrs=["antrag@example.org", "bcc@example.org"])
    [message] = smtp.messages
    assert message["Subject"] == "Eingangsbestätigung NON-2026-0001"
    assert message.get_content().strip() == "Grüße aus Lüneburg"
    assert smtp.envelopes == [("foerderung@localhost", ["antrag@example.org", "bcc@example.org"])]


def test_smtp_temporary_then_permanent_failures(smtp):
    smtp.fail_next(1, code=451)
    with smtplib.SMTP(smtp.host, smtp.port) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(_message())
        assert refused.value.recipients["antrag@example.org"][0] == 451
        client.send_message(_message())  # the next attempt goes through
    assert len(smtp.messages) == 1

    smtp.fail_always(code=550)
    for _ in range(2):
        with (
            smtplib.SMTP(smtp.host, smtp.port) as client,
            pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
        ):
            client.send_message(_message())
        assert refused.value.recipients["antrag@example.org"][0] == 550
    smtp.clear()
    assert smtp.messages == []


def test_smtp_state_is_fresh_per_test(smtp):
    assert smtp.messages == []
    with smtplib.SMTP(smtp.host, smtp.port) as client:
        client.send_message(_message())
    assert smtp.wait_for(1, timeout=5)


def test_remote_smtp_fails_the_test(_disallow_remote_smtp):
    with pytest.raises(pytest.fail.Exception, match=r"mail\.example\.org:25"):
        smtplib.SMTP().connect("mail.example.org", 25)
    # Failed is a BaseException: an application's `except Exception` cannot swallow it.
    assert not issubclass(pytest.fail.Exception, Exception)
    _disallow_remote_smtp.clear()  # this test provoked it on purpose


def test_redis_stops_and_restarts_on_the_same_port(redis_server, redis_url):
    with Redis.from_url(redis_url) as client:
        client.set("key", "value")
    redis_server.stop()
    with (
        Redis.from_url(redis_url, socket_connect_timeout=1) as client,
        pytest.raises(RedisConnectionError),
    ):
        client.ping()
    redis_server.start()
    with Redis.from_url(redis_url) as client:
        assert client.ping()
        assert client.get("key") is None  # no persistence


def test_redis_is_flushed_and_running_per_test(redis_server, redis_url):
    assert redis_server.running
    with Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-over", 1)
    redis_server.stop()  # left down on purpose: the next test's fixture restarts it


def test_app_has_rounds_and_an_empty_database(app):
    assert db.session.scalar(select(func.count()).select_from(FundingRound)) == 2
    # Identity restarts after each test, so ids do not depend on test order.
    assert db.session.scalar(select(func.min(FundingRound.id))) == 1
    for table in db.metadata.sorted_tables:
        if table.name != "funding_round":
            assert db.session.scalar(select(func.count()).select_from(table)) == 0


def test_app_uses_the_right_backend(app, request):
    backend = request.node.callspec.params["app"]
    expected = "sqlite" if backend == "sqlite" else "postgresql"
    assert db.engine.dialect.name == expected
    if expected == "sqlite":
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_app_environ_points_a_subprocess_at_the_same_database(app, app_environ):
    script = (
        "from app import create_app\n"
        "from app.extensions import db\n"
        "from app.models import FundingRound\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(db.session.query(FundingRound).count())\n"
        "    db.engine.dispose()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=app_environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_runner_runs_cli_commands(runner):
    result = runner.invoke(args=["programmes", "load"])
    assert result.exit_code == 0, result.output
    assert "NON-2025" in result.output


def test_mail_sink_saves_every_mail_as_eml(tmp_path):
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "scripts/mailsink.py", "--port", str(port), "--dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(_message())
    finally:
        sink.terminate()
        out, err = sink.communicate(timeout=10)
    assert sink.returncode == 0, err
    [saved] = tmp_path.glob("*.eml")
    content = saved.read_bytes()
    assert b"X-Sink-Envelope-To: antrag@example.org" in content
    assert "Eingangsbestätigung NON-2026-0001" in out
