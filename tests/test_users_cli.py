"""The operator commands ``users …`` and ``seed-demo`` through the real CLI runner."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import User
from tests.fixtures.auth import PASSWORD, login


def user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_create_with_password(runner, client):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Erika@Example.org",
            "--role",
            "staff",
            "--name",
            "Erika M",
            "--password",
            PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Konto angelegt: erika@example.org (staff)" in result.output
    created = user("erika@example.org")
    assert created.role == "staff" and created.name == "Erika M" and created.active
    assert created.password_hash.startswith("$argon2id$")
    assert login(client, "erika@example.org").status_code == 302


def test_create_prompts_twice_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "rev@example.org", "--role", "reviewer"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input
    assert user("rev@example.org").role == "reviewer"


def test_create_refuses_bad_input(runner):
    def create(*args):
        return runner.invoke(args=["users", "create", *args])

    result = create("keine-adresse", "--role", "staff", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "Ungültige E-Mail-Adresse" in result.output
    result = create("a@example.org", "--role", "boss", "--password", PASSWORD)
    assert result.exit_code == 2  # click rejects the unknown role
    result = create("a@example.org", "--role", "staff", "--password", "zu-kurz")
    assert result.exit_code == 1
    assert "mindestens 12 Zeichen" in result.output
    assert user("a@example.org") is None

    assert create("a@example.org", "--role", "staff", "--password", PASSWORD).exit_code == 0
    result = create("A@example.org", "--role", "admin", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "Es gibt bereits ein Konto für a@example.org." in result.output
    assert user("a@example.org").role == "staff"


def test_list(runner, make_user):
    assert "Es gibt noch keine Konten." in runner.invoke(args=["users", "list"]).output
    make_user("staff", email="s@example.org")
    make_user("reviewer", email="r@example.org", active=False)
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("r@example.org") and "reviewer" in lines[0]
    assert "gesperrt" in lines[0]
    assert "aktiv" in lines[1]


def test_deactivate(runner, client, make_user):
    make_user("staff", email="s@example.org")
    version = user("s@example.org").session_version
    result = runner.invoke(args=["users", "deactivate", "S@example.org"])
    assert result.exit_code == 0, result.output
    assert "Konto gesperrt: s@example.org" in result.output
    changed = user("s@example.org")
    assert not changed.active and changed.session_version == version + 1
    assert login(client, "s@example.org").status_code == 200  # refused
    again = runner.invoke(args=["users", "deactivate", "s@example.org"])
    assert again.exit_code == 0 and "bereits gesperrt" in again.output

    result = runner.invoke(args=["users", "deactivate", "nobody@example.org"])
    assert result.exit_code == 1
    assert "Kein Konto mit der Adresse nobody@example.org." in result.output


def test_set_password(runner, client, make_user):
    make_user("staff", email="s@example.org")
    version = user("s@example.org").session_version
    result = runner.invoke(
        args=["users", "set-password", "s@example.org"],
        input="ein-neues-langes-passwort\nein-neues-langes-passwort\n",
    )
    assert result.exit_code == 0, result.output
    assert user("s@example.org").session_version == version + 1
    assert login(client, "s@example.org", PASSWORD).status_code == 200  # old one refused
    assert login(client, "s@example.org", "ein-neues-langes-passwort").status_code == 302

    short = runner.invoke(args=["users", "set-password", "s@example.org", "--password", "kurz"])
    assert short.exit_code == 1 and "mindestens 12 Zeichen" in short.output
    unknown = runner.invoke(args=["users", "set-password", "x@example.org", "--password", PASSWORD])
    assert unknown.exit_code == 1 and "Kein Konto" in unknown.output


def test_seed_demo_is_idempotent_and_prints_passwords_once(runner, app):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    printed = dict(re.findall(r"^\s+\w+\s+(\S+@example\.org)\s+(\S+)$", first.output, re.M))
    assert set(printed) == {
        "demo-staff@example.org",
        "demo-reviewer@example.org",
        "demo-admin@example.org",
    }
    assert {user(e).role for e in printed} == {"staff", "reviewer", "admin"}
    for email, password in printed.items():
        assert login(app.test_client(), email, password).status_code == 302
    hashes = {e: user(e).password_hash for e in printed}

    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    for password in printed.values():
        assert password not in second.output
    assert second.output.count("gibt es schon") == 3
    assert {e: user(e).password_hash for e in printed} == hashes
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 3


def test_seed_demo_fills_only_missing_roles(runner, make_user):
    make_user("admin", email="demo-admin@example.org")
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0
    assert "demo-admin@example.org (admin) gibt es schon" in result.output
    assert re.search(r"^\s+staff\s+demo-staff@example.org\s+\S+$", result.output, re.M)
    assert not re.search(r"^\s+admin\s+", result.output, re.M)
