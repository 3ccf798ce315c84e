"""Test data: a valid application form (as a person types it) and stored applications."""

from __future__ import annotations

import datetime as dt
import io
import re
from email.message import EmailMessage
from email.utils import make_msgid
from html.parser import HTMLParser
from typing import Any

from pypdf import PdfWriter
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import clock
from app.cases import inbox
from app.cases.submission import submit_application
from app.extensions import db
from app.mail.delivery import build_message
from app.models import InboundMail, Notification, StaffNotice
from app.programmes import configured_round


def pdf_bytes(*, pages: int = 1, password: str | None = None) -> bytes:
    """A real PDF (readable by any PDF parser), encrypted if a password is given."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _future(days: int) -> dt.date:
    return clock.today() + dt.timedelta(days=days)


def _cost_plan(start: dt.date, end: dt.date) -> dict[str, str]:
    """Personnel 80.000 € and other 20.000 € over the project's calendar years."""
    years = list(range(start.year, end.year + 1))
    rows: dict[str, str] = {}
    for index, year in enumerate(years):
        last = index == len(years) - 1
        rows[f"cost_plan-{index}-year"] = str(year)
        rows[f"cost_plan-{index}-personnel_costs"] = "0" if not last else "80.000"
        rows[f"cost_plan-{index}-other_costs"] = "0" if not last else "20.000"
    return rows


