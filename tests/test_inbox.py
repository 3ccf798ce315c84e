"""Staff work from their inbox: the life of a case driven only by the links in staff emails.

Real worker (``python -m workers --burst``, or the in-process RQ worker where the clock is
moved), real Redis, real SMTP. Each staff email offers a signed link for every step possible
when it was written, bound to its recipient, single use; the daily digest groups the events
by case at the hour the person chose (Europe/Berlin).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.cases import inbox, notices, reviews
from app.cases.checks import check_eligibility
from app.extensions import db
from app.jobs import outbox
from app.models import (
    SCORES,
    Application,
    Event,
    FundingRound,
    InboxPreference,
    Notification,
    OutboxItem,
    StaffDigest,
    StaffNotice,
)
from tests.factories import create_application, submit_via_form
from tests.fixtures.pipeline import drain, run_worker_process
from tests.fixtures.workspace import csrf_from

BASE = "https://foerderung.example.org"
APPLICANT = "erika@bildungswerk-heide.example"
FORWARDED = "Dieser Link wurde an eine andere Person gesendet"
NOT_POSSIBLE = "Dieser Schritt ist nicht mehr möglich"


# --- helpers -----------------------------------------------------------------------------


def mails_to(smtp, address: str) -> list:
    return [m for m in smtp.messages if str(m["To"]) == address]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def kind_of(message) -> str:
    db.session.expire_all()
    return db.session.scalar(
        select(Notification.kind).filter_by(message_id=str(message["Message-ID"]))
    )


def last_mail(smtp, address: str, kind: str):
    found = [m for m in mails_to(smtp, address) if kind_of(m) == kind]
    assert found, [kind_of(m) for m in mails_to(smtp, address)]
    return found[-1]


def action_path(message, action: str) -> str | None:
    """The path of the email's link for ``action`` (None if the email offers none)."""
    match = re.search(re.escape(BASE) + rf"(/action/{action}/[A-Za-z0-9_.\-]+)", text_of(message))
    return match.group(1) if match else None


def offered(message) -> set[str]:
    return set(re.findall(re.escape(BASE) + r"/action/([a-z_]+)/", text_of(message)))


def confirm(client, path: str, data: dict | None = None, expect: int = 302):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:3000]
    response = client.post(path, data={**(data or {}), "csrf_token": csrf_from(page.text)})
    assert response.status_code == expect, response.get_data(as_text=True)[:3000]
    return page, response


