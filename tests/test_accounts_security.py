"""issue 7, point 9: two-factor login, recovery codes, password reset by email, and the
audited account administration."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from sqlalchemy import select

from app import accounts, clock
from app.accounts import passwordreset, twofactor
from app.extensions import db
from app.mail import delivery
from app.models import AccountEvent, Notification, User
from config import ProductionConfig
from tests.fixtures.auth import PASSWORD, csrf_token, enable_two_factor, login
from tests.fixtures.pipeline import drain
from tests.test_config import OPERATOR_VALUES


def _password_step(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def _code_step(client, code: str):
    token = csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token})


# --- two-factor login ----------------------------------------------------------------------


def test_totp_is_required_by_default_in_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    for name, value in OPERATOR_VALUES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TOTP_REQUIRED", raising=False)
    assert ProductionConfig().TOTP_REQUIRED is True


def test_password_alone_does_not_log_in_a_user_with_two_factor(app, client, staff_user):
    enable_two_factor(staff_user)
    response = _password_step(client, staff_user.email)
    assert response.headers["Location"] == "/login/code"
    assert client.get("/staff/cases").status_code == 302  # not logged in yet
    assert _code_step(client, "000000").status_code == 200
    assert client.get("/staff/cases").status_code == 302
    code = pyotp.TOTP(db.session.get(User, staff_user.id).totp_secret).now()
    assert _code_step(client, code).headers["Location"] == "/staff/cases"
    assert client.get("/staff/cases").status_code == 200


def test_a_totp_code_works_once(app, client, staff_user):
    enable_two_factor(staff_user)
    code = pyotp.TOTP(staff_user.totp_secret).now()
    _password_step(client, staff_user.email)
    assert _code_step(client, code).status_code == 302
    other = app.test_client()
    _password_step(other, staff_user.email)
    replay = _code_step(other, code)
    assert replay.status_code == 200
    assert "Der Code stimmt nicht" in replay.get_data(as_text=True)


def test_recovery_code_replaces_the_app_once(app, client, staff_user):
    secret = twofactor.new_secret()
    codes = twofactor.enable(staff_user, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.scalars(select(User).where(User.id == staff_user.id)).one()
    assert stored.totp_secret == secret
    _password_step(client, staff_user.email)
    assert _code_step(client, codes[0].upper()).status_code == 302
    other = app.test_client()
    _password_step(other, staff_user.email)
    assert _code_step(other, codes[0]).status_code == 200  # used up
    kinds = db.session.scalars(select(AccountEvent.kind)).all()
    assert "recovery_code_used" in kinds


def test_recovery_codes_are_stored_hashed(app, staff_user):
    secret = twofactor.new_secret()
    codes = twofactor.enable(staff_user, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    from app.models import RecoveryCode

    hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)


def test_staff_without_two_factor_must_set_it_up_where_required(app, client, staff_user):
    app.config["TOTP_REQUIRED"] = True
    assert login(client, staff_user.email).status_code == 302
    response = client.get("/staff/cases")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/two-factor"
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    token = csrf_token(client, "/account/two-factor")
    # the page made a new secret for that GET; read the one it shows now
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    done = client.post(
        "/account/two-factor", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token}
    )
    assert done.status_code == 200
    assert (
        len(re.findall(r"<code>[a-z2-9]{5}-[a-z2-9]{5}</code>", done.get_data(as_text=True))) == 10
    )
    assert client.get("/staff/cases").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, staff_user.id).totp_secret == secret


def test_reviewers_may_log_in_without_two_factor(app, client, reviewer_user):
    app.config["TOTP_REQUIRED"] = True
    login(client, reviewer_user.email)
    assert client.get("/review/").status_code == 200


# --- password reset by email ----------------------------------------------------------------


def _request_reset(client, email):
    token = csrf_token(client, "/password/forgot")
    return client.post("/password/forgot", data={"email": email, "csrf_token": token})


def _reset_link(smtp) -> str:
    (message,) = smtp.wait_for(1)
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"https://foerderung\.example\.org(/password/reset/\S+)", text).group(1)
    return link


def test_password_reset_by_email_once(app, client, smtp, staff_user, fast_pipeline):
    response = _request_reset(client, staff_user.email)
    assert response.status_code == 303
    (note,) = db.session.scalars(select(Notification)).all()
    assert note.kind == "password_reset" and note.recipient == staff_user.email
    assert "/password/reset/TOKEN-ENTFERNT" in note.body_text  # no usable link in the log
    drain(app)
    link = _reset_link(smtp)
    assert "TOKEN-ENTFERNT" not in link
    page = client.get(link)
    assert page.status_code == 200
    data = {
        "password": "ein-neues-langes-passwort",
        "confirm": "ein-neues-langes-passwort",
        "csrf_token": csrf_token(client, link),
    }
    assert client.post(link, data=data).status_code == 303
    assert (
        login(app.test_client(), staff_user.email, "ein-neues-langes-passwort").status_code == 302
    )
    assert login(app.test_client(), staff_user.email).status_code == 200  # old one is gone
    assert client.get(link).status_code == 410  # single use
    kinds = db.session.scalars(select(AccountEvent.kind).order_by(AccountEvent.id)).all()
    assert kinds == ["password_reset_requested", "password_reset"]


def test_reset_link_expires_after_30_minutes(app, client, staff_user, monkeypatch):
    token = passwordreset.make_token(staff_user)
    assert app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] == 1800
    assert client.get(f"/password/reset/{token}").status_code == 200
    later = clock.now() + dt.timedelta(minutes=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(f"/password/reset/{token}").status_code == 410


def test_unknown_address_gets_the_same_answer_and_no_email(app, client):
    response = _request_reset(client, "niemand@example.org")
    assert response.status_code == 303
    assert "Wenn zu dieser Adresse ein Konto besteht" in client.get("/login").get_data(as_text=True)
    assert db.session.scalars(select(Notification)).all() == []


def test_forged_reset_link_is_refused(client, staff_user):
    assert client.get("/password/reset/abc.def").status_code == 410


# --- account administration -----------------------------------------------------------------


@pytest.fixture
def admin(admin_user, client_for):
    return client_for(admin_user)


def test_admin_creates_an_account_and_the_owner_gets_a_link(app, admin, admin_user, smtp):
    token = csrf_token(admin, "/admin/users")
    data = {"email": "neu@example.org", "name": "Neue Person", "role": "reviewer"}
    response = admin.post("/admin/users", data={**data, "csrf_token": token})
    assert response.status_code == 303
    user = accounts.find_user("neu@example.org")
    assert user.role == "reviewer" and user.active
    notes = db.session.scalars(select(Notification)).all()
    assert [(n.kind, n.recipient) for n in notes] == [("password_reset", "neu@example.org")]
    event = db.session.scalar(select(AccountEvent).filter_by(kind="created"))
    assert event.actor_id == admin_user.id and event.user_id == user.id
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "neu@example.org" in page and "Konto angelegt" in page


def test_admin_changes_role_and_deactivates_audited(app, admin, admin_user, make_user, client_for):
    target = make_user("reviewer", email="ziel@example.org")
    other = client_for(target)
    assert other.get("/review/").status_code == 200
    token = csrf_token(admin, "/admin/users")
    response = admin.post(
        f"/admin/users/{target.id}/role", data={"role": "staff", "csrf_token": token}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, target.id).role == "staff"
    assert other.get("/review/").status_code == 302  # the old session ended with the role
    admin.post(f"/admin/users/{target.id}/deactivate", data={"csrf_token": token})
    db.session.expire_all()
    assert not db.session.get(User, target.id).active
    assert login(app.test_client(), target.email).status_code == 200  # refused
    events = db.session.scalars(select(AccountEvent).order_by(AccountEvent.id)).all()
    assert [(e.kind, e.actor_id, e.detail) for e in events] == [
        ("role_changed", admin_user.id, "reviewer → staff"),
        ("deactivated", admin_user.id, None),
    ]


def test_admin_cannot_change_their_own_account(app, admin, admin_user):
    token = csrf_token(admin, "/admin/users")
    admin.post(f"/admin/users/{admin_user.id}/deactivate", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, admin_user.id).active


def test_admin_resets_a_lost_second_factor(app, admin, make_user):
    target = make_user("staff", email="verloren@example.org")
    enable_two_factor(target)
    token = csrf_token(admin, "/admin/users")
    admin.post(f"/admin/users/{target.id}/reset-two-factor", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, target.id).totp_secret is None


@pytest.mark.parametrize("role", ["staff", "reviewer"])
def test_only_admins_reach_the_account_page(app, make_user, client_for, role):
    client = client_for(make_user(role))
    assert client.get("/admin/users").status_code == 403


def test_personal_links_are_registered():
    assert {"status", "password_reset"} <= set(delivery._personal_links)
