"""ORM models. Money is integer cents; times are timezone-aware UTC.

Names follow DESIGN.md's data list: form fields, model attributes and exports share them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import funding
from app.extensions import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns aware datetimes (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use UTC-aware datetimes")
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def hash_token(token: str) -> str:
    """The only form in which applicant status tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- states -----------------------------------------------------------------------------

SUBMITTED, REVIEWED, FUNDED, REJECTED, WITHDRAWN = (
    "submitted",
    "reviewed",
    "funded",
    "rejected",
    "withdrawn",
)
# staff asked the applicant for information or an amendment; the case waits for the answer
INFO_REQUESTED = "info_requested"
STATES = (SUBMITTED, REVIEWED, FUNDED, REJECTED, WITHDRAWN, INFO_REQUESTED)
FINAL_STATES = (FUNDED, REJECTED, WITHDRAWN)

LEGAL_FORMS = (
    "gmbh",
    "ggmbh",
    "ag",
    "eg",
    "ev",
    "stiftung",
    "oeffentlich",
    "personengesellschaft",
    "sonstige_jp",
    "natuerliche_person",
)

ROLES = ("staff", "reviewer", "admin")

ELIGIBLE, ELIGIBLE_WITH_REMARKS, NOT_ELIGIBLE = "eligible", "remarks", "not_eligible"
OUTCOMES = ("pass", "remark", "fail")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# --- funding rounds ---------------------------------------------------------------------


class FundingRound(db.Model):
    """One funding round, loaded from a data file in app/programmes/."""

    __tablename__ = "funding_round"
    __table_args__ = (
        CheckConstraint("committed_cents >= 0", name="committed_not_negative"),
        CheckConstraint("committed_cents <= budget_cents", name="committed_within_budget"),
        CheckConstraint("rate_basis IN ('personnel', 'total')", name="rate_basis_known"),
        CheckConstraint(
            "funding_rate_percent > 0 AND funding_rate_percent <= 100", name="rate_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    budget_cents: Mapped[int]
    committed_cents: Mapped[int] = mapped_column(default=0)
    funding_rate_percent: Mapped[int]
    rate_basis: Mapped[str] = mapped_column(String(16))
    co_financing_min_percent: Mapped[int]
    applications_open: Mapped[dt.date]
    applications_close: Mapped[dt.date]
    funding_start: Mapped[dt.date]
    funding_end: Mapped[dt.date]
    # The rest of the round's data file (districts, priorities, types, texts): read-only
    # reference data, never queried by column.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    applications: Mapped[list[Application]] = relationship(back_populates="round")

    @property
    def remaining_cents(self) -> int:
        return self.budget_cents - self.committed_cents

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_de

    @property
    def districts(self) -> list[dict[str, str]]:
        return self.data.get("districts", [])

    @property
    def priorities(self) -> list[dict[str, Any]]:
        return self.data.get("priorities", [])

    @property
    def priority_codes(self) -> list[str]:
        return [sub["code"] for group in self.priorities for sub in group["items"]]

    @property
    def project_types(self) -> list[dict[str, Any]]:
        return self.data.get("project_types", [])

    def project_type(self, code: str | None) -> dict[str, Any] | None:
        return next((t for t in self.project_types if t["code"] == code), None)

    def is_open(self, today: dt.date) -> bool:
        return self.applications_open <= today <= self.applications_close


# --- applications -----------------------------------------------------------------------


class ReferenceCounter(db.Model):
    """Last reference number given out per year (NON-<year>-<4 digits>)."""

    __tablename__ = "reference_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class ApplicationDistrict(db.Model):
    __tablename__ = "application_district"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), primary_key=True
    )
    ags: Mapped[str] = mapped_column(String(8), primary_key=True)

    # The district filter looks up (district, case); the primary key is (case, district).
    __table_args__ = (Index("ix_application_district_ags", "ags", "application_id"),)


class ApplicationPriority(db.Model):
    __tablename__ = "application_priority"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(8), primary_key=True)


