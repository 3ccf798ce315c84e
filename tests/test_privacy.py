"""Lawful operation: legal pages, retention and erasure, Art. 15 access (issue 7, 1 and 2).

Retention runs against real databases (SQLite and PostgreSQL); the daily run goes through the
outbox and a real worker process.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pytest
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from app.cases import budget, retention, subject_access, workflow
from app.clock import BERLIN
from app.extensions import db
from app.intake.forms import ApplicationForm
from app.labels import district_names, priority_names
from app.models import (
    Application,
    EligibilityCheck,
    EligibilityResult,
    Event,
    Notification,
    OutboxItem,
    Review,
    StoredFile,
)
from app.programmes import configured_round
from tests.factories import (
    add_review,
    create_application,
    create_reviewed_application,
    hidden_fields,
    pdf_bytes,
    post_application,
    submit_via_form,
    valid_form_data,
)
from tests.fixtures.auth import csrf_token, login
from tests.fixtures.pipeline import run_worker_process
from workers.__main__ import schedule_daily_once

PDF = pdf_bytes()  # a real PDF: uploads are opened with pypdf
BERLIN_NOON = dt.time(12, 0)


def at_berlin(day: dt.date, time: dt.time = BERLIN_NOON) -> dt.datetime:
    return dt.datetime.combine(day, time, BERLIN).astimezone(dt.UTC)


def close_case(application, action: str, on: dt.date, user=None, **params):
    """Take the case into a final state through the workflow, dated ``on`` (Berlin), and mark
    its emails sent, as the worker would have done long before the period ends."""
    event = workflow.apply_transition(application, action, user=user, **params)
    event.at = at_berlin(on)
    db.session.execute(
        update(Notification)
        .where(Notification.application_id == application.id)
        .values(status="sent")
    )
    db.session.commit()
    return application


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, to prove that something wrote nothing."""
    rows = {}
    for table in db.metadata.sorted_tables:
        rows[table.name] = sorted(
            (tuple(map(repr, row)) for row in db.session.execute(select(table))), key=repr
        )
    return rows


# --- 1. legal pages ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/impressum", "/datenschutz", "/barrierefreiheit"])
def test_legal_pages_show_the_operator_details_from_the_settings(app, client, path):
    app.config.update(
        OPERATOR_NAME="IHK Lüneburg-Wolfsburg",
        OPERATOR_ADDRESS=["Am Sande 1", "21335 Lüneburg"],
        OPERATOR_EMAIL="allianz@ihk-lw.example",
        DPO_EMAIL="dsb@ihk-lw.example",
        ACCESSIBILITY_CONTACT_EMAIL="barrierefrei@ihk-lw.example",
    )
    html = client.get(path).get_data(as_text=True)
    assert "IHK Lüneburg-Wolfsburg" in html
    assert "Am Sande 1" in html and "21335 Lüneburg" in html
    expected = {
        "/impressum": ["allianz@ihk-lw.example", app.config["OPERATOR_REPRESENTATIVE"]],
        "/datenschutz": [
            "dsb@ihk-lw.example",
            app.config["DPO_NAME"],
            "Landesbeauftragte für den Datenschutz Niedersachsen",
            "Art. 6 Abs. 1 lit. e",
            "Art. 6 Abs. 1 lit. c",
            "NBank",
            "Art. 15",
            "Art. 21",
        ],
        "/barrierefreiheit": [
            "barrierefrei@ihk-lw.example",
            "BITV 2.0",
            "Schlichtungs",
            app.config["ARBITRATION_EMAIL"],
        ],
    }[path]
    for text in expected:
        assert text in html, text


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("path", "english"),
    [
        ("/impressum", "Legal notice"),
        ("/datenschutz", "Privacy notice"),
        ("/barrierefreiheit", "Accessibility statement"),
    ],
)
def test_legal_pages_in_english(client, path, english):
    client.post("/sprache", data={"lang": "en", "csrf_token": csrf_token(client, "/")})
    html = client.get(path).get_data(as_text=True)
    assert english in html
    assert "Verantwortlich" not in html and "Rechtsgrundlage" not in html


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", ["/", "/antrag", "/login", "/impressum"])
def test_every_page_links_the_legal_pages_in_its_footer(client, path):
    html = client.get(path).get_data(as_text=True)
    footer = html[html.index('<footer class="site-footer">') :]
    for target in ("/impressum", "/datenschutz", "/barrierefreiheit"):
        assert f'href="{target}"' in footer


