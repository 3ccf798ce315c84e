"""Login, logout, sessions, role checks, rate limits and error pages (issue 4, item 1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask, abort
from itsdangerous import TimestampSigner

import config
from app import accounts, create_app
from app.extensions import db
from app.models import User
from app.web.security import roles_required
from tests.fixtures.auth import PASSWORD, csrf_token, enable_two_factor, login

GENERIC_FAILURE = "E-Mail-Adresse oder Passwort ist falsch, oder das Konto ist gesperrt."


@pytest.fixture
def probe(app: Flask) -> Flask:
    """Test-only routes behind the role check and error pages (added before any request)."""

    @roles_required("staff", "admin")
    def staff_only():
        return "staff page"

    @roles_required("reviewer", "staff", "admin")
    def any_role():
        return "any role"

    def fail(code: int):
        abort(code)

    app.add_url_rule("/_probe/staff", "probe_staff", staff_only)
    app.add_url_rule("/_probe/any", "probe_any", any_role)
    app.add_url_rule("/_probe/error/<int:code>", "probe_error", fail, methods=["GET"])
    return app


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


# --- login ------------------------------------------------------------------------------


def test_login_success_goes_home_and_records_last_login(client, staff_user, reviewer_user):
    assert staff_user.last_login_at is None
    response = login(client, "STAFF@example.org ")  # case and blanks do not matter
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/cases"
    db.session.refresh(staff_user)
    assert staff_user.last_login_at is not None

    other = client.application.test_client()
    response = login(other, reviewer_user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/review/"


@pytest.mark.parametrize("case", ["unknown", "wrong", "inactive"])
def test_login_failure_has_one_generic_message(client, make_user, case):
    make_user("staff", email="known@example.org")
    make_user("staff", email="locked@example.org", active=False)
    email, password = {
        "unknown": ("nobody@example.org", PASSWORD),
        "wrong": ("known@example.org", "falsches-passwort-123"),
        "inactive": ("locked@example.org", PASSWORD),
    }[case]
    response = login(client, email, password)
    assert response.status_code == 200
    assert GENERIC_FAILURE in response.get_data(as_text=True)
    # still anonymous
    assert client.get("/staff/cases").status_code == 302


def test_login_form_requires_csrf_token(client, staff_user):
    response = client.post("/login", data={"email": staff_user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Das Formular ist abgelaufen" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/staff/cases?state=submitted", "/staff/cases?state=submitted"),
        ("https://evil.example/login", "/staff/cases"),
        ("//evil.example/x", "/staff/cases"),
        ("/\\evil.example", "/staff/cases"),
        ("http:/evil.example", "/staff/cases"),
        ("javascript:alert(1)", "/staff/cases"),
        ("staff/cases", "/staff/cases"),
    ],
)
def test_next_redirect_only_to_paths_on_this_site(client, staff_user, next_url, expected):
    response = login(client, staff_user.email, next_url=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_is_sent_to_login_and_back(client, probe, staff_user):
    response = client.get("/_probe/staff?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in page
    response = login(client, staff_user.email, next_url="/_probe/staff?x=1")
    assert response.headers["Location"] == "/_probe/staff?x=1"
    assert client.get("/_probe/staff?x=1").get_data(as_text=True) == "staff page"


def test_wrong_role_gets_403(client, probe, reviewer_user, logged_in):
    logged_in(reviewer_user)
    assert client.get("/_probe/any").status_code == 200
    response = client.get("/_probe/staff")
    assert response.status_code == 403
    assert "Kein Zugriff" in response.get_data(as_text=True)


def test_roles_required_rejects_unknown_roles():
    with pytest.raises(ValueError, match="roles_required"):
        roles_required("applicant")


# --- sessions ---------------------------------------------------------------------------


def test_session_is_renewed_at_login(client, staff_user):
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    before = session_cookie(client)
    assert before
    login(client, staff_user.email)
    after = session_cookie(client)
    assert after and after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == staff_user.get_id()
        assert sess.permanent


def test_logout_only_by_post(client, probe, staff_user, logged_in):
    logged_in(staff_user)
    response = client.get("/logout")
    assert response.status_code == 405
    assert "Diese Aktion ist so nicht möglich" in response.get_data(as_text=True)
    assert client.get("/_probe/staff").status_code == 200

    # without the CSRF token the POST is refused too
    assert client.post("/logout").status_code == 400
    assert client.get("/_probe/staff").status_code == 200

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/gibt-es-nicht")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Sie haben sich abgemeldet." in client.get("/login").get_data(as_text=True)
    assert client.get("/_probe/staff").status_code == 302


@pytest.mark.parametrize("two_factor", [False, True], ids=["password", "two-factor"])
def test_the_chosen_language_stays_across_login_and_logout(client, staff_user, two_factor):
    """The session is renewed at login and cleared at logout; the language chosen before
    (the switch on every page) is the one thing carried over."""
    if two_factor:
        enable_two_factor(staff_user)
    chosen = client.post("/sprache", data={"lang": "en", "csrf_token": csrf_token(client)})
    assert chosen.status_code in (302, 303)
    assert login(client, staff_user.email).status_code == 302
    assert ">Applications<" in client.get("/staff/cases").get_data(as_text=True)
    token = csrf_token(client, "/staff/cases")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    page = client.get("/login").get_data(as_text=True)
    assert "You have signed out." in page and 'lang="en"' in page


def test_session_ends_after_inactivity_but_slides_with_activity(
    client, probe, staff_user, logged_in, monkeypatch
):
    """The session cookie's signature is timestamped; Flask refuses it after the lifetime and
    re-signs it on every request (SESSION_REFRESH_EACH_REQUEST), so only idleness ends it."""
    lifetime = int(client.application.permanent_session_lifetime.total_seconds())
    start = int(TimestampSigner.get_timestamp(TimestampSigner("k")))
    offset = {"seconds": 0}
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: start + offset["seconds"])

    logged_in(staff_user)
    offset["seconds"] = int(lifetime * 0.8)
    assert client.get("/_probe/staff").status_code == 200
    offset["seconds"] = int(lifetime * 1.6)  # longer than the lifetime since login, but not idle
    assert client.get("/_probe/staff").status_code == 200
    offset["seconds"] = int(lifetime * 1.6) + lifetime + 5  # idle for longer than the lifetime
    response = client.get("/_probe/staff")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_cookie_copied_before_logout_no_longer_works(app, probe, staff_user, logged_in):
    """issue 7, point 2: logout ends the session on the server, not only in this browser."""
    client = logged_in(staff_user)
    stolen = session_cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/gibt-es-nicht")})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/_probe/staff")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_other_sessions_of_the_user_survive_a_logout(app, probe, staff_user, logged_in):
    laptop = logged_in(staff_user)
    phone = app.test_client()
    assert login(phone, staff_user.email).status_code == 302
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/gibt-es-nicht")})
    assert phone.get("/_probe/staff").status_code == 200


def test_session_has_an_absolute_lifetime(app, probe, staff_user, logged_in, monkeypatch):
    """issue 7, point 2: however active, a session ends SESSION_ABSOLUTE_HOURS after login."""
    from app import clock

    assert app.config["SESSION_ABSOLUTE_HOURS"] == 10
    client = logged_in(staff_user)
    started = clock.now()
    monkeypatch.setattr(clock, "now", lambda: started + dt.timedelta(hours=9, minutes=59))
    assert client.get("/_probe/staff").status_code == 200
    monkeypatch.setattr(clock, "now", lambda: started + dt.timedelta(hours=10, minutes=1))
    response = client.get("/_probe/staff")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("change", ["deactivate", "set_password"])
def test_open_session_ends_when_account_changes(client, probe, staff_user, logged_in, change):
    logged_in(staff_user)
    assert client.get("/_probe/staff").status_code == 200
    if change == "deactivate":
        accounts.deactivate(staff_user)
    else:
        accounts.set_password(staff_user, "ein-ganz-neues-passwort")
    db.session.commit()
    response = client.get("/_probe/staff")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_session_cookie_flags(client, staff_user):
    login(client, staff_user.email)
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert cookie.expires is not None  # permanent: ends after PERMANENT_SESSION_LIFETIME


# --- passwords --------------------------------------------------------------------------


def test_password_is_stored_as_argon2_hash(staff_user):
    stored = db.session.get(User, staff_user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_production_hashes_with_argon2_cffis_defaults():
    """Only the tests lower the cost; every other environment (production takes the base
    class's) uses RFC 9106's profile."""
    defaults = PasswordHasher()
    expected = {
        "time_cost": defaults.time_cost,
        "memory_cost": defaults.memory_cost,
        "parallelism": defaults.parallelism,
    }
    for settings in (config.Config(), config.DevelopmentConfig()):
        parameters = settings.PASSWORD_HASH_PARAMETERS
        assert parameters == expected


def test_outdated_hash_is_upgraded_at_login(app, client, staff_user, monkeypatch):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    staff_user.password_hash = weak
    db.session.commit()
    # the parameters are raised (as in production): the next login re-hashes
    monkeypatch.setitem(
        app.config,
        "PASSWORD_HASH_PARAMETERS",
        {"time_cost": 2, "memory_cost": 1024, "parallelism": 1},
    )
    assert login(client, staff_user.email).status_code == 302
    db.session.refresh(staff_user)
    assert staff_user.password_hash != weak
    assert "m=1024,t=2,p=1" in staff_user.password_hash
    assert not PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).check_needs_rehash(
        staff_user.password_hash
    )


def test_unknown_email_costs_an_argon2_verification(monkeypatch, app):
    calls = []
    original = accounts._verify
    monkeypatch.setattr(accounts, "_verify", lambda h, p: calls.append(h) or original(h, p))
    assert accounts.authenticate("nobody@example.org", PASSWORD) is None
    assert calls == [accounts.dummy_hash()]


def test_short_password_refused(app):
    with pytest.raises(accounts.AccountError):
        accounts.create_user("kurz@example.org", role="staff", password="zu-kurz")


# --- rate limits ------------------------------------------------------------------------


@pytest.fixture
def limited_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The same database with rate limiting on, counted in the real Redis."""
    limited = create_app(
        config.TestingConfig(),
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
    )
    ctx = limited.app_context()
    ctx.push()
    try:
        yield limited
    finally:
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
        ctx.pop()


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _post(client, url: str, **data: str):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)})


