"""Drafts: "save and continue later" mails a personal resume link; the form comes back exactly
as left (attachment included); a draft is no case (no reference, no checks, no staff email)
and is deleted when submitted or after its validity."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app import clock
from app.cases import uploads
from app.extensions import db
from app.models import Application, Draft, Notification, OutboxItem, hash_token
from tests.factories import form_tokens, hidden_fields, pdf_bytes, valid_form_data

PDF = pdf_bytes()


def save_draft(client, data: dict, attachment: bool = False):
    payload = {**form_tokens(client), **data, "action": "save_draft"}
    if attachment:
        payload["attachment"] = (io.BytesIO(PDF), "Kostenplan.pdf")
    return client.post("/antrag", data=payload, content_type="multipart/form-data")


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def resume_link(notification: Notification) -> str:
    return re.search(r"/antrag/entwurf/[A-Za-z0-9_-]{40,}", notification.body_text).group(0)


def test_save_resume_and_submit(app, client):
    half = valid_form_data(
        requested_grant="70.000 €", own_funds="", end_date="31.02.2027", language="en"
    )
    del half["decl_truthful"]
    saved = save_draft(client, half, attachment=True)
    assert saved.status_code == 200, saved.get_data(as_text=True)[:2000]
    assert "erika@bildungswerk-heide.example" in saved.get_data(as_text=True)

    # a draft is not a case: no reference, no checks, no staff email
    assert count(Application) == 0 and count(Draft) == 1
    mails = db.session.scalars(select(Notification)).all()
    assert [(m.kind, m.recipient, m.language, m.application_id) for m in mails] == [
        ("draft_saved", "erika@bildungswerk-heide.example", "en", None)
    ]
    assert db.session.scalars(select(OutboxItem.job)).all() == ["send_notification"]
    draft = db.session.scalar(select(Draft))
    link = resume_link(mails[0])
    assert draft.token_hash == hash_token(link.rsplit("/", 1)[1])  # only the hash is stored
    assert link.rsplit("/", 1)[1] not in str(draft.data)

    # another browser: the form comes back exactly as left, attachment included
    other = app.test_client()
    form = other.get(link)
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert 'value="70.000 €"' in html and 'value="31.02.2027"' in html
    assert 'value=""' in re.search(r'<input[^>]*name="own_funds"[^>]*>', html).group(0)
    assert "Kostenplan.pdf" in html
    assert "checked" not in re.search(r'<input[^>]*id="decl_truthful"[^>]*>', html).group(0)
    assert "checked" in re.search(r'<input[^>]*id="decl_privacy"[^>]*>', html).group(0)

    # completed and submitted as usual: the draft is gone, the attachment came along
    fields = MultiDict(hidden_fields(html))
    data = {
        **valid_form_data(language="en"),
        **{k: fields[k] for k in ("started", "attachment_ref")},
    }
    data["csrf_token"] = fields["csrf_token"]
    check = other.post(
        "/antrag", data={**data, "action": "check"}, content_type="multipart/form-data"
    )
    assert check.status_code == 200, check.get_data(as_text=True)[:2000]
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    done = other.post("/antrag", data=payload, follow_redirects=True)
    assert re.search(r"NON-\d{4}-\d{4}", done.get_data(as_text=True))
    application = db.session.scalar(select(Application))
    assert application.attachment_original_name == "Kostenplan.pdf"
    assert count(Draft) == 0
    assert other.get(link).status_code == 404


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_saving_again_updates_the_same_draft(app, client):
    save_draft(client, valid_form_data(title="Erster Titel"))
    again = save_draft(client, valid_form_data(title="Zweiter Titel"))
    assert again.status_code == 200
    assert count(Draft) == 1 and db.session.scalar(select(Draft)).data["title"] == ["Zweiter Titel"]
    assert count(Notification) == 1  # the link was sent once


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_draft_needs_a_valid_contact_address(app, client):
    refused = save_draft(client, valid_form_data(contact_email="erika@", title="Mein Titel"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "gültige E-Mail-Adresse" in html and 'value="Mein Titel"' in html
    assert count(Draft) == 0 and count(Notification) == 0


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_drafts_expire_and_are_deleted(app, client, runner, monkeypatch):
    save_draft(client, valid_form_data(), attachment=True)
    draft = db.session.scalar(select(Draft))
    round_close = dt.datetime.combine(
        draft_round_close(), dt.time(), tzinfo=clock.BERLIN
    ) + dt.timedelta(days=1)
    assert draft.expires_at == min(draft.created_at + dt.timedelta(days=30), round_close)
    link = resume_link(db.session.scalar(select(Notification)))
    stored = draft.attachment_name
    assert uploads.content_of(stored) == PDF

    later = draft.expires_at + dt.timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    gone = client.get(link)
    assert gone.status_code == 404 and "nicht (mehr) da" in gone.get_data(as_text=True)
    result = runner.invoke(args=["retention", "run"])
    assert "1 expired draft(s) deleted" in result.output
    assert count(Draft) == 0 and uploads.content_of(stored) is None


def draft_round_close() -> dt.date:
    from app.programmes import configured_round

    return configured_round().applications_close


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_draft_ends_with_the_round(app, monkeypatch):
    from app.cases import drafts
    from app.programmes import configured_round

    funding_round = configured_round()
    near_close = dt.datetime.combine(
        funding_round.applications_close - dt.timedelta(days=5), dt.time(12), tzinfo=clock.BERLIN
    )
    end = dt.datetime.combine(
        funding_round.applications_close + dt.timedelta(days=1), dt.time(), tzinfo=clock.BERLIN
    )
    assert drafts.expiry(funding_round, near_close) == end
