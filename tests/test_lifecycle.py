"""The whole life of a case through HTTP, and the transitions that must be refused.

submit (/antrag) → the real worker (``python -m workers --burst``) checks and emails → the staff
email's link opens the case → staff ask a reviewer → the reviewer's email link → review →
reviewed → funded; the applicant's emails arrive at each step, in the applicant's language.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.cases import workflow
from app.extensions import db
from app.models import Application, Event, FundingRound, Notification, Review
from tests.factories import create_application, create_reviewed_application, submit_via_form
from tests.fixtures.pipeline import run_worker_process
from tests.fixtures.workspace import csrf_from

BASE = "https://foerderung.example.org"
APPLICANT = "erika@bildungswerk-heide.example"


def mails_to(smtp, address: str) -> list:
    return [m for m in smtp.messages if str(m["To"]) == address]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def kind_of(message) -> str:
    db.session.expire_all()
    return db.session.scalar(
        select(Notification.kind).filter_by(message_id=str(message["Message-ID"]))
    )


def link_in(message, pattern: str) -> str:
    match = re.search(re.escape(BASE) + pattern, text_of(message))
    assert match, text_of(message)
    return match.group(0).removeprefix(BASE)


def confirm_and_post(client, path: str, data: dict, expect_in_preview: list[str]):
    """Open a transition's confirmation page, check its email preview, then POST it."""
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Diese E-Mails werden gesendet" in html
    for address in expect_in_preview:
        assert address in html
    return client.post(path, data={**data, "csrf_token": csrf_from(html)})


