"""Forms of the staff area: transitions, overrides, reviewer requests (all POST with CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app import clock
from app.cases.information import default_due_date
from app.cases.reviews import default_due_date as reviews_default_due_date
from app.labels import RULE_OUTCOME_LABELS
from app.web.fields import (
    GermanDateField,
    MoneyField,
    MultiCheckboxField,
    Present,
    choices,
    multi_line,
)


class TransitionForm(FlaskForm):
    """One form for every staff transition; the view drops fields the action does not need."""

    reason = TextAreaField(
        _l("Begründung"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Die Begründung wird der Antragstellerin / dem Antragsteller mitgeteilt."),
    )
    granted_amount = MoneyField(
        _l("Bewilligter Zuschuss (Euro)"),
        validators=[Present(_l("Bitte geben Sie den bewilligten Betrag an."))],
    )

    due_date = GermanDateField(
        _l("Frist für die Antwort"),
        validators=[Present(_l("Bitte geben Sie ein Datum ein."))],
        description=_l("TT.MM.JJJJ – vorgeschlagen sind 14 Tage."),
    )

    def __init__(self, *args, action: str, **kwargs):
        super().__init__(*args, **kwargs)
        if action != "fund":
            del self.granted_amount
        if action != "request_information":
            del self.due_date
        else:
            if self.due_date.data is None and not self.due_date.raw_data:
                self.due_date.data = default_due_date()
            self.reason.label.text = _l("Nachricht an die Antragstellerin / den Antragsteller")
            self.reason.description = _l(
                "Was fehlt oder ist zu korrigieren? Die Nachricht geht per E-Mail hinaus und "
                "steht auf der Statusseite."
            )
        if action not in ("reject", "reopen", "request_information"):
            del self.reason
        else:
            self.reason.validators = [
                DataRequired(message=_l("Bitte geben Sie einen Grund an.")),
                Length(max=5000),
            ]


class MessageForm(FlaskForm):
    """A message to the applicant (sent by email too), or an internal note."""

    body = TextAreaField(
        _l("Nachricht"),
        validators=[
            DataRequired(message=_l("Bitte schreiben Sie eine Nachricht.")),
            Length(max=5000),
        ],
        filters=[multi_line],
    )
    internal = BooleanField(
        _l("Nur interne Notiz (die Antragstellerin / der Antragsteller sieht sie nicht)")
    )


class OverrideForm(FlaskForm):
    outcome = SelectField(
        _l("Neues Ergebnis"),
        choices=choices(RULE_OUTCOME_LABELS.items()),
        validators=[InputRequired()],
    )
    comment = TextAreaField(
        _l("Begründung"),
        validators=[
            DataRequired(message=_l("Bitte begründen Sie die Änderung.")),
            Length(max=2000),
        ],
    )


class ReviewRequestForm(FlaskForm):
    reviewers = MultiCheckboxField(_l("Gutachterinnen und Gutachter"), coerce=int)
    due_date = GermanDateField(
        _l("Gutachten erbeten bis"),
        validators=[Optional()],  # empty: the default, 14 days
        description=_l("TT.MM.JJJJ – zwei Tage vorher erhalten die Angefragten eine Erinnerung."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.due_date.data is None and not self.due_date.raw_data:
            self.due_date.data = reviews_default_due_date()

    def validate_due_date(self, field):
        if field.data is not None and field.data <= clock.today():
            raise ValidationError(_l("Das Datum muss in der Zukunft liegen."))

    def validate_reviewers(self, field):
        if not field.data:
            raise ValidationError(_l("Bitte wählen Sie mindestens eine Person aus."))


class ErasureForm(FlaskForm):
    """Early erasure of a closed case on request (admins only)."""

    reason = TextAreaField(
        _l("Grund der Löschung"),
        validators=[
            DataRequired(message=_l("Bitte geben Sie einen Grund an.")),
            Length(max=2000),
        ],
        description=_l(
            "Z. B. „Löschantrag der Antragstellerin vom 3. März“. Der Grund bleibt im Verlauf "
            "stehen: bitte keine weiteren personenbezogenen Daten eintragen."
        ),
    )
