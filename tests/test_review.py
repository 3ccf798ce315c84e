"""Review area: the queue, reading a case, one review per reviewer, conflict of interest."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.cases import workflow
from app.extensions import db
from app.models import Event, Review, ReviewRequest
from tests.factories import create_application
from tests.fixtures.workspace import add_check, csrf_from

SCORES = {
    "score_regional": "4",
    "score_strategy": "5",
    "score_feasibility": "3",
    "score_sustainability": "2",
}


@pytest.fixture
def reviewer(reviewer_user, client_for):
    return client_for(reviewer_user)


def test_queue_lists_submitted_cases_requested_first(app, reviewer, reviewer_user, staff_user):
    create_application(title="Älterer Antrag")
    asked, _ = create_application(title="Angefragter Antrag")
    rejected, _ = create_application(title="Abgelehnter Antrag")
    workflow.apply_transition(rejected, "reject", user=staff_user, reason="Nicht passend.")
    db.session.add(
        ReviewRequest(
            application_id=asked.id, reviewer_id=reviewer_user.id, requested_by_id=staff_user.id
        )
    )
    db.session.commit()
    html = reviewer.get("/review/").get_data(as_text=True)
    assert "Abgelehnter Antrag" not in html
    assert html.index("Angefragter Antrag") < html.index("Älterer Antrag")
    assert "angefragt" in html


def test_reviewer_reads_case_without_contact_details(app, reviewer):
    application, _ = create_application(contact_phone="04131 555666")
    add_check(application, {"region": "pass", "priority": "remark"})
    response = reviewer.get(f"/review/cases/{application.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert application.title in html and application.regional_reference[:40] in html
    assert "Regel priority" in html  # the eligibility report
    assert application.contact_email not in html and "04131 555666" not in html
    assert "Überstimmen" not in html  # no override forms for reviewers
    assert "/action/" not in html  # no transition forms


def test_record_one_review_then_change_it(app, reviewer, reviewer_user, post_form):
    application, _ = create_application()
    url = f"/review/cases/{application.id}"
    incomplete = post_form(reviewer, url, url, {"recommendation": "approve"})
    assert incomplete.status_code == 422
    assert "Bitte vergeben Sie 0 bis 5 Punkte." in incomplete.get_data(as_text=True)
    assert "kein Interessenkonflikt besteht" in incomplete.get_data(as_text=True)

    data = {"recommendation": "approve", **SCORES, "comment": "Gut.", "no_conflict": "y"}
    response = post_form(reviewer, url, url, data, follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Ihr Gutachten wurde gespeichert" in html
    assert "Gutachten speichern" not in html  # the form is gone
    review = db.session.scalar(select(Review).filter_by(application_id=application.id))
    assert (review.recommendation, review.score_strategy, review.reviewer_id) == (
        "approve",
        5,
        reviewer_user.id,
    )
    assert not review.conflict_of_interest

    # posting again changes the one review (reviews can be edited until the decision)
    token_page = reviewer.get(url).get_data(as_text=True)
    again = reviewer.post(
        url,
        data={**data, "recommendation": "reject", "csrf_token": csrf_from(token_page)},
        follow_redirects=True,
    )
    assert "Ihr Gutachten wurde gespeichert" in again.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(Review.id))) == 1
    db.session.refresh(review)
    assert review.recommendation == "reject" and review.updated_at is not None


def test_scores_outside_0_to_5_are_refused(app, reviewer, post_form):
    application, _ = create_application()
    url = f"/review/cases/{application.id}"
    data = {"recommendation": "reject", **SCORES, "score_regional": "6", "no_conflict": "y"}
    assert post_form(reviewer, url, url, data).status_code == 422
    assert db.session.scalar(select(db.func.count(Review.id))) == 0


def test_declaring_a_conflict_records_it_and_hides_the_form(
    app, reviewer, reviewer_user, staff_user, post_form
):
    application, _ = create_application()
    url = f"/review/cases/{application.id}"
    response = post_form(
        reviewer,
        url,
        f"{url}/conflict",
        {"conflict_comment": "Mitglied im Vorstand"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "Interessenkonflikt wurde vermerkt" in html
    assert "Gutachten speichern" not in html
    review = db.session.scalar(select(Review).filter_by(application_id=application.id))
    assert review.conflict_of_interest and review.recommendation is None
    assert review.score_regional is None
    event = db.session.scalar(select(Event).filter_by(kind="review"))
    assert event.actor_id == reviewer_user.id
    # a conflict is not a review: the case cannot be marked reviewed on it
    with pytest.raises(workflow.TransitionError):
        workflow.apply_transition(application, "mark_reviewed", user=staff_user)


def test_after_a_conflict_the_reviewer_sees_only_reference_and_title(
    app, reviewer, reviewer_user, make_user, post_form
):
    """issue 7, point 10: no contents, no attachment, no other reviews after the declaration."""
    from app.models import StoredFile
    from tests.factories import add_review, pdf_bytes

    application, _ = create_application(summary="Geheime Kurzbeschreibung des Projekts")
    pdf = pdf_bytes()
    db.session.add(StoredFile(name="conflict.pdf", pending=False, size=len(pdf), data=pdf))
    application.attachment_name = "conflict.pdf"
    application.attachment_original_name = "Projekt.pdf"
    add_review(application, make_user("reviewer"), comment="Kommentar einer anderen Person")
    add_check(application, {"region": "pass"})
    db.session.commit()
    url = f"/review/cases/{application.id}"
    before = reviewer.get(url).get_data(as_text=True)
    assert "Geheime Kurzbeschreibung" in before  # readable until the declaration
    post_form(reviewer, url, f"{url}/conflict", {"conflict_comment": "Vorstand"})

    response = reviewer.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert application.reference in html and application.title in html
    for secret in (
        "Geheime Kurzbeschreibung",
        application.org_name,
        application.description,
        "Kommentar einer anderen Person",
        "Förderfähigkeitsprüfung",
        "/attachment",
    ):
        assert secret not in html, secret
    attachment = reviewer.get(f"/staff/cases/{application.id}/attachment")
    assert attachment.status_code == 403
    # an invalid review form would be shown again with the case: not after a conflict
    invalid = reviewer.post(url, data={"csrf_token": csrf_from(html), "recommendation": "x"})
    assert invalid.status_code == 303
    assert "Geheime Kurzbeschreibung" not in reviewer.get(url).get_data(as_text=True)


def test_reviews_only_while_submitted(app, reviewer, staff_user, post_form):
    application, _ = create_application()
    url = f"/review/cases/{application.id}"
    page = reviewer.get(url).get_data(as_text=True)
    workflow.apply_transition(application, "reject", user=staff_user, reason="Zu spät.")
    db.session.commit()
    data = {
        "recommendation": "approve",
        **SCORES,
        "no_conflict": "y",
        "csrf_token": csrf_from(page),
    }
    # the reviewer had not been involved: the rejected case is now out of reach
    assert reviewer.post(url, data=data).status_code == 403
    assert db.session.scalar(select(db.func.count(Review.id))) == 0


def test_staff_see_reviews_on_case_page(app, reviewer, post_form, staff_user, client_for):
    application, _ = create_application()
    url = f"/review/cases/{application.id}"
    data = {"recommendation": "abstain", **SCORES, "comment": "Unentschieden.", "no_conflict": "y"}
    post_form(reviewer, url, url, data)
    html = client_for(staff_user).get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "Enthaltung" in html and "Unentschieden." in html
    assert "Gutachten erfasst" in html  # the timeline
