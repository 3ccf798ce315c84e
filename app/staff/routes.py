"""Routes of the staff area: case list and exports, case page, transitions, budget."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from app import clock, formatting
from app.cases import budget as budget_domain
from app.cases import (
    checks,
    exports,
    information,
    messages,
    retention,
    reviews,
    uploads,
    workflow,
)
from app.cases.access import may_read_contents
from app.cases.queries import CaseFilter, case_context, case_query
from app.extensions import db
from app.jobs import outbox
from app.labels import ACTION_LABELS, district_names, priority_names, project_type_names
from app.mail import delivery
from app.models import Application, FundingRound, Notification, User
from app.paging import page_from, paginate_capped
from app.programmes import configured_round
from app.staff.forms import (
    ErasureForm,
    MessageForm,
    OverrideForm,
    ReviewRequestForm,
    TransitionForm,
)
from app.web.downloads import pdf_response, subject_access_response
from app.web.fields import choices
from app.web.security import ADMIN_ROLES, REVIEW_ROLES, STAFF_ROLES, roles_required
from app.web.templating import round_names

bp = Blueprint("staff", __name__, url_prefix="/staff")

PER_PAGE = 25


@bp.before_request
def _no_store():
    # Case data is personal: never keep it in a shared cache or the browser's history cache.
    g.no_store = True


def _get_case(case_id: int) -> Application:
    return db.get_or_404(Application, case_id)


def _filter_choices(rnd: FundingRound | None) -> dict:
    rounds = db.session.scalars(select(FundingRound).order_by(FundingRound.code)).all()
    return {
        "rounds": rounds,
        # the same tables the list's rows name their districts and priorities from
        "districts": round_names(district_names, rnd) if rnd else {},
        "priorities": round_names(priority_names, rnd) if rnd else {},
        "project_types": round_names(project_type_names, rnd) if rnd else {},
    }


@bp.get("/")
@roles_required(*STAFF_ROLES)
def index():
    return redirect(url_for("staff.cases"))


@bp.get("/cases")
@roles_required(*STAFF_ROLES)
def cases():
    flt = CaseFilter.from_args(request.args)
    page = paginate_capped(
        db.session(),
        case_query(flt),
        page=page_from(request.args),
        per_page=PER_PAGE,
        cap=current_app.config["CASE_LIST_COUNT_CAP"],
    )
    rnd = db.session.get(FundingRound, flt.round_id) if flt.round_id else configured_round()
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "staff/cases.html", page=page, flt=flt, args=args, **_filter_choices(rnd)
    )


@bp.get("/cases/export.<any(csv, xlsx):fmt>")
@roles_required(*STAFF_ROLES)
def export(fmt: str):
    flt = CaseFilter.from_args(request.args)
    rows = db.session.scalars(case_query(flt).options(*exports.LOAD_OPTIONS)).all()
    if fmt == "csv":
        body, mimetype = exports.to_csv(rows), "text/csv; charset=utf-8"
    else:
        body = exports.to_xlsx(rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{exports.filename(fmt)}"'
    return response


@bp.get("/cases/<int:case_id>")
@roles_required(*STAFF_ROLES)
def case(case_id: int):
    application = _get_case(case_id)
    return render_template(
        "staff/case.html",
        application=application,
        **_case_page_context(application),
        message_form=MessageForm(),
    )


def _case_page_context(application: Application) -> dict:
    return {
        **case_context(application),
        "information_requests": information.requests_of(application),
        "open_information_request": information.open_request(application),
        "version_history": information.version_history(application),
        "today": clock.today(),
        "actions": workflow.allowed_actions(application, workflow.STAFF),
        "action_labels": ACTION_LABELS,
        "override_form": OverrideForm(),
        "rerun_form": FlaskForm(),
        "request_form": _review_request_form(application),
        "privacy_form": FlaskForm(),
        "retention_due": retention.due_on(application),
        "erasure_refusal": retention.erasure_refusal(application),
        "overdue_review_requests": reviews.overdue_requests(application),
        "event_attachments": messages.attachments_by_event(application),
    }


def _review_request_form(application: Application) -> ReviewRequestForm:
    form = ReviewRequestForm()
    reviewers = db.session.scalars(
        select(User).where(User.role == "reviewer", User.active.is_(True)).order_by(User.name)
    ).all()
    form.reviewers.choices = choices((u.id, f"{u.name or u.email} <{u.email}>") for u in reviewers)
    return form


@bp.post("/cases/<int:case_id>/data-export")
@roles_required(*STAFF_ROLES)
def data_export(case_id: int):
    """The applicant's Art. 15 copy, produced by staff (e.g. for a request by letter)."""
    application = _get_case(case_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    return subject_access_response(application, current_user)


@bp.route("/cases/<int:case_id>/erase", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def erase(case_id: int):
    """Early erasure on request, with a reason; refused (and the page says why) while a
    retention duty or an open procedure forbids it."""
    application = _get_case(case_id)
    form = ErasureForm()
    refusal = retention.erasure_refusal(application)
    status = 200
    if refusal is None and form.validate_on_submit():
        try:
            retention.erase_early(application, current_user, form.reason.data)
            db.session.commit()
        except retention.RetentionError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            status = 409
        else:
            flash(_("Die personenbezogenen Daten des Antrags wurden gelöscht."), "success")
            return redirect(url_for("staff.case", case_id=case_id), code=303)
    elif request.method == "POST":
        status = 409 if refusal is not None else 422
    application = _get_case(case_id)
    return (
        render_template(
            "staff/erase.html",
            application=application,
            form=form,
            refusal=retention.erasure_refusal(application),
            retention_due=retention.due_on(application),
        ),
        status,
    )


@bp.get("/cases/<int:case_id>/attachment")
@roles_required(*REVIEW_ROLES)
def attachment(case_id: int):
    application = _get_case(case_id)
    if not may_read_contents(current_user, application):
        abort(403)
    content = application.attachment_name and uploads.content_of(application.attachment_name)
    if not content:
        abort(404)
    return pdf_response(content, f"{application.reference}.pdf")


@bp.get("/cases/<int:case_id>/message-attachments/<int:attachment_id>")
@roles_required(*STAFF_ROLES)
def message_attachment(case_id: int, attachment_id: int):
    """A PDF that came with a reply by email."""
    application = _get_case(case_id)
    attachment = messages.attachment_of_case(application, attachment_id)
    content = attachment is not None and uploads.content_of(attachment.name)
    if not content:
        abort(404)
    return pdf_response(content, f"{application.reference}-nachricht-{attachment.id}.pdf")


@bp.post("/cases/<int:case_id>/results/<int:result_id>/override")
@roles_required(*STAFF_ROLES)
def override(case_id: int, result_id: int):
    application = _get_case(case_id)
    result = checks.result_of_case(application, result_id)
    if result is None:
        abort(404)
    form = OverrideForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("staff.case", case_id=case_id, _anchor="pruefung"))
    checks.override_rule(application, result, form.outcome.data, form.comment.data, current_user)
    db.session.commit()
    flash(_("Das Prüfergebnis wurde geändert und im Verlauf vermerkt."), "success")
    return redirect(url_for("staff.case", case_id=case_id, _anchor="pruefung"))


@bp.post("/cases/<int:case_id>/check/rerun")
@roles_required(*STAFF_ROLES)
def rerun_check(case_id: int):
    application = _get_case(case_id)
    if not FlaskForm().validate_on_submit():
        flash(_("Die Anfrage war ungültig. Bitte versuchen Sie es erneut."), "error")
        return redirect(url_for("staff.case", case_id=case_id, _anchor="pruefung"), code=303)
    if application.is_final:
        flash(_("Der Antrag ist abgeschlossen; die Prüfung wird nicht mehr wiederholt."), "error")
        return redirect(url_for("staff.case", case_id=case_id, _anchor="pruefung"), code=303)
    check = checks.rerun_check(application, current_user)
    db.session.commit()
    flash(_("Die Prüfung wurde erneut ausgeführt (Lauf %(run)d).", run=check.run), "success")
    return redirect(url_for("staff.case", case_id=case_id, _anchor="pruefung"), code=303)


@bp.post("/cases/<int:case_id>/messages")
@roles_required(*STAFF_ROLES)
def post_message(case_id: int):
    application = _get_case(case_id)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            messages.post_from_staff(
                application, form.body.data, current_user, internal=form.internal.data
            )
            db.session.commit()
        except messages.MessageError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(
                _("Die Notiz ist gespeichert.")
                if form.internal.data
                else _("Die Nachricht ist gespeichert und wird per E-Mail gesendet."),
                "success",
            )
            return redirect(url_for("staff.case", case_id=case_id, _anchor="nachrichten"), 303)
    for errors in form.errors.values():
        for error in errors:
            flash(error, "error")
    # what was typed stays: the case page is shown again with the form filled
    return (
        render_template(
            "staff/case.html",
            application=application,
            **_case_page_context(application),
            message_form=form,
        ),
        422,
    )


@bp.post("/cases/<int:case_id>/review-requests")
@roles_required(*STAFF_ROLES)
def request_reviews(case_id: int):
    application = _get_case(case_id)
    form = _review_request_form(application)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("staff.case", case_id=case_id, _anchor="gutachten"))
    reviewers = db.session.scalars(select(User).where(User.id.in_(form.reviewers.data))).all()
    asked = reviews.request_reviews(application, reviewers, current_user, form.due_date.data)
    db.session.commit()
    if asked:
        flash(
            _("Angefragt: %(names)s.", names=", ".join(u.name or u.email for u in asked)),
            "success",
        )
    else:
        flash(_("Diese Personen waren bereits angefragt."), "info")
    return redirect(url_for("staff.case", case_id=case_id, _anchor="gutachten"))