def test_the_code_step_stops_guessing_per_account(limited_app, make_user):
    """Six digits fall to guessing: after TOTP_RATELIMIT (10 per hour) codes for an account,
    the code step answers 429 before it checks a code, the right one included, whatever
    the session or address."""
    user = make_user("staff", email="zwei@example.org")
    enable_two_factor(user)
    secret = user.totp_secret
    guesser = _from(limited_app.test_client(), "198.51.100.66")
    step = _post(guesser, "/login", email="zwei@example.org", password=PASSWORD)
    assert step.headers["Location"] == "/login/code"
    for _ in range(10):
        assert _post(guesser, "/login/code", code="000000").status_code == 200
    refused = _post(guesser, "/login/code", code=pyotp.TOTP(secret).now())
    assert refused.status_code == 429
    assert "Zu viele Versuche" in refused.get_data(as_text=True)
    assert guesser.get("/staff/cases").status_code == 302  # not logged in

    owner = _from(limited_app.test_client(), "203.0.113.5")
    _post(owner, "/login", email="zwei@example.org", password=PASSWORD)
    assert _post(owner, "/login/code", code=pyotp.TOTP(secret).now()).status_code == 429


def test_login_limited_per_account_and_address(limited_app, make_user):
    make_user("staff", email="target@example.org")
    attacker = _from(limited_app.test_client(), "198.51.100.66")
    for _ in range(5):
        response = login(attacker, "Target@example.org", "falsches-passwort-123")
        assert response.status_code == 200
    # The sixth attempt from there is refused even with the right password.
    response = login(attacker, "target@example.org", PASSWORD)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Zu viele Versuche" in page
    assert "zu viele fehlgeschlagene Anmeldeversuche" in page
    # issue 7, point 7: the real user at another address is not locked out by it
    assert (
        login(_from(limited_app.test_client(), "203.0.113.5"), "target@example.org").status_code
        == 302
    )
    # another account is not affected by this account's limit
    make_user("staff", email="other@example.org")
    assert login(limited_app.test_client(), "other@example.org").status_code == 302