def test_privacy_page_renders_the_periods_the_purge_applies(app, client):
    app.config["RETENTION_WITHDRAWN_MONTHS"] = 7
    html = client.get("/datenschutz").get_data(as_text=True)
    table = html[html.index('id="speicherdauer"') :]
    for rule in retention.RULES:
        with app.test_request_context():
            assert rule.describe() in table
        assert str(rule.source) in table
    assert "7 Monate" in table
    # … and the purge uses the same seven months
    application, _token = create_application()
    close_case(application, "withdraw", dt.date(2030, 1, 31))
    assert retention.due_on(application) == dt.date(2030, 8, 31)


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_form_links_the_privacy_notice_in_a_new_tab_said_so(client):
    html = client.get("/antrag").get_data(as_text=True)
    link = re.search(r'<p class="hint" id="decl_privacy-link"><a ([^>]*)>([^<]*)</a>', html)
    assert link, "no link beside the privacy declaration"
    attributes, text = link.groups()
    assert 'href="/datenschutz"' in attributes
    assert 'target="_blank"' in attributes and 'rel="noopener"' in attributes
    assert "öffnet in einem neuen Tab" in text
    checkbox = re.search(r'<input[^>]*id="decl_privacy"[^>]*>', html).group(0)
    assert "decl_privacy-link" in checkbox  # aria-describedby


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_form_keeps_the_link_when_it_shows_errors(client):
    response = post_application(client, valid_form_data(decl_privacy=None))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*id="decl_privacy"[^>]*>', html).group(0)
    assert "decl_privacy-error" in checkbox and "decl_privacy-link" in checkbox


# --- 2. retention: when ------------------------------------------------------------------


def test_add_months_keeps_the_end_of_month():
    assert retention.add_months(dt.date(2030, 1, 31), 1) == dt.date(2030, 2, 28)
    assert retention.add_months(dt.date(2030, 8, 15), 6) == dt.date(2031, 2, 15)
    assert retention.add_months(dt.date(2031, 12, 31), 12) == dt.date(2032, 12, 31)


@pytest.mark.parametrize(
    ("state", "closed", "due"),
    [
        ("withdrawn", dt.date(2030, 3, 15), dt.date(2030, 9, 15)),  # 6 months
        ("rejected", dt.date(2030, 3, 15), dt.date(2031, 3, 15)),  # 12 months
    ],
)
def test_purge_at_the_boundary_dates(app, staff_user, state, closed, due):
    application, _token = create_application()
    if state == "withdrawn":
        close_case(application, "withdraw", closed)
    else:
        close_case(application, "reject", closed, user=staff_user, reason="Kein Regionalbezug")
    assert retention.due_on(application) == due

    report = retention.run(due - dt.timedelta(days=1))
    assert report.cases == []
    assert db.session.get(Application, application.id).anonymised_at is None

    report = retention.run(due)
    assert [c.reference for c in report.cases] == [application.reference]
    assert db.session.get(Application, application.id).anonymised_at is not None


def test_funded_cases_are_kept_until_the_end_of_the_sixth_year_after_the_project(
    app, staff_user, reviewer_user
):
    application = create_reviewed_application(staff_user, reviewer_user)
    close_case(application, "fund", dt.date.today(), user=staff_user, granted_amount=5_000_000)
    end_year = application.end_date.year
    assert retention.due_on(application) == dt.date(end_year + 7, 1, 1)
    assert retention.run(dt.date(end_year + 6, 12, 31)).cases == []
    assert [c.reference for c in retention.run(dt.date(end_year + 7, 1, 1)).cases] == [
        application.reference
    ]


