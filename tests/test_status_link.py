"""A lost status link is sent again: to the stored contact address only, the same answer
whether or not the pair exists, rate-limited; the old link stops working."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

import config
from app import create_app
from app.extensions import db
from app.models import Application, Notification
from tests.factories import sent_text, submit_via_form
from tests.fixtures.workspace import csrf_from

PAGE = "/statuslink-anfordern"


def ask(client, reference: str, address: str):
    page = client.get(PAGE)
    assert page.status_code == 200
    return client.post(
        PAGE,
        data={
            "reference": reference,
            "contact_email": address,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )


def link_mails() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).filter_by(kind="status_link")))


def test_new_link_goes_to_the_stored_address_and_replaces_the_old(client):
    _response, reference, old_token = submit_via_form(client, language="en")
    application = db.session.scalar(select(Application))
    # any case of the address and of the reference is accepted
    answer = ask(client, reference.lower(), application.contact_email.upper())
    assert answer.status_code == 200
    mails = link_mails()
    assert [m.recipient for m in mails] == [application.contact_email]
    assert mails[0].language == "en" and reference in mails[0].subject
    new_path = re.search(r"/status/[A-Za-z0-9_-]{40,}", sent_text(mails[0])).group(0)
    assert client.get(new_path).status_code == 200
    assert client.get(f"/status/{old_token}").status_code == 404


@pytest.mark.parametrize(
    ("reference", "address"),
    [
        ("NON-2099-9999", "erika@bildungswerk-heide.example"),  # unknown reference
        (None, "someone-else@example.org"),  # right reference, other address
    ],
)
def test_same_answer_whether_or_not_the_pair_exists(client, reference, address):
    _response, real_reference, _token = submit_via_form(client)
    application = db.session.scalar(select(Application))
    known = ask(client, real_reference, application.contact_email).get_data(as_text=True)
    unknown = ask(client, reference or real_reference, address).get_data(as_text=True)
    strip = re.compile(r'name="csrf_token"[^>]*>|nonce="[^"]*"')
    assert strip.sub("", known) == strip.sub("", unknown)
    # only the real pair sent something; a wrong address never receives a link
    assert [m.recipient for m in link_mails()] == [application.contact_email]


def test_bad_input_gets_a_message_and_keeps_what_was_typed(client):
    answer = ask(client, "NON-2026-0001", "keine-adresse")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "gültige E-Mail-Adresse" in html and 'value="NON-2026-0001"' in html
    assert ask(client, "", "").status_code == 422
    # without the CSRF token nothing happens
    assert client.post(PAGE, data={"reference": "x", "contact_email": "a@b.de"}).status_code == 400
    assert link_mails() == []


@pytest.fixture
def limited_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    limited = create_app(
        config.TestingConfig(),
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
        UPLOAD_DIR=app.config["UPLOAD_DIR"],
        MAIL_PORT=app.config["MAIL_PORT"],
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


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_requests_are_rate_limited_per_reference_and_per_address(limited_app):
    client = limited_app.test_client()
    for _ in range(3):
        assert ask(client, "NON-2026-0001", "a@example.org").status_code == 200
    # the same reference from anywhere: refused
    refused = ask(limited_app.test_client(), "NON-2026-0001", "b@example.org")
    assert refused.status_code == 429
    assert "Zu viele Versuche" in refused.get_data(as_text=True)
    # other references from the same address: two more, then the address limit
    assert ask(client, "NON-2026-0002", "a@example.org").status_code == 200
    assert ask(client, "NON-2026-0003", "a@example.org").status_code == 200
    assert ask(client, "NON-2026-0004", "a@example.org").status_code == 429
