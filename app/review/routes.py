"""Routes of the review area: the queue of cases awaiting review, a case, the review form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from app.cases import reviews as review_domain
from app.cases.access import may_read_case, may_read_contents
from app.cases.checks import latest_check
from app.extensions import db
from app.models import SCORES, SUBMITTED, Application, Review, ReviewRequest
from app.paging import page_from
from app.review.forms import ConflictForm, ReviewForm
from app.web.security import REVIEW_ROLES, roles_required

bp = Blueprint("review", __name__, url_prefix="/review")

PER_PAGE = 50


@bp.before_request
def _no_store():
    g.no_store = True


@bp.get("/")
@roles_required(*REVIEW_ROLES)
def queue():
    """Cases awaiting review; those I was asked about first, then the oldest first."""
    asked = exists().where(
        ReviewRequest.application_id == Application.id,
        ReviewRequest.reviewer_id == current_user.id,
    )
    mine = exists().where(
        Review.application_id == Application.id, Review.reviewer_id == current_user.id
    )
    stmt = (
        select(Application)
        .where(Application.state == SUBMITTED)
        .options(selectinload(Application.district_links), selectinload(Application.round))
        .order_by(asked.desc(), Application.submitted_at.asc(), Application.id.asc())
    )
    page = db.paginate(stmt, page=page_from(request.args), per_page=PER_PAGE, error_out=False)
    # "asked" and "done" flags of the page's cases: one query, whatever the page size
    ids = [a.id for a in page.items]
    flags = {}
    if ids:
        rows = db.session.execute(
            select(Application.id, asked.label("asked"), mine.label("done")).where(
                Application.id.in_(ids)
            )
        )
        flags = {row.id: (bool(row.asked), bool(row.done)) for row in rows}
    return render_template("review/queue.html", page=page, flags=flags)


def _readable_case(case_id: int) -> Application:
    application = db.get_or_404(Application, case_id)
    if not may_read_case(current_user, application):
        abort(403)
    return application


@bp.get("/cases/<int:case_id>")
@roles_required(*REVIEW_ROLES)
def case(case_id: int):
    application = _readable_case(case_id)
    own_review = review_domain.review_of(application, current_user)
    if not may_read_contents(current_user, application):
        # After a declared conflict: reference, title and the declaration, nothing else.
        return render_template(
            "review/conflict.html", application=application, own_review=own_review
        )
    # an own review can be changed until the case is decided: the form comes filled
    editable = own_review is not None and not own_review.conflict_of_interest
    return render_template(
        "review/case.html",
        application=application,
        check=latest_check(application),
        own_review=own_review,
        form=ReviewForm(obj=own_review) if editable else ReviewForm(),
        conflict_form=ConflictForm(),
    )


@bp.post("/cases/<int:case_id>")
@roles_required(*REVIEW_ROLES)
def submit_review(case_id: int):
    application = _readable_case(case_id)
    if not may_read_contents(current_user, application):
        # A conflict was declared: no review, and no form page that would show the contents.
        flash(_("Sie haben zu diesem Antrag bereits ein Gutachten abgegeben."), "error")
        return redirect(url_for("review.case", case_id=case_id), code=303)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            review_domain.record_review(
                application,
                current_user,
                recommendation=form.recommendation.data,
                scores={key: getattr(form, key).data for key in SCORES},
                comment=form.comment.data,
            )
        except review_domain.ReviewError as exc:
            flash(str(exc.message), "error")
            return redirect(url_for("review.case", case_id=case_id))
        flash(_("Vielen Dank, Ihr Gutachten wurde gespeichert."), "success")
        return redirect(url_for("review.case", case_id=case_id))
    return (
        render_template(
            "review/case.html",
            application=application,
            check=latest_check(application),
            own_review=review_domain.review_of(application, current_user),
            form=form,
            conflict_form=ConflictForm(formdata=None),
        ),
        422,
    )


@bp.post("/cases/<int:case_id>/conflict")
@roles_required(*REVIEW_ROLES)
def declare_conflict(case_id: int):
    application = _readable_case(case_id)
    form = ConflictForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        review_domain.record_review(
            application, current_user, conflict=True, comment=form.conflict_comment.data
        )
    except review_domain.ReviewError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("review.case", case_id=case_id))
    flash(
        _("Ihr Interessenkonflikt wurde vermerkt. Sie geben zu diesem Antrag kein Gutachten ab."),
        "success",
    )
    return redirect(url_for("review.case", case_id=case_id))
