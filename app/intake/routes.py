"""Routes of the public side. Views stay thin: the domain lives in app.applications."""

from __future__ import annotations

import hashlib
import json
import secrets

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
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from app import clock
from app.cases import checks, uploads
from app.cases.findings import findings as render_findings
from app.cases.submission import (
    AlreadySubmitted,
    find_by_token,
    form_token_used,
    submit_application,
)
from app.cases.workflow import TransitionError, apply_transition
from app.extensions import db
from app.intake.forms import ApplicationForm
from app.programmes import configured_round, open_round
from app.web import limits
from app.web.downloads import subject_access_response
from app.web.security import safe_next

bp = Blueprint("intake", __name__)

_STARTED_SALT = "form-started"


def _started_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_STARTED_SALT)


def _new_started_token() -> str:
    # A random value inside: two forms opened in the same second must not share a token,
    # because a token submits only once.
    return _started_serializer().dumps(secrets.token_urlsafe(16))


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


@bp.get("/leichte-sprache")
def easy_read():
    """What the programme funds and how to apply, in Leichter Sprache."""
    return render_template("intake/easy_read.html", funding_round=open_round())


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
        form.started.data = _new_started_token()
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
        # A fresh start time either way. The anti-bot message only when nothing else is
        # wrong: a person who sends an empty form first needs to hear about the fields.
        form.started.data = _new_started_token()
        if valid:
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
        # the same rules as after submission, on what was typed: nothing is stored
        report = checks.precheck(funding_round, form.application_fields())
        return render_template(
            "intake/check.html",
            form=form,
            funding_round=funding_round,
            pending=pending,
            findings=render_findings(report),
        )
    if form_token_used(form.started.data):
        return _already_submitted()
    # Counted only for final submissions that would file an application: per client address
    # and per contact address, so the form cannot bomb an address with receipts.
    if not (
        limits.hit("SUBMIT_LIMIT_PER_ADDRESS", _client_address())
        and limits.hit("SUBMIT_LIMIT_PER_EMAIL", form.contact_email.data.strip().lower())
    ):
        abort(429)
    try:
        application, token = submit_application(
            funding_round,
            form.application_fields(),
            attachment=pending,
            form_token=form.started.data,
        )
    except AlreadySubmitted:
        return _already_submitted()
    session["confirmation"] = {"reference": application.reference, "token": token}
    return redirect(url_for("intake.confirmation"), code=303)


def _already_submitted():
    flash(
        _(
            "Dieses Formular wurde bereits abgeschickt. Die Eingangsbestätigung geht an die "
            "angegebene E-Mail-Adresse; es wurde kein weiterer Antrag angelegt."
        ),
        "info",
    )
    return redirect(url_for("intake.landing"), code=303)


def _client_address() -> str:
    return get_remote_address() or "unknown"


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
            # Files of forms never submitted wait in the database for a day: capped per
            # client address and in total, so the form cannot be used to fill the store.
            if uploads.pending_count() >= current_app.config["PENDING_UPLOADS_MAX"]:
                raise uploads.UploadError(uploads.TOO_MANY_PENDING)
            if not limits.hit("UPLOAD_LIMIT_PER_ADDRESS", _client_address()):
                raise uploads.UploadError(uploads.TOO_MANY_FROM_ADDRESS)
            pending = uploads.save_pending(file, current_app.config["ATTACHMENT_MAX_BYTES"])
        except uploads.UploadError as exc:
            error = str(exc.message)
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
        "intake/status.html",
        application=application,
        events=events,
        token=token,
        check=checks.latest_check(application),
        export_form=FlaskForm(),
    )


@bp.post("/status/<token>/auskunft")
def data_export(token: str):
    """Everything held about the case (Art. 15 DSGVO) as one ZIP; POST, as it is audited."""
    application = _application_or_404(token)
    if not FlaskForm().validate_on_submit():
        flash(_("Die Sitzung ist abgelaufen. Bitte versuchen Sie es noch einmal."), "error")
        return redirect(url_for("intake.status", token=token), code=303)
    return subject_access_response(application, None)


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