def test_an_open_case_is_never_touched(app, staff_user, reviewer_user):
    submitted, _token = create_application()
    reviewed = create_reviewed_application(staff_user, reviewer_user)
    long_ago = at_berlin(dt.date(2000, 1, 1))
    db.session.execute(update(Application).values(submitted_at=long_ago, updated_at=long_ago))
    db.session.execute(update(Event).values(at=long_ago))
    db.session.commit()
    before = snapshot()

    report = retention.run(dt.date(2100, 1, 1))
    assert report.cases == [] and report.skipped == []
    assert snapshot() == before
    for application in (submitted, reviewed):
        assert retention.due_on(application) is None
        with pytest.raises(retention.RetentionError):
            retention.anonymise(application)
        db.session.rollback()
    # the database itself refuses an anonymised open case
    with pytest.raises(IntegrityError):
        db.session.execute(
            update(Application)
            .where(Application.id == submitted.id)
            .values(anonymised_at=dt.datetime.now(dt.UTC))
        )
        db.session.flush()
    db.session.rollback()


def _stored_names() -> list[str]:
    db.session.expire_all()
    return db.session.scalars(select(StoredFile.name)).all()


def test_dry_run_writes_nothing_and_lists_what_would_go(app, runner):
    application, _token = create_application()
    close_case(application, "withdraw", dt.date(2020, 1, 10))
    stale = "0" * 32 + ".pdf"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=app.config["FORM_MAX_AGE_SECONDS"] + 60)
    db.session.add(StoredFile(name=stale, pending=True, size=len(PDF), data=PDF, created_at=old))
    db.session.commit()
    before = snapshot()

    result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"{application.reference}\twithdrawn\tdue 2020-07-10\twould be anonymised" in (
        result.output
    )
    assert "1 case(s) would be anonymised" in result.output
    assert "1 abandoned upload(s) would be deleted" in result.output
    assert snapshot() == before
    assert _stored_names() == [stale]

    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 case(s) anonymised" in result.output
    assert "1 abandoned upload(s) deleted" in result.output
    assert _stored_names() == []
    assert db.session.get(Application, application.id).anonymised_at is not None
    # a second run finds nothing left to do
    result = runner.invoke(args=["retention", "run"])
    assert "0 case(s) anonymised" in result.output


# --- 2. retention: what goes and what stays ----------------------------------------------


def _statistics(rnd) -> tuple:
    labels = {"district": district_names(rnd), "priority": priority_names(rnd)}
    overview = budget.overview(rnd, labels)
    per_state = dict(
        db.session.execute(
            select(Application.state, func.count(Application.id)).group_by(Application.state)
        ).all()
    )
    return (
        overview.budget_cents,
        overview.committed_cents,
        overview.open_requested_cents,
        overview.open_count,
        overview.left_cents,
        overview.by_district,
        overview.by_priority,
        per_state,
    )


def test_anonymisation_keeps_budget_and_statistics(app, staff_user, reviewer_user):
    rnd = configured_round()
    funded = create_reviewed_application(staff_user, reviewer_user, districts=["03355"])
    close_case(funded, "fund", dt.date(2020, 5, 1), user=staff_user, granted_amount=6_000_000)
    rejected, _ = create_application(districts=["03358"], priorities=["3.1"])
    close_case(rejected, "reject", dt.date(2020, 5, 1), user=staff_user, reason="Zu teuer")
    withdrawn, _ = create_application(requested_grant=5_000_000)
    close_case(withdrawn, "withdraw", dt.date(2020, 5, 1))
    create_application(title="Noch offen")  # open: counts in the budget as requested
    db.session.execute(
        update(Application).values(start_date=dt.date(2020, 1, 1), end_date=dt.date(2020, 12, 31))
    )
    db.session.commit()
    before = _statistics(rnd)
    kept_before = {
        a.id: (a.reference, a.state, a.round_id, list(a.districts), list(a.priorities))
        for a in db.session.scalars(select(Application))
    }

    report = retention.run(dt.date(2040, 1, 1))
    assert len(report.cases) == 3
    db.session.expire_all()
    assert _statistics(rnd) == before
    assert {
        a.id: (a.reference, a.state, a.round_id, list(a.districts), list(a.priorities))
        for a in db.session.scalars(select(Application))
    } == kept_before


