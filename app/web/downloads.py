"""The Art. 15 download, shared by the applicant's status page and the staff case page."""

from __future__ import annotations

import datetime as dt
import io

from flask import Response, render_template, send_file
from flask_babel import force_locale

from app.cases import subject_access
from app.extensions import db
from app.models import MONEY_FIELDS, Application, User


def subject_access_response(application: Application, user: User | None) -> Response:
    """Record the export (audit event, committed) and answer with the ZIP.

    The readable page is in the applicant's language (the one of their emails), whoever
    downloads it, since it is the applicant's copy.
    """
    data = subject_access.collect(application)
    with force_locale(application.language):
        html = render_template(
            "access/export.html",
            data=data,
            generated_at=dt.datetime.fromisoformat(data["generated_at"]),
            money_fields={*MONEY_FIELDS, "granted_amount", "total_costs"},
            current_language=application.language,
        )
    body = subject_access.archive(application, data, html)
    subject_access.record_export(application, user)
    db.session.commit()
    response = Response(body, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{subject_access.filename(application)}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def pdf_response(content: bytes, download_name: str) -> Response:
    """A stored PDF as a download. Always under a name the server makes: an uploader's name
    ("Antrag.pdf.exe", control characters) never reaches a reader's download folder."""
    response = send_file(
        io.BytesIO(content),
        as_attachment=True,
        download_name=download_name,
        mimetype="application/pdf",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
