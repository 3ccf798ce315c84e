"""Routes of the public side. Views stay thin: the domain lives in app.applications."""

from __future__ import annotations

import hashlib
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
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from werkzeug.datastructures import MultiDict

from app import clock
from app.cases import checks, drafts, information, messages, uploads
from app.cases.findings import findings as render_findings
from app.cases.submission import (
    AlreadySubmitted,
    find_by_token,
    form_token_used,
    form_values,
    resend_status_link,
    submit_amendment,
    submit_application,
)
from app.cases.workflow import TransitionError, apply_transition
from app.extensions import db, limiter
from app.intake.forms import ApplicationForm, MessageForm, StatusLinkForm
from app.models import INFO_REQUESTED, FundingRound
from app.web import limits, rounds, transactions
from app.web.downloads import subject_access_response
from app.web.security import safe_next

bp = Blueprint("intake", __name__)

_STARTED_SALT = "form-started"


def _setting(name: str):
    """A limit from the settings (config.py), read when a request is counted."""
    return lambda: current_app.config[name]


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
        "intake/landing.html",
        funding_round=rounds.open_round(),
        configured=rounds.configured_round(),
    )


@bp.get("/leichte-sprache")
def easy_read():
    """What the programme funds and how to apply, in Leichter Sprache."""
    return render_template("intake/easy_read.html", funding_round=rounds.open_round())


@bp.post("/sprache")
def set_language():
    form = FlaskForm()
    if form.validate_on_submit() and request.form.get("lang") in ("de", "en"):
        session["lang"] = request.form["lang"]
        refresh()  # Flask-Babel: drop the locale chosen before the switch
    return redirect(safe_next(request.form.get("next")) or url_for("intake.landing"))


def _closed():
    return render_template("intake/closed.html", configured=rounds.configured_round()), 404


@bp.route("/antrag", methods=["GET", "POST"])
@limiter.limit(
    _setting("DRAFT_RATELIMIT"), methods=["POST"], exempt_when=lambda: _not_saving_a_draft()
)
def application_form():
    if request.method == "POST" and _only_checks():
        transactions.reads_only()
    language = str(session.get("lang") or "de")  # preselected for the emails
    if request.method == "GET" and _blank_page_fits():
        page = _blank_page(language)
        if page is not None:
            g.no_store = True
            return page
    funding_round = rounds.open_round()
    if funding_round is None:
        return _closed()
    g.no_store = True
    if request.method == "GET":
        form = _blank_form(funding_round, language)
        form.started.data = _new_started_token()
        return _render_form(form, funding_round)
    form = ApplicationForm()
    form.configure_for(funding_round)

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
    if action == "save_draft":
        return _save_draft(form, funding_round, pending)
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
    draft_hash = session.pop("draft", None)
    if draft_hash:  # the submitted form came from a draft: it is done
        drafts.discard(draft_hash)
        db.session.commit()
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


def _save_draft(form: ApplicationForm, funding_round, pending):
    """Keep the form as it stands; only the contact address must be valid (the link goes
    there). Every other field may still be empty or wrong."""
    form.contact_email.errors = []
    form.contact_email.validate(form)
    if form.contact_email.errors:
        form.form_errors.append(
            _(
                "Zum Speichern brauchen wir eine gültige E-Mail-Adresse der Ansprechperson: "
                "dorthin senden wir den Link zum Weitermachen."
            )
        )
        for field in form:
            if field is not form.contact_email:
                field.errors = []
        return _render_form(form, funding_round, pending=pending), 422
    draft, token = drafts.save(
        funding_round,
        request.form,
        form.contact_email.data,
        form.language.data,
        pending,
        existing_hash=session.get("draft"),
    )
    db.session.commit()
    session["draft"] = draft.token_hash
    return render_template(
        "intake/draft_saved.html",
        contact_email=draft.contact_email,
        expires_at=draft.expires_at,
        emailed=token is not None,
    )


