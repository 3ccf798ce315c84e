"""Every staff, review, admin and own-account route, GET and POST, as anonymous, applicant
reviewer, staff, admin and deactivated user: redirect to login, 403 or an answer.

POSTs carry a valid CSRF token of the client's session, so what is tested is the role check,
not the CSRF check. Form data is deliberately incomplete where a valid form would change the
case, so the same case serves every request of the matrix.
"""

from __future__ import annotations

import pytest

from app import accounts
from app.cases import messages, workflow
from app.extensions import db
from app.models import EventAttachment, StoredFile
from tests.factories import create_application
from tests.fixtures.auth import PASSWORD, login
from tests.fixtures.workspace import add_check, csrf_from

ROLES = ("anonymous", "applicant", "reviewer", "staff", "admin", "deactivated")
LOGIN, FORBIDDEN, OK = "login", "403", "ok"


def routes(
    case_id: int, result_id: int, other_id: int, user_id: int = 1, attachment_id: int = 0
) -> list[tuple[str, str, dict, str]]:
    """(method, url, form data, area); area "staff" = staff/admin, "review" = +reviewers,
    "other" = a case the reviewer has no business with, "admin" = admins only, "account" =
    every logged-in user (their own account)."""
    u = f"/admin/users/{user_id}"
    c, o = f"/staff/cases/{case_id}", f"/staff/cases/{other_id}"
    r, ro = f"/review/cases/{case_id}", f"/review/cases/{other_id}"
    return [
        ("GET", "/staff/", {}, "staff"),
        ("GET", "/staff/cases", {}, "staff"),
        ("GET", "/staff/cases?state=submitted&sort=amount", {}, "staff"),
        ("GET", "/staff/cases/export.csv", {}, "staff"),
        ("GET", "/staff/cases/export.xlsx", {}, "staff"),
        ("GET", "/staff/budget", {}, "staff"),
        ("GET", "/staff/operations", {}, "staff"),
        ("POST", "/staff/operations/emails/999999/resend", {}, "staff"),
        ("GET", c, {}, "staff"),
        ("GET", o, {}, "staff"),
        ("GET", f"{c}/action/reject", {}, "staff"),
        ("GET", f"{c}/action/mark_reviewed", {}, "staff"),
        ("POST", f"{c}/action/reject", {"reason": ""}, "staff"),
        ("POST", f"{c}/action/mark_reviewed", {}, "staff"),
        ("POST", f"{o}/action/fund", {"granted_amount": "1"}, "staff"),
        ("POST", f"{c}/results/{result_id}/override", {"outcome": "pass", "comment": ""}, "staff"),
        ("POST", f"{c}/review-requests", {}, "staff"),
        ("POST", f"{o}/check/rerun", {}, "staff"),
        ("POST", f"{c}/data-export", {}, "staff"),
        ("GET", f"{c}/erase", {}, "admin"),
        ("POST", f"{c}/erase", {"reason": "Löschantrag"}, "admin"),  # refused: the case is open
        ("GET", "/staff/notifications", {}, "staff"),
        ("POST", "/staff/notifications", {}, "staff"),
        ("GET", "/staff/notifications/defaults", {}, "admin"),
        ("POST", "/staff/notifications/defaults", {}, "admin"),
        ("POST", f"{c}/messages", {"body": ""}, "staff"),
        ("GET", f"{c}/message-attachments/{attachment_id}", {}, "staff"),
        ("GET", f"{c}/action/request_information", {}, "staff"),
        ("GET", "/staff/cases?overdue=1", {}, "staff"),
        ("GET", "/review/", {}, "review"),
        ("GET", r, {}, "review"),
        ("GET", f"{c}/attachment", {}, "review"),
        ("POST", r, {"recommendation": "approve"}, "review"),
        ("GET", ro, {}, "other"),
        ("GET", f"{o}/attachment", {}, "other"),
        ("POST", ro, {"recommendation": "approve"}, "other"),
        ("POST", f"{ro}/conflict", {}, "other"),
        ("GET", "/account/two-factor", {}, "account"),
        ("POST", "/account/two-factor", {"code": ""}, "account"),
        ("GET", "/admin/users", {}, "admin"),
        ("POST", "/admin/users", {"email": ""}, "admin"),
        ("POST", f"{u}/role", {"role": "staff"}, "admin"),
        ("POST", f"{u}/activate", {}, "admin"),
        ("POST", f"{u}/reset-two-factor", {}, "admin"),
        ("POST", f"{u}/deactivate", {}, "admin"),
        ("POST", f"{r}/conflict", {}, "review"),  # last: it records something
    ]