def review(client, case_id: int, recommendation: str, scores: tuple, comment: str) -> None:
    path = f"/review/cases/{case_id}"
    page = client.get(path)
    assert page.status_code == 200
    data = dict(zip(("score_regional", "score_strategy", "score_feasibility",
                     "score_sustainability"), map(str, scores), strict=True))  # fmt: skip
    posted = client.post(
        path,
        data={
            **data,
            "recommendation": recommendation,
            "comment": comment,
            "no_conflict": "y",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert posted.status_code == 302


def state_of(case_id: int) -> Application:
    db.session.expire_all()
    return db.session.get(Application, case_id)


# --- the whole life, immediate emails -------------------------------------------------------


@pytest.mark.slow
def test_whole_life_driven_from_staff_emails(
    app, client, smtp, pipeline_env, make_user, client_for
):
    sam = make_user("staff", email="sam@example.org", name="Sam Staff")
    colleague = make_user("staff", email="kim@example.org", name="Kim Kollegin")
    rita = make_user("reviewer", email="rita@example.org", name="Rita Review")
    rolf = make_user("reviewer", email="rolf@example.org", name="Rolf Rat")
    make_user("reviewer", email="reserve@example.org", name="Rea Reserve")

    # 1. a new case: Sam's email offers "request reviews" (no "mark reviewed" before a review)
    _response, reference, _token = submit_via_form(client)
    run_worker_process(pipeline_env)
    smtp.wait_for(5)  # receipt, result, Sam, Kim, the shared inbox
    case_id = db.session.scalar(select(Application.id).filter_by(reference=reference))
    new_case = last_mail(smtp, "sam@example.org", "staff_new")
    assert offered(new_case) == {"request_reviews", "reject"}
    assert "Nicht förderfähig" not in text_of(new_case) and reference in text_of(new_case)
    shared = last_mail(smtp, "staff@example.org", "staff_new")
    assert offered(shared) == set() and f"/staff/cases/{case_id}" in text_of(shared)
    assert "gemeinsames Postfach" in text_of(shared)

    # 2. request reviews: reviewers are chosen on the confirmation page
    staff = client_for(sam)
    page, _done = confirm(
        staff, action_path(new_case, "request_reviews"), {"reviewers": [rita.id, rolf.id]}
    )
    assert "Rita Review" in page.text and "Rea Reserve" in page.text
    assert staff.get(action_path(new_case, "request_reviews")).status_code == 410  # used once
    run_worker_process(pipeline_env)
    smtp.wait_for(7)
    assert kind_of(mails_to(smtp, "rita@example.org")[0]) == "review_request"

    # 3. a review recorded: its facts, and the links possible now
    review(client_for(rita), case_id, "approve", (5, 4, 4, 3), "Überzeugend und gut vernetzt.")
    run_worker_process(pipeline_env)
    smtp.wait_for(10)
    recorded = last_mail(smtp, "sam@example.org", "review_recorded")
    text = text_of(recorded)
    assert "Rita Review" in text and "befürworten" in text
    assert "Regionaler Bezug: 5/5" in text and "Überzeugend und gut vernetzt." in text
    assert offered(recorded) == {"mark_reviewed", "request_reviews"}  # Rea is still free
    assert f"/staff/cases/{case_id}" in text

    # 4. all reviews in: the summary table; links mark reviewed, fund, reject
    review(client_for(rolf), case_id, "abstain", (3, 3, 2, 2), "Solide.")
    run_worker_process(pipeline_env)
    smtp.wait_for(13)
    complete = last_mail(smtp, "sam@example.org", "reviews_complete")
    text = text_of(complete)
    assert "Rita Review | befürworten | 5 | 4 | 4 | 3" in text
    assert "Rolf Rat | Enthaltung | 3 | 3 | 2 | 2" in text
    assert offered(complete) == {"mark_reviewed", "fund", "reject"}
    assert not [m for m in mails_to(smtp, "sam@example.org") if kind_of(m) == "review_recorded"][
        1:
    ]  # the last review is in the summary, not in a second "review recorded" email

    # a forwarded link does not let another staff member act
    kim = client_for(colleague)
    forwarded = kim.get(action_path(complete, "reject"))
    assert forwarded.status_code == 403 and FORWARDED in forwarded.text
    assert (
        kim.post(
            action_path(complete, "reject"),
            data={"reason": "Nein.", "csrf_token": csrf_from(kim.get("/staff/cases").text)},
        ).status_code
        == 403
    )
    assert state_of(case_id).state == "submitted"

    # 5. fund: the confirmation page proposes the requested amount; Sam changes it
    page, _done = confirm(staff, action_path(complete, "fund"), {"granted_amount": "65.000,00"})
    assert 'value="70.000"' in page.text
    application = state_of(case_id)
    assert application.state == "funded" and application.granted_amount == 6_500_000
    assert db.session.get(FundingRound, application.round_id).committed_cents == 6_500_000
    steps = db.session.execute(
        select(Event.from_state, Event.to_state, Event.actor_id).filter_by(
            application_id=case_id, kind="transition"
        )
    ).all()
    assert steps == [(None, "submitted", None), ("submitted", "reviewed", sam.id),
                     ("reviewed", "funded", sam.id)]  # fmt: skip
    run_worker_process(pipeline_env)
    smtp.wait_for(15)
    assert [kind_of(m) for m in mails_to(smtp, APPLICANT)][-2:] == ["reviewed", "funded"]

    # 6. a link for a step no longer possible explains why and changes nothing
    stale = staff.get(action_path(recorded, "mark_reviewed"))
    assert stale.status_code == 409
    assert NOT_POSSIBLE in stale.text and "im aktuellen Status nicht möglich" in stale.text
    assert (
        staff.post(
            action_path(recorded, "mark_reviewed"), data={"csrf_token": csrf_from(stale.text)}
        ).status_code
        == 409
    )
    stale_review = staff.get(action_path(recorded, "request_reviews"))
    assert (
        stale_review.status_code == 409 and "wartet nicht mehr auf Gutachten" in stale_review.text
    )
    assert state_of(case_id).state == "funded"


# --- the digest variant -------------------------------------------------------------------


def berlin(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=clock.BERLIN)


@pytest.mark.slow
def test_whole_life_driven_from_daily_digests(
    app, client, smtp, make_user, client_for, monkeypatch
):
    now = {"at": berlin(clock.today() + dt.timedelta(days=1), 6)}
    monkeypatch.setattr(clock, "now", lambda: now["at"].astimezone(dt.UTC))
    dora = make_user("staff", email="dora@example.org", name="Dora Digest")
    rita = make_user("reviewer", email="rita@example.org", name="Rita Review")
    rolf = make_user("reviewer", email="rolf@example.org", name="Rolf Rat")
    staff = client_for(dora)
    # Dora chooses one digest a day at 08:00 on her settings page
    page = staff.get("/staff/notifications")
    saved = staff.post(
        "/staff/notifications",
        data={
            "mode": "digest",
            "digest_hour": "8",
            "all_rounds": "all",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    assert db.session.get(InboxPreference, dora.id).mode == "digest"

    # day 1, 06:00: a case comes in; Dora gets no email now
    _response, reference, _token = submit_via_form(client)
    drain(app)
    case_id = db.session.scalar(select(Application.id).filter_by(reference=reference))
    assert mails_to(smtp, "dora@example.org") == []
    now["at"] = berlin(now["at"].date(), 7, 59)
    assert inbox.schedule_digests() == []  # not her hour yet

    # 08:01: the digest, started once however often (and by how many workers) it is scheduled
    now["at"] = berlin(now["at"].date(), 8, 1)
    assert len(inbox.schedule_digests()) == 1
    assert inbox.schedule_digests() == []
    drain(app)
    (digest,) = mails_to(smtp, "dora@example.org")
    assert kind_of(digest) == "staff_digest"
    assert reference in text_of(digest) and "Neuer Antrag eingegangen" in text_of(digest)
    assert offered(digest) == {"request_reviews", "reject"}

    # Dora asks both reviewers from the digest; both review during the morning
    now["at"] = berlin(now["at"].date(), 9)
    confirm(staff, action_path(digest, "request_reviews"), {"reviewers": [rita.id, rolf.id]})
    drain(app)
    now["at"] = berlin(now["at"].date(), 10)
    review(client_for(rita), case_id, "approve", (5, 5, 4, 4), "Sehr gut.")
    review(client_for(rolf), case_id, "approve", (4, 4, 4, 3), "Gut.")
    drain(app)
    now["at"] = berlin(now["at"].date(), 12)
    assert inbox.schedule_digests() == []  # today's digest went out already
    assert len(mails_to(smtp, "dora@example.org")) == 1

    # day 2, 08:00: one digest, the case's events grouped, links for the steps possible now
    now["at"] = berlin(now["at"].date() + dt.timedelta(days=1), 8)
    assert len(inbox.schedule_digests()) == 1
    drain(app)
    second = mails_to(smtp, "dora@example.org")[-1]
    text = text_of(second)
    assert kind_of(second) == "staff_digest" and text.count(f"== {reference}") == 1
    assert "Gutachten von Rita Review: befürworten (5/5/4/4)" in text
    assert "Alle angefragten Gutachten liegen vor" in text
    assert offered(second) == {"mark_reviewed", "fund", "reject"}

    # fund with the requested amount, as proposed: a new day, a new login (a login ends
    # after SESSION_ABSOLUTE_HOURS)
    staff = client_for(dora)
    confirm(staff, action_path(second, "fund"), {"granted_amount": "70.000"})
    application = state_of(case_id)
    assert application.state == "funded" and application.granted_amount == 7_000_000
    # every notice went into exactly one digest, and each digest was sent once
    assert (
        db.session.scalar(
            select(func.count(StaffNotice.id)).where(
                StaffNotice.user_id == dora.id, StaffNotice.digest_id.is_(None)
            )
        )
        == 0
    )
    assert db.session.scalar(select(func.count(StaffDigest.id))) == 2


def test_digest_job_sends_once_when_run_twice(app, smtp, make_user, monkeypatch):
    """Two workers running the same digest (a re-dispatch): one email."""
    dora = make_user("staff", email="dora@example.org")
    db.session.add(InboxPreference(user_id=dora.id, mode="digest", digest_hour=0))
    db.session.commit()
    application, _ = create_application()
    check_eligibility(application.id)
    (digest_id,) = inbox.schedule_digests()
    assert inbox.send_digest(digest_id) == "sent"
    assert inbox.send_digest(digest_id) == "exists"
    db.session.expire_all()
    assert (
        db.session.scalar(select(func.count(Notification.id)).filter_by(kind="staff_digest")) == 1
    )
    # the digest is an outbox row like every other piece of work
    assert db.session.scalar(select(func.count(OutboxItem.id)).filter_by(job="send_digest")) == 1


@pytest.mark.slow
def test_the_worker_sends_due_digests_by_itself(app, smtp, pipeline_env, make_user):
    """``python -m workers`` runs the digest schedule with its periodic re-dispatch."""
    dora = make_user("staff", email="dora@example.org")
    db.session.add(InboxPreference(user_id=dora.id, mode="digest", digest_hour=0))
    db.session.commit()
    application, _ = create_application()
    run_worker_process(pipeline_env)  # the check runs; Dora's notice waits for her digest
    assert db.session.scalar(select(func.count(StaffDigest.id))) == 0
    run_worker_process(pipeline_env)  # its schedule finds the notice due (hour 0 has come)
    smtp.wait_for(4)  # receipt, result, shared inbox, the digest
    (digest,) = mails_to(smtp, "dora@example.org")
    assert kind_of(digest) == "staff_digest" and application.reference in text_of(digest)
    run_worker_process(pipeline_env)
    assert len(mails_to(smtp, "dora@example.org")) == 1  # once a day


# --- who hears of what ------------------------------------------------------------------


def test_round_filter_and_shared_inbox(app, make_user):
    follows_old = make_user("staff", email="alt@example.org")
    everyone = make_user("admin", email="chefin@example.org")
    db.session.add(InboxPreference(user_id=follows_old.id, mode="immediate", digest_hour=8,
                                   round_codes=["NON-2022"]))  # fmt: skip
    db.session.commit()
    application, _ = create_application()  # in NON-2025
    check_eligibility(application.id)
    told = db.session.execute(
        select(StaffNotice.recipient, StaffNotice.user_id).filter_by(kind="staff_new")
    ).all()
    assert sorted(told) == sorted([("chefin@example.org", everyone.id),
                                   ("staff@example.org", None)])  # fmt: skip


def test_admin_defaults_apply_to_staff_without_own_settings(
    app, make_user, client_for, staff_user, admin_user
):
    assert notices.preference_of(staff_user).mode == "immediate"
    staff = client_for(staff_user)
    assert staff.get("/staff/notifications/defaults").status_code == 403
    admin = client_for(admin_user)
    page = admin.get("/staff/notifications/defaults")
    assert page.status_code == 200
    saved = admin.post(
        "/staff/notifications/defaults",
        data={
            "mode": "digest",
            "digest_hour": "17",
            "all_rounds": "some",
            "rounds": ["NON-2025"],
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    db.session.expire_all()
    assert notices.preference_of(staff_user) == notices.Preference("digest", 17, ("NON-2025",))
    # the staff member's own page shows the defaults until they choose their own
    own = staff.get("/staff/notifications").text
    assert re.search(r'<input checked[^>]*value="digest"', own)
    assert re.search(r'<option selected value="17">', own)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "weekly", "digest_hour": "8", "all_rounds": "all"}, "angebotenen Möglichkeiten"),
        ({"mode": "digest", "digest_hour": "99", "all_rounds": "all"}, "angebotenen Möglichkeiten"),
        (
            {"mode": "digest", "digest_hour": "8", "all_rounds": "some"},
            "mindestens eine Förderrunde",
        ),
        ({"digest_hour": "8", "all_rounds": "all"}, "Art der Benachrichtigung"),
    ],
)
def test_settings_typos_get_a_message(app, staff_user, client_for, data, message):
    staff = client_for(staff_user)
    page = staff.get("/staff/notifications")
    response = staff.post("/staff/notifications", data={**data, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 422
    assert message in response.text
    assert db.session.get(InboxPreference, staff_user.id) is None


# --- alerts for administrators ------------------------------------------------------------


def test_failed_email_and_failed_job_alert_the_admins(app, smtp, make_user, fast_pipeline):
    admin = make_user("admin", email="admin@example.org")
    application, _ = create_application()
    smtp.fail_next(1, code=550)  # the receipt is refused for good
    drain(app)
    failed = db.session.scalars(select(Notification).filter_by(status="failed")).all()
    assert [n.kind for n in failed] == ["receipt"]
    alert = last_mail(smtp, admin.email, "email_failed")
    assert APPLICANT in text_of(alert) and "550" in text_of(alert)
    assert f"{BASE}/staff/operations" in text_of(alert)
    assert f"{BASE}/staff/cases/{application.id}" in text_of(alert)

    # a job that fails for good (its case is gone) tells the admins too
    outbox.record(check_eligibility, application_id=987654)
    db.session.commit()
    drain(app)
    alert = last_mail(smtp, admin.email, "job_failed")
    assert "check_eligibility" in text_of(alert) and "987654" in text_of(alert)
    assert f"{BASE}/staff/operations" in text_of(alert)


def test_an_alert_that_fails_raises_no_further_alert(app, smtp, make_user, fast_pipeline):
    make_user("admin", email="admin@example.org")
    create_application()
    smtp.fail_always(550)
    drain(app)
    db.session.expire_all()
    kinds = db.session.scalars(select(Notification.kind).order_by(Notification.id)).all()
    about = [k for k in kinds if k not in notices.ALERT_KINDS]
    assert "receipt" in about
    # one alert per failed email, none about a failed alert
    assert kinds.count("email_failed") == len(about)


# --- the confirmation pages behind the links ---------------------------------------------


def _all_reviews_in(staff_user, make_user) -> Application:
    rita = make_user("reviewer", email="rita@example.org", name="Rita Review")
    application, _ = create_application()
    reviews.request_reviews(application, [rita], staff_user)
    db.session.commit()
    reviews.record_review(
        application, rita, recommendation="approve", scores=dict.fromkeys(SCORES, 4)
    )
    return application


def test_fund_link_checks_the_amount_and_stays_usable(app, staff_user, make_user, client_for):
    application = _all_reviews_in(staff_user, make_user)
    notice = db.session.scalars(
        select(StaffNotice).filter_by(user_id=staff_user.id, kind="reviews_complete")
    ).one()
    links = inbox.links_for(application, staff_user.id, inbox.OFFERS[notice.kind])
    assert set(links) >= {"mark_reviewed", "fund", "reject"}
    path = links["fund"].removeprefix(BASE)
    staff = client_for(staff_user)
    page = staff.get(path)
    token = csrf_from(page.text)
    # above the request: refused with the reason, typed amount kept, nothing changed
    refused = staff.post(path, data={"granted_amount": "99.000,00", "csrf_token": token})
    assert refused.status_code == 422
    assert "beantragten Zuschuss" in refused.text and 'value="99.000,00"' in refused.text
    assert state_of(application.id).state == "submitted"
    # a typo gets a message too
    typo = staff.post(path, data={"granted_amount": "siebzig", "csrf_token": token})
    assert typo.status_code == 400 and "Betrag in Euro" in typo.text
    # the link was not spent by the refusals
    done = staff.post(path, data={"granted_amount": "60.000", "csrf_token": token})
    assert done.status_code == 302
    assert state_of(application.id).granted_amount == 6_000_000


def test_request_reviews_link_offers_only_reviewers_not_yet_asked(
    app, staff_user, make_user, client_for
):
    application = _all_reviews_in(staff_user, make_user)
    assert inbox.blocked_reason(application, "request_reviews") is not None  # nobody left
    make_user("reviewer", email="neu@example.org", name="Nora Neu")
    path = inbox.links_for(application, staff_user.id, ["request_reviews"])["request_reviews"]
    staff = client_for(staff_user)
    page = staff.get(path.removeprefix(BASE))
    assert page.status_code == 200
    assert "Nora Neu" in page.text and "Rita Review" not in page.text
    # choosing nobody gets a message; a tampered id too
    token = csrf_from(page.text)
    empty = staff.post(path.removeprefix(BASE), data={"csrf_token": token})
    assert empty.status_code == 400 and "mindestens eine Person" in empty.text
    tampered = staff.post(path.removeprefix(BASE), data={"csrf_token": token, "reviewers": "1"})
    assert tampered.status_code == 400


def test_conflict_declared_offers_another_reviewer(app, staff_user, make_user, client_for):
    rita = make_user("reviewer", email="rita@example.org", name="Rita Review")
    make_user("reviewer", email="neu@example.org", name="Nora Neu")
    application, _ = create_application()
    reviews.request_reviews(application, [rita], staff_user)
    db.session.commit()
    # Rita declares her conflict on the review page
    reviewer = client_for(rita)
    page = reviewer.get(f"/review/cases/{application.id}")
    posted = reviewer.post(
        f"/review/cases/{application.id}/conflict",
        data={"conflict_comment": "Ich berate den Träger.", "csrf_token": csrf_from(page.text)},
    )
    assert posted.status_code == 302
    notice = db.session.scalars(
        select(StaffNotice).filter_by(user_id=staff_user.id, kind="review_conflict")
    ).one()
    assert inbox.send_staff_notice(notice.id) == "sent"
    assert inbox.send_staff_notice(notice.id) == "exists"
    email = db.session.get(Notification, notice.notification_id)
    assert email.recipient == staff_user.email
    assert "Rita Review" in email.body_text and "Ich berate den Träger." in email.body_text
    assert "Interessenkonflikt" in email.subject
    assert re.findall(r"/action/([a-z_]+)/", email.body_text) == ["request_reviews"]
    # no review and no "all reviews in": a conflict is not a review
    assert not db.session.scalars(select(StaffNotice).filter_by(kind="reviews_complete")).all()