def test_account_wide_ceiling_across_addresses(limited_app, make_user):
    limited_app.config["LOGIN_RATELIMIT_PER_ACCOUNT"] = "12 per hour"
    make_user("staff", email="wanted@example.org")
    for n in range(12):
        client = _from(limited_app.test_client(), f"198.51.100.{n + 1}")
        assert login(client, "wanted@example.org", "falsch-falsch-falsch").status_code == 200
    fresh = _from(limited_app.test_client(), "192.0.2.200")
    assert login(fresh, "wanted@example.org", "falsch-falsch-falsch").status_code == 429


def test_parallel_attempts_are_counted_before_the_password_check(limited_app, make_user):
    """30 wrong passwords at once from one address: at most 5 reach the password check."""
    import threading

    make_user("staff", email="parallel@example.org")
    clients = [limited_app.test_client() for _ in range(30)]
    tokens = [csrf_token(client) for client in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def attempt(client, token):
        start.wait()
        data = {"email": "parallel@example.org", "password": "x" * 20, "csrf_token": token}
        try:
            statuses.append(client.post("/login", data=data).status_code)
        except Exception as exc:  # reported below; a thread's exception would be lost
            statuses.append(repr(exc))

    threads = [
        threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 30
    assert statuses.count(200) <= 5, statuses
    assert statuses.count(429) >= 25


def test_login_limited_per_address(limited_app, make_user):
    client = limited_app.test_client()
    for n in range(10):
        response = login(client, f"guess{n}@example.org", "falsches-passwort-123")
        assert response.status_code == 200
    make_user("staff", email="real@example.org")
    assert login(client, "real@example.org").status_code == 429


def test_successful_logins_do_not_use_up_the_limit(limited_app, make_user):
    user = make_user("staff", email="busy@example.org")
    for _ in range(8):
        client = limited_app.test_client()
        assert login(client, user.email).status_code == 302


# --- error pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (400, "Die Anfrage konnte nicht verarbeitet werden"),
        (403, "Kein Zugriff"),
        (404, "Seite nicht gefunden"),
        (413, "höchstens 10 MB"),
        (429, "Zu viele Versuche"),
        (500, "Ein interner Fehler ist aufgetreten"),
    ],
)
def test_error_pages_are_german_and_use_the_layout(client, probe, code, text):
    response = client.get(f"/_probe/error/{code}")
    assert response.status_code == code
    page = response.get_data(as_text=True)
    assert text in page
    assert 'href="/"' in page  # the way back to the start page


def test_unknown_url_gets_404_page(client):
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


def test_login_works_while_redis_is_down(limited_app, make_user, redis_server):
    """The limiter counts in memory until Redis is back: no 500 at the door."""
    make_user("staff", email="calm@example.org")
    redis_server.stop()
    try:
        client = limited_app.test_client()
        assert login(client, "calm@example.org", "falsches-passwort-123").status_code == 200
        assert login(client, "calm@example.org").status_code == 302
    finally:
        redis_server.start()