@pytest.mark.slow
def test_whole_life_of_a_case(app, client, smtp, pipeline_env, make_user, client_for):
    staff_user = make_user("staff", email="sachbearbeitung@example.org", name="Sam Staff")
    reviewer_user = make_user("reviewer", email="gutachter@example.org", name="Rita Review")

    # 1. the applicant submits through the form, in English
    response, reference, _token = submit_via_form(client, language="en")
    assert response.status_code == 200 and reference
    run_worker_process(pipeline_env)
    smtp.wait_for(3)
    application = db.session.scalar(select(Application).filter_by(reference=reference))
    assert {kind_of(m) for m in mails_to(smtp, APPLICANT)} == {"receipt", "eligibility_result"}

    # 2. the staff email links to the case
    staff_mail = mails_to(smtp, "staff@example.org")
    assert [kind_of(m) for m in staff_mail] == ["staff_new"]
    case_path = link_in(staff_mail[0], rf"/staff/cases/{application.id}\b")
    staff = client_for(staff_user)
    case_page = staff.get(case_path)
    assert case_page.status_code == 200 and reference in case_page.get_data(as_text=True)

    # 3. staff ask a reviewer; the reviewer's email links to the review page
    html = case_page.get_data(as_text=True)
    staff.post(
        f"{case_path}/review-requests",
        data={"reviewers": [reviewer_user.id], "csrf_token": csrf_from(html)},
    )
    run_worker_process(pipeline_env)
    smtp.wait_for(4)
    review_mail = mails_to(smtp, "gutachter@example.org")
    assert [kind_of(m) for m in review_mail] == ["review_request"]
    review_path = link_in(review_mail[0], rf"/review/cases/{application.id}")

    # 4. marking it reviewed without a review: the page says why up front and offers no
    # button; a POST all the same is refused
    page = staff.get(f"{case_path}/action/mark_reviewed")
    assert page.status_code == 409
    assert "mindestens ein Gutachten" in page.get_data(as_text=True)
    assert "bestätigen</button>" not in page.get_data(as_text=True)
    refused = staff.post(
        f"{case_path}/action/mark_reviewed",
        data={"csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert refused.status_code == 409
    assert "mindestens ein Gutachten" in refused.get_data(as_text=True)

    # 5. the reviewer reviews
    reviewer = client_for(reviewer_user)
    page = reviewer.get(review_path)
    assert page.status_code == 200
    posted = reviewer.post(
        review_path,
        data={
            "recommendation": "approve",
            "score_regional": "5",
            "score_strategy": "4",
            "score_feasibility": "4",
            "score_sustainability": "3",
            "comment": "Überzeugend.",
            "no_conflict": "y",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert posted.status_code == 302

    # 6. staff mark it reviewed (the preview names the applicant), the applicant hears of it
    done = confirm_and_post(staff, f"{case_path}/action/mark_reviewed", {}, [APPLICANT])
    assert done.status_code == 302
    run_worker_process(pipeline_env)
    smtp.wait_for(5)
    assert [kind_of(m) for m in mails_to(smtp, APPLICANT)][-1] == "reviewed"

    # 7. funding above the funding rate is refused, within it the case is funded
    over = confirm_and_post(
        staff, f"{case_path}/action/fund", {"granted_amount": "70.000,01"}, [APPLICANT]
    )
    assert over.status_code == 422
    db.session.expire_all()
    assert db.session.get(Application, application.id).state == "reviewed"
    funded = confirm_and_post(
        staff, f"{case_path}/action/fund", {"granted_amount": "65.000,00"}, [APPLICANT]
    )
    assert funded.status_code == 302
    run_worker_process(pipeline_env)
    smtp.wait_for(6)
    applicant_mails = mails_to(smtp, APPLICANT)
    assert sorted(kind_of(m) for m in applicant_mails) == sorted(
        ["receipt", "eligibility_result", "reviewed", "funded"]
    )
    funded_mail = next(m for m in applicant_mails if kind_of(m) == "funded")
    assert "€65,000.00" in text_of(funded_mail)  # English formats for an English applicant
    db.session.expire_all()
    languages = db.session.scalars(
        select(Notification.language).filter_by(recipient=APPLICANT)
    ).all()
    assert languages and set(languages) == {"en"}
    for mail in applicant_mails:  # every step's email is English, subject and text
        assert not re.search(r"\b(Ihr|Antrag|Sehr|Guten)\b", str(mail["Subject"]) + text_of(mail))
    assert "Dear" in text_of(funded_mail) or "Hello" in text_of(funded_mail)

    application = db.session.get(Application, application.id)
    assert application.state == "funded" and application.granted_amount == 6_500_000
    assert db.session.get(FundingRound, application.round_id).committed_cents == 6_500_000
    steps = [
        (e.from_state, e.to_state)
        for e in db.session.scalars(
            select(Event).filter_by(application_id=application.id, kind="transition")
        )
    ]
    assert steps == [(None, "submitted"), ("submitted", "reviewed"), ("reviewed", "funded")]
    timeline = staff.get(case_path).get_data(as_text=True)
    assert "Sam Staff" in timeline and "Rita Review" in timeline and "gesendet" in timeline


# --- illegal transitions -------------------------------------------------------------------


@pytest.fixture
def staff(staff_user, client_for):
    return client_for(staff_user)


def snapshot(application_id: int) -> tuple:
    db.session.expire_all()
    a = db.session.get(Application, application_id)
    events = db.session.scalar(
        select(db.func.count(Event.id)).filter_by(application_id=application_id)
    )
    mails = db.session.scalar(
        select(db.func.count(Notification.id)).filter_by(application_id=application_id)
    )
    committed = db.session.get(FundingRound, a.round_id).committed_cents
    return a.state, a.granted_amount, events, mails, committed


def post_transition(client, application, action, data):
    path = f"/staff/cases/{application.id}/action/{action}"
    token = csrf_from(client.get(f"/staff/cases/{application.id}").get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=True)


def reviewed_case(staff_user, reviewer_user, **overrides) -> Application:
    return create_reviewed_application(staff_user, reviewer_user, **overrides)


def test_funded_cannot_be_rejected(app, staff, staff_user, reviewer_user):
    application = reviewed_case(staff_user, reviewer_user)
    workflow.apply_transition(application, "fund", user=staff_user, granted_amount=5_000_000)
    db.session.commit()
    before = snapshot(application.id)
    response = post_transition(staff, application, "reject", {"reason": "Doch nicht."})
    assert response.status_code == 409
    assert "im aktuellen Status nicht möglich" in response.get_data(as_text=True)
    assert snapshot(application.id) == before
    with pytest.raises(workflow.TransitionError):
        workflow.apply_transition(application, "reject", user=staff_user, reason="x")
    db.session.rollback()
    assert snapshot(application.id) == before


def test_reviewed_needs_a_review(app, staff, staff_user, reviewer_user, post_form):
    application, _ = create_application()
    # a conflict-of-interest declaration is not a review
    db.session.add(
        Review(
            application_id=application.id, reviewer_id=reviewer_user.id, conflict_of_interest=True
        )
    )
    db.session.commit()
    before = snapshot(application.id)
    response = post_transition(staff, application, "mark_reviewed", {})
    assert response.status_code == 409  # refused before any form is read
    assert "mindestens ein Gutachten" in response.get_data(as_text=True)
    assert snapshot(application.id) == before


def test_funding_above_rate_request_or_budget_is_refused(app, staff, staff_user, reviewer_user):
    application = reviewed_case(
        staff_user,
        reviewer_user,
        personnel_costs=8_000_000,
        other_costs=2_000_000,
        own_funds=500_000,
        third_party_funds=0,
        requested_grant=9_500_000,
    )
    before = snapshot(application.id)
    for amount, message in (
        ("75.000", "Förderquote"),
        ("96.000", "beantragten Zuschuss"),
        ("0", "größer als 0"),
        ("abc", "Betrag in Euro"),
        ("", "bewilligten Betrag an"),
    ):
        response = post_transition(staff, application, "fund", {"granted_amount": amount})
        assert response.status_code == 422, amount
        assert message in response.get_data(as_text=True), amount
        assert snapshot(application.id) == before
    # the budget: a round with 10.000 € left refuses a 70.000 € grant and says what is left
    rnd = db.session.get(FundingRound, application.round_id)
    rnd.committed_cents = rnd.budget_cents - 1_000_000
    db.session.commit()
    before = snapshot(application.id)
    response = post_transition(staff, application, "fund", {"granted_amount": "70.000"})
    assert response.status_code == 422
    assert "nur noch 10.000,00" in response.get_data(as_text=True)
    assert snapshot(application.id) == before


def test_reject_needs_a_reason(app, staff):
    application, _ = create_application()
    before = snapshot(application.id)
    response = post_transition(staff, application, "reject", {"reason": "   "})
    assert response.status_code == 422
    assert "Bitte geben Sie einen Grund an." in response.get_data(as_text=True)
    assert snapshot(application.id) == before
    response = post_transition(staff, application, "reject", {"reason": "Nicht förderfähig."})
    assert response.status_code == 200
    assert snapshot(application.id)[0] == "rejected"


def test_reviewer_posting_a_transition_changes_nothing(app, reviewer_user, client_for):
    application, _ = create_application()
    before = snapshot(application.id)
    reviewer = client_for(reviewer_user)
    token = csrf_from(reviewer.get(f"/review/cases/{application.id}").get_data(as_text=True))
    response = reviewer.post(
        f"/staff/cases/{application.id}/action/reject",
        data={"reason": "Ich darf das nicht.", "csrf_token": token},
    )
    assert response.status_code == 403
    assert snapshot(application.id) == before


def test_double_submit_of_fund_commits_once(app, staff, staff_user, reviewer_user):
    application = reviewed_case(staff_user, reviewer_user)
    html = staff.get(f"/staff/cases/{application.id}/action/fund").get_data(as_text=True)
    data = {"granted_amount": "50.000", "csrf_token": csrf_from(html)}
    first = staff.post(f"/staff/cases/{application.id}/action/fund", data=data)
    second = staff.post(f"/staff/cases/{application.id}/action/fund", data=data)
    assert first.status_code == 302 and second.status_code == 409
    state, granted, _events, _mails, committed = snapshot(application.id)
    assert (state, granted, committed) == ("funded", 5_000_000, 5_000_000)


@pytest.mark.parametrize("typed", ["   ", "", "zwölf", "-5", "99.999.999,00"])
def test_granted_amount_typos_get_a_message(app, staff, staff_user, reviewer_user, typed):
    application = reviewed_case(staff_user, reviewer_user)
    before = snapshot(application.id)
    response = post_transition(staff, application, "fund", {"granted_amount": typed})
    assert response.status_code == 422
    assert 'id="granted_amount-error"' in response.get_data(as_text=True)
    assert snapshot(application.id) == before