def expected(role: str, area: str) -> str:
    if role in ("anonymous", "applicant", "deactivated"):
        return LOGIN
    if area == "admin":
        return OK if role == "admin" else FORBIDDEN
    if role == "reviewer":
        return FORBIDDEN if area in ("staff", "other", "admin") else OK
    if role == "staff" and area == "admin":
        return FORBIDDEN
    return OK


def classify(response) -> str:
    if response.status_code in (301, 302, 303) and "/login" in response.headers["Location"]:
        return LOGIN
    if response.status_code == 403:
        return FORBIDDEN
    assert response.status_code in (200, 302, 303, 409, 422), response.status_code
    return OK


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, role, make_user, client_for):
    application, token = create_application()
    check = add_check(application, {"region": "pass", "rate": "fail"})
    result_id = check.results[0].id
    for case in (application,):
        db.session.add(
            StoredFile(name=f"case{case.id}.pdf", pending=False, size=11, data=b"%PDF-1.4\n%x\n")
        )
        case.attachment_name = f"case{case.id}.pdf"
    staff = make_user("staff", email="boss@example.org")
    # a PDF that came with a reply by email
    message = messages.post_from_applicant(application, "Anbei der Plan.")
    db.session.add(StoredFile(name="reply.pdf", pending=False, size=11, data=b"%PDF-1.4\n%z\n"))
    attachment = EventAttachment(
        event_id=message.id, name="reply.pdf", original_name="P.pdf", size=11
    )
    db.session.add(attachment)
    db.session.flush()
    # another case, already decided, that the reviewer was never involved in
    other, other_token = create_application(title="Fremder Antrag")
    db.session.add(StoredFile(name="other.pdf", pending=False, size=11, data=b"%PDF-1.4\n%y\n"))
    other.attachment_name = "other.pdf"
    workflow.apply_transition(other, "reject", user=staff, reason="Passt nicht.")
    db.session.commit()

    client = client_for(None)
    if role == "applicant":
        # the applicant's session: opened through the status link of the first case
        assert client.get(f"/status/{token}").status_code == 200
    elif role in ("reviewer", "staff", "admin"):
        client = client_for(make_user(role))
    elif role == "deactivated":
        user = make_user("staff", email="gone@example.org")
        assert login(client, user.email, PASSWORD).status_code == 302
        assert client.get("/staff/cases").status_code == 200
        accounts.deactivate(user)
        db.session.commit()
    token_value = csrf_from(client.get("/login", follow_redirects=True).get_data(as_text=True))

    outcomes = {}
    for method, url, data, area in routes(
        application.id, result_id, other.id, staff.id, attachment.id
    ):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={**data, "csrf_token": token_value})
        response.close()
        outcomes[(method, url)] = (classify(response), expected(role, area))
    wrong = {k: v for k, v in outcomes.items() if v[0] != v[1]}
    assert not wrong, wrong

    # nothing in the matrix changed either case's state
    db.session.expire_all()
    assert db.session.get(type(application), application.id).state == "submitted"
    assert db.session.get(type(other), other.id).state == "rejected"
    assert other_token != token


def test_reviewer_post_to_transition_is_refused(app, reviewer_user, client_for, staff_user):
    application, _ = create_application()
    reviewer = client_for(reviewer_user)
    token_value = csrf_from(reviewer.get("/review/").get_data(as_text=True))
    for action in ("mark_reviewed", "reject", "fund", "reopen"):
        response = reviewer.post(
            f"/staff/cases/{application.id}/action/{action}",
            data={"csrf_token": token_value, "reason": "x", "granted_amount": "1.000"},
        )
        assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(type(application), application.id).state == "submitted"
    # and the domain refuses a reviewer even if a view forgot the role check
    with pytest.raises(workflow.TransitionError):
        workflow.apply_transition(application, "reject", user=reviewer_user, reason="x")


def test_matrix_covers_every_staff_and_review_route(app):
    """A new route cannot slip past the matrix: every endpoint and method of the staff,
    review and inbox blueprints must be tried above (the email action link has its own
    tests: tests/test_actionlinks.py, tests/test_inbox.py)."""
    adapter = app.url_map.bind("localhost")
    tried = {
        (adapter.match(url.split("?")[0], method=method)[0], method)
        for method, url, _data, _area in routes(1, 1, 2)
    }
    existing = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if (
            rule.endpoint.split(".")[0] in ("staff", "review", "admin", "inbox")
            and rule.endpoint != "inbox.action_link"
        )
        or rule.endpoint == "auth.two_factor_setup"
        for method in rule.methods & {"GET", "POST"}
    }
    assert existing - tried == set()