@bp.get("/antrag/entwurf/<token>")
def resume_draft(token: str):
    """The resume link: the form comes back exactly as it was saved."""
    transactions.writes()  # a GET (the link in an email) that copies the draft's PDF
    funding_round = rounds.open_round()
    draft = drafts.find(token)
    if draft is None or funding_round is None or draft.round_id != funding_round.id:
        return render_template("intake/draft_gone.html"), 404
    g.no_store = True
    form = ApplicationForm(
        formdata=MultiDict([(key, value) for key, values in draft.data.items() for value in values])
    )
    form.configure_for(funding_round)
    form.started.data = _started_serializer().dumps(True)
    pending = drafts.pending_copy(draft)
    form.attachment_ref.data = uploads.sign(pending) if pending else ""
    session["draft"] = draft.token_hash
    return _render_form(form, funding_round, pending=pending)


def _only_checks() -> bool:
    """A POST that shows the check page or the form again and brings no new file: it only
    reads (a new file is stored as a pending upload)."""
    return request.form.get("action", "check") in ("check", "edit") and not request.files.get(
        "attachment"
    )


def _not_saving_a_draft() -> bool:
    return request.form.get("action") != "save_draft"


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


def _render_form(form: ApplicationForm, funding_round, pending=None):
    return render_template(
        "intake/form.html", form=form, funding_round=funding_round, pending=pending
    )


# The blank form page, rendered once per round (and its data), page language and preselected
# email language, and reused: rendering the ~100 choice inputs through WTForms' widgets and
# the page around them (about 60 translated strings) was nearly all of the page's time
# (docs/performance.md, target 1). What differs between two visitors are the two tokens, the
# CSRF token and the signed start time: the cached page holds a placeholder for each, filled
# in per request. A handful of entries per process.
_BLANK_PAGES: dict[tuple, str] = {}
_CSRF_PLACEHOLDER = "csrf-" + secrets.token_hex(16)
_STARTED_PLACEHOLDER = "started-" + secrets.token_hex(16)


def _blank_page_fits() -> bool:
    """Whether this request sees exactly the shared blank page: nobody logged in (the header
    shows their links), no message waiting to be flashed, no query string (the language
    switch sends the visitor back to the same address, query included)."""
    return (
        not current_user.is_authenticated and "_flashes" not in session and not request.query_string
    )


_ROUND_VERSION = select(
    *(c for c in FundingRound.__table__.columns if c.key != "committed_cents")
).where(FundingRound.__table__.c.code == bindparam("code"))


def _round_version() -> tuple[bool, str] | None:
    """Whether the configured round is open today, and a hash of everything of it a form
    page shows (any change of the round, such as its data file reloaded, makes a new page;
    the committed budget is left out, the form does not show it). One Core query: the ORM
    row is loaded only when the page is rendered."""
    with db.engine.connect() as connection:
        row = connection.execute(_ROUND_VERSION, {"code": current_app.config["PROGRAMME"]}).first()
    if row is None:
        return None
    today = clock.today()
    return (
        row.applications_open <= today <= row.applications_close,
        hashlib.sha256(repr(tuple(row)).encode()).hexdigest(),
    )


def _blank_form(funding_round, language: str) -> ApplicationForm:
    form = ApplicationForm()
    form.configure_for(funding_round)
    form.language.data = language
    return form


def _blank_page(language: str) -> str | None:
    """The shared blank page with this visitor's tokens; None if no round is open (the
    caller answers that as for everyone)."""
    version = _round_version()
    if version is None or not version[0]:
        return None
    key = (version[1], str(get_locale()), language)
    page = _BLANK_PAGES.get(key)
    if page is None:
        funding_round = rounds.open_round()
        if funding_round is None:  # closed in between
            return None
        # What Flask-WTF's generate_csrf() returns for the rest of this request, to the form's
        # hidden field (set when the form is built) and the page's csrf_token() alike.
        g.csrf_token = _CSRF_PLACEHOLDER
        try:
            form = _blank_form(funding_round, language)
            form.started.data = _STARTED_PLACEHOLDER
            page = _render_form(form, funding_round)
        finally:
            g.pop("csrf_token")
        if len(_BLANK_PAGES) > 64:  # rounds or their data changed many times: start afresh
            _BLANK_PAGES.clear()
        _BLANK_PAGES[key] = page
    return page.replace(_CSRF_PLACEHOLDER, generate_csrf()).replace(
        _STARTED_PLACEHOLDER, _new_started_token()
    )


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
    return _status_page(application, token, MessageForm())


def _status_page(application, token: str, message_form: MessageForm):
    events = [e for e in application.events if e.public]
    return render_template(
        "intake/status.html",
        application=application,
        events=events,
        token=token,
        check=checks.latest_check(application),
        export_form=FlaskForm(),
        message_form=message_form,
        information_request=information.open_request(application)
        if application.state == INFO_REQUESTED
        else None,
    )