def test_anonymisation_removes_personal_data_texts_attachment_emails_and_comments(
    app, client, smtp, staff_user, reviewer_user
):
    response = post_application(
        client, {**valid_form_data(), "attachment": (io.BytesIO(PDF), "konzept.pdf")}
    )
    payload = dict(hidden_fields(response.get_data(as_text=True)))
    payload["action"] = "submit"
    client.post("/antrag", data=payload)
    application = db.session.scalar(select(Application))
    token_hash = application.status_token_hash
    attachment = application.attachment_name
    assert _stored_names() == [attachment]
    add_review(application, reviewer_user, comment="Die Ansprechperson Erika kennt die Region.")
    check = EligibilityCheck(application_id=application.id, rules_version="t", overall="eligible")
    check.results.append(
        EligibilityResult(
            rule="region",
            outcome="remark",
            message_de="Bildungswerk Heide",
            message_en="x",
            override_outcome="pass",
            override_comment="Erika hat angerufen",
        )
    )
    db.session.add(check)
    close_case(application, "reject", dt.date(2020, 2, 1), user=staff_user, reason="Frau M.")
    db.session.execute(update(Notification).values(status="sent"))
    db.session.commit()
    kept = {name: getattr(application, name) for name in retention.KEPT_COLUMNS}

    retention.run(dt.date(2030, 1, 1))
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    for column in Application.__table__.columns:
        value = getattr(application, column.key)
        if column.name in ("anonymised_at", "status_token_hash"):
            continue
        if column.name in retention.KEPT_COLUMNS:
            assert value == kept[column.name], column.name
        else:
            assert value in (None, ""), column.name
    assert application.status_token_hash != token_hash  # the old status link is dead
    assert _stored_names() == []  # the attachment went in the same transaction
    notifications = db.session.scalars(select(Notification)).all()
    assert notifications
    for n in notifications:
        assert (n.subject, n.body_text, n.body_html) == ("", "", "")
        assert n.recipient != "erika@bildungswerk-heide.example"
    assert db.session.scalar(select(Review.comment)) is None
    result = db.session.scalar(select(EligibilityResult))
    assert (result.message_de, result.message_en, result.override_comment) == ("", "", None)
    assert (result.outcome, result.override_outcome) == ("remark", "pass")
    events = db.session.scalars(select(Event).order_by(Event.id)).all()
    assert all(e.comment is None for e in events)
    assert events[-1].kind == "anonymised" and events[-1].actor_label == "system"
    # the staff page still opens; nothing personal is left to show
    login(client, staff_user.email)
    page = client.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert application.reference in page and "Bildungswerk" not in page and "Erika" not in page


def test_a_case_whose_email_is_still_being_sent_waits_for_the_next_run(app):
    application, _token = create_application()
    close_case(application, "withdraw", dt.date(2020, 1, 1))
    db.session.execute(
        update(Notification)
        .where(Notification.application_id == application.id)
        .values(status="pending")
    )
    db.session.commit()
    report = retention.run(dt.date(2030, 1, 1))
    assert report.cases == [] and len(report.skipped) == 1
    assert db.session.get(Application, application.id).anonymised_at is None


# --- 2. the daily run: outbox and a real worker ------------------------------------------


