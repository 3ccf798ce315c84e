"""The floor for bench/web.py: a bare Flask + Flask-SQLAlchemy app (one form page, one POST
that inserts a row), served by the same gunicorn, on the same SQLite in WAL mode.

    gunicorn --chdir bench bare_app:app   (DATABASE_URL=sqlite:////tmp/bare.sqlite)
"""

from __future__ import annotations

import contextlib
import os

from flask import Flask, render_template_string, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)


class Entry(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    org_name = db.Column(db.String(200), nullable=False)
    title = db.Column(db.String(200), nullable=False)


with app.app_context():

    @event.listens_for(db.engine, "connect")
    def _wal(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # the other gunicorn worker may create it at the same moment
    with contextlib.suppress(OperationalError):
        db.create_all()

PAGE = """<!doctype html><title>Antrag</title><form method=post action=/submit>
<input name=org_name><input name=title><button>Senden</button></form>"""


@app.get("/")
def form():
    return render_template_string(PAGE)


@app.post("/submit")
def submit():
    db.session.add(Entry(org_name=request.form["org_name"], title=request.form["title"]))
    db.session.commit()
    return "ok", 201
