"""Data builders for the benchmarks, independent of tests/: a valid application as a person
types it, submission through the real form (Flask test client or plain HTTP), staff login,
and ``bulk_insert_cases`` (executemany, no ORM per row) for lists of 100,000 cases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import Engine, event, insert

from app import create_app
from app.eligibility import normalise_org_name
from app.extensions import db
from app.jobs import outbox
from app.models import Application, ApplicationDistrict, ApplicationPriority, FundingRound
from bench.forms import REFERENCE, form_data, hidden_fields
from config import TestingConfig

PASSWORD = "bench-passwort-lang-genug"  # noqa: S105 - a throwaway bench account


def bench_app(uri: str, **settings: Any):
    """The app in the testing configuration on ``uri``, without Redis: nothing listens on
    the address, so the outbox rows of the jobs simply wait."""
    return create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=uri,
        RATELIMIT_STORAGE_URI="memory://",
        REDIS_URL="redis://127.0.0.1:1/0",
        **settings,
    )


class QueryClock:
    """Counts the statements on ``engine`` and the milliseconds spent in them since
    ``reset()``. SQLite's connection settings (``PRAGMA query_only``, issued when a pooled
    connection switches between reading and writing) are not counted as queries."""

    def __init__(self, engine: Engine) -> None:
        self.queries, self.in_database, self._started = 0, 0.0, []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.queries, self.in_database = 0, 0.0

    def _before(self, _conn, _cursor, statement, *_args):
        self.queries += not statement.startswith("PRAGMA ")
        self._started.append(time.perf_counter())

    def _after(self, *_args):
        self.in_database += (time.perf_counter() - self._started.pop()) * 1000


def done_jobs(app) -> int:
    """Outbox rows done so far: the jobs that ran, counted rather than assumed per
    submission (today five: check, receipt, result email, staff notice, its email)."""
    with app.app_context():
        done = outbox.status_summary()["done"]
        db.session.rollback()
    return done


def submit_with_test_client(client, i: int = 0, **overrides: Any) -> str:
    """GET the form, POST the check page, POST the submit, follow to the confirmation (four
    requests, as a browser does). Returns the reference number."""
    tokens = dict(hidden_fields(client.get("/antrag").get_data(as_text=True)))
    payload = {**form_data(i, **overrides), "action": "check"}
    payload.update(csrf_token=tokens["csrf_token"], started=tokens["started"])
    check = client.post("/antrag", data=payload, content_type="multipart/form-data")
    assert check.status_code == 200, check.status_code
    fields = [*hidden_fields(check.get_data(as_text=True)), ("action", "submit")]
    body = "&".join(f"{_q(k)}={_q(v)}" for k, v in fields)
    done = client.post(
        "/antrag",
        data=body,
        content_type="application/x-www-form-urlencoded",
        follow_redirects=True,
    )
    match = REFERENCE.search(done.get_data(as_text=True))
    assert done.status_code == 200 and match, done.status_code
    return match.group(0)


def _q(value: str) -> str:
    return quote_plus(value)


def login(client, email: str, password: str = PASSWORD):
    """POST the login form with the CSRF token of the login page (test client)."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


STATES_CYCLE = ("submitted", "reviewed", "submitted", "rejected", "withdrawn")
DISTRICTS = ("03351", "03353", "03354", "03355", "03358", "03360")
PRIORITIES = ("1.1", "1.2", "2.1", "2.2", "3.1", "4.1", "5.1", "5.2")
OUTCOMES = ("eligible", "remarks", "not_eligible", None)


def bulk_insert_cases(
    n: int, funding_round: FundingRound, start: int = 0, batch: int = 5000
) -> None:
    """Insert ``n`` varied applications (with districts and priorities) by executemany."""
    base = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
    for offset in range(start, start + n, batch):
        stop = min(offset + batch, start + n)
        rows = []
        for i in range(offset, stop):
            personnel = 5_000_000 + (i % 50) * 100_000
            rows.append(
                {
                    "reference": f"NON-B{i:06d}"[:16],
                    "round_id": funding_round.id,
                    "state": STATES_CYCLE[i % len(STATES_CYCLE)],
                    "status_token_hash": hashlib.sha256(f"bulk-{i}".encode()).hexdigest(),
                    "language": "en" if i % 7 == 0 else "de",
                    "submitted_at": base + dt.timedelta(minutes=i),
                    "updated_at": base + dt.timedelta(minutes=i),
                    "org_name": f"Träger {i} gGmbH",
                    "org_key": normalise_org_name(f"Träger {i} gGmbH"),  # the ORM is bypassed
                    "legal_form": "ggmbh",
                    "street": "Am Sande 1",
                    "postcode": "21335",
                    "city": "Lüneburg",
                    "contact_name": "Erika Mustermann",
                    "contact_email": f"traeger{i}@example.org",
                    "contact_phone": None,
                    "vat_deductible": False,
                    "title": f"Projekt {i}: Fachkräfte sichern",
                    "summary": "Kurzbeschreibung",
                    "description": "Beschreibung",
                    "target_groups": "Zielgruppen",
                    "project_type": ("struktur", "weiterbildung", "arbeitslose")[i % 3],
                    "regional_reference": "Regionaler Bezug",
                    "strategy_contribution": "Beitrag",
                    "partners": None,
                    "start_date": dt.date(2026, 1, 1),
                    "end_date": dt.date(2027, 1, 1),
                    "personnel_costs": personnel,
                    "other_costs": 1_000_000,
                    "own_funds": 1_000_000,
                    "third_party_funds": 0,
                    "requested_grant": (personnel + 1_000_000) * 70 // 100,
                    "granted_amount": None,
                    "decl_not_started": True,
                    "decl_subsidy_facts": True,
                    "decl_privacy": True,
                    "decl_truthful": True,
                    "eligibility_outcome": OUTCOMES[i % len(OUTCOMES)],
                }
            )
        db.session.execute(insert(Application), rows)
        ids = dict(
            db.session.execute(
                db.select(Application.reference, Application.id).where(
                    Application.reference.in_([r["reference"] for r in rows])
                )
            ).all()
        )
        links_d, links_p = [], []
        for i, row in zip(range(offset, stop), rows, strict=True):
            app_id = ids[row["reference"]]
            links_d.append({"application_id": app_id, "ags": DISTRICTS[i % 6]})
            if i % 4 == 0:
                links_d.append({"application_id": app_id, "ags": DISTRICTS[(i + 1) % 6]})
            links_p.append({"application_id": app_id, "code": PRIORITIES[i % 8]})
        db.session.execute(insert(ApplicationDistrict), links_d)
        db.session.execute(insert(ApplicationPriority), links_p)
        db.session.commit()
