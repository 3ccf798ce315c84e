"""Signed email action links: confirmation page, POST, single use, expiry, tampering."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app import clock
from app.cases import actionlinks, inbox, workflow
from app.extensions import db
from app.models import REJECTED, REVIEWED, SUBMITTED, Application, Event, UsedActionLink, User
from tests.factories import add_review, create_application
from tests.fixtures.auth import csrf_token, login

USED = "Dieser Link wurde bereits verwendet."
EXPIRED = "Dieser Link ist abgelaufen"
INVALID = "Dieser Link ist ungültig."


@pytest.fixture
def case(app) -> Application:
    application, _token = create_application()
    return application


@pytest.fixture
def reviewed_once(case, make_user) -> Application:
    """The case with one recorded review, so it may be marked reviewed."""
    reviewer = make_user("reviewer", email="gutachter@example.org")
    add_review(case, reviewer, comment="Überzeugend.")
    db.session.commit()
    return case


def path_of(case_id: int, action: str, user: User) -> str:
    """The path of a link emailed to ``user``."""
    return urlsplit(actionlinks.action_url(case_id, action, user.id)).path


def state_of(application: Application) -> str:
    db.session.expire_all()
    return db.session.get(Application, application.id).state


def used_count() -> int:
    return db.session.scalar(select(func.count()).select_from(UsedActionLink))


def confirm(client, path: str, **data):
    """POST the confirmation form shown at ``path``."""
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


# --- building ---------------------------------------------------------------------------


def test_build_action_links_uses_base_url_not_the_request(app, case, staff_user, reviewer_user):
    with app.test_request_context("/", base_url="https://evil.example"):
        links = inbox.links_for(case, staff_user.id, inbox.LINK_ORDER)
    # only the steps possible now: no review yet, so no "mark reviewed" and no "fund"
    assert set(links) == {"operations", "case", "request_reviews", "reject"}
    assert links.pop("case") == f"https://foerderung.example.org/staff/cases/{case.id}"
    assert links.pop("operations") == "https://foerderung.example.org/staff/operations"
    for action, url in links.items():
        assert url.startswith("https://foerderung.example.org/action/" + action + "/")
    # also without any request (as in the worker)
    again = inbox.links_for(case, staff_user.id, inbox.LINK_ORDER)
    assert again["reject"].startswith(app.config["BASE_URL"])
    # every link has its own nonce and is bound to its recipient
    first = actionlinks.read_token("reject", links["reject"].rsplit("/", 1)[1])
    second = actionlinks.read_token("reject", again["reject"].rsplit("/", 1)[1])
    assert first.nonce != second.nonce
    assert first.case_id == case.id and first.user_id == staff_user.id
    # a shared inbox (no person) gets no action links at all
    assert set(inbox.links_for(case, None, inbox.LINK_ORDER)) == {"operations", "case"}


# --- the happy paths --------------------------------------------------------------------


def test_mark_reviewed_link_confirms_then_applies(client, reviewed_once, staff_user, logged_in):
    case = reviewed_once
    logged_in(staff_user)
    path = path_of(case.id, "mark_reviewed", staff_user)

    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert case.reference in text
    assert "als begutachtet markiert" in text
    assert case.contact_email in text  # the email it will send, to whom
    assert state_of(case) == SUBMITTED  # a GET changes nothing

    response = confirm(client, path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/cases/{case.id}"
    assert state_of(case) == REVIEWED
    event = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
    assert (event.from_state, event.to_state, event.actor_id) == (
        SUBMITTED,
        REVIEWED,
        staff_user.id,
    )
    assert used_count() == 1


def test_reject_link_needs_a_reason(client, case, staff_user, logged_in):
    logged_in(staff_user)
    path = path_of(case.id, "reject", staff_user)
    assert "Begründung" in client.get(path).get_data(as_text=True)

    response = confirm(client, path, reason="   ")
    assert response.status_code == 400
    assert "Bitte geben Sie einen Grund an." in response.get_data(as_text=True)
    assert state_of(case) == SUBMITTED
    assert used_count() == 0

    response = confirm(client, path, reason="Kein regionaler Bezug erkennbar.")
    assert response.status_code == 302
    assert state_of(case) == REJECTED
    event = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
    assert event.comment == "Kein regionaler Bezug erkennbar."


def test_post_without_csrf_token_changes_nothing(client, reviewed_once, staff_user, logged_in):
    logged_in(staff_user)
    response = client.post(path_of(reviewed_once.id, "mark_reviewed", staff_user))
    assert response.status_code == 400
    assert state_of(reviewed_once) == SUBMITTED
    assert used_count() == 0


def test_open_link_redirects_to_the_case(client, case, staff_user, reviewer_user):
    path = path_of(case.id, "open", staff_user)
    login(client, staff_user.email)
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/cases/{case.id}"
    # opening is not a change: the link keeps working
    assert client.get(path).status_code == 302
    # a reviewer lands on the reviewers' page of the case
    other = client.application.test_client()
    login(other, reviewer_user.email)
    assert other.get(path).headers["Location"] == f"/review/cases/{case.id}"


def test_anonymous_logs_in_first_and_comes_back(client, reviewed_once, staff_user):
    path = path_of(reviewed_once.id, "mark_reviewed", staff_user)
    response = client.get(path)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url.startswith("/login?next=")
    assert client.post(path).status_code in (302, 400)  # no anonymous POST gets through
    assert state_of(reviewed_once) == SUBMITTED

    response = login(client, staff_user.email, next_url=path)
    assert response.headers["Location"] == path
    page = client.get(path)
    assert page.status_code == 200
    assert reviewed_once.reference in page.get_data(as_text=True)


# --- refusals ---------------------------------------------------------------------------


def test_replayed_link_is_refused(client, reviewed_once, staff_user, logged_in):
    case = reviewed_once
    logged_in(staff_user)
    path = path_of(case.id, "mark_reviewed", staff_user)
    token_page_form = csrf_token(client, path)
    assert client.post(path, data={"csrf_token": token_page_form}).status_code == 302

    # Reopen the case, so the transition itself would be possible again: only the used
    # nonce stops the replay.
    workflow.apply_transition(
        db.session.get(Application, case.id), "reopen", user=staff_user, reason="Nachfrage"
    )
    db.session.commit()
    assert state_of(case) == SUBMITTED

    page = client.get(path)
    assert page.status_code == 410
    assert USED in page.get_data(as_text=True)
    response = client.post(path, data={"csrf_token": token_page_form})
    assert response.status_code == 410
    assert USED in response.get_data(as_text=True)
    assert state_of(case) == SUBMITTED
    assert used_count() == 1


def test_expired_link_leads_to_the_case_after_login(client, reviewed_once, staff_user, monkeypatch):
    path = path_of(reviewed_once.id, "mark_reviewed", staff_user)
    later = clock.now() + dt.timedelta(days=14, minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    # not logged in: the login page first, then back to the link, which leads to the case
    assert client.get(path).headers["Location"].startswith("/login?next=")
    assert login(client, staff_user.email, next_url=path).headers["Location"] == path
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/cases/{reviewed_once.id}"
    page = client.get(response.headers["Location"])
    text = page.get_data(as_text=True)
    assert EXPIRED in text and "14 Tage" in text
    assert reviewed_once.reference in text
    # a POST of an expired link changes nothing either
    form_token = csrf_token(client, "/gibt-es-nicht")
    assert client.post(path, data={"csrf_token": form_token}).status_code == 302
    assert state_of(reviewed_once) == SUBMITTED
    assert used_count() == 0


def test_link_lifetime_is_a_setting(client, reviewed_once, staff_user, logged_in, monkeypatch):
    client.application.config["ACTION_LINK_MAX_AGE_DAYS"] = 2
    logged_in(staff_user)
    path = path_of(reviewed_once.id, "mark_reviewed", staff_user)
    later = clock.now() + dt.timedelta(days=2, minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(path).status_code == 302


def test_link_is_valid_for_almost_fourteen_days(
    client, reviewed_once, staff_user, logged_in, monkeypatch
):
    logged_in(staff_user)
    path = path_of(reviewed_once.id, "mark_reviewed", staff_user)
    later = clock.now() + dt.timedelta(days=13, hours=23)
    monkeypatch.setattr(clock, "now", lambda: later)
    logged_in(staff_user)  # on the day the link is opened
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("where", ["payload", "signature", "truncated"])
def test_tampered_link_is_refused(client, reviewed_once, staff_user, logged_in, where):
    logged_in(staff_user)
    path = path_of(reviewed_once.id, "mark_reviewed", staff_user)
    prefix, token = path.rsplit("/", 1)
    if where == "payload":
        # a genuine token for another case, with this token's signature
        other = actionlinks.make_token(reviewed_once.id + 1, "mark_reviewed", staff_user.id)
        token = other.split(".")[0] + "." + ".".join(token.split(".")[1:])
    elif where == "signature":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    else:
        token = token[:-10]
    tampered = f"{prefix}/{token}"
    page = client.get(tampered)
    assert page.status_code == 400
    assert INVALID in page.get_data(as_text=True)
    response = client.post(tampered, data={"csrf_token": csrf_token(client, "/gibt-es-nicht")})
    assert response.status_code == 400
    assert state_of(reviewed_once) == SUBMITTED
    assert used_count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"case": 0, "action": "mark_reviewed", "nonce": "n"},  # before links named a person
        {"case": 0, "action": "mark_reviewed", "nonce": "n", "user": True},
        {"case": 0, "action": "mark_reviewed", "nonce": "", "user": 0},
        {"case": 0, "action": "mark_reviewed", "nonce": "n" * 65, "user": 0},
        ["not", "a", "link"],
    ],
    ids=["no-person", "person-not-an-id", "no-nonce", "nonce-too-long", "not-a-mapping"],
)
def test_a_genuinely_signed_link_of_another_shape_is_refused(
    client, reviewed_once, staff_user, logged_in, payload
):
    """Signed with the real key (as links of older versions were), but not a link of today's
    shape: in particular one made before links were bound to the person they were sent to."""
    logged_in(staff_user)
    if isinstance(payload, dict):
        payload = {**payload, "case": reviewed_once.id}
        if payload.get("user") == 0:
            payload["user"] = staff_user.id
    token = actionlinks._serializer("mark_reviewed").dumps(payload)
    page = client.get(f"/action/mark_reviewed/{token}")
    assert page.status_code == 400
    assert INVALID in page.get_data(as_text=True)
    response = client.post(
        f"/action/mark_reviewed/{token}", data={"csrf_token": csrf_token(client, "/gibt-es-nicht")}
    )
    assert response.status_code == 400
    assert state_of(reviewed_once) == SUBMITTED
    assert used_count() == 0


def test_token_for_another_purpose_is_refused(client, case, staff_user, logged_in):
    logged_in(staff_user)
    reject_token = actionlinks.make_token(case.id, "reject", staff_user.id)
    page = client.get(f"/action/mark_reviewed/{reject_token}")
    assert page.status_code == 400
    assert INVALID in page.get_data(as_text=True)
    open_token = actionlinks.make_token(case.id, "open", staff_user.id)
    assert client.get(f"/action/reject/{open_token}").status_code == 400
    assert client.get(f"/action/unbekannt/{open_token}").status_code == 404
    assert state_of(case) == SUBMITTED


def test_reviewer_may_not_use_transition_links(
    client, reviewed_once, reviewer_user, staff_user, logged_in
):
    logged_in(reviewer_user)
    for action in ("mark_reviewed", "reject"):
        path = path_of(reviewed_once.id, action, staff_user)
        assert client.get(path).status_code == 403
        token = csrf_token(client, "/gibt-es-nicht")
        assert client.post(path, data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert state_of(reviewed_once) == SUBMITTED
    assert used_count() == 0


def test_refused_transition_keeps_the_link_usable(client, case, staff_user, logged_in, make_user):
    """Marking reviewed without a review is refused; the link is not spent by that."""
    logged_in(staff_user)
    path = path_of(case.id, "mark_reviewed", staff_user)
    response = confirm(client, path)
    assert response.status_code == 409
    assert state_of(case) == SUBMITTED
    assert used_count() == 0


def test_link_for_a_final_case_shows_that_nothing_is_possible(client, case, staff_user, logged_in):
    workflow.apply_transition(case, "reject", user=staff_user, reason="Nicht förderfähig")
    db.session.commit()
    logged_in(staff_user)
    path = path_of(case.id, "mark_reviewed", staff_user)
    page = client.get(path)
    assert page.status_code == 409
    assert "nicht möglich" in page.get_data(as_text=True)
    assert confirm(client, path).status_code == 409
    assert state_of(case) == REJECTED
    assert used_count() == 0


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_links_in_emails_sent_before_the_url_change_still_work(app, client, case, make_user):
    """Old German paths answer with a 308 to the new place, keeping the token and the method."""
    team = make_user("staff", email="team@example.org")
    login(client, "team@example.org")
    new_path = path_of(case.id, "reject", team)
    old_path = new_path.replace("/action/", "/aktion/", 1)
    moved = client.get(old_path)
    assert moved.status_code == 308
    assert urlsplit(moved.headers["Location"]).path == new_path
    page = client.get(old_path, follow_redirects=True)
    assert page.status_code == 200
    assert case.reference in page.get_data(as_text=True)
    for old, new in (
        ("/staff/betrieb", "/staff/operations"),
        (f"/staff/cases/{case.id}/aktion/reject", f"/staff/cases/{case.id}/action/reject"),
        (f"/staff/cases/{case.id}/anhang", f"/staff/cases/{case.id}/attachment"),
    ):
        response = client.get(old)
        assert response.status_code == 308, old
        assert urlsplit(response.headers["Location"]).path == new
