"""Messages on a case: applicant and staff write to each other (each also sent by email),
staff keep internal notes the applicant never sees; everything is on the timeline."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event
from tests.factories import create_application, mails, sent_text
from tests.fixtures.workspace import csrf_from


def write_as_applicant(client, token: str, body: str):
    page = client.get(f"/status/{token}")
    return client.post(
        f"/status/{token}/nachricht",
        data={"body": body, "csrf_token": csrf_from(page.get_data(as_text=True))},
    )


def write_as_staff(staff, case_id: int, body: str, internal: bool = False):
    page = staff.get(f"/staff/cases/{case_id}")
    data = {"body": body, "csrf_token": csrf_from(page.get_data(as_text=True))}
    if internal:
        data["internal"] = "y"
    return staff.post(f"/staff/cases/{case_id}/messages", data=data)


def test_applicant_and_staff_write_to_each_other(app, client, staff_user, client_for):
    application, token = create_application(language="en")
    staff = client_for(staff_user)

    assert write_as_applicant(client, token, "Reicht ein Kostenplan als PDF?").status_code == 303
    [to_staff] = mails("message_to_staff")
    assert to_staff.recipient == "staff@example.org"
    assert "Reicht ein Kostenplan als PDF?" in to_staff.body_text
    assert f"/staff/cases/{application.id}" in to_staff.body_text
    assert "Reicht ein Kostenplan als PDF?" in staff.get(f"/staff/cases/{application.id}").text

    reply = "Ja, bitte als eine PDF-Datei.\nDanke!"
    assert write_as_staff(staff, application.id, reply).status_code == 303
    [to_applicant] = mails("message_to_applicant")
    assert to_applicant.recipient == application.contact_email and to_applicant.language == "en"
    assert reply in to_applicant.body_text
    link = re.search(r"/status/[A-Za-z0-9_-]{40,}", sent_text(to_applicant)).group(0)
    status = client.get(link).get_data(as_text=True)
    assert "Ja, bitte als eine PDF-Datei." in status and "Reicht ein Kostenplan" in status

    note = "Intern: Kostenplan prüfen, Drittmittel fraglich."
    assert write_as_staff(staff, application.id, note, internal=True).status_code == 303
    assert len(mails("message_to_applicant")) == 1  # a note sends nothing
    assert note not in client.get(f"/status/{token}").get_data(as_text=True)
    assert note in staff.get(f"/staff/cases/{application.id}").text
    events = db.session.scalars(
        select(Event.kind).where(Event.kind.in_(("message", "note"))).order_by(Event.id)
    ).all()
    assert events == ["message", "message", "note"]
    publics = db.session.scalars(
        select(Event.public).where(Event.kind.in_(("message", "note"))).order_by(Event.id)
    ).all()
    assert publics == [True, True, False]


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_empty_or_overlong_messages_are_refused(app, client, staff_user, client_for):
    application, token = create_application()
    staff = client_for(staff_user)
    empty = write_as_applicant(client, token, "   ")
    assert empty.status_code == 422
    assert "Bitte schreiben Sie eine Nachricht." in empty.get_data(as_text=True)
    long_text = "Sehr lang. " * 600
    too_long = write_as_staff(staff, application.id, long_text)
    assert too_long.status_code == 422
    assert "Sehr lang. Sehr lang." in too_long.get_data(as_text=True)  # what was typed stays
    assert write_as_applicant(client, "falsch", "Hallo").status_code in (400, 404)
    assert mails("message_to_staff") == [] and mails("message_to_applicant") == []
    assert client.post(f"/status/{token}/nachricht", data={"body": "x"}).status_code == 400
