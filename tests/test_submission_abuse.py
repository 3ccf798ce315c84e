"""issue 7, point 5: the public form cannot be used to bomb an address with receipts.

A form's ``started`` token submits once; final submissions are limited per client address
and per contact address; pending uploads are capped per address and in total.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

import config
from app import create_app
from app.extensions import db
from app.models import Application, Notification
from tests.factories import hidden_fields, pdf_bytes, post_application, valid_form_data


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def final_payload(client, **overrides) -> MultiDict:
    check = post_application(client, valid_form_data(**overrides), action="check")
    assert check.status_code == 200, check.get_data(as_text=True)[:1000]
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    return payload


def test_started_token_submits_once(app, client):
    payload = final_payload(client)
    assert client.post("/antrag", data=payload).status_code == 303
    for _ in range(3):
        replay = client.post("/antrag", data=payload, follow_redirects=True)
        assert "bereits abgeschickt" in replay.get_data(as_text=True)
    assert count(Application) == 1
    assert count(Notification) == 1  # one receipt


def test_parallel_replays_give_one_application(app, client):
    payload = final_payload(client)
    clients = [app.test_client() for _ in range(10)]
    for other in clients:  # each replay from its own session, as an attacker would
        with client.session_transaction() as source, other.session_transaction() as target:
            target.update(source)
    start = threading.Barrier(len(clients))
    statuses: list[object] = []

    def replay(other):
        start.wait()
        try:
            statuses.append(other.post("/antrag", data=payload).status_code)
        except Exception as exc:  # reported below; a thread's exception would be lost
            statuses.append(repr(exc))

    threads = [threading.Thread(target=replay, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    assert count(Application) == 1
    assert count(Notification) == 1


@pytest.fixture
def limited_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The same database with rate limiting on, counted in the real Redis."""
    limited = create_app(
        config.TestingConfig(),
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
    )
    ctx = limited.app_context()
    ctx.push()
    try:
        yield limited
    finally:
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
        ctx.pop()


def test_default_limits(app):
    assert app.config["SUBMIT_LIMIT_PER_ADDRESS"] == "10 per hour"
    assert app.config["SUBMIT_LIMIT_PER_EMAIL"] == "3 per day"


def test_submissions_limited_per_contact_address(limited_app):
    limited_app.config["SUBMIT_LIMIT_PER_EMAIL"] = "2 per day"
    for n in range(2):
        client = limited_app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        assert client.post("/antrag", data=final_payload(client)).status_code == 303
    client = limited_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    payload = final_payload(client, contact_email="ERIKA@bildungswerk-heide.example")
    response = client.post("/antrag", data=payload)
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "zu viele Anträge" in html
    assert "Bildungswerk Heide" not in html  # the page keeps nothing of the form
    assert count(Application) == 2


def test_submissions_limited_per_client_address_in_english(limited_app):
    limited_app.config["SUBMIT_LIMIT_PER_ADDRESS"] = "1 per hour"
    client = limited_app.test_client()
    client.post("/sprache", data={"lang": "en", "csrf_token": _csrf(client)})
    assert client.post("/antrag", data=final_payload(client)).status_code == 303
    payload = final_payload(client, contact_email="someone-else@example.org")
    response = client.post("/antrag", data=payload)
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many applications" in html
    assert "someone-else@example.org" not in html
    assert count(Application) == 1


def _csrf(client) -> str:
    from tests.fixtures.auth import csrf_token

    return csrf_token(client, "/antrag")


def _upload(client, name="a.pdf"):
    data = {**valid_form_data(), "attachment": (io.BytesIO(pdf_bytes()), name)}
    return post_application(client, data)


def test_pending_uploads_capped_in_total(app, client):
    app.config["PENDING_UPLOADS_MAX"] = 1
    assert _upload(client).status_code == 200
    response = _upload(app.test_client())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Zurzeit können keine Dateien angenommen werden" in html
    assert "Bildungswerk Heide e. V." in html  # the form keeps what was typed


def test_pending_uploads_capped_per_address(limited_app):
    limited_app.config["UPLOAD_LIMIT_PER_ADDRESS"] = "1 per hour"
    client = limited_app.test_client()
    assert _upload(client).status_code == 200
    response = _upload(client)
    assert response.status_code == 422
    assert "zu viele Dateien" in response.get_data(as_text=True)