def valid_form_data(**overrides: Any) -> dict[str, Any]:
    """POST data for /antrag that passes validation in the open round (NON-2025).

    Money and dates are typed the German way; total costs 100.000 €, grant 70 % of it.
    """
    data: dict[str, Any] = {
        "org_name": "Bildungswerk Heide e. V.",
        "legal_form": "ev",
        "street": "Am Sande 1",
        "postcode": "21335",
        "city": "Lüneburg",
        "contact_name": "Erika Mustermann",
        "contact_email": "erika@bildungswerk-heide.example",
        "contact_phone": "04131 123456",
        "vat_deductible": "n",
        "signatory_name": "Erika Mustermann",
        "signatory_function": "Vorsitzende",
        "register_court": "Amtsgericht Lüneburg",
        "register_number": "VR 1234",
        "site_in_lower_saxony": "y",
        "title": "Fachkräfte für die Pflege im Heidekreis",
        "summary": "Wir qualifizieren Quereinsteigerinnen für die Pflege.",
        "description": "Ausgangslage, Ziele, Maßnahmen und Zeitplan des Projekts.",
        "target_groups": "Quereinsteigerinnen und Quereinsteiger, 40 Personen",
        "project_type": "struktur",
        "priorities": ["1.1", "2.1"],
        "districts": ["03358", "03355"],
        "regional_reference": (
            "Das Projekt findet im Heidekreis und im Landkreis Lüneburg statt. Dort fehlen "
            "Pflegefachkräfte besonders stark; die Pflegeheime der Region haben offene Stellen, "
            "die seit über einem Jahr nicht besetzt werden können. Wir arbeiten mit den "
            "Arbeitgebern vor Ort zusammen."
        ),
        "strategy_contribution": "Das Projekt setzt Ziel 2.1 der regionalen Strategie um.",
        "partners": "Pflegeheim Soltau gGmbH",
        "start_date": _future(60).strftime("%d.%m.%Y"),
        # inside the open round's funding period (NON-2025 ends 31.12.2027)
        "end_date": _future(60 + 300).strftime("%d.%m.%Y"),
        "personnel_costs": "80.000,00",
        "other_costs": "20.000",
        "own_funds": "20.000",
        "third_party_funds": "10.000,00",
        "requested_grant": "70.000 €",
        # the cost plan by year: the start is 60 days ahead, the end 300 days after it
        **_cost_plan(_future(60), _future(360)),
        "personnel_positions-0-role": "Projektleitung",
        "personnel_positions-0-months": "10",
        "personnel_positions-0-fte_percent": "50",
        "personnel_positions-0-cost": "30.000",
        "personnel_positions-1-role": "Pflegepädagogin",
        "personnel_positions-1-months": "10",
        "personnel_positions-1-fte_percent": "100",
        "personnel_positions-1-cost": "50.000",
        "de_minimis_undertaking": "n",
        "decl_not_started": "y",
        "decl_subsidy_facts": "y",
        "decl_privacy": "y",
        "decl_truthful": "y",
        "language": "de",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def application_fields(**overrides: Any) -> dict[str, Any]:
    """The same application as model values (cents, dates, booleans), for the domain function."""
    from app.models import DECLARATIONS, MONEY_FIELDS
    from app.web.fields import GermanDateField, parse_money

    fields: dict[str, Any] = valid_form_data()
    for name in MONEY_FIELDS:
        fields[name] = parse_money(fields[name])
    for name in ("start_date", "end_date"):
        fields[name] = dt.datetime.strptime(fields[name], GermanDateField.formats[0]).date()
    for name in DECLARATIONS:
        fields[name] = True
    fields["vat_deductible"] = fields["vat_deductible"] == "y"
    fields["site_in_lower_saxony"] = fields["site_in_lower_saxony"] == "y"
    fields["de_minimis_undertaking"] = fields["de_minimis_undertaking"] == "y"
    for key in [k for k in fields if k.startswith(("cost_plan-", "personnel_positions-"))]:
        del fields[key]
    start = fields["start_date"]
    fields["cost_plan"] = [
        {"year": start.year, "personnel_costs": 8_000_000, "other_costs": 2_000_000}
    ]
    fields["personnel_positions"] = [
        {"role": "Projektleitung", "months": 10, "fte_percent": 50, "cost": 3_000_000},
        {"role": "Pflegepädagogin", "months": 10, "fte_percent": 100, "cost": 5_000_000},
    ]
    fields.update(overrides)
    return fields


def create_application(funding_round=None, **overrides: Any):
    """Submit an application through the domain function; returns (application, token)."""
    funding_round = funding_round or configured_round()
    return submit_application(funding_round, application_fields(**overrides))


# --- through HTTP, as a browser would -------------------------------------------------------


class _FormParser(HTMLParser):
    """Collects the inputs of a page's forms: hidden fields and their values."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden.append((attributes["name"], attributes.get("value") or ""))


def hidden_fields(html: str) -> list[tuple[str, str]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.hidden


def form_tokens(client) -> dict[str, str]:
    """GET the form and return its CSRF token and signed start time."""
    html = client.get("/antrag").get_data(as_text=True)
    fields = dict(hidden_fields(html))
    return {"csrf_token": fields["csrf_token"], "started": fields["started"]}


def post_application(client, data: dict[str, Any], action: str = "check", **kwargs):
    """POST the form (with fresh tokens unless given) and return the response."""
    payload = {**form_tokens(client), **data, "action": action}
    return client.post("/antrag", data=payload, content_type="multipart/form-data", **kwargs)


def submit_via_form(client, **overrides: Any):
    """Check page, then final submit, as a browser does. Returns (response, reference, token).

    The response is the confirmation page (redirect followed).
    """
    check = post_application(client, valid_form_data(**overrides), action="check")
    assert check.status_code == 200, check.get_data(as_text=True)[:2000]
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    response = client.post("/antrag", data=payload, follow_redirects=True)
    html = response.get_data(as_text=True)
    reference = re.search(r"NON-\d{4}-\d{4}", html)
    token = re.search(r"/status/([A-Za-z0-9_\-]+)", html)
    return response, reference and reference.group(0), token and token.group(1)


def add_review(application, reviewer, **overrides: Any):
    """A recorded approving review (no conflict of interest) by ``reviewer``; not committed."""
    from app.extensions import db
    from app.models import Review

    values: dict[str, Any] = {
        "recommendation": "approve",
        "score_regional": 4,
        "score_strategy": 4,
        "score_feasibility": 3,
        "score_sustainability": 3,
    }
    values.update(overrides)
    review = Review(application_id=application.id, reviewer_id=reviewer.id, **values)
    db.session.add(review)
    return review


def create_reviewed_application(staff, reviewer, **overrides: Any):
    """A case taken submitted → reviewed through the workflow, committed."""
    from app.cases import workflow
    from app.extensions import db

    application, _token = create_application(**overrides)
    add_review(application, reviewer)
    workflow.apply_transition(application, "mark_reviewed", user=staff)
    db.session.commit()
    return application


def sent_text(notification) -> str:
    """An email's text body as delivery sends it: personal links (the status link) put in,
    which the stored copy holds only as a placeholder."""
    return build_message(notification).body


def write_staff_emails() -> None:
    """Write the email of every staff notice not yet written (what the worker's job does
    after the commit), so a test can read staff emails like any other."""
    waiting = select(StaffNotice.id).where(
        StaffNotice.notification_id.is_(None), StaffNotice.digest_id.is_(None)
    )
    for notice_id in db.session.scalars(waiting.order_by(StaffNotice.id)).all():
        inbox.send_staff_notice(notice_id)


def mails(kind: str) -> list[Notification]:
    """The recorded emails of ``kind``, staff emails written first."""
    write_staff_emails()
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).filter_by(kind=kind)))


REPLY = """Guten Tag,

anbei der Finanzierungsplan mit der Zusage des Landkreises.

Viele Grüße
Erika Mustermann
--
Bildungswerk Heide e. V., Am Sande 1, 21335 Lüneburg

Am 30.11.2026 um 10:00 schrieb Allianz für Fachkräfte NON:
> Bitte reichen Sie den Finanzierungsplan nach.
"""


# An applicant's reply by email, as tests/test_replies.py and tests/test_inbound_imap.py send it.
def reply(to: str, sender: str = "erika@bildungswerk-heide.example", body: str = REPLY, **headers):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = headers.pop("subject", "AW: Rückfrage zu Ihrem Förderantrag")
    message["Message-ID"] = headers.pop("message_id", None) or make_msgid()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def inbound() -> list[InboundMail]:
    """The received emails recorded so far, oldest first (read afresh)."""
    db.session.expire_all()
    return list(db.session.scalars(select(InboundMail).order_by(InboundMail.id)))
