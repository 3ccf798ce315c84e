"""Reviewers: a review request carries a due date with a reminder (a scheduled outbox row,
tested with the clock moved); staff see overdue reviews; a reviewer can change their review
until the case is decided."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.cases import reviews, workflow
from app.extensions import db
from app.jobs import outbox
from app.models import Event, OutboxItem, Review, ReviewRequest
from tests.factories import add_review, create_application, mails
from tests.fixtures.pipeline import drain
from tests.fixtures.workspace import csrf_from

SCORES = {
    "score_regional": "4",
    "score_strategy": "5",
    "score_feasibility": "3",
    "score_sustainability": "2",
}


def ask_for_review(staff, application, reviewer_user, due: str):
    page = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    return staff.post(
        f"/staff/cases/{application.id}/review-requests",
        data={"reviewers": str(reviewer_user.id), "due_date": due, "csrf_token": csrf_from(page)},
    )


def _at(monkeypatch, when: dt.datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def test_due_date_reminder_and_overdue(
    app, smtp, staff_user, reviewer_user, client_for, monkeypatch
):
    application, _ = create_application(title="Ein Projekt zum Begutachten")
    staff = client_for(staff_user)
    due = clock.today() + dt.timedelta(days=10)
    proposed = (clock.today() + dt.timedelta(days=14)).strftime("%d.%m.%Y")
    assert f'value="{proposed}"' in staff.get(f"/staff/cases/{application.id}").text
    assert (
        ask_for_review(staff, application, reviewer_user, due.strftime("%d.%m.%Y")).status_code
        == 302
    )
    request = db.session.scalar(select(ReviewRequest))
    assert request.due_date == due
    [asked] = mails("review_request")
    assert due.strftime("%d.%m.%Y") in asked.body_text or str(due.year) in asked.body_text
    [row] = db.session.scalars(select(OutboxItem).where(OutboxItem.run_at.is_not(None))).all()
    reminder_day = due - dt.timedelta(days=2)
    assert row.run_at == dt.datetime.combine(reminder_day, dt.time(8), tzinfo=clock.BERLIN)
    drain(app)

    _at(monkeypatch, dt.datetime.combine(reminder_day, dt.time(8, 5), tzinfo=clock.BERLIN))
    outbox.redispatch_stale()
    drain(app)
    [reminder] = mails("review_reminder")
    assert reminder.recipient == reviewer_user.email and reminder.status == "sent"
    assert reviews.remind_reviewer(request.id) == "skipped"  # never twice

    # not overdue on the due date itself; the day after, staff see it (a new login each
    # day: a login lasts 10 h at most)
    _at(monkeypatch, dt.datetime.combine(due, dt.time(9), tzinfo=clock.BERLIN))
    staff = client_for(staff_user)
    assert "überfällig" not in staff.get(f"/staff/cases/{application.id}").text
    _at(
        monkeypatch,
        dt.datetime.combine(due + dt.timedelta(days=1), dt.time(9), tzinfo=clock.BERLIN),
    )
    staff = client_for(staff_user)
    assert "überfällig" in staff.get(f"/staff/cases/{application.id}").text
    listing = staff.get("/staff/cases?overdue_reviews=1").text
    assert "Ein Projekt zum Begutachten" in listing
    add_review(application, reviewer_user)
    db.session.commit()
    assert "Ein Projekt zum Begutachten" not in staff.get("/staff/cases?overdue_reviews=1").text


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_no_reminder_once_reviewed(app, staff_user, reviewer_user, monkeypatch):
    application, _ = create_application()
    reviews.request_reviews(
        application, [reviewer_user], staff_user, clock.today() + dt.timedelta(days=5)
    )
    db.session.commit()
    request = db.session.scalar(select(ReviewRequest))
    assert reviews.remind_reviewer(request.id) == "rescheduled"  # too early
    add_review(application, reviewer_user)
    db.session.commit()
    _at(monkeypatch, clock.now() + dt.timedelta(days=4))
    assert reviews.remind_reviewer(request.id) == "skipped"
    assert mails("review_reminder") == []


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_past_due_date_is_refused(app, staff_user, reviewer_user, client_for):
    application, _ = create_application()
    staff = client_for(staff_user)
    ask_for_review(staff, application, reviewer_user, clock.today().strftime("%d.%m.%Y"))
    assert db.session.scalar(select(ReviewRequest)) is None


def test_reviewer_changes_review_until_the_case_is_decided(
    app, staff_user, reviewer_user, client_for
):
    application, _ = create_application()
    reviewer = client_for(reviewer_user)
    url = f"/review/cases/{application.id}"

    def post(recommendation: str):
        page = reviewer.get(url).get_data(as_text=True)
        data = {"recommendation": recommendation, **SCORES, "comment": recommendation,
                "no_conflict": "y", "csrf_token": csrf_from(page)}  # fmt: skip
        return reviewer.post(url, data=data, follow_redirects=True)

    post("approve")
    page = reviewer.get(url).text
    assert "Gutachten ändern" in page and "approve</textarea>" in page  # the form comes filled
    post("reject")
    db.session.expire_all()
    review = db.session.scalar(select(Review))
    assert review.recommendation == "reject" and review.updated_at is not None
    assert db.session.scalar(select(Event.kind).where(Event.kind == "review_updated"))

    # reviewed and funded: the review is closed
    workflow.apply_transition(application, "mark_reviewed", user=staff_user)
    post("abstain")
    db.session.expire_all()
    assert db.session.scalar(select(Review)).recommendation == "abstain"  # still open
    workflow.apply_transition(application, "fund", user=staff_user, granted_amount=1_000_000)
    db.session.commit()
    assert "Gutachten ändern" not in reviewer.get(url).text
    refused = post("approve")
    assert "entschieden" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(Review)).recommendation == "abstain"
