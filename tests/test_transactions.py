"""On SQLite a request that only reads takes no write lock (app.web.transactions): it reads
beside a writer instead of queueing behind it, and it cannot write by mistake."""

from __future__ import annotations

import sqlite3

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import FundingRound
from app.web import transactions
from tests.factories import form_tokens, hidden_fields, valid_form_data

pytestmark = pytest.mark.parametrize("app", ["sqlite"], indirect=True)


def test_pages_and_check_page_read_beside_a_writer(app: Flask, client, staff_user, client_for):
    tokens = form_tokens(client)
    staff = client_for(staff_user)
    app.config["SQLITE_BUSY_TIMEOUT_MS"] = 15000  # a queued request would wait this long
    connection = sqlite3.connect(
        app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"), isolation_level=None
    )
    db.session.commit()
    connection.execute("BEGIN IMMEDIATE")  # the worker writes a long transaction
    try:
        # with BEGIN IMMEDIATE each would wait the busy timeout, then fail as "locked"
        assert client.get("/antrag").status_code == 200
        assert staff.get("/staff/cases").status_code == 200
        check = client.post(
            "/antrag",
            data={**tokens, **valid_form_data(), "action": "check"},
            content_type="multipart/form-data",
        )
        assert check.status_code == 200
        assert "Antrag verbindlich absenden" in check.get_data(as_text=True)
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_a_request_that_writes_takes_the_lock_up_front(app: Flask, client):
    begins: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.startswith("BEGIN"):
            begins.append(statement)

    tokens = form_tokens(client)
    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.post(
            "/antrag",
            data={**tokens, **valid_form_data(), "action": "check"},
            content_type="multipart/form-data",
        )
        assert begins and set(begins) == {"BEGIN DEFERRED"}
        begins.clear()
        again = MultiDict([*hidden_fields(page.get_data(as_text=True)), ("action", "submit")])
        submitted = client.post("/antrag", data=again)
        assert submitted.status_code == 303
        assert begins[0] == "BEGIN IMMEDIATE"  # the submission writes: the lock first
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_safe_request_cannot_write(app: Flask):
    with app.test_request_context("/", method="GET"):
        app.preprocess_request()  # the before_request hooks mark the request read-only
        rnd = db.session.scalar(select(FundingRound))
        rnd.name_de = "Geändert"
        with pytest.raises(OperationalError, match="readonly"):
            db.session.flush()
        db.session.rollback()
    # a GET that must write (the draft's resume link) says so first
    with app.test_request_context("/", method="GET"):
        app.preprocess_request()
        transactions.writes()
        rnd = db.session.scalar(select(FundingRound))
        rnd.name_de = "Geändert"
        db.session.flush()
        db.session.rollback()