def test_daily_run_is_recorded_once_per_day_from_the_configured_hour(app):
    app.config["RETENTION_RUN_HOUR"] = 3
    day = dt.date(2031, 6, 1)
    assert not retention.record_daily_run(at_berlin(day, dt.time(2, 59)))
    assert retention.record_daily_run(at_berlin(day, dt.time(3, 0)))
    assert not retention.record_daily_run(at_berlin(day, dt.time(23, 0)))
    assert retention.record_daily_run(at_berlin(day + dt.timedelta(days=1), dt.time(3, 5)))
    assert (
        db.session.scalar(
            select(func.count(OutboxItem.id)).where(OutboxItem.job == "run_retention")
        )
        == 2
    )
    app.config["RETENTION_RUN_DAILY"] = False  # the operator schedules the CLI instead
    assert not retention.record_daily_run(at_berlin(day + dt.timedelta(days=2), dt.time(4, 0)))


def test_the_worker_helper_records_the_daily_run(app):
    app.config["RETENTION_RUN_HOUR"] = 0
    schedule_daily_once(app)
    schedule_daily_once(app)  # the same day: nothing more
    rows = db.session.scalars(select(OutboxItem).where(OutboxItem.job == "run_retention")).all()
    assert [(row.queue, row.payload) for row in rows] == [("maintenance", {})]


def test_worker_runs_the_recorded_retention_job(app, app_environ):
    application, _token = create_application()
    close_case(application, "withdraw", dt.date(2020, 1, 1))
    db.session.execute(update(Notification).values(status="sent"))
    db.session.commit()
    assert retention.record_daily_run(at_berlin(dt.date.today(), dt.time(23, 59)))

    run_worker_process(app_environ)
    db.session.expire_all()
    assert db.session.get(Application, application.id).anonymised_at is not None
    row = db.session.scalar(select(OutboxItem).where(OutboxItem.job == "run_retention"))
    assert row.status == "done"


# --- 2. early erasure by an administrator ------------------------------------------------


def test_admin_erases_a_withdrawn_case_early_with_a_reason(app, logged_in, admin_user):
    application, _token = create_application()
    close_case(application, "withdraw", dt.date.today())
    db.session.execute(update(Notification).values(status="sent"))
    db.session.commit()
    client = logged_in(admin_user)
    case_page = client.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert f"/staff/cases/{application.id}/erase" in case_page

    url = f"/staff/cases/{application.id}/erase"
    token = csrf_token(client, url)
    missing = client.post(url, data={"csrf_token": token, "reason": " "})
    assert missing.status_code == 422
    assert db.session.get(Application, application.id).anonymised_at is None

    response = client.post(url, data={"csrf_token": token, "reason": "Löschantrag vom 3.3."})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Application, application.id).anonymised_at is not None
    event = db.session.scalar(select(Event).where(Event.kind == "erased"))
    assert (event.actor_id, event.comment) == (admin_user.id, "Löschantrag vom 3.3.")


def test_early_erasure_is_refused_while_a_retention_duty_applies(
    app, logged_in, admin_user, staff_user, reviewer_user
):
    application = create_reviewed_application(staff_user, reviewer_user)
    close_case(application, "fund", dt.date.today(), user=staff_user, granted_amount=5_000_000)
    client = logged_in(admin_user)
    case_page = client.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "Art. 82 Verordnung (EU) 2021/1060" in case_page
    url = f"/staff/cases/{application.id}/erase"
    page = client.get(url).get_data(as_text=True)
    assert "Aufbewahrungspflicht" in page and "ANBest-P" in page
    assert f"01.01.{application.end_date.year + 7}" in page
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "reason": "Bitte"})
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Application, application.id).anonymised_at is None


def test_early_erasure_of_an_open_case_is_refused(app, logged_in, admin_user):
    application, _token = create_application()
    client = logged_in(admin_user)
    url = f"/staff/cases/{application.id}/erase"
    assert "noch offen" in client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "reason": "x"})
    assert response.status_code == 409
    assert db.session.get(Application, application.id).anonymised_at is None


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_only_admins_erase(app, logged_in, staff_user):
    application, _token = create_application()
    close_case(application, "withdraw", dt.date.today())
    client = logged_in(staff_user)
    assert client.get(f"/staff/cases/{application.id}/erase").status_code == 403
    with pytest.raises(retention.RetentionError):
        retention.erase_early(application, staff_user, "Grund")


# --- 2. access (Art. 15) -----------------------------------------------------------------