@bp.route("/cases/<int:case_id>/action/<action>", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def transition(case_id: int, action: str):
    application = _get_case(case_id)
    known = workflow.TRANSITIONS.get(action)
    if known is None or known.actor != workflow.STAFF:
        abort(404)
    form = TransitionForm(action=action)
    status = 200
    # The page says why a step is not possible yet and offers no button then.
    blocked = workflow.blocked_reason(application, action)
    if blocked is not None:
        status = 409
    elif form.validate_on_submit():
        try:
            workflow.apply_transition(
                application,
                action,
                user=current_user,
                reason=form.reason.data if "reason" in form else None,
                granted_amount=form.granted_amount.data if "granted_amount" in form else None,
                due_date=form.due_date.data if "due_date" in form else None,
            )
            db.session.commit()
        except workflow.TransitionError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            status = 422
        else:
            flash(_("Erledigt: %(action)s.", action=ACTION_LABELS.get(action, action)), "success")
            return redirect(url_for("staff.case", case_id=case_id))
    elif request.method == "POST":
        status = 422
    application = _get_case(case_id)
    return (
        render_template(
            "staff/transition.html",
            application=application,
            action=action,
            action_label=ACTION_LABELS.get(action, action),
            blocked=blocked,
            form=form,
            emails=workflow.preview(application, action),
            blockers=workflow.blockers(application, action),
            grant_limit=budget_domain.grant_limit_cents(application),
        ),
        status,
    )


@bp.get("/operations")
@roles_required(*STAFF_ROLES)
def operations():
    """Background work at a glance: waiting and failed jobs, emails waiting for another
    attempt (with the reason the last one failed) and failed emails."""
    failed_emails = db.session.scalars(
        select(Notification)
        .where(Notification.status == "failed")
        .order_by(Notification.id.desc())
        .limit(50)
    ).all()
    retried_emails = db.session.scalars(
        select(Notification)
        .where(Notification.status == "pending", Notification.last_error.is_not(None))
        .order_by(Notification.id)
        .limit(50)
    ).all()
    return render_template(
        "staff/operations.html",
        summary=outbox.status_summary(),
        failed_jobs=outbox.failed_items(),
        failed_emails=failed_emails,
        retried_emails=retried_emails,
        form=FlaskForm(),
    )


@bp.post("/operations/emails/<int:notification_id>/resend")
@roles_required(*STAFF_ROLES)
def send_again(notification_id: int):
    if FlaskForm().validate_on_submit() and delivery.send_again(notification_id):
        db.session.commit()
        flash(_("Die E-Mail wird erneut gesendet."), "success")
    else:
        db.session.rollback()
        flash(_("Diese E-Mail ist nicht (mehr) fehlgeschlagen."), "error")
    return redirect(url_for("staff.operations"), code=303)


@bp.get("/budget")
@roles_required(*STAFF_ROLES)
def budget():
    rounds = db.session.scalars(select(FundingRound).order_by(FundingRound.code)).all()
    code = request.args.get("round")
    rnd = next((r for r in rounds if r.code == code), None) or configured_round()
    if rnd is None:
        abort(404)
    language = formatting.language()
    labels = {"district": district_names(rnd, language), "priority": priority_names(rnd, language)}
    return render_template(
        "staff/budget.html",
        overview=budget_domain.overview(rnd, labels),
        rounds=rounds,
    )