@bp.post("/status/<token>/auskunft")
def data_export(token: str):
    """Everything held about the case (Art. 15 DSGVO) as one ZIP; POST, as it is audited."""
    application = _application_or_404(token)
    if not FlaskForm().validate_on_submit():
        flash(_("Die Sitzung ist abgelaufen. Bitte versuchen Sie es noch einmal."), "error")
        return redirect(url_for("intake.status", token=token), code=303)
    return subject_access_response(application, None)


@bp.post("/status/<token>/nachricht")
@limiter.limit(_setting("APPLICANT_MESSAGE_RATELIMIT"))
def post_message(token: str):
    """The applicant writes to the staff; the message goes on the timeline and by email."""
    application = _application_or_404(token)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            messages.post_from_applicant(application, form.body.data)
            db.session.commit()
        except messages.MessageError as exc:
            db.session.rollback()
            form.body.errors = [exc.message]
        else:
            flash(_("Ihre Nachricht ist gesendet."), "success")
            return redirect(url_for("intake.status", token=token, _anchor="nachricht"), code=303)
    return _status_page(application, token, form), 422


@bp.route("/status/<token>/ergaenzen", methods=["GET", "POST"])
def amend(token: str):
    """The answer to a request for information: the form, filled with the current data."""
    application = _application_or_404(token)
    open_request = information.open_request(application)
    if application.state != INFO_REQUESTED or open_request is None:
        flash(_("Zu diesem Antrag ist derzeit keine Rückfrage offen."), "error")
        return redirect(url_for("intake.status", token=token), code=303)
    funding_round = application.round
    form = ApplicationForm(data=form_values(application))
    form.configure_for(funding_round)
    context = {
        "application": application,
        "token": token,
        "information_request": open_request,
        "funding_round": funding_round,
        "form_action": url_for("intake.amend", token=token),
    }
    if request.method == "GET":
        return render_template("intake/amend.html", form=form, pending=None, **context)

    action = request.form.get("action", "check")
    pending, upload_error = _take_attachment(form)
    if action == "edit":
        form.attachment.errors = [upload_error] if upload_error else []
        return render_template("intake/amend.html", form=form, pending=pending, **context)
    # The status token stands for the applicant; no fill-time or honeypot check here.
    valid = form.validate_on_submit()
    if upload_error:
        form.attachment.errors = [upload_error]
        valid = False
    if not valid:
        return render_template("intake/amend.html", form=form, pending=pending, **context), 422
    if action != "submit":
        return render_template("intake/amend_check.html", form=form, pending=pending, **context)
    try:
        submit_amendment(application, form.application_fields(), attachment=pending)
    except TransitionError as exc:
        flash(str(exc.message), "error")
    else:
        flash(
            _("Vielen Dank. Ihre Ergänzung ist eingegangen; die Geschäftsstelle ist informiert."),
            "success",
        )
    return redirect(url_for("intake.status", token=token), code=303)


@bp.route("/status/<token>/zurueckziehen", methods=["GET", "POST"])
def withdraw(token: str):
    application = _application_or_404(token)
    form = FlaskForm()
    if application.state not in ("submitted", "reviewed", "info_requested"):
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


def _reference_key() -> str:
    # Keyed on the reference too, so one case cannot be flooded with new links from many
    # addresses (each new link replaces the last).
    return "status-link:" + request.form.get("reference", "").strip().upper()[:16]


@bp.route("/statuslink-anfordern", methods=["GET", "POST"])
# Asking for a lost status link: few honest people need it more than a couple of times.
@limiter.limit(_setting("STATUS_LINK_RATELIMIT_PER_ADDRESS"), methods=["POST"])
@limiter.limit(
    _setting("STATUS_LINK_RATELIMIT_PER_REFERENCE"), key_func=_reference_key, methods=["POST"]
)
def request_status_link():
    """Lost status link: the page answers the same whether or not the pair exists."""
    g.no_store = True
    form = StatusLinkForm()
    if form.validate_on_submit():
        resend_status_link(form.reference.data, form.contact_email.data)
        db.session.commit()
        return render_template("intake/status_link_sent.html")
    return render_template("intake/status_link.html", form=form), 422 if form.errors else 200