def _form_field_names() -> list[str]:
    """Every field the form collects into the case, read from the form itself."""
    form_fields = [name for section in ApplicationForm.SECTIONS.values() for name in section]
    return [*form_fields, "language"]


def _open_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.data))


def test_applicant_downloads_everything_held_about_the_case(app, client, smtp):
    data = valid_form_data()
    response = post_application(client, {**data, "attachment": (io.BytesIO(PDF), "konzept.pdf")})
    payload = dict(hidden_fields(response.get_data(as_text=True)))
    payload["action"] = "submit"
    page = client.post("/antrag", data=payload, follow_redirects=True).get_data(as_text=True)
    token = re.search(r"/status/([A-Za-z0-9_\-]+)", page).group(1)
    application = db.session.scalar(select(Application))

    status_page = client.get(f"/status/{token}").get_data(as_text=True)
    assert f"/status/{token}/auskunft" in status_page
    download = client.post(
        f"/status/{token}/auskunft", data={"csrf_token": csrf_token(client, f"/status/{token}")}
    )
    archive = _open_zip(download)
    ref = application.reference
    assert sorted(archive.namelist()) == sorted([f"{ref}.json", f"{ref}.html", f"{ref}-anlage.pdf"])
    assert archive.read(f"{ref}-anlage.pdf") == PDF
    exported = json.loads(archive.read(f"{ref}.json"))
    record = exported["application"]

    # every field the form collected, with the value stored for it
    for name in _form_field_names():
        assert name in record, name
        stored = getattr(application, name)
        if isinstance(stored, dt.date):
            stored = stored.isoformat()
        elif name in ("districts", "priorities"):
            stored = list(stored)
        assert record[name] == stored, name
    assert exported["attachment"]["original_name"] == "konzept.pdf"
    # every column of the model except security data, so a new field cannot be forgotten
    columns = {c.key for c in inspect(Application).columns} - subject_access.EXCLUDED_COLUMNS
    assert columns <= set(record)
    assert not {"status_token_hash", "attachment_name", "org_key"} & set(record)
    assert [e["kind"] for e in exported["emails"]] == ["receipt"]
    assert exported["events"][0]["to_state"] == "submitted"

    html = archive.read(f"{ref}.html").decode()
    for text in (data["org_name"], data["contact_email"], data["title"], "konzept.pdf"):
        assert text.replace('"', "&#34;") in html, text
    assert db.session.scalar(select(Event).where(Event.kind == "data_export")).actor_label == (
        "applicant"
    )


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_applicant_export_needs_the_token_and_a_post(client):
    _response, _reference, token = submit_via_form(client)
    assert client.get(f"/status/{token}/auskunft").status_code == 405
    assert client.post("/status/not-a-token/auskunft").status_code in (400, 404)


def test_staff_produce_the_same_export_from_the_case_page(
    app, logged_in, staff_user, reviewer_user
):
    application, _token = create_application()
    add_review(application, reviewer_user, comment="Gut begründet")
    db.session.commit()
    client = logged_in(staff_user)
    url = f"/staff/cases/{application.id}"
    assert f"{url}/data-export" in client.get(url).get_data(as_text=True)
    archive = _open_zip(
        client.post(f"{url}/data-export", data={"csrf_token": csrf_token(client, url)})
    )
    exported = json.loads(archive.read(f"{application.reference}.json"))
    assert exported["application"]["org_name"] == application.org_name
    assert exported["reviews"][0]["comment"] == "Gut begründet"
    assert "reviewer_id" not in exported["reviews"][0]  # third parties stay out
    event = db.session.scalar(select(Event).where(Event.kind == "data_export"))
    assert event.actor_id == staff_user.id


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_reviewers_cannot_export(app, logged_in, reviewer_user):
    application, _token = create_application()
    client = logged_in(reviewer_user)
    url = f"/staff/cases/{application.id}/data-export"
    response = client.post(url, data={"csrf_token": csrf_token(client, "/review/")})
    assert response.status_code == 403