MONEY_FIELDS = (
    "personnel_costs",
    "other_costs",
    "own_funds",
    "third_party_funds",
    "requested_grant",
)
DECLARATIONS = ("decl_not_started", "decl_subsidy_facts", "decl_privacy", "decl_truthful")
# The application's single-value data fields (DESIGN.md's names) by section, in form order:
# the form validates them (app.intake.forms), versions compare them (app.cases.information).
# The yearly cost plan and the personnel positions are tables of rows besides these.
APPLICATION_SECTIONS: dict[str, tuple[str, ...]] = {
    "applicant": (
        "org_name",
        "legal_form",
        "street",
        "postcode",
        "city",
        "contact_name",
        "contact_email",
        "contact_phone",
        "vat_deductible",
        "signatory_name",
        "signatory_function",
        "register_court",
        "register_number",
        "site_in_lower_saxony",
    ),
    "project": (
        "title",
        "summary",
        "description",
        "target_groups",
        "project_type",
        "priorities",
        "districts",
        "regional_reference",
        "strategy_contribution",
        "partners",
        "start_date",
        "end_date",
    ),
    "finances": (*MONEY_FIELDS, "de_minimis_undertaking", "de_minimis_received"),
    "declarations": DECLARATIONS,
}
# Legal forms entered in a public register (Handels-, Genossenschafts-, Vereinsregister):
# the form asks for the register court and number.
LEGAL_FORMS_WITH_REGISTER = ("gmbh", "ggmbh", "ag", "eg", "ev")


class Application(db.Model):
    """A project carrier's application for a grant in one funding round."""

    __tablename__ = "application"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state_known"),
        CheckConstraint(_in("legal_form", LEGAL_FORMS), name="legal_form_known"),
        CheckConstraint("language IN ('de', 'en')", name="language_known"),
        CheckConstraint("start_date < end_date", name="start_before_end"),
        *(CheckConstraint(f"{f} >= 0", name=f"{f}_not_negative") for f in MONEY_FIELDS),
        CheckConstraint(
            "granted_amount IS NULL OR (granted_amount > 0 AND granted_amount <= requested_grant)",
            name="granted_within_request",
        ),
        CheckConstraint(
            "(state = 'funded') = (granted_amount IS NOT NULL)", name="granted_iff_funded"
        ),
        CheckConstraint(
            "de_minimis_received IS NULL OR de_minimis_received >= 0",
            name="de_minimis_received_not_negative",
        ),
        # Retention anonymises closed cases only; an open case is never stripped.
        CheckConstraint(
            "anonymised_at IS NULL OR " + _in("state", FINAL_STATES), name="anonymised_only_final"
        ),
        Index("ix_application_round_state", "round_id", "state"),
        Index("ix_application_submitted_at", "submitted_at"),
        # the case list filtered by state: newest first without a sort, and its count from
        # the index alone (PostgreSQL: index-only scan)
        Index("ix_application_state_submitted_at", "state", "submitted_at", "id"),
        # the case list's amount sort (with the id as tie-breaker, as the query orders)
        Index("ix_application_requested_grant", "requested_grant", "id"),
        # the duplicate rule: the organisation's applications in a round
        Index("ix_application_org_key_round", "org_key", "round_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("funding_round.id"))
    state: Mapped[str] = mapped_column(String(16), default=SUBMITTED)
    status_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Random input from which the status token is derived with the server's key
    # (app.cases.statuslinks), so a receipt can carry the link without the token being stored.
    status_token_salt: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2), default="de")
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # applicant
    org_name: Mapped[str] = mapped_column(String(200))
    # org_name as the duplicate rule compares it (app.eligibility.normalise_org_name: case,
    # punctuation and a legal-form suffix ignored). Kept by app.cases.checks whenever
    # org_name is set; a row written past the ORM gets '' and counts for no organisation.
    org_key: Mapped[str] = mapped_column(Text, server_default="")
    legal_form: Mapped[str] = mapped_column(String(32))
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(5))
    city: Mapped[str] = mapped_column(String(100))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    vat_deductible: Mapped[bool]
    # Added with eligibility v2; NULL on applications submitted before the form asked.
    signatory_name: Mapped[str | None] = mapped_column(String(200))
    signatory_function: Mapped[str | None] = mapped_column(String(200))
    register_court: Mapped[str | None] = mapped_column(String(100))
    register_number: Mapped[str | None] = mapped_column(String(50))
    site_in_lower_saxony: Mapped[bool | None]

    # project
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    target_groups: Mapped[str] = mapped_column(Text)
    project_type: Mapped[str | None] = mapped_column(String(32))
    regional_reference: Mapped[str] = mapped_column(Text)
    strategy_contribution: Mapped[str] = mapped_column(Text)
    partners: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date]

    # finances, integer cents
    personnel_costs: Mapped[int]
    other_costs: Mapped[int]
    own_funds: Mapped[int]
    third_party_funds: Mapped[int]
    requested_grant: Mapped[int]
    granted_amount: Mapped[int | None]
    # [{"year", "personnel_costs", "other_costs"}] in cents; sums equal the two totals
    cost_plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # [{"role", "months", "fte_percent", "cost"}]; cost in cents (staff see only the sum)
    personnel_positions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # de-minimis aid (Reg. (EU) 2023/2831): only asked of undertakings
    de_minimis_undertaking: Mapped[bool | None]
    de_minimis_received: Mapped[int | None]

    # declarations
    decl_not_started: Mapped[bool]
    decl_subsidy_facts: Mapped[bool]
    decl_privacy: Mapped[bool]
    decl_truthful: Mapped[bool]

    # optional PDF, stored under a server-made name in the stored_file table
    attachment_name: Mapped[str | None] = mapped_column(String(64))
    attachment_original_name: Mapped[str | None] = mapped_column(String(255))
    attachment_size: Mapped[int | None]

    # latest eligibility summary, denormalised for filtering the case list
    eligibility_outcome: Mapped[str | None] = mapped_column(String(16))
    # number of the current version of the data (an amendment adds one; see ApplicationVersion)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    # set when retention (or an early erasure) removed the personal data (app.cases.retention)
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[FundingRound] = relationship(back_populates="applications")
    district_links: Mapped[list[ApplicationDistrict]] = relationship(
        cascade="all, delete-orphan", order_by=ApplicationDistrict.ags
    )
    priority_links: Mapped[list[ApplicationPriority]] = relationship(
        cascade="all, delete-orphan", order_by=ApplicationPriority.code
    )
    districts: AssociationProxy[list[str]] = association_proxy(
        "district_links", "ags", creator=lambda ags: ApplicationDistrict(ags=ags)
    )
    priorities: AssociationProxy[list[str]] = association_proxy(
        "priority_links", "code", creator=lambda code: ApplicationPriority(code=code)
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="application", order_by="Event.id", cascade="all, delete-orphan"
    )
    checks: Mapped[list[EligibilityCheck]] = relationship(
        order_by="EligibilityCheck.run", viewonly=True
    )

    @hybrid_property
    def total_costs(self) -> int:
        return funding.total_costs(self.personnel_costs, self.other_costs)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None


