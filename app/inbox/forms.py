"""Forms of the email action confirmation pages and the notification settings (POST + CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from app.labels import DELIVERY_MODE_LABELS
from app.web.fields import MoneyField, MultiCheckboxField, Present, choices


class ConfirmActionForm(FlaskForm):
    """Button-only confirmation of an email action (CSRF token only)."""


class RejectActionForm(FlaskForm):
    reason = TextAreaField(
        _l("Begründung der Ablehnung (wird der Antragstellerin / dem Antragsteller mitgeteilt)"),
        validators=[
            DataRequired(_l("Bitte geben Sie einen Grund an.")),
            Length(max=5000, message=_l("Bitte fassen Sie sich kürzer (höchstens 5000 Zeichen).")),
        ],
    )


class FundActionForm(FlaskForm):
    granted_amount = MoneyField(
        _l("Bewilligter Zuschuss (Euro)"),
        validators=[Present(_l("Bitte geben Sie den bewilligten Betrag an."))],
    )


class RequestReviewsActionForm(FlaskForm):
    reviewers = MultiCheckboxField(_l("Gutachterinnen und Gutachter"), coerce=int)

    def validate_reviewers(self, field):
        if not field.data:
            raise ValidationError(_l("Bitte wählen Sie mindestens eine Person aus."))


HOURS = choices((str(hour), f"{hour:02d}:00") for hour in range(24))
_ONLY_OFFERED = _l("Bitte wählen Sie nur aus den angebotenen Möglichkeiten.")


class _OfferedOnly:
    """A tampered value gets a German message (WTForms' own is English)."""

    def pre_validate(self, form):
        if self.data is not None and self.data not in {c[0] for c in self.iter_choices()}:
            raise ValidationError(_ONLY_OFFERED)


class ChoiceRadio(_OfferedOnly, RadioField):
    pass


class ChoiceSelect(_OfferedOnly, SelectField):
    pass


class PreferenceForm(FlaskForm):
    """One person's (or the defaults') way of hearing of events."""

    mode = ChoiceRadio(
        _l("Wie möchten Sie benachrichtigt werden?"),
        choices=choices(DELIVERY_MODE_LABELS.items()),
        validators=[InputRequired(_l("Bitte wählen Sie eine Art der Benachrichtigung."))],
    )
    digest_hour = ChoiceSelect(
        _l("Uhrzeit der Tageszusammenfassung (Europe/Berlin)"),
        choices=HOURS,
        validators=[InputRequired(_l("Bitte wählen Sie eine Uhrzeit."))],
    )
    all_rounds = ChoiceRadio(
        _l("Welche Förderrunden verfolgen Sie?"),
        choices=choices([("all", _l("Alle Förderrunden")), ("some", _l("Nur die ausgewählten"))]),
        default="all",
        validators=[InputRequired(_l("Bitte wählen Sie, welche Förderrunden Sie verfolgen."))],
    )
    rounds = MultiCheckboxField(_l("Förderrunden"))

    def validate_rounds(self, field):
        if self.all_rounds.data == "some" and not field.data:
            raise ValidationError(_l("Bitte wählen Sie mindestens eine Förderrunde aus."))
