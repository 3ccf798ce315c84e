"""Forms of the staff area: transitions, overrides, reviewer requests (all POST with CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.labels import RULE_OUTCOME_LABELS
from app.web.fields import MoneyField, MultiCheckboxField, Present, choices


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

    def __init__(self, *args, action: str, **kwargs):
        super().__init__(*args, **kwargs)
        if action != "fund":
            del self.granted_amount
        if action not in ("reject", "reopen"):
            del self.reason
        else:
            self.reason.validators = [
                DataRequired(message=_l("Bitte geben Sie einen Grund an.")),
                Length(max=5000),
            ]


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