class Event(db.Model):
    """Audit log: every transition, override and notable action on a case."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # who acted when there is no user: "applicant" or "system"
    actor_label: Mapped[str] = mapped_column(String(32), default="system")
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    # shown on the applicant's status page
    public: Mapped[bool] = mapped_column(default=False)

    application: Mapped[Application] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class ApplicationVersion(db.Model):
    """A snapshot of an application's data: the first as submitted, one per amendment."""

    __tablename__ = "application_version"
    __table_args__ = (
        UniqueConstraint("application_id", "number", name="uq_application_version_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "applicant" or "staff"; actor_id when a user made the version
    actor_label: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # field name -> value as JSON (money in cents, dates ISO, lists sorted)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class InformationRequest(db.Model):
    """Staff asked the applicant for information or an amendment, with a due date."""

    __tablename__ = "information_request"
    __table_args__ = (
        CheckConstraint(_in("return_state", (SUBMITTED, REVIEWED)), name="return_state_known"),
        Index("ix_information_request_open_due", "answered_at", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    message: Mapped[str] = mapped_column(Text)
    due_date: Mapped[dt.date]
    # where the case goes back to when the answer comes
    return_state: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the version the answer created
    answer_version: Mapped[int | None]
    applicant_reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    staff_reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.answered_at is None


class Draft(db.Model):
    """A form saved to continue later: not a case (no reference, no checks, no staff email).

    ``data`` is the form exactly as posted (field name -> list of typed strings); the PDF, if
    any, is a stored file of its own (``attachment_name``, app.cases.uploads), copied from the
    pending upload ``attachment_source``. Deleted when submitted or after ``expires_at``.
    """

    __tablename__ = "draft"
    __table_args__ = (Index("ix_draft_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("funding_round.id", ondelete="CASCADE"))
    contact_email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(2), default="de")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    attachment_name: Mapped[str | None] = mapped_column(String(64))
    attachment_original_name: Mapped[str | None] = mapped_column(String(255))
    attachment_size: Mapped[int | None]
    # the pending upload the copy was made from (or for): saving the same upload again
    # copies nothing
    attachment_source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


INBOUND_STATUSES = (
    "posted",
    "no_token",
    "forged",
    "expired",
    "auto_reply",
    "loop",
    "unknown_sender",
    "empty",
    "closed",
)


class InboundMail(db.Model):
    """Every email received at a reply address, whether it became a message or not (and why)."""

    __tablename__ = "inbound_mail"
    __table_args__ = (CheckConstraint(_in("status", INBOUND_STATUSES), name="status_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sender: Mapped[str] = mapped_column(String(254))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", ondelete="SET NULL"))
    # refused attachments and other details for the operator
    detail: Mapped[str | None] = mapped_column(Text)


class EventAttachment(db.Model):
    """A PDF that came with a message (a reply by email); its bytes are the stored file
    ``name`` (app.cases.uploads)."""

    __tablename__ = "event_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]


# --- eligibility ------------------------------------------------------------------------


class EligibilityCheck(db.Model):
    """One run of the rule engine for one application; re-runs add rows (run 1, 2, …)."""

    __tablename__ = "eligibility_check"
    __table_args__ = (
        UniqueConstraint("application_id", "run", name="uq_check_app_run"),
        CheckConstraint("run >= 1", name="run_positive"),
        CheckConstraint("overall IN ('eligible', 'remarks', 'not_eligible')", name="overall_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(default=1)
    rules_version: Mapped[str] = mapped_column(String(32))
    # the version of the application's data that was checked (an amendment is checked again)
    application_version: Mapped[int] = mapped_column(default=1, server_default="1")
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    overall: Mapped[str] = mapped_column(String(16))

    application: Mapped[Application] = relationship()
    results: Mapped[list[EligibilityResult]] = relationship(
        back_populates="check", order_by="EligibilityResult.id", cascade="all, delete-orphan"
    )


class EligibilityResult(db.Model):
    """One rule's outcome; staff may overrule it with a comment."""

    __tablename__ = "eligibility_result"
    __table_args__ = (
        CheckConstraint(_in("outcome", OUTCOMES), name="outcome_known"),
        CheckConstraint(
            "override_outcome IS NULL OR " + _in("override_outcome", OUTCOMES),
            name="override_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(
        ForeignKey("eligibility_check.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(8))
    message_de: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    override_outcome: Mapped[str | None] = mapped_column(String(8))
    override_comment: Mapped[str | None] = mapped_column(Text)
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    override_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    check: Mapped[EligibilityCheck] = relationship(back_populates="results")

    @property
    def effective_outcome(self) -> str:
        return self.override_outcome or self.outcome

    def message(self, language: str) -> str:
        return self.message_en if language == "en" else self.message_de


# --- background work --------------------------------------------------------------------


OUTBOX_STATUSES = ("pending", "enqueued", "done", "failed")


class OutboxItem(db.Model):
    """A durable request for background work, written in the transaction that needs it."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status_known"),
        Index("ix_outbox_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # scheduled work (reminders, due dates): not to run before this time
    run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    @property
    def job_id(self) -> str:
        return f"outbox-{self.id}"


NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


class Notification(db.Model):
    """Every email, recorded before it is sent: the email log staff see on each case."""

    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status_known"),
        CheckConstraint("language IN ('de', 'en')", name="language_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    # A secret link the stored bodies hold only as a placeholder, put in at send time by the
    # resolver of this name (app.mail.delivery.register_personal_link), e.g. "status".
    personal_link: Mapped[str | None] = mapped_column(String(16))
    # the case's signed reply address (app.mail.replyaddress): a reply becomes a message
    reply_to: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# --- people -----------------------------------------------------------------------------


class User(UserMixin, db.Model):
    """A staff member, reviewer or administrator. Applicants have no account."""

    __tablename__ = "user"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password change or deactivation; part of the session id so old sessions end.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Two-factor login (app.accounts.twofactor): the TOTP secret once confirmed, and the last
    # time step used, so a code seen over someone's shoulder cannot be used a second time.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None]

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login
        return f"{self.id}:{self.session_version}"

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")


class RecoveryCode(db.Model):
    """A one-time code for a lost authenticator; only its hash is stored."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AccountEvent(db.Model):
    """Audit log of accounts: created, role changed, deactivated, two-factor and password
    changes, who did it and when."""

    __tablename__ = "account_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # None: the user themself (e.g. a password reset by email) or the operator's CLI
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


class LoginSession(db.Model):
    """One login of a user, known to the server: logout revokes it, and it ends at
    ``expires_at`` however active it is (the absolute lifetime). The browser holds only the
    random id; the table keeps its hash."""

    __tablename__ = "login_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


RECOMMENDATIONS = ("approve", "reject", "abstain")
SCORES = ("score_regional", "score_strategy", "score_feasibility", "score_sustainability")


class Review(db.Model):
    """A reviewer's statement on one case; one per reviewer and case."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id", name="uq_review_app_reviewer"),
        CheckConstraint(
            "conflict_of_interest OR recommendation IS NOT NULL", name="recommendation_given"
        ),
        CheckConstraint(
            "recommendation IS NULL OR " + _in("recommendation", RECOMMENDATIONS),
            name="recommendation_known",
        ),
        *(
            CheckConstraint(f"{s} IS NULL OR ({s} >= 0 AND {s} <= 5)", name=f"{s}_range")
            for s in SCORES
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    conflict_of_interest: Mapped[bool] = mapped_column(default=False)
    recommendation: Mapped[str | None] = mapped_column(String(16))
    score_regional: Mapped[int | None]
    score_strategy: Mapped[int | None]
    score_feasibility: Mapped[int | None]
    score_sustainability: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # last change by the reviewer (a review can be edited until the case is decided)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    reviewer: Mapped[User] = relationship()


class ReviewRequest(db.Model):
    """Staff asked a named reviewer for a review of a case."""

    __tablename__ = "review_request"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id", name="uq_review_request_app_reviewer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the review is due by this date (Berlin); the reviewer is reminded before it
    due_date: Mapped[dt.date | None]
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    application: Mapped[Application] = relationship()


class UsedFormToken(db.Model):
    """The signed ``started`` token of an application form that was submitted: a form
    submits once, so a replayed request cannot file the same application (and receipt)
    again. Rows older than the form's lifetime may go: the signature has expired by then."""

    __tablename__ = "used_form_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UsedActionLink(db.Model):
    """Signed email action links that were used once and may not be replayed."""

    __tablename__ = "used_action_link"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))


# --- the staff inbox --------------------------------------------------------------------

DELIVERY_MODES = ("immediate", "digest")


class InboxPreference(db.Model):
    """How one staff member hears of events: every email at once, or one daily digest at a
    set hour (Europe/Berlin); and which rounds they follow (``round_codes`` None: all)."""

    __tablename__ = "inbox_preference"
    __table_args__ = (
        CheckConstraint(_in("mode", DELIVERY_MODES), name="mode_known"),
        CheckConstraint("digest_hour >= 0 AND digest_hour <= 23", name="digest_hour_range"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    mode: Mapped[str] = mapped_column(String(16))
    digest_hour: Mapped[int]
    round_codes: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxDefaults(db.Model):
    """The administrator's defaults for staff without preferences of their own (one row)."""

    __tablename__ = "inbox_defaults"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint(_in("mode", DELIVERY_MODES), name="mode_known"),
        CheckConstraint("digest_hour >= 0 AND digest_hour <= 23", name="digest_hour_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    mode: Mapped[str] = mapped_column(String(16))
    digest_hour: Mapped[int]
    round_codes: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffDigest(db.Model):
    """One person's digest of one day (Europe/Berlin): the unique key makes it happen once,
    however many workers schedule it."""

    __tablename__ = "staff_digest"
    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_staff_digest_user_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    day: Mapped[dt.date]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification.id", ondelete="SET NULL")
    )
    sent_empty: Mapped[bool] = mapped_column(default=False)


class StaffNotice(db.Model):
    """An event one staff member (or the shared inbox) must hear of, recorded in the
    transaction of the event; the email itself is composed later (at once, or in the digest),
    so its action links offer the steps possible when it is written."""

    __tablename__ = "staff_notice"
    __table_args__ = (
        CheckConstraint(_in("delivery", DELIVERY_MODES), name="delivery_known"),
        Index("ix_staff_notice_user_pending", "user_id", "delivery", "digest_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: a shared address from STAFF_EMAILS (no action links, never a digest)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(254))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    # ids and short facts the email needs (e.g. the review's id), JSON
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    delivery: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set once: the email written for it (immediate) or the digest that took it
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification.id", ondelete="SET NULL")
    )
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_digest.id", ondelete="SET NULL")
    )

    application: Mapped[Application | None] = relationship()


class StoredFile(db.Model):
    """An uploaded attachment's bytes, in the database every web and worker node shares
    (app.cases.uploads). ``pending`` until the application that refers to it is submitted."""

    __tablename__ = "stored_file"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index("ix_stored_file_pending_created_at", "pending", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    pending: Mapped[bool] = mapped_column(default=True)
    size: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # deferred: listing or checking files never loads their content
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


# --- substring search of the case list (reference, organisation, title) -------------------
# SQLite: an FTS5 table with the trigram tokenizer, kept in step with ``application`` by
# triggers (substring match, case-insensitive, any 3+ characters). PostgreSQL: trigram GIN
# indexes (pg_trgm) on lower(column), which serve the query's ``lower(col) LIKE '%…%'`` as is.
# Neither is an ORM object: they are created here with the tables (tests, create_all) and by
# the migration ``05d1c7d1091e``; ``SEARCH_OBJECTS`` names them for Alembic's comparison.
SEARCH_TABLE = "application_search"
SEARCH_COLUMNS = ("reference", "org_name", "title")
SEARCH_OBJECTS = frozenset(
    {SEARCH_TABLE}
    | {f"{SEARCH_TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config")}
    | {f"ix_application_{column}_trgm" for column in SEARCH_COLUMNS}
)

SQLITE_SEARCH_DDL = (
    """CREATE VIRTUAL TABLE application_search USING fts5(
        reference, org_name, title, content='application', content_rowid='id',
        tokenize='trigram')""",
    """CREATE TRIGGER application_search_ai AFTER INSERT ON application BEGIN
        INSERT INTO application_search(rowid, reference, org_name, title)
        VALUES (new.id, new.reference, new.org_name, new.title);
    END""",
    """CREATE TRIGGER application_search_ad AFTER DELETE ON application BEGIN
        INSERT INTO application_search(application_search, rowid, reference, org_name, title)
        VALUES ('delete', old.id, old.reference, old.org_name, old.title);
    END""",
    """CREATE TRIGGER application_search_au AFTER UPDATE OF reference, org_name, title
    ON application BEGIN
        INSERT INTO application_search(application_search, rowid, reference, org_name, title)
        VALUES ('delete', old.id, old.reference, old.org_name, old.title);
        INSERT INTO application_search(rowid, reference, org_name, title)
        VALUES (new.id, new.reference, new.org_name, new.title);
    END""",
)
# Revision 9c0e5a3f7b21: fastupdate off, so a search need not read through a list of pending
# entries that grows with every insert until the next vacuum (PostgreSQL's advice where
# response time matters more than the speed of updates; cases are inserted rarely); and
# statistics over 1,000 values of each expression instead of 100, so the planner's estimate
# of how many cases contain a term is close enough to choose between the trigram index (few)
# and walking the newest-first index (many).
POSTGRES_SEARCH_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    *(
        statement
        for column in SEARCH_COLUMNS
        for statement in (
            f"CREATE INDEX ix_application_{column}_trgm ON application "
            f"USING gin (lower({column}) gin_trgm_ops) WITH (fastupdate = off)",
            f"ALTER INDEX ix_application_{column}_trgm ALTER COLUMN 1 SET STATISTICS 1000",
        )
    ),
)

for _statement in SQLITE_SEARCH_DDL:
    event.listen(
        Application.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite")
    )
event.listen(
    Application.__table__,
    "before_drop",
    DDL(f"DROP TABLE IF EXISTS {SEARCH_TABLE}").execute_if(dialect="sqlite"),
)
for _statement in POSTGRES_SEARCH_DDL:
    event.listen(
        Application.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql")
    )
