"""Routes of the public side. Views stay thin: the domain lives in app.applications."""

from __future__ import annotations

import hashlib
import json

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from app import clock
from app.cases import uploads
from app.cases.submission import find_by_token, submit_application
from app.cases.workflow import TransitionError, apply_transition
from app.extensions import db
from app.intake.forms import ApplicationForm
from app.programmes import configured_round, open_round
from app.web.security import safe_next

bp = Blueprint("intake", __name__)

_STARTED_SALT = "form-started"


def _started_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_STARTED_SALT)


def _check_fill_time(form: ApplicationForm) -> bool:
    """Bots post at once; people take a while. The start time is signed, so it can't be faked."""
    try:
        _value, issued = _started_serializer().loads(
            form.started.data or "",
            max_age=current_app.config["FORM_MAX_AGE_SECONDS"],
            return_timestamp=True,
        )
    except BadSignature:  # also SignatureExpired
        return False
    elapsed = (clock.now() - issued).total_seconds()
    return elapsed >= current_app.config["FORM_MIN_FILL_SECONDS"]


@bp.get("/")
def landing():
    return render_template(
        "intake/landing.html", funding_round=open_round(), configured=configured_round()
    )


@bp.post("/sprache")
def set_language():
    form = FlaskForm()
    if form.validate_on_submit() and request.form.get("lang") in ("de", "en"):
        session["lang"] = request.form["lang"]
    return redirect(safe_next(request.form.get("next")) or url_for("intake.landing"))


def _closed():
    return render_template("intake/closed.html", configured=configured_round()), 404


@bp.route("/antrag", methods=["GET", "POST"])
def application_form():
    funding_round = open_round()
    if funding_round is None:
        return _closed()
    g.no_store = True
    form = ApplicationForm()
    form.configure_for(funding_round)
    if request.method == "GET":
        form.language.data = str(session.get("lang") or "de")
        form.started.data = _started_serializer().dumps(True)
        return _render_form(form, funding_round, fields_html=_blank_fields(form, funding_round))

    action = request.form.get("action", "check")
    pending, upload_error = _take_attachment(form)
    if action == "edit":
        form.attachment.errors = [upload_error] if upload_error else []
        return _render_form(form, funding_round, pending=pending)
    if form.website.data:
        # A filled honeypot means a bot: keep nothing, say little.
        flash(
            _("Ihre Angaben konnten nicht verarbeitet werden. Bitte versuchen Sie es erneut."),
            "error",
        )
        return _render_form(form, funding_round, pending=pending), 400
    valid = form.validate_on_submit()
    if upload_error:  # after validate(), which resets every field's errors
        form.attachment.errors = [upload_error]
        valid = False
    if not _check_fill_time(form):
        form.started.data = _started_serializer().dumps(True)
        form.form_errors.append(
            _(
                "Das Formular wurde sehr schnell oder nach sehr langer Zeit abgeschickt. "
                "Bitte prüfen Sie Ihre Angaben und senden Sie es noch einmal ab."
            )
        )
        valid = False
    if not valid:
        return _render_form(form, funding_round, pending=pending), 422
    if action != "submit":
        return render_template(
            "intake/check.html", form=form, funding_round=funding_round, pending=pending
        )
    application, token = submit_application(
        funding_round, form.application_fields(), attachment=pending
    )
    session["confirmation"] = {"reference": application.reference, "token": token}
    return redirect(url_for("intake.confirmation"), code=303)


def _take_attachment(form: ApplicationForm) -> tuple[uploads.PendingUpload | None, str | None]:
    """A new upload replaces an earlier one. Returns the upload and an error message."""
    error = None
    pending = uploads.unsign(form.attachment_ref.data or "")
    if form.attachment_remove.data:
        pending = None
        form.attachment_remove.data = False
    file = form.attachment.data
    if file is not None and getattr(file, "filename", ""):
        try:
            pending = uploads.save_pending(file, current_app.config["ATTACHMENT_MAX_BYTES"])
        except uploads.UploadError as exc:
            error = (
                _("Die Datei ist keine PDF-Datei. Bitte laden Sie ein PDF hoch.")
                if str(exc) == "not_pdf"
                else _("Die Datei ist zu groß. Erlaubt sind höchstens 10 MB.")
            )
    form.attachment_ref.data = uploads.sign(pending) if pending else ""
    return pending, error


def _render_form(form: ApplicationForm, funding_round, pending=None, fields_html=None):
    return render_template(
        "intake/form.html",
        form=form,
        funding_round=funding_round,
        pending=pending,
        fields_html=fields_html,
    )


# Rendered blank forms, per round (and its data), page language and preselected email
# language. Rendering the ~100 choice inputs through WTForms' widgets was most of the form
# page's time (docs/performance.md); a blank form differs only in its tokens, which form.html
# renders outside this fragment. A handful of entries per process.
_BLANK_FIELDS: dict[tuple, Markup] = {}


def _blank_fields(form: ApplicationForm, funding_round) -> Markup:
    data = json.dumps(funding_round.data, sort_keys=True, default=str)
    key = (
        funding_round.id,
        funding_round.code,
        hashlib.sha256(data.encode()).hexdigest(),
        str(get_locale()),
        form.language.data,
    )
    html = _BLANK_FIELDS.get(key)
    if html is None:
        html = Markup(  # noqa: S704 - our own autoescaped template's output
            render_template(
                "intake/_form_fields.html", form=form, funding_round=funding_round, pending=None
            )
        )
        if len(_BLANK_FIELDS) > 64:  # rounds or their data changed many times: start afresh
            _BLANK_FIELDS.clear()
        _BLANK_FIELDS[key] = html
    return html


@bp.get("/antrag/bestaetigung")
def confirmation():
    data = session.pop("confirmation", None)
    if not data:
        return redirect(url_for("intake.landing"))
    g.no_store = True
    status_url = current_app.config["BASE_URL"] + url_for("intake.status", token=data["token"])
    return render_template(
        "intake/confirmation.html", reference=data["reference"], status_url=status_url
    )


def _application_or_404(token: str):
    application = find_by_token(token)
    if application is None:
        abort(404)
    g.no_store = True
    return application


@bp.get("/status/<token>")
def status(token: str):
    application = _application_or_404(token)
    events = [e for e in application.events if e.public]
    return render_template(
        "intake/status.html", application=application, events=events, token=token
    )


@bp.route("/status/<token>/zurueckziehen", methods=["GET", "POST"])
def withdraw(token: str):
    application = _application_or_404(token)
    form = FlaskForm()
    if application.state not in ("submitted", "reviewed"):
        flash(_("Dieser Antrag kann nicht mehr zurückgezogen werden."), "error")
        return redirect(url_for("intake.status", token=token), code=303)
    if form.validate_on_submit():
        try:
            apply_transition(application, "withdraw")
            db.session.commit()
        except TransitionError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(_("Ihr Antrag wurde zurückgezogen."), "success")
        return redirect(url_for("intake.status", token=token), code=303)
    return render_template("intake/withdraw.html", application=application, form=form, token=token)
